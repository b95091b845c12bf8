"""Where a command's work happens: in this process, which then owns the store, or in the server that does.

The store's lock is tried before anything of the store is opened. Held by a server, the command goes
through its API; held by another command (a long `cdmo ingest`), it waits, saying for whom, and gives up
with the holder's name after `CDMO_STORE_WAIT_S`.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from api.cli.app import CLI_USER, console, fail
from core.config import Settings
from core.errors import StoreBusyError
from core.ownership import StoreLock, StoreOwner, needs_lock, this_command

if TYPE_CHECKING:  # imported where used: `cdmo --help` needs neither the store nor an HTTP client
    from api.cli.local import LocalStore
    from api.client import ServerClient


@contextmanager
def store_access(settings: Settings, own: str | None = None) -> Iterator["LocalStore | ServerClient"]:
    """`own`: what must have the store to itself (a repair): a running server is then refused, not used.

    A refusal (here or from the server) ends the command with its reason, exit status 2; a store held by
    another command past the wait, with the holder's name, exit status 3."""
    from api.client import Refused

    try:
        yield from _access(settings, own)
    except Refused as exc:
        raise fail(str(exc), 2) from None
    except StoreBusyError as exc:
        raise fail(str(exc), 3) from None


def _access(settings: Settings, own: str | None) -> Iterator["LocalStore | ServerClient"]:
    from api.client import Refused, ServerClient

    if not needs_lock(settings):  # PostgreSQL and a Qdrant server: any number of processes at once
        yield from _local(settings, None)
        return
    lock = StoreLock(settings.data_dir)
    try:
        lock.acquire(this_command(), settings.store_wait_s, on_wait=_say_waiting)
    except StoreBusyError as exc:
        if exc.owner is None or not exc.owner.url:
            raise
        if own:
            raise Refused(f"{own} needs the store to itself: stop the server {exc.owner.describe()} first") from None
        client = ServerClient(exc.owner, CLI_USER.name)
        try:
            yield client
        finally:
            client.close()
        return
    yield from _local(settings, lock)


def _local(settings: Settings, lock: StoreLock | None) -> Iterator["LocalStore"]:
    from api.cli.local import LocalStore

    local = LocalStore(settings, CLI_USER)
    try:
        yield local
    finally:
        try:
            local.close()
        finally:
            if lock is not None:
                lock.release()


def _say_waiting(owner: StoreOwner) -> None:
    console.print(f"[yellow]waiting for {owner.describe()}, which has the store open...[/yellow]")
