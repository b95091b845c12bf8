"""Structure from plain page text: headings, list items, table rows and paragraphs, with offsets.

PDF text arrives as lines. A line is a heading when it is numbered like a clause ("7.2 Change
control", "SECTION 5 -", "Article 12") or short and in capitals; a table row when pypdf's layout
shows three or more columns separated by runs of spaces (or pipes), or when it continues the table
above it (a wrapped cell: its text sits within the table's columns); a list item when it starts with
a bullet or an enumerator. Other lines join the paragraph before them.
"""

import re

from core.documents import Block, BlockKind, ParsedDocument
from core.headings import NUMBERED_HEADING
from core.tables import Table, column_starts, fits_columns, parse_table

# lines that file a document rather than name it: an exhibit number, a confidentiality or execution stamp, a page
_FILING_LABEL = re.compile(
    r"^\s*(\[[^\]]{0,100}\]|(confidential( treatment requested)?|execution (version|copy)|conformed copy|final( version)?"
    r"|redacted( version)?|draft)|ex(hibit|h\.?)?\s*[\w.()-]{1,12}|source:.*|page \d+.*|[\d.]{1,8}|-\s*\d+\s*-"
    r"|table of contents)\s*$",
    re.I,
)
_LIST_ITEM = re.compile(r"^\s*([-\u2022\u25aa\u25cf*\u2013]|\(?[a-z]\)|\(?[ivx]{1,4}\)|\d{1,2}\))\s+\S")
_COLUMNS = re.compile(r"\S(\s{3,}|\s*\|\s*)\S")


def is_heading(line: str) -> bool:
    text = line.strip()
    if not text or len(text) > 90 or text.endswith((".", ",", ";")) and not NUMBERED_HEADING.match(text):
        return False
    if NUMBERED_HEADING.match(text):
        # "3 vials were" is a sentence, not clause 3: a numbered heading has few words
        return len(text.split()) <= 12 and not re.match(r"^\d+\s+[a-z]", text)
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 4 and all(c.isupper() for c in letters) and len(text.split()) <= 10


def is_table_row(line: str) -> bool:
    return len(_COLUMNS.findall(line.strip())) >= 2


def normalized(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split())).lower()


def blocks_from_text(text: str, page: int, furniture: frozenset[str] = frozenset()) -> list[Block]:
    """Blocks of one page; lines whose normalized form is in `furniture` (running heads) are left out."""
    blocks: list[Block] = []
    offset = 0
    columns: list[int] = []  # where the current table's columns start, from its first line
    for raw in text.splitlines(keepends=True):
        line = raw.rstrip("\r\n")
        start = offset + (len(line) - len(line.lstrip()))
        end = offset + len(line.rstrip())
        offset += len(raw)
        if end <= start or normalized(line) in furniture:
            continue
        in_table = bool(blocks) and blocks[-1].kind == BlockKind.TABLE
        if in_table and fits_columns(line, columns):
            kind = BlockKind.TABLE
        elif is_table_row(line) and not is_heading(line):
            kind = BlockKind.TABLE
            if not in_table:
                columns = column_starts(line)
        elif is_heading(line):
            kind = BlockKind.HEADING
        elif _LIST_ITEM.match(line):
            kind = BlockKind.LIST_ITEM
        else:
            kind = BlockKind.TEXT
        prev = blocks[-1] if blocks else None
        continues = prev is not None and (
            (kind == BlockKind.TABLE and prev.kind == BlockKind.TABLE)
            or (kind == BlockKind.TEXT and prev.kind in (BlockKind.TEXT, BlockKind.LIST_ITEM))
        )
        if continues:
            blocks[-1] = Block(kind=prev.kind, page=page, start=prev.start, end=end, text=text[prev.start : end])
        else:
            blocks.append(Block(kind=kind, page=page, start=start, end=end, text=text[start:end]))
    return blocks


def tables_of(parsed: ParsedDocument) -> list[Table]:
    """Every table block of a parsed document that has a header and at least one row, read as a table."""
    tables = []
    pages = {p.number: p.text for p in parsed.pages}
    for block in parsed.blocks:
        if block.kind == BlockKind.TABLE and "\n" in block.text:
            table = parse_table(pages[block.page], block.page, _line_spans(block))
            if table.rows and len(table.header) >= 2:
                tables.append(table)
    return tables


def _line_spans(block: Block) -> list[tuple[int, int]]:
    spans, cursor = [], block.start
    for line in block.text.split("\n"):
        spans.append((cursor, cursor + len(line)))
        cursor += len(line) + 1
    return spans


def is_filing_label(line: str) -> bool:
    return bool(_FILING_LABEL.match(line))


def first_heading(blocks) -> str:
    """A title from the text: the document's opening line when it is short and no sentence, else its first heading;
    lines that only file the document ("EXHIBIT 10.1", "[Confidential Treatment Requested]") are passed over."""
    lines = [line.strip() for b in blocks[:8] for line in b.text.split("\n")[:4] if line.strip()]
    opening = next((line for line in lines if not is_filing_label(line)), lines[0] if lines else "")
    if len(opening.split()) <= 12 and not opening.endswith("."):
        return opening
    return heading_title(blocks) or opening[:80]


def heading_title(blocks) -> str | None:
    """The first heading that is not a filing label."""
    return next((b.text for b in blocks if b.kind == BlockKind.HEADING and not is_filing_label(b.text)), None)
