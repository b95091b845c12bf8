"""Faults: the ingesting process killed mid-batch loses nothing stored before and leaves no half document;
a restart resumes; drift between the vector index and the record store is found and repaired."""

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from api.ingest import ingest_path
from core.documents import DocumentStatus, IngestStatus
from core.portfolio import load_portfolio
from core.search import SearchMode
from retrieval.corpus import Corpus
from retrieval.integrity import check_consistency
from retrieval.vector_stores import ChunkPayload

pytestmark = pytest.mark.every_store

BATCH = [
    "AUD-2024-03_Audit_Report_Stellaris_Monza.html",
    "BPR_HB-101_DS_24-017.pdf",
    "CC-2024-052_Change_Notification_Protein_A_Resin.pdf",
    "DEV-2024-031_Investigation_Report.pdf",
    "DEV-2024-038_Chromatography_Skid_Downtime.docx",
    "DEV-2024-044_Buffer_Preparation_Error.pdf",
    "NC-2024-0127_Stellaris_Filling_Interruption.pdf",
    "QA-NGB-HB-002_Quality_Agreement_Northgate_Rev3.pdf",
    "Quantix_Quality_Agreement_Testing_Services.pdf",
    "Stellaris_QTA_Halvorsen_v1.docx",
]


def _stored(engine) -> int:
    try:
        with engine.connect() as db:
            return db.execute(text("SELECT count(*) FROM documents")).scalar_one()
    except DBAPIError:  # the database or its tables are not there yet
        return 0


def test_a_batch_ingest_killed_midway_loses_nothing_and_resumes(
    tmp_path, corpus_dir, model_cache, embedder, make_settings
):
    folder = tmp_path / "incoming"
    folder.mkdir()
    for name in BATCH:
        shutil.copy(corpus_dir / name, folder / name)
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").symlink_to(model_cache)  # the exported model, not exported again
    settings = make_settings().model_copy(update={"data_dir": data})
    env = os.environ | {"CDMO_DATA_DIR": str(data), "CDMO_DATABASE_URL": settings.sqlalchemy_url}
    cdmo = Path(sys.executable).parent / "cdmo"
    process = subprocess.Popen(
        [str(cdmo), "ingest", str(folder)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    database = create_engine(settings.sqlalchemy_url)
    deadline = time.time() + 180
    while _stored(database) < 3 and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)  # no clean-up of any kind
    process.wait()
    stored_before = _stored(database)
    database.dispose()
    assert 3 <= stored_before < len(BATCH), "the kill came too late to test anything"

    corpus = Corpus(settings, embedder=embedder)
    try:
        docs = corpus.store.list_documents()
        assert len(docs) == stored_before
        for doc in docs:  # every stored document is whole: its pages and all its chunks
            detail = corpus.store.detail(doc.id)
            assert len(detail.pages) == doc.page_count and len(detail.chunks) == doc.chunk_count > 0
        uploads = [e for e in corpus.store.audit_entries(action="upload") if e.outcome == "added"]
        assert sorted(e.documents[0]["id"] for e in uploads) == sorted(d.id for d in docs)  # each with its entry
        assert corpus.store.verify_audit().ok
        report = check_consistency(corpus, repair=True)  # a kill between vector write and commit leaves orphans
        assert not report.missing_vectors  # vectors are written before the rows commit: never fewer
        assert check_consistency(corpus).consistent
        results = [ingest_path(corpus, load_portfolio(), folder / name) for name in BATCH]
        statuses = {r.filename: r.status for r in results}
        assert sum(s == IngestStatus.UNCHANGED for s in statuses.values()) == stored_before
        assert all(s in (IngestStatus.ADDED, IngestStatus.UNCHANGED) for s in statuses.values()), statuses
        assert len(corpus.store.list_documents()) == len(BATCH)
        assert check_consistency(corpus).consistent
    finally:
        corpus.close()


def test_drift_between_index_and_records_is_found_and_repaired(make_settings, embedder, corpus_dir):
    corpus = Corpus(make_settings(), embedder=embedder)
    try:
        for name in BATCH[3:5]:
            ingest_path(corpus, load_portfolio(), corpus_dir / name)
        dev031, dev038 = corpus.store.list_documents()
        chunks = corpus.store.detail(dev031.id).chunks
        lost = [c.id for c in chunks[:3]]
        corpus.vectors.delete_points(lost)
        stray = str(uuid.uuid4())
        corpus.vectors.upsert(
            [stray],
            np.ones((1, 384), dtype=np.float32),
            [ChunkPayload(document_id="gone", sites=[], programs=[], kind="other", date=0, status="current")],
        )
        corpus.vectors.set_status(dev038.id, DocumentStatus.SUPERSEDED)

        report = check_consistency(corpus)
        assert report.missing_vectors == sorted(lost) and report.orphan_points == [stray]
        assert set(report.wrong_status) == {c.id for c in corpus.store.detail(dev038.id).chunks}
        assert not report.repaired and not report.consistent

        repaired = check_consistency(corpus, repair=True)
        assert repaired.repaired and check_consistency(corpus).consistent
        hits = corpus.search("chromatography skid CS-401 stopped", limit=3)
        assert hits[0].document_id == dev038.id  # current again, so found again
    finally:
        corpus.close()


def test_a_document_committed_while_the_chunks_are_read_is_left_for_the_next_read(make_settings, corpus_dir):
    """Found by the load run: chat failed when a document was committed between the two reads behind the
    keyword statistics (documents, then chunks). It now waits for the next read."""
    from core.store import RecordStore
    from ingestion.pipeline import prepare

    settings = make_settings()
    store = RecordStore(settings.sqlalchemy_url)
    first, second = (corpus_dir / name for name in BATCH[3:5])
    store.add(prepare(first.name, first.read_bytes(), settings, load_portfolio()))
    arriving = prepare(second.name, second.read_bytes(), settings, load_portfolio())
    read_documents = store.list_documents

    def then_commit(*args, **kwargs):
        found = read_documents(*args, **kwargs)
        store.list_documents = read_documents
        store.add(arriving)  # lands between the two reads
        return found

    store.list_documents = then_commit
    seen = {d.id for _, d in store.iter_all_chunks()}
    assert seen == {d.id for d in read_documents()} - {arriving.document.id}
    assert arriving.document.id in {d.id for _, d in store.iter_all_chunks()}  # and in the next read
    store.engine.dispose()


def test_the_audit_trail_proves_itself_when_its_triggers_are_gone(make_settings):
    """Edits, deletions and a cut at the end, made straight in the database with the append-only triggers
    dropped (as only its administrator could), are each found by walking the hash chain."""
    from core.audit import audit_entry
    from core.auth import LOCAL
    from core.store import RecordStore

    store = RecordStore(make_settings().sqlalchemy_url)
    for n in range(6):
        store.audit(audit_entry(LOCAL, "question", detail={"question": f"question {n}"}))
    assert store.verify_audit().ok and store.verify_audit().chained == 6
    with store.engine.begin() as db:
        if store.engine.dialect.name == "postgresql":
            db.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            db.execute(text("DROP TRIGGER audit_log_no_update"))
            db.execute(text("DROP TRIGGER audit_log_no_delete"))
        db.execute(text("UPDATE audit_log SET actor = 'someone else' WHERE seq = 2"))
        db.execute(text("DELETE FROM audit_log WHERE seq = 4"))
        db.execute(text("DELETE FROM audit_log WHERE seq = 6"))
    problems = store.verify_audit().problems
    assert any("entry 2 (question by someone else) was changed" in p for p in problems), problems
    assert any("entries 4 to 4 of the chain are missing" in p for p in problems), problems
    assert any("cut from the end" in p for p in problems), problems
    store.engine.dispose()


def test_silent_damage_to_vectors_is_found_and_repaired(make_settings, embedder, corpus_dir):
    """Random bytes over the stored vectors: every request still answers, with the wrong passages; the check
    embeds a sample again, finds the damage, and the repair writes them anew."""
    settings = make_settings()
    corpus = Corpus(settings, embedder=embedder)
    for name in BATCH[3:6]:
        ingest_path(corpus, load_portfolio(), corpus_dir / name)
    query, expected = "chromatography skid CS-401 stopped", "DEV-2024-038_Chromatography_Skid_Downtime.docx"
    assert corpus.search(query, limit=1, mode=SearchMode.DENSE)[0].filename == expected
    corpus.close()
    for storage in settings.vectors_path.glob("segments/*/vector_storage/vectors/chunk_*.mmap"):
        size = storage.stat().st_size
        with storage.open("r+b") as f:  # keep the first bytes (a header), scramble the floats after them
            f.seek(64)
            f.write(np.random.default_rng(7).standard_normal((size - 64) // 4).astype(np.float32).tobytes())
    corpus = Corpus(settings, embedder=embedder)
    try:
        report = check_consistency(corpus)
        assert report.damaged_vectors and not report.consistent and report.vectors_checked == report.points
        repaired = check_consistency(corpus, repair=True)
        assert repaired.repaired and check_consistency(corpus).consistent
        assert corpus.search(query, limit=1, mode=SearchMode.DENSE)[0].filename == expected
    finally:
        corpus.close()


def test_an_index_that_cannot_be_read_is_reported_and_rebuilt(make_settings, embedder, corpus_dir, tmp_path):
    from retrieval.integrity import check_store

    settings = make_settings()
    corpus = Corpus(settings, embedder=embedder)
    for name in BATCH[3:5]:
        ingest_path(corpus, load_portfolio(), corpus_dir / name)
    chunks = corpus.store.counts()["chunks"]
    corpus.close()
    for segment in settings.vectors_path.glob("segments/*/segment.json"):
        segment.write_bytes(b"\x00garbage" * 40)
    with pytest.raises(Exception, match="cannot be read"):
        Corpus(settings, embedder=embedder)
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(settings)) as http:  # a server on the damaged store says so, in words
        health = http.get("/health")
        assert health.status_code == 503 and "cdmo check --repair" in health.json()["problems"][0]
        listed = http.get("/documents")
        assert listed.status_code == 503 and "cannot be read" in listed.json()["detail"]
    seen = check_store(settings)
    assert seen.unreadable and "cdmo check --repair" in seen.unreadable and not seen.consistent
    rebuilt = check_store(settings, repair=True)
    assert rebuilt.repaired and rebuilt.rebuilt_from and Path(rebuilt.rebuilt_from).exists()
    corpus = Corpus(settings, embedder=embedder)
    try:
        assert check_consistency(corpus).consistent and corpus.vectors.count() == chunks
        assert corpus.search("chromatography skid CS-401 stopped", limit=1)[0].filename.startswith("DEV-2024-038")
    finally:
        corpus.close()
