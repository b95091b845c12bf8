"""The real FastAPI app served by uvicorn on loopback, exercised over HTTP."""

import pytest

from core.config import VectorEngine
from tests.bad_files import encrypted_pdf
from tests.conftest import results, serve, upload

pytestmark = pytest.mark.every_store

@pytest.fixture(params=[VectorEngine.EDGE, VectorEngine.LOCAL], ids=lambda e: e.value)
def server(request, make_settings, embedder):
    with serve(make_settings(request.param, max_file_bytes=2_000_000), embedder) as client:
        yield client


def _upload(client, *paths_or_pairs):
    files = []
    for item in paths_or_pairs:
        name, data = (item.name, item.read_bytes()) if hasattr(item, "read_bytes") else item
        files.append(("files", (name, data, "application/octet-stream")))
    return upload(client, files)


def test_upload_list_read_and_search(server, corpus_dir):
    dev = corpus_dir / "DEV-2024-031_Investigation_Report.pdf"
    qta = corpus_dir / "Stellaris_QTA_Halvorsen_v1.docx"
    response = _upload(server, dev, qta)
    assert response.status_code == 201
    added = results(response)
    assert [r["status"] for r in added] == ["added", "added"]
    assert added[0]["kind"] == "deviation_report" and added[0]["pages"] == 2

    assert _upload(server, dev).status_code == 200  # unchanged

    listed = server.get("/documents", params={"site": "SFF-MONZA"}).json()
    assert [d["filename"] for d in listed] == [qta.name]

    detail = server.get(f"/documents/{added[0]['document_id']}").json()
    assert detail["metadata"]["batch_ids"][0] == "24-017" and len(detail["pages"]) == 2
    chunk = detail["chunks"][0]
    page = detail["pages"][chunk["page"] - 1]["text"]
    assert page[chunk["start"] : chunk["end"]] == chunk["text"]

    hits = server.get("/search", params={"q": "DEV-2024-031 corrective actions", "limit": 3}).json()
    assert hits[0]["filename"] == dev.name and hits[0]["page"] >= 1 and hits[0]["end"] > hits[0]["start"]
    filtered = server.get("/search", params={"q": "deviation notification", "site": "SFF-MONZA"}).json()
    assert filtered and all("SFF-MONZA" in h["sites"] for h in filtered)
    assert server.get("/search", params={"q": "x", "kind": "not-a-kind"}).status_code == 422
    assert server.get("/documents/does-not-exist").status_code == 404


def test_bad_uploads_are_named_and_change_nothing(server, corpus_dir):
    good = corpus_dir / "NC-2024-0112_Stellaris_Batch_Record_Discrepancy.pdf"
    _upload(server, good)
    before = server.get("/documents").json()
    response = _upload(
        server,
        ("../../../etc/cron.d/evil.pdf", good.read_bytes()),
        ("locked.pdf", encrypted_pdf(good)),
        ("huge.txt", b"a" * 2_000_001),
        ("empty.eml", b""),
    )
    assert response.status_code == 422
    errors = {r["filename"]: r["error"] for r in results(response)}
    assert "path components" in errors["../../../etc/cron.d/evil.pdf"]
    assert "encrypted" in errors["locked.pdf"]
    assert "over the 2,000,000-byte limit" in errors["huge.txt"]
    assert "empty" in errors["empty.eml"]
    assert server.get("/documents").json() == before


def test_openapi_page_is_served(server):
    spec = server.get("/openapi.json").json()
    assert {"/documents", "/documents/{document_id}", "/search"} <= set(spec["paths"])
    assert server.get("/docs").status_code == 200
