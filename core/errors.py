"""Errors a user sees. Each names the file and the reason."""


class IngestError(Exception):
    """A file that cannot be ingested. Nothing is stored for it."""

    def __init__(self, filename: str, reason: str):
        super().__init__(f"{filename}: {reason}")
        self.filename = filename
        self.reason = reason


class NotFoundError(LookupError):
    pass


class StoreBusyError(RuntimeError):
    """The embedded vector index is open in another process (a running server, say)."""

    def __init__(self, path: str):
        super().__init__(
            f"the vector index at {path} is in use by another process; stop it (e.g. `cdmo serve`) "
            "or ingest through its API (POST /documents)"
        )
