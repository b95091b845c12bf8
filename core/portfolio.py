"""The sponsor's CDMO sites and programs, from a YAML file: what documents are matched against."""

import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

DEFAULT_PORTFOLIO = Path(__file__).resolve().parents[1] / "fixtures" / "portfolio.yaml"


class SiteRole(StrEnum):
    DRUG_SUBSTANCE = "drug_substance"
    DRUG_PRODUCT = "drug_product"
    TESTING = "testing"


class Site(BaseModel):
    id: str
    name: str
    cdmo: str
    location: str
    roles: list[SiteRole]
    aliases: list[str] = Field(default_factory=list, description="Other names the site goes by in documents")
    record_prefixes: list[str] = Field(default_factory=list, description="Its own record-number prefixes (EQ-HFF)")
    batch_patterns: list[str] = Field(default_factory=list, description="Regular expressions of its batch numbers")
    fei: list[str] = Field(default_factory=list, description="Its FDA Establishment Identifiers")


class Program(BaseModel):
    id: str
    name: str
    modality: str
    products: list[str] = Field(description="Product and INN names")
    aliases: list[str] = Field(default_factory=list)


class Portfolio(BaseModel):
    sponsor: str
    sponsor_aliases: list[str] = Field(default_factory=list, description="Other names the sponsor goes by")
    sites: list[Site]
    programs: list[Program]
    record_prefixes: list[str] = Field(default_factory=list, description="The sponsor's own record-number prefixes")
    batch_patterns: list[str] = Field(default_factory=list, description="Regular expressions of its batch numbers")

    @property
    def all_record_prefixes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.record_prefixes, *(p for s in self.sites for p in s.record_prefixes)]))

    @property
    def all_batch_patterns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.batch_patterns, *(p for s in self.sites for p in s.batch_patterns)]))

    @property
    def sponsor_names(self) -> list[str]:
        """The sponsor's name, its first word ("Corvane" for Corvane Therapeutics) and its aliases."""
        return list(dict.fromkeys([self.sponsor, self.sponsor.split()[0], *self.sponsor_aliases]))

    def site_ids_in(self, text: str) -> list[str]:
        """Sites the text names, the first-named first (a report names its own site before others)."""
        return _by_first_mention(text, {s.id: [s.id, s.name, *s.aliases] for s in self.sites})

    def program_ids_in(self, text: str) -> list[str]:
        return _by_first_mention(text, {p.id: [p.id, p.name, *p.products, *p.aliases] for p in self.programs})

    def site(self, site_id: str) -> Site | None:
        return next((s for s in self.sites if s.id == site_id), None)

    def program(self, program_id: str) -> Program | None:
        return next((p for p in self.programs if p.id == program_id), None)

    def products_in(self, text: str) -> list[str]:
        return _by_first_mention(text, {name: [name] for p in self.programs for name in p.products})


def _by_first_mention(text: str, names_by_id: dict[str, list[str]]) -> list[str]:
    first: dict[str, int] = {}
    for key, names in names_by_id.items():
        positions = [
            m.start()
            for n in names
            if n and (m := re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", text, re.IGNORECASE))
        ]
        if positions:
            first[key] = min(positions)
    return sorted(first, key=first.get)


@lru_cache
def load_portfolio(path: Path | None = None) -> Portfolio:
    with open(path or DEFAULT_PORTFOLIO, encoding="utf-8") as f:
        return Portfolio.model_validate(yaml.safe_load(f))
