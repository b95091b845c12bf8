"""Regulator findings eval (`cdmo eval observations`): 483s, inspection reports, warning letters and audit
reports read as observations, on eval/regulatory_gold.yaml (real public documents, labelled before the reader
existed) with its sponsor's portfolio (eval/regulatory/portfolio.yaml).

- kind accuracy: the document read as the kind the gold gives.
- segmentation P/R: observations found whose number and opening words match a gold observation.
- regulation cited P/R: over (document, observation, regulation).
- category P/R, overall and per category: over (document, observation, category).
- repeat accuracy: over matched observations.
- site attribution accuracy: the portfolio site, or "not in portfolio", as the gold says.
"""

import tempfile
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from core.config import Settings
from core.meaning import meaning
from core.observations import RegulatoryFindings
from core.portfolio import load_portfolio
from eval.extraction import load_store
from eval.readers import render_sources
from extraction.observations import ObservationReader
from extraction.service import source_of

GOLD = Path(__file__).parent / "regulatory_gold.yaml"
SOURCES = Path(__file__).parent / "regulatory" / "sources"
PORTFOLIO = Path(__file__).parent / "regulatory" / "portfolio.yaml"


class PR(BaseModel):
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return round(self.tp / (self.tp + self.fp), 3) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return round(self.tp / (self.tp + self.fn), 3) if self.tp + self.fn else 1.0

    def add(self, got: set, want: set) -> None:
        self.tp += len(got & want)
        self.fp += len(got - want)
        self.fn += len(want - got)

    def summary(self) -> dict:
        return {"precision": self.precision, "recall": self.recall, "tp": self.tp, "fp": self.fp, "fn": self.fn}


class RegulatoryScores(BaseModel):
    documents: int
    observations: int
    kind_accuracy: float
    segmentation: dict
    regulations: dict
    categories: dict
    by_category: dict[str, dict]
    repeat_accuracy: float
    site_accuracy: float
    mismatches: list[str] = Field(default_factory=list)
    with_meaning: bool = True


class RegulatoryReport(BaseModel):
    scores: list[RegulatoryScores]


def _norm(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").split()).lower()


def score(findings: list[RegulatoryFindings], gold: dict, kinds: dict[str, str], with_meaning: bool) -> RegulatoryScores:
    by_file = {f.filename: f for f in findings}
    segmentation, regulations, categories = PR(), PR(), PR()
    per_category: dict[str, PR] = {}
    kind_ok = site_ok = repeat_ok = repeat_n = 0
    mismatches = []
    for doc in gold["documents"]:
        got = by_file.get(doc["file"])
        kind_ok += kinds.get(doc["file"]) == doc["kind"]
        if kinds.get(doc["file"]) != doc["kind"]:
            mismatches.append(f"{doc['file']}: kind {kinds.get(doc['file'])}, gold {doc['kind']}")
        observations = got.observations if got else []
        if got is None or got.site != doc["site"]:
            mismatches.append(f"{doc['file']}: site {got.site if got else None} ({got.site_reason if got else '-'}), gold {doc['site']}")
        site_ok += got is not None and got.site == doc["site"]
        found = {o.number: o for o in observations if got}
        matched = []
        for want in doc["observations"]:
            o = found.get(want["number"])
            if o is not None and _norm(o.evidence.quote).startswith(_norm(want["starts"])):
                matched.append((o, want))
            else:
                mismatches.append(f"{doc['file']} #{want['number']}: not found" + (f" (read '{o.evidence.quote[:60]}')" if o else ""))
        segmentation.tp += len(matched)
        segmentation.fn += len(doc["observations"]) - len(matched)
        segmentation.fp += len(observations) - len(matched)
        for o, want in matched:
            regulations.add(set(o.regulations), set(want["regulations"]))
            got_c, want_c = set(o.category_ids), set(want["categories"])
            categories.add(got_c, want_c)
            for c in got_c | want_c:
                per_category.setdefault(c, PR()).add(got_c & {c}, want_c & {c})
            if got_c != want_c:
                mismatches.append(f"{doc['file']} #{want['number']}: categories +{sorted(got_c - want_c)} -{sorted(want_c - got_c)}")
            if set(o.regulations) != set(want["regulations"]):
                mismatches.append(f"{doc['file']} #{want['number']}: regulations {o.regulations}, gold {want['regulations']}")
            repeat_n += 1
            repeat_ok += o.repeat == bool(want.get("repeat", False))
            if o.repeat != bool(want.get("repeat", False)):
                mismatches.append(f"{doc['file']} #{want['number']}: repeat {o.repeat}")
    n = len(gold["documents"])
    return RegulatoryScores(
        documents=n,
        observations=sum(len(d["observations"]) for d in gold["documents"]),
        kind_accuracy=round(kind_ok / n, 3),
        segmentation=segmentation.summary(),
        regulations=regulations.summary(),
        categories=categories.summary(),
        by_category={c: pr.summary() for c, pr in sorted(per_category.items())},
        repeat_accuracy=round(repeat_ok / max(repeat_n, 1), 3),
        site_accuracy=round(site_ok / n, 3),
        mismatches=mismatches,
        with_meaning=with_meaning,
    )


def run(settings: Settings) -> list[RegulatoryScores]:
    """The gold documents rendered, ingested with the gold's portfolio and read; with and without meaning."""
    gold = yaml.safe_load(GOLD.read_text(encoding="utf-8"))
    portfolio = load_portfolio(PORTFOLIO)
    with tempfile.TemporaryDirectory(prefix="cdmo-eval-regulatory-") as work:
        local = settings.model_copy(update={"data_dir": Path(work) / "data", "portfolio_path": PORTFOLIO,
                                            "database_url": None})  # fmt: skip
        local.data_dir.mkdir(parents=True)
        store = load_store(render_sources(SOURCES, Path(work) / "files"), local)
        try:
            documents = [store.detail(d.id) for d in store.list_documents()]
            kinds = {d.filename: d.kind.value for d in documents}
            scores = []
            for signal in (meaning(local) if local.reading_meaning else None, None):
                reader = ObservationReader(portfolio, meaning=signal)
                findings = [reader.read(source_of(d)) for d in documents]
                scores.append(score(findings, gold, kinds, signal is not None))
            return scores
        finally:
            store.engine.dispose()
