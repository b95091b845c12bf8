"""Hybrid search: dense and BM25 rankings fused by reciprocal rank, then exact identifiers first.

A query that names a record or batch number ("DEV-2024-031", "24-017") puts that record's own
passages ahead of everything else (the deviation report DEV-2024-031, the batch record of 24-017:
every passage of it, since its table rows need not repeat the number), then passages of other
documents that mention it; each group in fused order.
"""

from enum import StrEnum

from core.documents import Document
from core.search import SearchFilters
from retrieval.keyword import KeywordIndex


class SearchMode(StrEnum):
    HYBRID = "hybrid"
    DENSE = "dense"
    BM25 = "bm25"


OWN_RECORD_BONUS = 2.0
MENTION_BONUS = 1.0  # both far above any fused score (at most 2 / (rrf_k + 1))


def reciprocal_rank_fusion(rankings: list[list[tuple[str, float]]], k: int) -> dict[str, float]:
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (k + rank)
    return fused


def identifier_bonus(
    identifiers: list[str], keyword: KeywordIndex, filters: SearchFilters, documents: dict[str, Document]
) -> dict[str, tuple[float, list[str]]]:
    """Chunk id -> (bonus, identifiers) for the named records' own passages and for passages naming them.

    `documents` holds the documents of the passages that name an identifier.
    """
    bonus: dict[str, tuple[float, list[str]]] = {}

    def give(row: int, value: float, ident: str) -> None:
        chunk_id = keyword.chunk_ids[row]
        old, names = bonus.get(chunk_id, (0.0, []))
        bonus[chunk_id] = (max(old, value), names if ident in names else names + [ident])

    for ident in identifiers:
        naming = keyword.rows_naming(ident, filters)
        own_documents = {
            doc.id
            for doc in (documents.get(keyword.document_ids[r]) for r in naming)
            if doc is not None and _is_own_record(doc, ident)
        }
        for row in naming:
            give(row, MENTION_BONUS, ident)
        for document_id in own_documents:
            for row in keyword.rows_of_document(document_id, filters):
                give(row, OWN_RECORD_BONUS, ident)
    return bonus


def _is_own_record(doc: Document, ident: str) -> bool:
    return doc.document_key.lower().endswith(":" + ident.lower())
