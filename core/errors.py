"""Errors a user sees. Each names the file and the reason."""

import logging
import secrets
import sys


class IngestError(Exception):
    """A file that cannot be ingested. Nothing is stored for it."""

    def __init__(self, filename: str, reason: str):
        super().__init__(f"{filename}: {reason}")
        self.filename = filename
        self.reason = reason


class NotFoundError(LookupError):
    pass


class StoreBusyError(RuntimeError):
    """The store is open in another process (a running server, a long `cdmo ingest`)."""

    def __init__(self, path: str, owner=None):
        self.path, self.owner = path, owner  # a core.ownership.StoreOwner, when known
        holder = owner.describe() if owner is not None else "another process"
        advice = (
            "go through its API, or stop it first"
            if owner is not None and owner.url
            else "wait for it to finish, or stop it first"
        )
        super().__init__(f"the store in {path} is in use by {holder}: {advice}")


class IndexUnreadable(RuntimeError):
    """The vector index's files cannot be opened or read (damaged): `cdmo check --repair` rebuilds it."""

    def __init__(self, path: str):
        self.path = path
        super().__init__(
            f"the vector index in {path} cannot be read (its files are damaged): stop the server and run "
            "`cdmo check --repair`, which rebuilds it from the records"
        )


def unexpected(log: logging.Logger, doing: str, exc: BaseException | None = None) -> str:
    """Log the exception being handled with its traceback, under a short reference, and say in words what
    failed: the exception's own text (an engine's "Failed to flush payload_index ...") never reaches a user."""
    reference = secrets.token_hex(4)
    log.error("%s failed unexpectedly [reference %s]", doing, reference, exc_info=exc or True)
    current = exc or sys.exc_info()[1]
    if isinstance(current, OSError):  # the system's own words can be acted on: "No space left on device"
        return f"{doing} failed: {current.strerror or current} (reference {reference} in the log)"
    return f"{doing} failed unexpectedly (reference {reference} in the log)"
