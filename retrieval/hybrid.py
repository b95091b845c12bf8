"""Hybrid search: dense and BM25 scores fused, with exact identifiers.

Fusion is a weighted sum of each retriever's scores min-max normalized over its candidates
("relative score fusion"). Reciprocal rank fusion was measured too (eval/README.md): it rewards
passages both retrievers half-like over the one BM25 ranks first, and lost to BM25 alone here.

A query that names a record or batch number ("DEV-2024-031", "24-017") gives a bonus to that
record's own passages (the deviation report DEV-2024-031, the batch record of 24-017, all of whose
passages count, since its table rows need not repeat the number) and to passages of other documents
that mention it. The record's best passage is then put first, so that naming a record always finds
it first, without its other passages crowding out the answer.
"""

from core.search import SearchFilters
from retrieval.vector_stores.keyword_shard import KeywordIndex


def relative_score_fusion(weighted: list[tuple[float, list[tuple[str, float]]]]) -> dict[str, float]:
    """Sum of weight x (score - min) / (max - min) over each ranking's candidates."""
    fused: dict[str, float] = {}
    for weight, ranking in weighted:
        if not ranking:
            continue
        scores = [s for _, s in ranking]
        low, high = min(scores), max(scores)
        for chunk_id, score in ranking:
            normalized = (score - low) / (high - low) if high > low else 1.0
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight * normalized
    return fused


class IdentifierMatches:
    """The passages a query's record and batch numbers point at, within the filters.

    Own passages are every passage of the named records. Mentions are looked for among the
    retrievers' candidates only: a number named in thousands of passages must not cost thousands
    of lookups, and a passage neither retriever found is no answer however often it names it.
    """

    def __init__(self, identifiers: list[str], keyword: KeywordIndex, filters: SearchFilters, candidates: list[str]):
        self.carried: dict[str, list[str]] = {}  # chunk id -> the identifiers that point at it
        self.own: set[str] = set()  # passages of the named records themselves
        self.mentions: set[str] = set()  # candidate passages that carry a named number
        for ident in identifiers:
            for chunk_id in keyword.record_passages(ident, filters):
                self._add(self.own, chunk_id, ident)
        for chunk_id, named in keyword.carriers(candidates, identifiers).items():
            for ident in named:
                self._add(self.mentions, chunk_id, ident)

    def _add(self, group: set[str], chunk_id: str, ident: str) -> None:
        group.add(chunk_id)
        names = self.carried.setdefault(chunk_id, [])
        if ident not in names:
            names.append(ident)

    def add_bonus(self, scores: dict[str, float], bonus: float) -> dict[str, float]:
        """The bonus once for a passage that carries a named number or belongs to the named record."""
        boosted = dict(scores)
        for chunk_id in self.own | self.mentions:
            boosted[chunk_id] = boosted.get(chunk_id, 0.0) + bonus
        return boosted

    def pin_best_own(self, top: list[str], scores: dict[str, float]) -> list[str]:
        if not self.own or (top and top[0] in self.own):
            return top
        best = max(self.own, key=lambda cid: scores.get(cid, 0.0))
        return [best] + [cid for cid in top if cid != best][: max(len(top) - 1, 0)]

