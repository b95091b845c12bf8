"""Retrieval eval: recall@5 and MRR of dense-only, BM25-only and hybrid search on the gold set.

A hit answers a gold passage when it comes from the named file and contains the quote (case and
white space ignored). recall@k is the share of a question's gold passages found in the top k,
averaged over questions; MRR is the mean of 1/rank of the first answering hit.
"""

import re
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from pydantic import BaseModel

from core.config import EmbeddingBackend, Settings
from core.portfolio import load_portfolio
from core.search import SearchMode
from ingestion.pipeline import prepare
from retrieval.corpus import Corpus

GOLD = Path(__file__).resolve().parent / "retrieval_gold.yaml"


class GoldPassage(BaseModel):
    file: str
    quote: str


class GoldQuestion(BaseModel):
    q: str
    category: str = "lexical"  # lexical: uses the document's words; paraphrase: does not
    answers: list[GoldPassage]


class ModeScore(BaseModel):
    embedding: str
    mode: SearchMode
    recall_at_k: float
    mrr: float
    questions: int
    recall_by_category: dict[str, float]
    misses: list[str]


class RetrievalReport(BaseModel):
    k: int
    scores: list[ModeScore]
    ingest_seconds: dict[str, float]


def load_gold(path: Path = GOLD) -> list[GoldQuestion]:
    return [GoldQuestion(**q) for q in yaml.safe_load(path.read_text())["questions"]]


def normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def answers(hit: tuple[str, str], passage: GoldPassage) -> bool:
    """Whether a hit, (file name, text), answers a gold passage."""
    return hit[0] == passage.file and normalized(passage.quote) in normalized(hit[1])


def check_gold(corpus: Corpus, gold: list[GoldQuestion]) -> None:
    """Every gold quote must exist in its document, so that a stale gold set fails loudly."""
    texts = {
        d.filename: normalized(" ".join(p.text for p in corpus.store.pages(d.id)))
        for d in corpus.store.list_documents()
    }
    for q in gold:
        for a in q.answers:
            if a.file not in texts or normalized(a.quote) not in texts[a.file]:
                raise ValueError(f"gold passage not in the corpus: {a.file}: {a.quote!r}")


def score(corpus: Corpus, gold: list[GoldQuestion], mode: SearchMode, k: int = 5) -> ModeScore:
    ranked = ranked_quality(gold, lambda q: [(h.filename, h.text) for h in corpus.search(q, limit=k, mode=mode)])
    return ModeScore(embedding=corpus.embedder.name, mode=mode, **ranked)


def ranked_quality(gold: list[GoldQuestion], search: Callable[[str], list[tuple[str, str]]]) -> dict:
    """recall@k, MRR, recall per category and the questions missed, of a search that answers a question with
    its (file name, text) hits, best first."""
    recalls, reciprocal_ranks, misses = [], [], []
    by_category: dict[str, list[float]] = {}
    for q in gold:
        hits = search(q.q)
        found = [any(answers(h, a) for h in hits) for a in q.answers]
        recalls.append(sum(found) / len(found))
        by_category.setdefault(q.category, []).append(recalls[-1])
        first = next((rank for rank, h in enumerate(hits, 1) if any(answers(h, a) for a in q.answers)), None)
        reciprocal_ranks.append(1 / first if first else 0.0)
        if not first:
            misses.append(q.q)
    return {
        "recall_at_k": sum(recalls) / len(gold),
        "mrr": sum(reciprocal_ranks) / len(gold),
        "questions": len(gold),
        "recall_by_category": {c: sum(v) / len(v) for c, v in by_category.items()},
        "misses": misses,
    }


def ingest_folder(corpus: Corpus, folder: Path) -> None:
    portfolio = load_portfolio(corpus.settings.portfolio_path)
    for path in sorted(folder.iterdir()):
        if path.is_file():
            corpus.add(prepare(path.name, path.read_bytes(), corpus.settings, portfolio))


def run(corpus_dir: Path, work_dir: Path, backends: list[EmbeddingBackend], k: int = 5) -> RetrievalReport:
    gold = load_gold()
    scores, ingest_seconds = [], {}
    for backend in backends:
        settings = Settings(data_dir=work_dir / backend.value, embedding_backend=backend)
        corpus = Corpus(settings)
        try:
            started = time.perf_counter()
            ingest_folder(corpus, corpus_dir)
            ingest_seconds[backend.value] = round(time.perf_counter() - started, 2)
            check_gold(corpus, gold)
            modes = list(SearchMode) if backend == backends[0] else [SearchMode.DENSE, SearchMode.HYBRID]
            scores += [score(corpus, gold, mode, k) for mode in modes]
        finally:
            corpus.close()
    return RetrievalReport(k=k, scores=scores, ingest_seconds=ingest_seconds)
