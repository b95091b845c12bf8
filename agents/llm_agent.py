"""The LLM chat agent: a LangChain tool-using loop over the project's own tools, then a checked answer.

The question's passages are searched first and put before the model, so that a model which calls no tool
still answers from the corpus. It may call more tools (passage search with filters, events, CAPAs past
due, QTA gaps), a bounded number of times, then must call `final_answer`: sentences, each with the ids of
the passages that say it. Every sentence is checked against its passages like any citation; hostile
passages are withheld from the model. A model that fails, or whose sentences none hold, raises, and the
chat service gives the offline answer instead.
"""

import json
import logging

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import StructuredTool
from pydantic import BaseModel, Field

from agents.citations import CitationBook, content_terms, shares
from agents.extractive import pieces
from agents.questions import Intent, QuestionFrame
from agents.structured import STRUCTURED_INTENTS, StructuredAnswerer
from core.chat import AnswerKind, AnswerSentence, ChatTurn
from core.config import Settings
from core.evidence import Evidence
from core.investigations import EventType
from core.portfolio import Portfolio
from core.search import SearchFilters
from extraction.hostile import HOSTILE
from extraction.llm import chat_model
from prompts.loader import load_prompt
from retrieval.corpus import Corpus

log = logging.getLogger(__name__)
WITHHELD = "[passage withheld: text addressed to an AI]"


class SentenceDraft(BaseModel):
    text: str = Field(description="One sentence stating one fact")
    passages: list[str] = Field(default_factory=list, description="Ids of the passages that say it, e.g. P2")


class FinalAnswer(BaseModel):
    """The answer, sentence by sentence, each with its passage ids. No sentences and unanswerable=true when
    the passages do not answer the question."""

    sentences: list[SentenceDraft] = Field(default_factory=list)
    unanswerable: bool = False


class SearchArgs(BaseModel):
    query: str = Field(description="What to look for")
    site: str | None = Field(None, description="Site id, e.g. NGB-CORK")
    program: str | None = Field(None, description="Program id, e.g. HB-101")


class EventArgs(BaseModel):
    site: str | None = None
    program: str | None = None
    batch: str | None = None
    event_type: EventType | None = None
    open_only: bool = False


class SiteArgs(BaseModel):
    site: str | None = None


class Passages:
    """Every passage shown to the model, by id; the ids are what its sentences cite."""

    def __init__(self):
        self.by_id: dict[str, Evidence] = {}
        self._titles: dict[str, str] = {}

    def add(self, evidence: Evidence, title: str) -> str:
        """The passage's id, the same for the same span however often it is shown."""
        pid = next((p for p, known in self.by_id.items() if known.span == evidence.span), None)
        if pid is None:
            pid = f"P{len(self.by_id) + 1}"
            self.by_id[pid], self._titles[pid] = evidence, title
        return pid

    def show(self, evidence: Evidence, title: str) -> str:
        """The passage as the model reads it; text addressed to an AI is withheld."""
        pid = self.add(evidence, title)
        text = WITHHELD if HOSTILE.search(evidence.quote) else " ".join(evidence.quote.split())
        return f"{pid} ({title}, page {evidence.page}): {text}"


class LlmChatAgent:
    def __init__(self, settings: Settings, corpus: Corpus, portfolio: Portfolio, chat):
        self.settings = settings
        self.corpus = corpus
        self.structured = StructuredAnswerer(corpus.store, portfolio, settings.today)
        self.chat = chat
        self.prompt = load_prompt("chat_agent")
        self.label = f"llm:{settings.llm_model} ({self.prompt.version})"

    def answer(
        self, frame: QuestionFrame, book: CitationBook, history: list[ChatTurn]
    ) -> tuple[AnswerKind, list[AnswerSentence]]:
        passages = Passages()
        tools = self._tools(passages)
        filters = frame.search_filters()
        seed = [tools["search_passages"].invoke({"query": frame.text, "site": filters.site, "program": filters.program})]
        if frame.intent in STRUCTURED_INTENTS:
            seed.append(self._structured_text(frame, passages))
        earlier = "\n".join(f"Q: {t.question}\nA: {t.answer.text}" for t in history[-3:]) or "(none)"
        scope = f"sites {frame.sites or 'all'}, programs {frame.programs or 'all'}"
        messages: list[BaseMessage] = [
            SystemMessage(self.prompt.system),
            HumanMessage(
                self.prompt.user.format(scope=scope, history=earlier, question=frame.text)
                + "\nPassages found so far:\n" + "\n".join(seed)
            ),
        ]
        final = self._loop(messages, tools)
        if final.unanswerable and not final.sentences:
            return AnswerKind.NO_ANSWER, [AnswerSentence(text="The documents do not answer this question, so I will not guess.")]
        sentences = []
        for draft in final.sentences:
            evidence = [_narrow(passages.by_id[p], draft.text) for p in draft.passages if p in passages.by_id]
            # a passage the model named that shares nothing with its sentence supports none of it: not cited
            relevant = [e for e in evidence if shares(draft.text, e.quote)]
            book.dropped += len(evidence) - len(relevant)
            if sentence := book.sentence(draft.text.strip(), relevant):
                sentences.append(sentence)
        if not sentences:
            raise ValueError(f"none of the model's {len(final.sentences)} sentences is supported by its passages")
        return AnswerKind.GENERATED, sentences

    def _loop(self, messages: list[BaseMessage], tools: dict[str, StructuredTool]) -> FinalAnswer:
        final_tool = StructuredTool.from_function(
            func=lambda **kw: "", name="final_answer", description=FinalAnswer.__doc__, args_schema=FinalAnswer
        )
        model = self.chat.bind_tools([*tools.values(), final_tool])
        for _ in range(self.settings.chat_max_steps):
            reply: AIMessage = model.invoke(messages)
            messages.append(reply)
            if not reply.tool_calls:
                break
            for call in reply.tool_calls:
                if call["name"] == "final_answer":
                    return FinalAnswer.model_validate(call["args"])
                result = tools[call["name"]].invoke(call["args"]) if call["name"] in tools else "no such tool"
                messages.append(ToolMessage(result, tool_call_id=call["id"]))
        # no final answer yet: ask for it, and only it
        forced = self.chat.with_structured_output(FinalAnswer, method="function_calling")
        final = forced.invoke([*messages, HumanMessage("Now call final_answer.")])
        if final is None:  # it wrote prose, or arguments that do not parse: no answer to check
            raise ValueError("the model did not call final_answer with valid arguments")
        return final

    def _tools(self, passages: Passages) -> dict[str, StructuredTool]:
        def search_passages(query: str, site: str | None = None, program: str | None = None) -> str:
            hits = self.corpus.search(query, SearchFilters(site=site, program=program), limit=self.settings.chat_passages)
            shown = [
                passages.show(Evidence(document_id=h.document_id, page=h.page, start=h.start, end=h.end, quote=h.text), h.title)
                for h in hits
            ]
            return "\n".join(shown) or "no passages"

        def list_events(site=None, program=None, batch=None, event_type=None, open_only=False) -> str:
            frame = QuestionFrame(text="", intent=Intent.EVENTS, sites=_list(site), programs=_list(program),
                                  batches=_list(batch), event_types=_list(event_type), open_only=open_only)
            return self._structured_text(frame, passages)

        def capas_past_due(site: str | None = None) -> str:
            return self._structured_text(QuestionFrame(text="", intent=Intent.CAPAS_DUE, sites=_list(site)), passages)

        def qta_gaps(site: str | None = None) -> str:
            return self._structured_text(QuestionFrame(text="", intent=Intent.QTA_GAPS, sites=_list(site)), passages)

        return {
            "search_passages": StructuredTool.from_function(
                search_passages, description="Hybrid search of the documents' passages", args_schema=SearchArgs
            ),
            "list_events": StructuredTool.from_function(
                list_events, description="Deviations, OOS results and changes, with filters", args_schema=EventArgs
            ),
            "capas_past_due": StructuredTool.from_function(
                capas_past_due, description="CAPAs past their due date", args_schema=SiteArgs
            ),
            "qta_gaps": StructuredTool.from_function(
                qta_gaps, description="Missing, vague and conflicting elements of quality agreements", args_schema=SiteArgs
            ),
        }

    def _structured_text(self, frame: QuestionFrame, passages: Passages) -> str:
        """The offline structured answer, as lines whose cited passages the model can cite in turn."""
        scratch = CitationBook(self.corpus.store)
        lines = []
        for sentence in self.structured.answer(frame, scratch):
            ids = [passages.add(scratch.citations[m - 1], scratch.citations[m - 1].title) for m in sentence.citations]
            lines.append(f"{sentence.text} (passages {', '.join(ids)})")
        shown = [passages.show(c, c.title) for c in scratch.citations]
        return json.dumps({"records": lines, "passages": shown}, ensure_ascii=False) if lines else "no matching records"


def _narrow(evidence: Evidence, sentence: str) -> Evidence:
    """The sentence of the passage that best matches the model's sentence: a citation as short as it can be."""
    wanted = set(content_terms(sentence))
    best, best_overlap = evidence, -1
    for begin, end in pieces(evidence.quote):
        piece = evidence.quote[begin:end]
        overlap = len(wanted & set(content_terms(piece)))
        if overlap > best_overlap:
            best_overlap = overlap
            start = evidence.start + begin
            best = evidence.model_copy(update={"start": start, "end": start + len(piece), "quote": piece})
    return best


def _list(value) -> list:
    return [value] if value else []


def make_llm_agent(settings: Settings, corpus: Corpus, portfolio: Portfolio) -> LlmChatAgent | None:
    """The LLM agent when an endpoint is configured; None means offline answers."""
    if not settings.llm_enabled:
        return None
    return LlmChatAgent(settings, corpus, portfolio, chat_model(settings))
