"""Extraction eval: QTA gap review and investigation triage against eval/extraction_gold.yaml, per backend.

QTA: element-status accuracy over every (agreement, element), and precision/recall of each gap status.
Triage: field-level precision/recall/F1 (a field counts when the report states it; batches count one by
one), flag precision/recall over (report, flag), risk accuracy. Also how many model quotes were grounded,
how many answers were invalid, and seconds per review and per triage.
"""

import tempfile
import time
from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from core.config import Settings
from core.evidence import GroundingReport
from core.investigations import InvestigationEvent
from core.portfolio import load_portfolio
from core.qta import ElementStatus
from core.store import RecordStore
from extraction.backends import Backend
from extraction.service import Extractor, source_of
from ingestion.pipeline import prepare

GOLD = Path(__file__).resolve().parent / "extraction_gold.yaml"
HOLDOUT = Path(__file__).resolve().parent / "holdout"
FIELDS = ("type", "record_id", "site", "classification", "occurred", "detected", "reported", "closed",
          "root_cause_category", "status")  # fmt: skip


class PrecisionRecall(BaseModel):
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    @property
    def precision(self) -> float:
        predicted = self.true_positives + self.false_positives
        return round(self.true_positives / predicted, 3) if predicted else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + self.false_negatives
        return round(self.true_positives / wanted, 3) if wanted else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return round(2 * p * r / (p + r), 3) if p + r else 0.0

    def add(self, predicted: set, wanted: set) -> None:
        self.true_positives += len(predicted & wanted)
        self.false_positives += len(predicted - wanted)
        self.false_negatives += len(wanted - predicted)

    def summary(self) -> dict[str, float]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1}


class ExtractionScores(BaseModel):
    backend: str
    gold_set: str = Field(
        description="sample (the corpus the rules were built on), holdout (never tuned on), or digital / scanned (eval ocr)"
    )
    qta_elements: int
    element_status_accuracy: float
    status_detection: dict[str, dict[str, float]] = Field(description="precision/recall per gap status")
    reports: int
    fields: dict[str, float] = Field(description="micro precision/recall/F1 over all triage fields")
    per_field: dict[str, dict[str, float]]
    flags: dict[str, float]
    risk_accuracy: float
    seconds_per_qta_review: float
    seconds_per_triage: float
    grounding: GroundingReport
    mismatches: list[str] = Field(default_factory=list, description="Every disagreement with the gold, to read")


class ExtractionReport(BaseModel):
    scores: list[ExtractionScores] = Field(description="Per backend, on the sample set, then on the held-out set")


def load_gold() -> dict:
    return yaml.safe_load(GOLD.read_text(encoding="utf-8"))


def load_store(corpus_dir: Path, settings: Settings, store: RecordStore | None = None) -> RecordStore:
    """The records (not the vectors: extraction reads text) of every file in the corpus folder.

    A file that is a new version of a stored one supersedes it, as in ingestion."""
    store = store or RecordStore(settings.sqlalchemy_url)
    portfolio = load_portfolio(settings.portfolio_path)
    for path in sorted(corpus_dir.iterdir()):
        if path.is_file():
            placement = store.next_version(prepare(path.name, path.read_bytes(), settings, portfolio))
            store.add(placement.prepared)
    return store


def add_rendered(sources: Path, work: Path, settings: Settings, store: RecordStore) -> None:
    """Render the Markdown sources in a folder (held-out documents) to files and read them into the store."""
    from fixtures.render import load_source, render

    folder = work / sources.name
    folder.mkdir()
    for source in sorted(sources.glob("*.md")):
        render(load_source(source), folder)
    load_store(folder, settings, store)


def _value(event: InvestigationEvent, field: str):
    match field:
        case "occurred" | "detected" | "reported" | "closed":
            return getattr(event.dates, field)
        case _:
            value = getattr(event, field)
            return getattr(value, "value", value)


def score(store: RecordStore, extractor: Extractor, gold: dict, gold_set: str) -> ExtractionScores:
    by_name = {d.filename: d for d in store.list_documents()}
    mismatches: list[str] = []
    grounding = GroundingReport()

    correct = total = 0
    statuses = {s: PrecisionRecall() for s in (ElementStatus.MISSING, ElementStatus.VAGUE, ElementStatus.CONFLICTING)}
    qta_seconds = []
    for name, wanted in gold["qta"].items():
        started = time.perf_counter()
        review = extractor.review_qta(source_of(store.detail(by_name[name].id)))
        qta_seconds.append(time.perf_counter() - started)
        grounding.merge(review.grounding)
        got = {f.element_id: f.status for f in review.findings}
        for element, status in wanted.items():
            total += 1
            correct += got.get(element) == status
            if got.get(element) != status:
                mismatches.append(f"{name} {element}: gold {status}, got {got.get(element)}")
            for s, pr in statuses.items():
                pr.add({element} if got.get(element) == s else set(), {element} if status == s else set())

    fields, per_field = PrecisionRecall(), {f: PrecisionRecall() for f in (*FIELDS, "batch_ids")}
    flags, risks, triage_seconds = PrecisionRecall(), 0, []
    for name, wanted in gold["investigations"].items():
        started = time.perf_counter()
        event = extractor.triage(source_of(store.detail(by_name[name].id)))
        triage_seconds.append(time.perf_counter() - started)
        grounding.merge(event.grounding)
        for field in FIELDS:
            got, want = _value(event, field), wanted.get(field)
            want = want.isoformat() if isinstance(want, date) else want
            got = got.isoformat() if isinstance(got, date) else got
            pair = ({(field, got)} if got is not None else set(), {(field, want)} if want is not None else set())
            fields.add(*pair)
            per_field[field].add(*pair)
            if got != want:
                mismatches.append(f"{name} {field}: gold {want}, got {got}")
        batches = ({("batch", b) for b in event.batch_ids}, {("batch", b) for b in wanted.get("batch_ids", [])})
        fields.add(*batches)
        per_field["batch_ids"].add(*batches)
        if batches[0] != batches[1]:
            mismatches.append(f"{name} batch_ids: gold {sorted(wanted.get('batch_ids', []))}, got {event.batch_ids}")
        got_flags, want_flags = set(event.flag_codes), set(wanted.get("flags", []))
        flags.add({(name, f) for f in got_flags}, {(name, f) for f in want_flags})
        if got_flags != want_flags:
            mismatches.append(
                f"{name} flags: missed {sorted(want_flags - got_flags)}, extra {sorted(got_flags - want_flags)}"
            )
        risks += event.risk.value == wanted["risk"]
        if event.risk.value != wanted["risk"]:
            mismatches.append(f"{name} risk: gold {wanted['risk']}, got {event.risk.value}")

    return ExtractionScores(
        backend=extractor.backend.name,
        gold_set=gold_set,
        qta_elements=total,
        element_status_accuracy=round(correct / total, 3),
        status_detection={s.value: {"precision": pr.precision, "recall": pr.recall} for s, pr in statuses.items()},
        reports=len(gold["investigations"]),
        fields=fields.summary(),
        per_field={f: pr.summary() for f, pr in per_field.items()},
        flags={"precision": flags.precision, "recall": flags.recall},
        risk_accuracy=round(risks / len(gold["investigations"]), 3),
        seconds_per_qta_review=round(sum(qta_seconds) / len(qta_seconds), 4),
        seconds_per_triage=round(sum(triage_seconds) / len(triage_seconds), 4),
        grounding=grounding,
        mismatches=mismatches,
    )


def run(corpus_dir: Path, settings: Settings, backends: list[Backend], holdout: bool = True) -> ExtractionReport:
    """Scores on the sample corpus; then, with the held-out files added to it, on those."""
    gold = load_gold()
    results = []
    with tempfile.TemporaryDirectory(prefix="cdmo-eval-extraction-") as work:
        local = settings.model_copy(update={"data_dir": Path(work), "database_url": None})
        store = load_store(corpus_dir, local)
        portfolio = load_portfolio(settings.portfolio_path)
        try:
            extractors = [Extractor(local, store, portfolio, backend) for backend in backends]
            results += [score(store, extractor, gold, "sample") for extractor in extractors]
            if holdout:
                add_rendered(HOLDOUT, Path(work), local, store)
                results += [score(store, extractor, gold["holdout"], "holdout") for extractor in extractors]
        finally:
            store.engine.dispose()
    return ExtractionReport(scores=results)
