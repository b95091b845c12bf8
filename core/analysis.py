"""Stored analyses: a document's latest QTA review or investigation event, and its findings as rows."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class AnalysisKind(StrEnum):
    QTA_REVIEW = "qta_review"
    EVENT = "event"


class Analysis(BaseModel):
    document_id: str
    kind: AnalysisKind
    site: str | None = None
    programs: list[str] = Field(default_factory=list)
    batch_ids: list[str] = Field(default_factory=list)
    risk: str | None = None
    backend: str
    payload: dict = Field(description="The QtaReview or InvestigationEvent, as JSON")
    analysed_at: datetime

class FindingRow(BaseModel):
    """One weakness flag or QTA gap, linked to what it concerns, for aggregation across documents."""

    id: int | None = None
    document_id: str
    source: AnalysisKind
    code: str
    severity: str
    site: str | None = None
    programs: list[str] = Field(default_factory=list)
    product: str | None = None
    batch_ids: list[str] = Field(default_factory=list)
    summary: str
