"""Qdrant through qdrant-client: its in-process local mode on disk, or a server/cluster by URL."""

from pathlib import Path

import numpy as np
from qdrant_client import QdrantClient, models

from core.documents import DocumentStatus
from core.errors import StoreBusyError
from core.search import SearchFilters
from retrieval.vector_stores import ChunkPayload, date_key


class QdrantClientStore:
    def __init__(self, dimension: int, collection: str, path: Path | None = None, url: str | None = None, api_key=None):
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            try:
                self.client = QdrantClient(path=str(path))
            except RuntimeError as exc:
                if "already accessed" in str(exc):
                    raise StoreBusyError(str(path)) from exc
                raise
        else:
            self.client = QdrantClient(url=url, api_key=api_key, timeout=30)
        self.collection = collection
        if not self.client.collection_exists(collection):
            self.client.create_collection(
                collection, vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE)
            )
            if url:  # payload indexes matter on a server; local mode ignores them
                for field, schema in [
                    ("document_id", models.PayloadSchemaType.KEYWORD),
                    ("sites", models.PayloadSchemaType.KEYWORD),
                    ("programs", models.PayloadSchemaType.KEYWORD),
                    ("kind", models.PayloadSchemaType.KEYWORD),
                    ("status", models.PayloadSchemaType.KEYWORD),
                    ("date", models.PayloadSchemaType.INTEGER),
                ]:
                    self.client.create_payload_index(collection, field, schema)

    def upsert(self, ids: list[str], vectors: np.ndarray, payloads: list[ChunkPayload]) -> None:
        for start in range(0, len(ids), 512):
            self.client.upsert(
                self.collection,
                points=[
                    models.PointStruct(id=i, vector=v.tolist(), payload=p.model_dump())
                    for i, v, p in zip(ids[start : start + 512], vectors[start : start + 512], payloads[start : start + 512])
                ],
                wait=True,
            )

    def delete_document(self, document_id: str) -> None:
        self.client.delete(self.collection, points_selector=models.FilterSelector(filter=_doc(document_id)), wait=True)

    def set_status(self, document_id: str, status: DocumentStatus) -> None:
        self.client.set_payload(self.collection, payload={"status": status.value}, points=_doc(document_id), wait=True)

    def search(self, vector: np.ndarray, limit: int, filters: SearchFilters) -> list[tuple[str, float]]:
        result = self.client.query_points(
            self.collection, query=vector.tolist(), query_filter=_filter(filters), limit=limit, with_payload=False
        )
        return [(str(p.id), p.score) for p in result.points]

    def count(self) -> int:
        return self.client.count(self.collection, exact=True).count

    def points(self) -> dict[str, tuple[str, str]]:
        out, offset = {}, None
        while True:
            records, offset = self.client.scroll(self.collection, offset=offset, limit=1024, with_payload=True)
            for r in records:
                out[str(r.id)] = (r.payload.get("document_id"), r.payload.get("status"))
            if offset is None:
                return out

    def vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        records = self.client.retrieve(self.collection, ids, with_vectors=True) if ids else []
        return {str(r.id): np.asarray(r.vector, dtype=np.float32) for r in records}

    def delete_points(self, ids: list[str]) -> None:
        if ids:
            self.client.delete(self.collection, points_selector=models.PointIdsList(points=ids), wait=True)

    def close(self) -> None:
        self.client.close()


def _doc(document_id: str) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key="document_id", match=models.MatchValue(value=document_id))])


def _filter(f: SearchFilters) -> models.Filter | None:
    must = []
    if not f.include_superseded:
        must.append(models.FieldCondition(key="status", match=models.MatchValue(value=DocumentStatus.CURRENT.value)))
    if f.site:
        must.append(models.FieldCondition(key="sites", match=models.MatchAny(any=[f.site])))
    if f.program:
        must.append(models.FieldCondition(key="programs", match=models.MatchAny(any=[f.program])))
    if f.kind:
        must.append(models.FieldCondition(key="kind", match=models.MatchValue(value=f.kind.value)))
    if f.since:
        must.append(models.FieldCondition(key="date", range=models.Range(gte=date_key(f.since))))
    return models.Filter(must=must) if must else None
