"""The ingestion queue: an upload becomes one job per file, ingested by a bounded pool of workers off the
request; its progress is kept for the job endpoints and the web app's progress bar.

Jobs and their files are in the record store, so a restart runs again what was queued or running (once:
a job that was running through two stops is reported failed, by name, rather than retried forever).
"""

import logging
import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from api.audit import record_upload
from api.ingest import ingest_bytes
from core.auth import Principal
from core.documents import IngestResult, IngestStatus
from core.errors import unexpected
from core.jobs import IngestJob, JobStatus
from core.store import utcnow

log = logging.getLogger(__name__)
_WRITE_EVERY_S = 1.0  # progress reaches the store at most this often (the live copy is always current)


class QueueFull(RuntimeError):
    pass


class _Stopping(BaseException):
    """Raised into a running job when the server stops: not an Exception, so that no handler on the way
    turns it into a failed result. The ingest rolls back and the job stays running, to be run again."""


class JobRunner:
    def __init__(self, state):
        self.state = state  # api.deps.AppState: its corpus opens on first use
        self.settings = state.settings
        self.pool = ThreadPoolExecutor(max(1, self.settings.ingest_workers), thread_name_prefix="ingest")
        self._live: dict[str, IngestJob] = {}
        self._changed = threading.Condition()
        self._closed = False

    @property
    def store(self):
        return self.state.corpus.store

    # --- submitting ------------------------------------------------------------------------------

    def submit(self, principal: Principal, filename: str, data: bytes) -> IngestJob:
        if len(self.store.jobs(unfinished=True, limit=self.settings.max_queued_jobs)) >= self.settings.max_queued_jobs:
            raise QueueFull(f"{self.settings.max_queued_jobs} files are waiting to be ingested (CDMO_MAX_QUEUED_JOBS)")
        job = self._new(principal, filename, len(data), JobStatus.QUEUED)
        self.store.add_job(job, principal, data)
        self.pool.submit(self._run, job.id)
        return job

    def refused(self, principal: Principal, result: IngestResult, size: int = 0) -> IngestJob:
        """A file refused before it could be queued (no name, too large): a finished job, so that it is
        listed with the others of its upload."""
        job = self._new(principal, result.filename, size, JobStatus.DONE).model_copy(update={"result": result})
        self.store.add_job(job, principal, b"")
        record_upload(self.store, principal, result)
        return job

    def resume(self) -> None:
        """Run again what a stop left queued or running; a job interrupted twice is failed, not retried."""
        for job in reversed(self.store.jobs(unfinished=True, limit=10_000)):
            if job.status == JobStatus.RUNNING and job.stage == _RERUN:
                self._finish(job.model_copy(update={"status": JobStatus.FAILED, "error": (
                    "the server stopped twice while this file was being ingested; nothing was stored: send it again"
                )}))  # fmt: skip
                continue
            if job.status == JobStatus.RUNNING:
                job = job.model_copy(update={"stage": _RERUN, "updated_at": utcnow()})
                self.store.update_job(job)
            self.pool.submit(self._run, job.id)

    def _new(self, principal: Principal, filename: str, size: int, status: JobStatus) -> IngestJob:
        now = utcnow()
        return IngestJob(id=secrets.token_hex(12), filename=filename, size_bytes=size, submitted_by=principal.identity,
                         submitted_at=now, status=status, updated_at=now)  # fmt: skip

    # --- running ---------------------------------------------------------------------------------

    def _run(self, job_id: str) -> None:
        found = self.store.job(job_id)
        if found is None or self._closed:
            return
        job, principal = found
        data = self.store.job_data(job_id)
        if data is None:
            self._finish(job.model_copy(update={"status": JobStatus.FAILED, "error": "its file is no longer there"}))
            return
        job = job.model_copy(update={"status": JobStatus.RUNNING, "stage": job.stage or "starting"})
        self._publish(job, write=True)
        last_write = [time.monotonic()]

        def progress(stage: str, done: int | None, total: int | None) -> None:
            nonlocal job
            if self._closed:
                raise _Stopping
            job = job.model_copy(update={"stage": stage, "done": done, "total": total, "updated_at": utcnow()})
            write = time.monotonic() - last_write[0] > _WRITE_EVERY_S
            if write:
                last_write[0] = time.monotonic()
            self._publish(job, write)

        try:
            result = ingest_bytes(self.state.corpus, self.state.portfolio, job.filename, data, progress, principal)
        except _Stopping:
            return
        except Exception:  # ingest_bytes names its failures; this is a failure around it
            error = f"{unexpected(log, 'ingesting the file')}; nothing was stored"
            result = IngestResult(filename=job.filename, status=IngestStatus.FAILED, error=error)
        record_upload(self.store, principal, result)
        self._finish(job.model_copy(update={"status": JobStatus.DONE, "result": result, "stage": None}))

    def _finish(self, job: IngestJob) -> None:
        self._publish(job.model_copy(update={"updated_at": utcnow()}), write=True)
        with self._changed:
            self._live.pop(job.id, None)

    def _publish(self, job: IngestJob, write: bool) -> None:
        if write:
            self.store.update_job(job)
        with self._changed:
            if not job.finished:
                self._live[job.id] = job
            self._changed.notify_all()

    # --- reading ---------------------------------------------------------------------------------

    def get(self, job_id: str) -> tuple[IngestJob, Principal] | None:
        found = self.store.job(job_id)
        if found is None:
            return None
        with self._changed:
            live = self._live.get(job_id)
        return (live or found[0]), found[1]

    def watch(self, job_ids: list[str], timeout_s: float) -> Iterator[list[IngestJob]]:
        """The jobs each time one of them changes, until all are finished (or the time is up)."""
        deadline = time.monotonic() + timeout_s
        last = None
        while True:
            jobs = [found[0] for i in job_ids if (found := self.get(i)) is not None]
            snapshot = [(j.status, j.stage, j.done) for j in jobs]
            if snapshot != last:
                last = snapshot
                yield jobs
            if all(j.finished for j in jobs) or time.monotonic() > deadline or self._closed:
                return
            with self._changed:
                self._changed.wait(timeout=1.0)

    def close(self) -> None:
        self._closed = True
        with self._changed:
            self._changed.notify_all()
        self.pool.shutdown(wait=True, cancel_futures=True)


_RERUN = "started again after a restart"
