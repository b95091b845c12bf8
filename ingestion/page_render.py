"""A PDF page drawn as an image, and where a quoted passage stands on it, so a citation opens on the page itself.

The stored page text comes from pypdf's layout mode (spaces padded to keep columns apart); pdfium draws the page
and knows where each of its characters is. The two texts differ in whitespace only, so the quote is found in
pdfium's characters with all whitespace set aside, and its characters' boxes are joined into one rectangle per
line. A quote not found there (a page pdfium reads differently) gets no boxes: the page text is shown instead.
"""

import io
import re

import pypdfium2 as pdfium

from core.documents import Box

RENDER_SCALE = 1.5  # 108 dpi: readable beside the chat at half a screen's width, about 150 KB a page as PNG


class UndrawablePage(ValueError):
    """A page pdfium cannot open or draw (a PDF pypdf read but pdfium refuses): its text is shown instead."""


def _page(data: bytes, number: int):
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise UndrawablePage(f"the file cannot be drawn: {exc}") from None
    if not 1 <= number <= len(pdf):
        pdf.close()
        raise UndrawablePage(f"no page {number}")
    return pdf, pdf[number - 1]


def page_png(data: bytes, number: int) -> bytes:
    """Page `number` (from 1) of the PDF `data`, drawn as a PNG."""
    pdf, page = _page(data, number)
    try:
        image = page.render(scale=RENDER_SCALE).to_pil()
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        return out.getvalue()
    finally:
        pdf.close()


def quote_boxes(data: bytes, number: int, quote: str) -> list[Box]:
    """Where `quote` stands on page `number`: a box per line it runs over (none where it is not found)."""
    pdf, page = _page(data, number)
    try:
        width, height = page.get_size()
        text = page.get_textpage()
        count = text.count_chars()
        chars = text.get_text_range(0, count)
        kept = [i for i, c in enumerate(chars[:count]) if not c.isspace()]
        squeezed = "".join(chars[i] for i in kept).casefold()
        lines: list[list[float]] = []  # left, bottom, right, top in PDF points, one per line of the page
        for i in _found(squeezed, quote, kept):
            left, bottom, right, top = text.get_charbox(i, loose=True)  # the font's height, not the glyph's
            line = lines[-1] if lines else None
            middle = (bottom + top) / 2
            if line and line[1] <= middle <= line[3] and left >= line[0] - 1:  # on the same line, further along
                line[:] = min(line[0], left), min(line[1], bottom), max(line[2], right), max(line[3], top)
            else:
                lines.append([left, bottom, right, top])
        pad = 1.5  # points around the glyphs, so a highlight does not cut through them
        return [
            Box(left=(l - pad) / width, top=(height - t - pad) / height, width=(r - l + 2 * pad) / width,
                height=(t - b + 2 * pad) / height)  # fmt: skip
            for l, b, r, t in lines  # noqa: E741
        ]
    finally:
        pdf.close()


def _found(squeezed: str, quote: str, kept: list[int]) -> list[int]:
    """pdfium's indices of the quote's characters: the whole quote where pdfium reads it in the same order, else
    line by line and cell by cell (pypdf's layout and pdfium may order a page's lines, a table's cells, differently)."""
    whole = "".join(quote.split()).casefold()
    if not whole:
        return []
    if (at := squeezed.find(whole)) >= 0:
        return kept[at : at + len(whole)]
    found, after = [], 0
    for cell in re.split(r"\n|\s{2,}", quote):  # lines, and the cells of a table's row
        part = "".join(cell.split()).casefold()
        if len(part) < 3:
            continue  # a fragment this short would be found anywhere
        at = squeezed.find(part, after)
        at = squeezed.find(part) if at < 0 else at
        if at >= 0:
            found += kept[at : at + len(part)]
            after = at + len(part)
    return sorted(set(found))
