"""OCR for PDF pages without a usable text layer and for image files: Tesseract on a cleaned page image,
keeping word boxes.

Scans arrive grey, noisy, a little skewed and often with ruled tables. Before Tesseract reads a page it is
smoothed and binarised (Otsu's threshold), straightened (the angle whose row profile is sharpest), and
cleared of ruling lines and specks, which Tesseract otherwise reads as punctuation. Measured on the
scanned fixtures this lifts character accuracy on table pages from about 0.33 to 0.96.

The page text is rebuilt line by line from the word boxes, with column gaps kept as runs of spaces at the
column's position, so a scanned table reads like pypdf's layout text and the same block and table rules
apply. Every word keeps its span in that text and its box on the straightened page image (stored with
the page), so a citation can be drawn on the image.
"""

import io
import logging
import os
import re
import shutil
import statistics
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice

import numpy as np
import pypdfium2 as pdfium
import pytesseract
from PIL import Image
from scipy import ndimage

from core.config import Settings
from core.documents import PageScan, UnreadablePage, WordBox
from core.errors import described
from core.work import FileWork

log = logging.getLogger(__name__)

# Tesseract's OpenMP threads contend on a small machine: one page took 8.5 s with them and 3.5 s without
# on 2 cores. Pages are read in parallel instead (ocr_workers). The limit goes into the Tesseract processes'
# environment only: set on this process it also held torch and onnxruntime to one thread.
TESSERACT_ENV = {"OMP_THREAD_LIMIT": "1"}

_MIN_LETTERS = 40  # fewer letters than this in a page's text layer: the page is an image (or blank)
_IMAGE_DPI = 150  # the stored page image: enough to read, a tenth of the size at 300 dpi
_PAGE_TIMEOUT_S = 120
_BLANK = 0.0002  # share of dark pixels under which a page is blank (a line of 10-point text is about 0.002)
_DOUBTFUL = 60  # word confidence below which stray punctuation is taken for a rule remnant
_REMNANT_MARKS = ".,:;'`\u2018\u2019\u201c\u201d\"_~-\u2014=+^*/\\"
_SPECK = 0.5  # a doubtful letter less than half the usual word height is dust
_TALL_MARK = 1.5  # punctuation this many times the height of its line's words is a piece of a rule, not a mark
# Gaps between words, in character widths. Justified prose stretches a space to as much as 2.5; table
# columns on the fixtures sit 3 or more apart. A gap of 4 is a column; from 2 it is one where another line
# has a gap ending at the same place (a column edge runs down the table, a wide space in prose does not).
_COLUMN_GAP = 4.0
_ALIGNED_GAP = 2.0
_BARRED_NUMBER = re.compile(r"^\d*[\]\[|]+\d*[.,;:]?$")


@dataclass
class OcrPage:
    number: int
    text: str  # empty when the page could not be read
    scan: PageScan | None  # None when the page could not even be rendered
    problem: str | None = None


def letters(text: str) -> int:
    return sum(c.isalpha() for c in text)


def usable_text(text: str) -> bool:
    """A text layer worth reading: enough letters, and mostly letters (not glyph codes or symbols)."""
    visible = sum(not c.isspace() for c in text)
    return letters(text) >= _MIN_LETTERS and letters(text) >= 0.5 * visible


def nothing_readable(unreadable: list[UnreadablePage], otherwise: str) -> str:
    """Why a file gave no text: each reason once, with its pages ("pages 1-150: the page is blank")."""
    by_reason: dict[str, list[int]] = {}
    for u in unreadable:
        by_reason.setdefault(u.reason, []).append(u.page)
    parts = [f"{_pages_named(pages)}: {reason}" for reason, pages in by_reason.items()]
    return f"no readable text on any page ({'; '.join(parts) or otherwise})"


def _pages_named(pages: list[int]) -> str:
    if len(pages) == 1:
        return f"page {pages[0]}"
    runs, start = [], pages[0]
    for prev, page in zip(pages, pages[1:] + [None]):
        if page != prev + 1:
            runs.append(str(start) if start == prev else f"{start}-{prev}")
            start = page
    return "pages " + ", ".join(runs)


def unavailable(settings: Settings) -> str | None:
    """Why OCR cannot run here, or None."""
    if not settings.ocr_enabled:
        return "OCR is turned off (CDMO_OCR_ENABLED=false)"
    if shutil.which(settings.tesseract_cmd) is None:
        return f"OCR is not available: {settings.tesseract_cmd} is not installed (Debian: tesseract-ocr)"
    return None


def read_pages(data: bytes, numbers: list[int], settings: Settings, work: FileWork) -> list[OcrPage]:
    """OCR the given 1-based pages of a PDF, each page's pixels counted against the file's budget first."""
    if reason := unavailable(settings):
        return [OcrPage(n, "", None, reason) for n in numbers]
    pdf = pdfium.PdfDocument(data)
    try:  # pdfium is not thread-safe: pages are rendered in this thread, read in the pool
        return read_images(((n, _render(pdf, n, settings.ocr_dpi, work)) for n in numbers), settings, work)
    finally:
        pdf.close()


def read_images(images: Iterable[tuple[int, Image.Image | str]], settings: Settings, work: FileWork) -> list[OcrPage]:
    """OCR numbered page images (or the reason a page has none), a few at a time: each page image is
    ~9 MB at 300 dpi, so they are produced only as the workers take them."""
    images = iter(images)
    if reason := unavailable(settings):
        return [OcrPage(n, "", None, reason) for n, _ in images]
    pytesseract.pytesseract.tesseract_cmd = settings.tesseract_cmd
    pytesseract.pytesseract.environ = os.environ | TESSERACT_ENV  # what pytesseract hands its subprocess
    workers = max(1, settings.ocr_workers)
    out: list[OcrPage] = []
    with ThreadPoolExecutor(workers) as pool:
        while batch := list(islice(images, workers)):
            out.extend(pool.map(lambda item: _read_safely(item[0], item[1], settings), batch))
            work.step("reading scanned pages", len(out), None)
    return out


def _render(pdf: pdfium.PdfDocument, number: int, dpi: int, work: FileWork) -> Image.Image | str:
    page = pdf[number - 1]
    width, height = page.get_size()  # points: the image's size is known before it is made
    work.render(number, round(width * dpi / 72), round(height * dpi / 72))
    try:
        return page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
    except Exception as exc:  # a damaged page must be reported, not take the document down
        return f"the page cannot be rendered: {described(log, f'page {number}', exc)}"


def _read_safely(number: int, image: Image.Image | str, settings: Settings) -> OcrPage:
    try:
        return _read(number, image, settings)
    except Exception as exc:  # one odd page must be reported, not take the document down
        return OcrPage(number, "", None, f"OCR failed: {described(log, f'page {number}', exc)}")


def _read(number: int, image: Image.Image | str, settings: Settings) -> OcrPage:
    if isinstance(image, str):
        return OcrPage(number, "", None, image)
    dpi = settings.ocr_dpi
    dark = _binarise(np.asarray(image))
    if dark.mean() < _BLANK:  # nothing on it for Tesseract to read: said at once, not after seconds of OCR
        scan = PageScan(page=number, confidence=0.0, image_jpeg=_jpeg(image, dpi))
        return OcrPage(number, "", scan, "the page is blank")
    angle = _skew(dark)
    if angle:
        image = image.rotate(angle, resample=Image.BILINEAR, fillcolor=255)
        dark = np.asarray(Image.fromarray(dark.astype(np.uint8) * 255).rotate(angle, resample=Image.NEAREST)) > 127
    clean = Image.fromarray(np.where(_without_rules_and_specks(dark, dpi), 0, 255).astype(np.uint8))
    scan = PageScan(page=number, confidence=0.0, skew_degrees=round(angle, 2), image_jpeg=_jpeg(image, dpi))
    try:
        data = pytesseract.image_to_data(
            clean,
            lang=settings.ocr_language,
            config="--psm 4 -c tessedit_char_blacklist=|",  # one column of text of varying sizes: a table row stays one line
            output_type=pytesseract.Output.DICT,
            timeout=_PAGE_TIMEOUT_S,
        )
    except (pytesseract.TesseractError, RuntimeError, OSError) as exc:
        return OcrPage(number, "", scan, f"OCR failed ({' '.join(str(exc).split())[:200]})")
    words = _repair_ones(_words(data))
    if not words:
        return OcrPage(number, "", scan, "no text found on the page image (blank, or nothing legible)")
    text, boxes = _layout(words, *image.size)
    scan.confidence = round(statistics.fmean(w.confidence for w in boxes), 1)
    if scan.confidence < settings.ocr_min_confidence:
        reason = f"OCR confidence {scan.confidence:.0f} is below the {settings.ocr_min_confidence:.0f} minimum"
        return OcrPage(number, "", scan, reason)
    scan.words = boxes
    return OcrPage(number, text, scan)


# --- image cleaning ---------------------------------------------------------------------------------


def _binarise(grey: np.ndarray) -> np.ndarray:
    """Dark pixels (True) after a 3x3 mean, which averages the grain out before thresholding."""
    smooth = ndimage.uniform_filter(grey, 3)
    return smooth <= _otsu(smooth)


def _otsu(grey: np.ndarray) -> int:
    p = np.bincount(grey.ravel(), minlength=256) / grey.size
    weight = np.cumsum(p)
    mean = np.cumsum(p * np.arange(256))
    between = (mean[-1] * weight - mean) ** 2 / (weight * (1 - weight) + 1e-12)
    return int(np.argmax(between))


def _skew(dark: np.ndarray) -> float:
    """The rotation (degrees, within 3) that makes the text lines horizontal: the sharpest row profile."""
    f = 6
    h, w = dark.shape[0] // f * f, dark.shape[1] // f * f
    if not h or not w:
        return 0.0
    small = Image.fromarray((dark[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3)) * 255).astype(np.uint8))

    def sharpness(angle: float) -> float:
        rows = np.asarray(small.rotate(angle, resample=Image.BILINEAR), dtype=np.float32).sum(axis=1)
        return float(np.var(np.diff(rows)))

    coarse = max(np.arange(-3, 3.01, 0.25), key=sharpness)
    fine = max(np.arange(coarse - 0.2, coarse + 0.21, 0.05), key=sharpness)
    return 0.0 if abs(fine) < 0.05 else float(fine)


def _without_rules_and_specks(dark: np.ndarray, dpi: int) -> np.ndarray:
    rules = _rules(dark, dpi, axis=1) | _rules(dark, dpi, axis=0)
    dark = dark & ~ndimage.maximum_filter(rules, size=max(3, dpi // 60))  # and its ragged edge
    labels, _ = ndimage.label(dark, structure=np.ones((3, 3)))
    speck = np.bincount(labels.ravel()) < max(4, round(12 * (dpi / 300) ** 2))  # smaller than a full stop
    speck[0] = False
    return dark & ~speck[labels]


def _rules(dark: np.ndarray, dpi: int, axis: int) -> np.ndarray:
    """Ruling lines along the axis: over half an inch, mostly dark, and thin (clear a little to either side).

    A light rule comes out of the threshold as dashes, so "mostly" is 60%; a row through text is dense
    too, but so are the rows beside it.
    """
    length, side = max(30, dpi // 2), max(3, dpi // 50)
    density = ndimage.uniform_filter1d(dark.astype(np.float32), length, axis=axis)
    clear = (np.roll(density, side, axis=1 - axis) < 0.2) & (np.roll(density, -side, axis=1 - axis) < 0.2)
    return ndimage.maximum_filter1d((density >= 0.6) & clear, length, axis=axis)


def _jpeg(image: Image.Image, dpi: int) -> bytes:
    scale = min(1.0, _IMAGE_DPI / dpi)
    small = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


# --- text from word boxes ---------------------------------------------------------------------------


@dataclass
class _Word:
    line: tuple[int, int, int]
    text: str
    left: int
    top: int
    width: int
    height: int
    confidence: float


def _words(data: dict) -> list[_Word]:
    out = []
    for i, text in enumerate(data["text"]):
        text = (text or "").strip()
        confidence = float(data["conf"][i])
        if text and confidence >= 0:
            line = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
            out.append(
                _Word(line, text, data["left"][i], data["top"][i], data["width"][i], data["height"][i], confidence)
            )
    return _without_rule_remnants(out)


def _without_rule_remnants(words: list[_Word]) -> list[_Word]:
    """What is left of a table rule reads as a lone bar, or as punctuation that Tesseract doubts or that
    stands upright and taller than the text of its line; dust left on the page reads as a tiny letter."""
    if not words:
        return words
    heights: dict[tuple[int, int, int], list[int]] = {}
    for w in words:
        heights.setdefault(w.line, []).append(w.height)
    line_height = {line: statistics.median(h) for line, h in heights.items()}

    page_height = statistics.median(w.height for w in words)

    def remnant(w: _Word) -> bool:
        if len(w.text) <= 2 and w.height < _SPECK * page_height and w.confidence < _DOUBTFUL:
            return True  # a speck read as a letter
        if any(c.isalnum() for c in w.text):
            return False
        if set(w.text) <= set("|¦[]{}"):
            return True
        tall = w.height > max(_TALL_MARK * line_height[w.line], w.width)  # upright, like a column rule
        return set(w.text) <= set(_REMNANT_MARKS) and (w.confidence < _DOUBTFUL or tall)

    return [w for w in words if not remnant(w)]


def _repair_ones(words: list[_Word]) -> list[_Word]:
    """A serif "1" often comes back as "1]" or "|": in a number, a bar or bracket is a 1 if its box has room.

    "within 1 business day" read as "1]" has a box one narrow glyph wide, so the bracket is dropped;
    "Part 11" read as "1]" has a box two glyphs wide, so the bracket is the second 1."""
    if not words:
        return words
    char_width = statistics.median(w.width / len(w.text) for w in words)
    for w in words:
        if _BARRED_NUMBER.match(w.text) and any(c.isdigit() for c in w.text):
            one_glyph = w.width < 0.8 * char_width
            w.text = re.sub(r"[\]\[|]", "" if one_glyph else "1", w.text)
    return words


def _layout(words: list[_Word], width: int, height: int) -> tuple[str, list[WordBox]]:
    """Page text with one line per OCR line, words placed by their x position, and each word's span."""
    char_width = statistics.median(w.width / len(w.text) for w in words)
    margin = min(w.left for w in words)
    lines: dict[tuple[int, int, int], list[_Word]] = {}
    for w in words:
        lines.setdefault(w.line, []).append(w)
    for line_words in lines.values():
        line_words.sort(key=lambda w: w.left)
    column_starts = _column_starts(list(lines.values()), char_width)

    text, boxes = "", []
    for line_words in lines.values():
        line, right = "", None
        for w in line_words:
            column = 1 + round((w.left - margin) / char_width)
            if right is None:
                pad = column
            elif id(w) in column_starts:
                pad = max(3, column - len(line))  # a column gap: at least three spaces, as layout text has
            else:
                pad = 1
            line += " " * pad
            start = len(text) + len(line)
            line += w.text
            right = w.left + w.width
            boxes.append(
                WordBox(
                    text=w.text,
                    start=start,
                    end=start + len(w.text),
                    left=round(w.left / width, 5),
                    top=round(w.top / height, 5),
                    width=round(w.width / width, 5),
                    height=round(w.height / height, 5),
                    confidence=w.confidence,
                )
            )
        text += line + "\n"
    return text.rstrip("\n"), boxes


def _column_starts(lines: list[list[_Word]], char_width: float) -> set[int]:
    """The words (by id) that begin a table column: after a wide gap, or a gap whose edge other lines share."""
    wide = [
        (n, b, b.left - (a.left + a.width))
        for n, words in enumerate(lines)
        for a, b in zip(words, words[1:])
        if b.left - (a.left + a.width) >= _ALIGNED_GAP * char_width
    ]
    return {
        id(w)
        for n, w, gap in wide
        if gap >= _COLUMN_GAP * char_width or any(m != n and abs(o.left - w.left) <= char_width for m, o, _ in wide)
    }
