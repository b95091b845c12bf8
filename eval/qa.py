"""Chat QA eval: answer correctness, citation precision and recall, refusals, and latency, per backend.

- correct: an answerable question whose answer states every expected fact and none of the absent ones.
- citation precision: cited passages that overlap a gold supporting passage (same document and page),
  over all citations of answerable questions; at document level too (the cited document is a gold one).
  "complete": the same with the passages of qa_support_complete.yaml added to the gold's own (the gold sets
  named one passage per question; an answer listing several items rests on one per item, added after the
  first runs and checked in the documents).
- citation recall: gold supporting passages overlapped by some citation (the gold sets' own).
- refusal accuracy: unanswerable questions answered "nothing supports an answer"; false refusals are
  answerable questions refused.
- latency: time to the first streamed sentence, and to the whole answer, p50/p95, in a warm process.
"""

import re
import time
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from agents.chat import ChatService
from core.chat import Answer, ChatEventType, ChatScope
from core.config import Settings
from core.portfolio import load_portfolio
from eval.benchmark import percentile_ms
from eval.retrieval import ingest_folder
from extraction.service import Extractor
from retrieval.corpus import Corpus

GOLD = Path(__file__).parent / "qa_gold.yaml"
# the second set, written before the chat work on routing, scope and lists was measured on it; over the sample
# corpus and over the readers' development set (another sponsor's documents, read with its portfolio)
SECOND_GOLD = Path(__file__).parent / "qa_gold_other.yaml"
# passages a complete answer rests on, added after the first runs (see the file's header)
SUPPORT_ADDED = Path(__file__).parent / "qa_support_complete.yaml"
MUST_DECLINE = ("unanswerable", "scope")  # nothing supports an answer; or the question lies outside the scope


class Support(BaseModel):
    file: str
    text: str


class QaQuestion(BaseModel):
    id: str
    category: str  # single, cross, structured, unanswerable; in the second set also terms, record, capa, list, scope
    question: str
    corpus: str = "sample"
    scope: ChatScope | None = Field(None, description="The scope picked in the panel when asking")
    facts: list[str] = Field(default_factory=list)
    absent: list[str] = Field(default_factory=list)
    support: list[Support] = Field(default_factory=list)
    support_added: list[Support] = Field(default_factory=list, description="From qa_support_complete.yaml")
    after: str | None = Field(None, description="Asked as a follow-up in the session of this question")

    @property
    def answerable(self) -> bool:
        return self.category not in MUST_DECLINE


class QaMiss(BaseModel):
    id: str
    question: str
    answer: str
    why: str


class QaScore(BaseModel):
    backend: str
    questions: int
    answer_correctness: float
    correctness_by_category: dict[str, float]
    fact_recall: float
    citation_precision: float
    citation_precision_complete: float = Field(0.0, description="With qa_support_complete.yaml's passages added")
    citation_precision_document: float
    citation_recall: float
    refusal_accuracy: float
    false_refusals: int
    wrong_answers: int = Field(0, description="Answers that state something false: a fact the gold says is absent, "
                               "or an answer where nothing supports one; worse than a refusal")
    wrong_answer_rate: float = 0.0
    first_sentence_ms_p50: float
    first_sentence_ms_p95: float
    answer_ms_p50: float
    answer_ms_p95: float
    misses: list[QaMiss]


class QaReport(BaseModel):
    scores: list[QaScore]


def load_gold(path: Path = GOLD) -> list[QaQuestion]:
    added = yaml.safe_load(SUPPORT_ADDED.read_text(encoding="utf-8"))["support"]
    prefix = "" if path == GOLD else "other/"
    questions = [QaQuestion.model_validate(q) for q in yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]]
    for q in questions:
        q.support_added = [Support.model_validate(s) for s in added.get(prefix + q.id, [])]
    return questions


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


class SupportSpans:
    """Where each gold supporting passage is: (document id, page, start, end) in the stored text."""

    def __init__(self, corpus: Corpus):
        self.corpus = corpus
        self.by_file = {d.filename: d.id for d in corpus.store.list_documents()}

    def locate(self, support: Support) -> tuple[str, int, int, int]:
        document_id = self.by_file.get(support.file)
        if document_id is None:
            raise ValueError(f"qa gold: no document {support.file}")
        wanted = support.text.split()
        for page in self.corpus.store.pages(document_id):
            # the gold text is matched with any whitespace between its words (PDF line breaks)
            pattern = r"\s+".join(re.escape(w) for w in wanted)
            if m := re.search(pattern, page.text, re.IGNORECASE):
                return document_id, page.number, m.start(), m.end()
        raise ValueError(f"qa gold: {support.text!r} is not in {support.file}")


def _overlaps(citation, span: tuple[str, int, int, int]) -> bool:
    document_id, page, start, end = span
    return citation.document_id == document_id and citation.page == page and citation.start < end and start < citation.end


def score(service: ChatService, gold: list[QaQuestion], backend: str) -> QaScore:
    spans = SupportSpans(service.corpus)
    service.ask("warm up: what is the notification timeline for deviations?")  # models and indexes loaded
    sessions: dict[str, str] = {}
    correct: dict[str, list[bool]] = {}
    fact_hits = fact_total = 0
    cited = cited_relevant = cited_complete = cited_document = 0
    support_total = support_found = 0
    refused_right = unanswerable = false_refusals = wrong_answers = 0
    first_seconds, total_seconds, misses = [], [], []
    for q in gold:
        started = time.perf_counter()
        first = None
        answer = None
        for event in service.stream(q.question, q.scope, session_id=sessions.get(q.after) if q.after else None):
            if event.type == ChatEventType.SENTENCE and first is None:
                first = time.perf_counter() - started
            if event.type == ChatEventType.DONE:
                answer = Answer.model_validate(event.data)
        elapsed = time.perf_counter() - started
        total_seconds.append(elapsed)
        first_seconds.append(first or elapsed)
        sessions[q.id] = answer.session_id
        text = _norm(answer.text)
        if not q.answerable:
            unanswerable += 1
            refused_right += not answer.answered
            wrong_answers += answer.answered
            if answer.answered:
                misses.append(QaMiss(id=q.id, question=q.question, answer=answer.text[:300], why="answered"))
            continue
        false_refusals += not answer.answered
        found = [f for f in q.facts if _norm(f) in text]
        fact_hits += len(found)
        fact_total += len(q.facts)
        wrong = [f for f in q.absent if _norm(f) in text]
        wrong_answers += bool(wrong)
        ok = len(found) == len(q.facts) and not wrong
        correct.setdefault(q.category, []).append(ok)
        gold_spans = [spans.locate(s) for s in q.support]
        complete_spans = gold_spans + [spans.locate(s) for s in q.support_added]
        gold_documents = {s[0] for s in gold_spans}
        for c in answer.citations:
            cited += 1
            cited_relevant += any(_overlaps(c, s) for s in gold_spans)
            cited_complete += any(_overlaps(c, s) for s in complete_spans)
            cited_document += c.document_id in gold_documents
        support_total += len(gold_spans)
        support_found += sum(any(_overlaps(c, s) for c in answer.citations) for s in gold_spans)
        if not ok:
            why = f"missing {[f for f in q.facts if f not in found]}" + (f", wrongly names {wrong}" if wrong else "")
            misses.append(QaMiss(id=q.id, question=q.question, answer=answer.text[:300], why=why))
    every = [ok for oks in correct.values() for ok in oks]
    return QaScore(
        backend=backend,
        questions=len(gold),
        answer_correctness=round(sum(every) / max(len(every), 1), 3),
        correctness_by_category={c: round(sum(v) / len(v), 3) for c, v in correct.items()},
        fact_recall=round(fact_hits / max(fact_total, 1), 3),
        citation_precision=round(cited_relevant / max(cited, 1), 3),
        citation_precision_complete=round(cited_complete / max(cited, 1), 3),
        citation_precision_document=round(cited_document / max(cited, 1), 3),
        citation_recall=round(support_found / max(support_total, 1), 3),
        refusal_accuracy=round(refused_right / max(unanswerable, 1), 3),
        false_refusals=false_refusals,
        wrong_answers=wrong_answers,
        wrong_answer_rate=round(wrong_answers / max(len(gold), 1), 3),
        first_sentence_ms_p50=percentile_ms(first_seconds, 50),
        first_sentence_ms_p95=percentile_ms(first_seconds, 95),
        answer_ms_p50=percentile_ms(total_seconds, 50),
        answer_ms_p95=percentile_ms(total_seconds, 95),
        misses=misses,
    )


def load_corpus(corpus_dir: Path, settings: Settings) -> Corpus:
    """The sample corpus ingested and analysed (reviews and triage stored) into settings' data folder."""
    corpus = Corpus(settings)
    ingest_folder(corpus, corpus_dir)
    portfolio = load_portfolio(settings.portfolio_path)
    extractor = Extractor(settings, corpus.store, portfolio)
    for doc in corpus.store.list_documents():
        if corpus.store.analysis(doc.id) is None:
            extractor.analyse_stored(doc.id)
    return corpus


def run(service: ChatService, backend: str) -> QaScore:
    return score(service, load_gold(), backend)


def run_second(sample: ChatService, settings: Settings, work: Path, today) -> list[QaScore]:
    """The second gold set: its sample-corpus questions on `sample`, the rest on the readers' development set."""
    from eval.readers import SETS, render_sources

    _, _, sources, portfolio_path = SETS[0]
    gold = load_gold(SECOND_GOLD)
    local = settings.model_copy(update={"data_dir": work / "development", "portfolio_path": portfolio_path,
                                        "database_url": None})  # fmt: skip
    local.data_dir.mkdir(parents=True, exist_ok=True)
    corpus = load_corpus(render_sources(sources, work / "development-files"), local)
    try:
        development = ChatService(corpus, load_portfolio(portfolio_path), today=today)
        return [
            score(sample, [q for q in gold if q.corpus == "sample"], "offline, gold 2, sample corpus"),
            score(development, [q for q in gold if q.corpus == "development"], "offline, gold 2, development set"),
        ]
    finally:
        corpus.close()
