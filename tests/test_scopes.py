"""Scopes that hold for writes too, logins that hold under concurrency, and refused requests on the record —
over HTTP, with keys of each role and scope, on SQLite and PostgreSQL.

The corpus here is this module's own (the sample, ingested once per record store): these tests write to it.
"""

import csv
import io
import json
import threading
import time

import httpx
import pytest

from api.accounts import issue_key
from core.auth import Role, User, hash_password
from core.config import Settings
from retrieval.corpus import Corpus
from tests.conftest import STORES, ingest_all, results, serve, upload

REPORT = "NC-2024-0127_Stellaris_Filling_Interruption.pdf"  # HB-101, Stellaris Monza, critical
PASSWORD = "correct horse battery staple"
HB101_NOTE = b"Veltrusimab (HB-101) lot F4480 at Stellaris Fill & Finish Monza: the line 2 glove test passed.\n"
HB240_CLAIM = (
    b"# NC-2024-0127 closure\n\nNon-conformance NC-2024-0127, ordesekimab (HB-240), Stellaris Fill & Finish Monza: "
    b"the deviation is minor and closed; root cause found, no CAPA needed.\n"
)


@pytest.fixture(scope="module", params=STORES)
def site(request, tmp_path_factory, corpus_dir, embedder):
    url = None
    if request.param == "postgresql":
        from tests.postgres import new_database

        url = new_database(request.getfixturevalue("postgres_server"))
    # hundreds of refused logins are sent here on purpose: each is kept one by one (the bound is tested apart)
    settings = Settings(data_dir=tmp_path_factory.mktemp(f"scopes-{request.param}"), database_url=url,
                        auth_enabled=True, refusals_per_minute=10_000)  # fmt: skip
    corpus = Corpus(settings, embedder=embedder)
    ingest_all(corpus, corpus_dir)
    keys = {
        "admin": issue_key(corpus.store, "ops-admin", Role.ADMIN).key,
        "hb240": issue_key(corpus.store, "hb240-partner", Role.REVIEWER, programs=["HB-240"]).key,
        "monza": issue_key(corpus.store, "monza-qa", Role.REVIEWER, sites=["SFF-MONZA"]).key,
    }
    corpus.store.save_user(User(username="dora", role=Role.VIEWER), hash_password(PASSWORD))
    with serve(settings, embedder, corpus=corpus) as http:
        yield http, keys, corpus
    corpus.close()


def _as(keys, who):
    return {"Authorization": f"Bearer {keys[who]}"}


def _report(corpus):
    return next(d for d in corpus.store.list_documents() if d.filename == REPORT)


def test_a_scoped_key_writes_only_inside_its_scope(site, corpus_dir):
    http, keys, corpus = site
    before = {d.id for d in corpus.store.list_documents(include_superseded=True)}
    report = _report(corpus)

    (note,) = results(upload(http, [("files", ("glove_test.txt", HB101_NOTE))], headers=_as(keys, "hb240")))
    assert note["status"] == "failed" and note["document_id"] is None
    assert note["error"] == "the file concerns HB-101: you may store only files of HB-240"

    # the very bytes of a stored HB-101 report under another name: answered as a fresh upload would be
    copy = (corpus_dir / REPORT).read_bytes()
    (again,) = results(upload(http, [("files", ("my_copy.pdf", copy))], headers=_as(keys, "hb240")))
    assert again["status"] == "failed" and again["filename"] == "my_copy.pdf" and again["document_id"] is None
    assert again["error"] == "the file concerns HB-101: you may store only files of HB-240"
    assert REPORT not in str(again) and report.id not in str(again)

    (other_site,) = results(upload(http, [("files", ("DEV-2024-044.pdf", (corpus_dir / "DEV-2024-044_Buffer_Preparation_Error.pdf").read_bytes()))],
                                   headers=_as(keys, "monza")))  # fmt: skip
    assert other_site["status"] == "failed" and "NGB-CORK" in other_site["error"] and "SFF-MONZA" in other_site["error"]

    # a file of its own program claiming the number of a record it cannot see: never over it, never linked
    (claim,) = results(upload(http, [("files", ("NC-2024-0127_closure.md", HB240_CLAIM))], headers=_as(keys, "hb240")))
    assert claim["status"] == "added" and claim["kind"] == "deviation_report"
    assert claim["supersedes"] is None and claim["related_to"] is None and claim["version_note"] is None
    assert corpus.store.get(report.id).status == "current"
    events = http.get("/events", params={"batch": "F4480"}, headers=_as(keys, "admin")).json()
    assert [(e["document_id"], e["risk"]) for e in events if e["record_ids"][:1] == ["NC-2024-0127"]][0] == (report.id, "HIGH")

    triage = http.post("/investigations/triage", files={"file": (REPORT, copy)}, headers=_as(keys, "hb240"))
    assert triage.status_code == 403 and "you may analyse only files of HB-240" in triage.json()["detail"]

    audit = http.get("/audit", params={"action": "upload"}, headers=_as(keys, "admin")).json()
    refused = [e for e in audit if e["actor"] == "hb240-partner" and e["outcome"] == "failed"]
    assert {e["detail"]["filename"] for e in refused} == {"glove_test.txt", "my_copy.pdf"}
    assert all(e["documents"] == [] for e in refused)  # the stored file is not named in the refusal either
    stored = next(e for e in audit if e["detail"].get("filename") == "NC-2024-0127_closure.md")
    assert stored["detail"]["supersession_refused"]["record"] == report.id  # for the admin, not the writer
    after = {d.id for d in corpus.store.list_documents(include_superseded=True)}
    assert after - before == {claim["document_id"]}


def test_forty_concurrent_guesses_get_five_password_checks(site):
    http, _, corpus = site
    wrong = {"username": "dora", "password": "not her password"}
    codes, start = [], threading.Barrier(40)

    def guess():
        with httpx.Client(base_url=http.base_url, timeout=60) as client:
            start.wait()
            codes.append(client.post("/auth/login", json=wrong).status_code)

    threads = [threading.Thread(target=guess) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes.count(401) == 5 and codes.count(429) == 35, sorted(codes)
    checked = [e for e in corpus.store.audit_entries(actor="dora", action="login") if e.outcome == "refused"]
    assert len(checked) == 5 and all(e.actor_kind == "claimed" for e in checked)


def test_a_known_and_an_unknown_name_cost_the_same(site):
    http, _, _ = site

    def timed(username: str) -> float:
        started = time.perf_counter()
        assert http.post("/auth/login", json={"username": username, "password": "wrong guess"}).status_code == 401
        return time.perf_counter() - started

    corpus_users = [f"known{i}" for i in range(4)]
    for name in corpus_users:
        site[2].store.save_user(User(username=name, role=Role.VIEWER), hash_password(PASSWORD))
    # the fastest of several tries: what the work costs, not what a busy machine adds to it
    known = min(timed(n) for n in corpus_users for _ in range(3))
    unknown = min(timed(f"nobody{i}") for i in range(4) for _ in range(3))
    assert 0.6 < unknown / known < 1.6, (known, unknown)


def test_refused_requests_are_on_the_record_and_the_export_is_inert(site):
    http, keys, _ = site
    assert http.get("/documents", headers={"Authorization": "Bearer ck_forgedkey_and_more"}).status_code == 401
    assert http.post("/auth/keys", json={"name": "x", "role": "admin"}, headers=_as(keys, "hb240")).status_code == 403
    formula = '=HYPERLINK("http://evil.example","open")'
    assert http.post("/auth/login", json={"username": formula, "password": "whatever it is"}).status_code == 401
    entries = http.get("/audit", headers=_as(keys, "admin")).json()
    refusals = [(e["actor"], e["actor_kind"], e["outcome"]) for e in entries if e["action"] == "refused_request"]
    assert ("ck_forgedke", "claimed", "401") in refusals and ("hb240-partner", "key", "403") in refusals
    login = next(e for e in entries if e["action"] == "login" and e["actor"] == formula)
    assert login["actor_kind"] == "claimed"
    exported = http.get("/audit", params={"format": "csv"}, headers=_as(keys, "admin")).text
    cells = [c for row in csv.reader(io.StringIO(exported)) for c in row]
    assert "'" + formula in cells and formula not in cells  # a spreadsheet reads it as text, not a formula
    verified = http.get("/audit/verify", headers=_as(keys, "admin")).json()
    assert verified["problems"] == [] and verified["chained"] == len(entries)


def test_chat_sessions_are_listed_and_exported_to_their_owner_only(site):
    http, keys, _ = site
    with http.stream("POST", "/chat", json={"question": "Which deviations were notified late?"},
                     headers=_as(keys, "monza")) as response:  # fmt: skip
        body = "".join(response.iter_text())
    session_id = json.loads(body.split("data: ", 1)[1].split("\n", 1)[0])["session_id"]
    mine = http.get("/chat/sessions", headers=_as(keys, "monza")).json()
    assert [s["session_id"] for s in mine][:1] == [session_id]
    assert session_id not in {s["session_id"] for s in http.get("/chat/sessions", headers=_as(keys, "hb240")).json()}
    exported = http.get(f"/chat/sessions/{session_id}/markdown", headers=_as(keys, "monza"))
    assert exported.status_code == 200 and "Which deviations were notified late?" in exported.text
    assert http.get(f"/chat/sessions/{session_id}/markdown", headers=_as(keys, "hb240")).status_code == 404


def test_a_scoped_view_gives_a_documents_passages_as_its_whole_corpus_read_does(tmp_path, corpus_dir):
    """`chunks_of` (what chat reads after an upload) masks and withholds as `iter_all_chunks` (what it reads
    first) does: nothing of a document outside the view, another program's words masked in a shared one."""
    from core.auth import Principal
    from core.portfolio import load_portfolio
    from core.programs import load_programs
    from core.scope import PassagePrograms, ScopedStore
    from core.store import RecordStore
    from ingestion.pipeline import prepare

    settings = Settings(data_dir=tmp_path)
    store = RecordStore(settings.sqlalchemy_url)
    names = ["QA-NGB-HB-002_Quality_Agreement_Northgate_Rev3.pdf", "BPR_HB-101_DS_24-017.pdf"]
    for name in names:
        store.add(prepare(name, (corpus_dir / name).read_bytes(), settings, load_portfolio()))
    hb240 = Principal(name="partner", kind="key", role=Role.VIEWER, programs=["HB-240"])
    view = ScopedStore(store, hb240, PassagePrograms(store, load_portfolio(), load_programs()))
    whole: dict[str, list] = {}
    for chunk, doc in view.iter_all_chunks():
        whole.setdefault(doc.id, []).append(chunk)
    documents = {d.filename: d.id for d in store.list_documents()}
    agreement, batch_record = documents[names[0]], documents[names[1]]
    assert view.chunks_of(batch_record) == [] and batch_record not in whole  # HB-101's batch record
    assert view.chunks_of(agreement) == whole[agreement]
    assert "veltrusimab" not in " ".join(c.text for c in view.chunks_of(agreement))
    assert "veltrusimab" in " ".join(c.text for c in store.chunks_of(agreement))
    store.engine.dispose()


def test_a_scoped_view_quotes_a_finding_as_it_reads_the_page_and_never_draws_what_it_withholds(tmp_path, corpus_dir):
    """A finding's quote from a passage the view withholds comes masked, one from a document it cannot see not at
    all; the drawn page of a document with withheld passages is not given (it would show them)."""
    from core.analysis import FindingRow, FindingSource
    from core.auth import Principal
    from core.evidence import Evidence
    from core.passages import MASK
    from core.portfolio import load_portfolio
    from core.programs import load_programs
    from core.scope import PassagePrograms, ScopedStore
    from core.store import RecordStore, findings
    from ingestion.pipeline import prepare

    settings = Settings(data_dir=tmp_path)
    store = RecordStore(settings.sqlalchemy_url)
    names = ["QA-NGB-HB-002_Quality_Agreement_Northgate_Rev3.pdf", "BPR_HB-101_DS_24-017.pdf"]
    for name in names:
        store.add(prepare(name, (corpus_dir / name).read_bytes(), settings, load_portfolio()))
    documents = {d.filename: d.id for d in store.list_documents()}
    agreement, batch_record = documents[names[0]], documents[names[1]]
    hb240 = Principal(name="partner", kind="key", role=Role.VIEWER, programs=["HB-240"])
    view = ScopedStore(store, hb240, PassagePrograms(store, load_portfolio(), load_programs()))
    page, spans = next((p, s) for p, s in sorted(view.withheld(agreement).items()) if s)
    text = store.page_text(agreement, page)
    start, end = max(0, spans[0][0] - 20), spans[0][1]  # a quote running into a withheld passage
    quoted = Evidence(document_id=agreement, page=page, start=start, end=end, quote=text[start:end])
    elsewhere = Evidence(document_id=batch_record, page=1, start=0, end=20, quote=store.page_text(batch_record, 1)[:20])
    for evidence in (quoted, elsewhere):  # as an analysis writes them
        with store.engine.begin() as conn:
            row = FindingRow(document_id=agreement, source=FindingSource.QTA_REVIEW, code="qta_vague:x", severity="minor",
                             programs=["HB-101", "HB-240"], summary="a vague clause", evidence=evidence)  # fmt: skip
            conn.execute(findings.insert().values(row.model_dump(mode="json", exclude={"id", "due"})))
    seen = [f.evidence for f in view.list_findings()]
    assert seen[1] is None  # the batch record is HB-101's alone
    assert MASK in seen[0].quote and seen[0].quote == view.page_text(agreement, page)[start:end] != quoted.quote
    assert [f.evidence for f in store.list_findings()] == [quoted, elsewhere]  # the store keeps them whole
    assert store.original(agreement) and view.original(agreement) is None and view.original(batch_record) is None
    store.engine.dispose()


def test_a_quote_from_another_document_is_masked_by_what_the_view_withholds_there(tmp_path, corpus_dir):
    """An event's lateness flag quotes its site's agreement: the quote is masked by what the view withholds in the
    agreement, and wholly where it comes from a document the view cannot see."""
    from core.analysis import Analysis, AnalysisKind
    from core.auth import Principal
    from core.passages import MASK
    from core.portfolio import load_portfolio
    from core.programs import load_programs
    from core.scope import PassagePrograms, ScopedStore
    from core.store import RecordStore, utcnow
    from ingestion.pipeline import prepare

    settings = Settings(data_dir=tmp_path)
    store = RecordStore(settings.sqlalchemy_url)
    names = ["QA-NGB-HB-002_Quality_Agreement_Northgate_Rev3.pdf", "BPR_HB-101_DS_24-017.pdf", "BPR_HB-240_DS_24-033.pdf"]
    for name in names:
        store.add(prepare(name, (corpus_dir / name).read_bytes(), settings, load_portfolio()))
    agreement, hb101_record, hb240_record = ({d.filename: d.id for d in store.list_documents()}[n] for n in names)
    hb240 = Principal(name="partner", kind="key", role=Role.VIEWER, programs=["HB-240"])
    view = ScopedStore(store, hb240, PassagePrograms(store, load_portfolio(), load_programs()))
    page, spans = next((p, s) for p, s in sorted(view.withheld(agreement).items()) if s)
    text = store.page_text(agreement, page)
    start, end = spans[0]

    def quote(document_id, page, start, end):
        return {"document_id": document_id, "page": page, "start": start, "end": end,
                "quote": store.page_text(document_id, page)[start:end]}  # fmt: skip

    payload = {"flags": [{"code": "notified_late", "evidence": [quote(agreement, page, start, end),
                                                                quote(hb101_record, 1, 0, 30)]}]}  # fmt: skip
    store.save_analysis(Analysis(document_id=hb240_record, kind=AnalysisKind.EVENT, backend="rules", payload=payload,
                                 analysed_at=utcnow(), programs=["HB-240"]), [])  # fmt: skip
    seen = next(a for a in view.list_analyses() if a.document_id == hb240_record).payload["flags"][0]["evidence"]
    assert seen[0]["quote"] == view.page_text(agreement, page)[start:end] != text[start:end]  # as the view reads it
    assert set(seen[1]["quote"].replace(" ", "").replace("\n", "")) == {MASK}  # HB-101's record: nothing of it
    store.engine.dispose()
