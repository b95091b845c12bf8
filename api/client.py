"""The API over HTTP, as typed records: what the CLI uses while a server owns the store.

Every method returns the same record the library call would, so a command prints the same thing whether
it ran here or in the server. The server is found through the store's lock file (core.ownership), which
also holds the token this client presents: whoever can read the data folder acts as its admin.
"""

import json
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import httpx
from pydantic import BaseModel, TypeAdapter

from api.reports import ReportFormat
from core.audit import AuditVerification
from core.auth import ApiKeyInfo, AuditEntry, IssuedKey, Role, User
from core.chat import ChatEvent, ChatEventType, ChatScope
from core.consistency import ConsistencyReport
from core.documents import Document, IngestResult, IngestStatus
from core.investigations import InvestigationEvent
from core.observations import RegulatoryFindings
from core.jobs import IngestJob
from core.oversight import NightlyOutcome, PartnerRisk, ProgramReadiness
from core.ownership import StoreOwner
from core.qta import QtaReview
from core.search import SearchFilters, SearchHit, SearchMode
from core.work import Progress
from core.workflow import FindingRequest, FindingStatus, TrackedFinding

ACTOR_HEADER = "X-CDMO-Actor"  # the terminal user the CLI acts for, for the server's audit trail


class Refused(RuntimeError):
    """A command the store would not carry out (here or in the server), said in words: no such site, a file
    it cannot read, a repair while a server runs."""


class ServerClient:
    def __init__(self, owner: StoreOwner, actor: str, timeout: float = 600.0):
        self.owner = owner
        self.http = httpx.Client(
            base_url=owner.url,
            headers={"Authorization": f"Bearer {owner.token}", ACTOR_HEADER: actor},
            timeout=httpx.Timeout(timeout, connect=5.0),
        )

    def close(self) -> None:
        self.http.close()

    # --- documents, search, chat ------------------------------------------------------------

    def documents(self, include_superseded: bool = False) -> list[Document]:
        return _list(Document, self._call("GET", "/documents", params={"include_superseded": include_superseded}))

    def search(self, query: str, filters: SearchFilters, limit: int, mode: SearchMode) -> list[SearchHit]:
        params = {"q": query, "limit": limit, "mode": mode.value, "include_superseded": filters.include_superseded}
        params |= {k: v for k, v in (("site", filters.site), ("program", filters.program)) if v}
        if filters.kind:
            params["kind"] = filters.kind.value
        if filters.since:
            params["since"] = filters.since.isoformat()
        return _list(SearchHit, self._call("GET", "/search", params=params))

    def ask(self, question: str, scope: ChatScope, session: str | None) -> Iterator[ChatEvent]:
        body = {"question": question, "site": scope.site, "program": scope.program, "session_id": session}
        try:
            with self.http.stream("POST", "/chat", json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise Refused(_detail(response))
                kind = None
                for line in response.iter_lines():  # server-sent events: "event: x", "data: {...}", blank
                    if line.startswith("event: "):
                        kind = line[7:].strip()
                    elif line.startswith("data: ") and kind:
                        event = ChatEvent(type=ChatEventType(kind), data=json.loads(line[6:]))
                        if event.type == ChatEventType.ERROR:
                            raise Refused(event.data.get("detail", "the answer could not be completed"))
                        yield event
        except httpx.TransportError:
            raise Refused(f"the server that owns the store ({self.owner.describe()}) does not answer") from None

    def ingest(self, path: Path, data: bytes, on_progress: Progress | None = None) -> IngestResult:
        """Queue the file, then follow its job to the end, telling `on_progress` each stage."""
        (job,) = _list(IngestJob, self._call("POST", "/documents", files=[("files", (path.name, data))], ok=(202,)))
        seen = None
        while not job.finished:
            if on_progress and (job.stage, job.done) != seen:
                seen = (job.stage, job.done)
                on_progress(job.stage or job.status.value, job.done, job.total)
            time.sleep(0.25)
            job = IngestJob.model_validate(self._call("GET", f"/jobs/{job.id}").json())
        if job.result is None:
            return IngestResult(filename=job.filename, status=IngestStatus.FAILED, error=job.error)
        return job.result

    # --- analyses ------------------------------------------------------------------------------

    def review_qta(self, path: Path, data: bytes, playbook: Path | None, fmt: ReportFormat) -> str | bytes:
        files = [("file", (path.name, data))]
        if playbook is not None:
            files.append(("playbook", (playbook.name, playbook.read_bytes())))
        return _report(QtaReview, self._call("POST", "/qta/review", params={"format": fmt.value}, files=files), fmt)

    def triage(self, path: Path, data: bytes, fmt: ReportFormat) -> str | bytes:
        files = [("file", (path.name, data))]
        response = self._call("POST", "/investigations/triage", params={"format": fmt.value}, files=files)
        return _report(InvestigationEvent, response, fmt)

    def observations(self, path: Path, data: bytes, fmt: ReportFormat) -> str | bytes:
        files = [("file", (path.name, data))]
        response = self._call("POST", "/observations/read", params={"format": fmt.value}, files=files)
        return _report(RegulatoryFindings, response, fmt)

    # --- oversight -----------------------------------------------------------------------------

    def risk(self, site: str | None, as_of: date | None) -> list[PartnerRisk]:
        params = {"as_of": as_of.isoformat()} if as_of else {}
        if site:
            return [PartnerRisk.model_validate(self._call("GET", f"/sites/{site}/risk", params=params).json())]
        return _list(PartnerRisk, self._call("GET", "/sites/risk", params=params))

    def readiness(self, program: str | None, as_of: date | None) -> list[ProgramReadiness]:
        params = {"as_of": as_of.isoformat()} if as_of else {}
        if program:
            found = self._call("GET", f"/programs/{program}/readiness", params=params).json()
            return [ProgramReadiness.model_validate(found)]
        return _list(ProgramReadiness, self._call("GET", "/programs/readiness", params=params))

    def nightly(self, since: datetime | None, until: datetime | None, as_of: date | None) -> NightlyOutcome:
        body = {k: v.isoformat() for k, v in (("since", since), ("until", until), ("as_of", as_of)) if v}
        return NightlyOutcome.model_validate(self._call("POST", "/summaries", json=body).json())

    # --- administration ------------------------------------------------------------------------

    def check(self, repair: bool = False) -> ConsistencyReport:
        if repair:
            raise Refused(f"a repair needs the store to itself: stop the server {self.owner.describe()} first")
        return ConsistencyReport.model_validate(self._call("GET", "/store/check").json())

    def add_user(self, user: User, password: str) -> None:
        self._call("POST", "/auth/users", json=user.model_dump(mode="json") | {"password": password})

    def users(self) -> list[User]:
        return _list(User, self._call("GET", "/auth/users"))

    def remove_user(self, username: str) -> bool:
        return self._call("DELETE", f"/auth/users/{username}", ok=(204, 404)).status_code == 204

    def create_key(self, name: str, role: Role, programs: list[str] | None, sites: list[str] | None) -> IssuedKey:
        body = {"name": name, "role": role.value, "programs": programs, "sites": sites}
        return IssuedKey.model_validate(self._call("POST", "/auth/keys", json=body).json())

    def keys(self) -> list[ApiKeyInfo]:
        return _list(ApiKeyInfo, self._call("GET", "/auth/keys"))

    def revoke_key(self, key_id: str) -> bool:
        return self._call("DELETE", f"/auth/keys/{key_id}", ok=(204, 404)).status_code == 204

    def verify_audit(self, against: str | None = None) -> AuditVerification:
        params = {"against": against} if against else {}
        return AuditVerification.model_validate(self._call("GET", "/audit/verify", params=params).json())

    def findings(self, status: FindingStatus | None, site: str | None, program: str | None) -> list[TrackedFinding]:
        params = {k: v for k, v in (("status", status), ("site", site), ("program", program)) if v}
        return _list(TrackedFinding, self._call("GET", "/findings", params=params))

    def export_findings(self, fmt: str, status: FindingStatus | None, site: str | None, program: str | None) -> bytes:
        params = {k: v for k, v in (("format", fmt), ("status", status), ("site", site), ("program", program)) if v}
        return self._call("GET", "/findings/export", params=params).content

    def change_finding(self, key: str, request: FindingRequest) -> TrackedFinding:
        response = self._call("POST", f"/findings/{key}", json=request.model_dump(mode="json", exclude_none=True))
        return TrackedFinding.model_validate(response.json())

    def audit(self, actor: str | None, action: str | None) -> list[AuditEntry]:
        params = {k: v for k, v in (("actor", actor), ("action", action)) if v}
        return _list(AuditEntry, self._call("GET", "/audit", params=params))

    # --- plumbing ------------------------------------------------------------------------------

    def _call(self, method: str, url: str, ok: tuple[int, ...] = (200, 201, 204), **kwargs) -> httpx.Response:
        response = self._connected(lambda: self.http.request(method, url, **kwargs))
        if response.status_code not in ok:
            raise Refused(_detail(response))
        return response

    def _connected(self, send, wait_s: float = 15.0):
        """Send, waiting a little for a server that holds the lock but is not listening yet (starting up)."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                return send()
            except httpx.ConnectError:
                if time.monotonic() >= deadline:
                    raise Refused(
                        f"the server that owns the store ({self.owner.describe()}) does not answer"
                    ) from None
                time.sleep(0.3)


def _report(model: type[BaseModel], response: httpx.Response, fmt: ReportFormat) -> str | bytes:
    """The report as the library renders it (JSON indented like api.reports.render's; a Word or PDF file as bytes)."""
    if fmt.binary:
        return response.content
    return model.model_validate(response.json()).model_dump_json(indent=2) if fmt == ReportFormat.JSON else response.text


def _list(model: type[BaseModel], response: httpx.Response) -> list:
    return TypeAdapter(list[model]).validate_python(response.json())


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    if isinstance(detail, list):  # a request the server found invalid: its fields and why
        detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail)
    return str(detail) if detail else f"the server answered {response.status_code} {response.reason_phrase}"
