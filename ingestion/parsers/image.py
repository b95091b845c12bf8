"""Scans sent as image files (PNG, JPEG, TIFF; a multi-page TIFF is one document): every page read by OCR.

A page is brought to the OCR resolution first: from the resolution the file states, or, when it states
none, by taking its width for a letter or A4 page. A page that cannot be decoded or read is reported by
number and reason; a file with no readable page is refused with every page's reason.
"""

import logging
from collections.abc import Iterator
from io import BytesIO

from PIL import Image

from core.config import Settings
from core.documents import FileType, Page, ParsedDocument, UnreadablePage
from core.errors import IngestError, described
from core.work import FileWork, work_on
from ingestion.blocks import blocks_from_text, first_heading
from ingestion.ocr import nothing_readable, read_images, unavailable

log = logging.getLogger(__name__)

_PAGE_WIDTH_INCHES = 8.5  # letter; A4 is 8.27
_LOWEST_DPI = 72  # a stated resolution under this is a placeholder, not the scanner's


def parse_image(name: str, data: bytes, settings: Settings) -> ParsedDocument:
    try:
        image = Image.open(BytesIO(data))
        frames = getattr(image, "n_frames", 1)
    except Exception as exc:  # Pillow raises a wide variety on damaged files (fuzzing found TypeError)
        raise IngestError(name, f"corrupt or unreadable image: {described(log, name, exc)}") from exc
    if frames > settings.max_pages:
        raise IngestError(name, f"image has {frames:,} pages, over the {settings.max_pages:,}-page limit")
    work = work_on(name, settings)
    if unavailable(settings) is None:
        work.ocr(frames)  # every page of an image file is read by OCR
    read = read_images(_pages(image, frames, settings.ocr_dpi, work), settings, work)
    pages = [Page(number=p.number, text=p.text) for p in read]
    unreadable = [UnreadablePage(page=p.number, reason=p.problem) for p in read if p.problem]
    blocks = [b for p in pages for b in blocks_from_text(p.text, p.number)]
    if not blocks:
        raise IngestError(name, nothing_readable(unreadable, "nothing legible"))
    return ParsedDocument(
        file_type=FileType.IMAGE,
        title=first_heading(blocks),
        pages=pages,
        blocks=blocks,
        scans=[p.scan for p in read if p.scan is not None],
        unreadable=unreadable,
    )


def _pages(image: Image.Image, frames: int, dpi: int, work: FileWork) -> Iterator[tuple[int, Image.Image | str]]:
    """Each page in grey at the OCR resolution, decoded only when the OCR takes it; or why it cannot be.
    Its pixels, as stored and as brought to the OCR resolution, are counted before it is decoded."""
    for number in range(1, frames + 1):
        try:
            image.seek(number - 1)
            width, height = image.size
            stated = image.info.get("dpi", (0, 0))[0]
            source_dpi = stated if stated >= _LOWEST_DPI else width / _PAGE_WIDTH_INCHES
            scale = dpi / source_dpi
            size = (round(width * scale), round(height * scale)) if abs(scale - 1) > 0.05 else (width, height)
            try:
                work.render(number, width, height)
                if size != (width, height):
                    work.render(number, *size)
            except IngestError as exc:  # a bomb of a page: that page is unreadable, with the limit it broke
                yield number, exc.reason
                continue
            page = image.convert("L")
            if size != (width, height):
                page = page.resize(size, Image.LANCZOS)
            yield number, page
        except Exception as exc:  # a truncated or damaged frame: reported with its page, never unnamed
            yield number, f"the page image cannot be decoded: {described(log, f'page {number}', exc)}"
