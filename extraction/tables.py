"""Tables inside page text: pipe-separated rows (DOCX, HTML) or columns laid out with spaces (PDF).

A PDF cell that wraps continues on the next line with the first column empty; those lines are joined
back into their row, so a row is one record with its span on the page.
"""

import re
from dataclasses import dataclass, field

_CELL = re.compile(r"\S+(?: \S+)*")  # text separated by at most one space; two or more split columns
_CONTINUATION_INDENT = 8  # a wrapped PDF cell starts far right of the prose margin


@dataclass
class Row:
    start: int
    end: int
    cells: list[str]


@dataclass
class Table:
    header: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)


def is_grid_line(line: str) -> bool:
    return " | " in line or len(_CELL.findall(line.strip())) >= 2


def is_continuation(line: str) -> bool:
    return len(line) - len(line.lstrip()) >= _CONTINUATION_INDENT


def parse_table(text: str, lines: list[tuple[int, int]]) -> Table:
    """Lines are (start, end) spans in `text`, the first being the header row."""
    if any(" | " in text[s:e] for s, e in lines):
        return _pipe_table(text, lines)
    return _layout_table(text, lines)


def _pipe_table(text: str, lines: list[tuple[int, int]]) -> Table:
    table = Table()
    for s, e in lines:
        line = text[s:e]
        cells = [c.strip() for c in line.split("|")]
        if not table.header:
            table.header = cells
        else:
            table.rows.append(Row(s + len(line) - len(line.lstrip()), e, cells))
    return table


def _layout_table(text: str, lines: list[tuple[int, int]]) -> Table:
    table = Table()
    columns: list[int] = []
    for s, e in lines:
        line = text[s:e]
        cells = [(m.start(), m.group()) for m in _CELL.finditer(line)]
        if not columns:
            columns = [pos for pos, _ in cells]
            table.header = [c for _, c in cells]
            continue
        slots = [""] * len(columns)
        for pos, cell in cells:
            # the column whose start is nearest at or before the cell (cells may drift a character or two)
            index = max((i for i, col in enumerate(columns) if col <= pos + 2), default=0)
            slots[index] = f"{slots[index]} {cell}".strip()
        if table.rows and not slots[0]:  # a wrapped cell continues the row above
            row = table.rows[-1]
            row.cells = [f"{a} {b}".strip() for a, b in zip(row.cells, slots)]
            row.end = e
        else:
            table.rows.append(Row(s + len(line) - len(line.lstrip()), e, slots))
    return table
