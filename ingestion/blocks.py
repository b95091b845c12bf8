"""Structure from plain page text: headings, list items, table rows and paragraphs, with offsets.

PDF text arrives as lines. A line is a heading when it is numbered like a clause ("7.2 Change
control", "SECTION 5 -", "Article 12") or short and in capitals; a table row when pypdf's layout
shows three or more columns separated by runs of spaces (or pipes); a list item when it starts with
a bullet or an enumerator. Other lines join the paragraph before them.
"""

import re

from core.documents import Block, BlockKind

_NUMBERED_HEADING = re.compile(
    r"^\s*((section|article|appendix|annex|schedule|part)\s+[\dIVXA-Z]+[.:]?|\d{1,2}(\.\d{1,2}){0,3}\.?)\s+[A-Z(]",
    re.I,
)
_LIST_ITEM = re.compile(r"^\s*([-\u2022\u25aa\u25cf*\u2013]|\(?[a-z]\)|\(?[ivx]{1,4}\)|\d{1,2}\))\s+\S")
_COLUMNS = re.compile(r"\S(\s{3,}|\s*\|\s*)\S")


def is_heading(line: str) -> bool:
    text = line.strip()
    if not text or len(text) > 90 or text.endswith((".", ",", ";")) and not _NUMBERED_HEADING.match(text):
        return False
    if _NUMBERED_HEADING.match(text):
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
    for raw in text.splitlines(keepends=True):
        line = raw.rstrip("\r\n")
        start = offset + (len(line) - len(line.lstrip()))
        end = offset + len(line.rstrip())
        offset += len(raw)
        if end <= start or normalized(line) in furniture:
            continue
        if is_table_row(line) and not is_heading(line):
            kind = BlockKind.TABLE
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
