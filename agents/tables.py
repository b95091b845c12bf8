"""Answers from table cells: "what was the viable cell density on day 12 of batch 24-017?".

Only for a question that names a batch or lot: the tables of that batch's documents are searched for the
row the question describes and the column it asks for. A row matches by the words of its label cells
("Anion exchange", "Vials filled") or by a key cell whose column the question names with the value
("day 12" meets "Culture day" = 12). The column is the one whose header the question names, spelled out
or abbreviated ("viable cell density" is "VCD"), else the row's result column. On an OCR'd page an
abbreviation may be one letter off ("VCB"), which still counts. The sentence cites the header and the
row, and the line that carries the batch number.
"""

import re
from dataclasses import dataclass, replace

from agents.citations import CitationBook, content_terms, figures, line_with
from agents.questions import Intent, QuestionFrame
from core.chat import AnswerSentence
from core.evidence import Evidence
from core.store import RecordStore
from core.tables import Table, TableRow

_RESULT_HEADERS = ("result", "value", "entry", "actual", "observed", "reading")
_MIN_SCORE = 2.0  # a row must share at least two question words (or one key match) to be the one asked about


@dataclass
class _Match:
    score: float
    document_id: str
    table: Table
    row: TableRow
    column: int
    label: str


class TableAnswerer:
    def __init__(self, store: RecordStore):
        self.store = store

    def answer(self, frame: QuestionFrame, book: CitationBook) -> list[AnswerSentence]:
        if frame.intent != Intent.FREE or not frame.batches:
            return []
        batch = frame.batches[0]
        terms = set(content_terms(frame.text)) - {t.lower() for t in frame.batches}
        asked = _Question(terms, figures(frame.text) - {b.lower() for b in frame.batches}, _acronyms(frame.text))
        best: _Match | None = None
        for doc in self.store.list_documents():
            if batch not in doc.metadata.batch_ids:
                continue
            for table in self.store.tables(doc.id):
                match = replace(asked, scanned=table.page in doc.ocr_pages).best_cell(doc.id, table)
                if match and (best is None or match.score > best.score):
                    best = match
        if best is None or best.score < _MIN_SCORE:
            return []
        return self._sentence(best, batch, _batch_word(frame.text), book)

    def _sentence(self, m: _Match, batch: str, word: str, book: CitationBook) -> list[AnswerSentence]:
        value = m.row.cells[m.column].text
        header = m.table.header[m.column].text
        text = f"In {word} {batch}, {header} for {m.label} was {value}."
        page = self.store.page_text(m.document_id, m.table.page) or ""

        def span(start: int, end: int) -> Evidence:
            return Evidence(document_id=m.document_id, page=m.table.page, start=start, end=end, quote=page[start:end])

        header_line = span(
            m.table.start, page.find("\n", m.table.start) if "\n" in page[m.table.start :] else len(page)
        )
        evidence = [header_line, span(m.row.start, m.row.end), line_with(self.store, m.document_id, batch)]
        sentence = book.sentence(text, evidence, min_overlap=0.5)
        return [sentence] if sentence else []


@dataclass
class _Question:
    terms: set[str]
    figures: set[str]
    acronyms: set[str]
    scanned: bool = False  # the table being searched was read by OCR

    def best_cell(self, document_id: str, table: Table) -> _Match | None:
        headers = [set(content_terms(h)) for h in table.columns]
        best: _Match | None = None
        for row in table.rows:
            score, keys = 0.0, []
            for i, cell in enumerate(row.cells):
                words = set(content_terms(cell.text))
                shared = len(words & self.terms) + (1 if cell.text.lower() in self.acronyms else 0)
                if shared and not figures(cell.text):
                    score += shared
                    keys.append(i)
                elif cell.text.lower() in self.figures and headers[i] & self.terms:
                    score += 2  # "day 12": the key column's name and its value
                    keys.append(i)
            if not keys:
                continue
            column = self._column(table, headers, keys, row)
            if column is None:
                continue
            score += 0.5 * self._header_score(table.columns[column], headers[column])
            label = " / ".join(
                f"{table.columns[i]} {row.cells[i].text}" if figures(row.cells[i].text) else row.cells[i].text
                for i in keys
            )
            if best is None or score > best.score:
                best = _Match(score, document_id, table, row, column, label)
        return best

    def _column(self, table: Table, headers: list[set[str]], keys: list[int], row: TableRow) -> int | None:
        """The column asked for: named by the question, else the result column; never a key, never empty."""
        candidates = [i for i in range(len(table.columns)) if i not in keys and row.cells[i].text.strip()]
        named = [(self._header_score(table.columns[i], headers[i]), i) for i in candidates]
        named = [(s, i) for s, i in named if s > 0]
        if named:
            return max(named)[1]
        results = [i for i in candidates if any(w in table.columns[i].lower() for w in _RESULT_HEADERS)]
        return results[0] if results else None

    def _header_score(self, header: str, words: set[str]) -> float:
        return len(words & self.terms) + (2 if any(self._is_acronym(t.lower()) for t in header.split()) else 0)

    def _is_acronym(self, word: str) -> bool:
        if word in self.acronyms:
            return True
        return self.scanned and len(word) >= 3 and any(_one_letter_off(word, a) for a in self.acronyms)


def _acronyms(text: str) -> set[str]:
    """Initials of runs of three or four words: "viable cell density" gives "vcd", "host cell protein" "hcp"."""
    words = re.findall(r"[a-z]+", text.lower())
    return {"".join(w[0] for w in words[i : i + n]) for n in (3, 4) for i in range(len(words) - n + 1)}


def _one_letter_off(word: str, acronym: str) -> bool:
    """Same length and first letter, one other letter different: how OCR misreads a short abbreviation."""
    if len(word) != len(acronym) or word[0] != acronym[0]:
        return False
    return sum(a != b for a, b in zip(word, acronym)) == 1


def _batch_word(question: str) -> str:
    return "lot" if re.search(r"\blot\b", question, re.I) else "batch"
