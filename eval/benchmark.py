"""Speed, measured as a user would meet it, beside a plain LangChain pipeline run on the same machine.

- Ingestion: the sample PDFs repeated to 60 files, ingested end to end as `cdmo ingest` does (parse,
  classify, chunk, embed, store, index, analyse), one process with the model loaded once, as the server's
  job queue runs it; the peer (eval/peer.py) ingests the same files; pages/s of each and their ratio.
- Quality beside it: recall@5 and MRR on the retrieval gold's questions about PDFs, the product's hybrid
  search against the peer's dense search over the same twelve PDFs.
- Embedding: chunks per second and per CPU-second of each backend, tokens counted without padding.
- Search: synthetic corpora of 10k and 100k chunks (chunk texts are recombined sentences of real chunks,
  vectors real chunk embeddings with small noise: embedding 100k chunks here would take an hour, and
  search latency does not depend on where a vector came from); the time to build them; search p50/p95 over
  the retrieval gold's questions, embedded for real on every call; and the first search after an upload.
- The machine: CPU model and the instruction sets that decide inference speed, cores, and the load average
  while the run lasted (a shared machine's figures are comparable only at a like load).
"""

import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from core.config import EmbeddingBackend, Settings, VectorEngine
from core.documents import (
    Chunk,
    Document,
    DocumentKind,
    DocumentMetadata,
    FileType,
    Page,
    PreparedDocument,
)
from core.embeddings import Embedder, OnnxEmbedder, TorchEmbedder, default_model_path, make_embedder, processor
from core.search import SearchMode
from core.portfolio import load_portfolio
from core.store import RecordStore
from eval.peer import PeerPipeline, pdf_copies
from eval.retrieval import load_gold, ranked_quality, score
from extraction.service import ANALYSED_KINDS, Extractor
from ingestion.pipeline import prepare
from retrieval.corpus import Corpus, _payload, embedding_text
from retrieval.vector_stores.keyword_shard import KeywordIndex
from retrieval.vector_stores import open_vector_store

class Machine(BaseModel):
    cpu: str
    cores: int
    features: list[str]
    load_average_start: float
    load_average_mean: float = 0.0
    load_average_max: float = 0.0


class IngestSpeed(BaseModel):
    files: int
    pdf_pages: int
    parse_pages_per_second: float  # parse, classify, chunk (no embedding)
    end_to_end_pages_per_second: float  # everything: embedding, records, indexes, analysis
    peer_pages_per_second: float
    ratio_to_peer: float
    # the first pass over the originals alone: no passage was seen before (no vector to reuse)
    originals: int
    distinct_pages_per_second: float
    peer_distinct_pages_per_second: float


class Quality(BaseModel):
    questions: int  # the gold's questions whose answers are in the PDFs
    recall_at_5: float
    mrr: float
    peer_recall_at_5: float
    peer_mrr: float


class EmbedSpeed(BaseModel):
    engine: str
    chunks: int
    mean_tokens: float  # real tokens, padding not counted
    chunks_per_second: float
    chunks_per_cpu_second: float
    hybrid_recall_at_5: float | None = None
    hybrid_mrr: float | None = None


class SearchLatency(BaseModel):
    engine: VectorEngine
    chunks: int
    load_seconds: float
    p50_ms: float
    p95_ms: float
    queries: int
    first_search_after_upload_ms: float


class BenchmarkReport(BaseModel):
    machine: Machine
    ingestion: IngestSpeed | None  # None with search_only
    quality: Quality | None
    embedding: list[EmbedSpeed]
    search: list[SearchLatency]


def percentile_ms(seconds: list[float], q: float) -> float:
    """The q-th percentile of timings in seconds, in milliseconds."""
    return round(float(np.percentile(seconds, q)) * 1000, 2)


def machine() -> Machine:
    cpu = processor()
    return Machine(cpu=cpu.model, cores=os.cpu_count() or 1, features=cpu.features,
                   load_average_start=os.getloadavg()[0])  # fmt: skip


class LoadSampler:
    """The one-minute load average every few seconds while the benchmark runs."""

    def __init__(self, every_s: float = 5.0):
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every_s,), daemon=True)

    def _run(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> "LoadSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def bench_ingestion(corpus_dir: Path, work: Path, peer_embedder: TorchEmbedder, files: int = 60) -> tuple[IngestSpeed, Corpus]:
    """The product and the peer over the same files; returns the product's corpus for the quality check."""
    settings, portfolio = Settings(data_dir=work / "ingest"), load_portfolio()
    copies = pdf_copies(corpus_dir, files)
    originals = len(list(corpus_dir.glob("*.pdf")))
    prepare(*copies[0], settings, portfolio)  # warm imports
    pages, started = 0, time.perf_counter()
    for name, data in copies:
        pages += prepare(name, data, settings, portfolio).document.page_count
    parse_rate = pages / (time.perf_counter() - started)
    corpus = Corpus(settings)
    corpus.embedder.embed(["warm"])
    rates = []
    for part in (copies[:originals], copies[originals:]):
        started, part_pages = time.perf_counter(), 0
        for name, data in part:
            part_pages += _ingest(corpus, portfolio, name, data)
        rates.append((part_pages, time.perf_counter() - started))
    peer = PeerPipeline(peer_embedder)
    first, rest = peer.ingest(copies[:originals]), peer.ingest(copies[originals:])
    ours = sum(p for p, _ in rates) / sum(t for _, t in rates)
    theirs = (first.pages + rest.pages) / (first.seconds + rest.seconds)
    speed = IngestSpeed(files=len(copies), pdf_pages=pages, parse_pages_per_second=round(parse_rate, 1),
                        end_to_end_pages_per_second=round(ours, 2), peer_pages_per_second=round(theirs, 2),
                        ratio_to_peer=round(ours / theirs, 2), originals=originals,
                        distinct_pages_per_second=round(rates[0][0] / rates[0][1], 2),
                        peer_distinct_pages_per_second=first.pages_per_second)  # fmt: skip
    return speed, corpus


def _ingest(corpus: Corpus, portfolio, name: str, data: bytes) -> int:
    """What `cdmo ingest` does with a file (parse, classify, chunk, embed, store, index, analyse); its pages."""
    result = corpus.add(prepare(name, data, corpus.settings, portfolio))
    if result.kind in ANALYSED_KINDS:
        Extractor(corpus.settings, corpus.store, portfolio).analyse_stored(result.document_id)
    return result.pages or 0


def bench_quality(corpus: Corpus, corpus_dir: Path, peer_embedder: TorchEmbedder) -> Quality:
    """Recall@5 and MRR on the gold's questions about PDFs: the product (the last copy of each file is its
    current version) against the peer over the original PDFs."""
    pdfs = {p.name for p in corpus_dir.glob("*.pdf")}
    gold = [q for q in load_gold() if all(a.file in pdfs for a in q.answers)]
    ours = score(corpus, gold, SearchMode.HYBRID)
    peer = PeerPipeline(peer_embedder)
    peer.ingest(pdf_copies(corpus_dir, len(pdfs)))
    theirs = ranked_quality(gold, lambda q: peer.search(q, 5))
    return Quality(questions=len(gold), recall_at_5=round(ours.recall_at_k, 3), mrr=round(ours.mrr, 3),
                   peer_recall_at_5=round(theirs["recall_at_k"], 3), peer_mrr=round(theirs["mrr"], 3))  # fmt: skip


def sample_chunks(corpus_dir: Path, work: Path) -> list[tuple[Document, Chunk]]:
    settings, portfolio = Settings(data_dir=work / "sample"), load_portfolio()
    out = []
    for path in sorted(corpus_dir.iterdir()):
        p = prepare(path.name, path.read_bytes(), settings, portfolio)
        out += [(p.document, c) for c in p.chunks]
    return out


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


def bench_embedding(embedders: list[Embedder], texts: list[str]) -> list[EmbedSpeed]:
    tokenizer = _tokenizer()
    tokens = [len(e.ids) for e in tokenizer.encode_batch(texts)]
    results = []
    for embedder in embedders:
        embedder.embed(texts[:16])
        wall, cpu = time.perf_counter(), time.process_time()
        embedder.embed(texts)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        results.append(
            EmbedSpeed(engine=embedder.name, chunks=len(texts), mean_tokens=round(statistics.mean(tokens), 1),
                       chunks_per_second=round(len(texts) / wall, 1), chunks_per_cpu_second=round(len(texts) / cpu, 1))  # fmt: skip
        )
    return results


def _tokenizer():
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(default_model_path() / "tokenizer.json"))
    tokenizer.enable_truncation(256)
    tokenizer.no_padding()  # the file pads to the longest text of a batch: padding is not text
    return tokenizer


def bench_backend_quality(corpus_dir: Path, work: Path, results: list[EmbedSpeed]) -> None:
    """Hybrid recall@5 and MRR of each backend on the whole retrieval gold (as `cdmo eval retrieval`)."""
    from eval.retrieval import run as retrieval_run

    backends = {"torch": EmbeddingBackend.TORCH, "onnx": EmbeddingBackend.ONNX, "onnx-int8": EmbeddingBackend.ONNX_INT8}
    report = retrieval_run(corpus_dir, work / "quality", list(backends.values()))
    hybrid = {s.embedding.split(":")[0]: s for s in report.scores if s.mode == SearchMode.HYBRID}
    for result in results:
        if (s := hybrid.get(result.engine.split(":")[0])) is not None:
            result.hybrid_recall_at_5, result.hybrid_mrr = round(s.recall_at_k, 3), round(s.mrr, 3)


def bench_search(
    engine: VectorEngine, n: int, base, base_vectors: np.ndarray, embedder: Embedder, work: Path
) -> SearchLatency:
    """Build a synthetic corpus of n chunks the way documents are stored (records, vectors, keyword points),
    then time searches, and the first search after each of three uploads."""
    settings = Settings(data_dir=work / f"search-{engine.value}-{n}", vector_engine=engine)
    started = time.perf_counter()
    store = RecordStore(settings.sqlalchemy_url)
    vectors = open_vector_store(settings, embedder.dimension)
    keywords = KeywordIndex(settings.keywords_path)
    for prepared, vecs in synthetic_corpus(base, base_vectors, n):
        payloads = [_payload(prepared.document)] * len(prepared.chunks)
        vectors.upsert([c.id for c in prepared.chunks], vecs, payloads)
        keywords.add([(c, prepared.document) for c in prepared.chunks], payloads)
        store.add(prepared)
    if hasattr(vectors, "optimize"):
        vectors.optimize()
    store.engine.dispose()
    keywords.close()
    corpus = Corpus(settings, embedder=embedder, vectors=vectors)
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
    after_upload = []
    for i, (prepared, _) in enumerate(synthetic_corpus(base, base_vectors, 300, seed=n + 1)):
        corpus.add(prepared)
        t = time.perf_counter()
        corpus.search(questions[i], limit=10)
        after_upload.append(time.perf_counter() - t)
    corpus.close()
    return SearchLatency(engine=engine, chunks=n, load_seconds=round(load_seconds, 1), p50_ms=percentile_ms(times, 50),
                         p95_ms=percentile_ms(times, 95), queries=len(times),
                         first_search_after_upload_ms=percentile_ms(after_upload, 50))  # fmt: skip


def run(corpus_dir: Path, sizes: list[int], engines: list[VectorEngine], threads: int = 2, files: int = 60,
        search_only: bool = False) -> BenchmarkReport:
    host = machine()
    with tempfile.TemporaryDirectory(prefix="cdmo-bench-") as tmp, LoadSampler() as load:
        work = Path(tmp)
        model, cache = default_model_path(), work / "models"
        default = make_embedder(Settings(data_dir=work, threads=threads))
        ingestion, quality, embedding = None, None, []
        if not search_only:
            torch_embedder = TorchEmbedder(model, 32, threads)
            ingestion, corpus = bench_ingestion(corpus_dir, work, torch_embedder, files)
            try:
                quality = bench_quality(corpus, corpus_dir, torch_embedder)
            finally:
                corpus.close()
        base = sample_chunks(corpus_dir, work)
        if not search_only:
            texts = [embedding_text(d, c.section, c.text) for d, c in base]
            texts = (texts * (512 // len(texts) + 1))[:512]
            embedding = bench_embedding([torch_embedder, default, OnnxEmbedder(model, cache, True, 8, threads)], texts)
            bench_backend_quality(corpus_dir, work, embedding)
        base_vectors = default.embed([embedding_text(d, c.section, c.text) for d, c in base])
        search = [bench_search(e, n, base, base_vectors, default, work) for n in sizes for e in engines]
    if load.samples:
        host.load_average_mean = round(statistics.mean(load.samples), 2)
        host.load_average_max = round(max(load.samples), 2)
    return BenchmarkReport(machine=host, ingestion=ingestion, quality=quality, embedding=embedding, search=search)
