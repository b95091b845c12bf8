"""When a document is a new version of another, and what a new version takes away.

A record is never replaced by whatever shares its number: a one-paragraph note titled "NC-2024-0127
update" names the critical report NC-2024-0127, it is not its next revision. A document supersedes the
current one with its key (same kind, same record number) only when it also reads as a version of it: the
same site, the same programs, and a title that says the same thing once the record number and revision
marks are set aside. Otherwise it is stored beside that record, linked to it.

A version that lowers what the record said — a lower risk, a weakness flag gone, a QTA gap closed — is
held for a person to confirm: until then the higher reading is the one that counts.
"""

import re

from pydantic import BaseModel, Field

from core.analysis import Analysis, AnalysisKind
from core.documents import Document, PreparedDocument

_MIN_TITLE_OVERLAP = 0.5
_RISK_ORDER = ["LOW", "MEDIUM", "HIGH"]
_CLASS_ORDER = ["minor", "major", "critical"]
_REVISION = re.compile(r"\b(rev(ision)?|version|v|draft|final|issue)\b\.?\s*[\d.]*", re.I)
_IDENTIFIER = re.compile(r"\b[A-Z]{1,6}[-_]?\d[\w-]*\b|\b\d[\d./-]+\b")
_MINOR = {"a", "an", "and", "for", "in", "of", "on", "the", "to", "with", "-"}


class Placement(BaseModel):
    """Where a new document goes among the stored ones."""

    prepared: PreparedDocument = Field(description="Numbered and keyed for where it goes")
    previous: Document | None = Field(None, description="The version it supersedes")
    note: str | None = Field(None, description="Why it is, or is not, a new version of the record it names")
    refused: Document | None = Field(
        None, description="A record it would have superseded that lies outside its writer's scope: left alone"
    )


class VersionJudgement(BaseModel):
    is_version: bool
    reasons: list[str] = Field(description="Why it is, or is not, a version of the current document")


def judge_version(new: Document, current: Document) -> VersionJudgement:
    """Whether `new`, which shares `current`'s key (kind and record number), reads as its next version."""
    reasons, ok = [], True
    if set(new.metadata.sites) != set(current.metadata.sites):
        ok = False
        reasons.append(f"its sites ({_named(new.metadata.sites)}) are not the record's ({_named(current.metadata.sites)})")
    if set(new.metadata.programs) != set(current.metadata.programs):
        ok = False
        reasons.append(
            f"its programs ({_named(new.metadata.programs)}) are not the record's ({_named(current.metadata.programs)})"
        )
    overlap = title_overlap(new.title, current.title)
    if overlap < _MIN_TITLE_OVERLAP:
        ok = False
        reasons.append(f'its title "{new.title[:80]}" does not read as the record\'s "{current.title[:80]}"')
    if ok:
        reasons.append(f"same kind, record number, site and programs; titles agree ({overlap:.0%} of their words)")
    return VersionJudgement(is_version=ok, reasons=reasons)


def title_overlap(a: str, b: str) -> float:
    """Shared words over all words of two titles, record numbers and revision marks left out."""
    words_a, words_b = _title_words(a), _title_words(b)
    if not words_a and not words_b:
        return 1.0  # both titles are only the record number
    return len(words_a & words_b) / len(words_a | words_b)


def _title_words(title: str) -> set[str]:
    title = _IDENTIFIER.sub(" ", _REVISION.sub(" ", title))
    return {w for w in re.findall(r"[a-z]+", title.lower()) if w not in _MINOR and len(w) > 1}


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
