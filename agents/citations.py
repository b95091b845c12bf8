"""Citations: numbered, checked against the stored page text, and kept only where they support the sentence.

A citation holds when its quote is the page text at its span (what extraction's grounding checks) and the
passage supports the sentence: the sentence's record numbers, batch numbers, dates and figures all appear
in its cited passages, and most of its content words do. A sentence left with no supporting citation is
not said.
"""

import re

from core.chat import AnswerSentence, Citation
from core.dates import DATE, all_dates
from core.evidence import Evidence
from core.store import RecordStore

_WORD = re.compile(r"[a-z0-9]+(?:[-/.][a-z0-9]+)*")
_FIGURE = re.compile(r"\b[A-Z]*\d[\w./-]*\b")
STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be been before being below between both but by
    can could did do does doing down during each few for from further had has have having he her here hers how i
    if in into is it its itself just me more most my no nor not now of off on once only or other our out over own
    same she should so some such than that the their them then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would you your yes per via
    tell show list give find please said say says""".split()
)
# words of the question's frame, not of its facts: a passage need not repeat them to answer it
QUESTION_WORDS = frozenset("many much number whether kind type stated state statement mentioned document".split())


def content_terms(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS and (len(w) > 2 or w[0].isdigit())]


_SUFFIXES = ("ations", "ation", "ings", "ing", "ed", "es", "s", "e")


def stem(word: str) -> str:
    """A crude stem: enough that 'notified' meets 'notification', 'caused' meets 'cause', 'batches' 'batch'."""
    if not word.isalpha():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    return word[:6]


def figures(text: str) -> set[str]:
    """Record numbers, batch numbers, dates and amounts: facts a citation must carry verbatim."""
    return {f.lower().rstrip(".") for f in _FIGURE.findall(text) if any(c.isdigit() for c in f)}


def facts(text: str) -> set[str]:
    """The figures of a text as facts to cite: each date whole (2024-11-12, however written); a bare number
    with the word it counts ("2 business", not the "2." of a heading); every other figure (record and batch
    numbers, amounts) as a token, never as a part of another."""
    dated = [(m.start(), m.end()) for m in DATE.finditer(text)]
    found = {d.isoformat() for d in all_dates(text)}
    for m in _FIGURE.finditer(text):
        figure = m.group().lower().rstrip(".")
        if not any(c.isdigit() for c in figure) or any(a <= m.start() < b for a, b in dated):
            continue
        if figure.isdigit():
            counted = re.match(r"\s+([a-z]+)", text[m.end() :].lower())
            figure += f" {stem(counted.group(1))}" if counted else ""
        found.add(figure)
    return found


class CitationBook:
    """The answer's citations, numbered in order of first use; the same passage keeps its number."""

    def __init__(self, store: RecordStore):
        self.store = store
        self.citations: list[Citation] = []
        self._pages: dict[tuple[str, int], str] = {}
        self.dropped = 0

    def cite(self, evidence: Evidence) -> int | None:
        """The marker for a passage, or None when the quote is not the stored page text at its span."""
        for c in self.citations:
            if c.span == evidence.span:
                return c.marker
        text = self._page(evidence.document_id, evidence.page)
        if text is None or " ".join(text[evidence.start : evidence.end].split()) != " ".join(evidence.quote.split()):
            self.dropped += 1
            return None
        doc = self.store.get(evidence.document_id)
        citation = Citation(
            **evidence.model_dump(), marker=len(self.citations) + 1, title=doc.title, filename=doc.filename
        )
        self.citations.append(citation)
        return citation.marker

    def sentence(
        self, text: str, evidence: list[Evidence], min_overlap: float = 0.5, required: tuple[str, ...] = (),
        basis: list[Evidence] = (),
    ) -> AnswerSentence | None:
        """A sentence with the fewest citations that support it, carrying also the `required` words and citing
        every `basis` passage: the claims the question asks about ("critical", the quote a flag rests on).
        None when nothing supports it."""
        supporting = [e for e in [*basis, *evidence] if e is not None]
        if not supporting or not supports(text, [e.quote for e in supporting], min_overlap):
            self.dropped += len(supporting)
            return None
        chosen = fewest(text, supporting, min_overlap, required, basis=[e for e in basis if e is not None])
        markers = [m for e in chosen if (m := self.cite(e)) is not None]
        return AnswerSentence(text=text, citations=list(dict.fromkeys(markers))) if markers else None

    def restated(self, text: str, evidence: list[Evidence], required: tuple[str, ...] = ()) -> AnswerSentence | None:
        """A sentence that restates a stored finding (a QTA gap, a lateness): its words are the product's, its
        basis the fewest of the passages the finding was read from that carry its figures, each still checked
        against the page text."""
        supporting = [e for e in evidence if e is not None]
        markers = [m for e in fewest(text, supporting, 0.0, required) if (m := self.cite(e)) is not None]
        return AnswerSentence(text=text, citations=list(dict.fromkeys(markers))) if markers else None

    def _page(self, document_id: str, page: int) -> str | None:
        key = (document_id, page)
        if key not in self._pages:
            self._pages[key] = self.store.page_text(document_id, page)
        return self._pages[key]


def shares(sentence: str, quote: str) -> bool:
    """The passage has a content word or a figure of the sentence: it supports some of it."""
    return bool(set(content_terms(sentence)) & set(content_terms(quote)) or figures(sentence) & figures(quote))


def supports(sentence: str, quotes: list[str], min_overlap: float = 0.5) -> bool:
    """The passages carry every figure of the sentence and at least `min_overlap` of its content words."""
    passage = " ".join(quotes)
    missing = figures(sentence) - figures(passage) - {f for f in figures(sentence) if f in passage.lower()}
    if missing:
        return False
    words = set(content_terms(sentence))
    if not words:
        return True
    return len(words & set(content_terms(passage))) / len(words) >= min_overlap


def fewest(
    sentence: str, evidence: list[Evidence], min_overlap: float = 0.5, required: tuple[str, ...] = (),
    basis: list[Evidence] = (),
) -> list[Evidence]:
    """The fewest of the passages that together carry what they can of the sentence, in their given order:
    each next one the passage that carries most of its figures and required words, then of its other words,
    not yet carried. A passage that adds nothing is not cited: a reader opens each citation to check a claim.
    A figure no passage carries (a count the product made) asks for nothing. The `basis` is always cited."""
    if not evidence:
        return []
    # each passage read once: what it carries of facts and words
    read = {id(e): (facts(e.quote), set(content_terms(e.quote))) for e in [*basis, *evidence]}
    wanted_facts = facts(sentence) & set().union(*(read[id(e)][0] for e in evidence))
    wanted_words = set(content_terms(sentence)) & set().union(*(read[id(e)][1] for e in evidence))
    must = {t for word in required for t in content_terms(word)} & wanted_words
    chosen: list[Evidence] = list(basis)
    left = [e for e in evidence if e not in chosen]
    while left:
        open_facts = wanted_facts - set().union(*(read[id(e)][0] for e in chosen))
        open_words = wanted_words - set().union(*(read[id(e)][1] for e in chosen))
        overlap = 1 - len(open_words) / len(wanted_words) if wanted_words else 1.0
        if chosen and not open_facts and not (must & open_words) and overlap >= min_overlap:
            break

        def gain(e: Evidence) -> tuple[int, int]:
            its_facts, its_words = read[id(e)]
            return len(open_facts & its_facts) + len(must & open_words & its_words), len(open_words & its_words)

        best = max(left, key=gain)  # the first of equals: the order given is the order of preference
        if gain(best) == (0, 0):
            break
        chosen.append(best)
        left.remove(best)
    chosen = chosen or evidence[:1]
    return [e for e in evidence if e in chosen]


def line_with(store: RecordStore, document_id: str, value: str) -> Evidence | None:
    """The line of the document where a value (record or batch number, title) first appears."""
    return line_matching(store, document_id, re.escape(value))


def line_matching(store: RecordStore, document_id: str, pattern: str, flags: int = 0) -> Evidence | None:
    """The line of the document where a pattern first matches ("Classification: Critical")."""
    for page in store.pages(document_id):
        if m := re.search(pattern, page.text, flags):
            at, length = m.start(), m.end() - m.start()
            start = page.text.rfind("\n", 0, at) + 1
            end = page.text.find("\n", at)
            end = len(page.text) if end < 0 else end
            if end - start > 300:  # a long paragraph: cite the value's sentence, not the whole of it
                start, end = max(start, at - 120), min(end, at + length + 120)
            return Evidence(document_id=document_id, page=page.number, start=start, end=end, quote=page.text[start:end])
    return None
