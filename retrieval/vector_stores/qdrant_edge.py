"""Qdrant Edge: Qdrant's engine in-process (HNSW, payload indexes), persisted in a folder.

Every update goes to the shard's write-ahead log before it returns, and the log is replayed when the shard
is loaded, so an update survives the process being killed without a flush; segments are flushed when the
store closes (a flush per file was 4 % of ingestion time)."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import qdrant_edge as qe

from core.documents import DocumentStatus
from core.errors import StoreBusyError
from core.search import SearchFilters
from retrieval.vector_stores import ChunkPayload, date_key

# the payload fields search filters on (with "date", an integer); a shard may index more
KEYWORD_FIELDS = ("document_id", "sites", "programs", "kind", "status")
# Edge appends to plain (brute-force) segments and builds HNSW only when asked; ask once this many
# points are waiting, so that a growing corpus keeps its search fast.
UNINDEXED_LIMIT = 20_000


def open_shard(path: Path, config: qe.EdgeConfig, keyword_fields: tuple[str, ...] = KEYWORD_FIELDS) -> qe.EdgeShard:
    """The shard in `path`, or a new one made with `config` and payload indexes on the fields filtered on;
    StoreBusyError when another process holds it."""
    path.mkdir(parents=True, exist_ok=True)
    if any(path.iterdir()):
        try:
            return qe.EdgeShard.load(str(path))
        except Exception as exc:
            if "WouldBlock" in str(exc):  # another process holds the write-ahead log's lock
                raise StoreBusyError(str(path)) from exc
            raise
    shard = qe.EdgeShard.create(str(path), config)
    for field in keyword_fields:
        shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))
    shard.update(qe.UpdateOperation.create_field_index("date", qe.PayloadSchemaType.Integer))
    return shard


class QdrantEdgeStore:
    def __init__(self, path: Path, dimension: int):
        config = qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=dimension, distance=qe.Distance.Cosine))
        self.shard = open_shard(path, config)

    def upsert(self, ids: list[str], vectors: np.ndarray, payloads: list[ChunkPayload]) -> None:
        for start in range(0, len(ids), 1024):
            points = [
                qe.Point(i, v.tolist(), p.model_dump())
                for i, v, p in zip(ids[start : start + 1024], vectors[start : start + 1024], payloads[start : start + 1024])
            ]
            self.shard.update(qe.UpdateOperation.upsert_points(points))
        info = self.shard.info()
        if info.points_count - info.indexed_vectors_count > UNINDEXED_LIMIT:
            self.optimize()

    def optimize(self) -> None:
        """Build the HNSW index over what was appended."""
        self.shard.optimize()

    def delete_document(self, document_id: str) -> None:
        self.shard.update(qe.UpdateOperation.delete_points_by_filter(by_document(document_id)))

    def set_status(self, document_id: str, status: DocumentStatus) -> None:
        self.shard.update(qe.UpdateOperation.set_payload_by_filter(by_document(document_id), {"status": status.value}))

    def search(self, vector: np.ndarray, limit: int, filters: SearchFilters) -> list[tuple[str, float]]:
        points = self.shard.query(
            qe.QueryRequest(query=qe.Query.Nearest(vector.tolist()), limit=limit, filter=engine_filter(filters))
        )
        return [(str(p.id), p.score) for p in points]

    def count(self) -> int:
        return self.shard.count(qe.CountRequest(exact=True))

    def points(self) -> dict[str, tuple[str, str]]:
        return point_ids(self.shard)

    def vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        records = self.shard.retrieve(ids, False, True) if ids else []
        return {str(r.id): np.asarray(r.vector, dtype=np.float32) for r in records}

    def delete_points(self, ids: list[str]) -> None:
        if ids:
            self.shard.update(qe.UpdateOperation.delete_points(ids))

    def close(self) -> None:
        self.shard.flush()
        self.shard.close()


def _match(key: str, value: str) -> qe.FieldCondition:
    # booleans are avoided on purpose: qdrant-edge-py 0.9 stores True but matches it as 1
    return qe.FieldCondition(key=key, match=qe.MatchValue(value))


def by_document(document_id: str) -> qe.Filter:
    return qe.Filter(must=[_match("document_id", document_id)])


def scrolled(shard: qe.EdgeShard, condition: qe.Filter | None = None, with_payload: bool = False) -> Iterator[qe.Record]:
    """Every point of a shard (that meets `condition`), a page at a time."""
    offset = None
    while True:
        records, offset = shard.scroll(qe.ScrollRequest(offset=offset, limit=1024, filter=condition, with_payload=with_payload))
        yield from records
        if offset is None:
            return


def point_ids(shard: qe.EdgeShard) -> dict[str, tuple[str, str]]:
    """Every point of a shard: id -> (document_id, status)."""
    return {str(r.id): (r.payload.get("document_id"), r.payload.get("status")) for r in scrolled(shard, with_payload=True)}


def engine_filter(f: SearchFilters, *extra: qe.FieldCondition) -> qe.Filter | None:
    """The search filters as the engine's conditions, with any `extra` ones."""
    must = list(extra)
    if not f.include_superseded:
        must.append(_match("status", DocumentStatus.CURRENT.value))
    if f.site:
        must.append(_match("sites", f.site))
    if f.program:
        must.append(_match("programs", f.program))
    if f.kind:
        must.append(_match("kind", f.kind.value))
    if f.since:
        must.append(qe.FieldCondition(key="date", range=qe.RangeFloat(gte=float(date_key(f.since)))))
    return qe.Filter(must=must) if must else None
