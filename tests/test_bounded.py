"""Bounded work per request, and no record silently replaced — over HTTP, against the real server.

A note that names a record is stored beside it; a real new version that lowers a record is held for a
person; every limit refuses by name with the limit and its value; uploads return at once with jobs that
survive a restart; bodies are bounded in size and in pace.
"""

import dataclasses
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from core.config import Settings
from fixtures.render import load_source, render
from tests.bad_files import long_text, many_page_pdf
from tests.conftest import cdmo_serve, results, serve, upload

SOURCES = Path(__file__).parents[1] / "fixtures" / "sources"
REPORT = "NC-2024-0127_Stellaris_Filling_Interruption.pdf"
NOTE = (
    "# NC-2024-0127 update\n\n"
    "Non-conformance NC-2024-0127 at Stellaris Fill & Finish Monza (HB-101, lot F4480): the deviation "
    "investigation found the root cause; the deviation is minor and closed. No CAPA is needed.\n"
)


def _file(path: Path) -> list:
    return [("files", (path.name, path.read_bytes()))]


def _revision(tmp_path: Path, old: str, new: str) -> Path:
    """NC-2024-0127 rendered again with some of its words changed: a real next version of the report."""
    source = load_source(SOURCES / "nc_2024_0127_stellaris.md")
    elements = [dataclasses.replace(e, text=e.text.replace(old, new)) for e in source.elements]
    folder = tmp_path / f"rev{len(list(tmp_path.glob('rev*')))}"
    folder.mkdir()
    return render(dataclasses.replace(source, elements=elements), folder)


def _event(http, document_id: str) -> dict:
    return next(e for e in http.get("/events").json() if e["document_id"] == document_id)


@pytest.mark.every_store
def test_a_note_naming_a_record_is_stored_beside_it_never_over_it(site, corpus_dir):
    (report,) = results(upload(site, _file(corpus_dir / REPORT)))
    (note,) = results(upload(site, [("files", ("NC-2024-0127_update.md", NOTE.encode()))]))
    assert note["kind"] == report["kind"] == "deviation_report"  # the same kind and number: a would-be version
    assert note["status"] == "added" and note["supersedes"] is None and note["related_to"] == report["document_id"]
    assert "is not a new version" in note["version_note"] and "title" in note["version_note"]
    current = {d["id"] for d in site.get("/documents").json()}
    assert {report["document_id"], note["document_id"]} <= current  # both current: nothing replaced
    assert _event(site, report["document_id"])["risk"] == "HIGH"
    versions = site.get(f"/documents/{report['document_id']}/versions").json()
    assert [v["id"] for v in versions] == [report["document_id"]]


@pytest.mark.every_store
def test_a_new_version_that_lowers_its_record_is_held_for_a_person(site, corpus_dir, tmp_path):
    (report,) = results(upload(site, _file(corpus_dir / REPORT)))
    before = site.get("/programs/HB-101/readiness").json()["score"]
    lower = _revision(tmp_path, "Classification: Critical", "Classification: Minor")
    (second,) = results(upload(site, _file(lower)))
    assert second["status"] == "new_version" and second["supersedes"] == report["document_id"]
    assert second["downgrade"] and any("classification critical -> minor" in c for c in second["downgrade"])

    held = site.get("/documents/downgrades").json()
    assert [(h["document_id"], h["status"]) for h in held] == [(second["document_id"], "pending")]
    finding = next(f for f in site.get("/findings").json() if f["code"] == "downgraded_by_new_version")
    assert finding["document_id"] == second["document_id"] and "classification critical -> minor" in finding["summary"]
    # until a person decides, the higher reading counts: the earlier event, its flags, readiness as before
    (event,) = [e for e in site.get("/events", params={"batch": "F4480"}).json()]
    assert event["document_id"] == report["document_id"] and event["classification"] == "critical"
    assert site.get("/programs/HB-101/readiness").json()["score"] == before

    decided = site.post(f"/documents/{second['document_id']}/downgrade", json={"confirm": False, "reason": "no"})
    assert decided.status_code == 422  # a reason of three characters at least
    decided = site.post(f"/documents/{second['document_id']}/downgrade",
                        json={"confirm": False, "reason": "The CDMO sent no evidence for the reclassification"})  # fmt: skip
    assert decided.status_code == 200 and decided.json()["status"] == "rejected"
    docs = {d["id"]: d for d in site.get("/documents", params={"include_superseded": True}).json()}
    assert docs[report["document_id"]]["status"] == "current" and docs[second["document_id"]]["status"] == "withdrawn"
    assert not any(f["code"] == "downgraded_by_new_version" for f in site.get("/findings").json())
    hits = site.get("/search", params={"q": "NC-2024-0127 classification", "limit": 5}).json()
    assert hits and second["document_id"] not in {h["document_id"] for h in hits}  # out of search, kept
    assert site.get(f"/documents/{second['document_id']}").status_code == 200
    again = site.post(f"/documents/{second['document_id']}/downgrade", json={"confirm": True, "reason": "changed mind"})
    assert again.status_code == 409 and "decided already: rejected by local" in again.text

    (third,) = results(upload(site, _file(_revision(tmp_path, "about 35 minutes", "about 36 minutes"))))
    assert third["status"] == "new_version" and third["supersedes"] == report["document_id"]
    assert third["downgrade"] == []  # nothing lowered: no one is asked
    audit = [e for e in site.get("/audit").json() if e["action"] in ("upload", "reject_downgrade")]
    rejected = next(e for e in audit if e["action"] == "reject_downgrade")
    assert rejected["actor"] == "local" and rejected["detail"]["reason"].startswith("The CDMO sent no evidence")
    superseding = [e for e in audit if e["outcome"] == "new_version"]
    assert [e["detail"]["supersedes"] for e in superseding] == [report["document_id"]] * 2


def test_a_confirmed_downgrade_lets_the_new_reading_count(site, corpus_dir, tmp_path):
    (report,) = results(upload(site, _file(corpus_dir / REPORT)))
    (second,) = results(upload(site, _file(_revision(tmp_path, "Classification: Critical", "Classification: Minor"))))
    confirmed = site.post(f"/documents/{second['document_id']}/downgrade",
                          json={"confirm": True, "reason": "Reclassified by the CDMO's QA board, minutes attached"})  # fmt: skip
    assert confirmed.status_code == 200 and confirmed.json()["decided_by"] == "local"
    (event,) = site.get("/events", params={"batch": "F4480"}).json()
    assert event["document_id"] == second["document_id"] and event["classification"] == "minor"
    assert site.get("/documents/downgrades").json() == []


def test_each_limit_refuses_by_name_with_its_value(make_settings, embedder):
    settings = make_settings(max_file_bytes=5_000_000, max_seconds_per_file=1.0)
    cases = [
        ("huge_box.pdf", many_page_pdf(5000, inches=2000), "5,000 pages, over the 2,000-page limit"),
        ("wide.pdf", many_page_pdf(3, inches=2000), "600,000 x 600,000-pixel image, over the 60,000,000-pixel limit"),
        ("blank_300.pdf", many_page_pdf(300), "300 pages need OCR, over the 200-page limit per file"),
        ("long.txt", long_text(1.0), "over the 1-second limit per file (CDMO_MAX_SECONDS_PER_FILE)"),
    ]
    with serve(settings, embedder) as http:
        for name, data, reason in cases:
            started = time.perf_counter()
            response = upload(http, [("files", (name, data))])
            (result,) = results(response)
            assert response.status_code == 422 and result["filename"] == name and reason in result["error"], result
            assert time.perf_counter() - started < 30, name  # refused at the limit, not after the work
        assert http.get("/documents").json() == []  # nothing half-stored


def test_ocr_is_bounded_per_hour_across_files(make_settings, embedder):
    from core.work import OCR_QUOTA

    allowed = OCR_QUOTA.used() + 3  # the quota is the process's: three pages more than the suite has read
    with serve(make_settings(max_ocr_pages_per_hour=allowed), embedder) as http:
        blank = [("files", ("blank_2.pdf", many_page_pdf(2)))]
        (first,) = results(upload(http, blank))
        assert "pages 1-2: the page is blank" in first["error"]  # read (two pages of the quota), and blank
        (second,) = results(upload(http, blank))
        assert f"of the {allowed:,} pages allowed per hour (CDMO_MAX_OCR_PAGES_PER_HOUR)" in second["error"]
        assert "send it again after" in second["error"]


def test_an_upload_returns_at_once_and_its_job_tells_the_progress(site, corpus_dir):
    started = time.perf_counter()
    response = site.post("/documents", files=_file(corpus_dir / REPORT) + [("files", ("note.txt", NOTE.encode()))])
    assert response.status_code == 202 and time.perf_counter() - started < 5
    jobs = response.json()
    assert [j["status"] for j in jobs] in (["queued", "queued"], ["running", "queued"], ["queued", "running"]) or all(
        j["status"] in ("queued", "running", "done") for j in jobs
    )
    with site.stream("GET", "/jobs/events", params={"ids": ",".join(j["id"] for j in jobs)}) as stream:
        events = [line for line in stream.iter_lines() if line.startswith("event: ")]
    assert events[-1] == "event: done" and "event: progress" in events
    done = [site.get(f"/jobs/{j['id']}").json() for j in jobs]
    assert [j["status"] for j in done] == ["done", "done"] and [j["result"]["status"] for j in done] == ["added"] * 2
    assert {j["id"] for j in site.get("/jobs").json()} >= {j["id"] for j in jobs}


def test_queued_and_running_jobs_survive_a_restart(tmp_path, model_cache, corpus_dir, scans):
    scanned_pdf = scans / "SCAN_BPR_HB-101_DS_24-017.pdf"
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").symlink_to(model_cache)
    env = os.environ | {"CDMO_DATA_DIR": str(data), "CDMO_INGEST_WORKERS": "1"}
    names = [scanned_pdf.name, REPORT, "DEV-2024-031_Investigation_Report.pdf"]
    with cdmo_serve(env) as (http, server):
        files = [("files", (scanned_pdf.name, scanned_pdf.read_bytes()))] + _file(corpus_dir / names[1]) + _file(
            corpus_dir / names[2]
        )
        jobs = http.post("/documents", files=files).json()
        deadline = time.time() + 60
        while http.get(f"/jobs/{jobs[0]['id']}").json()["status"] != "running" and time.time() < deadline:
            time.sleep(0.1)
        os.kill(server.pid, signal.SIGKILL)  # mid-OCR of the first, the others still queued
        server.wait()
    from core.store import RecordStore

    store = RecordStore(Settings(data_dir=data).sqlalchemy_url)
    assert [store.job(j["id"])[0].status for j in jobs] == ["running", "queued", "queued"]
    assert store.list_documents() == []  # nothing half-stored
    store.engine.dispose()
    with cdmo_serve(env) as (http, _):
        deadline = time.time() + 240
        while time.time() < deadline:
            now = [http.get(f"/jobs/{j['id']}").json() for j in jobs]
            if all(j["status"] == "done" for j in now):
                break
            time.sleep(0.5)
        assert [j["result"]["status"] for j in now] == ["added"] * 3, now
        assert sorted(d["filename"] for d in http.get("/documents").json()) == sorted(names)
        assert http.get("/store/check").json()["missing_vectors"] == []


def _raw(http: httpx.Client, head: str, *body: bytes) -> tuple[str, float]:
    """Send a request as a client that may lie about its body; the server's first answer, and how long it took."""
    with socket.create_connection((http.base_url.host, http.base_url.port), timeout=30) as raw:
        started = time.perf_counter()
        raw.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        try:
            for part in body:
                raw.sendall(part)
        except (BrokenPipeError, ConnectionResetError):  # refused before it was all sent: as it should be
            pass
        answer = raw.recv(65536)
        took = time.perf_counter() - started
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) == 0:  # the body may come apart
            more = raw.recv(65536)
            if not more:
                break
            answer += more
        return answer.decode(errors="replace"), took


def test_bodies_are_bounded_in_size_and_pace(make_settings, embedder):
    settings = make_settings(body_idle_timeout_s=1.0, max_upload_bytes=300_000)
    with serve(settings, embedder) as http:
        answer, took = _raw(http, "POST /chat HTTP/1.1\nHost: x\nContent-Type: application/json\n"
                                  "Content-Length: 300000000\n", b"x" * 65536)  # fmt: skip
        assert answer.startswith("HTTP/1.1 413") and "over this route's 65,536-byte limit" in answer and took < 2
        assert http.post("/chat", json={"question": "a" * 100_000}).status_code == 413

        form = b'--b\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n\r\n' + b"y" * 500_000
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (form[:250_000], form[250_000:]))
        answer, took = _raw(http, "POST /documents HTTP/1.1\nHost: x\nContent-Type: multipart/form-data; boundary=b\n"
                                  "Transfer-Encoding: chunked\n", chunked)  # fmt: skip
        assert answer.startswith("HTTP/1.1 413")  # no Content-Length: counted as it arrives

        answer, took = _raw(http, "POST /chat HTTP/1.1\nHost: x\nContent-Type: application/json\n"
                                  "Content-Length: 1000\n", b'{"questio')  # says 1,000 bytes, sends 10 # fmt: skip
        assert answer.startswith("HTTP/1.1 408") and "stopped arriving" in answer and 0.9 < took < 5
        assert http.get("/health").status_code == 200  # and nobody else waited


def test_a_stream_may_outlast_the_body_timeout(make_settings, embedder, chat_corpus):
    """Found by the soak: the body timeout also cut answers streaming for longer than it (a stream listens for
    the client leaving); once the body is in, it no longer applies."""
    from agents.chat import ChatService

    slow = ChatService.stream

    def stream(self, *args, **kwargs):
        for event in slow(self, *args, **kwargs):
            time.sleep(0.4)
            yield event

    settings = chat_corpus.settings.model_copy(update={"body_idle_timeout_s": 0.5})
    ChatService.stream = stream
    try:
        with serve(settings, embedder, corpus=chat_corpus) as http:
            answer = http.post("/chat", json={"question": "Which CAPAs are past due at Northgate?"})
    finally:
        ChatService.stream = slow
    assert answer.status_code == 200 and "event: done" in answer.text and "event: error" not in answer.text


def test_a_full_queue_answers_429(make_settings, embedder, scans):
    settings = make_settings(max_queued_jobs=1, ingest_workers=1)
    with serve(settings, embedder) as http:
        first = http.post("/documents", files=_file(scans / "SCAN_BPR_HB-101_DS_24-017.pdf"))  # minutes of OCR
        second = http.post("/documents", files=[("files", ("note.txt", NOTE.encode()))])
        assert first.status_code == 202
        assert second.status_code == 429 and second.headers["retry-after"] and "CDMO_MAX_QUEUED_JOBS" in second.text
