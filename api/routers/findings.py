"""The findings of every document, with where people have taken them: acknowledged, assigned with a due date,
commented on, closed with a reason, reopened (reviewers and admins), each change in the audit trail."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from api.deps import RequestState, get_state, require
from core.audit import audit_entry
from core.auth import Principal, Role
from core.store import utcnow
from core.workflow import (
    FindingChange,
    FindingRequest,
    FindingStatus,
    TrackedFinding,
    WorkflowError,
    finding_keys,
    missing_for,
    replayed,
)

router = APIRouter(tags=["findings"])


def tracked(state: RequestState, site: str | None = None, program: str | None = None, code: str | None = None) -> list[TrackedFinding]:
    rows = state.corpus.store.list_findings(site=site, program=program, code=code)
    keys = finding_keys(rows)
    histories = state.corpus.store.finding_histories(keys)
    return [TrackedFinding(**r.model_dump(), key=k, state=replayed(histories.get(k, []))) for r, k in zip(rows, keys)]


@router.get("/findings", response_model=list[TrackedFinding])
def list_findings(
    state: Annotated[RequestState, Depends(get_state)],
    site: str | None = None,
    program: str | None = None,
    code: str | None = None,
    status_: Annotated[FindingStatus | None, Query(alias="status")] = None,
):
    """Weak-investigation flags, QTA gaps and inspection observations, one row each, linked to site, program,
    product and batch, with their state (open, acknowledged, assigned, closed)."""
    found = tracked(state, site, program, code)
    return [f for f in found if status_ is None or f.state.status == status_]


def _visible(state: RequestState, key: str) -> TrackedFinding:
    found = next((f for f in tracked(state) if f.key == key), None)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no finding {key}")
    return found


@router.get("/findings/{key}/history", response_model=list[FindingChange])
def finding_history(key: str, state: Annotated[RequestState, Depends(get_state)]):
    """Every change made to the finding, oldest first."""
    _visible(state, key)
    return state.corpus.store.finding_histories([key]).get(key, [])


@router.post("/findings/{key}", response_model=TrackedFinding)
def change_finding(
    key: str,
    request: FindingRequest,
    state: Annotated[RequestState, Depends(get_state)],
    who: Annotated[Principal, require(Role.REVIEWER)],
):
    """Acknowledge, assign (assignee, due), comment (text), close (text: why) or reopen (text: why) a finding."""
    finding = _visible(state, key)
    if (missing := missing_for(request)) is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, missing)
    change = FindingChange(**request.model_dump(), key=key, by=who.name, at=utcnow())
    store = state.app.corpus.store
    entry = audit_entry(who, f"finding_{request.action.value}", documents=[store.get(finding.document_id)],
                        detail=request.model_dump(mode="json", exclude_none=True) | {"finding": key})  # fmt: skip
    try:
        after = store.change_finding(change, entry)
    except WorkflowError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return finding.model_copy(update={"state": after})
