"""Partner risk per site, readiness per program, and the nightly digests."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response

from agents.digest_render import digest_html, digest_markdown, readiness_chart, risk_chart
from agents.nightly import DigestBuilder
from agents.partner_risk import RiskScorer
from agents.readiness import ReadinessAssessor
from api.deps import RequestState, get_state
from core.oversight import PartnerRisk, ProgramReadiness, SummaryRun
from core.portfolio import Portfolio
from core.programs import Programs, load_programs
from core.scope import scoped_portfolio

router = APIRouter(tags=["oversight"])


def _portfolio(state: RequestState) -> Portfolio:
    return scoped_portfolio(state.portfolio, state.principal)


def _programs(state: RequestState) -> Programs:
    visible = {p.id for p in _portfolio(state).programs}
    programs = load_programs(state.settings.programs_path)
    return programs.model_copy(update={"programs": [p for p in programs.programs if p.id in visible]})


def _scorer(state: RequestState) -> RiskScorer:
    return RiskScorer(state.corpus.store, _portfolio(state), state.settings.today())


def _assessor(state: RequestState) -> ReadinessAssessor:
    return ReadinessAssessor(state.corpus.store, _portfolio(state), _programs(state), state.settings.today())


@router.get("/sites/risk", response_model=list[PartnerRisk])
def all_site_risks(state: Annotated[RequestState, Depends(get_state)]):
    """Every site's partner risk, riskiest first."""
    return _scorer(state).all_sites()


@router.get("/sites/risk/chart.svg", response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}})
def site_risk_chart(state: Annotated[RequestState, Depends(get_state)]):
    """Partner risk per site over time, month by month (the chart of the dashboard and the digest)."""
    return Response(risk_chart(_scorer(state).all_sites()), media_type="image/svg+xml")


@router.get("/sites/{site_id}/risk", response_model=PartnerRisk)
def site_risk(site_id: str, state: Annotated[RequestState, Depends(get_state)]):
    """Partner risk on four dimensions, each with the signals behind it, how complete and recent its evidence
    is, and the score month by month."""
    try:
        return _scorer(state).site_risk(site_id)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site_id} in the portfolio") from None


@router.get("/programs/readiness", response_model=list[ProgramReadiness])
def all_readiness(state: Annotated[RequestState, Depends(get_state)]):
    return _assessor(state).all_programs()


@router.get(
    "/programs/readiness/chart.svg", response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}}
)
def readiness_chart_svg(state: Annotated[RequestState, Depends(get_state)]):
    return Response(readiness_chart(_assessor(state).all_programs()), media_type="image/svg+xml")


@router.get("/programs/{program_id}/readiness", response_model=ProgramReadiness)
def program_readiness(program_id: str, state: Annotated[RequestState, Depends(get_state)]):
    """Open items weighted by severity and nearness to the next date, CTD sections at risk, overdue CAPAs,
    open QTA gaps, and high-risk events followed down the supply chain."""
    try:
        return _assessor(state).readiness(program_id)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no program {program_id} with a supply chain") from None


@router.get("/summaries", response_model=list[SummaryRun])
def summaries(state: Annotated[RequestState, Depends(get_state)]):
    """Nightly digests, newest first (for a principal limited to some programs or sites, only their scores)."""
    runs = state.corpus.store.summary_runs()
    if not state.principal.scoped:
        return runs
    sites, programs = {s.id for s in _portfolio(state).sites}, {p.id for p in _portfolio(state).programs}
    return [r.model_copy(update={"site_scores": {k: v for k, v in r.site_scores.items() if k in sites},
                                 "program_scores": {k: v for k, v in r.program_scores.items() if k in programs}})
            for r in runs]  # fmt: skip


@router.get("/summaries/{summary_id}", response_class=HTMLResponse)
def summary(summary_id: str, state: Annotated[RequestState, Depends(get_state)], format: str = "html"):
    """One digest, as HTML (with its charts) or Markdown (`?format=markdown`)."""
    run = next((r for r in state.corpus.store.summary_runs() if r.id == summary_id), None)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no digest {summary_id}")
    if state.principal.scoped:  # the stored digest covers everything: this principal's is built from its view
        builder = DigestBuilder(state.corpus.store, _portfolio(state), _programs(state), state.settings.today())
        digest, risks, readiness = builder.build(run.since, run.until, previous=None)
        if format == "markdown":
            return PlainTextResponse(digest_markdown(digest, risks, readiness), media_type="text/markdown")
        return HTMLResponse(digest_html(digest, risks, readiness))
    if format == "markdown":
        return FileResponse(run.markdown_path, media_type="text/markdown; charset=utf-8")
    return FileResponse(run.html_path, media_type="text/html; charset=utf-8")
