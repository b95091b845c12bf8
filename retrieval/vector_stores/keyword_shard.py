"""The keyword index: BM25 (retrieval/keyword.py) as sparse vectors in a Qdrant Edge shard, updated per document.

The engine multiplies each passage's term weights by the term's IDF over the shard at query time (Qdrant's
IDF modifier is BM25's own, ln(1 + (N - n + 0.5) / (n + 0.5))), so adding a document costs its own passages
only and nothing is rebuilt on the search path. Filters (site, program, kind, date, status) are applied in
the engine, before the top-k cut, as for the dense vectors; each point's payload also lists the record and
batch numbers its passage carries and the record its document is.

The records are the authority: the shard is derived from them alone (no embedding), so a missing, stale or
unreadable one is rebuilt from them when the corpus opens (Corpus.sync_keywords).
"""

import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import qdrant_edge as qe

from core.documents import Chunk, Document, DocumentStatus
from core.errors import StoreBusyError
from core.search import SearchFilters
from retrieval.keyword import passage_identifiers, passage_weights, query_weights, record_number
from retrieval.vector_stores import ChunkPayload
from retrieval.vector_stores.qdrant_edge import KEYWORD_FIELDS, by_document, engine_filter, open_shard, point_ids, scrolled

log = logging.getLogger(__name__)

_VECTOR = "bm25"
_BATCH = 2048


class KeywordIndex:
    def __init__(self, path: Path):
        config = qe.EdgeConfig(sparse_vectors={_VECTOR: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)})
        self.shard = open_shard(path, config, (*KEYWORD_FIELDS, "identifiers", "record"))

    @classmethod
    def opened(cls, path: Path) -> "KeywordIndex":
        """The shard in `path`; one that cannot be opened is moved aside (kept) and started anew, to be
        filled from the records."""
        try:
            return cls(path)
        except StoreBusyError:
            raise
        except Exception as exc:
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
                extra = {"identifiers": passage_identifiers(chunk), "record": record_number(doc)}
                vector = {_VECTOR: qe.SparseVector(*passage_weights(chunk, doc))}
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

    def damaged(self, rows: list[tuple[Chunk, Document]]) -> list[str]:
        """Of these passages, those whose stored point is not what their records make of them: other term weights,
        or other record and batch numbers (bytes overwritten, a point written by another build)."""
        found = []
        for start in range(0, len(rows), _BATCH):
            batch = {c.id: (c, d) for c, d in rows[start : start + _BATCH]}
            stored = {str(r.id): r for r in self.shard.retrieve(list(batch), True, True)}
            for chunk_id, (chunk, doc) in batch.items():
                if chunk_id in stored and not _same(stored[chunk_id], chunk, doc):
                    found.append(chunk_id)
        return found

    def search(self, query: str, limit: int, filters: SearchFilters) -> list[tuple[str, float]]:
        terms, weights = query_weights(query)
        if not terms:
            return []
        request = qe.QueryRequest(query=qe.Query.Nearest(qe.SparseVector(terms, weights), using=_VECTOR), limit=limit,
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
        return [str(r.id) for r in scrolled(self.shard, condition)]


def _same(record, chunk: Chunk, doc: Document) -> bool:
    vector = (record.vector or {}).get(_VECTOR)
    if vector is None:
        return False
    terms, weights = passage_weights(chunk, doc)
    kept = dict(zip(vector.indices, vector.values))
    payload = record.payload or {}
    return (
        kept.keys() == set(terms)
        and all(abs(kept[t] - w) < 1e-4 for t, w in zip(terms, weights))
        and payload.get("identifiers") == passage_identifiers(chunk)
        and payload.get("record") == record_number(doc)
    )
