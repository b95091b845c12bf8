"""One file's work, bounded and reported.

A file being ingested gets a budget — seconds, OCR pages, rendered pixels — and a progress callback, set
for the thread doing the work and checked where the work happens (pages laid out, rendered and read,
chunks embedded). A hostile file (5,000 pages sharing a huge media box, 300 blank pages sent to OCR, two
megabytes of text to embed) is refused when it reaches a limit, by name, with the limit and its value,
instead of holding a worker for minutes and gigabytes. OCR is also bounded per hour across files: it is
the slowest thing the service does, and one client must not be able to queue a day of it.
"""

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta

from core.config import Settings
from core.errors import IngestError

Progress = Callable[[str, int | None, int | None], None]  # stage, done, total


class FileWork:
    def __init__(self, filename: str, settings: Settings, on_progress: Progress | None = None):
        self.filename, self.settings, self.on_progress = filename, settings, on_progress
        self.deadline = time.monotonic() + settings.max_seconds_per_file
        self.pixels = 0

    def step(self, stage: str, done: int | None = None, total: int | None = None) -> None:
        """Say how far the work is, and stop it past the time limit."""
        if time.monotonic() > self.deadline:
            raise IngestError(
                self.filename,
                f"stopped while {stage}: over the {self.settings.max_seconds_per_file:g}-second limit per file "
                "(CDMO_MAX_SECONDS_PER_FILE); nothing was stored",
            )
        if self.on_progress is not None:
            self.on_progress(stage, done, total)

    def render(self, page: int, width: int, height: int) -> None:
        """Account for a page image before it is made: refused past the per-page or per-file pixel limit."""
        s = self.settings
        if width * height > s.max_page_pixels:
            raise IngestError(
                self.filename,
                f"page {page} would be a {width:,} x {height:,}-pixel image, over the {s.max_page_pixels:,}-pixel "
                "limit per page (CDMO_MAX_PAGE_PIXELS)",
            )
        self.pixels += width * height
        if self.pixels > s.max_render_pixels:
            raise IngestError(
                self.filename,
                f"rendering its pages would take over {s.max_render_pixels:,} pixels, the limit per file "
                "(CDMO_MAX_RENDER_PIXELS)",
            )

    def ocr(self, pages: int) -> None:
        """Claim OCR for `pages` pages of this file, within the per-file and per-hour limits."""
        s = self.settings
        if pages > s.max_ocr_pages:
            raise IngestError(
                self.filename,
                f"{pages:,} pages need OCR, over the {s.max_ocr_pages:,}-page limit per file (CDMO_MAX_OCR_PAGES)",
            )
        OCR_QUOTA.take(self.filename, pages, s.max_ocr_pages_per_hour)


class OcrQuota:
    """OCR pages read in the last hour, across every file of this process."""

    def __init__(self):
        self._taken: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def used(self) -> int:
        """Pages read in the last hour."""
        with self._lock:
            return self._used(time.monotonic())

    def _used(self, now: float) -> int:
        while self._taken and self._taken[0][0] <= now - 3600:
            self._taken.popleft()
        return sum(n for _, n in self._taken)

    def take(self, filename: str, pages: int, per_hour: int) -> None:
        with self._lock:
            now = time.monotonic()
            used = self._used(now)
            if used + pages > per_hour:
                free_at = self._free_at(used + pages - per_hour, now)
                raise IngestError(
                    filename,
                    f"{pages:,} pages need OCR, and {used:,} of the {per_hour:,} pages allowed per hour "
                    f"(CDMO_MAX_OCR_PAGES_PER_HOUR) are taken; nothing was stored: send it again after "
                    f"{free_at:%H:%M} UTC",
                )
            self._taken.append((now, pages))

    def _free_at(self, needed: int, now: float) -> datetime:
        freed = 0
        for at, n in self._taken:
            freed += n
            if freed >= needed:
                return datetime.now(UTC) + timedelta(seconds=at + 3600 - now)
        return datetime.now(UTC) + timedelta(hours=1)


OCR_QUOTA = OcrQuota()
_current: ContextVar[FileWork | None] = ContextVar("cdmo_file_work", default=None)


@contextmanager
def file_work(filename: str, settings: Settings, on_progress: Progress | None = None) -> Iterator[FileWork]:
    """Bound and report the work on one file done in this thread (and in what it calls)."""
    work = FileWork(filename, settings, on_progress)
    token = _current.set(work)
    try:
        yield work
    finally:
        _current.reset(token)


def current() -> FileWork | None:
    return _current.get()


def work_on(filename: str, settings: Settings) -> FileWork:
    """The budget of the file being worked on; a fresh one where a parser is called on its own."""
    return _current.get() or FileWork(filename, settings)


def step(stage: str, done: int | None = None, total: int | None = None) -> None:
    """Where work on a file happens: report progress and enforce its time limit (outside a file: nothing)."""
    if (work := _current.get()) is not None:
        work.step(stage, done, total)
