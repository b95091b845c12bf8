"""Trust: logins and API keys, roles, scoping by program and site on every read path, the audit trail."""

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from agents.nightly_runner import NightlyRunner
from api.accounts import issue_key
from core.auth import Role, User, hash_password
from core.config import Settings
from core.passages import MASK
from core.portfolio import load_portfolio
from core.programs import load_programs
from retrieval.corpus import Corpus
from tests.conftest import STORES, ingest_all, results, serve, upload

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module", params=STORES)
def trusted_corpus(request, chat_corpus, tmp_path_factory, corpus_dir, embedder):
    """The analysed sample on SQLite (the session's) and on a real PostgreSQL."""
    if request.param == "sqlite":
        yield chat_corpus
        return
    from tests.postgres import new_database

    url = new_database(request.getfixturevalue("postgres_server"))
    corpus = Corpus(Settings(data_dir=tmp_path_factory.mktemp("trust-pg"), database_url=url), embedder=embedder)
    ingest_all(corpus, corpus_dir)
    yield corpus
    corpus.close()


@pytest.fixture(scope="module")
def secured(trusted_corpus, embedder):
    """The analysed sample behind authentication, with keys for each role and one scoped to HB-240."""
    chat_corpus = trusted_corpus
    store = chat_corpus.store
    keys = {
        "admin": issue_key(store, "ops-admin", Role.ADMIN).key,
        "reviewer": issue_key(store, "lims-bridge", Role.REVIEWER).key,
        "viewer": issue_key(store, "dashboard", Role.VIEWER).key,
        "hb240": issue_key(store, "hb240-partner", Role.VIEWER, programs=["HB-240"]).key,
        "sff": issue_key(store, "monza-qa", Role.VIEWER, sites=["SFF-MONZA"]).key,
    }
    store.save_user(User(username="elena", role=Role.REVIEWER, programs=["HB-240"]), hash_password(PASSWORD))
    run, _ = NightlyRunner(
        chat_corpus.settings.model_copy(update={"as_of": datetime(2024, 11, 25).date()}),
        store,
        load_portfolio(),
        load_programs(),
    ).run(until=datetime(2030, 1, 1, tzinfo=UTC))
    settings = chat_corpus.settings.model_copy(update={"auth_enabled": True})
    with serve(settings, embedder, corpus=chat_corpus) as http:
        yield http, keys, run, store


def _as(keys, who):
    return {"Authorization": f"Bearer {keys[who]}"}


def _documents(store, program: str):
    return [d for d in store.list_documents() if program in d.metadata.programs]


def test_nothing_is_read_without_a_key_or_a_session(secured):
    http, keys, _, _ = secured
    for path in (
        "/documents",
        "/search?q=deviation",
        "/events",
        "/findings",
        "/sites/risk",
        "/summaries",
        "/portfolio",
    ):
        assert http.get(path).status_code == 401, path
    assert http.post("/chat", json={"question": "which deviations are open?"}).status_code == 401
    assert http.get("/documents", headers={"Authorization": "Bearer ck_forged"}).status_code == 401
    assert http.get("/health").status_code == 200 and http.get("/").status_code == 200  # the login page
    assert http.get("/documents", headers=_as(keys, "viewer")).status_code == 200


def test_roles_decide_who_uploads_and_who_administers(secured, corpus_dir):
    http, keys, _, _ = secured
    memo = ("roles_memo.txt", b"Stellaris QA memo for HB-101: line 2 glove tests now run before each batch.")
    assert http.post("/documents", files=[("files", memo)], headers=_as(keys, "viewer")).status_code == 403
    assert upload(http, [("files", memo)], headers=_as(keys, "reviewer")).status_code == 201
    new_key = {"name": "x", "role": "admin"}
    assert http.post("/auth/keys", json=new_key, headers=_as(keys, "reviewer")).status_code == 403
    assert http.get("/audit", headers=_as(keys, "reviewer")).status_code == 403
    assert http.post("/auth/keys", json=new_key, headers=_as(keys, "admin")).status_code == 201


def test_a_program_scoped_key_never_sees_another_programs_records(secured):
    http, keys, run, store = secured
    h = _as(keys, "hb240")
    hidden = [d for d in _documents(store, "HB-101") if "HB-240" not in d.metadata.programs]
    assert hidden
    listed = http.get("/documents", headers=h).json()
    assert listed and all("HB-240" in d["metadata"]["programs"] for d in listed)
    for doc in hidden:
        for path in ("", "/pages/1", "/tables", "/versions"):
            assert http.get(f"/documents/{doc.id}{path}", headers=h).status_code == 404, (doc.filename, path)
        assert http.get(f"/events/{doc.id}", headers=h).status_code == 404
        assert http.get(f"/qta/reviews/{doc.id}", headers=h).status_code == 404
    for hit in http.get("/search", params={"q": "DEV-2024-031 temperature excursion 24-017"}, headers=h).json():
        assert "HB-240" in hit["programs"]
    assert all("HB-240" in e["programs"] for e in http.get("/events", headers=h).json())
    assert all("HB-240" in f["programs"] for f in http.get("/findings", headers=h).json())
    assert [p["id"] for p in http.get("/portfolio", headers=h).json()["programs"]] == ["HB-240"]
    assert http.get("/programs/HB-101/readiness", headers=h).status_code == 404
    assert http.get("/programs/HB-240/readiness", headers=h).status_code == 200
    digest = http.get(f"/summaries/{run.id}", params={"format": "markdown"}, headers=h).text
    assert "DEV-2024-044" in digest  # HB-240's own deviation
    # a record of an HB-101-only document shows only where a document HB-240 shares also names it (a QBR of both)
    shared = " ".join(p.text for d in _documents(store, "HB-240") for p in store.pages(d.id))
    records = {r for d in hidden if (a := store.analysis(d.id)) for r in a.payload.get("record_ids", [])}
    assert records - set(shared.split())
    for record in records:
        assert record in shared or record not in digest, record
    (listed_run,) = http.get("/summaries", headers=h).json()
    assert set(listed_run["program_scores"]) == {"HB-240"}


def test_chat_answers_a_scoped_key_only_from_its_programs(secured):
    http, keys, _, store = secured
    visible = {d.id for d in _documents(store, "HB-240")}

    def ask(question):
        with http.stream("POST", "/chat", json={"question": question}, headers=_as(keys, "hb240")) as r:
            blocks = r.read().decode().strip().split("\n\n")
        return json.loads(blocks[-1].split("\n")[1].removeprefix("data: "))

    dev031 = ask("Which open deviations touch batch 24-021?")  # HB-101's DEV-2024-038
    assert "DEV-2024-038" not in json.dumps(dev031)
    anything = ask("What was the root cause of the bioreactor temperature excursion?")  # DEV-2024-031, HB-101
    assert "solenoid" not in json.dumps(anything).lower()
    own = ask("What was the HCP after anion exchange for batch 24-033?")
    assert own["citations"] and {c["document_id"] for c in own["citations"]} <= visible
    session = own["session_id"]
    assert http.get(f"/chat/sessions/{session}", headers=_as(keys, "hb240")).json()
    # another principal's session is not found by anyone else, nor can anyone else add to it
    with http.stream(
        "POST", "/chat", json={"question": "Which open deviations touch batch 24-021?"}, headers=_as(keys, "viewer")
    ) as r:
        other = json.loads(r.read().decode().strip().split("\n\n")[-1].split("\n")[1].removeprefix("data: "))
    assert http.get(f"/chat/sessions/{other['session_id']}", headers=_as(keys, "hb240")).status_code == 404
    follow = {"question": "and at the DP site?", "session_id": other["session_id"]}
    assert http.post("/chat", json=follow, headers=_as(keys, "hb240")).status_code == 404
    made_up = {"question": "Which CAPAs are past due?", "session_id": "my-own-session-id"}
    assert http.post("/chat", json=made_up, headers=_as(keys, "viewer")).status_code == 404  # ids are the server's


def _hb101_named(text: str, store) -> list[str]:
    """HB-101 by name, product or alias, or one of its batch numbers (from its batch records and lots)."""
    batches = {b for lot, bs in load_programs().get("HB-101").lots.items() for b in (lot, *bs)}
    batches |= {b for d in store.list_documents() if d.metadata.programs == ["HB-101"] and d.kind == "batch_record"
                for b in d.metadata.batch_ids}  # fmt: skip
    named = [p for p in load_portfolio().program_ids_in(text) if p == "HB-101"]
    return named + [b for b in batches if re.search(rf"(?<![\w-]){re.escape(b)}(?![\w-])", text)]


def test_a_document_of_two_programs_shows_a_scoped_key_only_its_own_programs_passages(secured):
    """The QBR, the weekly calls, the quality agreements and the resin change cover HB-101 and HB-240: an
    HB-240 key reads them with every HB-101 passage masked, offsets kept, in pages, tables, events,
    search, chat and the digest."""
    http, keys, run, store = secured
    h, admin = _as(keys, "hb240"), _as(keys, "admin")
    shared = [d for d in _documents(store, "HB-240") if "HB-101" in d.metadata.programs]
    assert len(shared) >= 5
    masked = kept = 0
    for doc in shared:
        listed = http.get(f"/documents/{doc.id}", headers=h).json()
        assert listed["metadata"]["programs"] == ["HB-240"] and not _hb101_named(listed["title"], store)
        # every string of it: file name, record and batch numbers, the headings its passages sit under
        strings = [listed["filename"], *listed["metadata"]["batch_ids"], *listed["metadata"]["document_ids"],
                   *listed["metadata"]["products"], *(c["section"] for c in listed["chunks"])]  # fmt: skip
        assert not _hb101_named(" | ".join(strings), store), (doc.filename, _hb101_named(" | ".join(strings), store))
        for number in range(1, doc.page_count + 1):
            full = http.get(f"/documents/{doc.id}/pages/{number}", headers=admin).json()["text"]
            seen = http.get(f"/documents/{doc.id}/pages/{number}", headers=h).json()["text"]
            assert len(seen) == len(full) and all(a == b or b == MASK for a, b in zip(full, seen))
            assert not _hb101_named(seen, store), (doc.filename, number, _hb101_named(seen, store))
            masked += sum(a != b for a, b in zip(full, seen))
            kept += sum(a == b and not a.isspace() for a, b in zip(full, seen))
        cells = " ".join(c["text"] for t in http.get(f"/documents/{doc.id}/tables", headers=h).json()
                         for row in t["rows"] for c in row["cells"])  # fmt: skip
        assert not _hb101_named(cells, store)
        event = http.get(f"/events/{doc.id}", headers=h)
        if event.status_code == 200:
            assert not _hb101_named(json.dumps(event.json()), store) and "veltrusimab" not in event.text.lower()
    assert masked > 1000 and kept > 3 * masked  # HB-101's passages go; the rest of the documents stays
    qbr = next(d for d in shared if "QBR" in d.filename)
    assert "Aldren Capital Partners" in http.get(f"/documents/{qbr.id}/pages/1", headers=h).json()["text"]

    question = {"q": "HB-101 drug substance demand in 2025 and second source", "limit": 10}
    assert "9 batches" in json.dumps(http.get("/search", params=question, headers=admin).json())
    hits = http.get("/search", params=question, headers=h).json()
    assert hits and not any(_hb101_named(hit["text"] + hit["title"] + hit["section"] + hit["filename"], store)
                            for hit in hits)  # fmt: skip
    assert not any("9 batches" in hit["text"] for hit in hits)

    def ask(headers) -> dict:
        demand = {"question": "How many batches of HB-101 drug substance are needed in 2025?"}
        with http.stream("POST", "/chat", json=demand, headers=headers) as r:
            return json.loads(r.read().decode().strip().split("\n\n")[-1].split("\n")[1].removeprefix("data: "))

    assert "9 batches" in json.dumps(ask(admin))
    answer = ask(h)  # read against the key's own programs: even a refusal names nothing of HB-101's
    assert "9 batches" not in json.dumps(answer) and not _hb101_named(json.dumps(answer["citations"]), store)
    assert not _hb101_named(" ".join(s["text"] for s in answer["sentences"]), store)
    with http.stream("POST", "/chat", json={"question": "What happened with batch 24-017?"}, headers=h) as r:
        refusal = r.read().decode()
    assert "veltrusimab" not in refusal.lower() and "HB-101" not in refusal
    digest = http.get(f"/summaries/{run.id}", params={"format": "markdown"}, headers=h).text
    assert not _hb101_named(digest, store), _hb101_named(digest, store)

    findings = http.get("/findings", headers=h).json()  # the register: its summaries and the quotes it opens
    assert findings and any(f["evidence"] for f in findings)
    assert not _hb101_named(json.dumps(findings), store), _hb101_named(json.dumps(findings), store)
    for e in (f["evidence"] for f in findings if f["evidence"]):  # each quote as the key reads its page: masked alike
        seen = http.get(f"/documents/{e['document_id']}/pages/{e['page']}", headers=h).json()["text"]
        assert seen[e["start"] : e["end"]] == e["quote"]
    pdf = next(d for d in shared if d.file_type == "pdf")
    assert http.get(f"/documents/{pdf.id}/pages/1", headers=admin).json()["rendered_url"]
    assert http.get(f"/documents/{pdf.id}/pages/1", headers=h).json()["rendered_url"] is None  # drawn, it would show HB-101
    assert http.get(f"/documents/{pdf.id}/pages/1/rendered.png", headers=h).status_code == 404


def test_a_site_scoped_key_sees_only_that_sites_risk_and_papers(secured):
    http, keys, _, _ = secured
    h = _as(keys, "sff")
    assert http.get("/sites/NGB-CORK/risk", headers=h).status_code == 404
    risk = http.get("/sites/SFF-MONZA/risk", headers=h).json()
    assert risk["dimensions"][1]["signals"]
    assert all("SFF-MONZA" in d["metadata"]["sites"] for d in http.get("/documents", headers=h).json())


def test_a_login_session_for_people(secured):
    http, _, _, store = secured
    assert http.post("/auth/login", json={"username": "elena", "password": "wrong password!"}).status_code == 401
    response = http.post("/auth/login", json={"username": "elena", "password": PASSWORD})
    assert response.status_code == 200 and "httponly" in response.headers["set-cookie"].lower()
    assert "samesite=strict" in response.headers["set-cookie"].lower()
    me = http.get("/auth/me").json()
    assert me["name"] == "elena" and me["programs"] == ["HB-240"] and me["kind"] == "user"
    assert all("HB-240" in d["metadata"]["programs"] for d in http.get("/documents").json())
    http.post("/auth/logout")
    http.cookies.clear()
    assert http.get("/documents").status_code == 401
    refused = store.audit_entries(actor="elena", action="login")
    assert [e.outcome for e in refused][:2] == ["refused", "ok"]


def test_failed_logins_lock_the_name_out_until_the_window_passes(secured):
    http, keys, _, store = secured
    store.save_user(User(username="dora", role=Role.VIEWER), hash_password(PASSWORD))
    wrong = {"username": "dora", "password": "not her password"}
    for _ in range(2):  # failures before a success do not count against the next attempts
        assert http.post("/auth/login", json=wrong).status_code == 401
    assert http.post("/auth/login", json={"username": "dora", "password": PASSWORD}).status_code == 200
    http.cookies.clear()
    for _ in range(5):
        assert http.post("/auth/login", json=wrong).status_code == 401
    locked = http.post("/auth/login", json={"username": "dora", "password": PASSWORD})  # even the right one
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) == 15 * 60
    assert "dora" in locked.json()["detail"] and "cdmo_session" not in http.cookies
    nobody = {"username": "no-such-user", "password": "guessing again"}
    assert [http.post("/auth/login", json=nobody).status_code for _ in range(6)] == [401] * 5 + [429]
    assert http.post("/auth/login", json={"username": "elena", "password": PASSWORD}).status_code == 200  # others
    http.cookies.clear()
    assert [e.outcome for e in store.audit_entries(actor="dora", action="login")][-2:] == ["refused", "locked"]
    later = datetime.now(UTC) + timedelta(minutes=1)  # once the failures have left the window, it opens again
    assert store.failed_logins("dora", later) == 0 and store.failed_logins("dora", later - timedelta(hours=1)) == 5


def test_admins_list_and_revoke_keys_and_remove_or_reset_users(secured):
    http, keys, _, store = secured
    admin = _as(keys, "admin")
    issued = http.post("/auth/keys", json={"name": "old-lims", "role": "viewer"}, headers=admin).json()
    bearer = {"Authorization": f"Bearer {issued['key']}"}
    assert http.get("/documents", headers=bearer).status_code == 200
    listed = http.get("/auth/keys", headers=admin).json()
    assert issued["id"] in [k["id"] for k in listed] and not any("key" in k or "key_hash" in k for k in listed)
    assert http.delete(f"/auth/keys/{issued['id']}", headers=_as(keys, "reviewer")).status_code == 403
    assert http.delete(f"/auth/keys/{issued['id']}", headers=admin).status_code == 204
    assert http.get("/documents", headers=bearer).status_code == 401
    assert http.delete(f"/auth/keys/{issued['id']}", headers=admin).status_code == 404

    user = {"username": "frank", "password": PASSWORD, "role": "reviewer"}
    assert http.post("/auth/users", json=user, headers=admin).status_code == 201
    assert http.post("/auth/login", json={"username": "frank", "password": PASSWORD}).status_code == 200
    assert http.get("/auth/me").json()["role"] == "reviewer"
    reset = {**user, "password": "a brand new passphrase", "role": "viewer"}
    assert http.post("/auth/users", json=reset, headers=admin).status_code == 201
    assert http.get("/auth/me").status_code == 401  # the session of the old password ended
    http.cookies.clear()
    assert http.post("/auth/login", json={"username": "frank", "password": reset["password"]}).status_code == 200
    assert {"username": "frank", "role": "viewer", "programs": None, "sites": None} in http.get(
        "/auth/users", headers=admin
    ).json()
    assert http.delete("/auth/users/frank", headers=admin).status_code == 204
    assert http.get("/auth/me").status_code == 401
    http.cookies.clear()
    assert http.post("/auth/login", json={"username": "frank", "password": reset["password"]}).status_code == 401
    actions = [e.action for e in store.audit_entries(actor="ops-admin")]
    assert {"add_key", "revoke_key", "add_user", "remove_user"} <= set(actions)


def test_the_audit_trail_records_who_did_what_to_which_version_and_cannot_be_changed(secured):
    http, keys, _, store = secured
    memo = ("audit_memo.txt", b"Quantix QA memo for HB-240: potency assay transfer completed 13 December 2024.")
    (uploaded,) = results(upload(http, [("files", memo)], headers=_as(keys, "reviewer")))
    with http.stream(
        "POST",
        "/chat",
        json={"question": "When was the potency assay transfer completed?"},
        headers=_as(keys, "viewer"),
    ) as r:
        r.read()
    entries = http.get("/audit", headers=_as(keys, "admin")).json()
    entry = next(e for e in entries if e["action"] == "upload" and e["detail"]["filename"] == "audit_memo.txt")
    assert entry["actor"] == "lims-bridge" and entry["actor_kind"] == "key" and entry["role"] == "reviewer"
    doc = store.get(uploaded["document_id"])
    assert entry["documents"] == [
        {"id": doc.id, "filename": doc.filename, "content_hash": doc.content_hash, "version": 1}
    ]
    question = next(e for e in reversed(entries) if e["action"] == "question")
    assert question["actor"] == "dashboard" and question["backend"] == "offline"
    assert question["detail"]["question"] == "When was the potency assay transfer completed?"
    assert all(d["content_hash"] for d in question["documents"])
    lines = http.get("/audit", params={"format": "jsonl"}, headers=_as(keys, "admin")).text.splitlines()
    assert len(lines) == len(entries) and json.loads(lines[-1])["id"] == entries[-1]["id"]
    rows = list(csv.reader(io.StringIO(http.get("/audit", params={"format": "csv"}, headers=_as(keys, "admin")).text)))
    assert rows[0][:6] == ["id", "at", "actor", "actor_kind", "role", "action"] and len(rows) == len(entries) + 1
    statements = ["DELETE FROM audit_log", "UPDATE audit_log SET actor = 'someone else'"]
    if store.engine.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_log")
    for statement in statements:  # straight at the database, past the application
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as db:
            db.execute(text(statement))
    assert len(store.audit_entries()) == len(entries)


def test_the_web_app_asks_for_a_login_and_then_shows_only_the_users_programs(secured, browser):
    http, _, _, _ = secured
    page = browser.new_page()
    page.goto(str(http.base_url))
    page.locator("#login").wait_for()
    assert not page.locator("main").is_visible()
    page.fill("#username", "elena")
    page.fill("#password", "not the password")
    page.click("#login button")
    page.wait_for_function("document.querySelector('#login-error').textContent.length > 0")
    page.fill("#password", PASSWORD)
    page.click("#login button")
    page.locator("main").wait_for()
    page.wait_for_function("document.querySelector('#who').textContent.includes('elena')")
    assert "programs HB-240" in page.locator("#who").inner_text()
    page.wait_for_function("document.querySelectorAll('#scope option').length > 1")
    options = page.locator("#scope option").all_inner_texts()
    assert any("HB-240" in o for o in options) and not any("HB-101" in o for o in options)
    page.close()
