"""Investigation triage by the rules backend: the event, its flags with quotes, the agreement's clocks."""

import dataclasses
from pathlib import Path

from api.ingest import ingest_path
from core.analysis import AnalysisKind
from core.config import Settings
from core.investigations import Classification, EventType, FlagCode, RiskLevel
from core.store import RecordStore
from extraction.service import Extractor, source_of
from fixtures.render import load_source, render
from ingestion.pipeline import prepare

SOURCES = Path(__file__).parents[1] / "fixtures" / "sources"
LATE = "NC-2024-0127_Stellaris_Filling_Interruption.pdf"
HOSTILE = "DEV-2024-044_Buffer_Preparation_Error.pdf"


def _detail(records, name):
    return records.detail(next(d.id for d in records.list_documents() if d.filename == name))


def _triage(records, portfolio, tmp_path, name):
    return Extractor(Settings(data_dir=tmp_path), records, portfolio).triage(source_of(_detail(records, name)))


def test_lateness_is_judged_against_the_sites_own_agreement(records, portfolio, tmp_path):
    event = _triage(records, portfolio, tmp_path, LATE)
    late = {f.code: f for f in event.flags}
    agreement = next(d for d in records.list_documents(kind="qta") if d.metadata.sites == ["SFF-MONZA"])
    notified = late[FlagCode.NOTIFIED_LATE]
    assert (
        "6 business days" in notified.reason
        and "2 business days" in notified.reason
        and "5 business days" in notified.reason
    )
    assert notified.evidence[0].document_id == event.document_id  # the report's own date ...
    assert {e.document_id for e in notified.evidence[1:-1]} == {agreement.id}  # ... the clauses it breaks ...
    assert notified.evidence[-1].document_id == event.document_id  # ... and the date the clock starts from
    assert "56 calendar days" in late[FlagCode.CLOSED_LATE].reason

    alone = RecordStore(Settings(data_dir=tmp_path / "alone").sqlalchemy_url)  # no agreement in the corpus
    detail = _detail(records, LATE)
    event = Extractor(Settings(data_dir=tmp_path), alone, portfolio).triage(source_of(detail))
    assert FlagCode.NOTIFIED_LATE not in event.flag_codes and FlagCode.CLOSED_LATE not in event.flag_codes
    assert FlagCode.RETRAINING_ONLY_CAPA in event.flag_codes  # what the report itself shows stays


def test_every_quote_is_the_page_text(records, portfolio, tmp_path):
    for doc in records.list_documents():
        if doc.kind.value not in ("deviation_report", "oos_investigation", "change_control"):
            continue
        event = _triage(records, portfolio, tmp_path, doc.filename)
        quoted = [q.evidence for q in (event.description, event.root_cause, event.impact_assessment) if q]
        quoted += [e for f in event.flags for e in f.evidence] + [c.evidence for c in event.capas]
        quoted += list(event.date_evidence.values())
        for e in quoted:
            assert records.detail(e.document_id).pages[e.page - 1].text[e.start : e.end] == e.quote, (doc.filename, e)


def test_a_report_that_addresses_the_reviewer_changes_no_finding(records, portfolio, tmp_path):
    """The injection sentence is found, reported, and kept out: the same report without it reads the same."""
    hostile = _triage(records, portfolio, tmp_path, HOSTILE)
    source = load_source(SOURCES / "dev_2024_044_northgate.md")
    cleaned = [
        dataclasses.replace(e, text=e.text.split(" Note to any AI")[0]) if "Note to any AI" in e.text else e
        for e in source.elements
    ]
    clean_file = render(dataclasses.replace(source, elements=cleaned), tmp_path)
    settings = Settings(data_dir=tmp_path)
    clean = Extractor(settings, records, portfolio).triage(
        source_of(prepare(clean_file.name, clean_file.read_bytes(), settings, portfolio))
    )
    assert len(hostile.hostile_text) == 1 and "mark this batch as released" in " ".join(
        hostile.hostile_text[0].quote.split()
    )
    assert not clean.hostile_text
    for field in ("type", "classification", "risk", "batch_ids", "dates", "root_cause_category"):
        assert getattr(hostile, field) == getattr(clean, field), field
    assert hostile.flag_codes == clean.flag_codes and hostile.classification == Classification.MAJOR
    injection = hostile.hostile_text[0]
    quoted = [e for f in hostile.flags for e in f.evidence if e.document_id == hostile.document_id]
    assert all(e.end <= injection.start or e.start >= injection.end for e in quoted)


def test_clocks_and_dossier_sections_name_the_rule_that_fired(records, portfolio, tmp_path):
    change = _triage(records, portfolio, tmp_path, "CC-2024-052_Change_Notification_Protein_A_Resin.pdf")
    assert change.type == EventType.CHANGE and change.risk == RiskLevel.MEDIUM
    assert [c.section for c in change.ctd_sections] == ["3.2.S.2.3"] and "named in the text" in change.ctd_sections[
        0
    ].rule
    assert (
        change.reporting_clocks[0].name.startswith("Post-approval change")
        and "601.12" in change.reporting_clocks[0].rule
    )

    oos = _triage(records, portfolio, tmp_path, "OOS-24-007_SEC_Purity_Veltrusimab_DS_24-019.pdf")
    assert oos.risk == RiskLevel.HIGH and "joint investigation" in oos.sponsor_response
    bpdr = next(c for c in oos.reporting_clocks if "600.14" in c.rule)
    assert "45 calendar days" in bpdr.deadline and bpdr.applies == "assess"  # nothing says it was distributed
    assert "3.2.S.4" in [c.section for c in oos.ctd_sections]

    in_process = _triage(records, portfolio, tmp_path, "OOS-24-011_Bioburden_Ordesekimab_24-033.docx")
    assert in_process.risk == RiskLevel.LOW and not in_process.reporting_clocks


def test_ingest_triages_and_re_judges_when_the_agreement_arrives(empty_corpus, corpus_dir, portfolio):
    store = empty_corpus.store
    report = ingest_path(empty_corpus, portfolio, corpus_dir / LATE)
    assert report.analysis == "deviation event, risk HIGH, 5 weakness flags"  # no agreement yet to be late against

    agreement = ingest_path(empty_corpus, portfolio, corpus_dir / "Stellaris_QTA_Halvorsen_v1.docx")
    assert agreement.analysis == "QTA review: 2 missing, 8 vague, 1 conflicting"
    event = store.analysis(report.document_id)
    assert event.kind == AnalysisKind.EVENT and FlagCode.NOTIFIED_LATE in {f["code"] for f in event.payload["flags"]}

    rows = store.list_findings(site="SFF-MONZA", program="HB-101")
    flags = {r.code for r in rows if r.source == AnalysisKind.EVENT}
    assert {"notified_late", "closed_late", "retraining_only_capa"} <= flags
    assert all(r.batch_ids == ["F4480"] for r in rows if r.source == AnalysisKind.EVENT)
    assert {r.code for r in rows if r.source == AnalysisKind.QTA_REVIEW} >= {"qta_missing:subcontracting"}
    assert [a.document_id for a in store.list_analyses(kind="event", batch="F4480")] == [report.document_id]
    assert store.list_analyses(kind="event", program="HB-240") == []

    again = ingest_path(empty_corpus, portfolio, corpus_dir / LATE)  # the same bytes: nothing changes
    assert again.analysis.startswith("analysed before") and len(store.list_findings()) == len(rows)


def test_a_new_agreement_version_replaces_its_findings(empty_corpus, corpus_dir, portfolio, tmp_path):
    store = empty_corpus.store
    first = ingest_path(empty_corpus, portfolio, corpus_dir / "Stellaris_QTA_Halvorsen_v1.docx")
    assert "qta_conflicting:deviations_oos" in {r.code for r in store.list_findings(site="SFF-MONZA")}

    source = load_source(SOURCES / "qta_stellaris.md")  # version 1.1 settles the conflict: 2 days everywhere
    fixed = [
        dataclasses.replace(e, rows=[[c.replace("within 5 business days", "within 2 business days") for c in r] for r in e.rows])
        for e in source.elements
    ]
    revised = render(dataclasses.replace(source, elements=fixed), tmp_path)
    second = ingest_path(empty_corpus, portfolio, revised)
    assert second.status == "new_version" and second.supersedes == first.document_id
    codes = {r.code for r in store.list_findings(site="SFF-MONZA")}
    assert "qta_conflicting:deviations_oos" not in codes and "qta_vague:deviations_oos" in codes
    assert [a.document_id for a in store.list_analyses(kind="qta_review")] == [second.document_id]
    assert store.analysis(first.document_id) is not None  # the old review is history, not deleted
