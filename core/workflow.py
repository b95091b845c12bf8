"""What people do with a finding: acknowledge it, assign it with a due date, comment, close it with a reason,
reopen it. A finding's state is its history replayed; the history is never changed, only added to.

A finding is known by its key, the same for every caller whatever its view shows:
- a stored finding (a flag, a gap, an observation): "<document id>:<source>:<code>" ("~2", "~3" after it for a
  code the document has more than once, as a letter's second observation of the same category), numbered among
  its document's own findings when they are stored. A document's analysis is stored again when it is re-read,
  with new row ids, but the same document, source and code, in the same order, are the same findings;
- a commitment fallen due (a CAPA, a meeting's action item): "<document id>:<source>:<code>@p<page>.<offset>",
  where its passage stands in its document, never its place in a list a view has narrowed.
A new version of the document is a new document, so its findings start open; the old version's stay in history.
"""

import hashlib

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from core.analysis import FindingRow, FindingSource
from core.audit import audit_entry
from core.auth import Principal
from core.errors import NotFoundError
from core.evidence import Evidence


class FindingStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    CLOSED = "closed"


class FindingAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    ASSIGN = "assign"
    COMMENT = "comment"
    CLOSE = "close"
    REOPEN = "reopen"


class FindingRequest(BaseModel):
    """A change asked for: who and when are added by the service."""

    action: FindingAction
    assignee: str | None = Field(None, min_length=1, max_length=120, description="For assign: who is to act")
    due: date | None = Field(None, description="For assign: by when")
    text: str | None = Field(None, min_length=3, max_length=4000, description="A comment, or why it is closed or reopened")


class FindingChange(FindingRequest):
    key: str
    by: str
    at: datetime


class FindingState(BaseModel):
    status: FindingStatus = FindingStatus.OPEN
    assignee: str | None = None
    due: date | None = None
    closed_reason: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None


class TrackedFinding(FindingRow):
    """A finding with where people have taken it."""

    key: str
    name: str = Field(description="What it is, in words")
    raised: date | None = Field(None, description="The day it became a finding: its document's date, or the day "
                                "its commitment fell due")  # fmt: skip
    age_days: int | None = Field(None, description="Days since it was raised")
    late: bool = Field(False, description="Open past its due date (the assignment's, or the commitment's own)")
    document_title: str | None = Field(None, description="The title of the document it comes from")
    filename: str | None = None
    state: FindingState = Field(default_factory=FindingState)


class WorkflowError(ValueError):
    """A change that does not apply to the finding as it stands (said in words)."""


class InvalidChange(WorkflowError):
    """A change whose own values cannot stand, whatever the finding's state (a due date in year 1)."""


_LONGEST_DUE = 3 * 366  # days ahead a due date may be set: further is a typing error, not a plan


def due_out_of_range(request: FindingRequest, today: date) -> str | None:
    """Why an assignment's due date cannot stand, in words (None: it can): before the day of judgement, or years
    past it."""
    if request.due is None:
        return None
    if request.due < today:
        return f"the due date {request.due} is before today ({today}): a finding is assigned to be done from now on"
    if (request.due - today).days > _LONGEST_DUE:
        return f"the due date {request.due} is over three years ahead: set a date the work can be planned for"
    return None


_ACRONYMS = {"capa": "CAPA", "capas": "CAPAs", "oos": "OOS", "qta": "QTA", "ctd": "CTD", "gmp": "GMP"}


def code_words(code: str, capital: bool = True) -> str:
    """A code in words: "retraining_only_capa" is "Retraining only CAPA"."""
    words = " ".join(_ACRONYMS.get(w, w) for w in code.split("_"))
    return words[:1].upper() + words[1:] if capital else words


def finding_name(row: FindingRow) -> str:
    """The code in words: "qta_missing:change_control" is "QTA gap (missing): change control"."""
    if row.source == FindingSource.QTA_REVIEW and ":" in row.code:
        status, element = row.code.split(":", 1)
        return f"QTA gap ({status.removeprefix('qta_')}): {code_words(element, capital=False)}"
    if row.source == FindingSource.OBSERVATION:
        return f"Inspection observation: {row.code.removeprefix('observation:').replace('_', ' ')}"
    if row.source == FindingSource.OVERDUE_CAPA:
        return "CAPA past due"
    if row.source == FindingSource.OVERDUE_ACTION:
        return "Action item past due"
    return code_words(row.code)


def base_key(document_id: str, source: FindingSource, code: str) -> str:
    return f"{document_id}:{source.value}:{code}"


def item_key(document_id: str, source: FindingSource, code: str, evidence: Evidence | None, text: str) -> str:
    """A derived finding's key: its document, kind, and where its passage stands in the document (or, with no
    passage, a digest of its own words)."""
    if evidence is not None:
        return f"{base_key(document_id, source, code)}@p{evidence.page}.{evidence.start}"
    return f"{base_key(document_id, source, code)}@h{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def finding_keys(rows: list[FindingRow]) -> list[str]:
    """Each row's key: its own where it carries one, else numbered among `rows` (one document's stored findings,
    in their stored order)."""
    numbered_keys = numbered([base_key(row.document_id, row.source, row.code) for row in rows])
    return [row.key or key for row, key in zip(rows, numbered_keys)]


def numbered(keys: list[str]) -> list[str]:
    """The keys, a repeated one numbered from its second time ("~2")."""
    seen: dict[str, int] = {}
    out = []
    for key in keys:
        seen[key] = seen.get(key, 0) + 1
        out.append(key if seen[key] == 1 else f"{key}~{seen[key]}")
    return out


def missing_for(request: FindingRequest) -> str | None:
    """What the change lacks, in words, or None."""
    if request.action == FindingAction.ASSIGN and not request.assignee:
        return "an assignment names who is to act (assignee)"
    if request.action in (FindingAction.COMMENT, FindingAction.CLOSE, FindingAction.REOPEN) and not request.text:
        return f"to {request.action.value} a finding, say why or what (text)"
    return None


def applied(state: FindingState, change: FindingChange) -> FindingState:
    """The state after a change; WorkflowError where the change does not apply."""
    if (missing := missing_for(change)) is not None:
        raise WorkflowError(missing)
    closed = state.status == FindingStatus.CLOSED
    if closed and change.action not in (FindingAction.COMMENT, FindingAction.REOPEN):
        raise WorkflowError(f"the finding is closed ({state.closed_reason}): reopen it first")
    if change.action == FindingAction.REOPEN and not closed:
        raise WorkflowError("the finding is not closed")
    after = state.model_copy(update={"updated_at": change.at, "updated_by": change.by})
    match change.action:
        case FindingAction.ACKNOWLEDGE if state.status == FindingStatus.OPEN:
            after.status = FindingStatus.ACKNOWLEDGED
        case FindingAction.ASSIGN:
            after.status, after.assignee, after.due = FindingStatus.ASSIGNED, change.assignee, change.due
        case FindingAction.CLOSE:
            after.status, after.closed_reason = FindingStatus.CLOSED, change.text
        case FindingAction.REOPEN:
            after.status = FindingStatus.ASSIGNED if state.assignee else FindingStatus.OPEN
            after.closed_reason = None
    return after


def replayed(history: list[FindingChange]) -> FindingState:
    """The state a history leads to. Each change was checked when it was made; reading never fails on one
    that no longer applies (it is passed over)."""
    state = FindingState()
    for change in history:
        try:
            state = applied(state, change)
        except WorkflowError:
            continue
    return state


def tracked_findings(view, rows: list[FindingRow], status: FindingStatus | None = None) -> list[TrackedFinding]:
    """`rows` (every finding of a view, in the view's order: their keys are numbered in it) with their states, read
    from `view` (a record store, or a principal's scoped view of it)."""
    keys = finding_keys(rows)  # every row the store gives carries its key: numbering is for rows not yet stored
    histories = view.finding_histories(keys)
    found = [_tracked(r, k, replayed(histories.get(k, []))) for r, k in zip(rows, keys)]
    return [f for f in found if status is None or f.state.status == status]


def shown_finding(rows: list[FindingRow], key: str) -> FindingRow:
    """The finding of `rows` (every finding a view shows) under `key` (NotFoundError otherwise)."""
    found = next((row for row, k in zip(rows, finding_keys(rows)) if k == key), None)
    if found is None:
        raise NotFoundError(f"no finding {key}")
    return found


def change_finding(store, finding: FindingRow, key: str, request: FindingRequest, who: Principal,
                   at: datetime) -> TrackedFinding:  # fmt: skip
    """Apply a person's change to a finding (WorkflowError where it lacks something or does not apply), audited
    with its document in the same transaction of `store`."""
    change = FindingChange(**request.model_dump(), key=key, by=who.name, at=at)
    entry = audit_entry(who, f"finding_{request.action.value}", documents=[store.get(finding.document_id)],
                        detail=request.model_dump(mode="json", exclude_none=True) | {"finding": key})  # fmt: skip
    return _tracked(finding, key, store.change_finding(change, entry))


def _tracked(row: FindingRow, key: str, state: FindingState) -> TrackedFinding:
    return TrackedFinding(**row.model_dump(exclude={"key"}), key=key, name=finding_name(row), state=state)
