"""Speed: ingestion pages/s, embedding chunks/s per engine, search latency at 10k and 100k chunks.

Large corpora are synthesized from the sample corpus: chunk texts are recombined sentences of real
chunks, and vectors are real chunk embeddings with small noise added (embedding 100k chunks here
would take over an hour, and search latency does not depend on where a vector came from). Queries
are the retrieval gold questions, embedded for real on every call.
"""

import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from core.config import Settings, VectorEngine
from core.documents import (
    Chunk,
    Document,
    DocumentKind,
    DocumentMetadata,
    FileType,
    Page,
    PreparedDocument,
)
from core.embeddings import (
    Embedder,
    OnnxEmbedder,
    TorchEmbedder,
    default_model_path,
)
from core.portfolio import load_portfolio
from core.store import RecordStore
from eval.retrieval import load_gold
from ingestion.pipeline import prepare
from retrieval.corpus import Corpus, embedding_text
from retrieval.vector_stores import ChunkPayload, date_key, open_vector_store


class IngestSpeed(BaseModel):
    pdf_pages: int
    parse_pages_per_second: float  # parse, classify, chunk (no embedding)
    end_to_end_pages_per_second: float  # everything, embedding and indexing included
    files: int


class EmbedSpeed(BaseModel):
    engine: str
    chunks: int
    mean_tokens: float
    chunks_per_second: float


class SearchLatency(BaseModel):
    engine: VectorEngine
    chunks: int
    load_seconds: float
    p50_ms: float
    p95_ms: float
    queries: int


class BenchmarkReport(BaseModel):
    ingestion: IngestSpeed
    embedding: list[EmbedSpeed]
    search: list[SearchLatency]


def percentile_ms(seconds: list[float], q: float) -> float:
    """The q-th percentile of timings in seconds, in milliseconds."""
    return round(float(np.percentile(seconds, q)) * 1000, 2)


def bench_ingestion(corpus_dir: Path, work: Path, rounds: int = 5) -> IngestSpeed:
    settings = Settings(data_dir=work / "ingest")
    portfolio = load_portfolio()
    pdfs = sorted(corpus_dir.glob("*.pdf"))
    datas = [(p.name, p.read_bytes()) for p in pdfs]
    prepare(*datas[0], settings, portfolio)  # warm imports
    pages, started = 0, time.perf_counter()
    for _ in range(rounds):
        for name, data in datas:
            pages += prepare(name, data, settings, portfolio).document.page_count
    parse_rate = pages / (time.perf_counter() - started)
    corpus = Corpus(settings)
    try:
        started, e2e_pages = time.perf_counter(), 0
        for name, data in datas:
            e2e_pages += corpus.add(prepare(name, data, settings, portfolio)).pages
        e2e_rate = e2e_pages / (time.perf_counter() - started)
    finally:
        corpus.close()
    return IngestSpeed(
        pdf_pages=pages, parse_pages_per_second=round(parse_rate, 1),
        end_to_end_pages_per_second=round(e2e_rate, 1), files=len(datas) * rounds,
    )


def sample_chunks(corpus_dir: Path, work: Path) -> list[tuple[Document, Chunk]]:
    settings, portfolio = Settings(data_dir=work / "sample"), load_portfolio()
    out = []
    for path in sorted(corpus_dir.iterdir()):
        p = prepare(path.name, path.read_bytes(), settings, portfolio)
        out += [(p.document, c) for c in p.chunks]
    return out


def bench_embedding(embedders: list[Embedder], texts: list[str]) -> list[EmbedSpeed]:
    results = []
    for embedder in embedders:
        embedder.embed(texts[:16])
        started = time.perf_counter()
        embedder.embed(texts)
        elapsed = time.perf_counter() - started
        tokens = [len(e.ids) for e in _tokenizer().encode_batch(texts)]
        results.append(
            EmbedSpeed(
                engine=embedder.name, chunks=len(texts), mean_tokens=round(statistics.mean(tokens), 1),
                chunks_per_second=round(len(texts) / elapsed, 1),
            )
        )
    return results


def _tokenizer():
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(default_model_path() / "tokenizer.json"))
    tokenizer.enable_truncation(256)
    return tokenizer


def synthetic_corpus(base: list[tuple[Document, Chunk]], vectors: np.ndarray, n: int, seed: int = 7):
    """n chunks in documents of 100: sentences of real chunks recombined, real vectors plus noise."""
    rnd = random.Random(seed)
    rng = np.random.default_rng(seed)
    sentences = [s for _, c in base for s in c.text.replace("\n", " ").split(". ") if len(s) > 20]
    kinds, sites = list(DocumentKind), ["NGB-CORK", "SFF-MONZA", "QAL-RTP"]
    for d in range(0, n, 100):
        doc_id = uuid.uuid4().hex[:24]
        texts = [". ".join(rnd.sample(sentences, 4)) for _ in range(100)]
        page = "\n".join(texts)
        offsets, chunks = 0, []
        for i, text in enumerate(texts):
            chunks.append(Chunk(id=str(uuid.uuid4()), document_id=doc_id, ordinal=i, page=1, start=offsets,
                                end=offsets + len(text), section="", text=text))
            offsets += len(text) + 1
        picks = rng.integers(0, len(vectors), 100)
        vecs = vectors[picks] + rng.normal(0, 0.03, (100, vectors.shape[1])).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        site = sites[(d // 100) % 3]
        document = Document(
            id=doc_id, content_hash=uuid.uuid4().hex + uuid.uuid4().hex, filename=f"synthetic-{d}.pdf",
            title=f"Synthetic document {d}", kind=kinds[(d // 100) % len(kinds)], file_type=FileType.PDF,
            size_bytes=len(page), metadata=DocumentMetadata(sites=[site], programs=["HB-101"],
                                                            document_date=date(2024, 1 + (d // 100) % 12, 1)),
            document_key=f"synthetic:{doc_id}", ingested_at=datetime.now(UTC), page_count=1,
            chunk_count=100,
        )
        yield PreparedDocument(document=document, pages=[Page(number=1, text=page)], chunks=chunks), vecs


def bench_search(
    engine: VectorEngine, n: int, base, base_vectors: np.ndarray, embedder: Embedder, work: Path
) -> SearchLatency:
    settings = Settings(data_dir=work / f"search-{engine.value}-{n}", vector_engine=engine)
    started = time.perf_counter()
    store = RecordStore(settings.sqlalchemy_url)
    vectors = open_vector_store(settings, embedder.dimension)
    for prepared, vecs in synthetic_corpus(base, base_vectors, n):
        doc = prepared.document
        payload = ChunkPayload(document_id=doc.id, sites=doc.metadata.sites, programs=doc.metadata.programs,
                               kind=doc.kind.value, date=date_key(doc.metadata.document_date), status="current")
        store.add(prepared)
        vectors.upsert([c.id for c in prepared.chunks], vecs, [payload] * len(prepared.chunks))
    if hasattr(vectors, "optimize"):
        vectors.optimize()
    store.engine.dispose()
    corpus = Corpus(settings, embedder=embedder, vectors=vectors)
    corpus.keyword_index()  # built once per corpus change; not part of a query
    load_seconds = time.perf_counter() - started
    questions = [q.q for q in load_gold()]
    for q in questions[:5]:
        corpus.search(q)
    times: list[float] = []
    budget = time.perf_counter() + 90  # a slow engine gets fewer queries, never fewer than 20
    for q in questions * 2:
        if len(times) >= 20 and time.perf_counter() > budget:
            break
        t = time.perf_counter()
        corpus.search(q, limit=10)
        times.append(time.perf_counter() - t)
    corpus.close()
    return SearchLatency(engine=engine, chunks=n, load_seconds=round(load_seconds, 1), p50_ms=percentile_ms(times, 50),
                         p95_ms=percentile_ms(times, 95), queries=len(times))


def run(corpus_dir: Path, sizes: list[int], engines: list[VectorEngine], threads: int = 2) -> BenchmarkReport:
    with tempfile.TemporaryDirectory(prefix="cdmo-bench-") as tmp:
        work = Path(tmp)
        ingestion = bench_ingestion(corpus_dir, work)
        base = sample_chunks(corpus_dir, work)
        texts = [embedding_text(d, c.section, c.text) for d, c in base]
        texts = (texts * (512 // len(texts) + 1))[:512]
        model, cache = default_model_path(), work / "models"
        onnx = OnnxEmbedder(model, cache, int8=False, batch_size=8, threads=threads)
        embedders = [TorchEmbedder(model, 32, threads), onnx, OnnxEmbedder(model, cache, True, 8, threads)]
        embedding = bench_embedding(embedders, texts)
        base_vectors = onnx.embed([embedding_text(d, c.section, c.text) for d, c in base])
        search = [bench_search(e, n, base, base_vectors, onnx, work) for n in sizes for e in engines]
    return BenchmarkReport(ingestion=ingestion, embedding=embedding, search=search)

