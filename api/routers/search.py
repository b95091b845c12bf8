"""Hybrid passage search with filters."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import get_corpus
from core.documents import DocumentKind
from core.search import SearchFilters, SearchHit, SearchMode
from retrieval.corpus import Corpus

router = APIRouter(tags=["search"])


@router.get("/search", response_model=list[SearchHit])
def search(
    corpus: Annotated[Corpus, Depends(get_corpus)],
    q: Annotated[str, Query(min_length=1, max_length=2000, description="The question or keywords")],
    site: str | None = None,
    program: str | None = None,
    kind: DocumentKind | None = None,
    since: date | None = None,
    include_superseded: bool = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    mode: SearchMode = SearchMode.HYBRID,
):
    filters = SearchFilters(site=site, program=program, kind=kind, since=since, include_superseded=include_superseded)
    return corpus.search(q, filters, limit=limit, mode=mode)
