"""Oversight eval: partner risk, readiness and the nightly digest on the sample corpus against
eval/oversight_gold.yaml, and the nightly run time on the corpus and on copies of it ten times over.

The corpus is read into a record store and analysed (QTA review, triage) as ingestion does; vectors are
not needed. The tenfold store copies every document with its pages, chunks, tables and analyses under
new ids: the same work ten times over, as ten times the paper would be.
"""

import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, Field
from sqlalchemy import insert, select

from agents.nightly_runner import NightlyRunner
from agents.partner_risk import RiskScorer
from agents.readiness import ReadinessAssessor
from core.config import Settings
from core.portfolio import load_portfolio
from core.programs import load_programs
from core.store import (
    RecordStore,
    analyses,
    chunks,
    documents,
    findings,
    page_scans,
    pages,
    tables,
)
from eval.extraction import load_store
from extraction.service import Extractor

GOLD = Path(__file__).parent / "oversight_gold.yaml"


class Check(BaseModel):
    expectation: str
    met: bool
    got: str


class NightlyTiming(BaseModel):
    documents: int
    seconds: float


class OversightReport(BaseModel):
    as_of: date
    checks: list[Check]
    met: int
    total: int
    site_scores: dict[str, float]
    program_scores: dict[str, float]
    nightly: list[NightlyTiming] = Field(description="The sample corpus, then ten copies of it")


def run(corpus_dir: Path, settings: Settings, scale: int = 10) -> OversightReport:
    gold = yaml.safe_load(GOLD.read_text(encoding="utf-8"))
    as_of = gold["as_of"]
    with tempfile.TemporaryDirectory(prefix="cdmo-eval-oversight-") as work:
        local = settings.model_copy(
            update={
                "data_dir": Path(work),
                "database_url": None,
                "as_of": as_of,
                "smtp_host": None,
                "summaries_dir": Path(work) / "summaries",
            }
        )
        store = load_store(corpus_dir, local)
        extractor = Extractor(local, store, load_portfolio(local.portfolio_path))
        for doc in store.list_documents():
            extractor.analyse_stored(doc.id)
        try:
            checks, digest = _score(store, local, gold)
            timings = [_timed_nightly(store, local)]
            multiply(store, scale)
            timings.append(_timed_nightly(store, local))
        finally:
            store.engine.dispose()
    return OversightReport(
        as_of=as_of,
        checks=checks,
        met=sum(c.met for c in checks),
        total=len(checks),
        site_scores=digest.site_scores,
        program_scores=digest.program_scores,
        nightly=timings,
    )


def _score(store: RecordStore, settings: Settings, gold: dict):
    portfolio, programs, today = (
        load_portfolio(settings.portfolio_path),
        load_programs(settings.programs_path),
        settings.today(),
    )
    risks = RiskScorer(store, portfolio, today).all_sites()
    checks = []
    for dimension, site in gold["riskiest"].items():
        if dimension == "overall_top_two":
            got = [r.site for r in risks[:2]]
            checks.append(
                Check(expectation=f"top two overall: {site}", met=sorted(got) == sorted(site), got=", ".join(got))
            )
            continue
        ranked = sorted(risks, key=lambda r: -next(d.score for d in r.dimensions if d.dimension.value == dimension))
        checks.append(
            Check(expectation=f"riskiest on {dimension}: {site}", met=ranked[0].site == site, got=ranked[0].site)
        )
    readiness = ReadinessAssessor(store, portfolio, programs, today).all_programs()
    least = min(readiness, key=lambda p: p.score)
    checks.append(
        Check(
            expectation=f"least ready: {gold['least_ready_program']}",
            met=least.program == gold["least_ready_program"],
            got=least.program,
        )
    )
    for expected in gold["propagation"]:
        program = next(p for p in readiness if p.program == expected["program"])
        chain = next((c for c in program.propagation if c.origin.startswith(expected["origin"])), None)
        met = chain is not None and expected["reaches"] in chain.milestones_at_risk
        checks.append(
            Check(
                expectation=f"{expected['origin']} propagates to {expected['reaches']}",
                met=met,
                got="; ".join(chain.milestones_at_risk) if chain else "no chain",
            )
        )
    record, digest = NightlyRunner(settings, store, portfolio, programs).run(since=None, until=datetime.now(UTC))
    markdown = Path(record.markdown_path).read_text(encoding="utf-8")
    urgent = " ".join(i.text for i in digest.needs_human).lower()
    for text in gold["digest"]["needs_human"]:
        checks.append(Check(expectation=f"needs a human: {text}", met=text.lower() in urgent, got=""))
    for text in gold["digest"]["anywhere"]:
        checks.append(Check(expectation=f"in the digest: {text}", met=text in markdown, got=""))
    return checks, digest


def _timed_nightly(store: RecordStore, settings: Settings) -> NightlyTiming:
    runner = NightlyRunner(
        settings, store, load_portfolio(settings.portfolio_path), load_programs(settings.programs_path)
    )
    started = time.perf_counter()
    runner.run(since=datetime(2000, 1, 1, tzinfo=UTC), until=datetime.now(UTC))
    return NightlyTiming(documents=len(store.list_documents()), seconds=round(time.perf_counter() - started, 2))


def multiply(store: RecordStore, factor: int) -> None:
    """Copies of every document and what hangs off it, under new ids (suffix -2, -3, ...)."""
    with store.engine.begin() as conn:
        rows = {
            t: [dict(r) for r in conn.execute(select(t)).mappings()]
            for t in (documents, pages, page_scans, tables, chunks, analyses, findings)
        }
        for n in range(2, factor + 1):
            suffix = f"-{n}"
            conn.execute(
                insert(documents),
                [
                    r
                    | {
                        "id": r["id"] + suffix,
                        "content_hash": r["content_hash"] + suffix,
                        "filename": f"copy{n}_{r['filename']}",
                        "document_key": r["document_key"] + suffix,
                        "supersedes": None,
                        "superseded_by": None,
                    }
                    for r in rows[documents]
                ],
            )
            for table in (pages, page_scans, tables, analyses):
                if rows[table]:
                    conn.execute(insert(table), [r | {"document_id": r["document_id"] + suffix} for r in rows[table]])
            conn.execute(
                insert(chunks),
                [r | {"id": f"{r['id'][:30]}{suffix}", "document_id": r["document_id"] + suffix} for r in rows[chunks]],
            )
            conn.execute(
                insert(findings),
                [
                    {k: v for k, v in r.items() if k != "id"} | {"document_id": r["document_id"] + suffix}
                    for r in rows[findings]
                ],
            )
