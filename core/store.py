"""The record store: documents, pages and chunks in SQLite (or PostgreSQL by URL).

Every write of a document happens in one transaction; the caller passes a hook that runs inside it
(the vector index write), so a failure anywhere rolls the whole document back.
"""

import re
import threading
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from core.analysis import Analysis, FindingRow, FindingSource, VersionReview, VersionReviewStatus
from core.audit import GENESIS, AuditVerification, entry_hash, head_anchor
from core.auth import ApiKeyInfo, AuditEntry, Principal, User
from core.chat import ChatTurn
from core.embeddings import EmbeddingStamp
from core.documents import (
    AGREEMENT_KINDS,
    Chunk,
    Document,
    DocumentDetail,
    DocumentKind,
    DocumentStatus,
    Page,
    PageScan,
    PreparedDocument,
)
from core.errors import NotFoundError
from core.identifiers import number_like
from core.jobs import IngestJob, JobStatus
from core.oversight import SummaryRun
from core.tables import Table as DocumentTable
from core.versions import Placement, amends, is_amendment, judge_version, keyed_by_number
from core.workflow import FindingChange, FindingState, FindingStatus, applied, finding_keys, replayed

metadata = MetaData()

documents = Table(
    "documents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("content_hash", String(64), nullable=False, unique=True),
    Column("filename", String(255), nullable=False),
    Column("title", Text, nullable=False),
    Column("kind", String(32), nullable=False, index=True),
    Column("file_type", String(8), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("document_key", String(255), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("supersedes", String(64)),
    Column("superseded_by", String(64)),
    Column("related_to", String(64)),  # added after the first release: NULL in older stores
    Column("ingested_at", DateTime(timezone=True), nullable=False),
    Column("page_count", Integer, nullable=False),
    Column("chunk_count", Integer, nullable=False),
    Column("ocr_pages", JSON),  # added after the first release: NULL in older stores
    Column("unreadable_pages", JSON),
)

# Every record number a stored document names, with the first document that named it. A number known from
# one document is recognised in every other, whatever its shape: "EQ-HPS-2025-009" read from a report's
# title is then found in the e-mail that lists it with no label.
record_numbers = Table(
    "record_numbers",
    metadata,
    Column("number", String(120), primary_key=True),
    Column("document_id", String(64), ForeignKey("documents.id"), nullable=False),
)

# Every token of a document's passages that a record number could be, so that a number learnt later finds the
# documents naming it by an index lookup instead of a scan of every passage (75 ms a number at 100k passages)
number_mentions = Table(
    "number_mentions",
    metadata,
    Column("token", String(120), nullable=False, index=True),
    Column("document_id", String(64), ForeignKey("documents.id"), nullable=False),
)

pages = Table(
    "pages",
    metadata,
    Column("document_id", String(64), ForeignKey("documents.id"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("text", Text, nullable=False),
)

# Pages read by OCR (and unreadable pages that could be rendered): word boxes and the straightened image.
page_scans = Table(
    "page_scans",
    metadata,
    Column("document_id", String(64), ForeignKey("documents.id"), primary_key=True),
    Column("page", Integer, primary_key=True),
    Column("confidence", Float, nullable=False),
    Column("skew_degrees", Float, nullable=False),
    Column("words", JSON, nullable=False),
    Column("image_jpeg", LargeBinary, nullable=False),
)

# Each file as it was received: what its pages are drawn from when a citation opens on the page itself.
originals = Table(
    "originals",
    metadata,
    Column("document_id", String(64), ForeignKey("documents.id"), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

# Tables as rows and columns; every cell keeps its spans in the page text.
tables = Table(
    "tables",
    metadata,
    Column("document_id", String(64), ForeignKey("documents.id"), primary_key=True),
    Column("ordinal", Integer, primary_key=True),
    Column("page", Integer, nullable=False),
    Column("table", JSON, nullable=False),
)

chunks = Table(
    "chunks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("document_id", String(64), ForeignKey("documents.id"), nullable=False, index=True),
    Column("ordinal", Integer, nullable=False),
    Column("page", Integer, nullable=False),
    Column("start", Integer, nullable=False),
    Column("end", Integer, nullable=False),
    Column("section", Text, nullable=False),
    Column("block_kind", String(16), nullable=False),
    Column("text", Text, nullable=False),
)

# Documents that carry another stored record's number without being it (a note "NC-2024-0127 update", a scoped
# writer's claim about a record it cannot see): their events and flags are not that record's, so they are left out
# of every view that can see the record (risk, readiness, the register, the digest count the record itself). Never
# shown: a writer is not told that the number it used belongs to a record it may not see.
record_claims = Table(
    "record_claims",
    metadata,
    Column("document_id", String(64), ForeignKey("documents.id"), primary_key=True),
    Column("record_id", String(64), ForeignKey("documents.id"), nullable=False),
)

# Analyses of a stored document: the latest QTA review or investigation event, as JSON, with the columns
# later aggregation filters on. Re-analysing a document replaces its row.
analyses = Table(
    "analyses",
    metadata,
    Column("document_id", String(64), ForeignKey("documents.id"), primary_key=True),
    Column("kind", String(16), nullable=False, index=True),  # qta_review or event
    Column("site", String(64), index=True),
    Column("programs", JSON, nullable=False),
    Column("batch_ids", JSON, nullable=False),
    Column("risk", String(8)),
    Column("backend", Text, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("analysed_at", DateTime(timezone=True), nullable=False),
)

# One row per finding (a weakness flag or a QTA gap), linked to site, program, product and batch.
findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(300), index=True),  # core.workflow; NULL in a store older than it, filled on open
    Column("document_id", String(64), ForeignKey("documents.id"), nullable=False, index=True),
    Column("source", String(16), nullable=False),  # event or qta_review
    Column("code", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("site", String(64), index=True),
    Column("programs", JSON, nullable=False),
    Column("product", String(128)),
    Column("batch_ids", JSON, nullable=False),
    Column("summary", Text, nullable=False),
    Column("evidence", JSON),  # the passage it quotes (none in a store older than the column)
)
_DERIVED = {"id", "due"}  # a FindingRow's fields that are not columns

# What people did with findings (core/workflow.py): appended, never changed; a finding's state is its history
finding_changes = Table(
    "finding_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(300), nullable=False, index=True),
    Column("action", String(16), nullable=False),
    Column("by", String(120), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("assignee", String(120)),
    Column("due", Date),
    Column("text", Text),
)

# New versions that lower what their record said, held for a person: until one decides, the earlier
# version's analysis and findings are the ones that count (readiness, risk, the digest).
version_reviews = Table(
    "version_reviews",
    metadata,
    Column("document_id", String(64), ForeignKey("documents.id"), primary_key=True),
    Column("previous_id", String(64), ForeignKey("documents.id"), nullable=False),
    Column("changes", JSON, nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("raised_by", String(160)),  # added later: NULL in older stores (the audit trail says who uploaded)
    Column("status", String(16), nullable=False, index=True),
    Column("decided_by", String(120)),
    Column("decided_at", DateTime(timezone=True)),
    Column("reason", Text),
)

# Chat history: one row per question and answer, so that follow-ups are read against the session.
chat_turns = Table(
    "chat_turns",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("ordinal", Integer, primary_key=True),
    Column("owner", String(160)),  # added after the first release: NULL in older stores
    Column("question", Text, nullable=False),
    Column("frame", JSON, nullable=False),
    Column("answer", JSON, nullable=False),
    Column("asked_at", DateTime(timezone=True), nullable=False),
)

# One row per nightly digest window; written only once its files are in place, so a failed run leaves none.
summary_runs = Table(
    "summary_runs",
    metadata,
    Column("id", String(120), primary_key=True),
    Column("since", DateTime(timezone=True), nullable=True),
    Column("until", DateTime(timezone=True), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("markdown_path", Text, nullable=False),
    Column("html_path", Text, nullable=False),
    Column("mailed_to", JSON, nullable=False),
    Column("site_scores", JSON, nullable=False),
    Column("program_scores", JSON, nullable=False),
)

# People who log in, API keys for machines, login sessions: secrets only as hashes.
users = Table(
    "users",
    metadata,
    Column("username", String(120), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("programs", JSON),  # NULL: every program
    Column("sites", JSON),
)
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("name", String(120), nullable=False),
    Column("role", String(16), nullable=False),
    Column("programs", JSON),
    Column("sites", JSON),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("username", String(120), ForeignKey("users.username"), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# Who did what, when, to which document versions, with which backend and prompt. Append-only: triggers
# refuse UPDATE and DELETE (and, on PostgreSQL, TRUNCATE), created with the schema.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("actor", String(120), nullable=False, index=True),
    Column("actor_kind", String(16), nullable=False),
    Column("role", String(16), nullable=False),
    Column("action", String(32), nullable=False, index=True),
    Column("outcome", String(32), nullable=False),
    Column("documents", JSON, nullable=False),
    Column("backend", Text),
    Column("prompt_version", Text),  # a playbook names itself at length
    Column("detail", JSON, nullable=False),
    Column("seq", Integer, unique=True),  # the hash chain (core/audit.py); NULL in entries older than it
    Column("prev_hash", String(64)),
    Column("hash", String(64)),
)
# The chain's head: its last number and hash. Updating it first is what makes concurrent appends take turns
# (a row lock on PostgreSQL, the write lock on SQLite), and it tells when entries were cut from the end. Its
# triggers let it move only forward, to the hash of the chain's last entry, and never be deleted; its seals, set
# once when a store first opens with them, say how many entries and documents came before the chain (an older
# store's), so that an entry forged outside the chain, or a trail emptied under stored documents, is seen.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("legacy", Integer),  # entries written before the chain began
    Column("unaudited", Integer),  # documents stored before the audit trail named them
)
_SAME_SEALS = {
    "sqlite": "NEW.legacy IS OLD.legacy AND NEW.unaudited IS OLD.unaudited",
    "postgresql": "NEW.legacy IS NOT DISTINCT FROM OLD.legacy AND NEW.unaudited IS NOT DISTINCT FROM OLD.unaudited",
}
_HEAD_MOVES = (
    "(NEW.seq = OLD.seq + 1 AND NEW.hash = OLD.hash AND {same})"
    " OR (NEW.seq = OLD.seq AND NEW.hash = (SELECT hash FROM audit_log WHERE seq = NEW.seq) AND {same})"
    " OR (NEW.seq = OLD.seq AND NEW.hash = OLD.hash AND OLD.legacy IS NULL AND OLD.unaudited IS NULL)"
)
_APPEND_ONLY = {
    "sqlite": [
        *(f"CREATE TRIGGER IF NOT EXISTS audit_log_no_{op.lower()} BEFORE {op} ON audit_log "
          "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END" for op in ("UPDATE", "DELETE")),
        "CREATE TRIGGER IF NOT EXISTS audit_head_no_delete BEFORE DELETE ON audit_head "
        "BEGIN SELECT RAISE(ABORT, 'the audit head is kept'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_head_forward BEFORE UPDATE ON audit_head "
        f"WHEN NOT ({_HEAD_MOVES.format(same=_SAME_SEALS['sqlite'])}) "
        "BEGIN SELECT RAISE(ABORT, 'the audit head moves only forward, to the chain''s last entry'); END",
    ],  # fmt: skip
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$",
        "CREATE OR REPLACE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
        "CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
        "CREATE OR REPLACE FUNCTION audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN IF {_HEAD_MOVES.format(same=_SAME_SEALS['postgresql'])} THEN RETURN NEW; END IF; "
        "RAISE EXCEPTION 'the audit head moves only forward, to the chain''s last entry'; END $$",
        "CREATE OR REPLACE TRIGGER audit_head_only_forward BEFORE UPDATE ON audit_head "
        "FOR EACH ROW EXECUTE FUNCTION audit_head_forward()",
        "CREATE OR REPLACE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
        "CREATE OR REPLACE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
    ],
}
# PostgreSQL: workers starting together create the schema one after the other (a transaction-scoped lock)
_SCHEMA_LOCK = 7_341_902

# Ingestion jobs, and the bytes of each until its file is ingested (so that a restart can run it again).
jobs = Table(
    "jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("filename", String(255), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("submitted_by", String(120), nullable=False, index=True),
    Column("principal", JSON, nullable=False),  # who, with which role and scope: a rerun writes as they would
    Column("submitted_at", DateTime(timezone=True), nullable=False, index=True),
    Column("status", String(16), nullable=False, index=True),
    Column("stage", Text),
    Column("done", Integer),
    Column("total", Integer),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("result", JSON),
    Column("error", Text),
)
job_files = Table(
    "job_files",
    metadata,
    Column("job_id", String(32), ForeignKey("jobs.id"), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

# Every login attempt, counted before its password is checked (so that concurrent guesses cannot all slip
# in under the limit); its outcome written after.
login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(120), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(16), nullable=False),  # pending, ok, refused, locked
    Column("source", String(64)),  # where the attempt came from (its client address); NULL in older stores
)
_LOGIN_LOCK = 7_341_903

# One row: which arithmetic (engine, weights, runtime, processor) made the vectors of the index, so that vectors
# of another are never mixed with them (retrieval/arithmetic.py).
embedding_stamps = Table(
    "embedding_stamps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("stamp", JSON, nullable=False),
)

# One row; bumped on every change so that in-memory indexes (BM25) know when to rebuild.
corpus_state = Table(
    "corpus_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", Integer, nullable=False),
)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class RecordStore:
    def __init__(self, url: str):
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url)
        self._finding_lock = threading.Lock()  # a finding's history is read and added to as one step
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        with self.engine.begin() as conn:
            if dialect == "postgresql":
                conn.execute(text(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})"))
            mentions_were_kept = inspect(conn).has_table(number_mentions.name)
            metadata.create_all(conn)
            _add_missing_columns(conn)
            if not mentions_were_kept:  # a store from before the table: its passages are read once, here
                _note_all_mentions(conn)
            _key_unkeyed_findings(conn)
            for statement in _APPEND_ONLY.get(dialect, []):
                conn.execute(text(statement))
            if conn.execute(select(corpus_state.c.id)).first() is None:
                conn.execute(corpus_state.insert().values(id=1, generation=0))
            if conn.execute(select(audit_head.c.id)).first() is None:
                conn.execute(audit_head.insert().values(id=1, seq=0, hash=GENESIS))
            _seal_audit(conn)

    # --- writes -------------------------------------------------------------------------------

    def add(
        self,
        prepared: PreparedDocument,
        in_transaction: Callable[[], None] = lambda: None,
        audit: AuditEntry | None = None,
        amendments: list[str] = (),
        claims: str | None = None,
    ) -> None:
        """Store a document; supersede the current version with the same key; link the stored `amendments` of it
        to it; note the record it `claims` (carries the number of, without being it). All or nothing, its audit
        entry included."""
        doc = prepared.document
        with self.engine.begin() as conn:
            _recognise_known_numbers(conn, prepared)
            if amendments:
                conn.execute(update(documents).where(documents.c.id.in_(list(amendments))).values(related_to=doc.id))
            if doc.supersedes:
                conn.execute(
                    update(documents)
                    .where(documents.c.id == doc.supersedes)
                    .values(status=DocumentStatus.SUPERSEDED.value, superseded_by=doc.id)
                )
            conn.execute(documents.insert().values(_document_row(doc)))
            if prepared.pages:
                conn.execute(
                    pages.insert(),
                    [{"document_id": doc.id, "number": p.number, "text": p.text} for p in prepared.pages],
                )
            if prepared.chunks:
                conn.execute(chunks.insert(), [c.model_dump(mode="json") for c in prepared.chunks])
            if prepared.tables:
                conn.execute(
                    tables.insert(),
                    [
                        {"document_id": doc.id, "ordinal": i, "page": t.page, "table": t.model_dump(mode="json")}
                        for i, t in enumerate(prepared.tables)
                    ],
                )
            _note_mentions(conn, doc.id, [c.text for c in prepared.chunks])
            _learn_numbers(conn, doc)
            if prepared.scans:
                conn.execute(
                    page_scans.insert(),
                    [
                        s.model_dump(mode="json") | {"document_id": doc.id, "image_jpeg": s.image_jpeg}
                        for s in prepared.scans
                    ],
                )
            if prepared.original:
                conn.execute(originals.insert().values(document_id=doc.id, data=prepared.original))
            if claims:
                conn.execute(record_claims.insert().values(document_id=doc.id, record_id=claims))
            conn.execute(update(corpus_state).values(generation=corpus_state.c.generation + 1))
            if audit is not None:
                _append_audit(conn, audit)
            in_transaction()

    def claims(self) -> dict[str, str]:
        """Document -> the record whose number it carries without being it."""
        with self.engine.connect() as conn:
            return {r.document_id: r.record_id for r in conn.execute(select(record_claims))}

    def save_analysis(self, analysis: Analysis, rows: list[FindingRow], audit: AuditEntry | None = None) -> None:
        """Replace a document's analysis and its findings, in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(findings.delete().where(findings.c.document_id == analysis.document_id))
            conn.execute(analyses.delete().where(analyses.c.document_id == analysis.document_id))
            conn.execute(
                analyses.insert().values(**analysis.model_dump(mode="json") | {"analysed_at": analysis.analysed_at})
            )
            if rows:  # keyed among the document's own findings: the same keys for every view
                keyed = [r.model_copy(update={"key": k}) for r, k in zip(rows, finding_keys(rows))]
                conn.execute(findings.insert(), [r.model_dump(mode="json", exclude=_DERIVED) for r in keyed])
            if audit is not None:
                _append_audit(conn, audit)

    def analysis(self, document_id: str) -> Analysis | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(analyses).where(analyses.c.document_id == document_id)).mappings().first()
        return _analysis(row) if row else None

    def standing_analysis(self, document_id: str) -> Analysis | None:
        """The analysis that counts for a document now: its own, or while a downgrade it brought waits for a
        person, the previous version's."""
        review = self.version_review(document_id)
        held = review is not None and review.status == VersionReviewStatus.PENDING
        return self.analysis(review.previous_id if held else document_id)

    # --- new versions that lower their record ---------------------------------------------------

    def hold_downgrade(self, review: VersionReview, finding: FindingRow, audit: AuditEntry | None = None) -> None:
        """Record a downgrade for a person to decide, with the finding that asks them to."""
        with self.engine.begin() as conn:
            if audit is not None:
                _append_audit(conn, audit)
            conn.execute(version_reviews.delete().where(version_reviews.c.document_id == review.document_id))
            conn.execute(version_reviews.insert().values(**_review_row(review)))
            keyed = finding.model_copy(update={"key": finding_keys([finding])[0]})
            conn.execute(findings.insert().values(keyed.model_dump(mode="json", exclude=_DERIVED)))
            conn.execute(update(corpus_state).values(generation=corpus_state.c.generation + 1))

    def undo_downgrade(self, review: VersionReview, finding: FindingRow, in_transaction: Callable[[], None] = lambda: None,
                       audit: AuditEntry | None = None) -> None:  # fmt: skip
        """Undo a decision on a downgrade (an admin's): held again, with the finding that asks a person to decide; a
        withdrawn new version is current again and the one before superseded by it. `in_transaction`: the index."""
        with self.engine.begin() as conn:
            if review.status == VersionReviewStatus.REJECTED:
                conn.execute(update(documents).where(documents.c.id == review.document_id)
                             .values(status=DocumentStatus.CURRENT.value))  # fmt: skip
                conn.execute(update(documents).where(documents.c.id == review.previous_id)
                             .values(status=DocumentStatus.SUPERSEDED.value, superseded_by=review.document_id))  # fmt: skip
            pending = review.model_copy(update={"status": VersionReviewStatus.PENDING, "decided_by": None,
                                                "decided_at": None, "reason": None})  # fmt: skip
            conn.execute(update(version_reviews).where(version_reviews.c.document_id == review.document_id)
                         .values(**_review_row(pending)))  # fmt: skip
            keyed = finding.model_copy(update={"key": finding_keys([finding])[0]})
            conn.execute(findings.insert().values(keyed.model_dump(mode="json", exclude=_DERIVED)))
            conn.execute(update(corpus_state).values(generation=corpus_state.c.generation + 1))
            if audit is not None:
                _append_audit(conn, audit)
            in_transaction()

    def uploader_of(self, document_id: str) -> str | None:
        """Who stored a document (kind:name), as its upload entry in the audit trail says."""
        query = select(audit_log.c.actor_kind, audit_log.c.actor, audit_log.c.documents).where(
            (audit_log.c.action == "upload") & (audit_log.c.documents.cast(Text).like(f"%{document_id}%"))
        )
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                if any(d.get("id") == document_id for d in row.documents):
                    return f"{row.actor_kind}:{row.actor}"
        return None

    def version_review(self, document_id: str) -> VersionReview | None:
        with self.engine.connect() as conn:
            query = select(version_reviews).where(version_reviews.c.document_id == document_id)
            row = conn.execute(query).mappings().first()
        return VersionReview(**_aware(row, "raised_at", "decided_at")) if row else None

    def version_reviews(self, pending_only: bool = False) -> list[VersionReview]:
        query = select(version_reviews).order_by(version_reviews.c.raised_at)
        if pending_only:
            query = query.where(version_reviews.c.status == VersionReviewStatus.PENDING.value)
        with self.engine.connect() as conn:
            return [VersionReview(**_aware(r, "raised_at", "decided_at")) for r in conn.execute(query).mappings()]

    def decide_downgrade(
        self, review: VersionReview, in_transaction: Callable[[], None] = lambda: None, audit: AuditEntry | None = None
    ) -> None:
        """Confirm (the new version's reading stands) or reject (the new version is withdrawn and the one before
        is current again); the finding that asked is closed either way. `in_transaction`: the index's part."""
        with self.engine.begin() as conn:
            conn.execute(
                update(version_reviews)
                .where(version_reviews.c.document_id == review.document_id)
                .values(**_review_row(review))
            )
            conn.execute(
                findings.delete().where(
                    (findings.c.document_id == review.document_id)
                    & (findings.c.source == FindingSource.NEW_VERSION.value)
                )
            )
            if review.status == VersionReviewStatus.REJECTED:
                conn.execute(
                    update(documents)
                    .where(documents.c.id == review.document_id)
                    .values(status=DocumentStatus.WITHDRAWN.value)
                )
                conn.execute(
                    update(documents)
                    .where(documents.c.id == review.previous_id)
                    .values(status=DocumentStatus.CURRENT.value, superseded_by=None)
                )
            conn.execute(update(corpus_state).values(generation=corpus_state.c.generation + 1))
            if audit is not None:
                _append_audit(conn, audit)
            in_transaction()

    def list_analyses(
        self, kind: str | None = None, site: str | None = None, program: str | None = None, batch: str | None = None,
        claims: bool = False,
    ) -> list[Analysis]:  # fmt: skip
        """Analyses of current documents (a superseded version's analysis is history, kept but not listed); those
        of documents that claim another record's number only with `claims`."""
        query = _of_current_documents(analyses, claims).order_by(analyses.c.analysed_at, analyses.c.document_id)
        if kind:
            query = query.where(analyses.c.kind == kind)
        if site:
            query = query.where(analyses.c.site == site)
        with self.engine.connect() as conn:
            rows = [_analysis(r) for r in conn.execute(query).mappings()]
        return [a for a in rows if (program is None or program in a.programs) and (batch is None or batch in a.batch_ids)]

    def list_findings(
        self, site: str | None = None, program: str | None = None, code: str | None = None, claims: bool = False
    ) -> list[FindingRow]:
        """Findings of current documents (of those that claim another record's number only with `claims`)."""
        query = _of_current_documents(findings, claims).order_by(findings.c.id)
        if site:
            query = query.where(findings.c.site == site)
        if code:
            query = query.where(findings.c.code == code)
        with self.engine.connect() as conn:
            rows = [FindingRow(**r) for r in conn.execute(query).mappings()]
        return [r for r in rows if program is None or program in r.programs]

    def finding_histories(self, keys: list[str]) -> dict[str, list[FindingChange]]:
        """Each finding's changes, oldest first (none for a finding nobody has touched)."""
        out: dict[str, list[FindingChange]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(keys), 500):
                out |= _histories(conn, finding_changes.c.key.in_(keys[i : i + 500]))
        return out

    def finding_keys_like(self, pattern: str) -> list[str]:
        """The distinct keys of recorded work that match a LIKE pattern."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(finding_changes.c.key).where(finding_changes.c.key.like(pattern)).distinct()).scalars())

    def rename_finding_keys(self, moved: dict[str, str]) -> None:
        """Move recorded work from old keys to new ones, in one transaction (an upgrade of the key scheme)."""
        if not moved:
            return
        with self.engine.begin() as conn:
            for old, new in moved.items():
                conn.execute(update(finding_changes).where(finding_changes.c.key == old).values(key=new))

    def closed_findings(self) -> set[str]:
        """The keys of the findings a person has closed (and not reopened)."""
        with self.engine.connect() as conn:
            histories = _histories(conn)
        return {key for key, history in histories.items() if replayed(history).status == FindingStatus.CLOSED}

    def change_finding(self, change: FindingChange, audit: AuditEntry | None = None) -> FindingState:
        """Apply a change to a finding (WorkflowError where it does not apply), with its audit entry, in one
        transaction; the state after it."""
        with self._finding_lock, self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # another process may change the same finding
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(change.key.encode())})
            history = _histories(conn, finding_changes.c.key == change.key).get(change.key, [])
            state = applied(replayed(history), change)
            conn.execute(finding_changes.insert().values(**change.model_dump(mode="json") | {"at": change.at, "due": change.due}))
            if audit is not None:
                _append_audit(conn, audit)
        return state

    def save_summary_run(self, run: SummaryRun, audit: AuditEntry | None = None) -> None:
        """Record a digest window (replacing the record of the same window: a re-run of it)."""
        with self.engine.begin() as conn:
            conn.execute(summary_runs.delete().where(summary_runs.c.id == run.id))
            conn.execute(summary_runs.insert().values(**run.model_dump()))
            if audit is not None:
                _append_audit(conn, audit)

    def summary_runs(self) -> list[SummaryRun]:
        """Every digest window, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(summary_runs).order_by(summary_runs.c.until.desc())).mappings()
            return [SummaryRun(**_aware(r, "since", "until", "created_at")) for r in rows]

    # --- users, keys, sessions, audit -------------------------------------------------------------

    def save_user(self, user: User, password_hash: str, audit: AuditEntry | None = None) -> None:
        """Add a user, or reset one: a reset ends their sessions (a new password shuts out whoever had the
        old one)."""
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.username == user.username))
            conn.execute(users.delete().where(users.c.username == user.username))
            conn.execute(users.insert().values(**user.model_dump(mode="json"), password_hash=password_hash))
            if audit is not None:
                _append_audit(conn, audit)

    def users(self) -> list[User]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(users).order_by(users.c.username)).mappings()
            return [_user(r) for r in rows]

    def remove_user(self, username: str, audit: AuditEntry | None = None) -> bool:
        """Remove a user and end their sessions; False when there was none."""
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.username == username))
            removed = conn.execute(users.delete().where(users.c.username == username)).rowcount > 0
            if removed and audit is not None:
                _append_audit(conn, audit)
            return removed

    def user(self, username: str) -> tuple[User, str] | None:
        """The user and their password hash."""
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).mappings().first()
        if row is None:
            return None
        return _user(row), row["password_hash"]

    def add_api_key(self, info: ApiKeyInfo, key_hash: str, audit: AuditEntry | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(api_keys.insert().values(**info.model_dump(), key_hash=key_hash))
            if audit is not None:
                _append_audit(conn, audit)

    def api_key(self, key_hash: str) -> ApiKeyInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_hash == key_hash)).mappings().first()
        return _api_key(row) if row else None

    def api_keys(self) -> list[ApiKeyInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at)).mappings()
            return [_api_key(r) for r in rows]

    def revoke_api_key(self, key_id: str, audit: AuditEntry | None = None) -> bool:
        """Delete a key: requests that send it are refused from now on. False when there was none."""
        with self.engine.begin() as conn:
            revoked = conn.execute(api_keys.delete().where(api_keys.c.id == key_id)).rowcount > 0
            if revoked and audit is not None:
                _append_audit(conn, audit)
            return revoked

    def login_attempt(self, username: str, since: datetime, source: str | None = None) -> tuple[int, int, int]:
        """Count a login attempt before its password is checked: its id, and the attempts for the name (this one
        included) since `since` and since its last successful login that did not succeed, from `source` and from
        anywhere. Attempts for one name take turns here (the write lock on SQLite, an advisory lock on
        PostgreSQL), so the counts are exact however many arrive at once."""
        with self.engine.begin() as conn:
            attempt = conn.execute(
                login_attempts.insert().values(username=username, at=utcnow(), outcome="pending", source=source)
            ).inserted_primary_key[0]
            if self.engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k, hashtext(:u))"), {"k": _LOGIN_LOCK, "u": username})
            return attempt, _failed_logins(conn, username, since, source), _failed_logins(conn, username, since)

    def failed_logins(self, username: str, since: datetime, source: str | None = None) -> int:
        """Attempts for the name (from `source`, if given) since `since` and since its last successful login that
        did not succeed."""
        with self.engine.connect() as conn:
            return _failed_logins(conn, username, since, source)

    def login_outcome(self, attempt: int, outcome: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(login_attempts).where(login_attempts.c.id == attempt).values(outcome=outcome))

    def add_session(self, token_hash: str, username: str, expires_at: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(sessions.insert().values(token_hash=token_hash, username=username, expires_at=expires_at))

    def session_user(self, token_hash: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(sessions).where(sessions.c.token_hash == token_hash)).mappings().first()
        if row is None or as_utc(row["expires_at"]) < utcnow():
            return None
        found = self.user(row["username"])
        return found[0] if found else None

    def end_session(self, token_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.token_hash == token_hash))

    def audit(self, entry: AuditEntry) -> None:
        """Append an entry that records no change of its own (a question, a refused request)."""
        with self.engine.begin() as conn:
            _append_audit(conn, entry)

    def audit_anchor(self) -> str:
        """The chain's head as one line to keep elsewhere: '<entry>:<hash>'."""
        with self.engine.connect() as conn:
            return head_anchor(*conn.execute(select(audit_head.c.seq, audit_head.c.hash)).one())

    def verify_audit(self, against: tuple[int, str] | None = None) -> AuditVerification:
        """Walk the chain: every entry's hash recomputed, every link and number checked, the head compared; the
        entries outside the chain and the documents no entry names counted against the store's seals; with
        `against` (a head noted elsewhere: number, hash), that entry must still be in the chain as it was."""
        problems: list[str] = []
        entries = chained = unchained = 0
        expected, previous, anchored = None, GENESIS, None
        with self.engine.connect() as conn:
            head_seq, head_hash, legacy, unaudited = conn.execute(
                select(audit_head.c.seq, audit_head.c.hash, audit_head.c.legacy, audit_head.c.unaudited)
            ).one()
            for row in conn.execute(select(audit_log).order_by(audit_log.c.id)).mappings():
                entries += 1
                if row["seq"] is None:
                    if chained:
                        problems.append(f"entry {row['id']} is outside the chain: written around it")
                    else:
                        unchained += 1
                    continue
                chained += 1
                if expected is None:  # the chain begins at 1, unless entries were cut from its start
                    expected = 1
                if row["seq"] != expected:
                    problems.append(f"entries {expected} to {row['seq'] - 1} of the chain are missing (deleted)")
                elif row["prev_hash"] != previous:
                    problems.append(f"entry {row['seq']} does not follow the one before it")
                entry = AuditEntry(**_aware(row, "at"))
                if entry_hash(entry, row["seq"], row["prev_hash"]) != row["hash"]:
                    problems.append(f"entry {row['seq']} ({row['action']} by {row['actor']}) was changed after it was written")
                if against and row["seq"] == against[0]:
                    anchored = row["hash"]
                expected, previous = row["seq"] + 1, row["hash"]
            missing_documents = len(_unaudited_documents(conn))
        last = (expected or 1) - 1
        if head_seq != last or (head_seq and head_hash != previous):
            problems.append(f"the chain ends at entry {last} but its head says {head_seq}: entries cut from the end")
        if unchained > (legacy or 0):
            problems.append(f"{unchained - (legacy or 0)} entries stand outside the chain where the store had "
                            f"{legacy or 0}: written around it")  # fmt: skip
        if missing_documents > (unaudited or 0):
            problems.append(f"{missing_documents - (unaudited or 0)} stored documents are named by no audit entry: "
                            "entries of their upload were removed")  # fmt: skip
        if against and anchored != against[1]:
            problems.append(f"the head noted elsewhere (entry {against[0]}, {against[1][:12]}...) is not in the chain "
                            f"as it was: {'entry changed' if anchored else 'entry gone'}; the trail was rewritten")  # fmt: skip
        return AuditVerification(entries=entries, chained=chained, unchained=unchained, head_seq=head_seq,
                                 head_hash=head_hash, anchor=head_anchor(head_seq, head_hash), problems=problems)  # fmt: skip

    def audit_entries(self, actor: str | None = None, action: str | None = None) -> list[AuditEntry]:
        """The audit trail, oldest first."""
        query = select(audit_log).order_by(audit_log.c.id)
        if actor:
            query = query.where(audit_log.c.actor == actor)
        if action:
            query = query.where(audit_log.c.action == action)
        with self.engine.connect() as conn:
            return [AuditEntry(**_aware(r, "at")) for r in conn.execute(query).mappings()]

    def add_chat_turn(self, turn: ChatTurn) -> None:
        with self.engine.begin() as conn:
            conn.execute(chat_turns.insert().values(**turn.model_dump(mode="json") | {"asked_at": turn.asked_at}))

    def chat_turns(self, session_id: str) -> list[ChatTurn]:
        query = select(chat_turns).where(chat_turns.c.session_id == session_id).order_by(chat_turns.c.ordinal)
        with self.engine.connect() as conn:
            return [ChatTurn(**{**r, "asked_at": as_utc(r["asked_at"])}) for r in conn.execute(query).mappings()]

    def chat_sessions(self, owner: str | None, limit: int = 50) -> list[ChatTurn]:
        """The first turn of each of the owner's sessions, the latest session first."""
        first = (
            select(chat_turns.c.session_id, func.max(chat_turns.c.asked_at).label("last"))
            .where(chat_turns.c.owner == owner if owner is not None else chat_turns.c.owner.is_(None))
            .group_by(chat_turns.c.session_id)
            .subquery()
        )
        query = (
            select(chat_turns)
            .join(first, chat_turns.c.session_id == first.c.session_id)
            .where(chat_turns.c.ordinal == 1)
            .order_by(first.c.last.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [ChatTurn(**{**r, "asked_at": as_utc(r["asked_at"])}) for r in conn.execute(query).mappings()]

    # --- ingestion jobs -----------------------------------------------------------------------

    def add_job(self, job: IngestJob, principal: Principal, data: bytes) -> None:
        with self.engine.begin() as conn:
            conn.execute(jobs.insert().values(**_job_row(job), principal=principal.model_dump(mode="json")))
            if not job.finished:
                conn.execute(job_files.insert().values(job_id=job.id, data=data))

    def update_job(self, job: IngestJob) -> None:
        """Write a job's progress; once it is finished its file is dropped (the document holds it now)."""
        with self.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job.id).values(_job_row(job)))
            if job.finished:
                conn.execute(job_files.delete().where(job_files.c.job_id == job.id))

    def job(self, job_id: str) -> tuple[IngestJob, Principal] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
        return (_job(row), Principal(**row["principal"])) if row else None

    def jobs(self, submitted_by: str | None = None, unfinished: bool = False, limit: int = 200) -> list[IngestJob]:
        """Newest first."""
        query = select(jobs).order_by(jobs.c.submitted_at.desc()).limit(limit)
        if submitted_by is not None:
            query = query.where(jobs.c.submitted_by == submitted_by)
        if unfinished:
            query = query.where(jobs.c.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]))
        with self.engine.connect() as conn:
            return [_job(r) for r in conn.execute(query).mappings()]

    def job_data(self, job_id: str) -> bytes | None:
        with self.engine.connect() as conn:
            return conn.execute(select(job_files.c.data).where(job_files.c.job_id == job_id)).scalar_one_or_none()

    # --- the vectors' arithmetic ------------------------------------------------------------------

    def embedding_stamp(self) -> EmbeddingStamp | None:
        with self.engine.connect() as conn:
            stamp = conn.execute(select(embedding_stamps.c.stamp)).scalar_one_or_none()
        return EmbeddingStamp.model_validate(stamp) if stamp else None

    def set_embedding_stamp(self, stamp: EmbeddingStamp) -> None:
        with self.engine.begin() as conn:
            conn.execute(embedding_stamps.delete())
            conn.execute(embedding_stamps.insert().values(id=1, stamp=stamp.model_dump(mode="json")))

    def sample_chunks(self, n: int) -> list[tuple[Chunk, Document]]:
        """`n` passages, the same ones on every call while the store holds them (the first ids in order)."""
        query = select(chunks.c.id).order_by(chunks.c.id).limit(n)
        with self.engine.connect() as conn:
            ids = list(conn.execute(query).scalars())
        found = self.chunks_by_id(ids)
        docs = self.documents_by_id(list({c.document_id for c in found.values()}))
        return [(found[i], docs[found[i].document_id]) for i in ids if i in found]

    # --- reads --------------------------------------------------------------------------------

    def next_version(self, prepared: PreparedDocument, writer: Principal | None = None) -> Placement:
        """Where the document goes: numbered as the next version of the current one with its key when it reads
        as one (core.versions); else beside it, linked, superseding nothing, and why, in words; an amendment beside
        the agreement it amends, linked to it. A record the `writer` may not see is neither superseded nor linked
        nor named: the new one goes beside it as if it were not there (the refusal is for the audit trail, not
        for the writer)."""
        doc = prepared.document
        if is_amendment(doc):
            return self._amendment_placement(prepared, writer)
        placement = self._placement(prepared, writer)
        if doc.kind in AGREEMENT_KINDS:  # amendments that came before their agreement are linked to it now
            placement.amendments = [d.id for d in self._unlinked_amendments()
                                    if amends(d, doc) and (writer is None or writer.sees(d.metadata.programs, d.metadata.sites))]  # fmt: skip
        return placement

    def _placement(self, prepared: PreparedDocument, writer: Principal | None) -> Placement:
        doc = prepared.document
        previous = self.current_with_key(doc.document_key)
        if previous is None:
            return Placement(prepared=prepared)
        beside = f"{doc.document_key[:220]}~{doc.content_hash[:12]}"  # a key of its own: never a version of it
        if writer is not None and not writer.sees(previous.metadata.programs, previous.metadata.sites):
            doc = doc.model_copy(update={"document_key": beside})
            claims = previous.id if keyed_by_number(doc.model_copy(update={"document_key": previous.document_key})) else None
            return Placement(prepared=prepared.model_copy(update={"document": doc}), refused=previous, claims=claims)
        new_text = "\n".join(p.text for p in prepared.pages)
        judgement = judge_version(doc, previous, new_text, "\n".join(p.text for p in self.pages(previous.id)))
        why = "; ".join(judgement.reasons)
        if judgement.is_version:
            doc = doc.model_copy(update={"version": previous.version + 1, "supersedes": previous.id})
            return Placement(prepared=prepared.model_copy(update={"document": doc}), previous=previous,
                             note=f"a new version of {previous.filename}: {why}")  # fmt: skip
        if not keyed_by_number(doc):  # a generic title in common says nothing of a link: another document
            doc = doc.model_copy(update={"document_key": beside})
            return Placement(prepared=prepared.model_copy(update={"document": doc}),
                             note=f"shares its title with {previous.filename} but is not a new version of it ({why}): "
                                  "stored as a document of its own")  # fmt: skip
        doc = doc.model_copy(update={"document_key": beside, "related_to": previous.id})
        return Placement(prepared=prepared.model_copy(update={"document": doc}), claims=previous.id,
                         note=f"names {previous.filename} but is not a new version of it ({why}): stored beside it, "
                              "linked; its reading is not counted as the record's")  # fmt: skip

    def _unlinked_amendments(self) -> list[Document]:
        """Current agreements keyed by themselves (an amendment's key ends in its hash) and linked to nothing."""
        query = select(documents).where(
            documents.c.kind.in_([k.value for k in AGREEMENT_KINDS]) & documents.c.related_to.is_(None)
            & documents.c.document_key.like("%~%") & (documents.c.status == DocumentStatus.CURRENT.value)
        )  # fmt: skip
        with self.engine.connect() as conn:
            return [d for d in (_document(r) for r in conn.execute(query).mappings()) if is_amendment(d)]

    def _amendment_placement(self, prepared: PreparedDocument, writer: Principal | None) -> Placement:
        doc = prepared.document
        agreements = [
            d for kind in AGREEMENT_KINDS for d in self.list_documents(kind=kind)
            if amends(doc, d) and (writer is None or writer.sees(d.metadata.programs, d.metadata.sites))
        ]  # fmt: skip
        if not agreements:
            return Placement(prepared=prepared, note=f"amends {doc.metadata.agreement.amends[:120]}, which is not stored")
        agreement = agreements[-1]
        doc = doc.model_copy(update={"related_to": agreement.id})
        return Placement(prepared=prepared.model_copy(update={"document": doc}),
                         note=f"an amendment of {agreement.filename}: stored beside it, linked, replacing nothing")  # fmt: skip

    def generation(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(corpus_state.c.generation)).scalar_one()

    def find_by_hash(self, content_hash: str) -> Document | None:
        return self._one(documents.c.content_hash == content_hash)

    def current_with_key(self, document_key: str) -> Document | None:
        return self._one(
            (documents.c.document_key == document_key) & (documents.c.status == DocumentStatus.CURRENT.value)
        )

    def visible(self, document_id: str) -> bool:
        """Whether the document is there (a scoped view, core.scope, also asks whether it may be seen)."""
        return self._one(documents.c.id == document_id) is not None

    def get(self, document_id: str) -> Document:
        doc = self._one(documents.c.id == document_id)
        if doc is None:
            raise NotFoundError(f"no document {document_id}")
        return doc

    def detail(self, document_id: str) -> DocumentDetail:
        doc = self.get(document_id)
        return DocumentDetail(**doc.model_dump(), pages=self.pages(document_id), chunks=self.chunks_of(document_id))

    def chunks_of(self, document_id: str) -> list[Chunk]:
        query = select(chunks).where(chunks.c.document_id == document_id).order_by(chunks.c.ordinal)
        with self.engine.connect() as conn:
            return [Chunk(**r) for r in conn.execute(query).mappings()]

    def pages(self, document_id: str) -> list[Page]:
        """A document's page texts, in order: what citations point into, without its chunks."""
        query = select(pages.c.number, pages.c.text).where(pages.c.document_id == document_id).order_by(pages.c.number)
        with self.engine.connect() as conn:
            return [Page(**r) for r in conn.execute(query).mappings()]

    def page_text(self, document_id: str, number: int) -> str | None:
        query = select(pages.c.text).where((pages.c.document_id == document_id) & (pages.c.number == number))
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def tables(self, document_id: str) -> list[DocumentTable]:
        query = select(tables.c.table).where(tables.c.document_id == document_id).order_by(tables.c.ordinal)
        with self.engine.connect() as conn:
            return [DocumentTable(**t) for t in conn.execute(query).scalars()]

    def page_scan(self, document_id: str, number: int) -> PageScan | None:
        """How an OCR'd page was read: its confidence and word boxes (the image is left out)."""
        query = select(page_scans.c.page, page_scans.c.confidence, page_scans.c.skew_degrees, page_scans.c.words)
        query = query.where((page_scans.c.document_id == document_id) & (page_scans.c.page == number))
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return PageScan(**row) if row else None

    def keep_original(self, document_id: str, data: bytes) -> None:
        """Keep the file of a document stored before originals were kept, when its same bytes arrive again."""
        try:
            with self.engine.begin() as conn:
                if conn.execute(select(originals.c.document_id).where(originals.c.document_id == document_id)).first() is None:
                    conn.execute(originals.insert().values(document_id=document_id, data=data))
        except IntegrityError:
            pass  # the same file, sent twice at once: the other upload kept it

    def original(self, document_id: str) -> bytes | None:
        """The file as it was received (None for a document stored before originals were kept)."""
        with self.engine.connect() as conn:
            return conn.execute(select(originals.c.data).where(originals.c.document_id == document_id)).scalar_one_or_none()

    def page_image(self, document_id: str, number: int) -> bytes | None:
        query = select(page_scans.c.image_jpeg).where(
            (page_scans.c.document_id == document_id) & (page_scans.c.page == number)
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def list_documents(
        self,
        kind: DocumentKind | None = None,
        site: str | None = None,
        program: str | None = None,
        include_superseded: bool = False,
    ) -> list[Document]:
        query = select(documents).order_by(documents.c.ingested_at, documents.c.id)
        if kind:
            query = query.where(documents.c.kind == DocumentKind(kind).value)
        if not include_superseded:
            query = query.where(documents.c.status == DocumentStatus.CURRENT.value)
        with self.engine.connect() as conn:
            docs = [_document(r) for r in conn.execute(query).mappings()]
        return [
            d
            for d in docs
            if (site is None or site in d.metadata.sites) and (program is None or program in d.metadata.programs)
        ]

    def versions(self, document_key: str) -> list[Document]:
        """Every version of one document, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(documents).where(documents.c.document_key == document_key).order_by(documents.c.version)
            ).mappings()
            return [_document(r) for r in rows]

    def chunks_by_id(self, chunk_ids: list[str]) -> dict[str, Chunk]:
        if not chunk_ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(chunks).where(chunks.c.id.in_(chunk_ids))).mappings()
            return {r["id"]: Chunk(**r) for r in rows}

    def documents_by_id(self, document_ids: list[str]) -> dict[str, Document]:
        if not document_ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(documents).where(documents.c.id.in_(document_ids))).mappings()
            return {r["id"]: _document(r) for r in rows}

    def iter_all_chunks(self) -> Iterator[tuple[Chunk, Document]]:
        """Every chunk of every document, superseded ones too, with its document (for keyword indexes)."""
        docs = {d.id: d for d in self.list_documents(include_superseded=True)}
        with self.engine.connect() as conn:
            query = select(chunks).order_by(chunks.c.document_id, chunks.c.ordinal)
            for row in conn.execute(query).mappings():
                if row["document_id"] in docs:  # else committed after the documents were read: in the next pass
                    yield Chunk(**row), docs[row["document_id"]]

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {
                "documents": conn.execute(select(func.count()).select_from(documents)).scalar_one(),
                "chunks": conn.execute(select(func.count()).select_from(chunks)).scalar_one(),
                "analyses": conn.execute(select(func.count()).select_from(analyses)).scalar_one(),
            }

    def _one(self, where) -> Document | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(documents).where(where)).mappings().first()
        return _document(row) if row else None


def _failed_logins(conn, username: str, since: datetime, source: str | None = None) -> int:
    name = login_attempts.c.username == username
    last_ok = conn.execute(select(func.max(login_attempts.c.id)).where(name & (login_attempts.c.outcome == "ok")))
    counted = name & login_attempts.c.outcome.in_(["pending", "refused"]) & (login_attempts.c.at > since)
    if source is not None:
        counted &= login_attempts.c.source == source
    counted &= login_attempts.c.id > (last_ok.scalar_one_or_none() or 0)
    return conn.execute(select(func.count()).select_from(login_attempts).where(counted)).scalar_one()


def _seal_audit(conn) -> None:
    """Once per store: how many entries came before the chain and how many documents before any entry named them."""
    if conn.execute(select(audit_head.c.legacy).where(audit_head.c.id == 1)).scalar_one() is not None:
        return
    legacy = conn.execute(select(func.count()).select_from(audit_log).where(audit_log.c.seq.is_(None))).scalar_one()
    unaudited = len(_unaudited_documents(conn))
    conn.execute(update(audit_head).where(audit_head.c.id == 1).values(legacy=legacy, unaudited=unaudited))


def _unaudited_documents(conn) -> set[str]:
    """Stored documents that no audit entry names."""
    named = {d.get("id") for docs in conn.execute(select(audit_log.c.documents)).scalars() for d in docs or []}
    return set(conn.execute(select(documents.c.id)).scalars()) - named


def _append_audit(conn, entry: AuditEntry) -> None:
    """Append to the chain inside the caller's transaction: the head first (which makes writers take turns),
    then the entry with its number, the previous hash and its own."""
    conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=audit_head.c.seq + 1))
    seq, previous = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).one()
    digest = entry_hash(entry, seq, previous)
    row = entry.model_dump(mode="json", exclude={"id", "at", "seq", "prev_hash", "hash"})
    conn.execute(audit_log.insert().values(**row, at=entry.at, seq=seq, prev_hash=previous, hash=digest))
    conn.execute(update(audit_head).where(audit_head.c.id == 1).values(hash=digest))


def _of_current_documents(table: Table, claims: bool = False):
    """Rows of `table` that count now: those of current documents, except that a current version whose
    downgrade waits for a person counts with its previous version's rows (the higher reading); without `claims`,
    not those of documents that carry another record's number without being it."""
    pending = version_reviews.c.status == VersionReviewStatus.PENDING.value
    held = select(version_reviews.c.document_id).where(pending)
    standing_in = select(version_reviews.c.previous_id).where(pending)
    counts = ((documents.c.status == DocumentStatus.CURRENT.value) & table.c.document_id.not_in(held)) | (
        table.c.document_id.in_(standing_in)
    )
    if table is findings:  # the finding that asks a person to decide belongs to the new version
        counts = counts | ((findings.c.source == FindingSource.NEW_VERSION.value) & table.c.document_id.in_(held))
    if not claims:
        counts = counts & table.c.document_id.not_in(select(record_claims.c.document_id))
    return select(table).join(documents, documents.c.id == table.c.document_id).where(counts)


def _recognise_known_numbers(conn, prepared: PreparedDocument) -> None:
    """Add to the document's record numbers those the corpus already knows and its text names."""
    text = "\n".join(p.text for p in prepared.pages)
    candidates = number_like(text)
    own = set(prepared.document.metadata.document_ids)
    known: set[str] = set()
    for i in range(0, len(candidates), 500):
        batch = [c for c in candidates[i : i + 500] if c not in own]
        if batch:
            known |= {r.number for r in conn.execute(select(record_numbers.c.number).where(record_numbers.c.number.in_(batch)))}
    if known:
        meta = prepared.document.metadata
        meta.document_ids = [*meta.document_ids, *(c for c in candidates if c in known)]


def _learn_numbers(conn, doc: Document) -> None:
    """Remember the document's record numbers; those new to the corpus are added to the stored documents
    that name them."""
    numbers = list(dict.fromkeys(doc.metadata.document_ids))
    if not numbers:
        return
    known = {r.number for r in conn.execute(select(record_numbers.c.number).where(record_numbers.c.number.in_(numbers)))}
    new = [n for n in numbers if n not in known]
    if not new:
        return
    conn.execute(record_numbers.insert(), [{"number": n, "document_id": doc.id} for n in new])
    for number in new:
        for document_id in _documents_naming(conn, number, doc.id):
            row = conn.execute(select(documents.c.metadata).where(documents.c.id == document_id)).first()
            meta = dict(row.metadata)
            if number not in meta.get("document_ids", []):
                meta["document_ids"] = [*meta.get("document_ids", []), number]
                conn.execute(update(documents).where(documents.c.id == document_id).values(metadata=meta))


# A record number stands alone: no letter, digit, underscore, slash or hyphen on either side. So a number made
# of those characters only is named exactly where it is a whole run of them, and a spaced one ("KQ 5531",
# "CBER 26-728681": a short capitalised prefix, a space, the rest) where it is two whole runs with one space
# between; those with a digit are what is noted per document.
_RUN = re.compile(r"[\w/-]+")
_SPACED = re.compile(r"[A-Z]{2,6} [\w/-]+")
_SPACED_AT = re.compile(r"(?<![\w/-])(?=([A-Z]{2,6} [\w/-]+))")  # overlapping: "AB CD 12" holds "CD 12"


def _noted(token: str) -> bool:
    """Whether a token of this shape is noted per document (and so found through the notes)."""
    return len(token) <= 120 and any(ch.isdigit() for ch in token) and bool(_RUN.fullmatch(token) or _SPACED.fullmatch(token))


def _mention_tokens(texts: list[str]) -> set[str]:
    return {t for text in texts for t in [*_RUN.findall(text), *_SPACED_AT.findall(text)] if _noted(t)}


def _note_mentions(conn, document_id: str, texts: list[str]) -> None:
    if tokens := _mention_tokens(texts):
        conn.execute(number_mentions.insert(), [{"token": t, "document_id": document_id} for t in sorted(tokens)])


def _key_unkeyed_findings(conn) -> None:
    """Findings stored before they carried their key: keyed among their document's findings in stored order, as
    every view numbered them then."""
    unkeyed = select(findings.c.document_id).where(findings.c.key.is_(None)).distinct()
    for document_id in list(conn.execute(unkeyed).scalars()):
        rows = conn.execute(select(findings).where(findings.c.document_id == document_id).order_by(findings.c.id))
        rows = [FindingRow(**r) for r in rows.mappings()]
        for row, key in zip(rows, finding_keys([r.model_copy(update={"key": None}) for r in rows])):
            conn.execute(update(findings).where(findings.c.id == row.id).values(key=key))


def _note_all_mentions(conn) -> None:
    document_ids = [r.id for r in conn.execute(select(documents.c.id))]
    for document_id in document_ids:
        texts = [r.text for r in conn.execute(select(chunks.c.text).where(chunks.c.document_id == document_id))]
        _note_mentions(conn, document_id, texts)


def _documents_naming(conn, number: str, besides: str) -> list[str]:
    """The other documents whose passages name the number as a whole."""
    if _noted(number):
        query = select(number_mentions.c.document_id).where(number_mentions.c.token == number)
        return list(dict.fromkeys(r.document_id for r in conn.execute(query) if r.document_id != besides))
    # a number of another shape ("26.728681", "Lot  44"): looked for in the text itself
    exact = re.compile(rf"(?<![\w/-]){re.escape(number)}(?![\w/-])")
    rows = conn.execute(
        select(chunks.c.document_id, chunks.c.text).where(chunks.c.text.like(f"%{number}%"), chunks.c.document_id != besides)
    )
    return list(dict.fromkeys(r.document_id for r in rows if exact.search(r.text)))


def _document_row(doc: Document) -> dict:
    row = doc.model_dump(mode="json")
    row["ingested_at"] = doc.ingested_at
    return row


def as_utc(value: datetime) -> datetime:
    """A time without a zone taken as UTC: SQLite drops the zone, and we store UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _document(row) -> Document:
    older = {k: [] for k in ("ocr_pages", "unreadable_pages") if row[k] is None}
    return Document(**{**row, "ingested_at": as_utc(row["ingested_at"]), **older})


def _add_missing_columns(conn) -> None:
    """Columns added to a table after a store was created; they are all nullable, so old rows stay valid."""
    inspector = inspect(conn)
    for table in metadata.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                kind = column.type.compile(dialect=conn.dialect)
                conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


def _histories(conn, where=None) -> dict[str, list[FindingChange]]:
    """The changes of the findings `where` selects (every finding without it), grouped by key, oldest first."""
    query = select(finding_changes).order_by(finding_changes.c.id)
    histories: dict[str, list[FindingChange]] = {}
    for row in conn.execute(query if where is None else query.where(where)).mappings():
        histories.setdefault(row["key"], []).append(FindingChange(**_aware(row, "at")))
    return histories


def _user(row) -> User:
    return User(**{k: v for k, v in row.items() if k != "password_hash"})


def _api_key(row) -> ApiKeyInfo:
    return ApiKeyInfo(**{k: v for k, v in _aware(row, "created_at").items() if k != "key_hash"})


def _review_row(review: VersionReview) -> dict:
    return review.model_dump(mode="json") | {"raised_at": review.raised_at, "decided_at": review.decided_at}


def _job_row(job: IngestJob) -> dict:
    row = job.model_dump(mode="json")
    return row | {"submitted_at": job.submitted_at, "updated_at": job.updated_at}


def _job(row) -> IngestJob:
    return IngestJob(**{k: v for k, v in _aware(row, "submitted_at", "updated_at").items() if k != "principal"})


def _analysis(row) -> Analysis:
    return Analysis(**{**row, "analysed_at": as_utc(row["analysed_at"])})


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(row, *fields: str) -> dict:
    return dict(row) | {f: as_utc(row[f]) for f in fields if row[f] is not None}
