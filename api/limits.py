"""Bounded requests, below every route: a body no larger than its route takes (413), sent at a pace (408).

The size is checked against Content-Length before a byte is read, and counted as the body arrives for a
client that sends none or lies; a body that stalls (a slow client, or a Content-Length larger than what is
sent) is given up after `CDMO_BODY_IDLE_TIMEOUT_S` instead of holding a worker until the client leaves.
An ASGI middleware: FastAPI would turn a failure while it reads a form into a 400, so the refusal is
noted here as it happens and sent in place of whatever answer the route then gives.
"""

import asyncio
import json

from api.refusals import claimed
from core.config import Settings

# Routes that take files; every other body is a small JSON document (a question, a login, a key).
_FILE_ROUTES = {("POST", "/documents"), ("POST", "/qta/review"), ("POST", "/investigations/triage")}
_MULTIPART_MARGIN = 1024 * 1024  # form fields and boundaries around a single file


class _Refused(Exception):
    def __init__(self, status: int, detail: str):
        self.status, self.detail = status, detail


class RequestLimits:
    def __init__(self, app, settings: Settings):
        self.app, self.settings = app, settings

    def _limit(self, method: str, path: str) -> int:
        if (method, path) == ("POST", "/documents"):
            return self.settings.max_upload_bytes
        if (method, path) in _FILE_ROUTES:
            return self.settings.max_file_bytes + _MULTIPART_MARGIN
        return self.settings.max_json_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self._limit(scope["method"], scope["path"].rstrip("/") or "/")
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            detail = f"the request body is {int(declared):,} bytes, over this route's {limit:,}-byte limit"
            await _answer(send, 413, detail)
            return await _audited(scope, 413, detail)
        refused: list[_Refused] = []
        received, complete = 0, False
        idle = self.settings.body_idle_timeout_s

        async def bounded_receive():
            nonlocal received, complete
            if complete:  # the body is in: what comes now is the client leaving (a stream waits for it)
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), timeout=idle)
            except TimeoutError:
                refused.append(_Refused(408, f"the request body stopped arriving: nothing came for {idle:g} s"))
                raise refused[-1] from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > limit:
                    refused.append(_Refused(413, f"the request body is over this route's {limit:,}-byte limit"))
                    raise refused[-1]
            return message

        answered = False

        async def guarded_send(message) -> None:
            nonlocal answered
            if refused:  # the route answered after its body was refused: the refusal is the answer
                if not answered:
                    answered = True
                    await _answer(send, refused[0].status, refused[0].detail)
                return
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except _Refused:
            pass
        if refused and not answered:
            await _answer(send, refused[0].status, refused[0].detail)
        if refused:
            await _audited(scope, refused[0].status, refused[0].detail)


class KeyBeforeBody:
    """With authentication on, a request that carries a body (an upload of 200 MB, a question) is let through
    only with a valid key, session or CLI token, checked on its headers before a byte of the body is read: a
    caller without one is answered 401 at once and its body is never spooled. The principal found is handed to
    the route (api.deps.get_principal), which does not look it up again."""

    _OPEN = {("POST", "/auth/login")}  # the body is the credential

    def __init__(self, app, settings: Settings):
        self.app, self.settings = app, settings

    async def __call__(self, scope, receive, send) -> None:
        if (scope["type"] != "http" or not self.settings.auth_enabled or scope["method"] in ("GET", "HEAD", "OPTIONS")
                or (scope["method"], scope["path"].rstrip("/")) in self._OPEN):  # fmt: skip
            return await self.app(scope, receive, send)
        from fastapi import Request

        from api.deps import known_principal

        request = Request(scope)
        principal = await asyncio.to_thread(known_principal, request, scope["app"].state.cdmo)
        if principal is None:
            detail = "log in, or send an API key as 'Authorization: Bearer ...'"
            await _answer(send, 401, detail, {b"www-authenticate": b"Bearer"})
            return await _audited(scope, 401, "no valid key or session (refused before its body was read)")
        scope["cdmo.principal"] = principal
        return await self.app(scope, receive, send)


async def _audited(scope, status: int, detail: str) -> None:
    """The refusal in the audit trail, by what the request claimed (it was refused before anyone was asked)."""
    state = scope["app"].state.cdmo
    who = claimed(dict(scope["headers"]).get(b"authorization", b"").decode("latin-1"))
    await asyncio.to_thread(lambda: state.refusals.refused(state.corpus.store, who, scope["method"], scope["path"],
                                                           status, detail))  # fmt: skip


async def _answer(send, status: int, detail: str, headers: dict[bytes, bytes] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *(headers or {}).items()]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
