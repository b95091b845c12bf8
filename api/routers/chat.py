"""Chat: a question answered with cited passages, streamed as server-sent events."""

import json
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field

from agents.chat import ChatService
from api.audit import record_answer
from api.deps import RequestState, get_chat, get_state
from api.reports import chat_markdown
from core.chat import Answer, ChatEventType, ChatScope, ChatSessionSummary, ChatTurn
from core.errors import NotFoundError, unexpected

router = APIRouter(tags=["chat"])
log = logging.getLogger(__name__)


class ChatRequest(BaseModel):
    question: str = Field(min_length=1, max_length=2000)
    site: str | None = None
    program: str | None = None
    session_id: str | None = Field(None, max_length=64, description="Continue a conversation; omitted: a new one")


@router.post(
    "/chat",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "start, citation, sentence ..., done"}},
)
def chat(
    request: ChatRequest,
    service: Annotated[ChatService, Depends(get_chat)],
    state: Annotated[RequestState, Depends(get_state)],
):
    """Stream the answer: `start` (session id, how the question was read), each `citation` before the first
    sentence that uses it, each `sentence`, then `done` with the whole answer."""
    owner = state.principal.identity
    if request.session_id:
        try:
            service.session(request.session_id, owner)
        except NotFoundError:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no chat session {request.session_id}") from None
    scope = ChatScope(site=request.site, program=request.program)
    events = service.stream(request.question, scope, request.session_id, owner)

    def sse():
        try:
            for event in events:
                if event.type == ChatEventType.DONE:
                    record_answer(state.app.corpus.store, state.principal, Answer.model_validate(event.data))
                yield f"event: {event.type.value}\ndata: {json.dumps(event.data, ensure_ascii=False)}\n\n"
        except Exception:  # the stream has started: the error goes in it, not in a status code
            detail = unexpected(log, "answering the question")
            yield f"event: error\ndata: {json.dumps({'detail': detail})}\n\n"

    return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/chat/sessions", response_model=list[ChatSessionSummary])
def sessions(
    service: Annotated[ChatService, Depends(get_chat)],
    state: Annotated[RequestState, Depends(get_state)],
):
    """The principal's own conversations, the latest first: what the web app lists to reopen after a reload."""
    return service.sessions(state.principal.identity)


@router.get("/chat/sessions/{session_id}/markdown", response_class=PlainTextResponse,
            responses={200: {"content": {"text/markdown": {}}}})  # fmt: skip
def session_markdown(
    session_id: str,
    service: Annotated[ChatService, Depends(get_chat)],
    state: Annotated[RequestState, Depends(get_state)],
    turn: Annotated[int | None, Query(ge=1, description="One answer of the session; omitted: all")] = None,
):
    """The session (or one answer) with its citations, as Markdown to paste or keep."""
    try:
        turns = service.session(session_id, state.principal.identity)
    except NotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no chat session {session_id}") from None
    chosen = [t for t in turns if turn is None or t.ordinal == turn]
    if not chosen:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"session {session_id} has no answer {turn}")
    return PlainTextResponse(chat_markdown(chosen), media_type="text/markdown; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="chat-{session_id[:12]}.md"'})  # fmt: skip


@router.get("/chat/sessions/{session_id}", response_model=list[ChatTurn])
def session_history(
    session_id: str,
    service: Annotated[ChatService, Depends(get_chat)],
    state: Annotated[RequestState, Depends(get_state)],
):
    """A session's questions and answers, to the principal that opened it."""
    try:
        return service.session(session_id, state.principal.identity)
    except NotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no chat session {session_id}") from None

