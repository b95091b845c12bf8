"""Hostile and broken files, made on the fly from real ones."""

import io
import zipfile
from pathlib import Path

from pypdf import PdfReader, PdfWriter


def encrypted_pdf(source: Path, user_password: str = "s3cret") -> bytes:
    """AES-256; with an empty user password it opens without one but stays restricted."""
    writer = PdfWriter(clone_from=PdfReader(source))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def corrupt_pdf(source: Path) -> bytes:
    data = source.read_bytes()
    return data[:200] + b"\x00garbage\xff" * 50  # header intact, body and xref gone


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
