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
    """The vector index's files cannot be opened or read (damaged): `cdmo check --repair` rebuilds it. Its words
    name no path (a caller without a key reads them at /health); the log has the path."""

    def __init__(self, path: str):
        self.path = path
        super().__init__(
            "the vector index cannot be read (its files are damaged): stop the server and run "
            "`cdmo check --repair`, which rebuilds it from the records"
        )


def described(log: logging.Logger, what: str, exc: BaseException) -> str:
    """Why a file or page could not be read, in words a user can act on: the exception's class and text (a
    parser's "XMLSyntaxError: Entity 'xxe' not defined ...") go to the log, under a reference the words give."""
    reference = secrets.token_hex(4)
    log.warning("%s: %s: %s [reference %s]", what, type(exc).__name__, exc, reference)
    text = str(exc).lower()
    if "entity" in text or "doctype" in text:
        cause = "its XML declares entities, which are refused"
    elif isinstance(exc, RecursionError) or "recursion" in text or "nest" in text:
        cause = "its structure nests too deep to read"
    elif "zip" in text or "central directory" in text:
        cause = "its container (ZIP) is damaged"
    elif isinstance(exc, (EOFError, MemoryError)) or "truncat" in text or "eof" in text or "end of" in text:
        cause = "it is cut short"
    else:
        cause = "its content is damaged"
    return f"{cause} (reference {reference} in the log)"


def unexpected(log: logging.Logger, doing: str, exc: BaseException | None = None) -> str:
    """Log the exception being handled with its traceback, under a short reference, and say in words what
    failed: the exception's own text (an engine's "Failed to flush payload_index ...") never reaches a user."""
    reference = secrets.token_hex(4)
    log.error("%s failed unexpectedly [reference %s]", doing, reference, exc_info=exc or True)
    current = exc or sys.exc_info()[1]
    if isinstance(current, OSError):  # the system's own words can be acted on: "No space left on device"
        return f"{doing} failed: {current.strerror or current} (reference {reference} in the log)"
    return f"{doing} failed unexpectedly (reference {reference} in the log)"
