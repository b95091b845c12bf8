"""Extractive answers: the corpus's own sentences that best answer a question, stitched and cited.

Passages come from hybrid search within the question's site and program. Each passage is cut into
sentences (and table rows); a sentence scores by how much of the question's weight it carries, a word's
weight being its rarity in the corpus, so "shelf life" counts for more than "batch". When no sentence
carries enough of the question, the answer says that nothing in the corpus supports one.
"""

import math
import re
import threading
from dataclasses import dataclass

from agents.answer_types import AnswerType, answer_type, is_answer, states_value
from agents.citations import QUESTION_WORDS, CitationBook, content_terms
from agents.questions import QuestionFrame
from core.chat import AnswerSentence
from core.documents import DocumentKind, DocumentStatus
from core.evidence import Evidence
from core.identifiers import identifiers_in, record_ids
from core.portfolio import Portfolio
from core.search import SearchHit
from extraction.hostile import HOSTILE
from retrieval.corpus import Corpus

# what a kind of question asks for, in the words a report answers it with
_FOCUS = [
    # a cause, or what limits or holds something back, is said with "because", "due to", "caused by"
    (r"\bwhy\b|\bcaus(e|ed|es)\b|\breason\b|\bwhat (limits|constrains|restricts|prevents|delays|holds)\b",
     "cause because due"),
    (r"\bwho\b.*\b(own|responsible)|\bowner\b", "owner responsible"),
    (r"\bwhen\b.*\b(notif|report|inform)", "notified"),
]
# the kinds of document a question can name, in its words
_KIND_WORDS = [
    (DocumentKind.AUDIT_REPORT, r"\baudits?\b"),
    (DocumentKind.MEETING_MINUTES, r"\b(minutes|meetings?|(quality|business) reviews?|calls?)\b"),
    (DocumentKind.QTA, r"\b(agreements?|qta)\b"),
    (DocumentKind.DEVIATION_REPORT, r"\b(deviation|investigation) reports?\b"),
    (DocumentKind.CAPA, r"\bcapa (record|plan)s?\b"),
    (DocumentKind.CHANGE_CONTROL, r"\bchange (notification|request|control)s?\b"),
    (DocumentKind.BATCH_RECORD, r"\bbatch records?\b"),
]
# a field's label: one to three words, the first capitalised, then a colon ("Initial result: 95.8% monomer")
_LABEL = re.compile(r"(?<![\w(,/-])[A-Z][a-z]+(?: [a-z]+){0,2}:\s")
_UNCOVERED, _OTHER_HALF = 0.3, 0.5  # question weight the first document leaves; share of it another must carry
_SENTENCE = re.compile(r".+?(?:[.!?;](?=\s+[A-Z0-9\"(])|$)", re.DOTALL)
_ROW = re.compile(r"\||\S {3,}\S")  # a table row, pipes or columns of spaces
_STARTS_BLOCK = re.compile(r"\s*(?:[-•*]\s|\d+(?:\.\d+)*[.)]?\s+[A-Z])")


def _heading(text: str, block: list[int], line: str) -> bool:
    """The block so far is a short title line ("7. Conclusion") and the line starts a sentence."""
    head = text[block[0] : block[1]].strip()
    return "\n" not in head and len(head.split()) <= 6 and head[-1:] not in ".,;:" and line.lstrip()[:1].isupper()


def pieces(text: str) -> list[tuple[int, int]]:
    """Spans of the sentences, table rows and labelled fields of a passage."""
    return [(start, end) for start, end, _ in read_pieces(text)]


def read_pieces(text: str) -> list[tuple[int, int, tuple[int, int] | None]]:
    """Spans of the sentences and table rows of a passage, each with the span of the run of labelled fields it
    belongs to (None for prose). A PDF's line breaks inside a sentence are not ends: lines join until a blank
    line, a table row, a list item or a numbered heading. A block of two or more labelled fields ("Test: ...
    Result: 14 CFU/10 mL. Test date: ...") is cut at its labels, not at its full stops."""
    blocks: list[list[int]] = []
    at = 0
    for line in text.split("\n"):
        start, end = at, at + len(line)
        at = end + 1
        if not line.strip():
            blocks.append([])
        elif _ROW.search(line.strip()):
            blocks += [[start, end], []]
        elif blocks and blocks[-1] and not _STARTS_BLOCK.match(line) and not _heading(text, blocks[-1], line):
            blocks[-1][1] = end
        else:
            blocks.append([start, end])
    spans = []
    for begin, end in filter(None, blocks):
        run = fields(text, begin, end)
        # prose before and after a run of fields is read sentence by sentence
        spans += [(m.start(), m.end(), None) for m in _SENTENCE.finditer(text, begin, run[0][0] if run else end)]
        if run:
            spans += [(a, b, (run[0][0], run[-1][1])) for a, b in run]
            spans += [(m.start(), m.end(), None) for m in _SENTENCE.finditer(text, run[-1][1], end)]
    return spans


def fields(text: str, begin: int, end: int) -> list[tuple[int, int]]:
    """The fields of a run of two or more labelled fields within text[begin:end], each from its label to the
    next; the last one to the end of its sentence. [] when the span holds no such run."""
    starts = [m.start() for m in _LABEL.finditer(text, begin, end)]
    if len(starts) < 2 or _ROW.search(text[begin:end]):
        return []
    last = _SENTENCE.match(text, starts[-1], end)
    return list(zip(starts, [*starts[1:], last.end() if last else end]))


@dataclass
class Candidate:
    hit: SearchHit
    start: int  # page offsets
    end: int
    text: str
    score: float


class ExtractiveAnswerer:
    def __init__(self, corpus: Corpus, portfolio: Portfolio, min_support: float = 0.5, max_sentences: int = 3):
        self.corpus = corpus
        self.portfolio = portfolio
        self.min_support = min_support
        self.max_sentences = max_sentences
        # names of sites and programs weigh nothing: the filters carry them
        self._names = {
            term
            for entity in [*portfolio.sites, *portfolio.programs]
            for term in content_terms(" ".join([entity.id, entity.name, *entity.aliases]))
        }
        self._df: dict[str, int] = {}
        self._titles: dict[str, str] = {}  # record number -> the title of the document that is that record
        self._documents = 0
        self._counted: set[str] = set()  # the documents whose passages are in the counts
        self._generation = -1
        self._refreshing = threading.Lock()

    def answer(self, frame: QuestionFrame, book: CitationBook) -> list[AnswerSentence]:
        weights = self.term_weights(frame.text)
        if not weights:
            return []
        hits = self.corpus.search(frame.text, frame.search_filters(), limit=8)
        named = {i.lower() for i in identifiers_in(frame.text)}
        if named and any(h.matched_identifiers for h in hits):
            # the question names a record or batch: answer from the passages that carry it
            hits = [h for h in hits if h.matched_identifiers]
        candidates = [c for hit in hits for c in self._sentences(hit, weights)]
        kind = answer_type(frame.text)  # "when" is answered by a moment, "how many" by a number, "who" by someone
        if kind != AnswerType.ANY:
            asked = self.question_terms(frame.text)
            candidates = [c for c in candidates if is_answer(kind, c.text, f"{c.hit.title}\n{c.hit.section}", asked)]
            valued = [c for c in candidates if c.score >= self.min_support and states_value(c.text, asked)]
            if kind == AnswerType.QUANTITY and valued:  # "Result: 14 CFU/10 mL" answers; a sentence near a number does not
                candidates = valued
        if not candidates:
            return []
        candidates.sort(key=lambda c: (-c.score, c.hit.rank))
        best = candidates[0].score
        if best < self.min_support:
            return []
        chosen: list[Candidate] = []
        for c in candidates:
            if c.score < max(self.min_support, 0.8 * best) or len(chosen) == self.max_sentences:
                break
            if any(_same(c, o) for o in chosen):
                continue
            chosen.append(c)
        chosen += self._other_half(candidates, chosen, weights)
        chosen += self._each_kind_named(frame.text, candidates, chosen)
        chosen.sort(key=lambda c: (c.hit.rank, c.start))
        sentences = []
        for c in chosen:
            evidence = Evidence(document_id=c.hit.document_id, page=c.hit.page, start=c.start, end=c.end, quote=c.text)
            if sentence := book.sentence(" ".join(c.text.split()), [evidence]):
                sentences.append(sentence)
        return sentences

    def _other_half(self, candidates: list[Candidate], chosen: list[Candidate], weights: dict[str, float]):
        """A question whose halves live in two documents ("what did the audit and the monthly review say"):
        when what was chosen leaves much of the question's weight uncovered, the best sentence of another
        document that carries enough of what is left."""
        covered = {t for c in chosen for t in content_terms(f"{c.hit.title}\n{c.hit.section}\n{c.text}")}
        left = {t: w for t, w in weights.items() if not _carried(t, covered)}
        total = sum(weights.values())
        if not left or sum(left.values()) < _UNCOVERED * total:
            return []
        documents = {c.hit.document_id for c in chosen}
        best, best_share = None, 0.0
        for c in candidates:
            if c.hit.document_id in documents:
                continue
            terms = set(content_terms(f"{c.hit.title}\n{c.hit.section}\n{c.text}"))
            share = sum(w for t, w in left.items() if _carried(t, terms)) / sum(left.values())
            if share > best_share and c.score >= self.min_support * 0.6:
                best, best_share = c, share
        return [best] if best is not None and best_share >= _OTHER_HALF else []

    def _each_kind_named(self, question: str, candidates: list[Candidate], chosen: list[Candidate]):
        """A question that names two kinds of document ("the audit and the monthly quality review") is
        answered from each: the best sentence of a named kind the answer does not yet draw on."""
        named = [kind for kind, pattern in _KIND_WORDS if re.search(pattern, question, re.IGNORECASE)]
        if len(named) < 2:
            return []
        extra = []
        for kind in named:
            if any(c.hit.kind == kind for c in chosen + extra):
                continue
            best = next((c for c in candidates if c.hit.kind == kind and c.score >= self.min_support * 0.6), None)
            if best is not None:
                extra.append(best)
        return extra

    def term_weights(self, question: str) -> dict[str, float]:
        """The question's content words, each weighted by its rarity in the corpus; names of sites and programs
        (which the filters carry) and words about the question itself weigh nothing. What the question asks
        for (a cause, an owner) weighs twice its heaviest word, carried by any one of its words ("a|b|c")."""
        self._refresh_frequencies()
        terms = self.question_terms(question)
        n = max(self._documents, 1)
        weights = {t: math.log(1 + n / (1 + self._df.get(t, 0))) for t in terms}
        heaviest = max(weights.values(), default=1.0)
        for pattern, focus in _FOCUS:
            if re.search(pattern, question, re.IGNORECASE):
                weights["|".join(content_terms(focus))] = 2 * heaviest
        return weights

    def question_terms(self, question: str) -> list[str]:
        """The question's content words, less the names of sites and programs and its record and batch numbers
        (search pins those) and words about the question itself."""
        names = self._names | {i.lower() for i in identifiers_in(question)}
        return [t for t in dict.fromkeys(content_terms(question)) if t not in QUESTION_WORDS and t not in names]

    def _sentences(self, hit: SearchHit, weights: dict[str, float]):
        total = sum(weights.values())
        for begin, end, run in read_pieces(hit.text):
            piece = hit.text[begin:end]
            text = piece.strip()
            if len(text.split()) < (2 if run else 3) or HOSTILE.search(text) or set(text) <= set("|-: "):
                continue
            start = hit.start + begin + (len(piece) - len(piece.lstrip()))
            # a sentence is read under its document's title and its heading ("Root Cause"); a labelled field
            # ("Result: 14 CFU/10 mL") also beside the other fields of its run ("Test: bioburden ..."), which
            # count half: the sentence that says a word itself is the likelier answer
            terms = set(content_terms(f"{hit.title}\n{hit.section}\n{text}"))
            # a record the sentence names brings what its document is ("CHG-25-0412": a change request)
            named = " ".join(self._titles.get(r, "") for r in record_ids(text) if r not in hit.title)
            beside = set(content_terms(f"{hit.text[run[0] : run[1]] if run else ''}\n{named}")) - terms
            score = sum(w * (1.0 if _carried(t, terms) else 0.5 if _carried(t, beside) else 0.0)
                        for t, w in weights.items()) / total  # fmt: skip
            yield Candidate(hit=hit, start=start, end=start + len(text), text=text, score=score)

    def _refresh_frequencies(self) -> None:
        """Document frequencies of the passages' terms, brought up to date with the documents stored since the
        last question only (passages are never removed, so the counts only grow): a question after an upload
        reads that upload, not the whole corpus again."""
        generation = self.corpus.store.generation()
        if generation == self._generation:
            return
        with self._refreshing:
            store = self.corpus.store
            every = store.list_documents(include_superseded=True)
            if not self._counted:
                rows = store.iter_all_chunks()
            else:
                rows = ((chunk, d) for d in every if d.id not in self._counted for chunk in store.chunks_of(d.id))
            for chunk, document in rows:
                self._counted.add(document.id)
                self._documents += 1
                for term in set(content_terms(chunk.text)):
                    self._df[term] = self._df.get(term, 0) + 1
            current = (d for d in every if d.status == DocumentStatus.CURRENT)
            self._titles = {r: d.title for d in current for r in record_ids(d.title)}
            self._generation = generation


def _carried(weighed: str, terms: set[str]) -> bool:
    """A weighed word is carried by the terms; a focus ("caus|becaus|due") by any one of its words."""
    return any(t in terms for t in weighed.split("|"))


def _same(a: Candidate, b: Candidate) -> bool:
    if a.hit.document_id == b.hit.document_id and a.start < b.end and b.start < a.end:
        return True
    return set(content_terms(a.text)) == set(content_terms(b.text))
