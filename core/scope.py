"""A principal's view of the record store: only documents of its programs and sites, and what hangs off them.

Every read that can return a document, a passage, a table, an analysis, a finding or a chat answer is
narrowed here, once, so that the API, chat, search, risk, readiness and the digest all see the same
subset. A document outside the view reads as absent (not found), never as forbidden: its existence is
not disclosed either. Writes and anything not listed pass through unchanged.
"""

from core.analysis import Analysis, FindingRow
from core.auth import Principal
from core.chat import ChatTurn
from core.documents import Document, DocumentDetail, Page, PageScan
from core.errors import NotFoundError
from core.portfolio import Portfolio
from core.store import RecordStore
from core.tables import Table


class ScopedStore:
    def __init__(self, store: RecordStore, principal: Principal):
        self._store, self.principal = store, principal
        self._visible: dict[str, bool] = {}

    def __getattr__(self, name):  # writes and the rest: the store's own
        return getattr(self._store, name)

    def visible(self, document_id: str) -> bool:
        if document_id not in self._visible:
            try:
                doc = self._store.get(document_id)
            except NotFoundError:
                return False
            self._visible[document_id] = self.principal.sees(doc.metadata.programs, doc.metadata.sites)
        return self._visible[document_id]

    def _sees(self, doc: Document) -> bool:
        return self.principal.sees(doc.metadata.programs, doc.metadata.sites)

    def list_documents(self, *args, **kwargs) -> list[Document]:
        return [d for d in self._store.list_documents(*args, **kwargs) if self._sees(d)]

    def versions(self, document_key: str) -> list[Document]:
        return [d for d in self._store.versions(document_key) if self._sees(d)]

    def get(self, document_id: str) -> Document:
        doc = self._store.get(document_id)
        if not self._sees(doc):
            raise NotFoundError(f"no document {document_id}")
        return doc

    def detail(self, document_id: str) -> DocumentDetail:
        self.get(document_id)
        return self._store.detail(document_id)

    def documents_by_id(self, document_ids: list[str]) -> dict[str, Document]:
        return {k: d for k, d in self._store.documents_by_id(document_ids).items() if self._sees(d)}

    def chunks_by_id(self, chunk_ids: list[str]):
        return {k: c for k, c in self._store.chunks_by_id(chunk_ids).items() if self.visible(c.document_id)}

    def iter_all_chunks(self):
        return ((c, d) for c, d in self._store.iter_all_chunks() if self._sees(d))

    def pages(self, document_id: str) -> list[Page]:
        return self._store.pages(document_id) if self.visible(document_id) else []

    def page_text(self, document_id: str, number: int) -> str | None:
        return self._store.page_text(document_id, number) if self.visible(document_id) else None

    def page_scan(self, document_id: str, number: int) -> PageScan | None:
        return self._store.page_scan(document_id, number) if self.visible(document_id) else None

    def page_image(self, document_id: str, number: int) -> bytes | None:
        return self._store.page_image(document_id, number) if self.visible(document_id) else None

    def tables(self, document_id: str) -> list[Table]:
        return self._store.tables(document_id) if self.visible(document_id) else []

    def analysis(self, document_id: str) -> Analysis | None:
        return self._store.analysis(document_id) if self.visible(document_id) else None

    def list_analyses(self, *args, **kwargs) -> list[Analysis]:
        return [a for a in self._store.list_analyses(*args, **kwargs) if self.visible(a.document_id)]

    def list_findings(self, *args, **kwargs) -> list[FindingRow]:
        return [f for f in self._store.list_findings(*args, **kwargs) if self.visible(f.document_id)]

    def chat_turns(self, session_id: str) -> list[ChatTurn]:
        """A session's turns, unless one of its answers cites what this view does not hold."""
        turns = self._store.chat_turns(session_id)
        if any(not self.visible(c.document_id) for t in turns for c in t.answer.citations):
            return []
        return turns


def scoped_portfolio(portfolio: Portfolio, principal: Principal) -> Portfolio:
    """The sites and programs the principal may see."""
    return portfolio.model_copy(
        update={
            "sites": [s for s in portfolio.sites if principal.sites is None or s.id in principal.sites],
            "programs": [p for p in portfolio.programs if principal.programs is None or p.id in principal.programs],
        }
    )
