"""Parsing, kind and metadata detection, and chunking, checked on every file of the sample corpus."""

from datetime import date
from pathlib import Path

import pytest
import yaml

from core.config import Settings
from core.documents import BlockKind
from ingestion.pipeline import prepare

TRUTH = yaml.safe_load((Path(__file__).parents[1] / "fixtures" / "ground_truth.yaml").read_text())["documents"]


@pytest.fixture(scope="module")
def prepared(corpus_dir):
    from core.portfolio import load_portfolio

    settings, portfolio = Settings(), load_portfolio()
    return {p.name: prepare(p.name, p.read_bytes(), settings, portfolio) for p in sorted(corpus_dir.iterdir())}


def test_ground_truth_covers_the_whole_corpus(prepared):
    assert set(prepared) == set(TRUTH)


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_kind_and_metadata_match_ground_truth(prepared, name):
    doc, truth = prepared[name].document, TRUTH[name]
    assert doc.kind.value == truth["kind"]
    assert set(truth["sites"]) <= set(doc.metadata.sites)
    assert doc.metadata.sites[0] == truth["sites"][0], "the document's own site comes first"
    assert set(truth["programs"]) <= set(doc.metadata.programs)
    assert set(truth.get("batch_ids", [])) <= set(doc.metadata.batch_ids)
    assert set(truth.get("document_ids", [])) <= set(doc.metadata.document_ids)
    assert doc.metadata.document_date == truth["document_date"]


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_every_chunk_is_an_exact_span_of_one_page(prepared, name):
    p = prepared[name]
    pages = {page.number: page.text for page in p.pages}
    assert p.chunks, name
    for chunk in p.chunks:
        assert chunk.page in pages
        assert pages[chunk.page][chunk.start : chunk.end] == chunk.text
        assert chunk.text.strip() == chunk.text and chunk.text


def test_pdf_pages_keep_their_numbers(prepared):
    bpr = prepared["BPR_HB-101_DS_24-017.pdf"]
    assert [p.number for p in bpr.pages] == [1, 2, 3]
    harvest = next(c for c in bpr.chunks if "Harvest and clarification" in c.text)
    assert harvest.page == 2


def test_small_tables_stay_whole_with_their_heading(prepared):
    bpr = prepared["BPR_HB-101_DS_24-017.pdf"]
    table_chunks = [c for c in bpr.chunks if "Culture day" in c.text]
    assert len(table_chunks) == 1
    rows = [line for line in table_chunks[0].text.splitlines() if line.strip()[:2].strip().isdigit()]
    assert len(rows) == 15, "all 15 culture days in one chunk"
    assert "Section 2" in table_chunks[0].text and table_chunks[0].block_kind == BlockKind.TABLE
    docx_matrix = [c for c in prepared["Stellaris_QTA_Halvorsen_v1.docx"].chunks if "Lot certification (QP)" in c.text]
    assert len(docx_matrix) == 1 and "Final release for supply | - | Responsible" in docx_matrix[0].text


def test_chunks_follow_numbered_clauses(prepared):
    qta = prepared["QA-NGB-HB-002_Quality_Agreement_Northgate_Rev3.pdf"]
    sections = {c.section for c in qta.chunks}
    for heading in ("5. Change Control", "6. Deviations and Out-of-Specification Results", "14. Subcontracting"):
        assert heading in sections
    change = [c for c in qta.chunks if c.section == "5. Change Control"]
    assert any("90 calendar days" in c.text for c in change)


def test_running_heads_are_not_chunks(prepared):
    for p in prepared.values():
        for chunk in p.chunks:
            assert not chunk.text.startswith("NORTHGATE BIOLOGICS LTD - EXECUTED BATCH RECORD\n") or len(
                chunk.text.split()
            ) > 10


def test_email_headers_give_title_and_date(prepared):
    mail = prepared["Northgate_weekly_ops_call_2024-10-08.eml"]
    assert mail.document.title.startswith("Minutes - HB-101/HB-240 weekly operations call")
    assert mail.pages[0].text.startswith("Subject: Minutes")
    assert mail.document.metadata.document_date == date(2024, 10, 8)


def test_document_keys_identify_versions_not_mentions(prepared):
    keys = {name: p.document.document_key for name, p in prepared.items()}
    assert len(set(keys.values())) == len(keys), "no two sample documents may share a key"
    assert keys["OOS-24-007_SEC_Purity_Veltrusimab_DS_24-019.pdf"] == "oos_investigation:OOS-24-007"
    assert keys["BPR_HB-101_DS_24-017.pdf"] == "batch_record:24-017"
    assert keys["Quantix_weekly_call_2024-10-15.eml"].startswith("email:")


def test_a_count_after_a_lot_number_is_not_a_batch():
    from core.identifiers import batch_ids

    assert batch_ids("During inspection of lot F4495, 312 vials showed creased crimps") == ["F4495"]
    assert batch_ids("batches 24-015 and 24-016") == ["24-015", "24-016"]
