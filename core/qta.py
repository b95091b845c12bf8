"""Records of a quality-agreement gap review: one finding per playbook element."""

from enum import StrEnum

from pydantic import BaseModel, Field

from core.evidence import Evidence, GroundingReport


class ElementStatus(StrEnum):
    PRESENT = "present"
    VAGUE = "vague"
    MISSING = "missing"
    CONFLICTING = "conflicting"


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    NONE = "none"  # nothing to act on


class ElementFinding(BaseModel):
    element_id: str
    title: str
    status: ElementStatus
    reason: str = Field(description="One line: why this status")
    severity: Severity
    source: str = Field(description="The regulation or guidance the element rests on")
    evidence: list[Evidence] = Field(default_factory=list, description="The clause(s) the status rests on")
    section: str = Field("", description="Heading of the first clause quoted")
    suggested_wording: str | None = Field(None, description="Offered for vague, missing and conflicting elements")


class QtaReview(BaseModel):
    document_id: str
    filename: str
    title: str
    site: str | None = None
    playbook: str = Field(description="Playbook name and version")
    backend: str = Field(description="rules, or llm:<model> with the prompt version")
    findings: list[ElementFinding]
    hostile_text: list[Evidence] = Field(
        default_factory=list, description="Passages addressed to an AI reviewer; read as data, never obeyed"
    )
    grounding: GroundingReport = Field(default_factory=GroundingReport)
    scope: str | None = Field(
        None, description="What was read when it was not a whole quality agreement: a commercial agreement's quality "
        "section, or a commercial agreement with none",
    )
    governed_elsewhere: bool = Field(
        False, description="The section says a separate quality agreement governs: its gaps are shown, not raised"
    )

    def by_status(self, status: ElementStatus) -> list[ElementFinding]:
        return [f for f in self.findings if f.status == status]
