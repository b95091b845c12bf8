"""QTA review and triage over HTTP, against the real app under uvicorn, and in the terminal."""

import json

import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.bad_files import corrupt_pdf
from tests.conftest import serve, upload

QTA = "Stellaris_QTA_Halvorsen_v1.docx"
LATE = "NC-2024-0127_Stellaris_Filling_Interruption.pdf"


@pytest.fixture
def client(make_settings, embedder):
    with serve(make_settings(max_file_bytes=2_000_000), embedder) as http:
        yield http


def _file(path, field="file"):
    return {field: (path.name, path.read_bytes(), "application/octet-stream")}


def test_review_an_uploaded_agreement(client, corpus_dir):
    qta = corpus_dir / QTA
    review = client.post("/qta/review", files=_file(qta)).json()
    assert len(review["findings"]) == 17 and review["backend"] == "rules"
    conflict = next(f for f in review["findings"] if f["element_id"] == "deviations_oos")
    assert conflict["status"] == "conflicting" and {e["page"] for e in conflict["evidence"]} == {1}

    markdown = client.post("/qta/review", params={"format": "markdown"}, files=_file(qta))
    assert markdown.headers["content-type"].startswith("text/markdown") and "≠ conflicting" in markdown.text
    html = client.post("/qta/review", params={"format": "html"}, files=_file(qta)).text
    assert html.count("<mark") >= 10 and "Suggested wording" in html
    statuses = [f["status"] for f in review["findings"]]
    counts = " · ".join(f"{statuses.count(s)} {s}" for s in ("present", "vague", "missing", "conflicting"))
    assert f"17 elements: {counts}" in html and f"17 elements: {counts}" in markdown.text  # at a glance

    playbook = b"name: Mine\nversion: '2'\nelements:\n  - {id: scope, title: Scope, source: s, severity: minor, cues: ['covers']}\n"
    mine = client.post("/qta/review", files={**_file(qta), "playbook": ("mine.yaml", playbook)}).json()
    assert mine["playbook"] == "Mine v2" and [f["status"] for f in mine["findings"]] == ["present"]
    broken = client.post("/qta/review", files={**_file(qta), "playbook": ("mine.yaml", b"elements: [")})
    assert broken.status_code == 422 and "mine.yaml: not valid YAML" in broken.json()["detail"]

    bad = client.post("/qta/review", files={"file": ("agreement.pdf", corrupt_pdf(qta), "application/pdf")})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("agreement.pdf: ")
    assert client.get("/documents").json() == []  # reviewing an upload stores nothing


def test_document_text_renders_as_text_never_as_markup(client):
    hostile = (
        b"Quality Agreement\n\nChange Control\n\n"
        b"The CDMO notifies changes <script>alert('x')</script> promptly <img src=x onerror=alert(1)>.\n"
    )
    html = client.post(
        "/qta/review", params={"format": "html"}, files={"file": ("qta.txt", hostile, "text/plain")}
    ).text
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(" in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_triage_ingested_events_and_findings(client, corpus_dir):
    for name in (QTA, LATE):
        assert upload(client, _file(corpus_dir / name, "files")).status_code == 201
    event = client.post("/investigations/triage", files=_file(corpus_dir / LATE)).json()
    assert event["risk"] == "HIGH" and "notified_late" in [f["code"] for f in event["flags"]]

    stored = client.get("/events", params={"site": "SFF-MONZA", "batch": "F4480"}).json()
    assert [e["document_id"] for e in stored] == [event["document_id"]]
    assert client.get("/events", params={"risk": "LOW"}).json() == []
    report = client.get(f"/events/{event['document_id']}", params={"format": "markdown"}).text
    assert "**Notified late**" in report and "Risk HIGH" in report
    qta = next(d for d in client.get("/documents").json() if d["kind"] == "qta")
    assert f"{qta['title']} ({QTA})" in report and f"document {qta['id']}" not in report  # the clause's agreement, named
    page = client.get(f"/events/{event['document_id']}", params={"format": "html"}).text
    assert f'<a href="/qta/reviews/{qta["id"]}?format=html">' in page  # and opened
    findings = client.get("/findings", params={"program": "HB-101", "code": "notified_late"}).json()
    assert len(findings) == 1 and findings[0]["batch_ids"] == ["F4480"]
    qta_id = client.get("/documents", params={"kind": "qta"}).json()[0]["id"]
    assert client.get(f"/qta/reviews/{qta_id}").json()["site"] == "SFF-MONZA"
    assert client.get(f"/events/{qta_id}").status_code == 404
    assert client.get("/qta/reviews/nope").status_code == 404


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    from core.config import get_settings

    monkeypatch.setenv("CDMO_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_review_and_triage_in_the_terminal(cli_env, corpus_dir, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["review-qta", str(corpus_dir / QTA), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["findings"][13]["status"] == "missing"

    out = tmp_path / "triage.html"
    result = runner.invoke(app, ["triage", str(corpus_dir / LATE), "--format", "html", "--out", str(out)])
    assert result.exit_code == 0 and "retraining_only_capa" in out.read_text()

    broken = tmp_path / "report.pdf"
    broken.write_bytes(b"%PDF-1.4 broken")
    result = runner.invoke(app, ["triage", str(broken)])
    assert result.exit_code == 2 and "report.pdf" in result.output and "corrupt" in result.output


def _docx_text(data: bytes) -> str:
    import io

    from docx import Document

    doc = Document(io.BytesIO(data))
    cells = [c.text for t in doc.tables for r in t.rows for c in r.cells]
    return "\n".join([p.text for p in doc.paragraphs] + cells)


def _pdf_text(data: bytes) -> str:
    import io

    from pypdf import PdfReader

    return "\n".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(data)).pages)


def test_a_stored_review_and_triage_export_as_word_and_pdf_with_their_quotes_and_pages(client, corpus_dir, tmp_path):
    for name in (QTA, LATE):
        assert upload(client, _file(corpus_dir / name, "files")).status_code == 201
    qta_id = client.get("/documents", params={"kind": "qta"}).json()[0]["id"]
    event_id = next(d["id"] for d in client.get("/documents").json() if d["filename"] == LATE)
    review = client.get(f"/qta/reviews/{qta_id}").json()
    event = client.get(f"/events/{event_id}").json()
    quoted = [(e["quote"], e["page"]) for f in review["findings"] for e in f["evidence"]]
    flagged = [(e["quote"], e["page"]) for f in event["flags"] for e in f["evidence"]]
    assert quoted and flagged
    for url, quotes, stem in ((f"/qta/reviews/{qta_id}", quoted, "review"), (f"/events/{event_id}", flagged, "report")):
        word = client.get(url, params={"format": "docx"})
        assert word.headers["content-type"].startswith("application/vnd.openxmlformats") and f"-{stem}.docx" in word.headers["content-disposition"]
        pdf = client.get(url, params={"format": "pdf"})
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
        text, printed = _docx_text(word.content), _pdf_text(pdf.content)
        for quote, page in quotes:  # every quote with its page, in both files
            line = " ".join(quote.split())
            assert line in " ".join(text.split()) and f"p. {page}, chars" in text
            assert line[:40] in printed and f"p. {page}" in printed
    statuses = [f["status"] for f in review["findings"]]
    assert f"17 elements: {statuses.count('present')} present" in _docx_text(client.get(f"/qta/reviews/{qta_id}", params={"format": "docx"}).content)

    hostile = b"Quality Agreement\n\nChange Control\n\nThe CDMO notifies changes <b>bold</b> & **promptly** \x07 within 5 days.\n"
    word = client.post("/qta/review", params={"format": "docx"}, files={"file": ("qta.txt", hostile, "text/plain")})
    assert word.status_code == 200 and "<b>bold</b> &" in _docx_text(word.content)  # text, not markup
    pdf = client.post("/qta/review", params={"format": "pdf"}, files={"file": ("qta.txt", hostile, "text/plain")})
    assert pdf.status_code == 200 and "<b>bold</b> &" in _pdf_text(pdf.content)


def test_a_word_or_pdf_report_in_the_terminal_is_written_to_a_file(cli_env, corpus_dir, tmp_path):
    runner = CliRunner()
    refused = runner.invoke(app, ["triage", str(corpus_dir / LATE), "--format", "docx"])
    assert refused.exit_code == 2 and "--out" in refused.output
    out = tmp_path / "triage.docx"
    written = runner.invoke(app, ["triage", str(corpus_dir / LATE), "--format", "docx", "--out", str(out)])
    assert written.exit_code == 0, written.output
    assert "Investigation triage" in _docx_text(out.read_bytes()) and "Weak-investigation flags" in _docx_text(out.read_bytes())
    pdf = tmp_path / "review.pdf"
    assert runner.invoke(app, ["review-qta", str(corpus_dir / QTA), "--format", "pdf", "--out", str(pdf)]).exit_code == 0
    assert "QTA gap review" in _pdf_text(pdf.read_bytes())
