"""The sample corpus: every kind the issue asks for, in real formats, the same bytes on every build."""

import hashlib
from collections import Counter

from fixtures.build_corpus import build
from tests.test_ingestion import TRUTH


def test_two_builds_are_byte_identical(corpus_dir, tmp_path):
    """So `make run` twice re-ingests nothing."""
    again = {p.name: p.read_bytes() for p in build(tmp_path)}
    for name, data in again.items():
        assert hashlib.sha256(data).digest() == hashlib.sha256((corpus_dir / name).read_bytes()).digest(), name


def test_corpus_covers_every_kind_and_format(corpus_dir):
    kinds = Counter(t["kind"] for t in TRUTH.values())
    assert kinds["qta"] >= 3 and kinds["batch_record"] >= 3 and kinds["meeting_minutes"] >= 4
    assert kinds["deviation_report"] + kinds["oos_investigation"] >= 6
    assert kinds["change_control"] >= 1 and kinds["audit_report"] >= 1
    formats = Counter(p.suffix for p in corpus_dir.iterdir())
    assert {".pdf", ".docx", ".eml", ".html"} <= set(formats)
    minutes = {n.rsplit(".", 1)[1] for n, t in TRUTH.items() if t["kind"] == "meeting_minutes"}
    assert minutes == {"docx", "eml"}
    sites = {t["sites"][0] for t in TRUTH.values()}
    assert len(sites) >= 3
