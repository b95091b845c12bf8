"""One store, never damaged: one process owns a data folder; the CLI beside a running server goes through it;
failures are told in words and change nothing.

The server here is the real `cdmo serve` in a process of its own, and every CLI command a process of its own,
as a user runs them in two terminals.
"""

import getpass
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from api.loopback import free_port
from core.config import Settings
from core.errors import StoreBusyError
from core.ownership import StoreLock, store_owner
from retrieval.corpus import Corpus
from retrieval.integrity import check_consistency
from tests.conftest import cdmo, cdmo_serve, results, serve, upload

pytestmark = pytest.mark.every_store
FIRST = ["DEV-2024-031_Investigation_Report.pdf", "BPR_HB-101_DS_24-017.pdf"]
LATER = ["DEV-2024-044_Buffer_Preparation_Error.pdf", "CC-2024-052_Change_Notification_Protein_A_Resin.pdf"]


@pytest.fixture
def data_env(tmp_path, model_cache, database_url):
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").symlink_to(model_cache)  # the exported model, not exported again
    env = os.environ | {"CDMO_DATA_DIR": str(data), "CDMO_AS_OF": "2024-11-25", "COLUMNS": "200"}
    if database_url:
        env["CDMO_DATABASE_URL"] = database_url
    return data, env


def upload_file(http: httpx.Client, corpus_dir: Path, name: str) -> dict:
    response = upload(http, [("files", (name, (corpus_dir / name).read_bytes()))])
    assert response.status_code == 201, response.text
    return results(response)[0]


def test_the_cli_beside_a_running_server_goes_through_it_and_damages_nothing(data_env, corpus_dir):
    data, env = data_env
    with cdmo_serve(env) as (http, server):
        for name in FIRST:
            assert upload_file(http, corpus_dir, name)["status"] == "added"
        owner = store_owner(data)
        assert owner.pid == server.pid and owner.url == str(http.base_url).rstrip("/")

        beside = {}  # every read-only command, beside the server: each answers, none waits, none breaks it
        for args in [
            ["documents"],
            ["search", "solenoid coil heating valve", "--limit", "2"],
            ["ask", "What was the root cause of DEV-2024-031?"],
            ["risk"],
            ["risk", "NGB-CORK"],
            ["readiness"],
            ["triage", str(corpus_dir / LATER[0])],
            ["review-qta", str(corpus_dir / "Stellaris_QTA_Halvorsen_v1.docx"), "--format", "json"],
            ["check"],
            ["audit"],
        ]:
            started = time.perf_counter()
            done = cdmo(env, *args)
            assert done.returncode == 0, (args, done.stdout, done.stderr)
            assert time.perf_counter() - started < 60
            beside[args[0] + " ".join(args[1:2])] = done.stdout
        assert "Deviation Investigation Report DEV-2024-031" in beside["documents"]
        assert "solenoid coil" in beside["searchsolenoid coil heating valve"]
        assert "solenoid coil" in beside["askWhat was the root cause of DEV-2024-031?"]
        assert "DEV-2024-044_Buffer_Preparation_Error.pdf" in beside["triage" + str(corpus_dir / LATER[0])]
        assert "0 chunks without a vector, 0 vectors without a chunk" in " ".join(beside["check"].split())

        refused = cdmo(env, "check", "--repair")
        assert refused.returncode == 2 and "stop the server" in refused.stdout
        # the server still writes (a reader once broke every later upload), and the CLI ingests through it
        assert upload_file(http, corpus_dir, LATER[0])["status"] == "added"
        ingested = cdmo(env, "ingest", str(corpus_dir / LATER[1]))
        assert ingested.returncode == 0 and "1 of 1 files ingested" in ingested.stdout, ingested.stdout
        listed = http.get("/documents").json()
        assert len(listed) == 4
        actors = {e["actor"] for e in http.get("/audit").json() if e["action"] in ("question", "triage", "review_qta")}
        assert actors == {f"cli:{getpass.getuser()}"}  # the terminal's user, not the server's "local"

    assert store_owner(data) is None  # the stopped server let go of the store
    checked = cdmo(env, "check")
    assert checked.returncode == 0 and "0 chunks without a vector, 0 vectors without a chunk" in checked.stdout
    alone = cdmo(env, "triage", str(corpus_dir / LATER[0]))  # without a server: the same report
    assert alone.returncode == 0 and alone.stdout == beside["triage" + str(corpus_dir / LATER[0])]
    assert cdmo(env, "documents").stdout.count("deviation_report") == 2


def test_two_writers_through_the_api_while_the_cli_reads(data_env, corpus_dir):
    data, env = data_env
    notes = [(f"note_{w}_{i}.txt", f"Weekly call {w}-{i}: batch 24-{100 + i:03d} on plan for HB-101.\n".encode())
             for w in range(2) for i in range(6)]  # fmt: skip
    statuses, reads = [], []
    with cdmo_serve(env) as (http, _):
        upload_file(http, corpus_dir, FIRST[0])

        def writer(mine):
            with httpx.Client(base_url=http.base_url, timeout=120) as client:
                for name, body in mine:
                    r = upload(client, [("files", (name, body))])
                    statuses.append((r.status_code, results(r)[0]["status"]))

        writers = [threading.Thread(target=writer, args=(notes[w::2],)) for w in range(2)]
        for t in writers:
            t.start()
        while any(t.is_alive() for t in writers) or len(reads) < 3:
            reads.append(cdmo(env, "documents" if len(reads) % 2 else "search", *([] if len(reads) % 2 else ["batch"])))
        for t in writers:
            t.join()
        assert all(r.returncode == 0 for r in reads), [r.stdout + r.stderr for r in reads if r.returncode]
        assert statuses == [(201, "added")] * len(notes)
        assert len(http.get("/documents").json()) == len(notes) + 1
        assert http.get("/store/check").json()["missing_vectors"] == []
    corpus = Corpus(Settings(data_dir=data, database_url=env.get("CDMO_DATABASE_URL")))
    try:
        assert len(corpus.store.list_documents()) == len(notes) + 1 and check_consistency(corpus).consistent
    finally:
        corpus.close()


def test_a_second_process_never_opens_an_owned_store(data_env, make_settings, embedder):
    """A holder that is not a server: the store's files are not touched; the CLI says whom it waits for."""
    data, env = data_env
    settings = Settings(data_dir=data, database_url=env.get("CDMO_DATABASE_URL"))
    Corpus(settings, embedder=embedder).close()  # a store with its files
    files = {p: p.stat().st_mtime_ns for p in data.rglob("*") if p.is_file() and p.name != "store.lock"}
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from core.ownership import StoreLock; "
         "StoreLock(Path(sys.argv[1])).acquire('cdmo ingest'); print('held', flush=True); time.sleep(60)", str(data)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1],
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreBusyError, match=rf"in use by `cdmo ingest` \(pid {holder.pid}"):
            Corpus(settings, embedder=embedder)
        started = time.perf_counter()
        waited = cdmo(env | {"CDMO_STORE_WAIT_S": "1"}, "documents")
        assert waited.returncode == 3 and 1 <= time.perf_counter() - started < 30
        said = " ".join((waited.stdout + waited.stderr).split())
        assert f"waiting for `cdmo ingest` (pid {holder.pid}" in said and "wait for it to finish" in said
        refused = cdmo(env, "serve", "--port", str(free_port()))
        assert refused.returncode == 3 and "cannot serve" in refused.stdout
        assert {p: p.stat().st_mtime_ns for p in files} == files  # nothing of the store was opened for writing
    finally:
        holder.kill()
        holder.wait()
    assert cdmo(env, "documents").returncode == 0  # the kernel dropped the dead holder's lock


def test_the_lock_is_taken_once_per_process_and_given_back(tmp_path):
    lock, again = StoreLock(tmp_path), StoreLock(tmp_path)
    assert lock.try_acquire("first") is None and again.try_acquire("second") is None  # one process: re-entrant
    lock.release()
    assert store_owner(tmp_path).command == "first"  # still held by `again`
    again.release()
    assert store_owner(tmp_path) is None
    assert oct((tmp_path / "store.lock").stat().st_mode & 0o777) == "0o600"  # the server's token lives there


def test_an_engine_failure_reaches_the_user_in_words_and_changes_nothing(make_settings, embedder, corpus_dir):
    settings = make_settings()
    corpus = Corpus(settings, embedder=embedder)
    engine_error = "Service runtime error: Failed to flush payload_index: tracker_journal.dat is shorter than expected"
    try:
        with serve(settings, embedder, corpus) as http:
            name = FIRST[0]
            assert upload(http, [("files", (name, (corpus_dir / name).read_bytes()))]).status_code == 201
            before = (corpus.store.counts(), corpus.vectors.count())

            def broken(*args, **kwargs):
                raise RuntimeError(engine_error)

            real_upsert, corpus.vectors.upsert = corpus.vectors.upsert, broken
            name = LATER[0]
            r = upload(http, [("files", (name, (corpus_dir / name).read_bytes()))])
            corpus.vectors.upsert = real_upsert
            error = results(r)[0]["error"]
            assert r.status_code == 422 and "tracker_journal" not in r.text and "RuntimeError" not in r.text
            assert error.startswith("storing the file failed unexpectedly (reference ") and "nothing was stored" in error
            assert (corpus.store.counts(), corpus.vectors.count()) == before and check_consistency(corpus).consistent

            real_list, corpus.store.list_documents = corpus.store.list_documents, broken
            listed = http.get("/documents")
            chat = http.post("/chat", json={"question": "Which documents are there?"}).text
            corpus.store.list_documents = real_list
            assert listed.status_code == 500 and "tracker_journal" not in listed.text
            assert listed.json()["detail"].startswith("list documents failed unexpectedly (reference ")
            assert "tracker_journal" not in chat
            assert http.get("/documents").status_code == 200  # and the server goes on
    finally:
        corpus.close()


def test_an_unexpected_cli_failure_is_told_in_words_with_the_traceback_in_the_log(data_env):
    data, env = data_env
    if "CDMO_DATABASE_URL" in env:  # a database that cannot answer
        env = env | {"CDMO_DATABASE_URL": env["CDMO_DATABASE_URL"] + "_gone"}
    else:
        (data / "records.sqlite3").write_bytes(b"this is not a database" * 100)
    done = cdmo(env, "documents")
    said = " ".join(done.stdout.split())
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert said.startswith("cdmo documents failed unexpectedly (reference ") and "cli.log" in said
    reference = said.split("(reference ")[1].split()[0]
    log = (data / "logs" / "cli.log").read_text()
    assert reference in log and "Traceback" in log and "sqlalchemy.exc" in log


def test_the_openapi_page_works_with_no_network(browser, make_settings, embedder):
    with serve(make_settings(), embedder) as http:
        page = browser.new_page()
        asked = []
        page.on("request", lambda request: asked.append(request.url))
        page.goto(f"{http.base_url}/docs")
        page.locator(".opblock").first.wait_for(timeout=30_000)
        assert page.locator(".opblock").count() >= 25  # every operation drawn from /openapi.json
        assert asked and all(url.startswith(str(http.base_url)) for url in asked), asked
        page.close()
