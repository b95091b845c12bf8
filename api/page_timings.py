"""How long each page of the web app takes to be ready, on the sample corpus and on `scale` copies of its records,
in headless Chromium against the real server; a screenshot of each page on the way.

Ready means what a user waits for: the findings rows and their counts, the documents rows, the dashboard's tables
and both charts drawn, the chat page with its scope picker filled, a structured answer written to its end, a
citation's page drawn with its highlight. Each is the median of three visits. The copies (eval/oversight.py) are
records only: the documents, findings and dashboard read them all; chat searches the sample's own passages.
"""

import os
import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from pydantic import BaseModel, Field

from api.ingest import ingest_path
from api.loopback import serving
from core.config import Settings
from core.portfolio import load_portfolio
from eval.oversight import multiply
from retrieval.corpus import Corpus

CHROMIUM = os.environ.get("CDMO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# a closed network: no background connections, no component updates (see the machine notes in the README)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
QUESTION = "What was the root cause of the torn isolator glove on lot F4480, and which CAPAs followed?"
AS_OF = date(2024, 11, 25)  # the sample corpus's time, as `make run` judges it


class PageTiming(BaseModel):
    page: str
    documents: int
    findings: int = Field(description="Stored findings (overdue CAPAs and action items are derived on top)")
    milliseconds: float = Field(description="Median of three visits")


class PagesReport(BaseModel):
    timings: list[PageTiming]


def _ready(page, action, condition: str) -> float:
    started = time.perf_counter()
    action()
    page.wait_for_function(condition, timeout=120_000)
    return (time.perf_counter() - started) * 1000


def _visits(page, documents: int, findings: int, shots: Path | None) -> list[PageTiming]:
    def tab(name: str):
        return lambda: (page.click("#tab-chat"), page.click(f"#tab-{name}"))

    checks = {
        "chat page": (lambda: page.reload(), "document.querySelectorAll('#scope option').length > 1"),
        "findings": (tab("findings"), "document.querySelectorAll('#findings tbody tr').length > 0 && "
                     "document.querySelector('#finding-counts').textContent.length > 0"),
        "documents": (tab("documents"), "document.querySelectorAll('#documents tbody tr').length > 0 && "
                      "document.querySelector('#document-counts').textContent.length > 0"),
        "dashboard": (tab("dashboard"), "document.querySelectorAll('#program-readiness tbody tr').length > 0 && "
                      "[...document.querySelectorAll('.charts img')].every((i) => i.complete && i.naturalWidth > 0)"),
    }  # fmt: skip
    out = []
    for name, (action, condition) in checks.items():
        times = [_ready(page, action, condition) for _ in range(3)]
        out.append(PageTiming(page=name, documents=documents, findings=findings, milliseconds=round(statistics.median(times), 1)))
        if shots:
            page.screenshot(path=str(shots / f"{name.split()[0]}.png"), full_page=True)

    def ask():
        page.click("#tab-chat")
        page.fill("#question", QUESTION)
        page.click("#ask")

    answers = [_ready(page, ask, f"document.querySelectorAll('.turn .a .meta').length === {n + 1}") for n in range(3)]
    out.append(PageTiming(page="chat answer", documents=documents, findings=findings,
                          milliseconds=round(statistics.median(answers), 1)))  # fmt: skip
    opened = "document.querySelector('#source .scan img')?.naturalWidth > 0 && !document.querySelector('#source').hidden"
    sources = []
    for _ in range(3):
        page.keyboard.press("Escape")
        sources.append(_ready(page, lambda: page.locator(".turn .a .cite").last.click(), opened))
    out.append(PageTiming(page="citation on its page", documents=documents, findings=findings,
                          milliseconds=round(statistics.median(sources), 1)))  # fmt: skip
    if shots:
        page.screenshot(path=str(shots / "chat.png"))
        page.set_viewport_size({"width": 1024, "height": 768})  # the narrowest screen the pages are made for
        page.click("#tab-findings")
        page.wait_for_function(checks["findings"][1])
        page.screenshot(path=str(shots / "findings-1024.png"))
        review = page.evaluate("""fetch('/findings').then((r) => r.json()).then((found) => {
            const gaps = {};  // the agreement with the most gaps: the review worth a picture
            for (const f of found) if (f.source === 'qta_review') gaps[f.document_id] = (gaps[f.document_id] || 0) + 1;
            return Object.entries(gaps).sort((a, b) => b[1] - a[1])[0][0];
        })""")
        page.goto(f"{page.url.split('#')[0].rstrip('/')}/qta/reviews/{review}?format=html")
        page.screenshot(path=str(shots / "qta-review.png"))
    return out


def run(corpus_dir: Path, settings: Settings, scale: int = 10, shots: Path | None = None) -> PagesReport:
    from playwright.sync_api import sync_playwright

    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    timings = []
    with tempfile.TemporaryDirectory(prefix="cdmo-eval-pages-") as work:
        local = settings.model_copy(update={"data_dir": Path(work), "database_url": None, "as_of": AS_OF,
                                            "smtp_host": None, "summaries_dir": Path(work) / "summaries"})  # fmt: skip
        portfolio = load_portfolio(local.portfolio_path)
        corpus = Corpus(local)
        try:
            for path in sorted(corpus_dir.iterdir()):
                if path.is_file():
                    ingest_path(corpus, portfolio, path)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for factor in (1, scale):
                    if factor > 1:
                        multiply(corpus.store, factor)
                    with serving(local, corpus) as url:
                        page = browser.new_page(viewport={"width": 1280, "height": 900})
                        page.goto(url)
                        documents = len(corpus.store.list_documents())
                        findings = len(corpus.store.list_findings())
                        timings += _visits(page, documents, findings, shots if factor == 1 else None)
                        page.close()
                browser.close()
        finally:
            corpus.close()
    return PagesReport(timings=timings)
