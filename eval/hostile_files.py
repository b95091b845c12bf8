"""Hostile files made from nothing, for the load run and the tests: each is refused by a limit, quickly.

They are what a careless or hostile client sends: a PDF of thousands of pages sharing one huge media box
(tiny on disk), hundreds of blank pages that would all go to OCR, megabytes of text, a DOCX that inflates
a thousandfold, a PNG that declares 81 M pixels.
"""

import io
import zipfile
import zlib

from pypdf import PdfWriter


def docx_bomb(member_bytes: int = 40_000_000) -> bytes:
    """A DOCX-shaped ZIP whose document part inflates ~1000x."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"\0" * member_bytes)
    return out.getvalue()


def many_page_pdf(pages: int, inches: float = 8.5, text: str | None = None) -> bytes:
    """A PDF of `pages` pages sharing one page object's content: tiny on disk. A huge media box (inches per
    side) makes every page expensive to lay out or render; no text makes every page a candidate for OCR."""
    from pypdf.generic import DecodedStreamObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(width=inches * 72, height=inches * 72)
    if text:
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 12 Tf 72 72 Td ({text}) Tj ET".encode())
        page[NameObject("/Contents")] = writer._add_object(stream)
    for _ in range(pages - 1):
        writer.add_page(page)  # the same content and resources each time
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def long_text(megabytes: float = 2.0) -> bytes:
    """A plain-text file of ordinary sentences, `megabytes` long."""
    sentence = "On 3 March 2025 the operator recorded the fill weight of vial tray {n} as within limits. "
    out, n = [], 0
    while sum(map(len, out)) < megabytes * 1_000_000:
        out.append(sentence.format(n=n) + ("\n\n" if n % 8 == 7 else ""))
        n += 1
    return "".join(out).encode()


def png_bomb(side: int = 9000) -> bytes:
    """A small PNG whose header declares side x side pixels."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (40, 40), 255).save(out, format="PNG")
    small = out.getvalue()
    ihdr = small[16:29]  # width, height, depth, colour type, compression, filter, interlace
    huge = side.to_bytes(4, "big") + side.to_bytes(4, "big") + ihdr[8:]
    return small[:16] + huge + zlib.crc32(b"IHDR" + huge).to_bytes(4, "big") + small[33:]
