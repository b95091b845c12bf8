"""Load a prompt file: a version, a system template and a user template."""

from dataclasses import dataclass
from pathlib import Path

import yaml

FOLDER = Path(__file__).parent


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    system: str
    user: str


def load_prompt(name: str) -> Prompt:
    data = yaml.safe_load((FOLDER / f"{name}.yaml").read_text(encoding="utf-8"))
    return Prompt(name=name, version=data["version"], system=data["system"], user=data["user"])


def load_data(name: str) -> dict:
    """A scoring or playbook file of this folder, as data."""
    return yaml.safe_load((FOLDER / f"{name}.yaml").read_text(encoding="utf-8"))
