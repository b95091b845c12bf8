"""Shared fixtures. A guard refuses every connection that leaves this machine: tests run offline."""

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["SCARF_NO_ANALYTICS"] = "true"
for _name in ("CDMO_LLM_BASE_URL", "CDMO_LLM_MODEL", "CDMO_LLM_API_KEY"):  # the rules backend unless a test says so
    os.environ.pop(_name, None)

from core.config import Settings, VectorEngine
from core.embeddings import OnnxEmbedder, default_model_path
from core.portfolio import load_portfolio
from fixtures.build_corpus import build
from retrieval.corpus import Corpus

ENGINES = [VectorEngine.EDGE, VectorEngine.LOCAL]


class NetworkAccessError(RuntimeError):
    pass


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def no_network():
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guarded(real):
        def connect(self, address):
            if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
                raise NetworkAccessError(f"test tried to reach {address}")
            return real(self, address)

        return connect

    socket.socket.connect = guarded(real_connect)
    socket.socket.connect_ex = guarded(real_connect_ex)
    yield
    socket.socket.connect, socket.socket.connect_ex = real_connect, real_connect_ex


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    build(out)
    return out


@pytest.fixture(scope="session")
def scans(tmp_path_factory, corpus_dir) -> Path:
    """The scanned copies of three sample documents (fixtures/scans.py), with their printed text."""
    from fixtures.scans import build_scans

    out = tmp_path_factory.mktemp("scanned")
    build_scans(corpus_dir, out)
    return out


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session", autouse=True)
def embedder(model_cache):
    """One model for the session: the corpus and the readers' meaning signal use it wherever they ask."""
    from core.embeddings import share_embedder

    shared = OnnxEmbedder(default_model_path(), model_cache, int8=False, batch_size=32, threads=2)  # the default backend
    share_embedder(Settings(), shared)
    return shared


STORES = ["sqlite", "postgresql"]


def pytest_configure(config):
    config.addinivalue_line("markers", "every_store: run the test on SQLite and on a real PostgreSQL")


def pytest_generate_tests(metafunc):
    """Tests marked every_store that build their settings with make_settings run once per record store."""
    if metafunc.definition.get_closest_marker("every_store") and "store_kind" in metafunc.fixturenames:
        metafunc.parametrize("store_kind", STORES, indirect=True)


@pytest.fixture(scope="session")
def postgres_server():
    from tests.postgres import postgres_cluster

    with postgres_cluster() as url:
        yield url


@pytest.fixture
def store_kind(request) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture
def database_url(request, store_kind) -> str | None:
    """None: SQLite in the data folder; else a fresh database on the session's PostgreSQL."""
    if store_kind == "sqlite":
        return None
    from tests.postgres import new_database

    return new_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def make_settings(tmp_path, model_cache, database_url):
    def make(engine: VectorEngine = VectorEngine.EDGE, **overrides) -> Settings:
        data = tmp_path / f"data-{engine.value}"
        data.mkdir(exist_ok=True)
        (data / "models").mkdir(exist_ok=True)
        return Settings(data_dir=data, vector_engine=engine, **({"database_url": database_url} | overrides))

    return make


@pytest.fixture(scope="session")
def records(tmp_path_factory, corpus_dir):
    """The sample corpus in a record store only (extraction reads text, not vectors)."""
    from eval.extraction import load_store

    store = load_store(corpus_dir, Settings(data_dir=tmp_path_factory.mktemp("records")))
    yield store
    store.engine.dispose()


@pytest.fixture
def portfolio():
    return load_portfolio()


@pytest.fixture
def empty_corpus(make_settings, embedder):
    corpus = Corpus(make_settings(), embedder=embedder)
    yield corpus
    corpus.close()


def ingest_all(corpus: Corpus, folder: Path) -> None:
    """Every file of the folder, uploaded and audited as the product stores them (by the local operator)."""
    from api.ingest import ingest_bytes
    from core.auth import LOCAL

    portfolio = load_portfolio()
    for path in sorted(folder.iterdir()):
        result = ingest_bytes(corpus, portfolio, path.name, path.read_bytes(), principal=LOCAL)
        assert result.error is None, result


@pytest.fixture(scope="session", params=ENGINES, ids=lambda e: e.value)
def sample_corpus(request, tmp_path_factory, corpus_dir, embedder):
    """The whole sample corpus ingested once per vector engine."""
    data = tmp_path_factory.mktemp(f"sample-{request.param.value}")
    corpus = Corpus(Settings(data_dir=data, vector_engine=request.param), embedder=embedder)
    ingest_all(corpus, corpus_dir)
    yield corpus
    corpus.close()


@pytest.fixture(scope="session")
def chat_corpus(tmp_path_factory, corpus_dir, embedder):
    """The sample corpus ingested and analysed once (Edge engine), for the chat tests."""
    corpus = Corpus(Settings(data_dir=tmp_path_factory.mktemp("chat")), embedder=embedder)
    ingest_all(corpus, corpus_dir)
    yield corpus
    corpus.close()


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright (installed by `make test`; never a downloaded browser)."""
    from api.page_timings import CHROMIUM, CHROMIUM_ARGS  # the browser and flags `cdmo eval pages` drives too

    playwright = pytest.importorskip("playwright.sync_api", reason="installed by `make test` (the test extra)")
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium package")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def site(make_settings, embedder):
    """The real app on loopback over an empty store (files up to 5 MB): an HTTP client for it."""
    with serve(make_settings(max_file_bytes=5_000_000), embedder) as http:
        yield http


@contextmanager
def serve(settings: Settings, embedder, corpus: Corpus | None = None):
    """The real app under uvicorn on a free loopback port; yields an HTTP client for it."""
    from api.loopback import serving

    own = corpus is None
    corpus = corpus or Corpus(settings, embedder=embedder)  # share the session's loaded model
    try:
        with serving(settings, corpus) as url, httpx.Client(base_url=url, timeout=60) as client:
            yield client
    finally:
        if own:
            corpus.close()


def upload(http: httpx.Client, files: list, **kwargs) -> httpx.Response:
    """POST /documents and wait for its jobs (`wait=true`): 201 added, 200 unchanged, 422 all failed."""
    return http.post("/documents", files=files, params={"wait": "true"}, **kwargs)


def results(response: httpx.Response) -> list[dict]:
    """The per-file ingest results of an upload's finished jobs."""
    return [job["result"] for job in response.json()]


CDMO = str(Path(sys.executable).parent / "cdmo")


def cdmo(env, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """A `cdmo` command in a process of its own."""
    return subprocess.run([CDMO, *args], env=env, capture_output=True, text=True, timeout=timeout)


@contextmanager
def cdmo_serve(env):
    """The real `cdmo serve` in a process of its own, as a user starts it in a terminal."""
    from api.loopback import free_port

    port = free_port()
    log = Path(env["CDMO_DATA_DIR"]) / "serve.out"
    with log.open("w") as out:  # a file, not a pipe: a full pipe would stall the server
        process = subprocess.Popen([CDMO, "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.time() < deadline, log.read_text()
            time.sleep(0.2)
        with httpx.Client(base_url=url, timeout=120) as http:
            yield http, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # as Ctrl-C in its terminal
            process.wait(timeout=30)
