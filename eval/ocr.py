"""OCR eval on the scanned fixtures (fixtures/scanned): how well a scan reads, and what it costs downstream.

- character accuracy: 1 - normalised Levenshtein distance between the OCR text of a page and the text
  printed on it (the digital PDF's text layer), both with whitespace collapsed; per page, and over all
  characters of all pages.
- skew: the angle OCR turned each page back by, against the angle the generator turned it (they cancel
  when OCR finds the skew exactly).
- speed: OCR'd pages per second through the real ingestion path (parse, OCR, chunk), on this machine.
- downstream: QTA review and investigation triage on each scan beside its digital original, scored
  against the digital file's entries in eval/extraction_gold.yaml.
- image files: the same scans sent as multi-page TIFF files (their 200-dpi page images), read through the
  image path: character accuracy over all their characters.
"""

import io
import re
import tempfile
import time
from pathlib import Path

import pypdfium2 as pdfium
from pydantic import BaseModel, Field
from rapidfuzz.distance import Levenshtein

from core.config import Settings
from core.portfolio import load_portfolio
from core.store import RecordStore
from eval.extraction import ExtractionScores, load_gold, score
from extraction.backends import RulesBackend
from extraction.service import Extractor
from fixtures.scans import load_ground_truth
from ingestion.pipeline import prepare


class PageAccuracy(BaseModel):
    page: int
    characters: int = Field(description="Characters printed on the page (whitespace collapsed)")
    accuracy: float
    confidence: float | None = Field(description="Tesseract's mean word confidence for the page")
    skew_applied: float
    skew_found: float | None = Field(description="The rotation OCR applied to straighten the page")


class ScanScore(BaseModel):
    scan: str
    digital: str
    pages: list[PageAccuracy]
    accuracy: float = Field(description="Over all characters of the document")
    unreadable_pages: list[int]
    seconds: float = Field(description="Parse, OCR and chunk the whole file")


class OcrReport(BaseModel):
    scans: list[ScanScore]
    accuracy: float = Field(description="Character accuracy over every character of every scanned page")
    pages: int
    pages_per_second: float
    mean_skew_error_degrees: float
    ocr_workers: int
    image_file_accuracy: float = Field(description="The scans as TIFF files: accuracy over all their characters")
    image_file_pages_per_second: float
    extraction: list[ExtractionScores] = Field(description="The rules backend on the digital files, then the scans")


def collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def character_accuracy(read: str, printed: str) -> float:
    return 1.0 - Levenshtein.normalized_distance(collapse(read), collapse(printed))


def run(corpus_dir: Path, scan_dir: Path, settings: Settings) -> OcrReport:
    truth = load_ground_truth(scan_dir)
    portfolio = load_portfolio(settings.portfolio_path)
    gold = load_gold()
    scans, prepared_scans = [], []
    for name, expected in truth.items():
        started = time.perf_counter()
        prepared = prepare(name, (scan_dir / name).read_bytes(), settings, portfolio)
        seconds = time.perf_counter() - started
        prepared_scans.append(prepared)
        read = {p.number: p.text for p in prepared.pages}
        found = {s.page: s for s in prepared.scans}
        pages = [
            PageAccuracy(
                page=number,
                characters=len(collapse(printed)),
                accuracy=round(character_accuracy(read.get(number, ""), printed), 4),
                confidence=found[number].confidence if number in found else None,
                skew_applied=expected["skew_degrees"][number - 1],
                skew_found=found[number].skew_degrees if number in found else None,
            )
            for number, printed in enumerate(expected["pages"], start=1)
        ]
        weight = sum(p.characters for p in pages)
        scans.append(
            ScanScore(
                scan=name,
                digital=expected["digital"],
                pages=pages,
                accuracy=round(sum(p.accuracy * p.characters for p in pages) / weight, 4),
                unreadable_pages=[u.page for u in prepared.document.unreadable_pages],
                seconds=round(seconds, 2),
            )
        )
    all_pages = [p for s in scans for p in s.pages]
    ocr_pages = sum(len(p.scans) for p in prepared_scans)
    skews = [abs(p.skew_found + p.skew_applied) for p in all_pages if p.skew_found is not None]
    return OcrReport(
        scans=scans,
        accuracy=round(sum(p.accuracy * p.characters for p in all_pages) / sum(p.characters for p in all_pages), 4),
        pages=ocr_pages,
        pages_per_second=round(ocr_pages / sum(s.seconds for s in scans), 3),
        mean_skew_error_degrees=round(sum(skews) / len(skews), 3) if skews else 0.0,
        ocr_workers=settings.ocr_workers,
        **_as_image_files(scan_dir, truth, settings),
        extraction=_downstream(corpus_dir, prepared_scans, truth, settings, gold),
    )


def _as_image_files(scan_dir: Path, truth: dict, settings: Settings) -> dict[str, float]:
    """Each scan's page images as one multi-page TIFF (200 dpi, stated), read through the image path."""
    portfolio = load_portfolio(settings.portfolio_path)
    weighted = characters = pages = 0
    seconds = 0.0
    for name, expected in truth.items():
        pdf = pdfium.PdfDocument((scan_dir / name).read_bytes())
        images = [page.render(scale=200 / 72).to_pil().convert("L") for page in pdf]
        pdf.close()
        tiff = io.BytesIO()
        images[0].save(tiff, format="TIFF", save_all=True, append_images=images[1:], dpi=(200, 200),
                       compression="tiff_lzw")  # fmt: skip
        started = time.perf_counter()
        prepared = prepare(name.replace(".pdf", ".tiff"), tiff.getvalue(), settings, portfolio)
        seconds += time.perf_counter() - started
        read = {p.number: p.text for p in prepared.pages}
        for number, printed in enumerate(expected["pages"], start=1):
            weighted += character_accuracy(read.get(number, ""), printed) * len(collapse(printed))
            characters += len(collapse(printed))
            pages += 1
    return {
        "image_file_accuracy": round(weighted / characters, 4),
        "image_file_pages_per_second": round(pages / seconds, 3),
    }


def _downstream(corpus_dir, prepared_scans, truth, settings: Settings, gold: dict) -> list[ExtractionScores]:
    """QTA review and triage of each scan and of its digital original, on the digital file's gold entries.

    Digital and scanned copies go to separate stores: a scan of a stored agreement is a new version of it."""
    portfolio = load_portfolio(settings.portfolio_path)
    results = []
    for label in ("digital", "scanned"):
        with tempfile.TemporaryDirectory(prefix=f"cdmo-eval-ocr-{label}-") as work:
            local = settings.model_copy(update={"data_dir": Path(work), "database_url": None})
            store = RecordStore(local.sqlalchemy_url)
            subset: dict[str, dict] = {"qta": {}, "investigations": {}}
            for prepared in prepared_scans:
                name = prepared.document.filename
                digital = truth[name]["digital"]
                if label == "digital":
                    prepared, name = prepare(digital, (corpus_dir / digital).read_bytes(), local, portfolio), digital
                store.add(prepared)
                for part in subset:
                    if digital in gold[part]:
                        subset[part][name] = gold[part][digital]
            try:
                results.append(score(store, Extractor(local, store, portfolio, RulesBackend()), subset, label))
            finally:
                store.engine.dispose()
    return results
