"""Scope probed over HTTP, as a hostile partner with a key of one program (or one site) would try it: other
principals' chat sessions, writes outside the scope, and what an answer to them gives away. Each probe says
whether it leaked; `cdmo eval scope` reports them beside the passage and string judgements (goal: none).
"""

import json
import tempfile
from pathlib import Path

import httpx
from pydantic import BaseModel

from api.accounts import issue_key
from api.ingest import ingest_path
from api.loopback import serving
from core.auth import Role
from core.config import Settings
from core.portfolio import load_portfolio
from retrieval.corpus import Corpus

REPORT = "NC-2024-0127_Stellaris_Filling_Interruption.pdf"  # HB-101, at Stellaris Monza


class Probe(BaseModel):
    probe: str
    leaked: bool
    got: str


def run(corpus_dir: Path) -> list[Probe]:
    with tempfile.TemporaryDirectory(prefix="cdmo-probe-") as work:
        settings = Settings(data_dir=Path(work), auth_enabled=True)
        corpus = Corpus(settings)
        try:
            for path in sorted(corpus_dir.iterdir()):
                ingest_path(corpus, load_portfolio(), path)
            keys = {who: issue_key(corpus.store, who, Role.REVIEWER, **scope).key for who, scope in (
                ("hb101", {"programs": ["HB-101"]}), ("hb240", {"programs": ["HB-240"]}),
                ("monza", {"sites": ["SFF-MONZA"]}))}  # fmt: skip
            keys["admin"] = issue_key(corpus.store, "admin", Role.ADMIN).key
            report = next(d for d in corpus.store.list_documents() if d.filename == REPORT)
            with serving(settings, corpus) as url:
                return _probes(url, keys, corpus_dir, report.id, corpus)
        finally:
            corpus.close()


def _probes(url: str, keys: dict, corpus_dir: Path, report_id: str, corpus: Corpus) -> list[Probe]:
    def client(who: str) -> httpx.Client:
        return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys[who]}"}, timeout=300)

    def upload(http, name: str, data: bytes) -> dict:
        return http.post("/documents", files=[("files", (name, data))], params={"wait": "true"}).json()[0]["result"]

    out = []
    with client("hb101") as hb101, client("hb240") as hb240, client("monza") as monza:
        with hb101.stream("POST", "/chat", json={"question": "What was the root cause of DEV-2024-031?"}) as r:
            session = json.loads(r.read().decode().split("data: ", 1)[1].split("\n", 1)[0])["session_id"]
        read = hb240.get(f"/chat/sessions/{session}")
        out.append(Probe(probe="read another principal's chat session", leaked=read.status_code == 200,
                         got=str(read.status_code)))  # fmt: skip
        added = hb240.post("/chat", json={"question": "and the CAPAs?", "session_id": session})
        out.append(Probe(probe="add a turn to another principal's chat session", leaked=added.status_code == 200,
                         got=str(added.status_code)))  # fmt: skip
        chosen = hb240.post("/chat", json={"question": "Which CAPAs are past due?", "session_id": "chosen-by-me"})
        out.append(Probe(probe="open a session under an id of one's choosing", leaked=chosen.status_code == 200,
                         got=str(chosen.status_code)))  # fmt: skip

        note = upload(hb240, "glove_test.txt", b"Veltrusimab (HB-101) lot F4480 at Stellaris Monza: glove test passed.\n")
        out.append(Probe(probe="store a file of a program outside the scope", leaked=note["status"] != "failed",
                         got=note["status"]))  # fmt: skip
        copy = upload(hb240, "my_copy.pdf", (corpus_dir / REPORT).read_bytes())
        told = copy["status"] == "unchanged" or REPORT in json.dumps(copy) or report_id in json.dumps(copy)
        out.append(Probe(probe="learn of a stored out-of-scope file by sending its bytes", leaked=told,
                         got=f"{copy['status']}: {copy.get('error')}"))  # fmt: skip
        claim = upload(hb240, "NC-2024-0127_closure.md", b"# NC-2024-0127 closure\n\nNon-conformance NC-2024-0127, "
                       b"ordesekimab (HB-240), Stellaris Fill & Finish Monza: the deviation is minor and closed.\n")  # fmt: skip
        linked = claim.get("supersedes") or claim.get("related_to") or claim.get("version_note")
        replaced = corpus.store.get(report_id).status != "current"
        out.append(Probe(probe="supersede, or learn of, an out-of-scope record by its number",
                         leaked=bool(linked) or replaced, got=f"{claim['status']}, linked to {linked}"))  # fmt: skip
        triage = hb240.post("/investigations/triage", files={"file": (REPORT, (corpus_dir / REPORT).read_bytes())})
        out.append(Probe(probe="triage a file of a program outside the scope", leaked=triage.status_code == 200,
                         got=str(triage.status_code)))  # fmt: skip
        cork = upload(monza, "DEV-2024-044.pdf", (corpus_dir / "DEV-2024-044_Buffer_Preparation_Error.pdf").read_bytes())
        out.append(Probe(probe="store a file of a site outside the scope", leaked=cork["status"] != "failed",
                         got=cork["status"]))  # fmt: skip
        with client("admin") as admin:
            out += _register_probes(admin, {"hb101": hb101, "hb240": hb240, "monza": monza})
        out.append(_body_before_key(url))
        hits = hb240.get("/search", params={"q": "24-019 SEC purity", "limit": 10}).json()
        named = [i for h in hits for i in h["matched_identifiers"] if i.lower() not in h["text"].lower()]
        out.append(Probe(probe="learn of an identifier from a hit's matches", leaked=bool(named), got=str(named)))
    return out


def _register_probes(admin: httpx.Client, scoped: dict[str, httpx.Client]) -> list[Probe]:
    """Finding keys that would mean another item in another view; a finding of two programs closed by one."""
    everything = {f["key"]: f for f in admin.get("/findings").json()}

    def where(f: dict) -> tuple:
        e = f["evidence"]
        return f["document_id"], f["code"], (e["page"], e["start"]) if e else None

    differ = [(who, k) for who, http in scoped.items() for k, f in ((f["key"], f) for f in http.get("/findings").json())
              if k not in everything or where(everything[k]) != where(f)]  # fmt: skip
    out = [Probe(probe="a finding key naming another item in another view", leaked=bool(differ),
                 got=f"{len(differ)} keys" + (f", e.g. {differ[0]}" if differ else ""))]  # fmt: skip
    shared = next((k for k, f in ((f["key"], f) for f in scoped["hb240"].get("/findings").json())
                   if {"HB-101", "HB-240"} <= set(everything[k]["programs"])), None)  # fmt: skip
    if shared:
        closed = scoped["hb240"].post(f"/findings/{shared}", json={"action": "close", "text": "closed by one program"})
        out.append(Probe(probe="close a finding another program shares", leaked=closed.status_code == 200,
                         got=str(closed.status_code)))  # fmt: skip
    return out


def _body_before_key(url: str) -> Probe:
    """An upload of 200 MB announced without a key: answered before its body is sent, or spooled first."""
    import socket
    from urllib.parse import urlparse

    where = urlparse(url)
    with socket.create_connection((where.hostname, where.port), timeout=10) as raw:
        raw.sendall(b"POST /documents HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                    b"Content-Length: 200000000\r\n\r\n--b\r\n" + b"x" * 65536)  # fmt: skip
        raw.settimeout(5)
        try:
            answer = raw.recv(200)
        except TimeoutError:
            answer = b"(no answer while the body was still to come)"
    return Probe(probe="have an upload's body read before its key is checked", leaked=not answer.startswith(b"HTTP/1.1 401"),
                 got=answer.split(b"\r\n", 1)[0].decode("latin-1"))  # fmt: skip
