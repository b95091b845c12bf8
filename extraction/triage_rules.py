"""The rules backend of investigation triage: the event read from labelled fields, headed sections and cues.

Flags for weak investigations are read here from the text (each with its quote); flags that need the
site's quality agreement (notified late, closed late) are added by `extraction.triage`.
"""

import re

from core.dates import DATE, first_date
from core.documents import DocumentKind
from core.identifiers import batch_ids, unique
from core.investigations import (
    Capa,
    Classification,
    EventReading,
    EventType,
    Flag,
    FlagCode,
    Quoted,
    RootCauseCategory,
)
from extraction.date_roles import read_dates
from extraction.source import Clause, SourceText


def _rx(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


_CLASSIFICATION = _rx(
    r"\b(classification|classif\w+|class|category|grade)\b[^.]{0,40}?\b(?P<level>critical|major|minor)\b"
)
_EQUIPMENT_EVENT = _rx(
    r"\b(downtime|breakdown|unplanned (stop|outage|shutdown)|equipment failure|stopped with an? [\w ]{0,30}fault|"
    r"(was|were) unavailable|while the [\w ]{0,30} was repaired)\b"
)
_OOT = _rx(r"\b(out[- ]of[- ]trend|OOT)\b")
_COMPLAINT = _rx(r"\bcomplaint\b")
_DESCRIPTION_HEADING = _rx(r"descri|what happened|event summary|summary|details|course of events|chronology")
_ROOT_CAUSE_LINE = _rx(
    r"^(primary\s+)?root cause\b|^assignable cause\b|\broot cause( \([^)]*\))?:"
    r"|\b(most )?(probable |likely )?root cause (of [^.]{0,60}?)?(is|was|has been)\b"
)
_ROOT_CAUSE_HEADING = _rx(r"\bcause\b")
_CAUSE_WORDS = _rx(r"\b(cause|due to|attributed|because)\b")
_CAUSE_IN_CONCLUSION = _rx(r"\b(due to|caused by|attributed to|most likely|root cause)\b")
_CAPA_HEADING = _rx(r"\bCAPA\b|corrective|preventive|^actions?$|^actions? (taken|plan)\b")
_IMPACT_HEADING = _rx(r"\bimpact\b")
_CONCLUSION_HEADING = _rx(r"conclusion|investigation|root cause|assignable|evaluation|analysis|laboratory assessment")
_CONCLUSION_ONLY = _rx(r"conclusion")
_STATUS_HEADING = _rx(r"^status$")
_OPEN_OR_CLOSED = _rx(r"\b(open|closed)\b")
_SPEC_RESULT = _rx(r"\b(test|result)\b.*\b(specification|limit)\b")
_CATEGORIES = [
    (RootCauseCategory.HUMAN_ERROR, _rx(r"\b(human error|operator error|analyst error|operator (did not|damaged)|personnel error)\b")),
    (RootCauseCategory.LABORATORY, _rx(r"\blaboratory (contamination|error|cause)|assignable laboratory cause")),
    (RootCauseCategory.DOCUMENTATION, _rx(r"\b(documentation error|transcription)\b")),
    # a strategy or procedure that let equipment fail is the cause, not the part that failed
    (RootCauseCategory.PROCEDURE, _rx(r"\b(procedure|SOP|strategy)\b")),
    (RootCauseCategory.EQUIPMENT,
     _rx(r"\b(equipment|valve|pump|controller|solenoid|capacitor|instrument failure|wear|worn|machine)\b")),
    (RootCauseCategory.MATERIAL, _rx(r"\b(raw material|supplier|resin|component defect)\b")),
    (RootCauseCategory.PROCESS, _rx(r"\b(process|hold time|extended hold|excursion|out of range)\b")),
]  # fmt: skip
_EVIDENCE = _rx(
    r"\b(confirmed by|reproduced|audit trail (showed|shows)|records? show(ed|s)?|data show|shown by|demonstrated|"
    r"test report|identification of the isolates)\b"
)
_PROBABLE = _rx(r"\b(most likely|(?<!un)likely|probabl[ey]|possibl[ey] (due|caused)|presumed|suspected|assumed)\b")
_INVALIDATED = _rx(r"\binvalidat\w*")
_NO_CAUSE = _rx(r"\bno assignable (laboratory )?cause|no (laboratory )?error was identified|no root cause\b")
_RETRAIN = _rx(r"\b(re-?train\w*|training)\b")
_LIMITED = _rx(
    r"\b(limited to (lot|batch)|concerns only batch|only batch|no impact on other (batches|lots)|"
    r"no other (batch|lot)(es|s)? (is|are) (concerned|affected))\b"
)
_OTHERS_ASSESSED = _rx(
    r"\b(other (batches|lots|tests|samples|products) (were|was) (assessed|reviewed|checked)|review of other|"
    r"batches [\w-]+ and [\w-]+ ran)\b"
)
_STATUS = _rx(r"\b(status\b[^.]{0,20}?\b(open|closed)\b|^(open|closed)\b|non-conformance is (closed|open))")


def _quoted(source: SourceText, clauses: list[Clause]) -> Quoted | None:
    if not clauses:
        return None
    first, last = clauses[0], [c for c in clauses if c.page == clauses[0].page][-1]
    evidence = source.evidence(first.page, first.start, last.end)
    return Quoted(text=" ".join(evidence.quote.split()), evidence=evidence)


def _in_sections(clauses: list[Clause], pattern: re.Pattern) -> list[Clause]:
    return [c for c in clauses if pattern.search(c.section)]


def event_type(source: SourceText, clauses: list[Clause]) -> EventType:
    kind, head = source.document.kind, source.document.title + " " + " ".join(c.text for c in clauses[:12])
    if kind == DocumentKind.CHANGE_CONTROL:
        return EventType.CHANGE
    if kind == DocumentKind.OOS_INVESTIGATION:
        return EventType.OOT if _OOT.search(source.document.title) else EventType.OOS
    if _COMPLAINT.search(source.document.title):
        return EventType.COMPLAINT
    if _EQUIPMENT_EVENT.search(head):
        return EventType.EQUIPMENT
    return EventType.DEVIATION if kind == DocumentKind.DEVIATION_REPORT else EventType.OTHER


def _classification(clauses: list[Clause]) -> Classification | None:
    for clause in clauses:
        match = _CLASSIFICATION.search(clause.text)
        if match:
            return Classification(match.group("level").lower())
    return None


def _root_cause(source: SourceText, clauses: list[Clause]) -> tuple[Quoted | None, RootCauseCategory | None]:
    chosen = [c for c in clauses if _ROOT_CAUSE_LINE.search(c.text)][:1]
    in_cause = _in_sections(clauses, _ROOT_CAUSE_HEADING)
    chosen = chosen or [c for c in in_cause if _CAUSE_WORDS.search(c.text)][:1] or in_cause[:1]
    chosen = chosen or [c for c in _in_sections(clauses, _CONCLUSION_ONLY) if _CAUSE_IN_CONCLUSION.search(c.text)][:1]
    if not chosen:
        return None, None
    text = chosen[0].text
    explicit = re.search(r"\(([a-z ]+)\)\s*:", text)
    lookup = explicit.group(1) if explicit else text
    category = next((cat for cat, rx in _CATEGORIES if rx.search(lookup)), None)
    if category is None and explicit:
        category = next((cat for cat, rx in _CATEGORIES if rx.search(text)), None)
    return _quoted(source, chosen), category or RootCauseCategory.UNKNOWN


def _capas(source: SourceText, clauses: list[Clause]) -> tuple[list[Capa], list[Clause]]:
    capa_clauses = [c for c in _in_sections(clauses, _CAPA_HEADING) if not re.search("immediate", c.section, re.I)]
    capas = []
    for clause in capa_clauses:
        if clause.cells:
            action = clause.cell("action") or clause.cells[0]
            owner, due = clause.cell("owner"), first_date(clause.cell("due") or "")
            effectiveness = clause.cell("effectiveness")
        else:
            action = clause.text
            owner_match = re.search(r"\bowner:\s*([^,;)]+)", clause.text, re.I)
            owner = owner_match.group(1).strip() if owner_match else None
            due_match = re.search(r"\bdue\b[^.;]{0,12}?(" + DATE.pattern + ")", clause.text, re.I)
            due = first_date(due_match.group(1)) if due_match else None
            eff = re.search(r"\beffectiveness\b[^.;]*", clause.text, re.I)
            effectiveness = eff.group() if eff else None
        capas.append(Capa(action=action, owner=owner, due=due, effectiveness_check=effectiveness,
                          evidence=source.clause_evidence(clause)))  # fmt: skip
    return capas, capa_clauses


_MEANING_FLOOR = 0.62  # how similar a clause must be to a weakness's examples to say it


class _Signals:
    """Which clauses say a weakness: by its cue, or by meaning (similar to the reading bank's examples for
    it). Remembers which signal found each clause, for the flag's evidence."""

    def __init__(self, source: SourceText, clauses: list[Clause]):
        self.sims: dict[str, dict[tuple[int, int], float]] = {}
        self.how: dict[tuple[str, tuple[int, int]], str] = {}
        bank = source.meaning.bank.flags if source.meaning else {}
        if bank and clauses:
            values = source.meaning.similarity([c.text for c in clauses], "flags", bank)
            self.sims = {label: {(c.page, c.start): float(v[i]) for i, c in enumerate(clauses)}
                         for label, v in values.items()}  # fmt: skip

    def says(self, label: str, clause: Clause, cue: re.Pattern | None = None, text: str | None = None) -> bool:
        key = (clause.page, clause.start)
        if cue is not None and cue.search(text or clause.text):
            self.how[(label, key)] = "cue"
            return True
        similarity = self.sims.get(label, {}).get(key, 0.0)
        if similarity >= _MEANING_FLOOR:
            self.how[(label, key)] = f"meaning ({similarity:.2f})"
            return True
        return False

    def signal(self, label: str, clauses: list[Clause]) -> str:
        found = sorted({self.how.get((label, (c.page, c.start)), "cue") for c in clauses})
        return " and ".join(found) if found else "cue"


def _flag(source: SourceText, code: FlagCode, reason: str, clauses: list[Clause], signal: str = "cue") -> Flag:
    return Flag(code=code, reason=reason, evidence=[source.clause_evidence(c) for c in clauses[:3]], signal=signal)


def weakness_flags(
    source: SourceText, reading: EventReading, clauses: list[Clause], capa_clauses: list[Clause]
) -> list[Flag]:
    flags: list[Flag] = []
    # the title ("... Investigation AR-25-044") is not a heading of the reasoning
    body = [c for c in clauses if c.section != source.sections[0].heading]
    reasoning = _in_sections(body, _CONCLUSION_HEADING) or clauses
    supported = any(_EVIDENCE.search(c.text) for c in reasoning)
    cause = reading.root_cause.evidence if reading.root_cause else None
    cause_clauses = [c for c in clauses if cause and c.page == cause.page and cause.start <= c.start < cause.end]
    impact = _in_sections(clauses, _IMPACT_HEADING) + _in_sections(clauses, _CONCLUSION_ONLY)
    # the meaning signal reads only the clauses a flag can rest on: the reasoning, the CAPAs and the impact
    candidates = {(c.page, c.start): c for c in reasoning + cause_clauses + capa_clauses + impact}
    says = _Signals(source, list(candidates.values()))
    human = reading.root_cause_category == RootCauseCategory.HUMAN_ERROR or (
        reading.root_cause_category == RootCauseCategory.UNKNOWN
        and any(says.says("human_error_without_evidence", c) for c in cause_clauses)
    )
    if human and not supported:
        flags.append(_flag(source, FlagCode.HUMAN_ERROR_WITHOUT_EVIDENCE,
                           "Human error is named as the root cause with no evidence for it and no look at why "
                           "the error was possible.", cause_clauses,
                           says.signal("human_error_without_evidence", cause_clauses)))  # fmt: skip
    probable = [c for c in reasoning if says.says("probable_cause_without_data", c, _PROBABLE)]
    if probable and not supported:
        flags.append(_flag(source, FlagCode.PROBABLE_CAUSE_WITHOUT_DATA,
                           "The cause is called probable or most likely, with no data to confirm it.", probable,
                           says.signal("probable_cause_without_data", probable)))  # fmt: skip
    if reading.type in (EventType.OOS, EventType.OOT):
        invalidated = [c for c in clauses if _INVALIDATED.search(c.text)]
        no_cause = [c for c in clauses if says.says("oos_invalidated_without_assignable_cause", c, _NO_CAUSE)]
        if invalidated and no_cause:
            flags.append(_flag(source, FlagCode.OOS_INVALIDATED_WITHOUT_ASSIGNABLE_CAUSE,
                               "The OOS result is invalidated although no assignable laboratory cause was found; "
                               "FDA's OOS guidance requires a full-scale investigation instead.",
                               [no_cause[0], invalidated[0]],
                               says.signal("oos_invalidated_without_assignable_cause", no_cause[:1])))  # fmt: skip
    by_clause = {(c.evidence.page, c.evidence.start): c for c in reading.capas if c.evidence}
    actions = [(clause, by_clause.get((clause.page, clause.start))) for clause in capa_clauses]
    if reading.capas and all(says.says("retraining_only_capa", cl, _RETRAIN, capa.action if capa else None)
                             for cl, capa in actions):  # fmt: skip
        flags.append(_flag(source, FlagCode.RETRAINING_ONLY_CAPA,
                           "Retraining is the only corrective action.", capa_clauses,
                           says.signal("retraining_only_capa", capa_clauses)))  # fmt: skip
    checked = any(c.effectiveness_check for c in reading.capas) or any(
        says.says("effectiveness_check", c) for c in capa_clauses
    )
    if reading.capas and reading.classification != Classification.MINOR and not checked:
        flags.append(_flag(source, FlagCode.NO_EFFECTIVENESS_CHECK,
                           "No CAPA has an effectiveness check (ICH Q10 §3.2.2).", capa_clauses))  # fmt: skip
    limited = [c for c in impact if says.says("impact_limited_to_one_batch", c, _LIMITED)]
    if limited and not any(says.says("others_assessed", c, _OTHERS_ASSESSED) for c in clauses):
        flags.append(_flag(source, FlagCode.IMPACT_LIMITED_TO_ONE_BATCH,
                           "Impact is assessed on this batch only; 21 CFR 211.192 requires the investigation to "
                           "extend to other batches that may be affected.", limited,
                           says.signal("impact_limited_to_one_batch", limited)))  # fmt: skip
    return flags


def _event_batches(source: SourceText, clauses: list[Clause]) -> list[str]:
    """Batches named in the header and description: the event's own, not those checked for impact."""
    head = [c for c in clauses if c.section == source.sections[0].heading or _DESCRIPTION_HEADING.search(c.section)]
    return unique(b for c in head for b in batch_ids(c.text + " " + source.document.title))


def _kind_notes(source: SourceText) -> list[str]:
    meta = source.document.metadata
    if meta.kind_confidence is not None and meta.kind_confidence < 0.6:
        return [f"kind: read as {source.document.kind.value} with confidence {meta.kind_confidence:.2f} "
                f"({'; '.join(meta.kind_reasons[:2])})"]  # fmt: skip
    return []


def _record_notes(source: SourceText, own_id: str | None, named: list[str]) -> list[str]:
    if own_id or not named:
        return [] if own_id else ["record number: none found"]
    return [f"record number: the title gives none; {named[0]}, the first the report names, is taken as its own"]


def read_event(source: SourceText) -> EventReading:
    clauses = source.readable
    meta = source.document.metadata
    # where a date with no role word is when the event happened (a change has no such moment)
    describing = {i for i, c in enumerate(clauses)
                  if c.section == source.sections[0].heading or _DESCRIPTION_HEADING.search(c.section)}  # fmt: skip
    if source.document.kind == DocumentKind.CHANGE_CONTROL:
        describing = set()
    dates, date_evidence, notes = read_dates(source, clauses, source.parties, describing)
    root_cause, category = _root_cause(source, clauses)
    capas, capa_clauses = _capas(source, clauses)
    description = (
        _in_sections(clauses, _DESCRIPTION_HEADING)[:2] or [c for c in clauses if _SPEC_RESULT.search(c.text)][:2]
    )
    status = next((m for c in clauses if (m := _STATUS.search(c.text))), None)
    if status is None:
        status_clauses = _in_sections(clauses, _STATUS_HEADING)
        status = _OPEN_OR_CLOSED.search(status_clauses[0].text) if status_clauses else None
    own_id = next((i for i in meta.document_ids if i in source.document.title), None)
    reading = EventReading(
        type=event_type(source, clauses),
        record_ids=[own_id, *[i for i in meta.document_ids if i != own_id]] if own_id else list(meta.document_ids),
        site=meta.sites[0] if meta.sites else None,
        programs=list(meta.programs),
        product=meta.products[0] if meta.products else None,
        batch_ids=_event_batches(source, clauses) or list(meta.batch_ids),
        dates=dates,
        classification=_classification(clauses),
        status=("closed" if "closed" in status.group().lower() else "open") if status else ("closed" if dates.closed else None),
        description=_quoted(source, description),
        root_cause=root_cause,
        root_cause_category=category,
        capas=capas,
        impact_assessment=_quoted(source, _in_sections(clauses, _IMPACT_HEADING)[:3]),
        date_evidence=date_evidence,
        reading_notes=_kind_notes(source) + _record_notes(source, own_id, meta.document_ids) + notes,
    )
    reading.flags = weakness_flags(source, reading, clauses, capa_clauses)
    return reading
