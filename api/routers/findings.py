"""The findings of every document, with where people have taken them: acknowledged, assigned with a due date,
commented on, closed with a reason, reopened (reviewers and admins), each change in the audit trail."""

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from agents.register import FindingRegister, OutsideScope
from api.deps import RequestState, get_state, refused, require
from api.register import register_file
from core.auth import Principal, Role
from core.errors import NotFoundError
from core.scope import scoped_portfolio
from core.store import utcnow
from core.workflow import (
    FindingChange,
    FindingRequest,
    FindingStatus,
    InvalidChange,
    TrackedFinding,
    WorkflowError,
    missing_for,
)

router = APIRouter(tags=["findings"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _register(state: RequestState) -> FindingRegister:
    """The findings the asker may see, judged on CDMO_AS_OF or today."""
    portfolio = scoped_portfolio(state.portfolio, state.principal)
    return FindingRegister(state.corpus.store, portfolio, state.settings.today())


@router.get("/findings", response_model=list[TrackedFinding])
def list_findings(
    state: Annotated[RequestState, Depends(get_state)],
    site: str | None = None,
    program: str | None = None,
    code: str | None = None,
    status_: Annotated[FindingStatus | None, Query(alias="status")] = None,
):
    """Weak-investigation flags, QTA gaps, inspection observations, CAPAs and meeting action items past due, one
    row each, linked to site, program, product and batch, with their age, due date and state (open, acknowledged,
    assigned, closed)."""
    return _register(state).findings(site, program, code, status_)


class RegisterFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


@router.get("/findings/export", responses={200: {"content": {"text/csv": {}, XLSX: {}}}})
def export_findings(
    state: Annotated[RequestState, Depends(get_state)],
    format: RegisterFormat = RegisterFormat.CSV,
    site: str | None = None,
    program: str | None = None,
    status_: Annotated[FindingStatus | None, Query(alias="status")] = None,
):
    """The register as a file (CSV or an Excel workbook): each finding with its state, document and last change."""
    content = register_file(_register(state), format.value, status_, site, program)
    headers = {"Content-Disposition": f'attachment; filename="findings-{utcnow():%Y%m%d}.{format.value}"'}
    media = XLSX if format == RegisterFormat.XLSX else "text/csv; charset=utf-8"
    return Response(content, media_type=media, headers=headers)


@router.get("/findings/{key}/history", response_model=list[FindingChange])
def finding_history(key: str, state: Annotated[RequestState, Depends(get_state)]):
    """Every change made to the finding, oldest first."""
    try:
        _register(state).shown(key)
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return state.corpus.store.finding_histories([key]).get(key, [])


@router.post("/findings/{key}", response_model=TrackedFinding)
def change(
    key: str,
    request: FindingRequest,
    http: Request,
    state: Annotated[RequestState, Depends(get_state)],
    who: Annotated[Principal, require(Role.REVIEWER)],
):
    """Acknowledge, assign (assignee, due), comment (text), close (text: why) or reopen (text: why) a finding."""
    try:
        return _register(state).change(state.app.corpus.store, key, request, who, utcnow())
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except OutsideScope as exc:
        refused(http, who, 403, str(exc))
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
    except WorkflowError as exc:
        lacking = missing_for(request) is not None or isinstance(exc, InvalidChange)
        if isinstance(exc, InvalidChange):
            refused(http, who, 422, f"{key}: {exc}")
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT if lacking else status.HTTP_409_CONFLICT, str(exc)) from None
