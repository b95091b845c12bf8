"""Every kind of bad file gets an error naming the file and the reason, and nothing stored changes."""

import pytest

from api.ingest import ingest_bytes
from core.documents import IngestStatus
from tests.bad_files import corrupt_pdf, docx_bomb, encrypted_pdf

QTA = "QA-NGB-HB-002_Quality_Agreement_Northgate_Rev3.pdf"


@pytest.fixture
def seeded(empty_corpus, portfolio, corpus_dir):
    """A corpus holding one good document, and a snapshot of what is stored."""
    good = corpus_dir / "NC-2024-0112_Stellaris_Batch_Record_Discrepancy.pdf"
    assert ingest_bytes(empty_corpus, portfolio, good.name, good.read_bytes()).status == IngestStatus.ADDED

    def snapshot():
        return empty_corpus.store.counts(), empty_corpus.vectors.count(), empty_corpus.store.generation()

    return empty_corpus, snapshot, snapshot()


def bad_inputs(corpus_dir):
    qta = corpus_dir / QTA
    return {
        "encrypted.pdf": (encrypted_pdf(qta), "encrypted"),
        "broken.pdf": (corrupt_pdf(qta), "corrupt or unreadable PDF"),
        "empty.pdf": (b"", "file is empty"),
        "blank.txt": (b"   \n\n  ", "no text"),
        "tool.exe": (b"MZ\x90\x00\x03\x00\x00\x00" + bytes(range(256)) * 4, "unsupported file type"),
        "notes.xyz": (b"plain words in an unknown format", "unsupported file type"),
        "fake.pdf": (b"this is not a pdf at all", "not a PDF"),
        "fake.docx": ((corpus_dir / QTA).read_bytes(), "content is a PDF file but the name says DOCX"),
        "bomb.docx": (docx_bomb(), "ZIP bomb"),
        "../../etc/passwd.txt": (b"root:x:0:0", "path components"),
        "..\\evil.txt": (b"text", "path components"),
        "nul\x00name.txt": (b"text", "control characters"),
    }


BAD_NAMES = [
    "encrypted.pdf", "broken.pdf", "empty.pdf", "blank.txt", "tool.exe", "notes.xyz", "fake.pdf", "fake.docx",
    "bomb.docx", "../../etc/passwd.txt", "..\\evil.txt", "nul\x00name.txt",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_file_is_refused_by_name_and_nothing_changes(seeded, portfolio, corpus_dir, name):
    corpus, snapshot, before = seeded
    data, reason = bad_inputs(corpus_dir)[name]
    result = ingest_bytes(corpus, portfolio, name, data)
    assert result.status == IngestStatus.FAILED
    assert reason.lower() in result.error.lower(), result.error
    assert result.filename  # the error names the file
    assert name.split("/")[-1].split("\\")[-1].replace("\x00", "") in result.filename.replace("\\x00", "")
    assert snapshot() == before


def test_oversized_file_is_refused_before_parsing(make_settings, embedder, portfolio, corpus_dir):
    from retrieval.corpus import Corpus

    corpus = Corpus(make_settings(max_file_bytes=1000), embedder=embedder)
    try:
        qta = corpus_dir / QTA
        result = ingest_bytes(corpus, portfolio, qta.name, qta.read_bytes())
        assert result.status == IngestStatus.FAILED
        assert "over the 1,000-byte limit" in result.error and result.filename == qta.name
        assert corpus.store.counts()["documents"] == 0
    finally:
        corpus.close()


def test_failure_while_indexing_rolls_the_whole_document_back(seeded, portfolio, corpus_dir):
    """The vector engine fails mid-write: no rows, no vectors, and the earlier document is untouched."""
    corpus, snapshot, before = seeded
    real_upsert = corpus.vectors.upsert

    def upsert_then_fail(ids, vectors, payloads):
        real_upsert(ids[:1], vectors[:1], payloads[:1])  # part of the document reaches the index
        raise OSError("disk full")

    corpus.vectors.upsert = upsert_then_fail
    path = corpus_dir / "DEV-2024-031_Investigation_Report.pdf"
    result = ingest_bytes(corpus, portfolio, path.name, path.read_bytes())
    corpus.vectors.upsert = real_upsert
    assert result.status == IngestStatus.FAILED and "disk full" in result.error
    assert snapshot() == before
    # and the same file goes in cleanly afterwards
    assert ingest_bytes(corpus, portfolio, path.name, path.read_bytes()).status == IngestStatus.ADDED


def test_pdf_locked_only_by_an_owner_password_is_read(empty_corpus, portfolio, corpus_dir):
    locked = encrypted_pdf(corpus_dir / QTA, user_password="")
    result = ingest_bytes(empty_corpus, portfolio, "locked.pdf", locked)
    assert result.status == IngestStatus.ADDED and result.kind == "qta" and result.pages == 3
