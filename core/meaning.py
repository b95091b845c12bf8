"""The meaning signal: sentence embeddings compared with labelled example sentences (prompts/reading_bank.yaml).

Cue lists say what the documents they were written on said; this finds the same idea in other words. Every
reader that uses it combines it with its structural and cue signals and says in its evidence which one found
what. The examples are embedded once per process; texts are embedded with the corpus's own model.
"""

import re
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, Field

from core.config import Settings

DEFAULT_BANK = Path(__file__).resolve().parents[1] / "prompts" / "reading_bank.yaml"


class KindEntry(BaseModel):
    titles: list[str] = Field(default_factory=list)
    structure: list[tuple[str, float]] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)


class ReadingBank(BaseModel):
    version: str
    kinds: dict[str, KindEntry]
    other: dict[str, KindEntry] = Field(default_factory=dict, description="Kinds stored and searched, not analysed")
    flags: dict[str, list[str]] = Field(default_factory=dict)
    elements: dict[str, list[str]] = Field(default_factory=dict)

    def compiled_titles(self, name: str) -> list[re.Pattern]:
        return _compiled(tuple((self.kinds.get(name) or self.other[name]).titles))


@lru_cache(maxsize=32)
def _compiled(patterns: tuple[str, ...]) -> list[re.Pattern]:
    return [re.compile(p, re.IGNORECASE) for p in patterns]


@lru_cache(maxsize=8)
def load_bank(path: Path | None = None) -> ReadingBank:
    with open(path or DEFAULT_BANK, encoding="utf-8") as f:
        return ReadingBank.model_validate(yaml.safe_load(f))


class Meaning:
    """Similarity of texts to the bank's example sentences, label by label."""

    def __init__(self, settings: Settings, bank: ReadingBank):
        from core.embeddings import shared_embedder

        self.embedder = shared_embedder(settings)
        self.bank = bank
        self._examples: dict[tuple[str, str], np.ndarray] = {}
        self._lock = threading.Lock()

    def _example_vectors(self, group: str, label: str, sentences: list[str]) -> np.ndarray:
        key = (group, label)
        with self._lock:
            if key not in self._examples:
                self._examples[key] = self.embedder.embed(sentences) if sentences else np.zeros((0, 1), np.float32)
            return self._examples[key]

    def similarity(self, texts: list[str], group: str, labels: dict[str, list[str]]) -> dict[str, np.ndarray]:
        """Per label, each text's highest cosine similarity to that label's examples (0 where it has none)."""
        if not texts:
            return {label: np.zeros(0) for label in labels}
        vectors = self.embedder.embed(texts)
        out = {}
        for label, sentences in labels.items():
            examples = self._example_vectors(group, label, sentences)
            out[label] = (vectors @ examples.T).max(axis=1) if len(sentences) else np.zeros(len(texts))
        return out


_meanings: dict[tuple, Meaning] = {}
_meanings_lock = threading.Lock()


def meaning(settings: Settings) -> Meaning:
    key = (settings.embedding_backend, str(settings.reading_bank_path))
    with _meanings_lock:
        if key not in _meanings:
            _meanings[key] = Meaning(settings, load_bank(settings.reading_bank_path))
        return _meanings[key]
