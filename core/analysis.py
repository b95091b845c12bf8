"""Stored analyses: a document's latest QTA review or investigation event, and its findings as rows."""

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from core.evidence import Evidence


class AnalysisKind(StrEnum):
    QTA_REVIEW = "qta_review"
    EVENT = "event"
    OBSERVATIONS = "observations"  # a regulator's or auditor's findings (core.observations.RegulatoryFindings)


class Analysis(BaseModel):
    document_id: str
    kind: AnalysisKind
    site: str | None = None
    programs: list[str] = Field(default_factory=list)
    batch_ids: list[str] = Field(default_factory=list)
    risk: str | None = None
    backend: str
    payload: dict = Field(description="The QtaReview, InvestigationEvent or RegulatoryFindings, as JSON")
    analysed_at: datetime


class FindingSource(StrEnum):
    EVENT = "event"
    QTA_REVIEW = "qta_review"
    OBSERVATION = "observation"
    NEW_VERSION = "new_version"  # a new version lowered what its record said: for a person to confirm
    # fallen due since the document was read: derived on each reading of the register, never stored
    OVERDUE_CAPA = "overdue_capa"
    OVERDUE_ACTION = "overdue_action"


class VersionReviewStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"  # the new version's lower reading stands
    REJECTED = "rejected"  # the new version is withdrawn; the one before is current again


class VersionReview(BaseModel):
    """A new version that lowers its record's risk, flags or gaps, held until a person decides."""

    document_id: str = Field(description="The new version")
    previous_id: str
    changes: list[str] = Field(description="What it lowers, in words")
    raised_at: datetime
    raised_by: str | None = Field(None, description="Who sent the new version (kind:name): never its decider")
    status: VersionReviewStatus = VersionReviewStatus.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None


def gap_code(status: str, element_id: str) -> str:
    """A QTA gap's finding code: "qta_missing:change_control"."""
    return f"qta_{status}:{element_id}"


def observation_code(category: str) -> str:
    """An inspection observation's finding code, one per category it falls under: "observation:data_integrity"."""
    return f"observation:{category}"


class FindingRow(BaseModel):
    """One weakness flag, QTA gap, observation or overdue commitment, linked to what it concerns, for aggregation
    across documents. `due` is carried by the rows derived when the register is read (overdue commitments)."""

    id: int | None = None
    key: str | None = Field(None, description="What people work on it under: the same item, the same key, in "
                            "every view (core.workflow)")  # fmt: skip
    document_id: str
    source: FindingSource
    code: str
    severity: str
    site: str | None = None
    programs: list[str] = Field(default_factory=list)
    product: str | None = None
    batch_ids: list[str] = Field(default_factory=list)
    summary: str
    due: date | None = Field(None, description="When what it asks for was due (a CAPA, an action item)")
    evidence: Evidence | None = Field(None, description="The passage it quotes (its first, where it quotes several)")
