"""BM25 over passages, kept on disk in a Qdrant Edge shard of sparse vectors and updated per document.

Each passage is stored as a sparse vector whose values are BM25's saturated term frequencies; the engine
multiplies them by each term's IDF over the shard at query time (Qdrant's IDF modifier uses BM25's own
formula, ln(1 + (N - n + 0.5) / (n + 0.5))), so a query scores exactly as BM25 (Lucene's variant, k1 1.5,
b 0.75) would over the same passages, with one difference: passage lengths are normalised by a fixed
average instead of the corpus's current one, so that a stored vector never has to change when other
documents arrive. Adding a document costs its own passages only; nothing is rebuilt on the search path.

Tokens keep record and batch numbers whole ("dev-2024-031", "24-017") beside their parts, so both an
exact number and a partial one match. Each passage's payload lists the record and batch numbers its text
carries (read by core.identifiers, as the numbers of a query are) and the record its document is, so that
the passages a number points at are a filtered lookup in the same engine. Filters (site, program, kind,
date, status) are applied inside the engine, before the top-k cut, as for the dense vectors.

The records are the authority: the shard is derived from them alone (no embedding), so a missing, stale or
unreadable one is rebuilt from them when the corpus opens (`sync`).
"""

import logging
import re
import shutil
import zlib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import qdrant_edge as qe

from core.documents import Chunk, Document, DocumentStatus
from core.identifiers import identifiers_in
from core.search import SearchFilters
from retrieval.vector_stores import ChunkPayload
from retrieval.vector_stores.qdrant_edge import by_document, engine_filter, point_ids

log = logging.getLogger(__name__)

_WORD = re.compile(r"[a-z0-9]+")
# possessive, and only from the start of a word: the plain pattern backtracks through every word
_COMPOUND = re.compile(r"(?<![a-z0-9])[a-z0-9]++(?:[-./][a-z0-9]++)+")
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were will with "
    "which what who when where how does do did any all there their than then these those our your".split()
)
_VECTOR = "bm25"
K1, B = 1.5, 0.75
# The passage length BM25 normalises by. The chunker's passages hold about 60 such tokens (62 on the sample
# corpus); a fixed figure keeps every stored vector valid as the corpus grows.
AVERAGE_PASSAGE_TOKENS = 64.0
_KEYWORD_FIELDS = ("document_id", "sites", "programs", "kind", "status", "identifiers", "record")
_BATCH = 2048


def tokenize(text: str) -> list[str]:
    """Words, plus compounds kept whole ("dev-2024-031", "24-017", "36.5") beside their parts."""
    lowered = text.lower()
    return [w for w in _WORD.findall(lowered) if w not in _STOPWORDS] + _COMPOUND.findall(lowered)


def passage_text(chunk: Chunk, document: Document) -> str:
    return f"{document.title}\n{chunk.section}\n{chunk.text}"


def _term(token: str) -> int:
    return zlib.crc32(token.encode())  # a stable 32-bit id: collisions among a corpus's terms are negligible


def term_weights(tokens: list[str]) -> qe.SparseVector:
    """BM25's term-frequency part of a passage: tf / (tf + k1 (1 - b + b dl / avgdl))."""
    length_norm = K1 * (1 - B + B * len(tokens) / AVERAGE_PASSAGE_TOKENS)
    counts = Counter(_term(t) for t in tokens)
    return qe.SparseVector(list(counts), [tf / (tf + length_norm) for tf in counts.values()])


def query_terms(tokens: list[str]) -> qe.SparseVector:
    counts = Counter(_term(t) for t in tokens)  # a word asked twice counts twice, as in BM25
    return qe.SparseVector(list(counts), [float(n) for n in counts.values()])


def record_number(document: Document) -> str:
    # a document's key ends in the record or batch number it is, e.g. "deviation_report:DEV-2024-031"
    return document.document_key.rsplit(":", 1)[-1].lower()


class KeywordIndex:
    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        if any(path.iterdir()):
            self.shard = qe.EdgeShard.load(str(path))
        else:
            config = qe.EdgeConfig(sparse_vectors={_VECTOR: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)})
            self.shard = qe.EdgeShard.create(str(path), config)
            for field in _KEYWORD_FIELDS:
                self.shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))
            self.shard.update(qe.UpdateOperation.create_field_index("date", qe.PayloadSchemaType.Integer))

    @classmethod
    def opened(cls, path: Path) -> "KeywordIndex":
        """The shard in `path`; one that cannot be opened is moved aside (kept) and started anew, to be
        filled from the records."""
        try:
            return cls(path)
        except Exception as exc:
            if "WouldBlock" in str(exc):
                raise
            aside = path.with_name(f"{path.name}.damaged-{datetime.now(UTC):%Y%m%dT%H%M%S}")
            log.warning("the keyword index in %s cannot be opened (%s); moved to %s, rebuilt from the records",
                        path, exc, aside)  # fmt: skip
            shutil.move(path, aside)
            return cls(path)

    # --- writing ------------------------------------------------------------------------------

    def add(self, rows: list[tuple[Chunk, Document]], payloads: list[ChunkPayload]) -> None:
        """Index passages (a point per passage, replaced if there): written to the shard's write-ahead log,
        readable at once."""
        for start in range(0, len(rows), _BATCH):
            points = []
            for (chunk, doc), payload in zip(rows[start : start + _BATCH], payloads[start : start + _BATCH]):
                extra = {"identifiers": sorted({i.lower() for i in identifiers_in(chunk.text)}),
                         "record": record_number(doc)}  # fmt: skip
                vector = {_VECTOR: term_weights(tokenize(passage_text(chunk, doc)))}
                points.append(qe.Point(chunk.id, vector, payload.model_dump() | extra))
            self.shard.update(qe.UpdateOperation.upsert_points(points))

    def delete_document(self, document_id: str) -> None:
        self.shard.update(qe.UpdateOperation.delete_points_by_filter(by_document(document_id)))

    def set_status(self, document_id: str, status: DocumentStatus) -> None:
        self.shard.update(qe.UpdateOperation.set_payload_by_filter(by_document(document_id), {"status": status.value}))

    def delete_points(self, ids: list[str]) -> None:
        if ids:
            self.shard.update(qe.UpdateOperation.delete_points(ids))

    def flush(self) -> None:
        self.shard.flush()

    def close(self) -> None:
        self.shard.flush()
        self.shard.close()

    # --- reading ------------------------------------------------------------------------------

    def count(self) -> int:
        return self.shard.count(qe.CountRequest(exact=True))

    def points(self) -> dict[str, tuple[str, str]]:
        """Every point: id -> (document_id, status)."""
        return point_ids(self.shard)

    def search(self, query: str, limit: int, filters: SearchFilters) -> list[tuple[str, float]]:
        tokens = tokenize(query)
        if not tokens:
            return []
        request = qe.QueryRequest(query=qe.Query.Nearest(query_terms(tokens), using=_VECTOR), limit=limit,
                                  filter=engine_filter(filters))  # fmt: skip
        return [(str(p.id), p.score) for p in self.shard.query(request) if p.score > 0]

    def carriers(self, chunk_ids: list[str], identifiers: list[str]) -> dict[str, list[str]]:
        """Of these passages, those whose text carries one of the record or batch numbers: id -> numbers."""
        found: dict[str, list[str]] = {}
        for record in self.shard.retrieve(chunk_ids, True, False) if chunk_ids and identifiers else []:
            carried = set(record.payload.get("identifiers", []))
            names = [i for i in identifiers if i.lower() in carried]
            if names:
                found[str(record.id)] = names
        return found

    def record_passages(self, identifier: str, filters: SearchFilters) -> list[str]:
        """The passages of the documents that are the named record (the report DEV-2024-031, batch 24-017's
        record), within the filters."""
        condition = engine_filter(filters, qe.FieldCondition(key="record", match=qe.MatchValue(identifier.lower())))
        out, offset = [], None
        while True:
            records, offset = self.shard.scroll(qe.ScrollRequest(offset=offset, limit=1024, filter=condition))
            out += [str(r.id) for r in records]
            if offset is None:
                return out
