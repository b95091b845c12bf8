"""What a file really is, judged by its bytes first and its name second; and which names are safe."""

import re
import zipfile
from io import BytesIO

from core.documents import FileType
from core.errors import IngestError

EXTENSIONS = {
    ".pdf": FileType.PDF,
    ".docx": FileType.DOCX,
    ".eml": FileType.EML,
    ".msg": FileType.MSG,
    ".html": FileType.HTML,
    ".htm": FileType.HTML,
    ".md": FileType.MARKDOWN,
    ".markdown": FileType.MARKDOWN,
    ".txt": FileType.TEXT,
    ".png": FileType.IMAGE,
    ".jpg": FileType.IMAGE,
    ".jpeg": FileType.IMAGE,
    ".tif": FileType.IMAGE,
    ".tiff": FileType.IMAGE,
}
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")  # PNG, JPEG, TIFF
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_EMAIL_HEADER = re.compile(rb"^(From|To|Subject|Date|Message-ID|Received|Return-Path|MIME-Version):", re.I | re.M)
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")
# characters that reorder or hide what a name shows ("invoice\u202efdp.exe" reads as "invoiceexe.pdf"): removed
_BIDI = re.compile(r"[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def safe_filename(name: str) -> str:
    """The name as given, refused when it tries to point anywhere but at itself; characters that change the
    direction or visibility of what it shows are removed, so that it reads as it is."""
    if not name or not name.strip():
        raise IngestError("(unnamed)", "the upload has no filename")
    if _UNSAFE_NAME.search(name):
        raise IngestError(repr(name), "filename contains control characters")
    name = _BIDI.sub("", name)  # the name is shown as it reads
    if not name.strip():
        raise IngestError("(unnamed)", "the upload's filename is only direction or invisible characters")
    if "/" in name or "\\" in name or name in {".", ".."} or re.match(r"^[A-Za-z]:", name):
        raise IngestError(name, "filename contains path components; send a plain file name")
    if len(name.encode("utf-8")) > 255:
        raise IngestError(name[:60] + "...", "filename is longer than 255 bytes")
    return name


def extension(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def detect_file_type(name: str, data: bytes) -> FileType:
    """The type the content proves; an extension that claims otherwise is an error, not a hint."""
    claimed = EXTENSIONS.get(extension(name))
    sniffed = _sniff(data)
    if sniffed is None:
        if claimed in (FileType.PDF, FileType.DOCX, FileType.MSG, FileType.IMAGE):
            raise IngestError(name, f"content is not a valid {claimed.value.upper()} file")
        if claimed is None:
            raise IngestError(name, f"unsupported file type '{extension(name) or 'no extension'}'")
        raise IngestError(name, "content is binary, not text")
    if sniffed == "text":
        if claimed in (FileType.PDF, FileType.DOCX, FileType.MSG, FileType.IMAGE):
            raise IngestError(name, f"content is plain text, not a {claimed.value.upper()} file")
        if claimed is not None:
            return claimed
        if _EMAIL_HEADER.search(data[:4096]) and data[:1] not in (b"<", b"#"):
            return FileType.EML
        if re.search(rb"<(html|!doctype html|body)\b", data[:2048], re.I):
            return FileType.HTML
        raise IngestError(name, f"unsupported file type '{extension(name) or 'no extension'}'")
    if claimed is not None and claimed != sniffed:
        raise IngestError(name, f"content is a {sniffed.value.upper()} file but the name says {claimed.value.upper()}")
    return sniffed


def _sniff(data: bytes) -> FileType | str | None:
    if data.lstrip()[:5] == b"%PDF-":
        return FileType.PDF
    if data[:4] == b"PK\x03\x04":
        try:
            names = set(zipfile.ZipFile(BytesIO(data)).namelist())
        except zipfile.BadZipFile:
            return None
        return FileType.DOCX if "word/document.xml" in names else None
    if data[:8] == _OLE_MAGIC:
        return FileType.MSG
    if data.startswith(_IMAGE_MAGIC):
        return FileType.IMAGE
    try:
        data[:65536].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < 65532:  # not just a multi-byte character cut at the sample's edge
            try:
                text = data[:65536].decode("cp1252")
            except UnicodeDecodeError:
                return None
            return "text" if not re.search(r"[\x00-\x08\x0e-\x1f]", text) else None
    return "text" if b"\x00" not in data[:65536] else None
