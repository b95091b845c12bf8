"""One vector-store interface; an adapter per Qdrant engine, chosen by settings.

Payloads carry what filters need (site, program, kind, document date, status) so that filtering
happens inside the engine, before the top-k cut, not after it.
"""

from typing import Protocol

import numpy as np
from pydantic import BaseModel

from core.config import Settings, VectorEngine
from core.documents import DocumentStatus
from core.search import SearchFilters


class ChunkPayload(BaseModel):
    document_id: str
    sites: list[str]
    programs: list[str]
    kind: str
    date: int  # yyyymmdd of the document date, 0 when unknown
    status: str


class VectorStore(Protocol):
    def upsert(self, ids: list[str], vectors: np.ndarray, payloads: list[ChunkPayload]) -> None: ...

    def delete_document(self, document_id: str) -> None: ...

    def set_status(self, document_id: str, status: DocumentStatus) -> None: ...

    def search(self, vector: np.ndarray, limit: int, filters: SearchFilters) -> list[tuple[str, float]]:
        """(chunk id, similarity) pairs, best first."""

    def count(self) -> int: ...

    def points(self) -> dict[str, tuple[str, str]]:
        """Every point: id -> (document_id, status); for the consistency check."""
        ...

    def delete_points(self, ids: list[str]) -> None: ...

    def vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """The stored vectors of these points (those found), to check them against the records."""
        ...

    def close(self) -> None: ...


def date_key(value) -> int:
    return int(value.strftime("%Y%m%d")) if value else 0


def open_vector_store(settings: Settings, dimension: int) -> VectorStore:
    if settings.vector_engine == VectorEngine.EDGE:
        from retrieval.vector_stores.qdrant_edge import QdrantEdgeStore

        return QdrantEdgeStore(settings.vectors_path, dimension)
    from retrieval.vector_stores.qdrant_client import QdrantClientStore

    if settings.vector_engine == VectorEngine.SERVER:
        if not settings.qdrant_url:
            raise ValueError("CDMO_VECTOR_ENGINE=server needs CDMO_QDRANT_URL")
        return QdrantClientStore(
            dimension, settings.collection, url=settings.qdrant_url, api_key=settings.qdrant_api_key
        )
    return QdrantClientStore(dimension, settings.collection, path=settings.vectors_path)
