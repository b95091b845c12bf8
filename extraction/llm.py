"""The LLM backend: any OpenAI-compatible endpoint, through LangChain's ChatOpenAI and function calling.

The model reads; it does not judge alone. Its answers are validated into pydantic records (re-asked with the
error a bounded number of times), every quote is grounded in the document, hostile passages are withheld
from the prompt, and the rule-based weakness checks stay as a floor it cannot remove.
"""

import logging
from collections.abc import Callable
from datetime import date

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field, ValidationError, field_validator

from core.config import Settings
from core.evidence import GroundingReport
from core.identifiers import DOCUMENT_ID, batch_ids
from core.investigations import (
    Capa,
    Classification,
    EventReading,
    EventType,
    Flag,
    FlagCode,
    Quoted,
    RootCauseCategory,
)
from core.qta import ElementFinding, ElementStatus
from extraction.grounding import Grounder
from extraction.playbook import Element, Playbook
from extraction.qta_rules import element_clauses, review_clauses, severity_of
from extraction.source import SourceText
from extraction.triage_rules import read_event
from prompts.loader import load_prompt

log = logging.getLogger(__name__)
WITHHELD = "[passage withheld: text addressed to an AI reviewer]"


class LlmOutputError(RuntimeError):
    def __init__(self, attempts: int, last_error: str):
        super().__init__(f"no valid answer after {attempts} attempt{'s' * (attempts != 1)}: {last_error}")
        self.attempts = attempts
        self.last_error = last_error


def _lower(value):
    return value.strip().lower().replace(" ", "_") if isinstance(value, str) else value


class ElementAnswer(BaseModel):
    """The status of one playbook element in the agreement."""

    status: ElementStatus
    quotes: list[str] = Field(default_factory=list, description="Clause text copied word for word")
    reason: str = Field("", description="One line: why this status")

    _status = field_validator("status", mode="before")(_lower)


class CapaAnswer(BaseModel):
    action: str = Field(description="The action, copied from the report")
    owner: str | None = None
    due_date: date | None = None
    effectiveness_check: str | None = None


class WeaknessAnswer(BaseModel):
    code: FlagCode
    quote: str = Field(description="The sentence that shows the weakness, copied word for word")

    _code = field_validator("code", mode="before")(_lower)


class TriageAnswer(BaseModel):
    """The structured event read from one investigation or change report."""

    event_type: EventType
    classification: Classification | None = None
    record_ids: list[str] = Field(default_factory=list, description="Report, deviation, CAPA numbers as written")
    batch_ids: list[str] = Field(default_factory=list, description="Batch or lot numbers as written")
    occurred: date | None = None
    detected: date | None = None
    reported: date | None = Field(None, description="Date the sponsor or client was notified")
    closed: date | None = None
    description_quote: str | None = None
    root_cause_quote: str | None = None
    root_cause_category: RootCauseCategory | None = None
    capas: list[CapaAnswer] = Field(default_factory=list)
    impact_quote: str | None = None
    weaknesses: list[WeaknessAnswer] = Field(default_factory=list)

    _enums = field_validator("event_type", "classification", "root_cause_category", mode="before")(_lower)


def _applies(code: FlagCode, kind: EventType) -> bool:
    """Weak-investigation flags belong to investigations; the OOS one to OOS results only."""
    if kind == EventType.CHANGE:
        return False
    return code != FlagCode.OOS_INVALIDATED_WITHOUT_ASSIGNABLE_CAUSE or kind in (EventType.OOS, EventType.OOT)


def _looks_like_batch(value: str) -> bool:
    """A batch number as written ("24-017", "F4480"), not a date or a sentence a model put in the field."""
    return value.upper() in batch_ids(f"batch {value}")


# (messages, schema) -> the parsed answer; raises on an invalid one. Tests may pass their own.
Ask = Callable[[list[BaseMessage], type[BaseModel]], BaseModel]


def chat_model(settings: Settings):
    """LangChain's ChatOpenAI for the configured endpoint; extraction and the chat agent share it."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key,
        temperature=0,
        max_retries=0,  # re-asks are ours, with the validation error in them
        timeout=settings.llm_timeout_s,
        # llama.cpp's server ignores max_completion_tokens; max_tokens in the body is honoured everywhere
        extra_body={"max_tokens": settings.llm_max_tokens},
    )


def langchain_ask(settings: Settings) -> Ask:
    chat = chat_model(settings)

    def ask(messages: list[BaseMessage], schema: type[BaseModel]) -> BaseModel:
        result = chat.with_structured_output(schema, method="function_calling", include_raw=True).invoke(messages)
        if result["parsing_error"] is not None:
            raise ValueError(str(result["parsing_error"]))
        if result["parsed"] is None:
            raise ValueError("the answer did not call the function")
        return result["parsed"]

    return ask


class LlmBackend:
    def __init__(self, settings: Settings, ask: Ask | None = None):
        self.settings = settings
        self.ask = ask or langchain_ask(settings)
        self.triage_prompt = load_prompt("triage")
        self.element_prompt = load_prompt("qta_element")
        self.name = f"llm:{settings.llm_model}"

    def label(self, job: str) -> str:
        prompt = self.triage_prompt if job == "triage" else self.element_prompt
        return f"{self.name} ({prompt.version})"

    def _structured(self, messages: list[BaseMessage], schema: type[BaseModel], report: GroundingReport) -> BaseModel:
        error = ""
        for attempt in range(1, self.settings.llm_max_retries + 2):
            try:
                return self.ask(messages, schema)
            except (ValueError, ValidationError) as exc:
                report.invalid_outputs += 1
                error = str(exc).splitlines()[0][:300]
                log.info("invalid model output (attempt %d): %s", attempt, error)
                messages = [
                    *messages,
                    HumanMessage(f"That answer was not valid: {error}. Call the function again with valid arguments."),
                ]
            except Exception as exc:  # the endpoint itself failed (down, timeout, refused): the rules answer
                log.warning("LLM endpoint error: %s", exc)
                raise LlmOutputError(attempt, f"endpoint error: {type(exc).__name__}: {exc}") from exc
        raise LlmOutputError(self.settings.llm_max_retries + 1, error)

    # --- QTA review -------------------------------------------------------------------------------

    def review(self, source: SourceText, playbook: Playbook) -> tuple[list[ElementFinding], GroundingReport]:
        report = GroundingReport()
        rules = review_clauses(source, playbook)
        grounder = Grounder(source)
        findings = []
        for element, fallback in zip(playbook.elements, rules):
            findings.append(self._review_element(source, element, fallback, grounder, report))
        report.merge(grounder.report)
        return findings, report

    def _review_element(self, source, element: Element, fallback: ElementFinding, grounder, report):
        clauses = element_clauses(source, element)
        if not clauses:  # nothing to read: the locator's "missing" stands, no call needed
            return fallback
        specific = "; ".join(r.description for r in element.requires if r.description) or element.title
        numbered = "\n".join(f"[{i}] ({c.section}) {c.text}" for i, c in enumerate(clauses[:12], 1))
        prompt = self.element_prompt
        messages = [
            SystemMessage(prompt.system.format(specific=specific)),
            HumanMessage(prompt.user.format(title=element.title, specific=specific, clauses=numbered)),
        ]
        try:
            answer: ElementAnswer = self._structured(messages, ElementAnswer, report)
        except LlmOutputError as exc:
            report.fallbacks.append(f"{element.id}: {exc}")
            return fallback
        evidence = [e for q in answer.quotes if (e := grounder.quote(q))]
        if answer.status != ElementStatus.MISSING and not evidence:
            report.fallbacks.append(f"{element.id}: the model's quotes were not in the document")
            return fallback
        return fallback.model_copy(
            update={
                "status": answer.status,
                "reason": answer.reason.strip() or fallback.reason,
                "severity": severity_of(element, answer.status),
                "evidence": evidence,
                "section": clauses[0].section,
                "suggested_wording": None if answer.status == ElementStatus.PRESENT else element.suggested_wording,
            }
        )

    # --- investigation triage ---------------------------------------------------------------------

    def read(self, source: SourceText) -> tuple[EventReading, GroundingReport]:
        report = GroundingReport()
        floor = read_event(source)  # rule-based checks a model cannot remove
        text = "\n".join(WITHHELD if c in source.hostile else c.text for c in source.clauses)
        prompt = self.triage_prompt
        messages = [
            SystemMessage(prompt.system),
            HumanMessage(prompt.user.format(filename=source.document.filename, document=text)),
        ]
        try:
            answer: TriageAnswer = self._structured(messages, TriageAnswer, report)
        except LlmOutputError as exc:
            report.fallbacks.append(f"triage: {exc}")
            return floor, report
        grounder = Grounder(source)
        reading = self._reading(answer, floor, grounder)
        report.merge(grounder.report)
        return reading, report

    def _reading(self, answer: TriageAnswer, floor: EventReading, g: Grounder) -> EventReading:
        def quoted(text: str | None) -> Quoted | None:
            evidence = g.quote(text)
            return Quoted(text=" ".join(evidence.quote.split()), evidence=evidence) if evidence else None

        # what the report states in its labelled fields (read by the rules) wins; the model fills the gaps
        gaps = {k: v for k, stated in floor.dates if stated is None and (v := getattr(answer, k)) and g.known_date(v)}
        dates = floor.dates.model_copy(update=gaps)
        capas = [
            Capa(action=c.action, owner=c.owner, due=c.due_date, effectiveness_check=c.effectiveness_check, evidence=e)
            for c in answer.capas
            if (e := g.quote(c.action))
        ]
        # the document's kind settles OOS and change events; the model may say which kind of deviation
        kind = floor.type if floor.type in (EventType.OOS, EventType.OOT, EventType.CHANGE) else answer.event_type
        flags = {f.code: f for f in floor.flags}
        for weakness in answer.weaknesses:
            if not _applies(weakness.code, kind) or weakness.code in flags:
                continue
            if evidence := g.quote(weakness.quote):
                flags[weakness.code] = Flag(code=weakness.code, reason="Found by the model.", evidence=[evidence])
        # site, programs, product, status, classification and date evidence stay as the report states them
        return floor.model_copy(
            update={
                "type": kind,
                "record_ids": floor.record_ids
                or [i for i in answer.record_ids if DOCUMENT_ID.fullmatch(i) and g.value(i)],
                "batch_ids": floor.batch_ids or [b for b in answer.batch_ids if _looks_like_batch(b) and g.value(b)],
                "dates": dates,
                "description": quoted(answer.description_quote),
                "root_cause": quoted(answer.root_cause_quote),
                "root_cause_category": answer.root_cause_category,
                "capas": capas,
                "impact_assessment": quoted(answer.impact_quote),
                "flags": list(flags.values()),
            }
        )
