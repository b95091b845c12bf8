"""A bounded load run on loopback: the real app under uvicorn, authenticated clients uploading documents and
asking questions at once; sustained requests per second, latency percentiles and errors, per kind."""

import random
import tempfile
import threading
import time
from pathlib import Path

import httpx
from pydantic import BaseModel

from api.auth import issue_key
from api.ingest import ingest_path
from api.loopback import serving
from core.auth import Role
from core.config import Settings
from core.portfolio import load_portfolio
from eval.benchmark import percentile_ms
from retrieval.corpus import Corpus, check_consistency

QUESTIONS = [
    "Which open deviations at the DS site touch batch 24-021?",
    "What was the viable cell density on day 12 of batch 24-017?",
    "Which CAPAs are past due at Northgate?",
    "What are the QTA gaps at Quantix?",
    "What was the root cause of the bioreactor temperature excursion?",
    "How many OOS results were there?",
    "When must Stellaris notify the sponsor of a critical deviation?",
    "What was the bubble point in lot F4471?",
]


class KindResult(BaseModel):
    kind: str
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float


class LoadReport(BaseModel):
    workers: int
    programs: list[str] | None = None
    seconds: float
    requests: int
    errors: int
    requests_per_second: float
    kinds: list[KindResult]
    consistent_after: bool


def run(
    corpus_dir: Path,
    workers: int = 8,
    seconds: float = 60.0,
    upload_share: float = 0.25,
    programs: list[str] | None = None,
) -> LoadReport:
    """`programs`: the clients' key is scoped to these (every answer then read through a masked view)."""
    with tempfile.TemporaryDirectory(prefix="cdmo-load-") as work:
        settings = Settings(data_dir=Path(work), auth_enabled=True)
        corpus = Corpus(settings)
        for path in sorted(corpus_dir.iterdir()):
            ingest_path(corpus, load_portfolio(), path)
        key = issue_key(corpus.store, "load", Role.REVIEWER, programs=programs).key
        samples: list[tuple[str, float, bool]] = []
        lock = threading.Lock()

        def worker(n: int) -> None:
            rnd = random.Random(n)
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
                i = 0
                while time.perf_counter() < stop:
                    i += 1
                    upload = rnd.random() < upload_share
                    started = time.perf_counter()
                    try:
                        if upload:
                            body = (
                                f"Weekly call note {n}-{i}: Northgate reported batch 24-{100 + i:03d} on plan for "
                                f"HB-101; no deviation raised this week (worker {n}).\n"
                            ).encode()
                            r = http.post("/documents", files=[("files", (f"note_{n}_{i}.txt", body))])
                            ok = r.status_code == 201
                        else:
                            with http.stream("POST", "/chat", json={"question": rnd.choice(QUESTIONS)}) as r:
                                text = r.read().decode()
                            ok = r.status_code == 200 and "event: done" in text and "event: error" not in text
                    except httpx.HTTPError:
                        ok = False
                    with lock:
                        samples.append(("upload" if upload else "chat", time.perf_counter() - started, ok))

        with serving(settings, corpus) as url:
            began = time.perf_counter()
            stop = began + seconds
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - began
        consistent = check_consistency(corpus).consistent
        corpus.close()
    kinds = []
    for kind in ("chat", "upload"):
        times = [t for k, t, _ in samples if k == kind]
        if times:
            kinds.append(
                KindResult(
                    kind=kind,
                    requests=len(times),
                    errors=sum(1 for k, _, ok in samples if k == kind and not ok),
                    p50_ms=percentile_ms(times, 50),
                    p95_ms=percentile_ms(times, 95),
                )
            )
    errors = sum(1 for *_, ok in samples if not ok)
    return LoadReport(
        workers=workers,
        programs=programs,
        seconds=round(elapsed, 1),
        requests=len(samples),
        errors=errors,
        requests_per_second=round(len(samples) / elapsed, 2),
        kinds=kinds,
        consistent_after=consistent,
    )
