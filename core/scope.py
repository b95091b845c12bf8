"""A principal's view of the record store: only documents of its programs and sites, and what hangs off them.

Every read that can return a document, a passage, a table, an analysis, a finding or a chat answer is
narrowed here, once, so that the API, chat, search, risk, readiness and the digest all see the same
subset. A document outside the view reads as absent (not found), never as forbidden: its existence is
not disclosed either. Writes and anything not listed pass through unchanged.

A document the view may read can still hold passages about programs outside it (a quality agreement or a
business review covering two programs): core.passages finds them, and they are masked wherever text
leaves the store (pages, chunks, tables, OCR words and images, quotes in analyses), offsets unchanged.
"""

import io
import re
import sys
from collections.abc import Callable

from core.analysis import Analysis, FindingRow, VersionReview
from core.auth import Principal
from core.chat import ChatTurn
from core.documents import Chunk, Document, DocumentDetail, Page, PageScan
from core.errors import NotFoundError
from core.evidence import Evidence
from core.passages import MASK, PassagePrograms, Span, mask, overlaps
from core.portfolio import Portfolio
from core.store import RecordStore
from core.tables import Table


class ScopedStore:
    def __init__(self, store: RecordStore, principal: Principal, passages: PassagePrograms | None = None):
        self._store, self.principal = store, principal
        self._visible: dict[str, bool] = {}
        # passages are withheld only from a view narrowed by program
        self._passages = passages if principal.programs is not None else None
        self._allowed = set(principal.programs or ())

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

    def withheld(self, document_id: str) -> dict[int, list[Span]]:
        """Per page, the spans of the document this view must not show."""
        return self._passages.withheld(document_id, self._allowed) if self._passages else {}

    def _own(self, programs: list[str]) -> list[str]:
        return [p for p in programs if p in self._allowed]

    def _own_product(self, product: str | None) -> bool:
        return product is not None and self._passages.names(product) <= self._allowed

    def _narrowed(self, doc: Document) -> Document:
        """The document as listed to this view: without the programs (and their products, records and batches)
        outside it; its title and file name with what names another program masked."""
        if self._passages is None:
            return doc
        meta = doc.metadata
        metadata = meta.model_copy(update={
            "programs": self._own(meta.programs),
            "products": [p for p in meta.products if self._own_product(p)],
            "batch_ids": self._own_ids(meta.batch_ids, doc.id),
            "document_ids": self._own_ids(meta.document_ids, doc.id),
        })  # fmt: skip
        return doc.model_copy(update={"metadata": metadata, "title": self.masked(doc.title),
                                      "filename": self.masked(doc.filename)})  # fmt: skip

    def masked(self, text: str) -> str:
        """A title, file name or heading as this view may read it ("Minutes - HB-101/HB-240 weekly call")."""
        return self._passages.masked(text, self._allowed) if self._passages and text else text

    def _own_ids(self, ids: list[str], document_id: str) -> list[str]:
        """The record and batch numbers this view may see named: those its text of the document names where it
        can read it, and that belong to no program outside the view."""
        readable = self._passages.readable_identifiers(document_id, self._allowed)
        return [i for i in ids if i.upper() in readable and not self._passages.foreign(i, self._allowed)]

    def list_documents(self, *args, **kwargs) -> list[Document]:
        return [self._narrowed(d) for d in self._store.list_documents(*args, **kwargs) if self._sees(d)]

    def versions(self, document_key: str) -> list[Document]:
        return [self._narrowed(d) for d in self._store.versions(document_key) if self._sees(d)]

    def get(self, document_id: str) -> Document:
        doc = self._store.get(document_id)
        if not self._sees(doc):
            raise NotFoundError(f"no document {document_id}")
        return self._narrowed(doc)

    def detail(self, document_id: str) -> DocumentDetail:
        doc = self.get(document_id)
        detail = self._store.detail(document_id)
        withheld = self.withheld(document_id)
        return DocumentDetail(
            **doc.model_dump(),
            pages=[_masked_page(p, withheld) for p in detail.pages],
            chunks=[self._masked_chunk(c, withheld) for c in detail.chunks],
        )

    def documents_by_id(self, document_ids: list[str]) -> dict[str, Document]:
        return {k: self._narrowed(d) for k, d in self._store.documents_by_id(document_ids).items() if self._sees(d)}

    def chunks_by_id(self, chunk_ids: list[str]):
        found = self._store.chunks_by_id(chunk_ids)
        out = {}
        for key, chunk in found.items():
            if self.visible(chunk.document_id):
                chunk = self._masked_chunk(chunk, self.withheld(chunk.document_id))
                if readable(chunk.text):
                    out[key] = chunk
        return out

    def chunks_of(self, document_id: str) -> list[Chunk]:
        if not self.visible(document_id):
            return []
        withheld = self.withheld(document_id)
        masked = (self._masked_chunk(c, withheld) for c in self._store.chunks_of(document_id))
        return [c for c in masked if readable(c.text)]

    def iter_all_chunks(self):
        seen: dict[str, tuple[Document, dict[int, list[Span]]]] = {}  # per document, once
        for chunk, doc in self._store.iter_all_chunks():
            if not self._sees(doc):
                continue
            if doc.id not in seen:
                seen[doc.id] = self._narrowed(doc), self.withheld(doc.id)
            narrowed, withheld = seen[doc.id]
            chunk = self._masked_chunk(chunk, withheld)
            if readable(chunk.text):
                yield chunk, narrowed

    def pages(self, document_id: str) -> list[Page]:
        if not self.visible(document_id):
            return []
        withheld = self.withheld(document_id)
        return [_masked_page(p, withheld) for p in self._store.pages(document_id)]

    def page_text(self, document_id: str, number: int) -> str | None:
        if not self.visible(document_id):
            return None
        text = self._store.page_text(document_id, number)
        return None if text is None else mask(text, self.withheld(document_id).get(number, []))

    def page_scan(self, document_id: str, number: int) -> PageScan | None:
        scan = self._store.page_scan(document_id, number) if self.visible(document_id) else None
        spans = self.withheld(document_id).get(number) if scan else None
        if not spans:
            return scan
        words = [w.model_copy(update={"text": mask(w.text, spans, w.start)}) for w in scan.words]
        return scan.model_copy(update={"words": words})

    def original(self, document_id: str) -> bytes | None:
        """The file, where all of it is this view's (its pages would show what is withheld or masked)."""
        if not self.visible(document_id) or self.withheld(document_id):
            return None
        if self._passages is not None and set(self._store.get(document_id).metadata.programs) - set(self._allowed):
            return None
        return self._store.original(document_id)

    def page_image(self, document_id: str, number: int) -> bytes | None:
        image = self._store.page_image(document_id, number) if self.visible(document_id) else None
        spans = self.withheld(document_id).get(number) if image else None
        if not spans:
            return image
        scan = self._store.page_scan(document_id, number)
        return _blacked_out(image, [w for w in scan.words if overlaps(w.start, w.end, spans)] if scan else [])

    def tables(self, document_id: str) -> list[Table]:
        if not self.visible(document_id):
            return []
        withheld = self.withheld(document_id)
        return [_masked_table(t, withheld.get(t.page, [])) for t in self._store.tables(document_id)]

    def analysis(self, document_id: str) -> Analysis | None:
        analysis = self._store.analysis(document_id) if self.visible(document_id) else None
        return self._masked_analysis(analysis) if analysis else None

    def standing_analysis(self, document_id: str) -> Analysis | None:
        analysis = self._store.standing_analysis(document_id) if self.visible(document_id) else None
        return self._masked_analysis(analysis) if analysis else None

    def version_review(self, document_id: str) -> VersionReview | None:
        return self._store.version_review(document_id) if self.visible(document_id) else None

    def version_reviews(self, pending_only: bool = False) -> list[VersionReview]:
        return [r for r in self._store.version_reviews(pending_only) if self.visible(r.document_id)]

    def _counted(self, document_id: str, claims: dict[str, str]) -> bool:
        """Whether a document's readings count in this view: a document that carries another record's number
        without being it counts only where that record cannot be seen (there it is all the view knows of it)."""
        return self.visible(document_id) and (document_id not in claims or not self.visible(claims[document_id]))

    def list_analyses(self, *args, **kwargs) -> list[Analysis]:
        claims = self._store.claims()
        return [self._masked_analysis(a) for a in self._store.list_analyses(*args, **kwargs, claims=True)
                if self._counted(a.document_id, claims)]  # fmt: skip

    def list_findings(self, *args, **kwargs) -> list[FindingRow]:
        claims = self._store.claims()
        rows = [f.model_copy(update={"evidence": self._own_evidence(f.evidence)})
                for f in self._store.list_findings(*args, **kwargs, claims=True) if self._counted(f.document_id, claims)]  # fmt: skip
        if self._passages is None:
            return rows
        narrowed = []
        for f in rows:
            product = f.product if self._own_product(f.product) else None
            narrowed.append(f.model_copy(update={"programs": self._own(f.programs), "product": product,
                                                 "batch_ids": self._own_ids(f.batch_ids, f.document_id),
                                                 "summary": self.masked(f.summary)}))  # fmt: skip
        return narrowed

    def _own_evidence(self, evidence: Evidence | None) -> Evidence | None:
        """A quote as this view may read it: none from a document it does not see, withheld words masked."""
        if evidence is None or not self.visible(evidence.document_id):
            return None
        if not self.withheld(evidence.document_id):
            return evidence
        return Evidence.model_validate(_masked_payload(evidence.model_dump(mode="json"), self._spans_of(evidence.document_id)))

    def _spans_of(self, document_id: str) -> Callable[[str | None, int], list[Span]]:
        """What this view withholds on a page of the document a quote comes from (the analysed document unless the
        quote names another, as an event's lateness flag quotes its site's agreement): all of a page of a document
        it cannot see."""
        withheld: dict[str, dict[int, list[Span]]] = {}

        def spans(quoted: str | None, page: int) -> list[Span]:
            source = quoted or document_id
            if not self.visible(source):
                return [(0, sys.maxsize)]
            if source not in withheld:
                withheld[source] = self.withheld(source)
            return withheld[source].get(page, [])

        return spans

    def _masked_analysis(self, analysis: Analysis) -> Analysis:
        """Quotes from withheld passages masked; the programs and product it links to narrowed to the view."""
        payload = _masked_payload(analysis.payload, self._spans_of(analysis.document_id))
        if self._passages is None:
            return analysis.model_copy(update={"payload": payload})
        if "programs" in payload:
            payload["programs"] = self._own(payload["programs"])
        if payload.get("product") and not self._own_product(payload["product"]):
            payload["product"] = None
        for field in ("title", "filename"):
            if isinstance(payload.get(field), str):
                payload[field] = self.masked(payload[field])
        for field in ("batch_ids", "record_ids"):
            if isinstance(payload.get(field), list):
                payload[field] = self._own_ids(payload[field], analysis.document_id)
        return analysis.model_copy(update={"payload": payload, "programs": self._own(analysis.programs),
                                           "batch_ids": self._own_ids(analysis.batch_ids, analysis.document_id)})  # fmt: skip

    def _masked_chunk(self, chunk, withheld: dict[int, list[Span]]):
        chunk = _masked_chunk(chunk, withheld)
        return chunk.model_copy(update={"section": self.masked(chunk.section)}) if chunk.section else chunk

    def chat_sessions(self, owner: str | None, limit: int = 50) -> list[ChatTurn]:
        """The owner's sessions this view may still show (a narrowed scope hides those citing beyond it)."""
        return [t for t in self._store.chat_sessions(owner, limit) if self.chat_turns(t.session_id)]

    def chat_turns(self, session_id: str) -> list[ChatTurn]:
        """A session's turns, unless one of its answers cites what this view does not hold."""
        turns = self._store.chat_turns(session_id)
        if any(not self.visible(c.document_id) for t in turns for c in t.answer.citations):
            return []
        return turns


def readable(text: str) -> bool:
    """Whether masking left a passage worth showing: three words or more."""
    return len(re.findall(r"\w+", text)) >= 3


def _masked_page(page: Page, withheld: dict[int, list[Span]]) -> Page:
    spans = withheld.get(page.number)
    return page.model_copy(update={"text": mask(page.text, spans)}) if spans else page


def _masked_chunk(chunk, withheld: dict[int, list[Span]]):
    spans = withheld.get(chunk.page)
    return chunk.model_copy(update={"text": mask(chunk.text, spans, chunk.start)}) if spans else chunk


def _masked_table(table: Table, spans: list[Span]) -> Table:
    if not spans or not overlaps(table.start, table.end, spans):
        return table

    def cell(c):
        if not any(overlaps(s, e, spans) for s, e in c.spans):
            return c
        return c.model_copy(update={"text": MASK * len(c.text)})

    rows = [r.model_copy(update={"cells": [cell(c) for c in r.cells]}) for r in table.rows]
    return table.model_copy(update={"header": [cell(c) for c in table.header], "rows": rows})


_QUOTED_FIELDS = ("text", "action")  # what a Quoted value or a CAPA says, read from its evidence


def _masked_payload(value, spans_of: Callable[[str | None, int], list[Span]]):
    """A stored review or event (JSON) with every quote from a withheld passage masked, and the value read
    from it (a description, a root cause, a CAPA's action) too. `spans_of(document, page)`: what is withheld
    on the page a quote comes from."""
    if isinstance(value, list):
        return [_masked_payload(v, spans_of) for v in value]
    if not isinstance(value, dict):
        return value
    if {"page", "start", "end", "quote"} <= value.keys():
        spans = spans_of(value.get("document_id"), value["page"])
        if overlaps(value["start"], value["end"], spans):
            return {**value, "quote": mask(value["quote"], spans, value["start"])}
        return value
    out = {k: _masked_payload(v, spans_of) for k, v in value.items()}
    evidence = out.get("evidence")
    quotes = evidence if isinstance(evidence, list) else [evidence] if isinstance(evidence, dict) else []
    if any(MASK in (q.get("quote") or "") for q in quotes):
        for field in _QUOTED_FIELDS:
            if isinstance(out.get(field), str):
                out[field] = re.sub(r"\S", MASK, out[field])
    return out


def _blacked_out(jpeg: bytes, words) -> bytes:
    """The page image with the withheld words painted over (boxes are fractions of the image)."""
    from PIL import Image, ImageDraw

    image = Image.open(io.BytesIO(jpeg)).convert("RGB")
    draw = ImageDraw.Draw(image)
    width, height = image.size
    for w in words:
        box = (w.left * width - 2, w.top * height - 2, (w.left + w.width) * width + 2, (w.top + w.height) * height + 2)
        draw.rectangle(box, fill=(0, 0, 0))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


def scoped_portfolio(portfolio: Portfolio, principal: Principal) -> Portfolio:
    """The sites and programs the principal may see."""
    return portfolio.model_copy(
        update={
            "sites": [s for s in portfolio.sites if principal.sites is None or s.id in principal.sites],
            "programs": [p for p in portfolio.programs if principal.programs is None or p.id in principal.programs],
        }
    )
