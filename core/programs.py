"""Each program's supply chain and key dates, from a YAML file: what findings are linked to for readiness."""

from datetime import date
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

DEFAULT_PROGRAMS = Path(__file__).resolve().parents[1] / "fixtures" / "programs.yaml"


class MilestoneKind(StrEnum):
    CAMPAIGN = "campaign"
    CLINICAL_SUPPLY = "clinical_supply"
    SUBMISSION = "submission"


class Stage(StrEnum):
    """Where in the chain a milestone sits: what a failure upstream of it delays."""

    DRUG_SUBSTANCE = "drug_substance"
    TESTING = "testing"
    DRUG_PRODUCT = "drug_product"
    DOSSIER = "dossier"


class Milestone(BaseModel):
    name: str
    kind: MilestoneKind
    stage: Stage
    date: date


class ProgramChain(BaseModel):
    id: str
    drug_substance: str = Field(description="Site id that makes the drug substance")
    drug_product: str | None = Field(None, description="Site id that fills the drug product")
    testing: str | None = Field(None, description="Site id of the testing laboratory")
    lots: dict[str, list[str]] = Field(default_factory=dict, description="Drug-product lot: its drug-substance batches")
    milestones: list[Milestone] = Field(default_factory=list)

    @property
    def sites(self) -> list[str]:
        return [s for s in (self.drug_substance, self.drug_product, self.testing) if s]

    def stage_of(self, site: str | None) -> Stage | None:
        for stage, site_id in (
            (Stage.DRUG_SUBSTANCE, self.drug_substance),
            (Stage.DRUG_PRODUCT, self.drug_product),
            (Stage.TESTING, self.testing),
        ):
            if site_id == site:
                return stage
        return None

    def next_milestone(self, today: date) -> Milestone | None:
        upcoming = sorted((m for m in self.milestones if m.date >= today), key=lambda m: m.date)
        return upcoming[0] if upcoming else None

    def lots_from(self, batch: str) -> list[str]:
        return [lot for lot, batches in self.lots.items() if batch in batches]


class Programs(BaseModel):
    programs: list[ProgramChain]

    def get(self, program_id: str) -> ProgramChain | None:
        return next((p for p in self.programs if p.id == program_id), None)


@lru_cache
def load_programs(path: Path | None = None) -> Programs:
    with open(path or DEFAULT_PROGRAMS, encoding="utf-8") as f:
        return Programs.model_validate(yaml.safe_load(f))
