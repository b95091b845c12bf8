"""Records for a search request and its ranked, cited passages."""

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, Field

from core.documents import BlockKind, DocumentKind


class SearchMode(StrEnum):
    HYBRID = "hybrid"
    DENSE = "dense"
    BM25 = "bm25"


class SearchFilters(BaseModel):
    site: str | None = None
    program: str | None = None
    kind: DocumentKind | None = None
    since: date | None = Field(None, description="Documents dated on or after this day")
    include_superseded: bool = False


class SearchHit(BaseModel):
    rank: int
    score: float
    chunk_id: str
    document_id: str
    title: str
    filename: str
    kind: DocumentKind
    sites: list[str]
    programs: list[str]
    page: int
    start: int
    end: int
    section: str
    block_kind: BlockKind
    text: str
    matched_identifiers: list[str] = Field(default_factory=list)
