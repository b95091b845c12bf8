"""Records of what inspectors and auditors found: each numbered observation of a 483, an inspection report, a
warning letter or an audit report, with the regulation it cites, its categories and the site it concerns."""

import datetime as dt

from pydantic import BaseModel, Field

from core.evidence import Evidence

NOT_IN_PORTFOLIO = "site not in portfolio"


class CategoryHit(BaseModel):
    """One category of the shared taxonomy (prompts/observation_categories.yaml), with the passage it rests on."""

    category: str
    name: str
    evidence: Evidence
    signal: str = Field(description="What found it: cue, meaning (0.71), or regulation (the section it cites)")


class NamedRegulation(BaseModel):
    """A regulation the observation's words match in FDA's standard 483 citations, when it cites none itself."""

    reference: str = Field(description="e.g. 21 CFR 211.192")
    short_description: str
    source: str = Field(description="Where the mapping came from, with the citation id")


class Observation(BaseModel):
    number: str
    evidence: Evidence = Field(description="The observation's statement: its first sentence")
    span: list[Evidence] = Field(description="The whole observation, page by page, redactions such as (b)(4) as written")
    regulations: list[str] = Field(default_factory=list, description="Regulations the observation cites")
    named_regulations: list[NamedRegulation] = Field(default_factory=list)
    categories: list[CategoryHit] = Field(default_factory=list)
    repeat: bool = False
    repeat_evidence: Evidence | None = None

    @property
    def category_ids(self) -> list[str]:
        return list(dict.fromkeys(c.category for c in self.categories))


class RegulatoryFindings(BaseModel):
    """A regulator's or auditor's document read as observations, linked to the portfolio site it concerns."""

    document_id: str
    filename: str
    title: str
    kind: str
    issuer: str | None = Field(None, description="FDA, EMA, MHRA, another authority, or an auditor")
    reference: str | None = Field(None, description="The letter's or report's own number (320-26-49)")
    firm: str | None = None
    fei: list[str] = Field(default_factory=list, description="FDA Establishment Identifiers of the inspected site")
    site: str | None = Field(None, description="Portfolio site id; None when the site is not in the portfolio")
    site_reason: str = Field(description="What the site was attributed by, or why it is not in the portfolio")
    site_evidence: Evidence | None = None
    date: dt.date | None = None
    observations: list[Observation] = Field(default_factory=list)
    reading_notes: list[str] = Field(default_factory=list)
    backend: str = "rules"

    @property
    def category_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for o in self.observations:
            for c in o.category_ids:
                counts[c] = counts.get(c, 0) + 1
        return counts
