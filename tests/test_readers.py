"""Readers that rest on structure, position and sentence roles: kinds, record and batch numbers, date roles,
weakness flags and QTA elements, on documents of another sponsor (eval/readers) read through the real
pipeline (rendered PDF/DOCX/EML files, parsed, classified, stored, triaged)."""

from datetime import date
from pathlib import Path

import pytest

from core.config import Settings
from core.dates import first_date
from core.documents import DocumentKind, FileType, Page, ParsedDocument
from core.identifiers import batch_ids, record_ids, title_record_ids
from core.portfolio import Portfolio, load_portfolio
from eval.extraction import load_store
from eval.readers import SETS, render_sources
from extraction.service import Extractor, source_of
from ingestion.classify import _decide, classify
from ingestion.metadata import extract_metadata

DEVELOPMENT = SETS[0]


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    """The development set in a record store, read with its sponsor's portfolio."""
    work = tmp_path_factory.mktemp("readers")
    settings = Settings(data_dir=work / "data", portfolio_path=DEVELOPMENT[3])
    settings.data_dir.mkdir()
    store = load_store(render_sources(DEVELOPMENT[2], work / "files"), settings)
    extractor = Extractor(settings, store, load_portfolio(settings.portfolio_path))
    yield store, extractor
    store.engine.dispose()


def _detail(store, filename: str):
    (doc,) = [d for d in store.list_documents(include_superseded=True) if d.filename == filename]
    return store.detail(doc.id)


def _parsed(title: str, text: str) -> ParsedDocument:
    return ParsedDocument(file_type=FileType.PDF, title=title, pages=[Page(number=1, text=text)], blocks=[])


# --- kinds -----------------------------------------------------------------------------------------------


def test_a_title_that_names_another_kind_does_not_decide_it(dev):
    store, _ = dev
    report = _detail(store, "QE-2025-00412_Deviation_Report.pdf")  # "... in batch record"
    assert report.kind == DocumentKind.DEVIATION_REPORT
    assert report.metadata.kind_confidence >= 0.6
    assert report.metadata.kind_reasons[0] == "title leads with 'Deviation'"
    assert any("reads like its examples" in r for r in report.metadata.kind_reasons)


def test_documents_about_a_kind_are_not_that_kind(dev):
    store, _ = dev
    sop = _detail(store, "SOP-QA-014_Handling_of_Deviations.docx")
    letter = _detail(store, "FDA_Warning_Letter_320-26-110_Tianjin_Kilo.html")  # "deviations" throughout
    guide = _detail(store, "Guidance_Note_Annual_Quality_Agreement_Review.docx")
    assert (sop.kind, guide.kind) == (DocumentKind.OTHER,) * 2 and letter.kind == DocumentKind.REGULATORY_LETTER
    assert sop.metadata.kind_reasons[0] == "reads as a procedure"
    assert letter.metadata.kind_reasons[0] == "title leads with 'WARNING LETTER'"


def test_two_letters_with_the_same_generic_title_stay_two_documents(dev):
    store, _ = dev
    current = {d.filename for d in store.list_documents()}
    assert {"FDA_Warning_Letter_320-26-110_Tianjin_Kilo.html", "FDA_Warning_Letter_Genzyme_Ireland_CBER-26-728681.html"} <= current


def test_kinds_by_structure_when_the_title_says_nothing():
    minutes = _parsed("Tuesday", "Attendees: A. Lee, B. Ng\nApologies: C. Diaz\nAgenda\nActions\nLee to send the plan")
    record = _parsed("Line 3", "Step | Instruction | Performed by | Verified by\n1 | Clear the line | AB | CD\nYield 98 %")
    assert classify(minutes).kind == DocumentKind.MEETING_MINUTES
    assert classify(record).kind == DocumentKind.BATCH_RECORD
    unclear = classify(_parsed("Item 17", "Some text with nothing to go on."))
    assert unclear.kind == DocumentKind.OTHER and unclear.reasons == ["no kind of document recognised"]


def test_an_unsure_reading_that_looks_like_an_investigation_is_triaged_and_says_so():
    body = "1 Investigation\nThe pump failed.\n2 Root cause\nWear.\n3 Impact\nNone."
    reading = _decide({"capa": 10.0, "deviation_report": 8.0}, {"capa": [(10.0, "x")], "deviation_report": []}, body)
    assert reading.kind == DocumentKind.DEVIATION_REPORT
    assert reading.reasons[0].startswith("unsure between capa and deviation_report")
    sure = _decide({"capa": 30.0, "deviation_report": 8.0}, {"capa": [(30.0, "x")], "deviation_report": []}, body)
    assert sure.kind == DocumentKind.CAPA


# --- record and batch numbers ------------------------------------------------------------------------------


def test_record_numbers_by_label_and_record_word_whatever_their_shape():
    text = (
        "Deviation number: 2025/0077. The firm cancelled deviation PR 256484. Audit No. CVA-2025-07. "
        "Warning Letter 320-26-81. Laboratory Investigation OOS/MBA/25/014. Quality event QE-2025-00519."
    )
    assert record_ids(text) == ["2025/0077", "PR 256484", "CVA-2025-07", "320-26-81", "OOS/MBA/25/014",
                                "QE-2025-00519"]  # fmt: skip


def test_equipment_tags_programs_and_words_after_labels_are_not_record_numbers():
    text = ("Cold room CR-02, lyophiliser LY-03, bioreactor BR-2000-1, vessel V-101, valve TCV-201. "
            "Notification of Change NOC-2025-031. Deviation class: Major. Step 14.2. Investigations are concluded.")  # fmt: skip
    assert record_ids(text) == ["NOC-2025-031"]
    assert record_ids("EQ-HFF-2026-009 and CN-CB-2026-017 were closed; batch NVK-DS-24017 is released.") == [
        "EQ-HFF-2026-009", "CN-CB-2026-017"]  # fmt: skip
    assert title_record_ids("Specification - LM-201 Drug Product - SPEC-LM201-DP-03") == ["SPEC-LM201-DP-03"]


def test_batch_numbers_by_label_column_and_shape():
    text = (
        "Lot No. | 5K0917\nBatch | Vials capped\n5K0702 | 4,790\n5K0705 | 4,805\n\n"
        "Batches TRL-DS-25050 to TRL-DS-25054 were made. Batch TRL-DS-25031 was released; TRL-DS-25044 is next. "
        "Lot F4495, 312 vials, in 2025."
    )
    assert batch_ids(text) == ["5K0917", "5K0702", "5K0705", "TRL-DS-25050", "TRL-DS-25054", "TRL-DS-25031",
                               "TRL-DS-25044", "F4495"]  # fmt: skip


def test_a_sponsor_configures_its_own_prefixes_and_batch_patterns():
    portfolio = Portfolio.model_validate({
        "sponsor": "Nordvik Therapeutics", "programs": [],
        "sites": [{"id": "HFF", "name": "Hafen Fill", "cdmo": "Hafen", "location": "Kiel", "roles": ["drug_product"],
                   "record_prefixes": ["EQ-HFF", "CN-CB"], "batch_patterns": [r"NVK-DS-\d{5}"]}],
    })  # fmt: skip
    parsed = _parsed("Weekly summary", "EQ-HFF-009 and CN-CB-017 were discussed for NVK-DS-24017.")
    plain = extract_metadata(parsed, Portfolio(sponsor="X", sites=[], programs=[]))
    configured = extract_metadata(parsed, portfolio)
    assert plain.batch_ids == [] and plain.document_ids == []  # no label, no year: not recognisable alone
    assert configured.document_ids == ["EQ-HFF-009", "CN-CB-017"]
    assert configured.batch_ids == ["NVK-DS-24017"]


# --- dates and their roles ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "day"), [
    ("06.10.2025", date(2025, 10, 6)), ("14/07/2025", date(2025, 7, 14)), ("07/14/2025", date(2025, 7, 14)),
    ("2 Sept. 2025", date(2025, 9, 2)), ("Nov 17, 2025", date(2025, 11, 17)), ("2025-12-09", date(2025, 12, 9)),
])  # fmt: skip
def test_dates_in_european_american_and_iso_forms(text, day):
    assert first_date(f"on {text} the") == day


def test_a_late_notification_written_in_prose_is_flagged_with_its_sentence_and_clause(dev):
    store, extractor = dev
    event = extractor.triage(source_of(_detail(store, "QE-2025-00412_Deviation_Report.pdf")))
    assert (event.dates.occurred, event.dates.detected, event.dates.reported) == (
        date(2025, 3, 3), date(2025, 3, 5), date(2025, 3, 12))  # fmt: skip
    (late,) = [f for f in event.flags if f.code.value == "notified_late"]
    assert "5 business days after detection" in late.reason and "three business days" in late.reason
    quotes = [e.quote for e in late.evidence]
    assert "notified by e-mail on 12 March 2025" in " ".join(quotes[0].split())
    assert "major deviations within three business days" in " ".join(quotes[1].split())
    assert "was found on 5 March 2025" in " ".join(quotes[-1].split())  # the date the clock starts from


def test_dates_from_labels_tables_and_the_sentence_before(dev):
    store, extractor = dev
    lyo = extractor.triage(source_of(_detail(store, "EQ-HPS-2025-009_Lyophiliser_Downtime.docx")))
    assert (lyo.dates.reported, lyo.dates.closed) == (date(2025, 10, 8), date(2025, 11, 21))  # "Client informed | 08.10.2025"
    assert "closed_late" in {f.code.value for f in lyo.flags} and lyo.status == "closed"
    chronology = extractor.triage(source_of(_detail(store, "Deviation_Report_HPS-D-25-0140_Particles.pdf")))
    assert (chronology.dates.detected, chronology.dates.reported) == (date(2025, 12, 9), date(2025, 12, 15))
    bioreactor = extractor.triage(
        source_of(_detail(store, "Investigation_Report_Bioreactor_Temperature_TRL-DS-25047.pdf"))
    )
    assert bioreactor.dates.detected == date(2025, 6, 11)  # "detected ... at 23:35 the same evening"
    assert bioreactor.dates.reported == date(2025, 6, 12)  # the first notification, not the written one
    assert bioreactor.classification.value == "critical"  # "We classified the event as critical"


def test_deadlines_have_no_role_and_what_was_not_read_is_said(dev):
    store, extractor = dev
    capa = extractor.triage(source_of(_detail(store, "OOT-25-006_Acidic_Variants_5K0411.docx")))
    assert capa.dates.occurred is None and capa.dates.closed is None
    assert "when it occurred: no date found" in capa.reading_notes
    report = extractor.triage(source_of(_detail(store, "QE-2025-00412_Deviation_Report.pdf")))
    assert report.dates.closed is None  # "due 30 April 2025" is a deadline, not a closure


def test_conflicting_dates_are_reported_not_chosen_silently(tmp_path):
    from eval.readers import render_sources as render

    source = tmp_path / "src"
    source.mkdir()
    (source / "conflict.md").write_text(
        "---\noutput: DEV-2025-900_Conflict.docx\nformat: docx\ntitle: Deviation DEV-2025-900 - Torn label\n---\n"
        "# Deviation DEV-2025-900 - Torn label\n\nDetected: 5 March 2025\n\n## Description\n\n"
        "The torn label was detected on 7 March 2025 at packaging.\n",
        encoding="utf-8",
    )
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir()
    store = load_store(render(source, tmp_path / "files"), settings)
    try:
        extractor = Extractor(settings, store, load_portfolio(None))
        event = extractor.triage(source_of(store.detail(store.list_documents()[0].id)))
        assert event.dates.detected == date(2025, 3, 5)
        assert "when it was detected: 05 March 2025 is used; the report also gives 07 March 2025 for it" in event.reading_notes
    finally:
        store.engine.dispose()


# --- weakness flags and QTA elements by meaning -----------------------------------------------------------


def test_an_element_under_an_unfamiliar_heading_is_found_by_meaning_and_says_so(dev):
    store, extractor = dev
    review = extractor.review_qta(source_of(_detail(store, "Halden_Quality_Assurance_Agreement_2025.pdf")))
    batch_records = next(f for f in review.findings if f.element_id == "batch_records")
    assert batch_records.status.value == "vague"  # "Manufacturing documentation ... with each batch"
    assert 'section "8. Manufacturing documentation" read as batch records by meaning' in batch_records.reason


def test_without_the_meaning_signal_that_element_is_missed(dev, tmp_path):
    store, _ = dev
    settings = Settings(data_dir=tmp_path, portfolio_path=DEVELOPMENT[3], reading_meaning=False)
    cues_only = Extractor(settings, store, load_portfolio(settings.portfolio_path))
    detail = _detail(store, "Halden_Quality_Assurance_Agreement_2025.pdf")
    batch_records = next(f for f in cues_only.review_qta(source_of(detail)).findings if f.element_id == "batch_records")
    assert batch_records.status.value == "missing"


def test_a_flag_says_which_signal_found_it(dev):
    store, extractor = dev
    oos = extractor.triage(source_of(_detail(store, "OOS-MBA-25-014_Relative_Potency.pdf")))
    signals = {f.code.value: f.signal for f in oos.flags}
    assert signals["probable_cause_without_data"] == "cue"  # "most likely due to"
    assert signals["notified_late"] == "rules"


def test_the_eval_sets_are_consistent():
    import yaml

    for _, gold_path, sources, portfolio in SETS:
        gold = yaml.safe_load(gold_path.read_text(encoding="utf-8"))["documents"]
        outputs = {yaml.safe_load(p.read_text(encoding="utf-8").split("---\n")[1])["output"] for p in sources.glob("*.md")}
        assert set(gold) == outputs
        assert load_portfolio(Path(portfolio)).sites


# --- numbers known once are known everywhere -------------------------------------------------------------


def _html(title: str, body: str) -> bytes:
    return f"<html><head><title>{title}</title></head><body><h1>{title}</h1><p>{body}</p></body></html>".encode()


@pytest.mark.every_store
def test_a_record_number_learnt_from_one_document_is_recognised_in_the_others(make_settings):
    from core.store import RecordStore
    from ingestion.pipeline import prepare

    settings = make_settings()
    store = RecordStore(settings.sqlalchemy_url)
    portfolio = load_portfolio(None)

    def add(name: str, title: str, body: str):
        placement = store.next_version(prepare(name, _html(title, body), settings, portfolio))
        store.add(placement.prepared)
        return placement.prepared.document.id

    try:
        earlier = add("notes.html", "Weekly notes", "1. KQ 5531 is still open; the pump was repaired.")
        assert "KQ 5531" not in store.detail(earlier).metadata.document_ids  # no label: not a number yet
        report = add("kq.html", "Deviation KQ 5531 - Pump seal leak", "The seal of pump P-3 leaked.")
        assert store.detail(report).metadata.document_ids[0] == "KQ 5531"
        assert "KQ 5531" in store.detail(earlier).metadata.document_ids  # learnt, and added to the notes
        later = add("later.html", "Monthly review", "KQ 5531 was closed on time. KQ 55310 is another matter.")
        assert store.detail(later).metadata.document_ids == ["KQ 5531"]
    finally:
        store.engine.dispose()


@pytest.mark.every_store
def test_a_store_from_before_the_mentions_table_still_learns_numbers_in_its_old_documents(make_settings):
    """The documents naming a number are found by an index of their tokens; a store made before that index
    existed has it filled from its passages when it is opened."""
    from sqlalchemy import text

    from core.store import RecordStore
    from ingestion.pipeline import prepare

    settings, portfolio = make_settings(), load_portfolio(None)
    store = RecordStore(settings.sqlalchemy_url)

    def add(name: str, title: str, body: str):
        placement = store.next_version(prepare(name, _html(title, body), settings, portfolio))
        store.add(placement.prepared)
        return placement.prepared.document.id

    earlier = add("notes.html", "Weekly notes", "1. KQ 5531 and PX-77-0412 are still open.")
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE number_mentions"))  # as a store from before the table was
    store.engine.dispose()
    store = RecordStore(settings.sqlalchemy_url)
    try:
        add("kq.html", "Deviation KQ 5531 - Pump seal leak", "The seal of pump P-3 leaked.")
        add("px.html", "Deviation PX-77-0412 - Torn glove", "A glove tore during the fill.")
        assert {"KQ 5531", "PX-77-0412"} <= set(store.detail(earlier).metadata.document_ids)
    finally:
        store.engine.dispose()
