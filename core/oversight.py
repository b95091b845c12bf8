"""Records of the cross-site view: partner risk per site, readiness per program, the nightly digest."""

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from core.evidence import Evidence


class Dimension(StrEnum):
    TECHNICAL = "technical"
    QUALITY_SYSTEM = "quality_system"
    CAPACITY_SUPPLY = "capacity_supply"
    BUSINESS = "business"


class Signal(BaseModel):
    """One thing that moved a score: an event, a flag, a gap, an overdue CAPA, a sentence in minutes."""

    dimension: Dimension
    source: str = Field(description="event, flag, overdue_capa, qta_gap, observation (a regulator's finding), or text (a sentence that matched a cue)")
    label: str
    points: float = Field(description="After ageing: half for a signal older than the half-life")
    dated: date | None = Field(None, description="When it happened (the event, else the document's date)")
    document_id: str
    filename: str
    record: str | None = Field(None, description="Record number (DEV-..., OOS-...) where there is one")
    evidence: Evidence | None = None


class DimensionScore(BaseModel):
    dimension: Dimension
    score: float = Field(description="0 (no signal) to 100")
    signals: list[Signal]
    has_data: bool
    latest: date | None = Field(None, description="Date of the newest evidence")
    age_days: int | None = Field(None, description="How old the newest evidence is on the day of judgement")


class TrendPoint(BaseModel):
    month: str = Field(description="YYYY-MM: the score with what was dated up to the end of that month")
    score: float
    dimensions: dict[Dimension, float]


class PartnerRisk(BaseModel):
    site: str
    name: str
    as_of: date
    score: float = Field(description="Weighted over the dimensions (weights in prompts/partner_risk.yaml)")
    level: str = Field(description="high, medium or low")
    dimensions: list[DimensionScore]
    completeness: float = Field(description="Share of the four dimensions with any evidence")
    trend: list[TrendPoint]
    method: str = Field(description="Version of the scoring file")


class ReadinessItem(BaseModel):
    kind: str = Field(description="event, flag, qta_gap, overdue_capa, inspection_finding")
    title: str
    severity: str
    weight: float = Field(description="Severity points times nearness to the program's next date")
    site: str | None = None
    document_id: str
    filename: str
    record: str | None = None
    due: date | None = None
    evidence: Evidence | None = None
    findings: list[str] = Field(default_factory=list, description="The keys of the findings it rests on (core/workflow)")


class PropagationChain(BaseModel):
    """A failure upstream shown as risk downstream, step by step."""

    origin: str = Field(description="The event and the batch it concerns")
    steps: list[str] = Field(description="Each link of the reasoning, upstream to downstream")
    milestones_at_risk: list[str]
    document_id: str
    evidence: Evidence | None = None


class ProgramReadiness(BaseModel):
    program: str
    name: str
    as_of: date
    score: float = Field(description="100 x 50 / (50 + weighted open items): 100 with nothing open")
    next_milestone: str | None = None
    next_milestone_date: date | None = None
    days_to_next: int | None = None
    items: list[ReadinessItem] = Field(description="What is open and counts")
    closed_left_out: int = Field(0, description="Items whose findings a person closed: not counted")
    ctd_sections_at_risk: list[str]
    overdue_capas: int
    open_qta_gaps: int
    propagation: list[PropagationChain]


class DigestItem(BaseModel):
    text: str
    site: str | None = None
    program: str | None = None
    document_id: str | None = None
    filename: str | None = None
    page: int | None = None


class Digest(BaseModel):
    id: str = Field(description="The window, e.g. 2024-11-25T00:00:00--2024-11-26T00:00:00")
    since: datetime | None
    until: datetime
    as_of: date
    needs_human: list[DigestItem]
    new_documents: list[DigestItem]
    new_events: dict[str, list[DigestItem]] = Field(description="By site")
    new_gaps: dict[str, list[DigestItem]] = Field(description="By site")
    new_signals: dict[str, list[DigestItem]] = Field(
        description="By site: sentences of the new minutes, audit reports and letters that move partner risk"
    )
    by_program: dict[str, list[DigestItem]]
    risk_changes: list[DigestItem]
    readiness_changes: list[DigestItem]
    overdue: list[DigestItem]
    unreadable_pages: list[DigestItem]
    site_scores: dict[str, float]
    program_scores: dict[str, float]
    narrative: str | None = None
    audit_anchor: str | None = Field(
        None, description="The audit trail's head when the digest was made, '<entry>:<hash>': kept with the digest "
        "elsewhere, it proves later that the trail up to it was not rewritten (`cdmo audit verify --against`)",
    )


class SummaryRun(BaseModel):
    id: str
    since: datetime | None
    until: datetime
    created_at: datetime
    markdown_path: str
    html_path: str
    mailed_to: list[str] = Field(default_factory=list)
    site_scores: dict[str, float]
    program_scores: dict[str, float]


class NightlyOutcome(BaseModel):
    """One run of the nightly digest: the window recorded, and the digest written for it."""

    run: SummaryRun
    digest: Digest
