"""The chat service: reads a question against its session, answers it, streams the answer, keeps the turn.

Without an LLM the answer is offline: structured questions from the stored events and reviews, the rest
extractive. With one, the LLM agent answers from its tools' passages, and any failure of the model (down,
invalid, unsupported sentences) gives the offline answer, with the reason kept on the answer.
"""

import logging
import uuid
from collections.abc import Iterator
from datetime import date

from agents.citations import CitationBook
from agents.extractive import ExtractiveAnswerer
from agents.llm_agent import make_llm_agent
from agents.questions import Intent, QuestionFrame, read_question
from agents.structured import STRUCTURED_INTENTS, StructuredAnswerer
from agents.tables import TableAnswerer
from core.chat import (
    OFFLINE,
    Answer,
    AnswerKind,
    AnswerSentence,
    ChatEvent,
    ChatEventType,
    ChatScope,
    ChatSessionSummary,
    ChatTurn,
)
from core.errors import NotFoundError
from core.portfolio import Portfolio
from core.store import utcnow
from retrieval.corpus import Corpus

log = logging.getLogger(__name__)


class ChatService:
    def __init__(self, corpus: Corpus, portfolio: Portfolio, llm_agent=None, today: date | None = None):
        self.corpus = corpus
        self.store = corpus.store
        self.portfolio = portfolio
        # one day of judgement with the dashboard, the digest and the API: CDMO_AS_OF, else today
        self.structured = StructuredAnswerer(corpus.store, portfolio, (lambda: today) if today else corpus.settings.today)
        self.extractive = ExtractiveAnswerer(corpus, portfolio)
        self.tables = TableAnswerer(corpus.store)
        self.llm_agent = llm_agent

    def ask(
        self, question: str, scope: ChatScope | None = None, session_id: str | None = None, owner: str | None = None
    ) -> Answer:
        events = list(self.stream(question, scope, session_id, owner))
        return Answer.model_validate(events[-1].data)

    def session(self, session_id: str, owner: str | None) -> list[ChatTurn]:
        """A session's turns, to its owner; to anyone else, and for an id this service never made, not found."""
        turns = self.store.chat_turns(session_id)
        if not turns or turns[0].owner != owner:
            raise NotFoundError(f"no chat session {session_id}")
        return turns

    def sessions(self, owner: str | None) -> list[ChatSessionSummary]:
        return [ChatSessionSummary(session_id=t.session_id, question=t.question, asked_at=t.asked_at)
                for t in self.store.chat_sessions(owner)]  # fmt: skip

    def stream(
        self, question: str, scope: ChatScope | None = None, session_id: str | None = None, owner: str | None = None
    ) -> Iterator[ChatEvent]:
        """start, then each citation before the first sentence that uses it, each sentence, then done. A new
        session's id is made here; a follow-up names one its owner opened (else NotFoundError)."""
        scope = scope or ChatScope()
        history = self.session(session_id, owner) if session_id else []
        session_id = session_id or uuid.uuid4().hex
        previous = QuestionFrame.model_validate(history[-1].frame) if history else None
        frame = read_question(question, self.portfolio, scope, previous)
        yield ChatEvent(type=ChatEventType.START, data={"session_id": session_id, "frame": frame.model_dump(mode="json")})
        answer = self._answer(question, scope, session_id, frame, history)
        sent: set[int] = set()
        by_marker = {c.marker: c for c in answer.citations}
        for sentence in answer.sentences:
            for marker in sentence.citations:
                if marker not in sent:
                    sent.add(marker)
                    yield ChatEvent(type=ChatEventType.CITATION, data=by_marker[marker].model_dump(mode="json"))
            yield ChatEvent(type=ChatEventType.SENTENCE, data=sentence.model_dump(mode="json"))
        self.store.add_chat_turn(
            ChatTurn(
                session_id=session_id,
                ordinal=len(history) + 1,
                owner=owner,
                question=question,
                frame=frame.model_dump(mode="json"),
                answer=answer,
                asked_at=utcnow(),
            )
        )
        yield ChatEvent(type=ChatEventType.DONE, data=answer.model_dump(mode="json"))

    def _answer(self, question, scope, session_id, frame: QuestionFrame, history: list[ChatTurn]) -> Answer:
        base = {"session_id": session_id, "question": question, "scope": scope}
        if outside := self.outside_scope(frame, scope):  # never another record's answer in its place
            return Answer(**base, kind=AnswerKind.NO_ANSWER, sentences=[AnswerSentence(text=outside)], citations=[],
                          backend=OFFLINE)  # fmt: skip
        fallback = None
        if self.llm_agent is not None:
            book = CitationBook(self.store)
            try:
                kind, sentences = self.llm_agent.answer(frame, book, history)
                return Answer(**base, kind=kind, sentences=sentences, citations=book.citations,
                              backend=self.llm_agent.label, dropped_citations=book.dropped)
            except Exception as exc:  # the model failed; the offline answer stands in, and says why
                fallback = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("LLM agent failed, offline answer given: %s", fallback)
        book = CitationBook(self.store)
        kind, sentences = self.offline(frame, book)
        return Answer(**base, kind=kind, sentences=sentences, citations=book.citations, backend=OFFLINE,
                      dropped_citations=book.dropped, fallback=fallback)

    def outside_scope(self, frame: QuestionFrame, scope: ChatScope) -> str | None:
        """What the question names that lies outside the scope picked in the panel, in words; None if nothing.
        Only what this user may see is looked at (the store is the principal's view), so nothing leaks."""
        if not (scope.site or scope.program):
            return None
        where = self._scope_words(scope)
        named_sites = [s for s in frame.sites if s != scope.site] if scope.site else []
        named_programs = [p for p in frame.programs if p != scope.program] if scope.program else []
        if named_sites or named_programs:
            names = [self._site_name(s) for s in named_sites] + named_programs
            return (f"The question names {', '.join(names)}, outside the chosen scope ({where}); choose it in the "
                    "scope, or all, to ask about it.")  # fmt: skip
        if not (frame.records or frame.batches):
            return None
        documents = self.store.list_documents()  # read only when the question names a record or batch
        for label, numbers, field in (("record", frame.records, "document_ids"), ("batch", frame.batches, "batch_ids")):
            for number in numbers:
                holders = [d for d in documents if number in getattr(d.metadata, field)]
                if holders and not any(_in_scope(d, scope) for d in holders):
                    sites = sorted({self._site_name(s) for d in holders for s in d.metadata.sites[:1]})
                    return (f"{label.capitalize()} {number} belongs to {', '.join(sites) or 'documents'} outside the "
                            f"chosen scope ({where}); choose that scope, or all, to ask about it.")  # fmt: skip
        return None

    def _site_name(self, site_id: str) -> str:
        site = self.portfolio.site(site_id)
        return site.name if site else site_id

    def _scope_words(self, scope: ChatScope) -> str:
        parts = ([self._site_name(scope.site)] if scope.site else []) + ([scope.program] if scope.program else [])
        return ", ".join(parts)

    def offline(self, frame: QuestionFrame, book: CitationBook) -> tuple[AnswerKind, list[AnswerSentence]]:
        if frame.intent in STRUCTURED_INTENTS:
            sentences = self.structured.answer(frame, book)
            if sentences:
                return AnswerKind.STRUCTURED, sentences
            return AnswerKind.NO_ANSWER, [AnswerSentence(text=_nothing_matches(frame))]
        if sentences := self.tables.answer(frame, book):
            return AnswerKind.STRUCTURED, sentences
        sentences = self.extractive.answer(frame, book)
        if sentences:
            return AnswerKind.EXTRACTIVE, sentences
        return AnswerKind.NO_ANSWER, [AnswerSentence(text=_no_support(frame))]


def make_chat_service(corpus: Corpus, portfolio: Portfolio) -> ChatService:
    """The chat service as settings ask for it: with the LLM agent when an endpoint is configured."""
    return ChatService(corpus, portfolio, make_llm_agent(corpus.settings, corpus, portfolio))


def _in_scope(document, scope: ChatScope) -> bool:
    meta = document.metadata
    return (not scope.site or scope.site in meta.sites) and (not scope.program or scope.program in meta.programs)


def _nothing_matches(frame: QuestionFrame) -> str:
    what = {Intent.CAPAS_DUE: "CAPA past its due date", Intent.QTA_GAPS: "quality-agreement gap",
            Intent.QTA_TERMS: "quality-agreement clause", Intent.OBSERVATIONS: "inspection or audit observation"}.get(  # fmt: skip
        frame.intent, "event"
    )
    return f"No stored {what} matches this question in {frame.scope_words()}, so there is nothing to cite."


def _no_support(frame: QuestionFrame) -> str:
    return (
        f"Nothing in the documents of {frame.scope_words()} supports an answer to this question, "
        "so I will not guess."
    )
