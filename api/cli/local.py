"""The store opened in this process (nobody else owns it): the library calls behind each CLI command.

The same methods, with the same records, as api.client.ServerClient, so that a command prints the same
thing either way. Heavy parts (the embedder, the vector index) open only when a command needs them:
listing documents reads the records alone.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

from api import accounts
from api.audit import record, record_answer, record_upload
from api.client import Refused
from api.reports import ReportFormat
from core.audit import AuditVerification
from core.auth import ApiKeyInfo, AuditEntry, IssuedKey, Principal, Role, User
from core.chat import Answer, ChatEvent, ChatEventType, ChatScope
from core.config import Settings
from core.consistency import ConsistencyReport
from core.documents import Document, IngestResult
from core.errors import IngestError, NotFoundError
from core.oversight import NightlyOutcome, PartnerRisk, ProgramReadiness
from core.portfolio import Portfolio, load_portfolio
from core.search import SearchFilters, SearchHit, SearchMode
from core.store import RecordStore
from core.work import Progress
from core.workflow import FindingRequest, FindingStatus, TrackedFinding, WorkflowError


class LocalStore:
    def __init__(self, settings: Settings, actor: Principal):
        self.settings, self.actor = settings, actor
        self._corpus = None
        self._records: RecordStore | None = None

    @property
    def corpus(self):
        if self._corpus is None:
            from retrieval.corpus import Corpus

            self._corpus = Corpus(self.settings)
            self._upgraded(self._corpus.store)
        return self._corpus

    def _upgraded(self, store: RecordStore) -> RecordStore:
        from agents.register import upgrade_positional_keys

        upgrade_positional_keys(store, self.portfolio)  # work kept under keys of before
        return store

    @property
    def records(self) -> RecordStore:
        if self._corpus is not None:
            return self._corpus.store
        if self._records is None:
            self._records = self._upgraded(RecordStore(self.settings.sqlalchemy_url))
        return self._records

    @property
    def portfolio(self) -> Portfolio:
        return load_portfolio(self.settings.portfolio_path)

    def close(self) -> None:
        if self._corpus is not None:
            self._corpus.close()
        if self._records is not None:
            self._records.engine.dispose()

    # --- documents, search, chat ------------------------------------------------------------

    def documents(self, include_superseded: bool = False) -> list[Document]:
        return self.records.list_documents(include_superseded=include_superseded)

    def search(self, query: str, filters: SearchFilters, limit: int, mode: SearchMode) -> list[SearchHit]:
        return self.corpus.search(query, filters, limit=limit, mode=mode)

    def ask(self, question: str, scope: ChatScope, session: str | None) -> Iterator[ChatEvent]:
        from agents.chat import make_chat_service

        service = make_chat_service(self.corpus, self.portfolio)
        owner = self.actor.identity
        try:
            service.session(session, owner) if session else None
        except NotFoundError:
            raise Refused(f"no chat session {session} of yours") from None
        for event in service.stream(question, scope, session, owner):
            if event.type == ChatEventType.DONE:
                record_answer(self.records, self.actor, Answer.model_validate(event.data))
            yield event

    def ingest(self, path: Path, data: bytes, on_progress: Progress | None = None) -> IngestResult:
        from api.ingest import ingest_bytes

        result = ingest_bytes(self.corpus, self.portfolio, path.name, data, on_progress, self.actor)
        record_upload(self.records, self.actor, result, path=str(path))
        return result

    # --- analyses (of a file, stored nowhere) ----------------------------------------------------

    def review_qta(self, path: Path, data: bytes, playbook: Path | None, fmt: ReportFormat) -> str | bytes:
        from extraction.playbook import PlaybookError, load_playbook

        try:
            custom = load_playbook(playbook) if playbook else None
        except PlaybookError as exc:
            raise Refused(str(exc)) from None
        return self._analysed(path, data, "review_qta", lambda extractor, prepared: extractor.review_agreement(prepared, custom), fmt)

    def triage(self, path: Path, data: bytes, fmt: ReportFormat) -> str | bytes:
        from extraction.service import source_of

        return self._analysed(path, data, "triage", lambda extractor, prepared: extractor.triage(source_of(prepared)), fmt)

    def observations(self, path: Path, data: bytes, fmt: ReportFormat) -> str | bytes:
        from extraction.service import source_of

        return self._analysed(path, data, "read_observations",
                              lambda extractor, prepared: extractor.observations(source_of(prepared)), fmt)  # fmt: skip

    def _analysed(self, path: Path, data: bytes, action: str, analyse, fmt: ReportFormat) -> str | bytes:
        from api.reports import cited_documents, render
        from extraction.service import Extractor
        from ingestion.pipeline import prepare

        try:
            prepared = prepare(path.name, data, self.settings, self.portfolio)
        except IngestError as exc:
            raise Refused(f"{exc.filename}: {exc.reason}") from None
        result = analyse(Extractor(self.settings, self.records, self.portfolio), prepared)
        detail = {"filename": prepared.document.filename, "content_hash": prepared.document.content_hash}
        if action == "triage":
            detail["risk"] = result.risk.value
        prompt = getattr(result, "playbook", None)
        record(self.records, self.actor, action, backend=result.backend, prompt_version=prompt, detail=detail)
        others = self.records.documents_by_id(sorted(cited_documents(result)))  # the QTA a lateness rests on
        return render(result, {p.number: p.text for p in prepared.pages}, fmt, others)

    # --- oversight -----------------------------------------------------------------------------

    def risk(self, site: str | None, as_of: date | None) -> list[PartnerRisk]:
        from agents.partner_risk import RiskScorer

        scorer = RiskScorer(self.records, self.portfolio, as_of or self.settings.today())
        try:
            return [scorer.site_risk(site)] if site else scorer.all_sites()
        except KeyError:
            raise Refused(f"no site {site} in the portfolio") from None

    def readiness(self, program: str | None, as_of: date | None) -> list[ProgramReadiness]:
        from agents.readiness import ReadinessAssessor
        from core.programs import load_programs

        programs = load_programs(self.settings.programs_path)
        assessor = ReadinessAssessor(self.records, self.portfolio, programs, as_of or self.settings.today())
        try:
            return [assessor.readiness(program)] if program else assessor.all_programs()
        except KeyError:
            raise Refused(f"no program {program} with a supply chain") from None

    def nightly(self, since: datetime | None, until: datetime | None, as_of: date | None) -> NightlyOutcome:
        from agents.nightly_runner import NightlyRunner
        from core.programs import load_programs

        settings = self.settings.model_copy(update={"as_of": as_of}) if as_of else self.settings
        runner = NightlyRunner(settings, self.records, self.portfolio, load_programs(settings.programs_path))
        run, digest = runner.run(since, until)
        record(self.records, self.actor, "nightly", detail={"digest": run.id, "mailed_to": run.mailed_to})
        return NightlyOutcome(run=run, digest=digest)

    # --- administration ------------------------------------------------------------------------

    def _register(self):
        from agents.register import FindingRegister

        return FindingRegister(self.records, self.portfolio, self.settings.today())

    def findings(self, status: FindingStatus | None, site: str | None, program: str | None) -> list[TrackedFinding]:
        return self._register().findings(site, program, status=status)

    def export_findings(self, fmt: str, status: FindingStatus | None, site: str | None, program: str | None) -> bytes:
        from api.register import register_file

        return register_file(self._register(), fmt, status, site, program)

    def change_finding(self, key: str, request: FindingRequest) -> TrackedFinding:
        try:
            return self._register().change(self.records, key, request, self.actor, datetime.now(UTC))
        except (NotFoundError, WorkflowError) as exc:
            raise Refused(str(exc)) from None

    def reanalyse(self) -> tuple[int, int, int]:
        """Every current document's review, triage or reading of observations done again with today's readers
        (the findings keep their keys, so what people did with them stands); (documents, findings before, after)."""
        from extraction.service import Extractor

        before = len(self.records.list_findings())
        extractor = Extractor(self.settings, self.records, self.portfolio)
        done = sum(extractor.analyse_stored(doc.id, self.actor) is not None for doc in self.records.list_documents())
        return done, before, len(self.records.list_findings())

    def check(self, repair: bool = False) -> ConsistencyReport:
        from retrieval.integrity import check_store

        report = check_store(self.settings, repair=repair)
        if report.repaired:
            record(self.records, self.actor, "repair", detail=report.model_dump(mode="json"))
        return report

    def add_user(self, user: User, password: str) -> None:
        accounts.add_user(self.records, self.actor, user, password)

    def users(self) -> list[User]:
        return self.records.users()

    def remove_user(self, username: str) -> bool:
        return accounts.remove_user(self.records, self.actor, username)

    def create_key(self, name: str, role: Role, programs: list[str] | None, sites: list[str] | None) -> IssuedKey:
        return accounts.issue_key(self.records, name, role, programs, sites, self.actor)

    def keys(self) -> list[ApiKeyInfo]:
        return self.records.api_keys()

    def revoke_key(self, key_id: str) -> bool:
        return accounts.revoke_key(self.records, self.actor, key_id)

    def verify_audit(self, against: str | None = None) -> AuditVerification:
        from core.audit import parse_anchor

        try:
            anchor = parse_anchor(against) if against else None
        except ValueError as exc:
            raise Refused(str(exc)) from None
        return self.records.verify_audit(anchor)

    def audit(self, actor: str | None, action: str | None) -> list[AuditEntry]:
        return self.records.audit_entries(actor=actor, action=action)
