"""Scopes and records that hold under every view, probed over HTTP on loopback with authentication on, keys per
role, program and site, on SQLite and PostgreSQL: one key names one item for every caller; a held downgrade is
held in every figure and decided by someone else; a finding of two programs is changed only by a scope that
covers both; a note carrying a record's number is not counted as the record; bodies are read only after the key
is checked; refused logins and stranger lockouts are bounded.

The corpus is this module's own (the sample, ingested once per record store): these tests write to it.
"""

import dataclasses
import socket
import time
from pathlib import Path

import httpx
import pytest

from api.accounts import issue_key
from core.auth import Role, User, hash_password
from core.config import Settings
from fixtures.render import load_source, render
from retrieval.corpus import Corpus
from tests.conftest import STORES, ingest_all, results, serve, upload

SOURCES = Path(__file__).parents[1] / "fixtures" / "sources"
REPORT = "NC-2024-0127_Stellaris_Filling_Interruption.pdf"  # HB-101, Stellaris Monza, critical
PASSWORD = "correct horse battery staple"
CLAIM = (b"# NC-2024-0127 closure\n\nNon-conformance NC-2024-0127, ordesekimab (HB-240), Stellaris Fill & Finish "
         b"Monza: the deviation is minor and closed; root cause found, no CAPA needed. Classification: Minor\n")  # fmt: skip


@pytest.fixture(scope="module", params=STORES)
def held(request, tmp_path_factory, corpus_dir, embedder):
    url = None
    if request.param == "postgresql":
        from tests.postgres import new_database

        url = new_database(request.getfixturevalue("postgres_server"))
    from datetime import date

    settings = Settings(data_dir=tmp_path_factory.mktemp(f"holds-{request.param}"), database_url=url,
                        auth_enabled=True, as_of=date(2024, 11, 25))  # fmt: skip
    corpus = Corpus(settings, embedder=embedder)
    ingest_all(corpus, corpus_dir)
    store = corpus.store
    keys = {
        "admin": issue_key(store, "ops-admin", Role.ADMIN).key,
        "hb101": issue_key(store, "hb101-qa", Role.REVIEWER, programs=["HB-101"]).key,
        "hb101-second": issue_key(store, "hb101-qa-lead", Role.REVIEWER, programs=["HB-101"]).key,
        "hb240": issue_key(store, "hb240-partner", Role.REVIEWER, programs=["HB-240"]).key,
        "twin": issue_key(store, "hb240-partner", Role.REVIEWER, programs=["HB-240"]).key,  # the same name
        "monza": issue_key(store, "monza-qa", Role.REVIEWER, sites=["SFF-MONZA"]).key,
    }
    store.save_user(User(username="dora", role=Role.VIEWER), hash_password(PASSWORD))
    with serve(settings, embedder, corpus=corpus) as http:
        yield http, keys, corpus
    corpus.close()


def _as(keys, who):
    return {"Authorization": f"Bearer {keys[who]}"}


def _findings(http, keys, who) -> dict[str, dict]:
    return {f["key"]: f for f in http.get("/findings", headers=_as(keys, who)).json()}


def _where(finding: dict) -> tuple | None:
    e = finding["evidence"]
    return (finding["document_id"], finding["code"], e["page"], e["start"]) if e else (finding["document_id"], finding["code"])


# --- 1. one key, one item ---------------------------------------------------------------------------------------


def test_a_finding_key_names_the_same_item_for_every_caller(held):
    """A view narrowed to one program numbered the action items and CAPAs it could see, so that "...:1" was one
    item for an HB-240 reviewer and another program's item for an admin."""
    http, keys, _ = held
    everything = _findings(http, keys, "admin")
    derived = 0
    for who in ("hb101", "hb240", "monza"):
        for key, finding in _findings(http, keys, who).items():
            assert key in everything, (who, key)
            assert _where(everything[key]) == _where(finding), (who, key)
            derived += finding["source"] in ("overdue_action", "overdue_capa")
    assert derived >= 3  # commitments fallen due are among what the scoped views show

    mine = {k: f for k, f in _findings(http, keys, "hb240").items() if f["source"] in ("overdue_action", "overdue_capa")
            and everything[k]["programs"] == ["HB-240"]}  # fmt: skip
    key = next(iter(mine))
    before = {k: f["state"]["status"] for k, f in everything.items()}
    closed = http.post(f"/findings/{key}", json={"action": "close", "text": "Slot confirmed by phone on 2024-11-20"},
                       headers=_as(keys, "hb240"))  # fmt: skip
    assert closed.status_code == 200, closed.text
    after = {k: f["state"]["status"] for k, f in _findings(http, keys, "admin").items()}
    assert {k for k in after if after[k] != before.get(k)} == {key}  # that item, and no other
    history = http.get(f"/findings/{key}/history", headers=_as(keys, "hb240")).json()
    assert [h["by"] for h in history] == ["hb240-partner"]


def test_work_under_a_positional_key_moves_to_the_items_own_key(make_settings, corpus_dir, embedder):
    """Keys of before ("...:overdue_action:action_overdue:3", the third item in the whole store's register) are
    moved once, when the store is opened, to the item's own key; the work on them stays."""
    from datetime import UTC, date, datetime

    from agents.register import FindingRegister, upgrade_positional_keys
    from core.portfolio import load_portfolio
    from core.workflow import FindingAction, FindingChange
    from tests.conftest import ingest_all as ingest

    corpus = Corpus(make_settings(), embedder=embedder)
    try:
        ingest(corpus, corpus_dir)
        store, portfolio = corpus.store, load_portfolio()
        late = FindingRegister(store, portfolio, date(2024, 11, 25)).late_actions()
        key, item = late[0]
        items = [i for i in __import__("agents.action_items", fromlist=["x"]).action_items(store, portfolio)
                 if i.document_id == item.document_id]  # fmt: skip
        old = f"{item.document_id}:overdue_action:action_overdue:{items.index(item) + 1}"
        store.change_finding(FindingChange(action=FindingAction.COMMENT, text="chased on 2024-11-20", key=old,
                                           by="marta", at=datetime.now(UTC)))  # fmt: skip
        assert upgrade_positional_keys(store, portfolio) == 1
        assert store.finding_histories([key])[key][0].text == "chased on 2024-11-20"
        assert upgrade_positional_keys(store, portfolio) == 0  # once
    finally:
        corpus.close()


# --- 2, 3. held means held, decided by another -----------------------------------------------------------------


def _lower_revision(tmp_path: Path) -> Path:
    source = load_source(SOURCES / "nc_2024_0127_stellaris.md")
    elements = [dataclasses.replace(e, text=e.text.replace("Classification: Critical", "Classification: Minor"))
                for e in source.elements]  # fmt: skip
    return render(dataclasses.replace(source, elements=elements), tmp_path)


def _figures(http, keys) -> dict:
    admin = _as(keys, "admin")
    return {
        "risk": http.get("/sites/SFF-MONZA/risk", headers=admin).json()["score"],
        "readiness": http.get("/programs/HB-101/readiness", headers=admin).json()["score"],
        "events": sorted((e["record_ids"][:1], e["risk"]) for e in http.get("/events", headers=admin).json()
                         if e["site"] == "SFF-MONZA"),  # fmt: skip
        "findings": sorted(f["code"] for f in http.get("/findings", headers=admin).json()
                           if f["site"] == "SFF-MONZA" and f["source"] == "event"),  # fmt: skip
    }


def test_a_held_downgrade_counts_the_higher_reading_everywhere_and_is_decided_by_someone_else(held, tmp_path):
    http, keys, _ = held
    before = _figures(http, keys)
    path = _lower_revision(tmp_path)
    sent = http.post("/documents", files=[("files", (path.name, path.read_bytes()))], params={"wait": "true"},
                     headers=_as(keys, "hb101"))  # fmt: skip
    (revision,) = results(sent)
    assert revision["status"] == "new_version" and revision["downgrade"], revision
    assert _figures(http, keys) == before  # risk, readiness, events and flags: the higher reading, while held

    own = http.post(f"/documents/{revision['document_id']}/downgrade", headers=_as(keys, "hb101"),
                    json={"confirm": True, "reason": "The CDMO's board reclassified it"})  # fmt: skip
    assert own.status_code == 403 and "second person" in own.json()["detail"]
    assert http.get("/documents/downgrades", headers=_as(keys, "admin")).json()[0]["status"] == "pending"
    decided = http.post(f"/documents/{revision['document_id']}/downgrade", headers=_as(keys, "hb101-second"),
                        json={"confirm": True, "reason": "Reclassified by the CDMO's QA board, minutes seen"})  # fmt: skip
    assert decided.status_code == 200 and decided.json()["decided_by"] == "hb101-qa-lead"
    confirmed = _figures(http, keys)
    assert confirmed["risk"] < before["risk"] and confirmed != before

    reviewer_undo = http.post(f"/documents/{revision['document_id']}/downgrade/undo", headers=_as(keys, "hb101-second"),
                              json={"reason": "decided in haste"})  # fmt: skip
    assert reviewer_undo.status_code == 403  # admins undo
    undone = http.post(f"/documents/{revision['document_id']}/downgrade/undo", headers=_as(keys, "admin"),
                       json={"reason": "The board's minutes were a draft"})  # fmt: skip
    assert undone.status_code == 200 and undone.json()["status"] == "pending"
    assert _figures(http, keys) == before  # held again
    audit = [e["action"] for e in http.get("/audit", headers=_as(keys, "admin")).json()]
    assert "confirm_downgrade" in audit and "undo_downgrade_decision" in audit
    rejected = http.post(f"/documents/{revision['document_id']}/downgrade", headers=_as(keys, "admin"),
                         json={"confirm": False, "reason": "No evidence for the reclassification"})  # fmt: skip
    assert rejected.status_code == 200 and _figures(http, keys) == before


# --- 4. a finding of two programs ----------------------------------------------------------------------------


def test_a_finding_of_two_programs_is_changed_only_by_a_scope_that_covers_both(held):
    http, keys, _ = held
    everything = _findings(http, keys, "admin")
    shared = next(k for k, f in _findings(http, keys, "hb240").items()
                  if set(everything[k]["programs"]) >= {"HB-101", "HB-240"} and f["state"]["status"] == "open")  # fmt: skip
    refused = http.post(f"/findings/{shared}", json={"action": "close", "text": "Agreed with Quantix by e-mail"},
                        headers=_as(keys, "hb240"))  # fmt: skip
    assert refused.status_code == 403 and "HB-101" in refused.json()["detail"]
    assert _findings(http, keys, "admin")[shared]["state"]["status"] == "open"  # nothing changed
    assert http.post(f"/findings/{shared}", json={"action": "acknowledge"}, headers=_as(keys, "admin")).status_code == 200
    entries = http.get("/audit", headers=_as(keys, "admin")).json()
    assert any(e["action"] == "refused_request" and e["outcome"] == "403" and shared in e["detail"]["reason"]
               for e in entries)  # fmt: skip


def test_an_assignment_due_in_year_one_or_9999_is_refused(held):
    http, keys, _ = held
    key = next(iter(_findings(http, keys, "admin")))
    for due in ("0001-01-01", "9999-12-31"):
        answer = http.post(f"/findings/{key}", json={"action": "assign", "assignee": "Marta Rossi", "due": due},
                           headers=_as(keys, "admin"))  # fmt: skip
        assert answer.status_code == 422 and due in answer.json()["detail"], answer.text


# --- 9. a note that carries another record's number --------------------------------------------------------------


def test_a_scoped_writers_note_carrying_a_records_number_is_not_counted_as_that_record(held):
    http, keys, _ = held
    (claim,) = results(http.post("/documents", files=[("files", ("NC-2024-0127_closure.md", CLAIM))],
                                 params={"wait": "true"}, headers=_as(keys, "hb240")))  # fmt: skip
    assert claim["status"] == "added" and not claim.get("related_to") and not claim.get("version_note")
    admin_events = [e for e in http.get("/events", headers=_as(keys, "admin")).json() if e["record_ids"][:1] == ["NC-2024-0127"]]
    assert [e["risk"] for e in admin_events] == ["HIGH"]  # the record itself, not the note beside it
    assert not [f for f in http.get("/findings", headers=_as(keys, "admin")).json() if f["document_id"] == claim["document_id"]]
    mine = [e for e in http.get("/events", headers=_as(keys, "hb240")).json() if e["document_id"] == claim["document_id"]]
    assert mine  # its writer, who cannot see the record, sees its own reading as before: nothing is given away


# --- 7. the key before the body ------------------------------------------------------------------------------


def test_an_upload_without_a_key_is_refused_before_its_body_is_read(held):
    http, _, _ = held
    host, port = http.base_url.host, http.base_url.port
    with socket.create_connection((host, port), timeout=10) as raw:
        raw.sendall(b"POST /documents HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                    b"Content-Length: 200000000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"files\"; "
                    b"filename=\"big.pdf\"\r\n\r\n" + b"x" * 65536)  # fmt: skip
        started = time.perf_counter()
        answer = raw.recv(4096)
    assert answer.startswith(b"HTTP/1.1 401") and time.perf_counter() - started < 5, answer[:200]


# --- 9. jobs, logins, identifiers -------------------------------------------------------------------------------


def test_a_job_is_its_senders_not_anyone_of_the_same_name(held):
    http, keys, _ = held
    sent = http.post("/documents", files=[("files", ("glove.txt", b"Ordesekimab (HB-240) lot G1: glove test passed.\n"))],
                     headers=_as(keys, "hb240"))  # fmt: skip
    job = sent.json()[0]["id"]
    assert http.get(f"/jobs/{job}", headers=_as(keys, "hb240")).status_code == 200
    assert http.get(f"/jobs/{job}", headers=_as(keys, "twin")).status_code == 404
    assert job not in {j["id"] for j in http.get("/jobs", headers=_as(keys, "twin")).json()}


def test_refused_logins_are_written_at_a_bounded_rate_and_a_stranger_cannot_lock_a_user_out(held):
    http, keys, corpus = held
    from collections import Counter

    before = len(corpus.store.audit_entries(action="login"))
    for n in range(150):
        http.post("/auth/login", json={"username": f"nobody-{n}", "password": "wrong guess"})
    written = corpus.store.audit_entries(action="login")[before:]
    per_minute = Counter(e.at.strftime("%H:%M") for e in written)
    assert len(written) < 150 and max(per_minute.values()) <= 60, per_minute  # one by one up to 60 a minute
    stranger = httpx.Client(base_url=str(http.base_url), transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    with stranger:
        for _ in range(7):
            stranger.post("/auth/login", json={"username": "dora", "password": "not her password"})
        assert stranger.post("/auth/login", json={"username": "dora", "password": PASSWORD}).status_code == 429
    assert http.post("/auth/login", json={"username": "dora", "password": PASSWORD}).status_code == 200


def test_search_names_no_identifier_a_scoped_viewer_may_not_read(held):
    http, keys, _ = held
    for hit in http.get("/search", params={"q": "24-019 SEC purity", "limit": 10}, headers=_as(keys, "hb240")).json():
        for identifier in hit["matched_identifiers"]:
            assert identifier.lower() in hit["text"].lower(), hit
