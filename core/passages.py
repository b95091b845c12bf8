"""Which programs each passage of a stored document concerns: what a program-scoped view withholds.

A quality agreement, a business review or a weekly call often covers several programs. A user scoped to
one program may read such a document, but not its passages about another program. A passage is a
sentence, a list item, a heading or a table cell. It concerns the programs it names (code, name, product or alias)
and the programs of the records and batches it names (batch 24-017 belongs to HB-101 because the batch
record that carries 24-017 in its name is an HB-101 record). A passage that names none carries the topic
of the sentence before it in its paragraph ("Demand for HB-101 is 9 batches. Northgate can commit to 7.")
or, failing that, of the heading it sits under; a table cell, what its column's heading names. One that
still names none (definitions, general clauses) is common to every program of the document.

A view withholds every passage that concerns a program outside it, including a passage about its own
program and another one: the rule errs towards withholding. Withheld text is masked character for
character, so every offset, citation and highlight in what remains stays exact.
"""

import re
import threading
from collections import defaultdict

from pydantic import BaseModel, Field

from core.documents import Chunk, Document, Page
from core.identifiers import DOCUMENT_ID, identifiers_in
from core.portfolio import Portfolio
from core.programs import Programs
from core.store import RecordStore
from core.tables import is_grid_line, row_cells

MASK = "█"
Span = tuple[int, int]

_BULLET = re.compile(r"^[-•*–▪·\x7f]\s+")  # a bullet, however far from its text (PDFs space them widely)
_LIST_ITEM = re.compile(  # a bullet, a clause number (1.2, 3.), a letter or roman numeral item
    r"[ \t]*(?:[-•*–▪·\x7f][ \t]|\d{1,3}(?:\.\d{1,3})+\.?[ \t]|\d{1,3}[.)][ \t]"
    r"|\(?[a-z][.)][ \t]|\(?[ivx]{1,4}\)[ \t])"
)
_NUMBERED = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3})*\.?|[A-Z]\.)\s+")  # "1. ", "2.3 ", "A. " before a heading
_LABEL = re.compile(r"[ \t]*[A-Z][\w-]*(?: [\w-]+){0,2}: ")  # "Date: ...", "To: ...", an e-mail header
_SENTENCE_END = re.compile(r"[.!?;](?=\s+[\"'(]?[A-Z0-9])")
# Words whose period does not end a sentence ("Dr. Keane", "Co. Cork", "No. 5").
_ABBREVIATIONS = {"dr", "mr", "mrs", "ms", "prof", "no", "nos", "co", "inc", "ltd", "st", "rev", "vs", "approx",
                  "fig", "sect", "e.g", "i.e", "ref", "vol", "art", "para", "cf", "etc"}  # fmt: skip


class Passage(BaseModel):
    page: int
    start: int
    end: int
    programs: frozenset[str]


class _Attributed(BaseModel):
    passages: list[Passage]
    identifiers: frozenset[str] = Field(description="The record and batch numbers the document names")


class ProgramNames:
    """Programs named in a text by code, name, product or alias: one pattern for all of them, as
    Portfolio.program_ids_in reads them, because it runs on every sentence of every document."""

    def __init__(self, portfolio: Portfolio):
        self._ids = {n.lower(): p.id for p in portfolio.programs for n in (p.id, p.name, *p.products, *p.aliases) if n}
        names = sorted(self._ids, key=len, reverse=True)
        self._pattern = re.compile(rf"(?<![\w-])({'|'.join(map(re.escape, names))})(?![\w-])", re.IGNORECASE)

    def __call__(self, text: str) -> frozenset[str]:
        return frozenset(self._ids[m.group(1).lower()] for m in self._pattern.finditer(text))

    def masked(self, text: str, allowed: set[str]) -> str:
        """The text with the names of programs outside `allowed` masked (a title naming two programs)."""
        spans = [m.span() for m in self._pattern.finditer(text) if self._ids[m.group(1).lower()] not in allowed]
        return mask(text, spans)


class PassagePrograms:
    """The programs of every passage of every stored document, computed once per document and shared by
    all scoped views; computed again for the documents that name an identifier whose program a newly
    stored document has changed."""

    def __init__(self, store: RecordStore, portfolio: Portfolio, programs: Programs | None = None):
        self.store, self.programs = store, programs
        self.names = ProgramNames(portfolio)
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._owners: dict[str, str] = {}
        self._passages: dict[str, _Attributed] = {}
        self._readable: dict[tuple[str, frozenset[str]], frozenset[str]] = {}

    def withheld(self, document_id: str, allowed: set[str]) -> dict[int, list[Span]]:
        """Per page, the spans a view of the `allowed` programs must not show."""
        spans: dict[int, list[Span]] = defaultdict(list)
        for p in self.passages(document_id):
            if p.programs - allowed:
                spans[p.page].append((p.start, p.end))
        return dict(spans)

    def readable_identifiers(self, document_id: str, allowed: set[str]) -> frozenset[str]:
        """The record and batch numbers the document's text names where a view of `allowed` can read it: what
        its listing may name (a number named only in a withheld passage stays withheld)."""
        key = (document_id, frozenset(allowed))
        with self._lock:
            if key in self._readable:
                return self._readable[key]
        withheld = self.withheld(document_id, allowed)
        found = frozenset(
            i for p in self.store.pages(document_id) for i in _identifiers(mask(p.text, withheld.get(p.number, [])))
        )
        with self._lock:
            self._readable[key] = found
        return found

    def foreign(self, identifier: str, allowed: set[str]) -> bool:
        """Whether a record or batch number belongs to a program outside `allowed`."""
        owner = self._current_owners().get(identifier.upper())
        return owner is not None and owner not in allowed

    def masked(self, text: str, allowed: set[str]) -> str:
        """A title, a file name or a heading with what names another program masked: its code, name, product
        or alias, and the record and batch numbers that are its own."""
        text = self.names.masked(text, allowed)
        owners = self._current_owners()
        named = _identifiers(text.replace("_", " "))  # file names join words with underscores
        foreign = {i for i in named if i in owners and owners[i] not in allowed}
        spans = [m.span() for i in foreign for m in re.finditer(re.escape(i), text, re.IGNORECASE)]
        return mask(text, spans)

    def _current_owners(self) -> dict[str, str]:
        generation = self.store.generation()
        with self._lock:
            if generation != self._generation:
                self._refresh_owners()
                self._generation = generation
            return self._owners

    def passages(self, document_id: str) -> list[Passage]:
        owners = self._current_owners()
        with self._lock:
            if document_id in self._passages:
                return self._passages[document_id].passages
        detail = self.store.detail(document_id)
        found = _Attributed(
            passages=attribute(detail.pages, detail.chunks, self.names, owners),
            identifiers=frozenset(i for p in detail.pages for i in _identifiers(p.text)),
        )
        with self._lock:
            if self._owners is owners:  # not if another thread has found them changed meanwhile
                self._passages[document_id] = found
        return found.passages

    def _refresh_owners(self) -> None:
        """A new document can make an identifier one program's (or no longer): the documents that name
        such an identifier are attributed again, the others kept."""
        owners = self._identifier_owners()
        changed = {i for i in owners.keys() | self._owners.keys() if owners.get(i) != self._owners.get(i)}
        if changed:
            self._owners = owners
            self._passages = {d: a for d, a in self._passages.items() if not a.identifiers & changed}
            self._readable = {k: v for k, v in self._readable.items() if k[0] in self._passages}

    def _identifier_owners(self) -> dict[str, str]:
        """Record and batch numbers that belong to exactly one program: those in the name of a one-program
        document (its own number, its batch) and the lots and batches of the program configuration. A
        record that cites a record of another program (a CAPA raised on one program's deviation, carried
        out on the other's batch) belongs to neither: naming it says nothing about the program."""
        owners: dict[str, set[str]] = defaultdict(set)
        cites: dict[str, set[str]] = defaultdict(set)
        for doc in self.store.list_documents():
            own = _own_identifiers(doc)
            for identifier in own:
                owners[identifier].update(doc.metadata.programs if len(doc.metadata.programs) == 1 else ["*"])
                cites[identifier].update(i.upper() for i in doc.metadata.document_ids if i.upper() not in own)
        for chain in self.programs.programs if self.programs else []:
            for lot, batches in chain.lots.items():
                for identifier in (lot, *batches):
                    owners[identifier.upper()].add(chain.id)
        single = {i: next(iter(p)) for i, p in owners.items() if len(p) == 1 and "*" not in p}
        return {i: p for i, p in single.items() if all(single.get(c, p) == p for c in cites[i])}


def _own_identifiers(doc: Document) -> list[str]:
    name = re.sub(r"[_]+", " ", doc.filename.rsplit(".", 1)[0])
    return _identifiers(f"{name}\n{doc.title}")


def _identifiers(text: str) -> list[str]:
    """Record and batch numbers, upper-case; the digits inside a record number (OOS-24-011) are not a batch."""
    records = [m.group(0).upper() for m in DOCUMENT_ID.finditer(text)]
    return records + [i.upper() for i in identifiers_in(DOCUMENT_ID.sub(" ", text))]


def attribute(pages: list[Page], chunks: list[Chunk], names: ProgramNames, owners: dict[str, str]) -> list[Passage]:
    def named(text: str) -> frozenset[str]:
        return names(text) | {owners[i] for i in _identifiers(text) if i in owners}

    out: list[Passage] = []
    for page in pages:
        text = page.text
        sections = [(c.start, c.end, named(c.section)) for c in chunks if c.page == page.number]
        heading_topic: frozenset[str] = frozenset()
        header: list[frozenset[str]] | None = None  # per column, the programs the table's header names
        for start, end, kind in paragraphs(text, [c.start for c in chunks if c.page == page.number]):
            if kind == ROW:
                cells = row_cells(text, start, end)
                if header is None:  # the table's first row: what each column's heading names
                    header = [named(text[c[0] : c[1]]) if c else frozenset() for c in cells]
                    if " | " not in text[start:end]:  # layout cells drift between columns: each takes them all
                        header = [frozenset().union(*header)] * len(header)
                for column, cell in enumerate(cells):
                    if cell:
                        below = header[column] if column < len(header) else frozenset().union(*header)
                        out.append(Passage(page=page.number, start=cell[0], end=cell[1],
                                           programs=named(text[cell[0] : cell[1]]) | below))  # fmt: skip
                continue
            header = None
            if kind == HEADING:
                heading_topic = named(text[start:end])
                out.append(Passage(page=page.number, start=start, end=end, programs=heading_topic))
                continue
            topic: frozenset[str] = frozenset()
            for s, e in sentences(text, start, end):
                programs = named(text[s:e]) or topic
                topic = programs
                if not programs:  # the heading the passage sits under, as read here or by the chunker
                    programs = heading_topic or next((p for cs, ce, p in sections if cs <= s < ce), frozenset())
                out.append(Passage(page=page.number, start=s, end=e, programs=programs))
    return out


TEXT, HEADING, ROW = "text", "heading", "row"


def paragraphs(text: str, breaks: list[int] = ()) -> list[tuple[int, int, str]]:
    """(start, end, kind) of each run of lines that reads as one paragraph. A blank line, a list item or
    clause number, a label line ("Date: ..."), a table row, a heading and a chunk's start (`breaks`) each
    begin a new one; table rows and headings are paragraphs of their own."""
    out: list[list] = []
    alone = True  # the previous line stands alone: nothing may join it
    previous = ""
    position = 0
    for line in text.split("\n"):
        start, end = position, position + len(line)
        position = end + 1
        stripped = line.strip()
        if not stripped:
            alone, previous = True, ""
            continue
        kind = TEXT
        if is_grid_line(_BULLET.sub("", stripped)):
            kind = ROW
        elif _looks_like_heading(stripped, previous):
            kind = HEADING
        if alone or kind != TEXT or start in breaks or _LIST_ITEM.match(line) or _LABEL.match(line):
            out.append([start, end, kind])
        else:
            out[-1][1] = end
        alone, previous = kind != TEXT, stripped
    return [(s, e, k) for s, e, k in out]


def _looks_like_heading(line: str, previous: str) -> bool:
    """A short line without closing punctuation after a line that ended a sentence (or after nothing)."""
    line = _NUMBERED.sub("", line) or line
    words = line.split()
    return (
        len(words) <= 8
        and line[0].isupper()
        and line[-1] not in ".,;:"
        and (not previous or previous[-1] in ".:;!?")
    )


def sentences(text: str, start: int, end: int) -> list[Span]:
    out: list[Span] = []
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        word = re.search(r"[\w.]*$", text[cursor : match.start()]).group(0).lower()
        if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            continue
        out.append((cursor, match.end()))
        cursor = match.end()
    if text[cursor:end].strip():
        out.append((cursor, end))
    return out


def mask(text: str, spans: list[Span], offset: int = 0) -> str:
    """The text with every character inside the spans (page offsets; `offset` is where the text starts on
    its page) replaced, line breaks and spaces kept."""
    if not spans:
        return text
    chars = list(text)
    for start, end in spans:
        for i in range(max(start - offset, 0), min(end - offset, len(chars))):
            if not chars[i].isspace():
                chars[i] = MASK
    return "".join(chars)


def overlaps(start: int, end: int, spans: list[Span]) -> bool:
    return any(s < end and start < e for s, e in spans)
