"""DOCX, EML, HTML and Markdown parse with the network refused: unstructured's spaCy model is installed."""

import socket

import pytest

from core.config import Settings
from core.documents import FileType
from ingestion.pipeline import prepare


def test_the_network_really_is_refused():
    from tests.conftest import NetworkAccessError

    with pytest.raises(NetworkAccessError):
        socket.create_connection(("203.0.113.7", 443), timeout=1)


def test_spacy_model_comes_from_an_installed_package():
    import spacy

    assert spacy.util.is_package("en_core_web_sm")
    from unstructured.nlp.tokenize import sent_tokenize

    assert sent_tokenize("Batch 24-017 was held. QA was told.") == ["Batch 24-017 was held.", "QA was told."]


@pytest.mark.parametrize(
    "name, file_type",
    [
        ("Stellaris_QTA_Halvorsen_v1.docx", FileType.DOCX),
        ("Quantix_weekly_call_2024-10-15.eml", FileType.EML),
        ("AUD-2024-03_Audit_Report_Stellaris_Monza.html", FileType.HTML),
    ],
)
def test_structured_formats_parse_offline(corpus_dir, portfolio, name, file_type):
    p = prepare(name, (corpus_dir / name).read_bytes(), Settings(), portfolio)
    assert p.document.file_type == file_type
    assert len(p.chunks) >= 3


def test_markdown_and_plain_text(portfolio):
    md = b"# CAPA Record CAPA-2024-077\n\nOwner: QA. Due 3 March 2025.\n\n## Effectiveness check\n\n- Review 20 batches.\n"
    p = prepare("capa.md", md, Settings(), portfolio)
    assert p.document.kind == "capa" and p.document.file_type == FileType.MARKDOWN
    assert "CAPA-2024-077" in p.document.metadata.document_ids
    txt = prepare("note.txt", b"DEVIATION REPORT DEV-2025-001\nBatch 25-002 held at Northgate.\n", Settings(), portfolio)
    assert txt.document.metadata.sites == ["NGB-CORK"] and txt.document.metadata.batch_ids == ["25-002"]
