"""One process at a time owns a data folder: the only one that opens its embedded store's files.

The owner holds an exclusive `flock` on `<data>/store.lock` for as long as it has the store open, and
writes into that file who it is (pid, command, start) and, for a server, its address and a token with
which the local CLI reaches it. Any other process tries the lock first, without blocking, and when it is
held never opens a vector or record file: Qdrant's embedded engines damage each other's files when two
processes open one folder (a reader once broke every later upload of a running server). The kernel drops
the lock when its holder exits, however it exits, so a crash leaves no stale lock behind.

The file is created readable by its owner only (0600): the token is an admin credential for whoever can
already read the data folder, and nobody else.
"""

import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from core.config import Settings
from core.errors import StoreBusyError

LOCK_NAME = "store.lock"


class StoreOwner(BaseModel):
    pid: int
    command: str = Field(description="What the owning process is, e.g. `cdmo serve` or `cdmo ingest`")
    started_at: datetime
    url: str | None = Field(None, description="A server's address: other processes go through its API")
    token: str | None = Field(None, description="Admin token of the local CLI for that server")

    def describe(self) -> str:
        where = f" at {self.url}" if self.url else ""
        return f"`{self.command}` (pid {self.pid}, since {self.started_at.astimezone():%H:%M:%S}){where}"


def needs_lock(settings: Settings) -> bool:
    """Embedded engines (Qdrant Edge, qdrant-client's local mode, SQLite) allow one process; a Qdrant server
    with PostgreSQL allows many workers, and then there is nothing to own."""
    from core.config import VectorEngine

    return settings.vector_engine != VectorEngine.SERVER or settings.sqlalchemy_url.startswith("sqlite")


def this_command() -> str:
    argv = [Path(sys.argv[0]).name, *sys.argv[1:2]] if sys.argv and sys.argv[0] else ["python"]
    return " ".join(argv)


class _Held:
    def __init__(self, fd: int):
        self.fd, self.count = fd, 1


_held: dict[Path, _Held] = {}  # re-entrant within a process: the CLI holds it, then its Corpus asks again
_guard = threading.Lock()


class StoreLock:
    def __init__(self, data_dir: Path):
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = (data_dir / LOCK_NAME).resolve()
        self._mine = False

    def try_acquire(self, command: str | None = None) -> StoreOwner | None:
        """Take the lock without waiting: None when this process holds it now, else who holds it."""
        with _guard:
            if self._mine:
                return None
            if (held := _held.get(self.path)) is not None:
                held.count += 1
                self._mine = True
                return None
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _read(fd) or _starting()
                os.close(fd)
                return owner
            _write(fd, StoreOwner(pid=os.getpid(), command=command or this_command(), started_at=datetime.now(UTC)))
            _held[self.path] = _Held(fd)
            self._mine = True
            return None

    def acquire(
        self, command: str | None = None, wait_s: float = 0.0, on_wait: Callable[[StoreOwner], None] | None = None
    ) -> None:
        """Take the lock, waiting up to `wait_s` for a holder that is not a server (a server does not finish:
        go through its API instead). Raises StoreBusyError naming the holder."""
        deadline = time.monotonic() + wait_s
        told = False
        while (owner := self.try_acquire(command)) is not None:
            if owner.url or time.monotonic() >= deadline:
                raise StoreBusyError(str(self.path.parent), owner)
            if on_wait and not told:
                on_wait(owner)
                told = True
            time.sleep(0.2)

    def announce(self, url: str, token: str) -> None:
        """Say where this process serves the store (it must hold the lock)."""
        with _guard:
            held = _held[self.path]
            owner = _read(held.fd) or StoreOwner(pid=os.getpid(), command=this_command(), started_at=datetime.now(UTC))
            _write(held.fd, owner.model_copy(update={"url": url, "token": token}))

    def release(self) -> None:
        with _guard:
            if not self._mine:
                return
            self._mine = False
            held = _held[self.path]
            held.count -= 1
            if held.count == 0:
                del _held[self.path]
                os.ftruncate(held.fd, 0)
                os.close(held.fd)  # closing the descriptor drops the lock


class _NoLock:
    """What `claim_store` gives where there is nothing to own (PostgreSQL with a Qdrant server)."""

    def release(self) -> None:
        pass

    def announce(self, url: str, token: str) -> None:
        pass


def claim_store(settings: Settings, command: str | None = None) -> "StoreLock | _NoLock":
    """Own the settings' data folder now, or raise StoreBusyError naming who does."""
    if not needs_lock(settings):
        return _NoLock()
    lock = StoreLock(settings.data_dir)
    lock.acquire(command)
    return lock


def store_owner(data_dir: Path) -> StoreOwner | None:
    """Who owns the data folder now (None: nobody), without taking it."""
    path = data_dir / LOCK_NAME
    if not path.exists():
        return None
    with _guard:
        if path.resolve() in _held:
            return _read(_held[path.resolve()].fd)
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd) or _starting()
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _starting() -> StoreOwner:
    """The holder between taking the lock and writing who it is."""
    return StoreOwner(pid=0, command="a process that is starting", started_at=datetime.now(UTC))


def _read(fd: int) -> StoreOwner | None:
    try:
        raw = os.pread(fd, 65536, 0)
        return StoreOwner.model_validate(json.loads(raw)) if raw.strip() else None
    except (OSError, ValueError):
        return None


def _write(fd: int, owner: StoreOwner) -> None:
    data = owner.model_dump_json().encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
