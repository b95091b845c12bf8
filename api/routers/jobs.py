"""Ingestion jobs: where an upload's files are, while and after they are ingested."""

import json
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import StreamingResponse

from api.deps import RequestState, get_state
from core.auth import Role
from core.jobs import IngestJob

router = APIRouter(prefix="/jobs", tags=["jobs"])
_WATCH_S = 3600  # one stream follows its jobs at most this long; the client reconnects if it wants more


def _visible(state: RequestState, job_id: str) -> IngestJob:
    """A job is seen by who submitted it, and by admins; to anyone else it does not exist."""
    found = state.app.jobs.get(job_id)
    if found is None or not (found[1].identity == state.principal.identity or state.principal.role.allows(Role.ADMIN)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id}")
    return found[0]


@router.get("", response_model=list[IngestJob])
def list_jobs(state: Annotated[RequestState, Depends(get_state)], unfinished: bool = False):
    """Your recent jobs, newest first (an admin's: everyone's)."""
    mine = None if state.principal.role.allows(Role.ADMIN) else state.principal.identity
    return state.app.jobs.store.jobs(submitted_by=mine, unfinished=unfinished)


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "progress ..., done"}},
)
def job_events(
    state: Annotated[RequestState, Depends(get_state)],
    ids: Annotated[str, Query(description="Comma-separated job ids (those of one upload)", max_length=4000)],
):
    """Server-sent events: `progress` with every job each time one of them moves on, then `done`."""
    wanted = [i for i in ids.split(",") if i][:200]
    for job_id in wanted:
        _visible(state, job_id)

    def sse():
        jobs = []
        for jobs in state.app.jobs.watch(wanted, _WATCH_S):
            data = json.dumps([j.model_dump(mode="json") for j in jobs], ensure_ascii=False)
            yield f"event: progress\ndata: {data}\n\n"
        finished = all(j.finished for j in jobs)
        yield f"event: {'done' if finished else 'timeout'}\ndata: {{}}\n\n"

    return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/{job_id}", response_model=IngestJob)
def get_job(job_id: str, state: Annotated[RequestState, Depends(get_state)]):
    """One job: queued, running (with its stage and progress), done (with the file's result) or failed."""
    return _visible(state, job_id)
