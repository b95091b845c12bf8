"""A document as extraction sees it: page texts cut into sections and clauses, every one with its span.

Clauses are sentences of prose and rows of tables. Offsets always point into the stored page text, so any
clause can become an `Evidence` that a reviewer can find on the page.
"""

import re
from dataclasses import dataclass, field
from functools import cached_property

from core.dates import DATE
from core.documents import Chunk, Document, Page
from core.evidence import Evidence
from core.headings import NUMBERED_HEADING
from core.tables import is_continuation, is_grid_line, parse_table
from extraction.hostile import HOSTILE

# A sentence ends at . or ; before a space and a capital, digit or bracket, unless it closes an abbreviation
# ("Dr.", "Co.", "No.") or an initial ("A. Brennan").
_SENTENCE_END = re.compile(r"[.;](?=\s+[A-Z0-9\"(])")
_BULLET = re.compile(r"\s*[\x7f\u2022\u00b7\u25aa\u25e6*\-\u2013]\s+")
_ABBREVIATIONS = {"dr", "no", "co", "inc", "ltd", "mr", "ms", "st", "e.g", "i.e", "vs", "approx", "rev", "art", "sec"}


@dataclass(frozen=True)
class Clause:
    page: int
    start: int
    end: int
    text: str  # whitespace collapsed; the exact text is the page text from start to end
    section: str
    table_header: tuple[str, ...] = ()  # for a table row: the table's header, which often names the duty
    cells: tuple[str, ...] = ()  # for a table row: its cells

    def cell(self, *names: str) -> str | None:
        """In a table row, the first non-empty cell under a header that contains one of `names`."""
        for head, value in zip(self.table_header, self.cells):
            if value and any(n.lower() in head.lower() for n in names):
                return value
        return None


@dataclass
class Section:
    heading: str
    clauses: list[Clause] = field(default_factory=list)


class SourceText:
    def __init__(self, document: Document, pages: list[Page], chunks: list[Chunk], parties: list[str] | None = None):
        self.document = document
        self.parties = parties or []  # the sponsor's names: a date is "reported" when told to one of them
        self.meaning = None  # the meaning signal (core.meaning.Meaning), set by the Extractor
        self.pages = {p.number: p.text for p in pages}
        self.sections: list[Section] = []
        for heading, page, start, end in _regions(chunks, document.title):
            if not self.sections or self.sections[-1].heading != heading:
                self.sections.append(Section(heading))
            self._read_region(self.sections[-1], page, _skip_heading(self.pages[page], start, end, heading), end)
        self.clauses = [c for s in self.sections for c in s.clauses]

    @property
    def id(self) -> str:
        return self.document.id

    @cached_property
    def hostile(self) -> list[Clause]:
        """Clauses addressed to an AI reviewer ("ignore previous instructions ..."): reported, never read."""
        return [c for c in self.clauses if HOSTILE.search(c.text)]

    @cached_property
    def readable(self) -> list[Clause]:
        """Every clause the rules and the models read: all but the hostile ones."""
        return [c for c in self.clauses if c not in self.hostile]

    def evidence(self, page: int, start: int, end: int) -> Evidence:
        return Evidence(document_id=self.id, page=page, start=start, end=end, quote=self.pages[page][start:end])

    def clause_evidence(self, clause: Clause) -> Evidence:
        return self.evidence(clause.page, clause.start, clause.end)

    def _read_region(self, section: Section, page: int, start: int, end: int) -> None:
        """Split a region into headings, runs of prose, list items and tables, and read each.

        Chunk headings come from the parser; a PDF whose headings are plain short lines gets them here.
        """
        text = self.pages[page]
        runs: list[tuple[str, list[tuple[int, int]]]] = []  # (kind, line spans): prose, item, grid, heading
        cursor = start
        for line in text[start:end].split("\n"):
            span = (cursor, cursor + len(line))
            cursor += len(line) + 1
            if not line.strip():
                continue
            previous = runs[-1] if runs else None
            if _BULLET.match(line):
                kind = "item"
            elif is_grid_line(line) or (previous and previous[0] == "grid" and is_continuation(line)):
                kind = "grid"
            elif _looks_like_heading(line) and (previous is None or _ends_block(text, previous[1][-1])):
                kind = "heading"
            else:
                kind = previous[0] if previous and previous[0] in ("prose", "item") else "prose"
            if previous and previous[0] == kind and kind in ("prose", "grid"):
                previous[1].append(span)
            elif previous and previous[0] == "item" and kind == "item" and not _BULLET.match(line):
                previous[1].append(span)
            else:
                runs.append((kind, [span]))
        for kind, lines in runs:
            if kind == "heading":
                section = Section(" ".join(text[lines[0][0] : lines[0][1]].split()))
                self.sections.append(section)
            elif kind == "grid" and len(lines) >= 2:
                table = parse_table(text, page, lines)
                header = tuple(table.columns)
                for r in table.rows:
                    cells = tuple(c.text for c in r.cells)
                    section.clauses.append(Clause(page, r.start, r.end, " | ".join(cells), section.heading, header, cells))
            else:
                first = lines[0][0]
                bullet = _BULLET.match(text, first)
                first = bullet.end() if bullet and bullet.start() == first else first
                section.clauses.extend(self._sentences(page, first, lines[-1][1], section.heading))

    def _sentences(self, page: int, start: int, end: int, heading: str) -> list[Clause]:
        text = self.pages[page]
        out: list[Clause] = []
        cursor = start
        for match in _SENTENCE_END.finditer(text, start, end):
            if _ends_sentence(text, match.start()):
                out.extend(_clause(text, page, cursor, match.end(), heading))
                cursor = match.end()
        out.extend(_clause(text, page, cursor, end, heading))
        return out


def _regions(chunks: list[Chunk], title: str) -> list[tuple[str, int, int, int]]:
    """(heading, page, start, end) per run of chunks under one heading on one page."""
    regions: list[tuple[str, int, int, int]] = []
    for chunk in sorted(chunks, key=lambda c: (c.page, c.start)):
        heading = chunk.section or title
        if DATE.search(heading) or ": " in heading:  # a label line the parser took for a heading
            heading = regions[-1][0] if regions else title
        if regions and regions[-1][0] == heading and regions[-1][1] == chunk.page:
            regions[-1] = (heading, chunk.page, regions[-1][2], chunk.end)
        else:
            regions.append((heading, chunk.page, chunk.start, chunk.end))
    return regions


def _skip_heading(text: str, start: int, end: int, heading: str) -> int:
    """Chunks begin with their heading; clauses should not."""
    body = text[start:end]
    stripped = body.lstrip()
    if heading and stripped.startswith(heading):
        return start + (len(body) - len(stripped)) + len(heading)
    return start


def _looks_like_heading(line: str) -> bool:
    """A short line that starts with a capital and is neither a sentence, a label ("Closed: ...") nor a row;
    a numbered clause heading ("Article 4 - Quality Contacts and Meetings") may have a few more words."""
    words = line.split()
    return (
        0 < len(words) <= (10 if NUMBERED_HEADING.match(line) else 6)
        and line.strip()[0].isupper()
        and line.rstrip()[-1] not in ".,;:"
        and not any(ch in line for ch in ":|")
        and not DATE.search(line)
    )


def _ends_block(text: str, span: tuple[int, int]) -> bool:
    return text[span[0] : span[1]].rstrip()[-1:] in (".", ":", ")") or _looks_like_heading(text[span[0] : span[1]])


def _ends_sentence(text: str, index: int) -> bool:
    word = re.search(r"(\S+)$", text[max(0, index - 12) : index])
    token = word.group(1).lower() if word else ""
    return token not in _ABBREVIATIONS and not (len(token) == 1 and token.isalpha())


def _clause(text: str, page: int, start: int, end: int, heading: str) -> list[Clause]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return [Clause(page, start, end, " ".join(text[start:end].split()), heading)] if start < end else []
