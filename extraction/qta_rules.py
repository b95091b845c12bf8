"""The rules backend of the QTA gap review: every playbook element located, checked and explained.

For each element: its clauses are those under a matching heading plus those matching a cue. No clause:
missing. A vague phrase, a notification duty for a named event with no time limit, or a requirement not
met: vague. Two clauses giving one duty different limits: conflicting. Otherwise present.
"""

import re

from core.qta import ElementFinding, ElementStatus, Severity
from extraction.obligations import Obligation, obligations
from extraction.playbook import Element, Playbook, Requirement
from extraction.source import Clause, Section, SourceText
from extraction.timelimits import CADENCE, has_time_limit

_CHECKS: dict[str, re.Pattern] = {
    "named_role": re.compile(
        r"\b(head of \w+|director|manager|lead\b|officer|qualified person|quality (unit|contact)|"
        r"vice president|VP\b|senior management|project managers?|named contact|contacts?\b)",
        re.I,
    ),
    "retention_period": re.compile(
        r"\b(retain\w*|retention|archiv\w*|kept)\b[^.]{0,160}?\b(\d+|one|two|three|five|ten|fifteen)\s+(years?|months?)"
        r"|\byears? after (the )?expir",
        re.I,
    ),
    "review_interval": re.compile(
        r"\b(every|each)\s+(\w+\s+)?(years?|months?)\b|\bat least (annually|every)\b|\bannual(ly)? review"
        r"|\bvalid for \w+ years?\b|\breviewed (annually|every|each year)\b",
        re.I,
    ),
}
_MATRIX = re.compile(r"\bmatrix\b|\bresponsibilit\w* (table|chart)\b", re.I)
_DEVIATION_CLASS = re.compile(r"\b(critical|major|minor)\b", re.I)
_OTHER_CLASS = re.compile(r"\b(all )?other (\w+ )?(deviations|non-?conformances)\b|\bnon-critical\b", re.I)
_EVENT_NOUN = re.compile(r"\b(deviations?|OOS|out[- ]of[- ]specification|inspections?|complaints?|recalls?)\b", re.I)
# how close a section must be to an element, and how clearly closer than to the next; more if its heading
# names another element
_MEANING_FLOOR, _MEANING_MARGIN, _MEANING_OVER_HEADING = 0.5, 0.05, 0.65
_SEVERITY_DOWN = {Severity.CRITICAL: Severity.MAJOR, Severity.MAJOR: Severity.MINOR, Severity.MINOR: Severity.MINOR}


def severity_of(element: Element, status: ElementStatus) -> Severity:
    """A missing or conflicting element has the playbook's severity; a vague one a step lower."""
    if status == ElementStatus.PRESENT:
        return Severity.NONE
    return _SEVERITY_DOWN[element.severity] if status == ElementStatus.VAGUE else element.severity


def element_clauses(source: SourceText, element: Element, by_meaning: list[Section] = ()) -> list[Clause]:
    """Clauses under a matching heading or a section given to the element by meaning, then clauses anywhere
    that match a cue, in document order (never a hostile one)."""
    chosen: dict[tuple[int, int], Clause] = {}
    for section in source.sections[1:]:  # the first is the title and preamble, not a clause heading
        if any(p.search(section.heading) for p in element.heading_patterns) or section in by_meaning:
            chosen.update({(c.page, c.start): c for c in section.clauses})
    for clause in source.clauses:
        if any(p.search(clause.text) for p in element.cue_patterns):
            chosen.setdefault((clause.page, clause.start), clause)
    return [c for _, c in sorted(chosen.items()) if c not in source.hostile]


def _met(requirement: Requirement, clauses: list[Clause]) -> bool:
    if requirement.any_of:
        return any(_met(r, clauses) for r in requirement.any_of)
    texts = [c.text for c in clauses]
    match requirement.check:
        case "time_limit":
            return any(has_time_limit(t) for t in texts)
        case "cadence":
            return any(CADENCE.search(t) for t in texts)
        case "deviation_classes":
            classes = {m.lower() for t in texts for m in _DEVIATION_CLASS.findall(t)}
            return len(classes | ({"other"} if any(_OTHER_CLASS.search(t) for t in texts) else set())) >= 2
        case "matrix":
            return any(c.table_header for c in clauses) or any(_MATRIX.search(t) for t in texts)
        case None:
            return sum(bool(requirement.regex.search(t)) for t in texts) >= requirement.min_count
        case check:
            return any(_CHECKS[check].search(t) for t in texts)


def conflicts(items: list[Obligation], classes: list[str]) -> list[tuple[Obligation, Obligation]]:
    """Pairs of clauses that give the same duty for the same event class different limits."""
    pairs = []
    for i, a in enumerate(items):
        for b in items[i + 1 :]:
            if (
                a.event_class
                and a.event_class.split(":")[0] in classes
                and (a.event_class, a.duty) == (b.event_class, b.duty)
                and a.clause != b.clause
                and a.limit.key != b.limit.key
            ):
                pairs.append((a, b))
    return pairs


def sections_by_meaning(source: SourceText, playbook: Playbook) -> dict[str, list[tuple[Section, float]]]:
    """Sections no element's headings name ("Subject of the agreement", "Division of tasks"), each given to
    the element its heading and opening are closest to in meaning, when close enough and clearly closest."""
    if source.meaning is None:
        return {}
    bank = source.meaning.bank.elements
    examples = {e.id: e.examples or bank.get(e.id, []) for e in playbook.elements}
    sections = [s for s in source.sections[1:] if s.clauses]
    if not sections or not any(examples.values()):
        return {}
    texts = [f"{s.heading}. {' '.join(c.text for c in s.clauses[:2])[:400]}" for s in sections]
    sims = source.meaning.similarity(texts, "elements", examples)
    out: dict[str, list[tuple[Section, float]]] = {}
    for i, section in enumerate(sections):
        named = {e.id for e in playbook.elements if any(p.search(section.heading) for p in e.heading_patterns)}
        ranked = sorted(((float(v[i]), k) for k, v in sims.items()), reverse=True)
        (best, element), runner_up = ranked[0], ranked[1][0] if len(ranked) > 1 else 0.0
        # a heading another element names ("Manufacturing documentation" names documentation) yields only
        # to a clearly stronger meaning
        floor = _MEANING_FLOOR if not named else _MEANING_OVER_HEADING
        if element not in named and best >= floor and best - runner_up >= _MEANING_MARGIN:
            out.setdefault(element, []).append((section, best))
    return out


def review_element(
    source: SourceText,
    playbook: Playbook,
    element: Element,
    duties: list[Obligation],
    by_meaning: list[tuple[Section, float]] = (),
) -> ElementFinding:
    clauses = element_clauses(source, element, [s for s, _ in by_meaning])
    found_by = "; ".join(f"section \"{s.heading}\" read as {element.title.lower()} by meaning ({v:.2f})" for s, v in by_meaning)

    def finding(status: ElementStatus, reason: str, quoted: list[Clause]) -> ElementFinding:
        return ElementFinding(
            element_id=element.id,
            title=element.title,
            status=status,
            reason=f"{reason} ({found_by})" if found_by and status != ElementStatus.MISSING else reason,
            severity=severity_of(element, status),
            source=element.source,
            evidence=[source.clause_evidence(c) for c in quoted],
            section=quoted[0].section if quoted else "",
            suggested_wording=None if status == ElementStatus.PRESENT else element.suggested_wording or None,
        )

    if not clauses:
        return finding(ElementStatus.MISSING, f"No clause on {element.title.lower()} found.", [])

    clashes = conflicts(duties, element.event_classes)
    if clashes:
        a, b = clashes[0]
        reason = (
            f"{a.event_class.replace(':', ' ').capitalize()} ({a.duty}): {a.limit} in {_where(a.clause)} but "
            f"{b.limit} in {_where(b.clause)}."
        )
        return finding(ElementStatus.CONFLICTING, reason, [a.clause, b.clause])

    vague = _vague_clauses(playbook, clauses)
    if vague:
        clause, why = vague[0]
        more = f" (and {len(vague) - 1} more)" if len(vague) > 1 else ""
        return finding(ElementStatus.VAGUE, why + more, [c for c, _ in vague[:3]])

    unmet = [r for r in element.requires if not _met(r, clauses)]
    if unmet:
        wanted = "; ".join(r.description or r.check or "a required term" for r in unmet)
        return finding(ElementStatus.VAGUE, f"Not stated: {wanted}.", clauses[:2])

    met = "; ".join(r.description for r in element.requires if r.description)
    reason = f"Specific: {met}." if met else "Clause present."
    meeting = [c for c in clauses if any(_met(r, [c]) for r in element.requires)]
    return finding(ElementStatus.PRESENT, reason, (meeting or clauses)[:2])


def _vague_clauses(playbook: Playbook, clauses: list[Clause]) -> list[tuple[Clause, str]]:
    out = []
    for clause in clauses:
        phrase = playbook.vague_pattern.search(clause.text) if playbook.vague_pattern else None
        if phrase:
            out.append((clause, f'"{phrase.group()}" sets no time limit or measure.'))
        elif (
            playbook.duty_pattern.search(clause.text)
            and _EVENT_NOUN.search(clause.text)
            and not has_time_limit(clause.text)
            and not clause.table_header
        ):
            out.append((clause, "A notification duty with no time limit."))
    return out


def _where(clause: Clause) -> str:
    return f'"{clause.section}"' if clause.section else f"page {clause.page}"


def review_clauses(source: SourceText, playbook: Playbook) -> list[ElementFinding]:
    """A finding for every element of the playbook."""
    duties = obligations(source)
    assigned = sections_by_meaning(source, playbook)
    return [review_element(source, playbook, e, duties, assigned.get(e.id, [])) for e in playbook.elements]
