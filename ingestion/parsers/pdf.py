"""PDF pages with pypdf, keeping page numbers; layout mode keeps table columns apart."""

import re
from collections import Counter
from io import BytesIO

from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError

from core.documents import FileType, Page, ParsedDocument
from core.errors import IngestError
from ingestion.blocks import blocks_from_text, normalized


def parse_pdf(name: str, data: bytes) -> ParsedDocument:
    try:
        reader = PdfReader(BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(name, "PDF is encrypted and needs a password")
        raw_pages = [_page_text(p) for p in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or ""
    except IngestError:
        raise
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise IngestError(name, f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})") from exc
    except Exception as exc:  # pypdf raises a wide variety on damaged files; none may escape unnamed
        if "crypt" in str(exc).lower():
            raise IngestError(name, f"PDF is encrypted with an unsupported method ({exc})") from exc
        raise IngestError(name, f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})") from exc
    if not raw_pages:
        raise IngestError(name, "PDF has no pages")
    pages = [Page(number=i + 1, text=t) for i, t in enumerate(raw_pages)]
    furniture = _running_heads(raw_pages)
    blocks = [b for p in pages for b in blocks_from_text(p.text, p.number, furniture)]
    if not blocks:
        raise IngestError(name, "PDF has no text layer on any page (scanned?); OCR is not available")
    return ParsedDocument(file_type=FileType.PDF, title=title.strip() or _first_heading(blocks), pages=pages, blocks=blocks)


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


def _first_heading(blocks) -> str:
    return next((b.text for b in blocks if b.kind == "heading"), blocks[0].text[:80])
