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

