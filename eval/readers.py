"""Readers eval: does the product read documents nobody here wrote? Per reader, on two gold sets:

- sample: the sample corpus the rules were written on (fixtures/ground_truth.yaml, eval/extraction_gold.yaml);
- development: eval/readers/ (31 documents from another sponsor, three other CDMOs and FDA, labelled in
  eval/readers_gold.yaml before the product read them), read with their own portfolio file.

Figures: kind accuracy; identifier (record and batch numbers) precision/recall; event fields (type, record,
site, classification, status) and date roles (occurred, detected, reported, closed) precision/recall; flag
precision/recall; QTA element-status accuracy. A document the product gives the wrong kind is scored as the
user would meet it: a report not triaged reads nothing, an agreement not reviewed gets no element right.
"""

import tempfile
from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from core.config import Settings
from core.documents import DocumentKind
from core.portfolio import load_portfolio
from core.store import RecordStore
from eval.extraction import GOLD as EXTRACTION_GOLD
from eval.extraction import PrecisionRecall, load_store
from extraction.service import TRIAGED_KINDS, Extractor, source_of

HERE = Path(__file__).resolve().parent
# (gold set, its labels, its documents, its sponsor's portfolio)
SETS = [
    ("development", HERE / "readers_gold.yaml", HERE / "readers" / "sources", HERE / "readers" / "portfolio.yaml"),
    ("blind", HERE / "readers_blind_gold.yaml", HERE / "readers" / "blind" / "sources",
     HERE / "readers" / "blind" / "portfolio.yaml"),
]  # fmt: skip
SAMPLE_GOLD = HERE.parent / "fixtures" / "ground_truth.yaml"
EVENT_FIELDS = ("type", "record_id", "site", "classification", "status")
DATE_ROLES = ("occurred", "detected", "reported", "closed")


class ReaderScores(BaseModel):
    gold_set: str = Field(
        description="sample (the corpus the rules were written on), development (eval/readers: labelled before "
        "the first run, then tuned on) or blind (eval/readers/blind: labelled after the tuning, read once); "
        "'no meaning signal': the same with CDMO_READING_MEANING=false"
    )
    documents: int
    kind_accuracy: float
    identifiers: dict[str, float] = Field(description="Record and batch numbers: precision/recall/F1")
    record_ids: dict[str, float]
    batch_ids: dict[str, float]
    event_fields: dict[str, float] = Field(description="type, record, site, classification, status of triaged reports")
    date_roles: dict[str, float]
    flags: dict[str, float]
    qta_elements: int
    qta_element_accuracy: float
    mismatches: list[str] = Field(default_factory=list, description="Every disagreement with the gold, to read")


class ReadersReport(BaseModel):
    scores: list[ReaderScores]


def _norm(identifier: str) -> str:
    return " ".join(str(identifier).upper().split())


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


def sample_gold() -> dict:
    """The sample corpus's labels in this eval's shape: kinds and numbers from the fixtures' ground truth,
    events and agreements from the extraction gold."""
    truth = yaml.safe_load(SAMPLE_GOLD.read_text(encoding="utf-8"))["documents"]
    extraction = yaml.safe_load(EXTRACTION_GOLD.read_text(encoding="utf-8"))
    documents = {}
    for name, labels in truth.items():
        entry = {"kind": labels["kind"], "record_ids": labels.get("document_ids", []),
                 "batch_ids": labels.get("batch_ids", [])}  # fmt: skip
        if name in extraction["investigations"]:
            entry["event"] = extraction["investigations"][name]
        if name in extraction["qta"]:
            entry["qta"] = extraction["qta"][name]
        documents[name] = entry
    return {"documents": documents}


def score(store: RecordStore, extractor: Extractor, gold: dict, gold_set: str) -> ReaderScores:
    by_name = {d.filename: d for d in store.list_documents(include_superseded=True)}
    current = {d.filename for d in store.list_documents()}
    mismatches = [f"{name}: stored as an earlier version of another document" for name in sorted(set(by_name) - current)]
    kinds_right = 0
    records, batches, fields, dates, flags = (PrecisionRecall() for _ in range(5))
    qta_right = qta_total = 0
    for name, wanted in gold["documents"].items():
        if name not in by_name:
            raise ValueError(f"{name}: in the gold set but not in the corpus")
        document = store.detail(by_name[name].id)
        kinds_right += document.kind.value == wanted["kind"]
        if document.kind.value != wanted["kind"]:
            mismatches.append(f"{name} kind: gold {wanted['kind']}, got {document.kind.value}")
        for pr, key, got in ((records, "record_ids", document.metadata.document_ids),
                             (batches, "batch_ids", document.metadata.batch_ids)):  # fmt: skip
            got_set, want_set = {_norm(i) for i in got}, {_norm(i) for i in wanted.get(key, [])}
            pr.add({(name, i) for i in got_set}, {(name, i) for i in want_set})
            if got_set != want_set:
                mismatches.append(f"{name} {key}: missed {sorted(want_set - got_set)}, extra {sorted(got_set - want_set)}")
        if "event" in wanted:
            _score_event(name, document, wanted["event"], extractor, fields, dates, flags, mismatches)
        if "qta" in wanted:
            review = extractor.review_qta(source_of(document)) if document.kind == DocumentKind.QTA else None
            got = {f.element_id: f.status.value for f in review.findings} if review else {}
            for element, status in wanted["qta"].items():
                qta_total += 1
                qta_right += got.get(element) == status
                if got.get(element) != status:
                    mismatches.append(f"{name} {element}: gold {status}, got {got.get(element, 'not reviewed')}")
    identifiers = PrecisionRecall(
        true_positives=records.true_positives + batches.true_positives,
        false_positives=records.false_positives + batches.false_positives,
        false_negatives=records.false_negatives + batches.false_negatives,
    )
    return ReaderScores(
        gold_set=gold_set,
        documents=len(gold["documents"]),
        kind_accuracy=round(kinds_right / len(gold["documents"]), 3),
        identifiers=identifiers.summary(),
        record_ids=records.summary(),
        batch_ids=batches.summary(),
        event_fields=fields.summary(),
        date_roles=dates.summary(),
        flags=flags.summary(),
        qta_elements=qta_total,
        qta_element_accuracy=round(qta_right / qta_total, 3) if qta_total else 1.0,
        mismatches=mismatches,
    )


def _score_event(name, document, wanted, extractor, fields, dates, flags, mismatches) -> None:
    event = extractor.triage(source_of(document)) if document.kind in TRIAGED_KINDS else None
    if event is None:
        mismatches.append(f"{name}: not triaged (read as {document.kind.value})")
    for field in EVENT_FIELDS:
        got = getattr(getattr(event, field), "value", getattr(event, field)) if event else None
        want = wanted.get(field)
        fields.add({(name, field, got)} if got is not None else set(), {(name, field, want)} if want is not None else set())
        if event and got != want:
            mismatches.append(f"{name} {field}: gold {want}, got {got}")
    for role in DATE_ROLES:
        got, want = _iso(getattr(event.dates, role)) if event else None, _iso(wanted.get(role))
        dates.add({(name, role, got)} if got else set(), {(name, role, want)} if want else set())
        if event and got != want:
            mismatches.append(f"{name} {role}: gold {want}, got {got}")
    got_flags, want_flags = {f.value for f in event.flag_codes} if event else set(), set(wanted.get("flags", []))
    flags.add({(name, f) for f in got_flags}, {(name, f) for f in want_flags})
    if event and got_flags != want_flags:
        mismatches.append(f"{name} flags: missed {sorted(want_flags - got_flags)}, extra {sorted(got_flags - want_flags)}")


def render_sources(sources: Path, out: Path) -> Path:
    from fixtures.render import load_source, render

    out.mkdir(parents=True, exist_ok=True)
    for source in sorted(sources.glob("*.md")):
        render(load_source(source), out)
    return out


def _run_one(corpus: Path, settings: Settings, gold: dict, gold_set: str) -> ReaderScores:
    store = load_store(corpus, settings)
    try:
        extractor = Extractor(settings, store, load_portfolio(settings.portfolio_path))
        return score(store, extractor, gold, gold_set)
    finally:
        store.engine.dispose()


def run(corpus_dir: Path, settings: Settings) -> ReadersReport:
    """The sample corpus with its own portfolio, then each other gold set with its sponsor's."""
    with tempfile.TemporaryDirectory(prefix="cdmo-eval-readers-") as work:
        sample = settings.model_copy(update={"data_dir": Path(work) / "sample", "database_url": None})
        sample.data_dir.mkdir(parents=True)
        scores = [_run_one(corpus_dir, sample, sample_gold(), "sample")]
        for name, gold_path, sources, portfolio in SETS:
            files = render_sources(sources, Path(work) / f"{name}-files")
            gold = yaml.safe_load(gold_path.read_text(encoding="utf-8"))
            for with_meaning in (True, False):  # the second run shows what the meaning signal adds
                label = name if with_meaning else f"{name}, no meaning signal"
                local = settings.model_copy(update={
                    "data_dir": Path(work) / label, "database_url": None, "portfolio_path": portfolio,
                    "reading_meaning": with_meaning,
                })  # fmt: skip
                local.data_dir.mkdir(parents=True)
                scores.append(_run_one(files, local, gold, label))
        return ReadersReport(scores=scores)

