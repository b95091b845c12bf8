"""Errors a user sees. Each names the file and the reason."""


class IngestError(Exception):
    """A file that cannot be ingested. Nothing is stored for it."""

    def __init__(self, filename: str, reason: str):
        super().__init__(f"{filename}: {reason}")
        self.filename = filename
        self.reason = reason


class NotFoundError(LookupError):
    pass
