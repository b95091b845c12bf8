"""Ingest files into the corpus, turning every failure into a result that names the file and the reason."""

import logging
from collections.abc import Iterator
from pathlib import Path

from core.config import Settings
from core.documents import IngestResult, IngestStatus
from core.errors import IngestError
from core.portfolio import Portfolio
from ingestion.filetypes import EXTENSIONS
from ingestion.pipeline import prepare, read_file
from retrieval.corpus import Corpus

log = logging.getLogger(__name__)


def failure(exc: IngestError) -> IngestResult:
    return IngestResult(filename=exc.filename, status=IngestStatus.FAILED, error=exc.reason)


def ingest_bytes(corpus: Corpus, portfolio: Portfolio, filename: str, data: bytes) -> IngestResult:
    try:
        return corpus.add(prepare(filename, data, corpus.settings, portfolio))
    except IngestError as exc:
        return failure(exc)
    except Exception as exc:  # a parser bug must not take the batch down or go unnamed
        log.exception("unexpected failure ingesting %s", filename)
        return IngestResult(filename=filename, status=IngestStatus.FAILED, error=f"internal error: {exc}")


def ingest_path(corpus: Corpus, portfolio: Portfolio, path: Path) -> IngestResult:
    try:
        data = read_file(path, corpus.settings)
    except IngestError as exc:
        return failure(exc)
    return ingest_bytes(corpus, portfolio, path.name, data)


def expand_paths(paths: list[Path], settings: Settings) -> Iterator[Path]:
    """Files as given; folders walked for files of the supported types (hidden files skipped)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and not child.name.startswith(".") and child.suffix.lower() in EXTENSIONS:
                    yield child
        else:
            yield path
