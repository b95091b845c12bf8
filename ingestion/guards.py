"""Refuse what would be dangerous or pointless to parse, before any parser sees it."""

import re
import zipfile
from io import BytesIO
from pathlib import Path

from core.config import Settings
from core.documents import FileType
from core.errors import IngestError


def check_size(name: str, size: int, settings: Settings) -> None:
    if size == 0:
        raise IngestError(name, "file is empty")
    if size > settings.max_file_bytes:
        raise IngestError(name, f"file is {size:,} bytes, over the {settings.max_file_bytes:,}-byte limit")


def read_file(path: Path, settings: Settings) -> bytes:
    """Read a file from disk, checking its size before reading it whole."""
    name = path.name
    try:
        if not path.is_file():
            raise IngestError(str(path), "not a regular file")
        check_size(name, path.stat().st_size, settings)
        return path.read_bytes()
    except OSError as exc:
        raise IngestError(str(path), f"cannot read file ({exc.strerror or exc})") from exc


# a MIME part that holds others: a multipart body or an attached message
_CONTAINER_PART = re.compile(rb"^content-type:\s*(multipart/|message/rfc822)", re.I | re.M)


def check_archive(name: str, data: bytes, file_type: FileType, settings: Settings) -> None:
    """A DOCX is a ZIP: refuse one that would unpack to far more than it weighs (a ZIP bomb). An e-mail is a tree
    of parts: refuse one of more container parts than a message nests (its parser would recurse past its limit)."""
    if file_type == FileType.EML:
        nested = len(_CONTAINER_PART.findall(data))
        if nested > settings.max_email_parts:
            raise IngestError(name, f"the e-mail holds {nested:,} nested messages or multipart parts, over the "
                                    f"{settings.max_email_parts:,}-part limit (CDMO_MAX_EMAIL_PARTS)")  # fmt: skip
        return
    if file_type != FileType.DOCX:
        return
    try:
        members = zipfile.ZipFile(BytesIO(data)).infolist()
    except zipfile.BadZipFile as exc:
        raise IngestError(name, "corrupt DOCX: its container (ZIP) is damaged") from exc
    if len(members) > 10_000:
        raise IngestError(name, f"DOCX holds {len(members):,} parts; refusing a probable ZIP bomb")
    unpacked = sum(m.file_size for m in members)
    if unpacked > settings.max_unpacked_bytes:
        raise IngestError(
            name, f"DOCX would unpack to {unpacked:,} bytes, over the {settings.max_unpacked_bytes:,}-byte limit"
        )
    for m in members:
        if m.file_size > 1_000_000 and m.file_size > settings.max_compression_ratio * max(m.compress_size, 1):
            raise IngestError(
                name,
                f"DOCX part {m.filename} expands {m.file_size / max(m.compress_size, 1):,.0f}x; "
                "refusing a probable ZIP bomb",
            )
