"""A principal's view of the corpus: its record store narrowed (core.scope) and its search hits too."""

from core.auth import Principal
from core.passages import PassagePrograms, mask
from core.scope import ScopedStore, readable
from core.search import SearchFilters, SearchHit, SearchMode
from retrieval.corpus import Corpus

_OVERFETCH = 5  # hits asked for per hit wanted: the ones outside the view are dropped after ranking


class ScopedCorpus:
    def __init__(self, corpus: Corpus, principal: Principal, passages: PassagePrograms | None = None):
        self._corpus, self.principal = corpus, principal
        self.store = ScopedStore(corpus.store, principal, passages)

    def __getattr__(self, name):  # adding documents and the rest: the corpus's own
        return getattr(self._corpus, name)

    def search(
        self, query: str, filters: SearchFilters | None = None, limit: int = 10, mode: SearchMode = SearchMode.HYBRID
    ) -> list[SearchHit]:
        hits = self._corpus.search(query, filters, limit * _OVERFETCH, mode)
        # the documents as this view lists them (titles, programs), read once; those it cannot see are absent
        documents = self.store.documents_by_id(list({h.document_id for h in hits}))
        kept = []
        for hit in hits:
            if (doc := documents.get(hit.document_id)) is None:
                continue
            text = mask(hit.text, self.store.withheld(hit.document_id).get(hit.page, []), hit.start)
            if readable(text):  # a passage all about another program is not a hit
                # an identifier the hit carries only in words this view may not read is not named to it
                shown = [i for i in hit.matched_identifiers if i.lower() in text.lower()]
                update = {"rank": len(kept) + 1, "text": text, "programs": doc.metadata.programs, "title": doc.title,
                          "filename": doc.filename, "section": self.store.masked(hit.section),
                          "matched_identifiers": shown}  # fmt: skip
                kept.append(hit.model_copy(update=update))
            if len(kept) == limit:
                break
        return kept


def scoped(corpus: Corpus, principal: Principal, passages: PassagePrograms | None = None) -> Corpus | ScopedCorpus:
    return ScopedCorpus(corpus, principal, passages) if principal.scoped else corpus
