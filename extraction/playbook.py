"""Review playbooks: data files in prompts/ (or the user's own) that say what a QTA must settle."""

import re
from functools import cached_property, lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from core.qta import Severity

BUILT_IN = Path(__file__).parents[1] / "prompts" / "qta_playbook.yaml"
CHECKS = ("time_limit", "cadence", "named_role", "retention_period", "review_interval", "deviation_classes", "matrix")


class PlaybookError(ValueError):
    def __init__(self, origin: Path | str, reason: str):
        super().__init__(f"{origin}: {reason}")
        self.origin = origin
        self.reason = reason


def _compile(patterns: list[str]) -> list[re.Pattern]:
    return [re.compile(p, re.IGNORECASE) for p in patterns]


class Requirement(BaseModel):
    check: str | None = None
    pattern: str | None = None
    min_count: int = 1
    any_of: list["Requirement"] = Field(default_factory=list)
    description: str = ""

    @model_validator(mode="after")
    def _one_kind(self) -> "Requirement":
        if sum(bool(x) for x in (self.check, self.pattern, self.any_of)) != 1:
            raise ValueError("a requirement needs exactly one of check, pattern or any_of")
        if self.check and self.check not in CHECKS:
            raise ValueError(f"unknown check {self.check!r} (known: {', '.join(CHECKS)})")
        if self.pattern:
            re.compile(self.pattern)
        return self

    @cached_property
    def regex(self) -> re.Pattern | None:
        return re.compile(self.pattern, re.IGNORECASE) if self.pattern else None


class Element(BaseModel):
    id: str
    title: str
    source: str
    severity: Severity
    headings: list[str] = Field(default_factory=list)
    cues: list[str] = Field(default_factory=list)
    requires: list[Requirement] = Field(default_factory=list)
    event_classes: list[str] = Field(default_factory=list)
    suggested_wording: str = ""
    examples: list[str] = Field(
        default_factory=list, description="What a section on it says, for the meaning signal; default: the reading bank's"
    )

    @field_validator("headings", "cues")
    @classmethod
    def _valid_patterns(cls, patterns: list[str]) -> list[str]:
        _compile(patterns)
        return patterns

    @cached_property
    def heading_patterns(self) -> list[re.Pattern]:
        return _compile(self.headings)

    @cached_property
    def cue_patterns(self) -> list[re.Pattern]:
        return _compile(self.cues)


class Playbook(BaseModel):
    name: str
    version: str
    vague_phrases: list[str] = Field(default_factory=list)
    notification_duty: str = r"\b(notif(?:y|ied|ies)|inform(?:s|ed)?|communicat(?:e|ed|es)|report(?:s|ed)?\s+to)\b"
    elements: list[Element]

    @model_validator(mode="after")
    def _unique_ids(self) -> "Playbook":
        ids = [e.id for e in self.elements]
        if len(ids) != len(set(ids)):
            raise ValueError("element ids must be unique")
        if not ids:
            raise ValueError("a playbook needs at least one element")
        return self

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    @cached_property
    def vague_pattern(self) -> re.Pattern | None:
        if not self.vague_phrases:
            return None
        return re.compile(r"\b(" + "|".join(re.escape(p) for p in self.vague_phrases) + r")\b", re.IGNORECASE)

    @cached_property
    def duty_pattern(self) -> re.Pattern:
        return re.compile(self.notification_duty, re.IGNORECASE)


def load_playbook(path: Path | None = None) -> Playbook:
    """The playbook in a file (default: the built-in one), parsed once until the file changes."""
    path = path or BUILT_IN
    try:
        changed = path.stat().st_mtime_ns
    except OSError as exc:
        raise PlaybookError(path, f"cannot read playbook ({exc.strerror or exc})") from exc
    return _load_file(path, changed)


@lru_cache(maxsize=32)
def _load_file(path: Path, changed: int) -> Playbook:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PlaybookError(path, f"cannot read playbook ({exc.strerror or exc})") from exc
    return parse_playbook(data, path)


def parse_playbook(data: bytes, origin: Path | str) -> Playbook:
    """A playbook from YAML bytes (a file or an upload); `origin` names it in errors."""
    try:
        parsed = yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise PlaybookError(origin, "not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise PlaybookError(origin, f"not valid YAML ({exc})") from exc
    if not isinstance(parsed, dict):
        raise PlaybookError(origin, "a playbook is a YAML mapping with name, version and elements")
    try:
        return Playbook.model_validate(parsed)
    except (ValidationError, re.error) as exc:
        raise PlaybookError(origin, f"invalid playbook: {exc}") from exc
