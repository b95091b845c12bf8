"""The searchable corpus: records in the store, vectors in Qdrant, BM25 in a Qdrant Edge shard, kept in step.

`add` writes a document's rows, vectors and keyword points in one transaction: if an index write fails the
rows roll back, and if the commit fails the points are removed, so no half document is ever left. Both
indexes are updated per document: a search never waits for a rebuild.
"""

import logging
import threading

import numpy as np

from core.analysis import VersionReview, VersionReviewStatus
from core.audit import audit_entry
from core.auth import AuditEntry, Principal
from core.config import Settings
from core.documents import Chunk, Document, DocumentStatus, IngestResult, IngestStatus, PreparedDocument
from core.consistency import ArithmeticReport, ArithmeticState
from core.embeddings import Embedder, shared_embedder, stamp_of
from core.errors import IndexUnreadable, IngestError, StoreBusyError
from core.identifiers import identifiers_in
from core.ownership import claim_store
from core.search import SearchFilters, SearchHit, SearchMode
from core.store import RecordStore
from retrieval import arithmetic
from retrieval.hybrid import IdentifierMatches, relative_score_fusion
from retrieval.vector_stores.keyword_shard import KeywordIndex
from retrieval.vector_stores import ChunkPayload, VectorStore, date_key, open_vector_store

log = logging.getLogger(__name__)


def embedding_text(document: Document, section: str, text: str) -> str:
    # the title and heading say what a bare table row or clause is about
    return f"{document.title}\n{section}\n{text}" if section and section not in text[:200] else f"{document.title}\n{text}"


_BATCH = 256  # passages embedded and written at a time when many are embedded again


class Corpus:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        vectors: VectorStore | None = None,
        reembed_at_open: bool | None = None,
    ):
        """`reembed_at_open`: whether vectors of another arithmetic are embedded again now (default: the setting);
        a check opens without, to report them."""
        self.settings = settings
        # the data folder's lock first: another process's engine files are never opened (StoreBusyError)
        self.ownership = claim_store(settings)
        self._lock = threading.RLock()
        try:
            self.store = RecordStore(settings.sqlalchemy_url)
            self.embedder = embedder or shared_embedder(settings)
            self.vectors = vectors or _opened(settings, self.embedder.dimension)
            self.keywords = KeywordIndex.opened(settings.keywords_path)
            if self.keywords.count() != self.store.counts()["chunks"]:
                self.sync_keywords()
            self.arithmetic = self._arithmetic(settings.reembed_at_open if reembed_at_open is None else reembed_at_open)
        except BaseException:
            self.ownership.release()
            raise

    def _arithmetic(self, reembed: bool) -> ArithmeticReport:
        """Whether the stored vectors are this machine's (retrieval.arithmetic); when not and `reembed`, every
        passage is embedded again from the records, and the index is stamped with what made it."""
        sample = self.store.sample_chunks(arithmetic.SAMPLE)
        try:
            kept = self.vectors.vectors([c.id for c, _ in sample])
        except Exception as exc:  # a damaged segment: every read of the index fails
            raise IndexUnreadable(str(self.settings.vectors_path)) from exc
        pairs = [(c, d) for c, d in sample if c.id in kept]
        exact = pairs and self.embedder.exact  # an int8 index is judged by its stamp alone
        fresh = self.embedder.embed([embedding_text(d, c.section, c.text) for c, d in pairs]) if exact else []
        report = arithmetic.judge(self.store.embedding_stamp(), stamp_of(self.embedder), [kept[c.id] for c, _ in pairs], fresh)
        if report.state == ArithmeticState.DIFFERS:
            log.warning("%s: %s", report.words, "embedding every passage again" if reembed else "uploads are refused")
            if reembed:
                report = arithmetic.reembedded(report, self.reembed_all(), "when the store opened")
        elif report.state == ArithmeticState.NEW or (report.state == ArithmeticState.SAME and report.stored is None):
            self.store.set_embedding_stamp(report.current)  # the vectors from now on, or those found to be ours
        return report

    def reembed(self, rows: list[tuple[Chunk, Document]]) -> None:
        """Embed passages again from their records and write their vectors (with their documents' payloads)."""
        for start in range(0, len(rows), _BATCH):
            batch = rows[start : start + _BATCH]
            vectors = self.embedder.embed([embedding_text(d, c.section, c.text) for c, d in batch])
            self.vectors.upsert([c.id for c, _ in batch], vectors, [_payload(d) for _, d in batch])

    def reembed_all(self) -> int:
        """Every passage embedded again by this machine's embedder, which is from now on the index's."""
        with self._lock:
            rows = list(self.store.iter_all_chunks())
            self.reembed(rows)
            self.store.set_embedding_stamp(stamp_of(self.embedder))
            return len(rows)

    def keyword_drift(self) -> list[str]:
        """Passages whose keyword point is missing, stale (status) or has no chunk."""
        return sorted(self._keyword_drift({c.id: (c, d) for c, d in self.store.iter_all_chunks()}))

    def _keyword_drift(self, rows: dict[str, tuple[Chunk, Document]]) -> set[str]:
        points = self.keywords.points()
        stale = {i for i, (_, d) in rows.items() if points.get(i, (None, None))[1] != d.status.value}
        return stale | (points.keys() - rows.keys())

    def sync_keywords(self) -> int:
        """Make the keyword index what the records say (a new data folder's first open, an upgrade, a crash
        between the two writes); returns the passages written or removed."""
        with self._lock:
            rows = {c.id: (c, d) for c, d in self.store.iter_all_chunks()}  # every passage read once
            drift = self._keyword_drift(rows)
            if not drift:
                return 0
            self.keywords.delete_points(sorted(drift - rows.keys()))
            redo = [rows[i] for i in sorted(drift & rows.keys())]
            self.keywords.add(redo, [_payload(d) for _, d in redo])
            self.keywords.flush()
            log.info("keyword index brought in step with the records: %d passages", len(drift))
            return len(drift)

    def close(self) -> None:
        try:
            self.vectors.close()
            self.keywords.close()
            self.store.engine.dispose()
        finally:
            self.ownership.release()

    # --- writing ------------------------------------------------------------------------------

    def already_stored(self, content_hash: str) -> Document | None:
        """The document of bytes stored before, found before parsing them again (OCR makes that slow)."""
        return self.store.find_by_hash(content_hash)

    @staticmethod
    def unchanged(existing: Document) -> IngestResult:
        return _result(existing, IngestStatus.UNCHANGED)

    def add(self, prepared: PreparedDocument, principal: Principal | None = None) -> IngestResult:
        """Store a prepared document (or say it was there); with `principal`, who did it goes into the audit
        trail in the same transaction."""
        doc = prepared.document
        if (existing := self.store.find_by_hash(doc.content_hash)) is not None:
            return _result(existing, IngestStatus.UNCHANGED)
        if not self.arithmetic.mixable:
            raise IngestError(doc.filename, f"not stored: {self.arithmetic.words}; stop the server and run "
                                            "`cdmo check --repair`, which embeds every passage again")  # fmt: skip
        # embedding is the slow part: done before taking the lock, so other writes are not held up
        vectors = self._embedded(doc, prepared.chunks)
        with self._lock:
            if (existing := self.store.find_by_hash(doc.content_hash)) is not None:
                return _result(existing, IngestStatus.UNCHANGED)  # the same file arrived twice at once
            placement = self.store.next_version(prepared, principal)
            prepared, previous, doc = placement.prepared, placement.previous, placement.prepared.document
            payload = _payload(doc)
            status = IngestStatus.NEW_VERSION if previous else IngestStatus.ADDED
            entry = None
            if principal is not None:
                detail = {"filename": doc.filename, "supersedes": doc.supersedes, "related_to": doc.related_to,
                          "version_note": placement.note}  # fmt: skip
                if placement.refused is not None:  # for the audit trail only: the writer is told nothing of it
                    detail["supersession_refused"] = {"record": placement.refused.id, "why": "outside the writer's scope"}
                entry = audit_entry(principal, "upload", documents=[doc], outcome=status.value, detail=detail)

            def write_indexes() -> None:
                self.vectors.upsert([c.id for c in prepared.chunks], vectors, [payload] * len(prepared.chunks))
                self.keywords.add([(c, doc) for c in prepared.chunks], [payload] * len(prepared.chunks))
                if previous is not None:
                    self._set_status(previous.id, DocumentStatus.SUPERSEDED)

            try:
                self.store.add(prepared, in_transaction=write_indexes, audit=entry, amendments=placement.amendments,
                               claims=placement.claims)  # fmt: skip
            except BaseException:
                self.vectors.delete_document(doc.id)
                self.keywords.delete_document(doc.id)
                if previous is not None:
                    self._set_status(previous.id, DocumentStatus.CURRENT)
                raise
            return _result(doc, status).model_copy(update={"version_note": placement.note})

    def _embedded(self, doc: Document, chunks: list[Chunk]) -> np.ndarray:
        """The passages' vectors. A new version re-embeds only what changed: a passage whose text (with its
        title and heading) the current version of the same record has takes that one's stored vector."""
        texts = [embedding_text(doc, c.section, c.text) for c in chunks]
        known: dict[str, np.ndarray] = {}
        if (current := self.store.current_with_key(doc.document_key)) is not None:
            before = self.store.chunks_of(current.id)
            stored = self.vectors.vectors([c.id for c in before])
            known = {embedding_text(current, c.section, c.text): stored[c.id] for c in before if _sound(stored.get(c.id))}
        new = [i for i, text in enumerate(texts) if text not in known]
        vectors = np.zeros((len(texts), self.embedder.dimension), dtype=np.float32)
        if new:
            vectors[new] = self.embedder.embed([texts[i] for i in new])
        for i, text in enumerate(texts):
            if text in known:
                vectors[i] = known[text]
        return vectors

    def decide_downgrade(self, review: VersionReview, audit: AuditEntry | None = None) -> None:
        """Record a person's decision on a new version that lowered its record; a rejection withdraws the new
        version and makes the one before current again, in the records and the index together."""

        def index() -> None:
            if review.status == VersionReviewStatus.REJECTED:
                self._set_status(review.document_id, DocumentStatus.WITHDRAWN)
                self._set_status(review.previous_id, DocumentStatus.CURRENT)

        with self._lock:
            try:
                self.store.decide_downgrade(review, in_transaction=index, audit=audit)
            except BaseException:
                self._set_status(review.document_id, DocumentStatus.CURRENT)
                self._set_status(review.previous_id, DocumentStatus.SUPERSEDED)
                raise

    def undo_downgrade(self, review: VersionReview, finding, audit: AuditEntry | None = None) -> None:
        """Hold a decided downgrade again (the records and, for a withdrawn version, the index together)."""

        def index() -> None:
            if review.status == VersionReviewStatus.REJECTED:
                self._set_status(review.document_id, DocumentStatus.CURRENT)
                self._set_status(review.previous_id, DocumentStatus.SUPERSEDED)

        with self._lock:
            try:
                self.store.undo_downgrade(review, finding, in_transaction=index, audit=audit)
            except BaseException:
                if review.status == VersionReviewStatus.REJECTED:
                    self._set_status(review.document_id, DocumentStatus.WITHDRAWN)
                    self._set_status(review.previous_id, DocumentStatus.CURRENT)
                raise

    def _set_status(self, document_id: str, status: DocumentStatus) -> None:
        self.vectors.set_status(document_id, status)
        self.keywords.set_status(document_id, status)

    # --- searching ----------------------------------------------------------------------------

    def search(
        self,
        query: str,
        filters: SearchFilters | None = None,
        limit: int = 10,
        mode: SearchMode = SearchMode.HYBRID,
    ) -> list[SearchHit]:
        filters = filters or SearchFilters()
        candidates = self.settings.search_candidates
        dense, sparse = [], []
        if mode in (SearchMode.HYBRID, SearchMode.DENSE):
            dense = self.vectors.search(self.embedder.embed([query])[0], candidates, filters)
        if mode in (SearchMode.HYBRID, SearchMode.BM25):
            sparse = self.keywords.search(query, candidates, filters)
        weight = {SearchMode.HYBRID: self.settings.dense_weight, SearchMode.DENSE: 1.0, SearchMode.BM25: 0.0}[mode]
        scores = relative_score_fusion([(weight, dense), (1.0 - weight, sparse)])
        matches = None
        if mode == SearchMode.HYBRID and (identifiers := identifiers_in(query)):
            matches = IdentifierMatches(identifiers, self.keywords, filters, list(scores))
            scores = matches.add_bonus(scores, self.settings.identifier_bonus)
        top = sorted(scores, key=lambda cid: -scores[cid])[:limit]
        if matches:
            top = matches.pin_best_own(top, scores)
        chunks = self.store.chunks_by_id(top)
        documents = self.store.documents_by_id(list({c.document_id for c in chunks.values()}))
        hits = []
        for cid in top:
            if cid not in chunks:  # in the index but not in the store: never cite what cannot be shown
                continue
            chunk, doc = chunks[cid], documents[chunks[cid].document_id]
            hits.append(
                SearchHit(
                    rank=len(hits) + 1,
                    score=round(scores[cid], 6),
                    chunk_id=cid,
                    document_id=doc.id,
                    title=doc.title,
                    filename=doc.filename,
                    kind=doc.kind,
                    sites=doc.metadata.sites,
                    programs=doc.metadata.programs,
                    page=chunk.page,
                    start=chunk.start,
                    end=chunk.end,
                    section=chunk.section,
                    block_kind=chunk.block_kind,
                    text=chunk.text,
                    matched_identifiers=matches.carried.get(cid, []) if matches else [],
                )
            )
        return hits


def _opened(settings: Settings, dimension: int) -> VectorStore:
    try:
        return open_vector_store(settings, dimension)
    except StoreBusyError:
        raise
    except Exception as exc:  # the engine's files are damaged: said in words, with the way to a repair
        log.error("the vector index in %s cannot be opened", settings.vectors_path, exc_info=True)
        raise IndexUnreadable(str(settings.vectors_path)) from exc


def _sound(vector: np.ndarray | None) -> bool:
    """A stored vector fit to be copied: there, finite, unit length (a damaged one is embedded afresh)."""
    return vector is not None and bool(np.isfinite(vector).all()) and abs(float(np.linalg.norm(vector)) - 1) < 1e-3


def _result(doc: Document, status: IngestStatus) -> IngestResult:
    return IngestResult(
        filename=doc.filename,
        status=status,
        document_id=doc.id,
        kind=doc.kind,
        pages=doc.page_count,
        chunks=doc.chunk_count,
        supersedes=doc.supersedes,
        related_to=doc.related_to,
        ocr_pages=doc.ocr_pages,
        unreadable_pages=doc.unreadable_pages,
    )


def _payload(doc: Document) -> ChunkPayload:
    return ChunkPayload(document_id=doc.id, sites=doc.metadata.sites, programs=doc.metadata.programs,
                        kind=doc.kind.value, date=date_key(doc.metadata.document_date), status=doc.status.value)  # fmt: skip
