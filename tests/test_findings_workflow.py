"""A finding is acknowledged, assigned, commented on, closed and reopened over HTTP by reviewers, each change
audited; viewers read it; its state outlives a re-reading of its document."""

from datetime import date

import pytest

from api.accounts import issue_key
from api.ingest import ingest_path
from core.auth import Role
from core.portfolio import load_portfolio
from extraction.service import Extractor
from retrieval.corpus import Corpus
from tests.conftest import serve

LATE = "NC-2024-0127_Stellaris_Filling_Interruption.pdf"
QTA = "Stellaris_QTA_Halvorsen_v1.docx"


@pytest.fixture
def tracked(make_settings, embedder, corpus_dir):
    settings = make_settings(auth_enabled=True, as_of=date(2024, 11, 25))  # due dates are set from the sample's day
    corpus = Corpus(settings, embedder=embedder)
    for name in (LATE, QTA):
        ingest_path(corpus, load_portfolio(), corpus_dir / name)
    keys = {role: issue_key(corpus.store, f"{role.value}-key", role).key for role in Role}
    try:
        with serve(settings, embedder, corpus=corpus) as http:
            yield http, {r: {"Authorization": f"Bearer {k}"} for r, k in keys.items()}, corpus
    finally:
        corpus.close()


def test_a_reviewer_takes_a_finding_from_open_to_closed_and_back(tracked):
    http, as_, corpus = tracked
    findings = http.get("/findings", headers=as_[Role.VIEWER]).json()
    assert findings and all(f["state"]["status"] == "open" for f in findings)
    late = next(f for f in findings if f["code"] == "notified_late")
    url = f"/findings/{late['key']}"

    assert http.post(url, json={"action": "acknowledge"}, headers=as_[Role.VIEWER]).status_code == 403
    step = http.post(url, json={"action": "acknowledge"}, headers=as_[Role.REVIEWER])
    assert step.status_code == 200 and step.json()["state"]["status"] == "acknowledged"
    nobody = http.post(url, json={"action": "assign"}, headers=as_[Role.REVIEWER])
    assert nobody.status_code == 422 and "assignee" in nobody.json()["detail"]
    assigned = http.post(url, json={"action": "assign", "assignee": "Marta Rossi", "due": "2024-12-15"},
                         headers=as_[Role.REVIEWER]).json()["state"]  # fmt: skip
    assert (assigned["status"], assigned["assignee"], assigned["due"]) == ("assigned", "Marta Rossi", "2024-12-15")
    comment = {"action": "comment", "text": "Stellaris sent the notification log"}
    assert http.post(url, json=comment, headers=as_[Role.REVIEWER]).json()["state"]["status"] == "assigned"
    assert http.post(url, json={"action": "close"}, headers=as_[Role.REVIEWER]).status_code == 422  # no reason
    close = {"action": "close", "text": "Late notification discussed at the QBR; CAPA-2024-031 opened"}
    closed = http.post(url, json=close, headers=as_[Role.ADMIN]).json()["state"]
    assert closed["status"] == "closed" and closed["closed_reason"].startswith("Late notification")
    again = http.post(url, json=close, headers=as_[Role.REVIEWER])
    assert again.status_code == 409 and "closed" in again.json()["detail"]

    # closed findings stay listed, and can be asked for by state
    listed = http.get("/findings", params={"status": "closed"}, headers=as_[Role.VIEWER]).json()
    assert [f["key"] for f in listed] == [late["key"]]
    assert late["key"] not in [f["key"] for f in http.get("/findings", params={"status": "open"}, headers=as_[Role.VIEWER]).json()]
    history = http.get(f"{url}/history", headers=as_[Role.VIEWER]).json()
    assert [h["action"] for h in history] == ["acknowledge", "assign", "comment", "close"]
    assert [h["by"] for h in history] == ["reviewer-key"] * 3 + ["admin-key"]
    audited = [e for e in corpus.store.audit_entries() if e.action.startswith("finding_")]
    assert [e.action for e in audited] == ["finding_acknowledge", "finding_assign", "finding_comment", "finding_close"]
    assert audited[-1].detail["finding"] == late["key"] and [d["id"] for d in audited[-1].documents] == [late["document_id"]]

    reopened = http.post(url, json={"action": "reopen", "text": "the CAPA was not opened"}, headers=as_[Role.REVIEWER])
    assert reopened.json()["state"]["status"] == "assigned" and reopened.json()["state"]["assignee"] == "Marta Rossi"
    assert http.post("/findings/nope:event:x", json={"action": "acknowledge"}, headers=as_[Role.REVIEWER]).status_code == 404


def test_a_findings_state_outlives_a_new_reading_of_its_document(tracked):
    http, as_, corpus = tracked
    gap = next(f for f in http.get("/findings", headers=as_[Role.VIEWER]).json() if f["source"] == "qta_review")
    close = {"action": "close", "text": "accepted: the sponsor's SOP covers it"}
    assert http.post(f"/findings/{gap['key']}", json=close, headers=as_[Role.REVIEWER]).status_code == 200
    Extractor(corpus.settings, corpus.store, load_portfolio()).analyse_stored(gap["document_id"])  # rows written anew
    after = next(f for f in http.get("/findings", headers=as_[Role.VIEWER]).json() if f["key"] == gap["key"])
    assert after["id"] != gap["id"] and after["state"]["status"] == "closed"


def test_two_observations_of_one_category_in_a_letter_are_two_findings():
    from core.analysis import FindingRow, FindingSource
    from core.workflow import finding_keys

    def row(code, document="letter"):
        return FindingRow(document_id=document, source=FindingSource.OBSERVATION, code=code, severity="high", summary=".")

    rows = [row("observation:laboratory_controls"), row("observation:data_integrity"),
            row("observation:laboratory_controls"), row("observation:laboratory_controls", "other")]  # fmt: skip
    assert finding_keys(rows) == ["letter:observation:observation:laboratory_controls",
                                  "letter:observation:observation:data_integrity",
                                  "letter:observation:observation:laboratory_controls~2",
                                  "other:observation:observation:laboratory_controls"]  # fmt: skip


def test_readiness_and_the_digest_count_open_findings_only_and_say_so(tracked):
    from datetime import UTC, date, datetime

    from agents.digest_render import digest_markdown
    from agents.nightly import DigestBuilder
    from agents.readiness import ReadinessAssessor
    from core.programs import load_programs

    http, as_, corpus = tracked
    day = date(2024, 11, 25)
    before = ReadinessAssessor(corpus.store, load_portfolio(), load_programs(), day).readiness("HB-101")
    gap = next(i for i in before.items if i.kind == "qta_gap" and i.severity in ("critical", "major"))
    (key,) = gap.findings
    close = {"action": "close", "text": "covered by the master agreement, clause 7"}
    assert http.post(f"/findings/{key}", json=close, headers=as_[Role.REVIEWER]).status_code == 200

    after = ReadinessAssessor(corpus.store, load_portfolio(), load_programs(), day).readiness("HB-101")
    assert after.closed_left_out == 1 and key not in [k for i in after.items for k in i.findings]
    assert after.open_qta_gaps == before.open_qta_gaps - 1 and after.score > before.score
    digest, risks, readiness = DigestBuilder(corpus.store, load_portfolio(), load_programs(), day).build(
        None, datetime.now(UTC), None
    )
    assert "those people closed are not counted (HB-101: 1)" in digest_markdown(digest, risks, readiness)


def test_the_cli_works_on_findings_alone_and_beside_the_server(tmp_path, model_cache, corpus_dir):
    import getpass
    import os

    from tests.conftest import cdmo, cdmo_serve

    data = tmp_path / "data"
    data.mkdir()
    (data / "models").symlink_to(model_cache)
    env = os.environ | {"CDMO_DATA_DIR": str(data), "CDMO_AS_OF": "2024-11-25", "COLUMNS": "400"}
    assert cdmo(env, "ingest", str(corpus_dir / LATE)).returncode == 0
    listed = cdmo(env, "findings", "--status", "open")
    key = next(w for w in listed.stdout.split() if w.endswith(":event:retraining_only_capa"))

    assigned = cdmo(env, "finding", key, "assign", "--assignee", "Marta Rossi", "--due", "2024-12-15")
    assert assigned.returncode == 0 and f"{key}: assigned" in assigned.stdout
    reasonless = cdmo(env, "finding", key, "close")
    assert reasonless.returncode == 2 and "say why" in reasonless.stdout
    with cdmo_serve(env) as (http, _):
        closed = cdmo(env, "finding", key, "close", "--text", "notification log received")  # through the server
        assert closed.returncode == 0 and f"{key}: closed" in closed.stdout, closed.stdout
        actors = [e["actor"] for e in http.get("/audit", params={"action": "finding_close"}).json()]
        assert actors == [f"cli:{getpass.getuser()}"]
        refused = cdmo(env, "reanalyse")  # it needs the store to itself
        assert refused.returncode == 2 and "stop" in refused.stdout.lower(), refused.stdout
    again = cdmo(env, "reanalyse")  # today's readers over what is stored; the work on each finding stays
    assert again.returncode == 0 and "1 document read again" in again.stdout, again.stdout
    assert key in cdmo(env, "findings", "--status", "closed").stdout
    assert key in cdmo(env, "findings", "--status", "closed").stdout
    assert cdmo(env, "finding", "nope:event:x", "acknowledge").returncode == 2
    register = tmp_path / "register.xlsx"
    assert cdmo(env, "findings", "--out", str(register)).returncode == 0
    from openpyxl import load_workbook

    header, *rows = load_workbook(register).active.iter_rows(values_only=True)
    row = next(dict(zip(header, r)) for r in rows if r[0] == key)
    assert row["state"] == "closed" and row["closed because"] == "notification log received"
    assert cdmo(env, "findings", "--out", str(data / "register.csv")).returncode == 2  # never into the store


@pytest.fixture
def open_site(make_settings, embedder, corpus_dir):
    """Two analysed documents behind the app with no login (the local user, an admin)."""
    settings = make_settings()
    corpus = Corpus(settings, embedder=embedder)
    for name in (LATE, QTA):
        ingest_path(corpus, load_portfolio(), corpus_dir / name)
    try:
        with serve(settings, embedder, corpus=corpus) as http:
            yield http
    finally:
        corpus.close()


def test_the_findings_register_in_the_browser_by_keyboard_at_1024_pixels(browser, open_site):
    total = len(open_site.get("/findings").json())
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    page.goto(str(open_site.base_url))
    page.click("#tab-findings")
    page.wait_for_function(f"document.querySelectorAll('#findings tbody tr').length === {total}")
    assert page.locator("#finding-counts").inner_text() == f"{total} findings: {total} open, 0 acknowledged, 0 assigned, 0 closed"
    names = page.locator("#findings tbody tr td:first-child strong").all_inner_texts()
    assert "Notified late" in names and any(n.startswith("QTA gap (missing): ") for n in names)
    assert not any("_" in n for n in names)  # in words, not codes
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024  # nothing runs off the side

    row = page.locator("#findings tbody tr", has=page.locator("strong", has_text="Notified late"))
    assert row.locator("a").get_attribute("href").endswith("?format=html")  # the analysis, its quotes on its pages
    row.locator("button.link").focus()
    page.keyboard.press("Enter")  # and the quote it rests on, on the drawn page of the agreement it cites
    page.wait_for_function("document.querySelector('#source .scan img, #source mark') && !document.querySelector('#source').hidden")
    assert page.locator("#source-title").inner_text()
    page.keyboard.press("Escape")
    row.locator("button", has_text="Work on it").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "finding-action"
    page.select_option("#finding-action", "close")
    for _ in range(6):  # past the assignee and the due date (a stop per part of the date) to the reason
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "finding-text":
            break
    assert page.evaluate("document.activeElement.id") == "finding-text"
    page.keyboard.type("discussed at the QBR, CAPA opened")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#finding-counts').textContent.includes('1 closed')")
    assert "closed: discussed at the QBR" in row.inner_text()

    page.select_option("#finding-status", "closed")
    page.wait_for_function("document.querySelectorAll('#findings tbody tr').length === 1")
    page.locator("#findings tbody tr button", has_text="Work on it").click()
    page.select_option("#finding-action", "close")
    page.fill("#finding-text", "again")
    page.click("#finding-submit")
    page.wait_for_function("document.querySelector('#finding-error').textContent.includes('closed')")

    page.select_option("#finding-status", "")
    page.select_option("#scope", "site:NGB-CORK")  # the scope at the top narrows this page too: both are Stellaris'
    page.wait_for_function("document.querySelector('#finding-counts').textContent.startsWith('0 findings')")
    page.select_option("#scope", "site:SFF-MONZA")
    page.wait_for_function(f"document.querySelectorAll('#findings tbody tr').length === {total}")

    open_site.post("/summaries", json={"as_of": "2024-11-25"})  # a digest, listed on the dashboard by its window
    page.click("#tab-dashboard")
    page.locator("#summaries a").first.wait_for()
    assert page.locator("#summaries a").first.inner_text().startswith("Digest of everything to 20")
    page.close()


def test_the_register_exports_as_csv_and_excel_with_states_and_inert_cells(tracked, tmp_path):
    import csv
    import io

    from openpyxl import load_workbook

    http, as_, corpus = tracked
    late = next(f for f in http.get("/findings", headers=as_[Role.VIEWER]).json() if f["code"] == "notified_late")
    assign = {"action": "assign", "assignee": "=HYPERLINK(\"http://x\")", "due": "2024-12-15"}
    assert http.post(f"/findings/{late['key']}", json=assign, headers=as_[Role.REVIEWER]).status_code == 200
    total = len(http.get("/findings", headers=as_[Role.VIEWER]).json())

    exported = http.get("/findings/export", params={"format": "csv"}, headers=as_[Role.VIEWER])
    assert exported.headers["content-type"].startswith("text/csv") and "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == total
    row = next(r for r in rows if r["key"] == late["key"])
    assert (row["finding"], row["state"], row["due"]) == ("Notified late", "assigned", "2024-12-15")
    assert row["assignee"] == "'=HYPERLINK(\"http://x\")" and row["file"] == LATE  # a formula stays text

    workbook = http.get("/findings/export", params={"format": "xlsx", "status": "assigned"}, headers=as_[Role.VIEWER])
    sheet = load_workbook(io.BytesIO(workbook.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:4] == ("key", "finding", "severity", "state") and len(values) == 2
    assert values[1][0] == late["key"] and values[1][4].startswith("'=")


def test_the_scope_narrows_every_page_and_each_page_opens_its_evidence(browser, open_site):
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    page.goto(str(open_site.base_url))
    page.click("#tab-documents")
    page.wait_for_function("document.querySelectorAll('#documents tbody tr').length === 2")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    late_row = page.locator("#documents tbody tr", has_text=LATE)
    assert "high" in late_row.inner_text() and "v1" in late_row.inner_text() and "2024-09-23" in late_row.inner_text()
    page.fill("#document-search", "f4480 nc-2024")  # every word, in any field: title, file, records, batches
    page.wait_for_function("document.querySelectorAll('#documents tbody tr').length === 1")
    assert page.locator("#document-counts").inner_text() == "1 of 2 documents"
    page.fill("#document-search", "")
    page.click("button[data-sort-documents=title]")
    titles = page.locator("#documents tbody tr td:first-child div:first-child").all_inner_texts()
    assert titles == sorted(titles, key=str.lower)
    page.select_option("#scope", "site:NGB-CORK")  # neither document is Northgate's
    page.wait_for_function("document.querySelector('#document-counts').textContent === '0 of 0 documents'")
    page.select_option("#scope", "site:SFF-MONZA")
    page.wait_for_function("document.querySelectorAll('#documents tbody tr').length === 2")

    page.click("#tab-dashboard")  # Stellaris, and the programs it fills (both)
    page.wait_for_function("document.querySelectorAll('#site-risk tbody tr').length === 1")
    assert page.locator("#site-risk tbody tr").get_attribute("data-site") == "SFF-MONZA"
    page.wait_for_function("document.querySelectorAll('#program-readiness tbody tr').length === 2")
    page.select_option("#scope", "program:HB-240")  # one program, and the sites of its supply chain
    page.wait_for_function("document.querySelectorAll('#program-readiness tbody tr').length === 1")
    assert page.locator("#program-readiness tbody tr").get_attribute("data-program") == "HB-240"
    page.wait_for_function("document.querySelectorAll('#site-risk tbody tr').length === 3")
    chart = open_site.get(page.get_attribute("#readiness-chart", "src"))
    assert chart.text.count('class="readiness-bar"') == 1 and chart.text.count('class="axis-tick"') == 5
    assert 'data-program="HB-240"' in chart.text
    page.locator("#risk-signals summary").first.click()
    page.locator("#risk-signals button.link").first.click()  # a signal opens the passage it rests on
    page.locator("#source").wait_for()
    assert page.locator("#source-title").inner_text()

    qta = next(d for d in open_site.get("/documents").json() if d["kind"] == "qta")
    missing = sum(f["status"] == "missing" for f in open_site.get(f"/qta/reviews/{qta['id']}").json()["findings"])
    page.goto(f"{open_site.base_url}/qta/reviews/{qta['id']}?format=html")
    page.select_option("select[data-filter=status]", "missing")
    shown = page.locator("#elements tr[data-status]:visible")
    assert missing and shown.count() == missing
    assert {r.get_attribute("data-status") for r in shown.all()} == {"missing"}
    page.select_option("select[data-filter=status]", "")
    assert page.locator("#elements tr[data-status]:visible").count() == 17
    page.close()


def test_every_finding_carries_the_passage_it_rests_on(tracked):
    http, as_, corpus = tracked
    findings = http.get("/findings", headers=as_[Role.VIEWER]).json()
    assert {f["source"] for f in findings} >= {"event", "qta_review"}
    drawn_pages = 0
    for f in findings:
        e = f["evidence"]
        if f["code"].startswith("qta_missing"):
            assert e is None  # nothing to quote for a clause the agreement lacks
            continue
        assert e is not None, f["name"]
        page = http.get(f"/documents/{e['document_id']}/pages/{e['page']}", params={"start": e["start"], "end": e["end"]},
                        headers=as_[Role.VIEWER]).json()  # fmt: skip
        assert page["text"][e["start"] : e["end"]] == e["quote"]
        if page["rendered_url"]:  # a PDF: the quote is boxed on the drawn page
            assert page["highlight"] and all(0 <= b["left"] < 1 and 0 <= b["top"] < 1 for b in page["highlight"])
            drawn = http.get(page["rendered_url"], headers=as_[Role.VIEWER])
            assert drawn.headers["content-type"] == "image/png" and drawn.content.startswith(b"\x89PNG")
            drawn_pages += 1
    assert drawn_pages  # the report's flags, on its PDF page


def test_a_page_pdfium_cannot_draw_opens_on_its_text(tracked):
    """A kept original pdfium refuses (damaged after it was read): the citation opens on the page's text, and the
    drawn page is refused with the reason, not a server error."""
    from sqlalchemy import update

    from core.store import originals

    http, as_, corpus = tracked
    late = next(d for d in corpus.store.list_documents() if d.filename == LATE)
    with corpus.store.engine.begin() as conn:
        conn.execute(update(originals).where(originals.c.document_id == late.id).values(data=b"%PDF-1.4 damaged"))
    page = http.get(f"/documents/{late.id}/pages/1", params={"start": 0, "end": 40}, headers=as_[Role.VIEWER])
    assert page.status_code == 200 and page.json()["rendered_url"] is None and page.json()["text"]
    drawn = http.get(f"/documents/{late.id}/pages/1/rendered.png", headers=as_[Role.VIEWER])
    assert drawn.status_code == 404 and "cannot be drawn" in drawn.json()["detail"]


def test_a_document_stored_before_originals_were_kept_gets_its_file_when_sent_again(tracked, corpus_dir):
    from sqlalchemy import delete

    from core.store import originals
    from tests.conftest import upload

    http, as_, corpus = tracked
    late = next(d for d in corpus.store.list_documents() if d.filename == LATE)
    with corpus.store.engine.begin() as conn:  # as a store from before this release holds it
        conn.execute(delete(originals).where(originals.c.document_id == late.id))
    assert http.get(f"/documents/{late.id}/pages/1", headers=as_[Role.VIEWER]).json()["rendered_url"] is None
    data = (corpus_dir / LATE).read_bytes()
    sent = upload(http, [("files", (LATE, data))], headers=as_[Role.REVIEWER])
    assert sent.status_code in (200, 201) and sent.json()[0]["result"]["status"] == "unchanged"
    assert corpus.store.original(late.id) == data
    assert http.get(f"/documents/{late.id}/pages/1", headers=as_[Role.VIEWER]).json()["rendered_url"]
