"""How far each embedding engine's vectors lie from the fp32 reference, on the retrieval gold's corpus.

The reference is the model as its authors run it: sentence-transformers on torch, in fp32. For each engine:
the mean and lowest cosine between its vector and the reference's for every passage, and rank agreement at
5 and 10 (the share of the reference's top k passages for each gold question that the engine also ranks in
its top k). An engine whose vectors differ from the reference by more than the order of fp32 sums also
differs between processors (core/embeddings.py); the report names the processor it ran on.
"""

import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from core.config import EmbeddingBackend, Settings
from core.embeddings import Embedder, Processor, TorchEmbedder, default_model_path, make_embedder, processor
from core.portfolio import load_portfolio
from eval.retrieval import load_gold
from ingestion.pipeline import prepare
from retrieval.corpus import embedding_text


class EngineAgreement(BaseModel):
    engine: str
    mean_cosine: float
    lowest_cosine: float
    agreement_at_5: float
    agreement_at_10: float
    passages_per_second: float


class EmbeddingReport(BaseModel):
    processor: Processor
    reference: str
    passages: int
    questions: int
    engines: list[EngineAgreement]


def rank_agreement(reference: tuple[np.ndarray, np.ndarray], other: tuple[np.ndarray, np.ndarray], k: int) -> float:
    """Mean share of the reference's top k passages per question that `other` also ranks in its top k; each
    pair is (passage vectors, question vectors)."""

    def top(passages: np.ndarray, questions: np.ndarray) -> np.ndarray:
        return np.argsort(-(questions @ passages.T), axis=1, kind="stable")[:, :k]

    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(top(*reference), top(*other))]))


def agreement(engine: Embedder, reference: tuple[np.ndarray, np.ndarray], passages: list[str], questions: list[str]) -> EngineAgreement:
    engine.embed(passages[:8])  # warm
    started = time.perf_counter()
    vectors = engine.embed(passages)
    seconds = time.perf_counter() - started
    asked = engine.embed(questions)
    cosines = (vectors * reference[0]).sum(axis=1)
    return EngineAgreement(
        engine=engine.name,
        mean_cosine=round(float(cosines.mean()), 6),
        lowest_cosine=round(float(cosines.min()), 6),
        agreement_at_5=round(rank_agreement(reference, (vectors, asked), 5), 3),
        agreement_at_10=round(rank_agreement(reference, (vectors, asked), 10), 3),
        passages_per_second=round(len(passages) / seconds, 1),
    )


def corpus_passages(corpus_dir: Path, settings: Settings) -> list[str]:
    """The text each passage of the folder's documents is embedded as, in order."""
    portfolio = load_portfolio(settings.portfolio_path)
    texts = []
    for path in sorted(p for p in corpus_dir.iterdir() if p.is_file()):
        prepared = prepare(path.name, path.read_bytes(), settings, portfolio)
        texts += [embedding_text(prepared.document, c.section, c.text) for c in prepared.chunks]
    return texts


def run(corpus_dir: Path, work_dir: Path, backends: list[EmbeddingBackend]) -> EmbeddingReport:
    settings = Settings(data_dir=work_dir)
    passages, questions = corpus_passages(corpus_dir, settings), [q.q for q in load_gold()]
    torch = TorchEmbedder(default_model_path(), batch_size=8, threads=settings.threads)
    reference = (torch.embed(passages), torch.embed(questions))
    engines = [agreement(make_embedder(settings.model_copy(update={"embedding_backend": b})), reference, passages,
                         questions) for b in backends]  # fmt: skip
    return EmbeddingReport(processor=processor(), reference=f"{torch.name} ({torch.runtime}, fp32)",
                           passages=len(passages), questions=len(questions), engines=engines)  # fmt: skip
