"""The two extraction backends behind one small interface, chosen by settings."""

from typing import Protocol

from core.config import Settings
from core.evidence import GroundingReport
from core.investigations import EventReading
from core.qta import ElementFinding
from extraction.playbook import Playbook
from extraction.qta_rules import review_clauses
from extraction.source import SourceText
from extraction.triage_rules import read_event


class Backend(Protocol):
    name: str

    def label(self, job: str) -> str:
        """What produced a result: the backend, and for a model the prompt version of the job (qta, triage)."""
        ...

    def review(self, source: SourceText, playbook: Playbook) -> tuple[list[ElementFinding], GroundingReport]: ...

    def read(self, source: SourceText) -> tuple[EventReading, GroundingReport]: ...


class RulesBackend:
    """Deterministic domain extractors: the default, with no model and no network."""

    name = "rules"

    def label(self, job: str) -> str:
        return self.name

    def review(self, source: SourceText, playbook: Playbook) -> tuple[list[ElementFinding], GroundingReport]:
        return review_clauses(source, playbook), GroundingReport()

    def read(self, source: SourceText) -> tuple[EventReading, GroundingReport]:
        return read_event(source), GroundingReport()


def make_backend(settings: Settings) -> Backend:
    if settings.llm_enabled:
        # LangChain loads only when a model is configured
        from extraction.llm import LlmBackend

        return LlmBackend(settings)
    return RulesBackend()
