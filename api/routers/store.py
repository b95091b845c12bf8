"""The store itself: is the vector index in step with the records."""

from typing import Annotated

from fastapi import APIRouter, Request

from api.deps import AppState, require
from core.auth import Principal, Role
from core.consistency import ConsistencyReport
from core.errors import IndexUnreadable
from retrieval.integrity import check_consistency

router = APIRouter(tags=["store"])


@router.get("/store/check", response_model=ConsistencyReport)
def check_store(request: Request, _: Annotated[Principal, require(Role.ADMIN)]):
    """Every chunk against every vector point. Read only: a repair (`cdmo check --repair`) needs the store to
    itself, with the server stopped."""
    state: AppState = request.app.state.cdmo
    try:
        return check_consistency(state.corpus)
    except IndexUnreadable as exc:
        return ConsistencyReport(chunks=0, points=0, unreadable=str(exc))
