"""Refused requests in the audit trail: who was turned away (401, 403, 408, 413, 429), from where, and why.

An unauthenticated caller is recorded by what it claimed (a key's prefix, a user name), marked `claimed`:
it proves nothing. Anyone can send refused requests, so they are written one by one only up to a number
per minute; past it they are counted, and the count is written as one entry when the minute is over.
"""

import threading
import time

from api.audit import record
from core.auth import Principal, Role

_PER_MINUTE = 60


class RefusalLog:
    def __init__(self, per_minute: int = _PER_MINUTE):
        self.per_minute = per_minute
        self._lock = threading.Lock()
        self._minute = 0
        self._written = 0
        self._unwritten = 0

    def refused(self, store, who: Principal, method: str, path: str, status: int, reason: str,
                action: str = "refused_request", outcome: str | None = None) -> None:  # fmt: skip
        minute = int(time.time() // 60)
        with self._lock:
            if minute != self._minute:
                overflow, since = self._unwritten, self._minute
                self._minute, self._written, self._unwritten = minute, 0, 0
            else:
                overflow, since = 0, minute
            write = self._written < self.per_minute
            self._written += write
            self._unwritten += not write
        if overflow:
            record(store, SYSTEM, "refused_requests", outcome="not recorded one by one",
                   detail={"count": overflow, "minute": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(since * 60))})  # fmt: skip
        if write:
            record(store, who, action, outcome=outcome or str(status),
                   detail={"method": method, "path": path, "reason": reason})  # fmt: skip


def claimed(authorization: str, username: str | None = None) -> Principal:
    """Who an unauthenticated request said it was: the prefix of the key it sent, or nobody."""
    token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
    name = username or (token[:11] if token else "anonymous")
    return Principal(name=name[:120], kind="claimed", role=Role.VIEWER)


SYSTEM = Principal(name="cdmo", kind="system", role=Role.ADMIN)
