"""A principal's view of the corpus: its record store narrowed (core.scope) and its search hits too."""

from core.auth import Principal
from core.scope import ScopedStore
from core.search import SearchFilters, SearchHit
from retrieval.corpus import Corpus
from retrieval.hybrid import SearchMode

_OVERFETCH = 5  # hits asked for per hit wanted: the ones outside the view are dropped after ranking


class ScopedCorpus:
    def __init__(self, corpus: Corpus, principal: Principal):
        self._corpus, self.principal = corpus, principal
        self.store = ScopedStore(corpus.store, principal)

    def __getattr__(self, name):  # adding documents and the rest: the corpus's own
        return getattr(self._corpus, name)

    def search(
        self, query: str, filters: SearchFilters | None = None, limit: int = 10, mode: SearchMode = SearchMode.HYBRID
    ) -> list[SearchHit]:
        hits = self._corpus.search(query, filters, limit * _OVERFETCH, mode)
        kept = [h for h in hits if self.principal.sees(h.programs, h.sites)][:limit]
        return [h.model_copy(update={"rank": n}) for n, h in enumerate(kept, start=1)]


def scoped(corpus: Corpus, principal: Principal) -> Corpus | ScopedCorpus:
    return ScopedCorpus(corpus, principal) if principal.scoped else corpus
