"""Upload, list and read documents."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response, UploadFile, status
from pydantic import BaseModel, Field

from api.audit import record_upload
from api.deps import RequestState, get_corpus, get_state, require
from api.ingest import failure, ingest_bytes, read_upload
from core.auth import Principal, Role
from core.documents import (
    Document,
    DocumentDetail,
    DocumentKind,
    IngestResult,
    IngestStatus,
    PageScan,
    UnreadablePage,
)
from core.errors import IngestError, NotFoundError
from core.tables import Table
from retrieval.corpus import Corpus

router = APIRouter(prefix="/documents", tags=["documents"])


@router.post("", response_model=list[IngestResult], status_code=status.HTTP_201_CREATED)
def upload_documents(
    files: list[UploadFile],
    response: Response,
    state: Annotated[RequestState, Depends(get_state)],
    _: Annotated[Principal, require(Role.REVIEWER)],
):
    """Ingest one or more files. Each gets its own result; a failure names the file and the reason.

    201 when something was added, 200 when every file was already there, 422 when every file failed.
    """
    results = [_ingest_upload(f, state) for f in files]
    for r in results:
        record_upload(state.app.corpus.store, state.principal, r)
    if all(r.status == IngestStatus.FAILED for r in results):
        response.status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    elif not any(r.status in (IngestStatus.ADDED, IngestStatus.NEW_VERSION) for r in results):
        response.status_code = status.HTTP_200_OK
    return results


def _ingest_upload(upload: UploadFile, state: RequestState) -> IngestResult:
    try:
        name, data = read_upload(upload, state.settings.max_file_bytes)
    except IngestError as exc:
        return failure(exc)
    return ingest_bytes(state.app.corpus, state.portfolio, name, data)  # written to the whole corpus


@router.get("", response_model=list[Document])
def list_documents(
    corpus: Annotated[Corpus, Depends(get_corpus)],
    kind: DocumentKind | None = None,
    site: str | None = None,
    program: str | None = None,
    include_superseded: bool = False,
):
    return corpus.store.list_documents(kind=kind, site=site, program=program, include_superseded=include_superseded)


class UnreadablePageOf(UnreadablePage):
    document_id: str
    filename: str


@router.get("/unreadable-pages", response_model=list[UnreadablePageOf])
def unreadable_pages(corpus: Annotated[Corpus, Depends(get_corpus)]):
    """Every page of a current document that gave no text (a failed scan, a blank page), with the reason."""
    return [
        UnreadablePageOf(document_id=d.id, filename=d.filename, **u.model_dump())
        for d in corpus.store.list_documents()
        for u in d.unreadable_pages
    ]


@router.get("/{document_id}", response_model=DocumentDetail)
def get_document(document_id: str, corpus: Annotated[Corpus, Depends(get_corpus)]):
    """Metadata, pages and chunks; superseded versions stay readable here."""
    try:
        return corpus.store.detail(document_id)
    except NotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no document {document_id}") from None


class PageText(BaseModel):
    document_id: str
    title: str
    filename: str
    number: int
    page_count: int
    text: str
    scan: PageScan | None = Field(None, description="For a page read by OCR: confidence and word boxes")
    image_url: str | None = Field(None, description="The page image the word boxes are drawn on")


@router.get("/{document_id}/pages/{number}", response_model=PageText)
def get_page(document_id: str, number: int, corpus: Annotated[Corpus, Depends(get_corpus)]):
    """One page's text: what a citation's start and end offsets point into."""
    try:
        doc = corpus.store.get(document_id)
    except NotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no document {document_id}") from None
    text = corpus.store.page_text(document_id, number)
    if text is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{doc.filename} has no page {number}")
    scan = corpus.store.page_scan(document_id, number)
    return PageText(
        document_id=doc.id,
        title=doc.title,
        filename=doc.filename,
        number=number,
        page_count=doc.page_count,
        text=text,
        scan=scan,
        image_url=f"/documents/{doc.id}/pages/{number}/image" if scan else None,
    )


@router.get(
    "/{document_id}/pages/{number}/image",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def get_page_image(document_id: str, number: int, corpus: Annotated[Corpus, Depends(get_corpus)]):
    """The straightened image of a scanned page, which its OCR word boxes refer to (fractions of its size)."""
    image = corpus.store.page_image(document_id, number)
    if image is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no scanned image of page {number} of {document_id}")
    return Response(image, media_type="image/jpeg")


@router.get("/{document_id}/tables", response_model=list[Table])
def get_tables(document_id: str, corpus: Annotated[Corpus, Depends(get_corpus)]):
    """The document's tables as rows and columns; each cell's spans point into its page's text."""
    try:
        corpus.store.get(document_id)
    except NotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no document {document_id}") from None
    return corpus.store.tables(document_id)


@router.get("/{document_id}/versions", response_model=list[Document])
def document_versions(document_id: str, corpus: Annotated[Corpus, Depends(get_corpus)]):
    """Every version of the document, oldest first."""
    try:
        return corpus.store.versions(corpus.store.get(document_id).document_key)
    except NotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no document {document_id}") from None
