"""When a document is a new version of another, and what a new version takes away.

A document is a new version of the current one with its key (same kind, and the same record number or title)
only when its own identity says so:
- keyed by its own record number (QA-NGB-HB-002, NC-2024-0127): the same site, the same programs, and a title
  that says the same thing once the number and revision marks are set aside. A one-paragraph note titled
  "NC-2024-0127 update" names the critical report, it is not its next revision;
- keyed by its title alone ("SUPPLY AGREEMENT", "Quality Agreement"): a title is never enough. It must also
  name the same parties (an agreement's parties read from its text; else the portfolio sites it concerns) and
  carry a revision, version or amendment mark, or have near-identical text.
And in either case, a document dated before the current version is stored beside it unless it says it is the
later revision (a higher revision number). An amendment never replaces its agreement: it is keyed by itself and
linked to the agreement it amends. Otherwise a document is stored beside the record, linked to it.

A version that lowers what the record said — a lower risk, a weakness flag gone, a QTA gap closed — is
held for a person to confirm: until then the higher reading is the one that counts.
"""

import re

from pydantic import BaseModel, Field

from core.analysis import Analysis, AnalysisKind
from core.documents import Document, PreparedDocument

_MIN_TITLE_OVERLAP = 0.5
# shared word 4-grams over all: a revision with a few changes keeps ~0.9, two supply agreements ~0.1, and two
# contracts of one template with other parties ~0.6
NEAR_IDENTICAL = 0.8
_AMENDED_NAME = 0.75  # of an agreement's name words that an amendment names it by
_RISK_ORDER = ["LOW", "MEDIUM", "HIGH"]
_CLASS_ORDER = ["minor", "major", "critical"]
_TITLE_REVISION = re.compile(r"\b(rev(ision)?|version|v|draft|final|issue)\b\.?\s*[\d.]*", re.I)
REVISION = re.compile(
    r"\b(?:rev(?:ision)?\.?\s*\d+(?:\.\d+)?|version\s*\d+(?:\.\d+)*|v\d+(?:\.\d+)+|issue\s*\d+"
    r"|amended and restated)\b",
    re.I,
)
_IDENTIFIER = re.compile(r"\b[A-Z]{1,6}[-_]?\d[\w-]*\b|\b\d[\d./-]+\b")
_MINOR = {"a", "an", "and", "for", "in", "of", "on", "the", "to", "with", "-"}
# the legal forms after a company's name ("Inc.", "S.p.A."): left out when two texts' parties are compared
LEGAL_FORM = (
    r"(?:inc|incorporated|llc|l\.l\.c|ltd|limited|corp|corporation|co|company|plc|l\.?p|llp|s\.?a|s\.?a\.?s|"
    r"s\.?p\.?a|s\.?r\.?l|gmbh|ag|n\.?v|b\.?v|a/s|ab|oy|kk|pty|pte|sa de cv|lp)\.?"
)
_LEGAL_FORM = re.compile(rf"\b{LEGAL_FORM}(?=\s|$)")


def revision_mark(text: str) -> str | None:
    """The first revision mark of a text: "Rev 4", "Version 2.1", "v1.1", "Amended and Restated"."""
    found = REVISION.search(text)
    return " ".join(found.group(0).split()) if found else None


def revision_number(mark: str | None) -> tuple[int, ...] | None:
    """"Rev 4" -> (4,), "Version 2.1" -> (2, 1); None when the mark has no number."""
    numbers = re.findall(r"\d+", mark or "")
    return tuple(int(n) for n in numbers) if numbers else None


def party_key(name: str) -> str:
    """A party's name as two texts of the same agreement write it alike: no legal form, case or punctuation."""
    words = _LEGAL_FORM.sub(" ", re.sub(r"['’]", "", name.lower()))
    return " ".join(w for w in re.findall(r"[a-z0-9&]+", words) if w != "the")


def parties_of(doc: Document) -> set[str]:
    """Who a document is between: an agreement's parties as read, else the portfolio sites it concerns."""
    agreement = doc.metadata.agreement
    if agreement and agreement.parties:
        return {k for p in agreement.parties if (k := party_key(p))}
    sites = {f"site:{s}" for s in doc.metadata.sites}
    return sites | {"the sponsor"} if sites else set()  # a portfolio site's document is between the sponsor and its CDMO


def keyed_by_number(doc: Document) -> bool:
    """Whether the document's key is its own record (or batch) number rather than its title."""
    tail = doc.document_key.split(":", 1)[-1]
    return tail in doc.metadata.document_ids or tail in doc.metadata.batch_ids


def text_similarity(a: str, b: str) -> float:
    """Shared word 4-grams over all word 4-grams of two texts."""
    grams_a, grams_b = _grams(a), _grams(b)
    if not grams_a or not grams_b:
        return 0.0
    return len(grams_a & grams_b) / len(grams_a | grams_b)


def _grams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + 4]) for i in range(max(len(words) - 3, 0))}


class Placement(BaseModel):
    """Where a new document goes among the stored ones."""

    prepared: PreparedDocument = Field(description="Numbered and keyed for where it goes")
    previous: Document | None = Field(None, description="The version it supersedes")
    note: str | None = Field(None, description="Why it is, or is not, a new version of the record it names")
    refused: Document | None = Field(
        None, description="A record it would have superseded that lies outside its writer's scope: left alone"
    )
    amendments: list[str] = Field(
        default_factory=list, description="Stored amendments of this agreement that arrived before it: linked to it"
    )
    claims: str | None = Field(None, description="The stored record whose number it carries without being it")


class VersionJudgement(BaseModel):
    is_version: bool
    reasons: list[str] = Field(description="Why it is, or is not, a version of the current document")


def judge_version(new: Document, current: Document, new_text: str, current_text: str) -> VersionJudgement:
    """Whether `new`, which shares `current`'s key (kind and record number, or title), reads as its next version;
    the texts are both documents' whole page texts."""
    reasons, ok = [], True
    if set(new.metadata.sites) != set(current.metadata.sites):
        ok = False
        reasons.append(f"its sites ({_named(new.metadata.sites)}) are not the record's ({_named(current.metadata.sites)})")
    if set(new.metadata.programs) != set(current.metadata.programs):
        ok = False
        reasons.append(
            f"its programs ({_named(new.metadata.programs)}) are not the record's ({_named(current.metadata.programs)})"
        )
    if keyed_by_number(new):
        overlap = title_overlap(new.title, current.title)
        if overlap < _MIN_TITLE_OVERLAP:
            ok = False
            reasons.append(f'its title "{new.title[:80]}" does not read as the record\'s "{current.title[:80]}"')
        evidence = f"same kind, record number, site and programs; titles agree ({overlap:.0%} of their words)"
    else:
        identity, evidence = _identity(new, current, new_text, current_text)
        ok = ok and identity
        if not identity:
            reasons.append(evidence)
    new_mark, current_mark = _revision(new), _revision(current)
    later = (revision_number(new_mark) or ()) > (revision_number(current_mark) or ())
    earlier_mark = revision_number(new_mark) and revision_number(current_mark) and not later
    new_date, current_date = new.metadata.document_date, current.metadata.document_date
    if earlier_mark and new_mark != current_mark:
        ok = False
        reasons.append(f"its revision ({new_mark}) is not later than the record's ({current_mark})")
    elif new_date and current_date and new_date < current_date and not later:
        ok = False
        reasons.append(f"it is dated {new_date}, before the record's {current_date}, and does not say it is a later "
                       "revision")  # fmt: skip
    if ok:
        reasons.append(evidence)
    return VersionJudgement(is_version=ok, reasons=reasons)


def _identity(new: Document, current: Document, new_text: str, current_text: str) -> tuple[bool, str]:
    """A document keyed by its title is the record's version only when its identity says so, never its title alone."""
    similarity = text_similarity(new_text, current_text)
    if similarity >= NEAR_IDENTICAL:
        return True, f"same title and near-identical text ({similarity:.0%} of its phrases)"
    ours, theirs = parties_of(new), parties_of(current)
    mark = _revision(new)
    if len(ours) >= 2 and ours == theirs and mark:  # one party read is half an identity
        return True, f"same title, the same parties ({_named(sorted(ours))}) and a revision mark ({mark})"
    if not ours or ours != theirs:
        return False, (f"only its title agrees: its parties ({_named(sorted(ours))}) are not the record's "
                       f"({_named(sorted(theirs))}) and its text differs ({similarity:.0%} of its phrases shared)")  # fmt: skip
    return False, (f"only its title and parties agree: it carries no revision mark and its text differs "
                   f"({similarity:.0%} of its phrases shared)")  # fmt: skip


def _revision(doc: Document) -> str | None:
    agreement = doc.metadata.agreement
    return (agreement.revision if agreement else None) or revision_mark(doc.title)


def is_amendment(doc: Document) -> bool:
    return bool(doc.metadata.agreement and doc.metadata.agreement.amends)


def amends(amendment: Document, agreement: Document) -> bool:
    """Whether `agreement` is the one `amendment` says it amends: its name's words all in the amended name (a date
    or the parties' names may be there too), and a party in common."""
    named, own = amendment.metadata.agreement, agreement.metadata.agreement
    if not (named and named.amends and own and own.name) or is_amendment(agreement):
        return False
    words = _title_words(own.name)  # most of them: a name is written a little differently in an amendment
    shared = len(words & _title_words(named.amends)) / len(words) if words else 0.0
    return shared >= _AMENDED_NAME and bool(parties_of(amendment) & parties_of(agreement))


def title_overlap(a: str, b: str) -> float:
    """Shared words over all words of two titles, record numbers and revision marks left out."""
    words_a, words_b = _title_words(a), _title_words(b)
    if not words_a and not words_b:
        return 1.0  # both titles are only the record number
    return len(words_a & words_b) / len(words_a | words_b)


def _title_words(title: str) -> set[str]:
    title = _IDENTIFIER.sub(" ", _TITLE_REVISION.sub(" ", title))
    return {w for w in re.findall(r"[a-z]+", re.sub(r"['’]", "", title.lower())) if w not in _MINOR and len(w) > 1}


def _named(ids: list[str]) -> str:
    return ", ".join(ids) or "none"


def downgrades(previous: Analysis, current: Analysis) -> list[str]:
    """What the new version's analysis lowers against the previous one's, in words; empty when nothing."""
    if previous.kind != current.kind:
        return []
    lowered = []
    if previous.kind == AnalysisKind.EVENT:
        before, after = previous.payload, current.payload
        if _RISK_ORDER.index(after["risk"]) < _RISK_ORDER.index(before["risk"]):
            lowered.append(f"risk {before['risk']} -> {after['risk']}")
        gone = sorted({f["code"] for f in before["flags"]} - {f["code"] for f in after["flags"]})
        if gone:
            lowered.append(f"weakness flag{'s' * (len(gone) > 1)} removed: {', '.join(gone)}")
        was, now = before.get("classification"), after.get("classification")
        if was in _CLASS_ORDER and (now not in _CLASS_ORDER or _CLASS_ORDER.index(now) < _CLASS_ORDER.index(was)):
            lowered.append(f"classification {was} -> {now or 'none'}")
    elif previous.kind == AnalysisKind.OBSERVATIONS:
        # a regulator's or auditor's finding is not withdrawn by a later copy: fewer observations read is a change
        # for a person to look at
        before, after = len(previous.payload["observations"]), len(current.payload["observations"])
        if after < before:
            lowered.append(f"observations {before} -> {after}")
    else:
        status = {f["element_id"]: f["status"] for f in current.payload["findings"]}
        closed = sorted(
            f["element_id"]
            for f in previous.payload["findings"]
            if f["status"] != "present" and status.get(f["element_id"]) == "present"
        )
        if closed:
            lowered.append(f"QTA gap{'s' * (len(closed) > 1)} closed: {', '.join(closed)}")
    return lowered
