"""Partner risk, program readiness, the nightly digest (files, record, mail on a loopback SMTP server), the
dashboard. On the sample corpus, ingested and analysed, judged on 25 November 2024 (the corpus's time)."""

import sqlite3
import time
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from agents.nightly_runner import NightlyRunner, NightlyScheduler
from agents.partner_risk import RiskScorer
from agents.readiness import ReadinessAssessor, nearness
from agents.structured import event_status
from api.loopback import free_port
from core.analysis import AnalysisKind
from core.config import Settings
from core.investigations import InvestigationEvent
from core.oversight import Dimension
from core.portfolio import load_portfolio
from core.programs import load_programs
from core.store import RecordStore
from ingestion.pipeline import prepare
from tests.conftest import serve

AS_OF = date(2024, 11, 25)


@pytest.fixture(scope="module")
def scorer(chat_corpus):
    return RiskScorer(chat_corpus.store, load_portfolio(), AS_OF)


@pytest.fixture(scope="module")
def assessor(chat_corpus):
    return ReadinessAssessor(chat_corpus.store, load_portfolio(), load_programs(), AS_OF)


def _quoted(store, evidence) -> bool:
    return store.page_text(evidence.document_id, evidence.page)[evidence.start : evidence.end] == evidence.quote


def test_each_dimension_is_explained_by_its_signals(scorer, chat_corpus):
    for risk in scorer.all_sites():
        for d in risk.dimensions:
            assert d.score == min(100.0, sum(s.points for s in d.signals))
            assert d.has_data == bool(d.signals)
            for s in d.signals:
                assert s.dated <= AS_OF and (s.evidence is None or _quoted(chat_corpus.store, s.evidence))
        assert risk.completeness == sum(d.has_data for d in risk.dimensions) / 4
        assert risk.trend[-1].score == risk.score and risk.trend[-1].month == "2024-11"
        assert [t.month for t in risk.trend] == sorted(t.month for t in risk.trend)


def test_the_site_sale_and_the_capacity_squeeze_land_on_northgate(scorer):
    risk = scorer.site_risk("NGB-CORK")
    business = next(d for d in risk.dimensions if d.dimension == Dimension.BUSINESS)
    assert any("agreed to sell the Cork site" in s.evidence.quote for s in business.signals)
    capacity = next(d for d in risk.dimensions if d.dimension == Dimension.CAPACITY_SUPPLY)
    assert any("slots are guaranteed" in s.evidence.quote for s in capacity.signals)
    assert risk.completeness == 1.0


def test_a_sentence_counts_for_the_site_it_names(scorer):
    """Said on Northgate's weekly call, the late SEC result is Quantix's delay."""
    quantix = scorer.site_risk("QAL-RTP")
    northgate = scorer.site_risk("NGB-CORK")
    late = "SEC result for 24-019 from Quantix is delayed"
    assert any(s.evidence and late in s.evidence.quote for d in quantix.dimensions for s in d.signals)
    assert not any(s.evidence and late in s.evidence.quote for d in northgate.dimensions for s in d.signals)
    business = next(d for d in quantix.dimensions if d.dimension == Dimension.BUSINESS)
    assert not business.has_data and business.latest is None and quantix.completeness == 0.75


def test_old_signals_count_half(chat_corpus, scorer):
    later = RiskScorer(chat_corpus.store, load_portfolio(), AS_OF + timedelta(days=800))
    key = lambda s: (s.dimension, s.label, s.filename, s.evidence.start if s.evidence else None)
    before = {key(s): s for d in scorer.site_risk("SFF-MONZA").dimensions for s in d.signals}
    fresh = [s for s in before.values() if (AS_OF - s.dated).days <= 365]
    assert fresh
    after = {key(s): s for d in later.site_risk("SFF-MONZA").dimensions for s in d.signals}
    for s in fresh:
        assert after[key(s)].points == s.points / 2, s


def test_readiness_weighs_open_items_by_nearness_and_counts_overdue_capas(assessor, chat_corpus):
    hb240 = assessor.readiness("HB-240")
    events = [
        InvestigationEvent.model_validate(a.payload)
        for a in chat_corpus.store.list_analyses(kind=AnalysisKind.EVENT, program="HB-240")
    ]
    overdue = [c for e in events if event_status(e) == "open" for c in e.capas if c.due and c.due < AS_OF]
    assert hb240.overdue_capas == len(overdue) > 0
    assert hb240.days_to_next == (hb240.next_milestone_date - AS_OF).days
    factor = nearness(hb240.days_to_next)
    assert factor == 2.0 and all(i.weight % factor == 0 or i.kind == "qta_gap" for i in hb240.items)
    assert hb240.score == round(100 * 50 / (50 + sum(i.weight for i in hb240.items)), 1)
    far = ReadinessAssessor(chat_corpus.store, load_portfolio(), load_programs(), date(2025, 2, 20)).readiness("HB-240")
    assert far.next_milestone != hb240.next_milestone  # the first clinical lots date has passed by then


def test_a_failed_release_test_is_followed_to_clinical_supply(assessor, chat_corpus):
    hb101 = assessor.readiness("HB-101")
    chain = next(c for c in hb101.propagation if c.origin.startswith("OOS-24-007"))
    assert "Quantix" in chain.steps[0] and "cannot be released" in chain.steps[1]
    assert "drug-product campaign at Stellaris" in chain.steps[2]
    assert "HB-101 Phase 3 clinical supply" in chain.milestones_at_risk
    assert _quoted(chat_corpus.store, chain.evidence)
    assert {"3.2.S.4"} <= set(hb101.ctd_sections_at_risk)  # the SEC purity OOS touches control of the DS
    assert not any(c.origin.startswith("NC-2024-0112") for c in hb101.propagation)  # low risk stays put


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def nightly(chat_corpus, tmp_path):
    """A copy of the analysed sample's records, a summaries folder and a loopback SMTP server."""
    source, copy = (
        sqlite3.connect(chat_corpus.settings.data_dir / "records.sqlite3"),
        sqlite3.connect(tmp_path / "records.sqlite3"),
    )
    source.backup(copy)  # with whatever the write-ahead log still holds
    source.close(), copy.close()
    inbox, port = _Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings = Settings(
        data_dir=tmp_path, as_of=AS_OF, smtp_host="127.0.0.1", smtp_port=port, smtp_to=["qa@sponsor.test"]
    )
    store = RecordStore(settings.sqlalchemy_url)
    yield settings, store, inbox
    controller.stop()
    store.engine.dispose()


def _runner(settings, store):
    return NightlyRunner(settings, store, load_portfolio(), load_programs())


def test_the_digest_leads_with_what_needs_a_human_and_is_written_recorded_and_mailed(nightly):
    settings, store, inbox = nightly
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    run, digest = _runner(settings, store).run(until=until)
    assert len(digest.new_documents) == len(store.list_documents())
    one_page = [i.text for i in digest.new_documents if i.text.endswith(" 1 page)")]  # not "1 pages"
    assert one_page and not any(i.text.endswith(" 1 pages)") for i in digest.new_documents)
    urgent = " | ".join(i.text for i in digest.needs_human)
    for expected in ("NC-2024-0127", "OOS-24-007", "DEV-2024-044", "CAPAs past due"):
        assert expected in urgent
    markdown = Path(run.markdown_path).read_text(encoding="utf-8")
    assert markdown.index("Needs a human today") < markdown.index("New events by site")
    html = Path(run.html_path).read_text(encoding="utf-8")
    assert 'class="risk-line"' in html and 'class="readiness-bar"' in html and html.count('class="axis-tick"') == 5
    assert [r.id for r in store.summary_runs()] == [run.id] and run.mailed_to == ["qa@sponsor.test"]
    (message,) = inbox.messages
    assert message.rcpt_tos == ["qa@sponsor.test"] and b"Needs a human today" in message.content

    again, _ = _runner(settings, store).run(until=until)  # the same window
    assert again.id == run.id and Path(again.markdown_path).read_text(encoding="utf-8") == markdown
    assert len(inbox.messages) == 1 and len(store.summary_runs()) == 1


def test_the_next_window_holds_only_what_arrived_and_what_it_changed(nightly, corpus_dir):
    settings, store, inbox = nightly
    first, _ = _runner(settings, store).run(until=datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1))
    time.sleep(1.1)
    memo = (
        b"Quantix Analytical Laboratories - capacity notice, 20 November 2024.\n\n"
        b"Quantix informed Halvorsen that its bioassay laboratory is fully booked until March 2025 and that "
        b"HB-240 release testing is delayed by six weeks.\n"
    )
    store.add(prepare("Quantix_capacity_notice.txt", memo, settings, load_portfolio()))
    second, digest = _runner(settings, store).run(until=datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1))
    assert second.since == first.until
    assert [i.text.split(" (")[0] for i in digest.new_documents] == ["Quantix_capacity_notice.txt"]
    assert digest.site_scores["QAL-RTP"] > first.site_scores["QAL-RTP"]
    moved = next(i for i in digest.risk_changes if i.site == "QAL-RTP")
    assert f"{first.site_scores['QAL-RTP']:g} -> {digest.site_scores['QAL-RTP']:g}" in moved.text
    assert not any(i.site == "NGB-CORK" for i in digest.risk_changes)  # nothing new there
    assert len(inbox.messages) == 2


def test_a_run_that_fails_halfway_leaves_the_last_state_and_is_retried_cleanly(nightly, monkeypatch):
    settings, store, inbox = nightly
    first, _ = _runner(settings, store).run(until=datetime(2026, 1, 1, tzinfo=UTC))
    import agents.nightly_runner

    def broken(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(agents.nightly_runner, "digest_html", broken)
    with pytest.raises(RuntimeError):
        _runner(settings, store).run(until=datetime(2026, 1, 2, tzinfo=UTC))
    assert [r.id for r in store.summary_runs()] == [first.id] and len(inbox.messages) == 1
    monkeypatch.undo()
    retried, _ = _runner(settings, store).run(until=datetime(2026, 1, 2, tzinfo=UTC))
    assert retried.since == first.until and [r.id for r in store.summary_runs()] == [retried.id, first.id]
    assert len(inbox.messages) == 2


def test_a_digest_not_mailed_is_mailed_on_the_rerun_and_only_then(nightly):
    settings, store, inbox = nightly
    down = settings.model_copy(update={"smtp_port": free_port()})  # nothing listens there
    with pytest.raises(OSError):
        _runner(down, store).run(until=datetime(2026, 1, 1, tzinfo=UTC))
    (run,) = store.summary_runs()
    assert run.mailed_to == [] and inbox.messages == []
    _runner(settings, store).run(until=datetime(2026, 1, 1, tzinfo=UTC))
    _runner(settings, store).run(until=datetime(2026, 1, 1, tzinfo=UTC))
    assert len(inbox.messages) == 1 and store.summary_runs()[0].mailed_to == ["qa@sponsor.test"]


def test_the_schedule_runs_at_the_set_time_each_day():
    scheduler = NightlyScheduler("02:30", lambda: None)
    assert scheduler.next_run(datetime(2024, 11, 25, 1, 0)) == datetime(2024, 11, 25, 2, 30)
    assert scheduler.next_run(datetime(2024, 11, 25, 2, 30)) == datetime(2024, 11, 26, 2, 30)


def test_risk_readiness_and_digests_over_http(embedder, nightly):
    settings, store, _ = nightly
    run, _ = _runner(settings, store).run(until=datetime(2026, 1, 1, tzinfo=UTC))
    with serve(settings, embedder) as http:
        risk = http.get("/sites/NGB-CORK/risk").json()
        assert risk["as_of"] == "2024-11-25" and len(risk["dimensions"]) == 4 and risk["trend"]
        assert http.get("/sites/NOWHERE/risk").status_code == 404
        readiness = http.get("/programs/HB-101/readiness").json()
        assert readiness["propagation"] and readiness["next_milestone"]
        assert http.get("/programs/HB-999/readiness").status_code == 404
        chart = ET.fromstring(http.get("/sites/risk/chart.svg").content)
        lines = chart.findall(".//{http://www.w3.org/2000/svg}polyline")
        assert sorted(line.get("data-site") for line in lines) == sorted(s.id for s in load_portfolio().sites)
        (listed,) = http.get("/summaries").json()
        assert listed["id"] == run.id
        page = http.get(f"/summaries/{run.id}")
        assert page.headers["content-type"].startswith("text/html") and "Needs a human today" in page.text
        markdown = http.get(f"/summaries/{run.id}", params={"format": "markdown"}).text
        assert markdown == Path(run.markdown_path).read_text(encoding="utf-8")
        assert http.get("/summaries/nope").status_code == 404


def test_the_dashboard_draws_the_charts_and_tables(chat_corpus, embedder, browser):
    served = chat_corpus.settings.model_copy(update={"as_of": AS_OF})
    with serve(served, embedder, corpus=chat_corpus) as http:
        page = browser.new_page()
        page.goto(str(http.base_url))
        page.click("#tab-dashboard")
        page.wait_for_function(
            "document.querySelector('#risk-chart').naturalWidth > 0 && "
            "document.querySelector('#readiness-chart').naturalWidth > 0 && "
            "document.querySelectorAll('#site-risk tbody tr').length === 3",
            timeout=30_000,
        )
        assert page.locator("#as-of").inner_text() == "Judged on 2024-11-25"
        quantix = page.locator('#site-risk tr[data-site="QAL-RTP"]')
        assert "no data" in quantix.inner_text()
        assert page.locator("#program-readiness tbody tr").count() == 2
        assert "clinical supply" in page.locator("#propagation").inner_text()
        page.close()


class _Narrator:
    """A chat model that answers with one fixed text (the narrative's LLM, without HTTP)."""

    def __init__(self, text):
        self.text, self.prompts = text, []

    def invoke(self, messages):
        from langchain_core.messages import AIMessage

        self.prompts.append(messages)
        return AIMessage(self.text)


def test_an_llm_narrative_opens_the_digest_only_when_its_figures_are_the_digests(nightly):
    settings, store, _ = nightly
    until = datetime(2026, 1, 1, tzinfo=UTC)
    good = _Narrator("NC-2024-0127 and OOS-24-007 need attention first; 2 CAPAs are past due.")
    run, digest = NightlyRunner(settings, store, load_portfolio(), load_programs(), model=good).run(until=until)
    assert digest.narrative.startswith(good.text)
    assert "never instructions" in good.prompts[0][0].content and "NC-2024-0127" in good.prompts[0][1].content
    assert good.text in Path(run.markdown_path).read_text(encoding="utf-8")
    invented = _Narrator("OOS-24-099 failed on 3 December 2024.")  # neither figure is in the digest
    _, digest = NightlyRunner(settings, store, load_portfolio(), load_programs(), model=invented).run(until=until)
    assert digest.narrative is None and digest.needs_human  # complete without it


def test_action_items_in_minutes_are_read_with_owner_and_due_date_and_overdue_ones_reach_the_digest(
    chat_corpus, nightly
):
    from agents.action_items import action_items, overdue

    items = action_items(chat_corpus.store, load_portfolio())
    assert len({i.filename for i in items}) == 4  # every set of minutes, bullet lists and tables alike
    for item in items:
        assert _quoted(chat_corpus.store, item.evidence)
        assert item.action in item.evidence.quote and item.owner in item.evidence.quote
    table_row = next(i for i in items if i.action.startswith("Send NC report"))
    assert table_row.owner == "Giulia Ferraro" and table_row.due == date(2024, 10, 1) and table_row.site == "SFF-MONZA"
    chase = next(i for i in items if "chase Quantix" in i.action)
    assert chase.site == "NGB-CORK"  # Northgate's action, though it names Quantix
    assert not any("second-source" in i.action for i in items)  # "Q1 2025" is no due date
    late = overdue(items, AS_OF)
    assert late and all(i.due < AS_OF for i in late) and len(late) < len(items)
    settings, store, _ = nightly
    _, digest = _runner(settings, store).run(until=datetime(2026, 1, 1, tzinfo=UTC))
    listed = [i.text for i in digest.overdue if i.text.startswith("Action item")]
    assert len(listed) == len(late) and any(f"{len(late)} action items" in i.text for i in digest.needs_human)


def test_a_program_the_portfolio_lacks_is_left_out_of_readiness_not_an_error(chat_corpus):
    """A portfolio switched without its programs file: the programs it knows are assessed, the dashboard runs."""
    portfolio = load_portfolio()
    narrowed = portfolio.model_copy(update={"programs": [p for p in portfolio.programs if p.id != "HB-240"]})
    assessed = ReadinessAssessor(chat_corpus.store, narrowed, load_programs(), AS_OF).all_programs()
    assert [r.program for r in assessed] == ["HB-101"]


def test_overdue_capas_and_action_items_are_register_rows_that_keep_their_keys_and_close_like_any_finding(nightly):
    """What falls due after a document is read joins the register: a person closes it there, and readiness and the
    digest stop counting it (and say so)."""
    from agents.action_items import action_items, overdue
    from agents.register import FindingRegister
    from core.auth import Principal, Role
    from core.workflow import FindingAction, FindingRequest

    settings, store, _ = nightly
    register = FindingRegister(store, load_portfolio(), AS_OF)
    found = register.findings()
    capas = [f for f in found if f.source == "overdue_capa"]
    actions = [f for f in found if f.source == "overdue_action"]
    assessor = ReadinessAssessor(store, load_portfolio(), load_programs(), AS_OF)
    readiness = assessor.all_programs()
    counted = {k for p in readiness for i in p.items if i.kind == "overdue_capa" for k in i.findings}
    assert capas and counted <= {f.key for f in capas}  # every CAPA readiness counts is a row of the register
    assert len(actions) == len(overdue(action_items(store, load_portfolio()), AS_OF)) > 0
    for f in capas + actions:
        assert f.due < AS_OF and f.raised == f.due and f.age_days == (AS_OF - f.due).days and f.state.status == "open"
        assert _quoted(store, f.evidence)
    assert len({f.key for f in found}) == len(found)
    later = {f.key: f for f in FindingRegister(store, load_portfolio(), AS_OF + timedelta(days=120)).findings()}
    for f in capas + actions:  # more fall due later; those already due keep their keys
        assert later[f.key].summary == f.summary and later[f.key].due == f.due

    capa = next(f for f in capas if f.key in counted)
    action = actions[0]
    reviewer = Principal(name="qa-lead", role=Role.REVIEWER, kind="user")
    for f in (capa, action):
        close = FindingRequest(action=FindingAction.CLOSE, text="done: effectiveness check filed")
        register.change(store, f.key, close, reviewer, datetime.now(UTC))
    after = {f.key: f.state.status for f in register.findings()}
    assert after[capa.key] == after[action.key] == "closed"
    program = next(p for p in readiness if any(capa.key in i.findings for i in p.items))
    again = assessor.readiness(program.program)
    assert again.overdue_capas == program.overdue_capas - 1 and again.closed_left_out == program.closed_left_out + 1
    _, digest = _runner(settings, store).run(until=datetime(2026, 1, 1, tzinfo=UTC))
    listed = [i.text for i in digest.overdue if i.text.startswith("Action item")]
    assert len(listed) == len(actions) - 1 and not any(action.summary.split(" (owner")[0] in t for t in listed)
