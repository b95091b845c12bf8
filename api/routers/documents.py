"""Upload, list and read documents."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, UploadFile, status
from pydantic import BaseModel, Field

from api.deps import RequestState, get_corpus, get_state, refused, require
from api.ingest import downgrade_finding, failure, read_upload
from api.jobs import QueueFull
from core.analysis import VersionReview, VersionReviewStatus
from core.audit import audit_entry
from core.auth import Principal, Role
from core.documents import (
    Box,
    Document,
    DocumentDetail,
    DocumentKind,
    FileType,
    IngestStatus,
    PageScan,
    UnreadablePage,
)
from core.errors import IngestError, NotFoundError
from core.jobs import IngestJob
from ingestion.page_render import UndrawablePage, page_png, quote_boxes
from core.store import utcnow
from core.tables import Table
from retrieval.corpus import Corpus

router = APIRouter(prefix="/documents", tags=["documents"])


@router.post(
    "",
    response_model=list[IngestJob],
    status_code=status.HTTP_202_ACCEPTED,
    responses={429: {"description": "Too many files waiting to be ingested; Retry-After says when to try"}},
)
def upload_documents(
    request: Request,
    files: list[UploadFile],
    response: Response,
    state: Annotated[RequestState, Depends(get_state)],
    _: Annotated[Principal, require(Role.REVIEWER)],
    wait: Annotated[bool, Query(description="Answer once every file is ingested (or the wait is over)")] = False,
):
    """Queue one or more files for ingestion: one job per file, answered at once (202); follow them at
    `GET /jobs/{id}` or `GET /jobs/events?ids=...`. A file refused before it is queued (no name, over the
    size limit) comes back as a finished job whose result says why.

    With `wait=true` the answer comes when every job is finished (or after `CDMO_MAX_SECONDS_PER_FILE`):
    201 when something was added, 200 when every file was already there, 422 when every file failed.
    """
    runner = state.app.jobs
    if len(files) > state.settings.max_upload_files:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"{len(files)} files in one upload, over the limit of {state.settings.max_upload_files}")  # fmt: skip
    jobs = []
    for upload in files:
        try:
            name, data = read_upload(upload, state.settings.max_file_bytes)
        except IngestError as exc:
            jobs.append(runner.refused(state.principal, failure(exc)))
            continue
        try:
            jobs.append(runner.submit(state.principal, name, data))
        except QueueFull as exc:
            refused(request, state.principal, 429, str(exc))
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, f"{exc}: try again shortly",
                                headers={"Retry-After": "30"}) from None  # fmt: skip
    if not wait:
        return jobs
    for jobs in runner.watch([j.id for j in jobs], state.settings.max_seconds_per_file + 30):
        pass
    results = [j.result for j in jobs if j.result is not None]
    if len(results) < len(jobs):
        return jobs  # still at work: 202
    if all(r.status == IngestStatus.FAILED for r in results):
        response.status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    elif any(r.status in (IngestStatus.ADDED, IngestStatus.NEW_VERSION) for r in results):
        response.status_code = status.HTTP_201_CREATED
    else:
        response.status_code = status.HTTP_200_OK
    return jobs


class ListedDocument(Document):
    risk: str | None = Field(None, description="Its analysis' risk reading (an event's risk), where it has one")


@router.get("", response_model=list[ListedDocument])
def list_documents(
    corpus: Annotated[Corpus, Depends(get_corpus)],
    kind: DocumentKind | None = None,
    site: str | None = None,
    program: str | None = None,
    include_superseded: bool = False,
):
    """The documents, each with its risk reading where its analysis gives one."""
    risks = {a.document_id: a.risk for a in corpus.store.list_analyses(site=site, program=program) if a.risk}
    documents = corpus.store.list_documents(kind=kind, site=site, program=program, include_superseded=include_superseded)
    return [ListedDocument(**d.model_dump(), risk=risks.get(d.id)) for d in documents]


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


@router.get("/downgrades", response_model=list[VersionReview])
def downgrades(corpus: Annotated[Corpus, Depends(get_corpus)], pending: bool = True):
    """New versions that lowered their record's risk, flags or gaps: each waits for a person to confirm or
    reject it, and until then the earlier, higher reading counts in risk, readiness and the digest."""
    return corpus.store.version_reviews(pending_only=pending)


class DowngradeDecision(BaseModel):
    confirm: bool = Field(description="true: the new version's lower reading stands; false: withdraw the new version")
    reason: str = Field(min_length=3, max_length=2000, description="Why, for the audit trail")


@router.post("/{document_id}/downgrade", response_model=VersionReview)
def decide_downgrade(
    document_id: str,
    decision: DowngradeDecision,
    request: Request,
    state: Annotated[RequestState, Depends(get_state)],
    who: Annotated[Principal, require(Role.REVIEWER)],
):
    """Decide on a new version that lowered its record. Confirmed, its reading counts from now on; rejected, it
    is withdrawn (kept, readable, out of search) and the version before is current again."""
    store = state.corpus.store
    review = store.version_review(document_id) if store.visible(document_id) else None
    if review is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no downgrade waits on document {document_id}")
    if review.status != VersionReviewStatus.PENDING:
        raise HTTPException(status.HTTP_409_CONFLICT, f"decided already: {review.status.value} by {review.decided_by}")
    sender = review.raised_by or store.uploader_of(document_id)
    # with authentication off there is one person, who decides; else the sender of the version never does
    if who.kind != "local" and sender in (who.identity, f"{who.kind}:{who.name}"):
        reason = f"{who.name} sent this version: a second person decides on a downgrade it brought"
        refused(request, who, 403, reason)
        raise HTTPException(status.HTTP_403_FORBIDDEN, reason)
    review = review.model_copy(update={
        "status": VersionReviewStatus.CONFIRMED if decision.confirm else VersionReviewStatus.REJECTED,
        "decided_by": who.name, "decided_at": utcnow(), "reason": decision.reason,
    })  # fmt: skip
    store = state.app.corpus.store
    entry = audit_entry(who, f"{'confirm' if decision.confirm else 'reject'}_downgrade",
                        documents=[store.get(review.document_id), store.get(review.previous_id)],
                        detail={"changes": review.changes, "reason": decision.reason})  # fmt: skip
    state.app.corpus.decide_downgrade(review, entry)
    return review


class UndoDecision(BaseModel):
    reason: str = Field(min_length=3, max_length=2000, description="Why the decision is undone, for the audit trail")


@router.post("/{document_id}/downgrade/undo", response_model=VersionReview)
def undo_downgrade(
    document_id: str,
    undo: UndoDecision,
    state: Annotated[RequestState, Depends(get_state)],
    who: Annotated[Principal, require(Role.ADMIN)],
):
    """Undo a decision on a downgrade (admins): it is held again, and a withdrawn version is current again, until
    a person decides anew."""
    store = state.app.corpus.store
    review = store.version_review(document_id)
    if review is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no downgrade on document {document_id}")
    if review.status == VersionReviewStatus.PENDING:
        raise HTTPException(status.HTTP_409_CONFLICT, "not decided yet: nothing to undo")
    entry = audit_entry(who, "undo_downgrade_decision", documents=[store.get(review.document_id), store.get(review.previous_id)],
                        detail={"undone": review.status.value, "decided_by": review.decided_by, "reason": undo.reason})  # fmt: skip
    state.app.corpus.undo_downgrade(review, downgrade_finding(store, review), entry)
    return store.version_review(document_id)


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
    rendered_url: str | None = Field(None, description="For a PDF page with a text layer: the page as drawn")
    highlight: list[Box] = Field(default_factory=list, description="Where the asked-for span stands on the drawn page")


def _rendered(corpus: Corpus, doc: Document, number: int) -> bytes | None:
    """The PDF the page is drawn from: a page with a text layer of a PDF this view may see whole."""
    if doc.file_type != FileType.PDF or number in doc.ocr_pages:
        return None
    return corpus.store.original(doc.id)


@router.get("/{document_id}/pages/{number}", response_model=PageText)
def get_page(
    document_id: str,
    number: int,
    corpus: Annotated[Corpus, Depends(get_corpus)],
    start: Annotated[int | None, Query(ge=0)] = None,
    end: Annotated[int | None, Query(ge=0)] = None,
):
    """One page's text: what a citation's start and end offsets point into; with `start` and `end`, where that span
    stands on the page as drawn (a PDF page) or as scanned."""
    try:
        doc = corpus.store.get(document_id)
    except NotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no document {document_id}") from None
    text = corpus.store.page_text(document_id, number)
    if text is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{doc.filename} has no page {number}")
    scan = corpus.store.page_scan(document_id, number)
    original, highlight = None if scan else _rendered(corpus, doc, number), []
    try:
        highlight = quote_boxes(original, number, text[start:end]) if original and start is not None and end else []
    except UndrawablePage:
        original = None  # the page's text, highlighted, is what there is
    return PageText(
        document_id=doc.id,
        title=doc.title,
        filename=doc.filename,
        number=number,
        page_count=doc.page_count,
        text=text,
        scan=scan,
        image_url=f"/documents/{doc.id}/pages/{number}/image" if scan else None,
        rendered_url=f"/documents/{doc.id}/pages/{number}/rendered.png" if original else None,
        highlight=highlight,
    )


@router.get("/{document_id}/pages/{number}/rendered.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})  # fmt: skip
def get_rendered_page(document_id: str, number: int, corpus: Annotated[Corpus, Depends(get_corpus)]):
    """A PDF page drawn as it prints, which a citation's highlight boxes refer to (fractions of its size)."""
    try:
        doc = corpus.store.get(document_id)
    except NotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no document {document_id}") from None
    original = _rendered(corpus, doc, number) if 1 <= number <= doc.page_count else None
    if original is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{doc.filename} has no drawn page {number}")
    try:
        image = page_png(original, number)
    except UndrawablePage as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{doc.filename}, page {number}: {exc}") from None
    return Response(image, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


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
