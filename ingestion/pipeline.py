"""One file in, one PreparedDocument out (nothing stored yet), or an IngestError naming the file."""

import hashlib
import re

from core.config import Settings
from core.documents import AGREEMENT_KINDS, Document, DocumentKind, PreparedDocument
from core.errors import IngestError
from core.portfolio import Portfolio
from core.store import utcnow
from core.work import current as current_work
from core.work import file_work, step
from ingestion.agreements import quality_section, read_agreement
from ingestion.blocks import tables_of
from ingestion.chunking import chunk_document
from ingestion.classify import classify
from ingestion.filetypes import detect_file_type, safe_filename
from ingestion.guards import check_archive, check_size
from ingestion.metadata import document_key, extract_metadata
from ingestion.parsers import parse


_NAMES_AGREEMENT = re.compile(r"\b(agreement|contract|amendment|addendum)\b", re.I)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def prepare(filename: str, data: bytes, settings: Settings, portfolio: Portfolio) -> PreparedDocument:
    """The file read within its limits (core.work): those of the caller's file_work, or fresh ones."""
    name = safe_filename(filename)
    if current_work() is None:
        with file_work(name, settings):
            return _prepare(name, data, settings, portfolio)
    return _prepare(name, data, settings, portfolio)


def _prepare(name: str, data: bytes, settings: Settings, portfolio: Portfolio) -> PreparedDocument:
    check_size(name, len(data), settings)
    file_type = detect_file_type(name, data)
    check_archive(name, data, file_type, settings)
    parsed = parse(name, data, file_type, settings)
    if len(parsed.pages) > settings.max_pages:
        raise IngestError(name, f"document has {len(parsed.pages):,} pages, over the {settings.max_pages:,}-page limit")
    digest = content_hash(data)
    doc_id = digest[:24]
    step("classifying and chunking")
    agreement = read_agreement(parsed)
    reading = classify(parsed, settings, agreement)
    kind = reading.kind
    if kind in AGREEMENT_KINDS and agreement.name and not _NAMES_AGREEMENT.search(parsed.title):
        parsed = parsed.model_copy(update={"title": agreement.name})  # "SUPPLY AGREEMENT", not "10. TERMINATION."
    if kind == DocumentKind.COMMERCIAL_AGREEMENT:
        agreement.quality_section = quality_section(parsed)
    metadata = extract_metadata(parsed, portfolio).model_copy(
        update={"kind_confidence": reading.confidence, "kind_reasons": reading.reasons,
                "agreement": agreement if kind in AGREEMENT_KINDS else None}  # fmt: skip
    )
    chunks = chunk_document(parsed, doc_id, settings.chunk_target_words, settings.chunk_max_words)
    if not chunks:
        raise IngestError(name, "document has no text to index")
    document = Document(
        id=doc_id,
        content_hash=digest,
        filename=name,
        title=parsed.title,
        kind=kind,
        file_type=file_type,
        size_bytes=len(data),
        metadata=metadata,
        document_key=document_key(parsed, kind, metadata, digest),
        ingested_at=utcnow(),
        page_count=len(parsed.pages),
        chunk_count=len(chunks),
        ocr_pages=[s.page for s in parsed.scans if s.words],
        unreadable_pages=parsed.unreadable,
    )
    return PreparedDocument(
        document=document, pages=parsed.pages, chunks=chunks, scans=parsed.scans, tables=tables_of(parsed), original=data
    )
