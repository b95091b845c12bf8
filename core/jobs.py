"""Ingestion jobs: an upload returns at once with one job per file; the work runs off the request.

A job's file waits in the record store until it is ingested, so a job queued or running when the server
stops is run again when it starts (ingestion is idempotent and all or nothing: a rerun stores the file
once, or says it was already there).
"""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from core.documents import IngestResult


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"  # the result says how the file went: added, new version, unchanged, or failed with why
    FAILED = "failed"  # the job itself could not run (its file lost, say): `error` says why


class IngestJob(BaseModel):
    id: str
    filename: str
    size_bytes: int
    submitted_by: str
    submitted_at: datetime
    status: JobStatus
    stage: str | None = Field(None, description="What is being done now, e.g. 'reading scanned pages'")
    done: int | None = Field(None, description="Of `total` steps of the stage, when it counts them")
    total: int | None = None
    updated_at: datetime
    result: IngestResult | None = Field(None, description="Once done: the file's result, attachments included")
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)
