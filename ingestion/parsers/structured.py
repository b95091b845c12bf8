"""DOCX, e-mail (EML/MSG), HTML, Markdown and plain text through unstructured's partitioners.

Each element becomes a block; a page's text is its elements joined by blank lines, so every block's
offsets point into the stored page text. Tables are written as rows of cells joined by " | ".
"""

import logging
import email
import email.policy
import os
import tempfile

# unstructured reports usage to a remote analytics service when imported unless told not to;
# documents here must never cause a connection anywhere.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("SCARF_NO_ANALYTICS", "true")
os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
from email.message import EmailMessage

from lxml import html as lxml_html

from core.documents import Block, BlockKind, FileType, Page, ParsedDocument
from core.errors import IngestError, described
from ingestion.blocks import blocks_from_text, first_heading, heading_title

log = logging.getLogger(__name__)

_SKIPPED = {"Footer", "PageBreak", "PageNumber", "Image"}
_KINDS = {"Title": BlockKind.HEADING, "ListItem": BlockKind.LIST_ITEM, "Table": BlockKind.TABLE}


def parse_with_unstructured(name: str, data: bytes, file_type: FileType) -> ParsedDocument:
    if file_type == FileType.TEXT:
        return _plain_text(name, data)
    header_lines: list[str] = []
    title = ""
    if file_type == FileType.EML:
        message = email.message_from_bytes(data, policy=email.policy.default)
        if not isinstance(message, EmailMessage) or not (message["From"] or message["Subject"]):
            raise IngestError(name, "not an e-mail message (no From or Subject header)")
        title = " ".join(str(message["Subject"] or "").split())
        header_lines = [f"{h}: {' '.join(str(message[h]).split())}" for h in ("Subject", "From", "To", "Cc", "Date") if message[h]]
    try:
        elements = _partition(data, file_type)
    except IngestError:
        raise
    except Exception as exc:
        raise IngestError(name, f"cannot parse {file_type.value.upper()}: {described(log, name, exc)}") from exc

    per_page: dict[int, list[tuple[BlockKind, str]]] = {}
    if header_lines:
        per_page[1] = [(BlockKind.TEXT, "\n".join(header_lines))]
    seen_headers: set[str] = set()
    for el in elements:
        if el.category in _SKIPPED:
            continue
        text = _table_text(el) if el.category == "Table" else (el.text or "").strip()
        if not text:
            continue
        if el.category == "Header":  # a letterhead names the issuer: keep it, once
            if text in seen_headers:
                continue
            seen_headers.add(text)
        if file_type == FileType.MSG and not title and el.category == "Title":
            title = text
        page = getattr(el.metadata, "page_number", None) or 1
        per_page.setdefault(page, []).append((_KINDS.get(el.category, BlockKind.TEXT), text))

    pages, blocks = [], []
    for number in sorted(per_page):
        text, offset = "", 0
        for kind, piece in per_page[number]:
            if text:
                text += "\n\n"
                offset = len(text)
            text += piece
            blocks.append(Block(kind=kind, page=number, start=offset, end=offset + len(piece), text=piece))
        pages.append(Page(number=number, text=text))
    if len(blocks) == (1 if header_lines else 0):
        raise IngestError(name, "document has no text")
    if not title:
        title = heading_title(blocks) or blocks[0].text[:80]
    return ParsedDocument(file_type=file_type, title=title.strip()[:300], pages=pages, blocks=blocks)


def _partition(data: bytes, file_type: FileType):
    # unstructured reads most formats best from a file; a private temp file keeps the name out of it
    suffix = {FileType.DOCX: ".docx", FileType.EML: ".eml", FileType.MSG: ".msg", FileType.HTML: ".html"}.get(
        file_type, ".md"
    )
    fd, path = tempfile.mkstemp(suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if file_type == FileType.DOCX:
            from unstructured.partition.docx import partition_docx

            return partition_docx(filename=path, infer_table_structure=True)
        if file_type == FileType.EML:
            from unstructured.partition.email import partition_email

            return partition_email(filename=path, process_attachments=False)
        if file_type == FileType.MSG:
            from unstructured.partition.msg import partition_msg

            return partition_msg(filename=path, process_attachments=False)
        if file_type == FileType.HTML:
            from unstructured.partition.html import partition_html

            return partition_html(filename=path)
        from unstructured.partition.md import partition_md

        return partition_md(filename=path)
    finally:
        os.unlink(path)


def _table_text(el) -> str:
    html = getattr(el.metadata, "text_as_html", None)
    if not html:
        return (el.text or "").strip()
    rows = []
    for tr in lxml_html.fromstring(html).iter("tr"):
        cells = [" ".join(td.text_content().split()) for td in tr if td.tag in ("td", "th")]
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _plain_text(name: str, data: bytes) -> ParsedDocument:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    text = text.replace("\r\n", "\n").strip("\n")
    blocks = blocks_from_text(text, 1)
    if not blocks:
        raise IngestError(name, "document has no text")
    title = heading_title(blocks) or first_heading(blocks)
    return ParsedDocument(file_type=FileType.TEXT, title=title, pages=[Page(number=1, text=text)], blocks=blocks)
