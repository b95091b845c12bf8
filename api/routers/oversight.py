"""Partner risk per site, readiness per program, and the nightly digests."""

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel

from agents.digest_render import digest_html, digest_markdown, readiness_chart, risk_chart
from agents.nightly import DigestBuilder
from agents.nightly_runner import NightlyRunner
from agents.partner_risk import RiskScorer
from agents.readiness import ReadinessAssessor
from api.audit import record
from api.deps import RequestState, get_state, require
from core.auth import Principal, Role
from core.oversight import NightlyOutcome, PartnerRisk, ProgramReadiness, SummaryRun
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


def _scorer(state: RequestState, as_of: date | None = None) -> RiskScorer:
    return RiskScorer(state.corpus.store, _portfolio(state), as_of or state.settings.today())


def _assessor(state: RequestState, as_of: date | None = None) -> ReadinessAssessor:
    return ReadinessAssessor(state.corpus.store, _portfolio(state), _programs(state), as_of or state.settings.today())


class Scope(BaseModel):
    """A site or a program picked to narrow the dashboard: a site with the programs it makes, or a program with
    the sites of its supply chain. Only what is shown is narrowed: each score is judged on the whole corpus."""

    site: str | None = None
    program: str | None = None

    def sites(self, programs: Programs) -> set[str] | None:
        if self.site:
            return {self.site}
        if self.program:
            chain = programs.get(self.program)
            return set(chain.sites) if chain else set()
        return None

    def programs(self, programs: Programs) -> set[str] | None:
        if self.program:
            return {self.program}
        return {p.id for p in programs.programs if self.site in p.sites} if self.site else None


def _site_risks(state: RequestState, scope: Scope, as_of: date | None = None) -> list[PartnerRisk]:
    shown = scope.sites(_programs(state))
    return [r for r in _scorer(state, as_of).all_sites() if shown is None or r.site in shown]


def _readiness(state: RequestState, scope: Scope, as_of: date | None = None) -> list[ProgramReadiness]:
    assessor = _assessor(state, as_of)
    shown = scope.programs(assessor.programs)  # the programs file as the assessor read it: read once
    return [p for p in assessor.all_programs() if shown is None or p.program in shown]


@router.get("/sites/risk", response_model=list[PartnerRisk])
def all_site_risks(state: Annotated[RequestState, Depends(get_state)], scope: Annotated[Scope, Query()],
                   as_of: date | None = None):  # fmt: skip
    """Every site's partner risk, riskiest first (`as_of`: judged on that day; default CDMO_AS_OF or today);
    `site` or `program`: only that site, or the sites of the program's supply chain."""
    return _site_risks(state, scope, as_of)


@router.get("/sites/risk/chart.svg", response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}})
def site_risk_chart(state: Annotated[RequestState, Depends(get_state)], scope: Annotated[Scope, Query()]):
    """Partner risk per site over time, month by month (the chart of the dashboard and the digest)."""
    return Response(risk_chart(_site_risks(state, scope)), media_type="image/svg+xml")


@router.get("/sites/{site_id}/risk", response_model=PartnerRisk)
def site_risk(site_id: str, state: Annotated[RequestState, Depends(get_state)], as_of: date | None = None):
    """Partner risk on four dimensions, each with the signals behind it, how complete and recent its evidence
    is, and the score month by month."""
    try:
        return _scorer(state, as_of).site_risk(site_id)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site_id} in the portfolio") from None


@router.get("/programs/readiness", response_model=list[ProgramReadiness])
def all_readiness(state: Annotated[RequestState, Depends(get_state)], scope: Annotated[Scope, Query()],
                  as_of: date | None = None):  # fmt: skip
    """Every program's readiness; `program` or `site`: only that program, or the programs the site makes."""
    return _readiness(state, scope, as_of)


@router.get(
    "/programs/readiness/chart.svg", response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}}
)
def readiness_chart_svg(state: Annotated[RequestState, Depends(get_state)], scope: Annotated[Scope, Query()]):
    return Response(readiness_chart(_readiness(state, scope)), media_type="image/svg+xml")


@router.get("/programs/{program_id}/readiness", response_model=ProgramReadiness)
def program_readiness(
    program_id: str, state: Annotated[RequestState, Depends(get_state)], as_of: date | None = None
):
    """Open items weighted by severity and nearness to the next date, CTD sections at risk, overdue CAPAs,
    open QTA gaps, and high-risk events followed down the supply chain."""
    try:
        return _assessor(state, as_of).readiness(program_id)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no program {program_id} with a supply chain") from None


class NightlyWindow(BaseModel):
    since: datetime | None = None
    until: datetime | None = None
    as_of: date | None = None


@router.post("/summaries", response_model=NightlyOutcome, status_code=status.HTTP_201_CREATED)
def run_nightly(
    window: NightlyWindow,
    state: Annotated[RequestState, Depends(get_state)],
    admin: Annotated[Principal, require(Role.ADMIN)],
):
    """Write the digest of what was ingested in the window (default: since the last one), record it and mail it
    if mail is set; re-running a window rewrites its files and mails nothing. `cdmo nightly` does the same."""
    settings = state.settings.model_copy(update={"as_of": window.as_of}) if window.as_of else state.settings
    programs = load_programs(settings.programs_path)
    store = state.app.corpus.store
    run, digest = NightlyRunner(settings, store, state.portfolio, programs).run(window.since, window.until)
    record(store, admin, "nightly", detail={"digest": run.id, "mailed_to": run.mailed_to})
    return NightlyOutcome(run=run, digest=digest)


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
