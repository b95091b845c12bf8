"""Hostile and broken files, made on the fly from real ones (those made from nothing: eval/hostile_files.py)."""

import io
from pathlib import Path

from pypdf import PdfReader, PdfWriter

from eval.hostile_files import docx_bomb, long_text, many_page_pdf, png_bomb  # noqa: F401  (for the tests)


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

