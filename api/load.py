"""A bounded load run on loopback: the real app under uvicorn, authenticated clients uploading documents and
asking questions at once; sustained requests per second, latency percentiles and errors, per kind.

With `hostile`, some uploads are the files a careless or hostile client sends (eval/hostile_files.py):
each must come back refused by its limit, by name, and nothing else may fail or be lost. Uploads return at
once with a job (the `upload` latency); each client then follows its job to the end (the `ingest` time)
before its next request. The process's memory is sampled four times a second.
"""

import random
import tempfile
import threading
import time
from pathlib import Path

import httpx
from pydantic import BaseModel

from api.accounts import issue_key
from api.ingest import ingest_path
from api.loopback import serving
from core.auth import Role
from core.config import Settings
from core.portfolio import load_portfolio
from eval import hostile_files
from eval.benchmark import percentile_ms
from retrieval.corpus import Corpus
from retrieval.integrity import check_consistency

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


def _hostile() -> list[tuple[str, bytes, str, int]]:
    """(file name, bytes, the words its refusal must carry, how often it is picked relative to the others)."""
    return [
        ("pages_5000.pdf", hostile_files.many_page_pdf(5000, inches=2000), "over the 2,000-page limit", 4),
        ("media_box.pdf", hostile_files.many_page_pdf(20, inches=2000), "-pixel limit per page", 4),
        ("blank_300.pdf", hostile_files.many_page_pdf(300), "over the 200-page limit per file", 4),
        ("blank_12.pdf", hostile_files.many_page_pdf(12), "the page is blank", 2),
        ("bomb.docx", hostile_files.docx_bomb(), "ZIP bomb", 4),
        ("bomb.png", hostile_files.png_bomb(), "-pixel limit per page", 4),
        ("not_a.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 40, "PDF", 4),
        ("text_2mb.txt", hostile_files.long_text(2.0), "", 1),  # no limit broken: it must be stored, off the request
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
    hostile: bool = False
    seconds: float
    requests: int
    errors: int
    requests_per_second: float
    kinds: list[KindResult]
    refused_as_expected: int = 0
    stored: int = 0
    lost: int = 0
    rss_start_mb: float = 0
    rss_peak_mb: float = 0
    rss_end_mb: float = 0
    consistent_after: bool
    unexpected: list[str] = []


def run(
    corpus_dir: Path,
    workers: int = 8,
    seconds: float = 60.0,
    upload_share: float = 0.25,
    programs: list[str] | None = None,
    hostile: bool = False,
    hostile_share: float = 0.2,
) -> LoadReport:
    """`programs`: the clients' key is scoped to these (every answer then read through a masked view);
    `hostile`: that share of the uploads are hostile files."""
    bad = _hostile() if hostile else []
    program = programs[0] if programs else "HB-101"  # a scoped key may only write its own program's notes
    with tempfile.TemporaryDirectory(prefix="cdmo-load-") as work:
        settings = Settings(data_dir=Path(work), auth_enabled=True)
        corpus = Corpus(settings)
        for path in sorted(corpus_dir.iterdir()):
            ingest_path(corpus, load_portfolio(), path)
        key = issue_key(corpus.store, "load", Role.REVIEWER, programs=programs).key
        samples: list[tuple[str, float, bool]] = []
        stored_ids: list[str] = []
        unexpected: list[str] = []
        refused = [0]
        lock = threading.Lock()

        def follow(http: httpx.Client, job: dict) -> dict:
            while job["status"] not in ("done", "failed"):
                time.sleep(0.2)
                job = http.get(f"/jobs/{job['id']}").json()
            return job

        def worker(n: int) -> None:
            rnd = random.Random(n)
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=url, headers=headers, timeout=600) as http:
                i = 0
                while time.perf_counter() < stop:
                    i += 1
                    upload = rnd.random() < upload_share
                    started = time.perf_counter()
                    kind, expect = "chat", None
                    try:
                        if upload:
                            kind = "upload"
                            if bad and rnd.random() < hostile_share:
                                name, body, expect, _ = rnd.choices(bad, weights=[b[3] for b in bad])[0]
                                name = f"{n}_{i}_{name}"
                                if not expect:  # a large file that must be stored: its own copy, new bytes
                                    body = body + f"\n(copy {n}-{i})\n".encode()
                            else:
                                name = f"note_{n}_{i}.txt"
                                body = (
                                    f"Weekly call note {n}-{i}: Northgate reported batch 24-{100 + i:03d} on plan "
                                    f"for {program}; no deviation raised this week (worker {n}).\n"
                                ).encode()
                            r = http.post("/documents", files=[("files", (name, body))])
                            ok = r.status_code == 202
                            with lock:
                                samples.append(("upload", time.perf_counter() - started, ok))
                            if not ok:
                                unexpected.append(f"{name}: {r.status_code} {r.text[:200]}")
                                continue
                            job = follow(http, r.json()[0])
                            result = job.get("result") or {}
                            kind = "ingest" if expect is None or expect == "" else "refusal"
                            if expect:
                                ok = result.get("status") == "failed" and expect in (result.get("error") or "")
                                with lock:
                                    refused[0] += ok
                            else:  # the large text's copies read as versions of each other: stored too
                                ok = result.get("status") in ("added", "new_version")
                                if ok:
                                    with lock:
                                        stored_ids.append(result["document_id"])
                            if not ok:
                                with lock:
                                    unexpected.append(f"{name}: {result or job}")
                        else:
                            with http.stream("POST", "/chat", json={"question": rnd.choice(QUESTIONS)}) as r:
                                text = r.read().decode()
                            ok = r.status_code == 200 and "event: done" in text and "event: error" not in text
                            if not ok:
                                with lock:
                                    unexpected.append(f"chat: {r.status_code} {text[:200]}")
                    except httpx.HTTPError as exc:
                        ok = False
                        with lock:
                            unexpected.append(f"{kind}: {type(exc).__name__}")
                    with lock:
                        samples.append((kind, time.perf_counter() - started, ok))

        memory = _MemorySampler()
        with serving(settings, corpus) as url, memory:
            began = time.perf_counter()
            stop = began + seconds
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - began
        consistent = check_consistency(corpus).consistent
        present = {d.id for d in corpus.store.list_documents(include_superseded=True)}  # history is not lost
        corpus.close()
    kinds = []
    for kind in ("chat", "upload", "ingest", "refusal"):
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
    requests = [s for s in samples if s[0] in ("chat", "upload")]  # a followed job is not a request of its own
    return LoadReport(
        workers=workers,
        programs=programs,
        hostile=hostile,
        seconds=round(elapsed, 1),
        requests=len(requests),
        errors=sum(1 for *_, ok in samples if not ok),
        requests_per_second=round(len(requests) / elapsed, 2),
        kinds=kinds,
        refused_as_expected=refused[0],
        stored=len(stored_ids),
        lost=len(set(stored_ids) - present),
        rss_start_mb=memory.start_mb,
        rss_peak_mb=memory.peak_mb,
        rss_end_mb=memory.end_mb,
        consistent_after=consistent,
        unexpected=unexpected[:50],
    )


class _MemorySampler:
    """This process's resident memory (the server runs in it), sampled while the clients run."""

    def __init__(self):
        self.start_mb = self.peak_mb = self.end_mb = 0.0
        self._stop = threading.Event()

    def __enter__(self):
        self.start_mb = self.peak_mb = _rss_mb()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            self.peak_mb = max(self.peak_mb, _rss_mb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.end_mb = _rss_mb()
        self.peak_mb = max(self.peak_mb, self.end_mb)


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0
