"""Tables inside page text: pipe-separated rows (DOCX, HTML) or columns laid out with spaces (PDF, OCR).

In layout text a column starts where the header's cell starts. A cell that wraps continues on the next
line with most columns empty (often the first); those lines are joined back into their row, a wrapped
header likewise, so a row is one record with its span on the page and each cell keeps the spans of its
lines.
"""

import re

from pydantic import BaseModel, Field


class TableCell(BaseModel):
    text: str = Field(description="The cell's text, a wrapped cell's lines joined by spaces")
    spans: list[tuple[int, int]] = Field(
        default_factory=list, description="Where the text sits in the page text: one span per line of the cell"
    )


class TableRow(BaseModel):
    start: int = Field(description="Offset of the row's first line in the page text")
    end: int
    cells: list[TableCell] = Field(description="One per column, empty where the row has nothing")


class Table(BaseModel):
    """A table as rows and columns, every cell traceable to its place on the page."""

    page: int
    start: int
    end: int
    header: list[TableCell]
    rows: list[TableRow]

    @property
    def columns(self) -> list[str]:
        return [c.text for c in self.header]


_CELL = re.compile(r"\S+(?: \S+)*")  # text separated by at most one space; two or more split columns
_CONTINUATION_INDENT = 8  # a wrapped PDF cell starts far right of the prose margin
_DRIFT = 2  # characters a cell may start left of its column (OCR and pypdf place text a little loosely)


def is_grid_line(line: str) -> bool:
    return " | " in line or len(_CELL.findall(line.strip())) >= 2


def row_cells(text: str, start: int, end: int) -> list[tuple[int, int] | None]:
    """The cells of one row line, in column order: between pipes (None for an empty one), or apart by two
    spaces or more (layout text, where a column is found by position, not by order)."""
    if " | " in text[start:end]:
        return [c.spans[0] if c.spans else None for c in _pipe_row(text, start, end).cells]
    return [m.span() for m in _CELL.finditer(text, start, end)]


def is_continuation(line: str) -> bool:
    return len(line) - len(line.lstrip()) >= _CONTINUATION_INDENT


def column_starts(line: str) -> list[int]:
    return [m.start() for m in _CELL.finditer(line)]


def fits_columns(line: str, starts: list[int]) -> bool:
    """Whether every cell of the line starts at a column and ends before the next one: a row of the table."""
    if len(starts) < 2:
        return False
    for match in _CELL.finditer(line):
        index = _column(starts, match.start())
        # a heading or paragraph after a table starts left of its first column
        if match.start() < starts[index] - (1 if index == 0 else _DRIFT):
            return False
        # a cell may run up to the next column (OCR text sets proportional type in fixed character widths)
        if index + 1 < len(starts) and match.end() > starts[index + 1] + _DRIFT:
            return False
    return True


def parse_table(text: str, page: int, lines: list[tuple[int, int]]) -> Table:
    """Lines are (start, end) spans in `text`, the first being the header row."""
    lines = [_strip(text, s, e) for s, e in lines if text[s:e].strip()]
    if any(" | " in text[s:e] for s, e in lines):
        rows = [_pipe_row(text, s, e) for s, e in lines]
    else:
        rows = _layout_rows(text, lines)
    header, body = rows[0], rows[1:]
    return Table(page=page, start=header.start, end=rows[-1].end, header=header.cells, rows=body)


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    line = text[start:end]
    return start + len(line) - len(line.lstrip()), end - (len(line) - len(line.rstrip()))


def _pipe_row(text: str, start: int, end: int) -> TableRow:
    cells, cursor = [], start
    for piece in text[start:end].split("|"):
        lead = len(piece) - len(piece.lstrip())
        value = piece.strip()
        cells.append(TableCell(text=value, spans=[(cursor + lead, cursor + lead + len(value))] if value else []))
        cursor += len(piece) + 1
    return TableRow(start=start, end=end, cells=cells)


def _layout_rows(text: str, lines: list[tuple[int, int]]) -> list[TableRow]:
    # columns are measured from the start of each line's text line, i.e. its layout position
    line_starts = [text.rfind("\n", 0, s) + 1 for s, _ in lines]
    starts = column_starts(text[line_starts[0] : lines[0][1]])
    rows: list[TableRow] = []
    for (s, e), origin in zip(lines, line_starts):
        cells: list[list[tuple[int, int]]] = [[] for _ in starts]
        for match in _CELL.finditer(text, s, e):
            cells[_column(starts, match.start() - origin)].append((match.start(), match.end()))
        filled = sum(1 for c in cells if c)
        wrapped = not cells[0] or (len(starts) >= 3 and filled <= max(1, (len(starts) - 1) // 2))
        if rows and wrapped:
            row = rows[-1]
            for cell, spans in zip(row.cells, cells):
                cell.spans.extend(spans)
                cell.text = " ".join(text[a:b] for a, b in cell.spans)
            row.end = e
        else:
            rows.append(
                TableRow(
                    start=s, end=e, cells=[TableCell(text=" ".join(text[a:b] for a, b in c), spans=c) for c in cells]
                )
            )
    return rows


def _column(starts: list[int], position: int) -> int:
    """The column whose start is nearest at or before the position (cells may drift a character or two)."""
    return max((i for i, col in enumerate(starts) if col <= position + _DRIFT), default=0)
