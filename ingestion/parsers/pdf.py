"""PDF pages with pypdf, keeping page numbers; layout mode keeps table columns apart.

A page without a usable text layer (a scan) is read by OCR; a page that gives no text either way is
reported with the document as unreadable, by number and reason.
"""

import logging
import re
from collections import Counter
from io import BytesIO

from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError

from core.config import Settings
from core.documents import FileType, Page, PageScan, ParsedDocument, UnreadablePage
from core.errors import IngestError, described
from core.work import step, work_on
from ingestion.blocks import blocks_from_text, first_heading, normalized
from ingestion.ocr import letters, nothing_readable, read_pages, unavailable, usable_text

log = logging.getLogger(__name__)

# Titles that PDF writers and scanners fill in by default (reportlab's "untitled", a scanner's "Scan"):
# the document's own first heading says more.
_PLACEHOLDER_TITLE = re.compile(r"^(untitled|(scanned )?(scan|image|document)[\s_-]*\d*|)$", re.I)


def parse_pdf(name: str, data: bytes, settings: Settings) -> ParsedDocument:
    try:
        reader = PdfReader(BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(name, "PDF is encrypted and needs a password")
        count = len(reader.pages)
        if count > settings.max_pages:  # counted before any page is read: reading 5,000 pages takes minutes
            raise IngestError(name, f"document has {count:,} pages, over the {settings.max_pages:,}-page limit")
        raw_pages = []
        for number, page in enumerate(reader.pages, 1):
            step("reading page", number, count)
            raw_pages.append(_page_text(page))
        title = (reader.metadata.title if reader.metadata else None) or ""
    except IngestError:
        raise
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise IngestError(name, f"corrupt or unreadable PDF: {described(log, name, exc)}") from exc
    except Exception as exc:  # pypdf raises a wide variety on damaged files; none may escape unnamed
        if "crypt" in str(exc).lower():
            raise IngestError(name, "PDF is encrypted with an unsupported method") from exc
        raise IngestError(name, f"corrupt or unreadable PDF: {described(log, name, exc)}") from exc
    if not raw_pages:
        raise IngestError(name, "PDF has no pages")
    scans, unreadable = _read_scanned_pages(name, data, raw_pages, settings)
    pages = [Page(number=i + 1, text=t) for i, t in enumerate(raw_pages)]
    furniture = _running_heads(raw_pages)
    blocks = [b for p in pages for b in blocks_from_text(p.text, p.number, furniture)]
    if not blocks:
        raise IngestError(name, nothing_readable(unreadable, "no text layer"))
    return ParsedDocument(
        file_type=FileType.PDF,
        title=title.strip() if not _PLACEHOLDER_TITLE.match(title.strip()) else first_heading(blocks),
        pages=pages,
        blocks=blocks,
        scans=scans,
        unreadable=unreadable,
    )


def _read_scanned_pages(
    name: str, data: bytes, page_texts: list[str], settings: Settings
) -> tuple[list[PageScan], list[UnreadablePage]]:
    """OCR the pages whose text layer is unusable, replacing their text in place; report what stays unread."""
    scans, unreadable = [], []
    numbers = [i + 1 for i, text in enumerate(page_texts) if not usable_text(text)]
    work = work_on(name, settings)
    if numbers and unavailable(settings) is None:
        work.ocr(len(numbers))  # within the per-file and per-hour OCR limits, or refused before any is read
    for page in read_pages(data, numbers, settings, work) if numbers else []:
        layer = page_texts[page.number - 1]
        if page.text and letters(page.text) > 1.2 * letters(layer):
            page_texts[page.number - 1] = page.text
            scans.append(page.scan)
        elif page.problem:
            thin = f"its text layer has only {letters(layer)} letters, and " if letters(layer) else ""
            unreadable.append(UnreadablePage(page=page.number, reason=thin + page.problem))
            if page.scan is not None:
                scans.append(page.scan)  # its image, so a reviewer can look at what could not be read
        # else OCR read no more than the text layer has (a short digital page): the layer is kept
    return scans, unreadable


def _page_text(page) -> str:
    text = page.extract_text(extraction_mode="layout", layout_mode_space_vertically=False)
    # layout mode pads every line to its x position; keep the columns, drop the trailing pad
    return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n")


def _running_heads(page_texts: list[str]) -> frozenset[str]:
    """Letterheads and footers: lines at the top or bottom of most pages, or a bare page number."""
    edge_lines = Counter()
    page_numbers = set()
    for text in page_texts:
        lines = [normalized(l) for l in text.splitlines() if l.strip()]
        edges = set(lines[:2] + lines[-2:])
        edge_lines.update(edges)
        page_numbers |= {l for l in edges if re.search(r"\bpage #( of #)?$", l)}
    repeated = {l for l, n in edge_lines.items() if n >= 2 and n >= len(page_texts) / 2}
    return frozenset(repeated | page_numbers)
