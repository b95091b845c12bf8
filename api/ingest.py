"""Ingest files into the corpus, turning every failure into a result that names the file and the reason."""

import logging
from pathlib import Path

from fastapi import UploadFile

from core.analysis import FindingRow, FindingSource, VersionReview
from core.audit import audit_entry
from core.auth import Principal
from core.documents import FileType, IngestResult, IngestStatus
from core.errors import IngestError, unexpected
from core.investigations import InvestigationEvent
from core.observations import RegulatoryFindings
from core.portfolio import Portfolio
from core.qta import ElementStatus
from core.store import utcnow
from core.versions import downgrades
from core.work import Progress, file_work
from extraction.playbook import PlaybookError
from extraction.service import ANALYSED_KINDS, Extractor
from ingestion.attachments import email_attachments
from ingestion.filetypes import safe_filename
from ingestion.guards import read_file
from ingestion.pipeline import content_hash, prepare
from retrieval.corpus import Corpus

log = logging.getLogger(__name__)


def failure(exc: IngestError) -> IngestResult:
    return IngestResult(filename=exc.filename, status=IngestStatus.FAILED, error=exc.reason)


def ingest_bytes(
    corpus: Corpus,
    portfolio: Portfolio,
    filename: str,
    data: bytes,
    on_progress: Progress | None = None,
    principal: Principal | None = None,
) -> IngestResult:
    """Ingest one file and, for an e-mail, each of its attachments as a document of its own; each file
    within its own limits (core.work), its progress told to `on_progress`. With `principal` (a user, a key,
    the CLI): within what it may write (its scope), and what is stored is audited in the same transaction."""
    result, file_type = _add(corpus, portfolio, filename, data, on_progress, principal)
    if file_type is not None:
        # one level: an attached e-mail's own attachments are not followed
        limit = corpus.settings.max_attachments
        attached, over = email_attachments(result.filename, data, file_type, limit)
        result.attachments = [
            _add(corpus, portfolio, name, payload, on_progress, principal)[0] for name, payload in attached
        ] + [failure(IngestError(name, f"not stored: the e-mail has {len(attached) + len(over):,} attachments, over "
                                       f"the {limit:,}-attachment limit (CDMO_MAX_ATTACHMENTS)")) for name in over]  # fmt: skip
    return result


def _add(
    corpus: Corpus,
    portfolio: Portfolio,
    name: str,
    data: bytes,
    on_progress: Progress | None,
    principal: Principal | None,
) -> tuple[IngestResult, FileType | None]:
    """The result, and the file's type when it is stored (now or before)."""
    doing = "reading the file"
    try:
        if (existing := corpus.already_stored(content_hash(data))) is not None:
            # the same bytes were stored: said only to who may write them; to anyone else the answer a
            # fresh upload would get (its contents decide it), after the same work, so that neither the words
            # nor the time taken reveal what is stored
            if principal and (reason := principal.may_write(existing.metadata.programs, existing.metadata.sites)):
                with file_work(name, corpus.settings, on_progress):
                    prepare(name, data, corpus.settings, portfolio)
                raise IngestError(safe_filename(name), reason)
            corpus.store.keep_original(existing.id, data)  # stored before originals were kept: kept now
            result, file_type = corpus.unchanged(existing), existing.file_type
        else:
            with file_work(name, corpus.settings, on_progress):
                prepared = prepare(name, data, corpus.settings, portfolio)
                meta = prepared.document.metadata
                if principal and (reason := principal.may_write(meta.programs, meta.sites)):
                    raise IngestError(prepared.document.filename, reason)
                doing = "storing the file"
                result, file_type = corpus.add(prepared, principal), prepared.document.file_type
    except IngestError as exc:
        return failure(exc), None
    except Exception:  # a parser or engine bug must not take the batch down, go unnamed, or show its insides
        error = f"{unexpected(log, doing)}; nothing was stored"
        return IngestResult(filename=name, status=IngestStatus.FAILED, error=error), None
    if corpus.settings.analyze_on_ingest and result.kind in ANALYSED_KINDS:
        result.analysis = analyse(corpus, portfolio, result.document_id, principal)
        if result.status == IngestStatus.NEW_VERSION:
            result.downgrade = hold_if_lowered(corpus.store, result.document_id, principal)
    return result, file_type


def hold_if_lowered(store, document_id: str, principal: Principal | None = None) -> list[str]:
    """A new version whose analysis lowers the previous one's is held for a person (core.versions): a finding
    asks them to decide, and until they do the previous, higher reading counts."""
    doc = store.get(document_id)
    before, after = store.analysis(doc.supersedes), store.analysis(doc.id)
    lowered = downgrades(before, after) if before and after else []
    if lowered:
        previous = store.get(doc.supersedes)
        review = VersionReview(document_id=doc.id, previous_id=previous.id, changes=lowered, raised_at=utcnow(),
                               raised_by=principal.identity if principal else None)  # fmt: skip
        entry = principal and audit_entry(principal, "hold_downgrade", documents=[doc, previous],
                                          detail={"changes": lowered})  # fmt: skip
        store.hold_downgrade(review, downgrade_finding(store, review), entry)
    return lowered


def downgrade_finding(store, review: VersionReview) -> FindingRow:
    """The finding that asks a person to decide on a held downgrade."""
    doc, previous, after = store.get(review.document_id), store.get(review.previous_id), store.analysis(review.document_id)
    summary = (f"{doc.filename} (version {doc.version}) lowers what {previous.filename} said: {'; '.join(review.changes)}. "
               "Until a person confirms or rejects it, the earlier reading counts.")  # fmt: skip
    return FindingRow(document_id=doc.id, source=FindingSource.NEW_VERSION, code="downgraded_by_new_version",
                      severity="high", site=after.site, programs=after.programs, batch_ids=after.batch_ids,
                      product=after.payload.get("product"), summary=summary)  # fmt: skip


def analyse(corpus: Corpus, portfolio: Portfolio, document_id: str, principal: Principal | None = None) -> str:
    """Review or triage a stored document (once per version); a failure here never undoes the ingest."""
    store = corpus.store
    try:
        if (done := store.analysis(document_id)) is not None:
            return f"analysed before ({done.backend})"
        found = Extractor(corpus.settings, store, portfolio).analyse_stored(document_id, principal)
    except PlaybookError as exc:
        return f"not analysed: {exc}"
    except Exception:  # the document is stored; say why its analysis is missing
        return f"stored, but not analysed: {unexpected(log, 'the review or triage')}"
    return summary(found)


def summary(found) -> str:
    if found is None:  # a commercial agreement without a quality section
        return "stored and searchable; not reviewed: not a quality agreement, and no quality section"
    if isinstance(found, RegulatoryFindings):
        where = found.site or found.site_reason
        return f"{len(found.observations)} observation{'s' * (len(found.observations) != 1)} ({where})"
    if isinstance(found, InvestigationEvent):
        count = len(found.flags)
        return f"{found.type.value} event, risk {found.risk.value}, {count} weakness flag{'s' * (count != 1)}"
    gaps = {s: len(found.by_status(s)) for s in (ElementStatus.MISSING, ElementStatus.VAGUE, ElementStatus.CONFLICTING)}
    counts = ", ".join(f"{n} {s.value}" for s, n in gaps.items())
    return f"QTA review of its quality section: {counts}" if found.scope else f"QTA review: {counts}"


def read_upload(upload: UploadFile, limit: int) -> tuple[str, bytes]:
    """An uploaded file's safe name and bytes, never holding more than the limit in memory."""
    name = safe_filename(upload.filename or "")
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise IngestError(name, f"file is over the {limit:,}-byte limit")
    return name, data


def ingest_path(corpus: Corpus, portfolio: Portfolio, path: Path) -> IngestResult:
    try:
        data = read_file(path, corpus.settings)
    except IngestError as exc:
        return failure(exc)
    return ingest_bytes(corpus, portfolio, path.name, data)
