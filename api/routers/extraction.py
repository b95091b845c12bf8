"""QTA gap review and investigation triage: of an uploaded file, or as stored when it was ingested.

Uploading here analyses the file without adding it to the corpus; ingesting it (POST /documents) stores
the analysis, linked to site, program and batch, where GET /events, /findings and /qta/reviews read it.
"""

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Response, UploadFile, status
from fastapi.responses import HTMLResponse, PlainTextResponse

from api.audit import record
from api.deps import RequestState, get_state, require
from api.ingest import read_upload
from api.reports import ReportFormat, cited_documents, render
from core.analysis import AnalysisKind
from core.auth import Principal, Role
from core.errors import IngestError
from core.investigations import InvestigationEvent, RiskLevel
from core.observations import RegulatoryFindings
from core.qta import QtaReview
from extraction.playbook import PlaybookError, parse_playbook
from extraction.service import Extractor, source_of
from ingestion.pipeline import prepare

router = APIRouter(tags=["extraction"])


def _unprocessable(reason: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, reason)


def _prepared(upload: UploadFile, state: RequestState):
    """The uploaded file read; refused unless it lies inside what the principal may analyse."""
    try:
        name, data = read_upload(upload, state.settings.max_file_bytes)
        prepared = prepare(name, data, state.settings, state.portfolio)
    except IngestError as exc:
        raise _unprocessable(f"{exc.filename}: {exc.reason}") from None
    meta = prepared.document.metadata
    if reason := state.principal.may_write(meta.programs, meta.sites, doing="analyse"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{prepared.document.filename}: {reason}")
    return prepared


def _render(
    result: QtaReview | InvestigationEvent | RegulatoryFindings, pages: dict[int, str], fmt: ReportFormat, state: RequestState
):
    if fmt == ReportFormat.JSON:
        return result  # FastAPI serializes it against the response model
    others = state.corpus.store.documents_by_id(sorted(cited_documents(result)))  # those the caller may see
    text = render(result, pages, fmt, others)
    if fmt.binary:
        name = f"{Path(result.filename).stem}-{'review' if isinstance(result, QtaReview) else 'report'}.{fmt.value}"
        disposition = f"attachment; filename=\"{quote(name)}\"; filename*=UTF-8''{quote(name)}"
        return Response(text, media_type=fmt.media_type, headers={"Content-Disposition": disposition})
    return PlainTextResponse(text, media_type="text/markdown") if fmt == ReportFormat.MARKDOWN else HTMLResponse(text)


@router.post("/qta/review", response_model=QtaReview)
def review_qta(
    file: UploadFile,
    state: Annotated[RequestState, Depends(get_state)],
    _: Annotated[Principal, require(Role.REVIEWER)],
    playbook: UploadFile | None = None,
    format: ReportFormat = ReportFormat.JSON,
):
    """Every playbook element: status, quoted clauses with page and span, reason, severity, source, wording.

    Send your own playbook (YAML, the shape of prompts/qta_playbook.yaml) as `playbook` to review against it.
    """
    prepared = _prepared(file, state)
    custom = None
    if playbook is not None:
        try:
            custom = parse_playbook(playbook.file.read(1_000_000), playbook.filename or "playbook")
        except PlaybookError as exc:
            raise _unprocessable(str(exc)) from None
    extractor = Extractor(state.settings, state.corpus.store, state.portfolio)
    review = extractor.review_agreement(prepared, custom)
    record(state.app.corpus.store, state.principal, "review_qta", backend=review.backend, prompt_version=review.playbook,
           detail={"filename": prepared.document.filename, "content_hash": prepared.document.content_hash})  # fmt: skip
    return _render(review, {p.number: p.text for p in prepared.pages}, format, state)


@router.post("/investigations/triage", response_model=InvestigationEvent)
def triage(
    file: UploadFile,
    state: Annotated[RequestState, Depends(get_state)],
    _: Annotated[Principal, require(Role.REVIEWER)],
    format: ReportFormat = ReportFormat.JSON,
):
    """The structured event, risk and sponsor response, weak-investigation flags with quotes, clocks, CTD sections.

    Notification and closure are checked against the site's quality agreement found in the corpus.
    """
    prepared = _prepared(file, state)
    event = Extractor(state.settings, state.corpus.store, state.portfolio).triage(source_of(prepared))
    record(state.app.corpus.store, state.principal, "triage", backend=event.backend,
           detail={"filename": prepared.document.filename, "content_hash": prepared.document.content_hash,
                   "risk": event.risk.value})  # fmt: skip
    return _render(event, {p.number: p.text for p in prepared.pages}, format, state)


@router.post("/observations/read", response_model=RegulatoryFindings)
def read_observations(
    file: UploadFile,
    state: Annotated[RequestState, Depends(get_state)],
    _: Annotated[Principal, require(Role.REVIEWER)],
    format: ReportFormat = ReportFormat.JSON,
):
    """A 483, inspection report, regulator's letter or audit report read as numbered observations: regulations
    cited, categories with their quotes, repeats, and the portfolio site it concerns (or why none)."""
    prepared = _prepared(file, state)
    findings = Extractor(state.settings, state.corpus.store, state.portfolio).observations(source_of(prepared))
    record(state.app.corpus.store, state.principal, "read_observations", backend=findings.backend,
           detail={"filename": prepared.document.filename, "content_hash": prepared.document.content_hash,
                   "observations": len(findings.observations)})  # fmt: skip
    return _render(findings, {p.number: p.text for p in prepared.pages}, format, state)


@router.get("/observations", response_model=list[RegulatoryFindings])
def list_observations(
    state: Annotated[RequestState, Depends(get_state)],
    site: str | None = None,
    category: str | None = None,
    regulation: str | None = None,
):
    """Stored regulators' and auditors' documents with their observations, narrowed to the observations of a
    category ("data_integrity") or citing a regulation ("211.192"); `site` may be "none" for documents about
    sites not in the portfolio."""
    store = state.corpus.store
    analyses = store.list_analyses(kind=AnalysisKind.OBSERVATIONS, site=None if site == "none" else site)
    out = []
    for analysis in analyses:
        findings = RegulatoryFindings.model_validate(analysis.payload)
        if site == "none" and findings.site is not None:
            continue
        kept = [o for o in findings.observations
                if (category is None or category in o.category_ids)
                and (regulation is None or any(regulation in r for r in [*o.regulations, *(n.reference for n in o.named_regulations)]))]  # fmt: skip
        if kept or (category is None and regulation is None):
            out.append(findings.model_copy(update={"observations": kept}))
    return out


@router.get("/observations/{document_id}", response_model=RegulatoryFindings)
def stored_observations(
    document_id: str, state: Annotated[RequestState, Depends(get_state)], format: ReportFormat = ReportFormat.JSON
):
    payload, pages = _stored(state, document_id, AnalysisKind.OBSERVATIONS)
    return _render(RegulatoryFindings.model_validate(payload), pages, format, state)


def _stored(state: RequestState, document_id: str, kind: AnalysisKind):
    store = state.corpus.store
    analysis = store.analysis(document_id)
    if analysis is None or analysis.kind != kind:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no stored {kind.value.replace('_', ' ')} for {document_id}")
    # an analysis belongs to a stored document (a foreign key): its pages are there
    return analysis.payload, {p.number: p.text for p in store.pages(document_id)}


@router.get("/qta/reviews/{document_id}", response_model=QtaReview)
def stored_review(
    document_id: str, state: Annotated[RequestState, Depends(get_state)], format: ReportFormat = ReportFormat.JSON
):
    payload, pages = _stored(state, document_id, AnalysisKind.QTA_REVIEW)
    return _render(QtaReview.model_validate(payload), pages, format, state)


@router.get("/events", response_model=list[InvestigationEvent])
def list_events(
    state: Annotated[RequestState, Depends(get_state)],
    site: str | None = None,
    program: str | None = None,
    batch: str | None = None,
    risk: RiskLevel | None = None,
):
    """Triaged events of current documents, filtered by site, program, batch or risk."""
    analyses = state.corpus.store.list_analyses(kind=AnalysisKind.EVENT, site=site, program=program, batch=batch)
    events = [InvestigationEvent.model_validate(a.payload) for a in analyses]
    return [e for e in events if risk is None or e.risk == risk]


@router.get("/events/{document_id}", response_model=InvestigationEvent)
def stored_event(
    document_id: str, state: Annotated[RequestState, Depends(get_state)], format: ReportFormat = ReportFormat.JSON
):
    payload, pages = _stored(state, document_id, AnalysisKind.EVENT)
    return _render(InvestigationEvent.model_validate(payload), pages, format, state)


