"""The `cdmo` command: the same library calls as the API, in a terminal."""

import getpass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from api.auth import record, record_answer, record_upload
from api.ingest import expand_paths, ingest_path
from api.reports import ReportFormat
from core.auth import Principal, Role
from core.config import EmbeddingBackend, VectorEngine, get_settings
from core.documents import DocumentKind, IngestResult, IngestStatus
from core.portfolio import load_portfolio
from core.search import SearchFilters
from retrieval.hybrid import SearchMode

app = typer.Typer(help="CDMO document intelligence", no_args_is_help=True, pretty_exceptions_enable=False)
# The terminal's user, for the audit trail: whoever can run the command owns the data folder
CLI_USER = Principal(name=f"cli:{getpass.getuser()}", kind="cli", role=Role.ADMIN)
console = Console()


def _corpus():
    from core.errors import StoreBusyError
    from retrieval.corpus import Corpus

    try:
        return Corpus(get_settings())
    except StoreBusyError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(3) from None


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the per-file results as JSON")] = False,
) -> None:
    """Ingest files (PDF, DOCX, EML, MSG, HTML, Markdown, text); folders are walked."""
    settings = get_settings()
    files = list(expand_paths(paths, settings))
    if not files:
        console.print("[red]No files found.[/red]")
        raise typer.Exit(1)
    corpus, portfolio = _corpus(), load_portfolio(settings.portfolio_path)
    table = Table("file", "result", "kind", "pages", "chunks", "detail")
    for column in table.columns:  # wrap, never cut: the file name and the reason must be readable
        column.overflow = "fold"
    results = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=json_output,
    ) as progress:
        task = progress.add_task("ingesting", total=len(files))
        for path in files:
            progress.update(task, description=f"ingesting {path.name[:40]}")
            result = ingest_path(corpus, portfolio, path)
            results.append(result)
            record_upload(corpus.store, CLI_USER, result, path=str(path))
            for row in [result, *result.attachments]:
                colour = {"failed": "red", "unchanged": "dim", "new_version": "yellow"}.get(row.status.value, "green")
                table.add_row(
                    row.filename if row is result else f"  attached: {row.filename}",
                    f"[{colour}]{row.status.value}[/{colour}]",
                    row.kind.value if row.kind else "",
                    str(row.pages or ""),
                    str(row.chunks or ""),
                    row.error or _notes(row),
                )
            progress.advance(task)
    corpus.close()
    every = [row for r in results for row in [r, *r.attachments]]  # attachments count as files
    failed = sum(r.status == IngestStatus.FAILED for r in every)
    if json_output:
        console.print_json(data=[r.model_dump(mode="json") for r in results])
    else:
        console.print(table)
        console.print(f"{len(every) - failed} of {len(every)} files ingested or already present; {failed} failed.")
        for row in every:
            for page in row.unreadable_pages:
                console.print(f"[yellow]{row.filename} page {page.page} could not be read: {page.reason}[/yellow]")
    if failed:
        raise typer.Exit(2)


def _notes(row: IngestResult) -> str:
    notes = [f"supersedes {row.supersedes}" if row.supersedes else ""]
    if row.ocr_pages:
        notes.append(f"OCR: page{'s' * (len(row.ocr_pages) > 1)} {', '.join(map(str, row.ocr_pages))}")
    if row.unreadable_pages:
        notes.append(f"[yellow]unreadable: page {', '.join(str(p.page) for p in row.unreadable_pages)}[/yellow]")
    return "; ".join(x for x in [*notes, row.analysis or ""] if x)


@app.command()
def search(
    query: str,
    site: Annotated[str | None, typer.Option(help="Site id, e.g. NGB-CORK")] = None,
    program: Annotated[str | None, typer.Option(help="Program id, e.g. HB-101")] = None,
    kind: Annotated[DocumentKind | None, typer.Option(help="Document kind")] = None,
    since: Annotated[str | None, typer.Option(help="Documents dated on or after YYYY-MM-DD")] = None,
    limit: int = 5,
    mode: SearchMode = SearchMode.HYBRID,
    json_output: Annotated[bool, typer.Option("--json", help="Print the hits as JSON")] = False,
) -> None:
    """Ranked passages, each with document, kind, site, page and character span."""
    filters = SearchFilters(site=site, program=program, kind=kind, since=date.fromisoformat(since) if since else None)
    corpus = _corpus()
    hits = corpus.search(query, filters, limit=limit, mode=mode)
    corpus.close()
    if json_output:
        console.print_json(data=[h.model_dump(mode="json") for h in hits])
        return
    if not hits:
        console.print("No passages found.")
    for h in hits:
        console.rule(
            f"#{h.rank}  {h.title[:70]}  [dim]{h.kind.value} | {', '.join(h.sites) or '-'} | "
            f"p.{h.page} chars {h.start}-{h.end}[/dim]"
        )
        console.print(h.text, markup=False, highlight=False)


@app.command()
def ask(
    question: str,
    site: Annotated[str | None, typer.Option(help="Answer within one site, e.g. NGB-CORK")] = None,
    program: Annotated[str | None, typer.Option(help="Answer within one program, e.g. HB-101")] = None,
    session: Annotated[str | None, typer.Option(help="Continue a conversation: the session id printed before")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the stream's events as JSON lines")] = False,
) -> None:
    """Answer a question with cited passages, streamed sentence by sentence; follow-ups with --session."""
    from agents.chat import make_chat_service
    from core.chat import Answer, ChatEventType, ChatScope

    corpus = _corpus()
    service = make_chat_service(corpus, load_portfolio(corpus.settings.portfolio_path))
    citations = {}
    try:
        for event in service.stream(question, ChatScope(site=site, program=program), session):
            if json_output:
                console.print_json(data={"event": event.type.value, "data": event.data})
            elif event.type == ChatEventType.CITATION:
                citations[event.data["marker"]] = event.data
            elif event.type == ChatEventType.SENTENCE:
                marks = "".join(f" [{m}]" for m in event.data["citations"])
                console.print(event.data["text"] + marks, markup=False, highlight=False)
            if event.type == ChatEventType.DONE:
                record_answer(corpus.store, CLI_USER, Answer.model_validate(event.data))
            if event.type == ChatEventType.DONE and not json_output:
                for marker, c in citations.items():
                    quote = " ".join(c["quote"].split())
                    console.print(f"[dim][{marker}] {c['filename']}, page {c['page']}, chars {c['start']}-{c['end']}:[/dim]",
                                  f"\"{quote[:160]}\"", markup=True, highlight=False)
                console.print(f"[dim]{event.data['kind']} · {event.data['backend']} · session {event.data['session_id']}[/dim]")
    finally:
        corpus.close()


def _analysed(path: Path, analyse, fmt: ReportFormat, out: Path | None) -> None:
    """Prepare a file (not stored), analyse it with `analyse(extractor, source)`, print or write the report."""
    from api.reports import render
    from core.errors import IngestError
    from core.store import RecordStore
    from extraction.playbook import PlaybookError
    from extraction.service import Extractor, source_of
    from ingestion.pipeline import prepare, read_file

    settings = get_settings()
    portfolio = load_portfolio(settings.portfolio_path)
    try:
        prepared = prepare(path.name, read_file(path, settings), settings, portfolio)
        extractor = Extractor(settings, RecordStore(settings.sqlalchemy_url), portfolio)
        result = analyse(extractor, source_of(prepared))
    except (IngestError, PlaybookError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    text = render(result, {p.number: p.text for p in prepared.pages}, fmt)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        console.print(f"report written to {out}")
    else:
        print(text)


@app.command("review-qta")
def review_qta(
    file: Path,
    playbook: Annotated[Path | None, typer.Option(help="A playbook YAML; default: the built-in one")] = None,
    format: Annotated[ReportFormat, typer.Option(help="json, markdown or html")] = ReportFormat.MARKDOWN,
    out: Annotated[Path | None, typer.Option(help="Write the report here instead of printing it")] = None,
) -> None:
    """Review a quality agreement against a playbook: every element present, vague, missing or conflicting."""
    from extraction.playbook import load_playbook

    def analyse(extractor, source):
        return extractor.review_qta(source, load_playbook(playbook) if playbook else None)

    _analysed(file, analyse, format, out)


@app.command()
def triage(
    file: Path,
    format: Annotated[ReportFormat, typer.Option(help="json, markdown or html")] = ReportFormat.MARKDOWN,
    out: Annotated[Path | None, typer.Option(help="Write the report here instead of printing it")] = None,
) -> None:
    """Triage a deviation, OOS or change report: event, risk, weak-investigation flags, clocks, CTD sections.

    Notification and closure times are checked against the site's quality agreement in the corpus."""
    _analysed(file, lambda extractor, source: extractor.triage(source), format, out)


def _oversight_settings(as_of: date | None):
    settings = get_settings()
    return settings.model_copy(update={"as_of": as_of}) if as_of else settings


def _records(settings):
    """The record store alone: oversight reads records, so it runs beside a server holding the vectors."""
    from core.store import RecordStore

    return RecordStore(settings.sqlalchemy_url)


AsOf = Annotated[date | None, typer.Option(help="Judge on this day (replaying a corpus); default CDMO_AS_OF or today")]


@app.command()
def nightly(
    since: Annotated[datetime | None, typer.Option(help="Start of the window; default: the end of the last run")] = None,
    until: Annotated[datetime | None, typer.Option(help="End of the window; default: now")] = None,
    as_of: AsOf = None,
) -> None:
    """Write the digest of what was ingested in the window (Markdown and HTML), record it, mail it if set."""
    from agents.nightly_runner import NightlyRunner
    from core.programs import load_programs

    settings = _oversight_settings(as_of)
    runner = NightlyRunner(settings, _records(settings), load_portfolio(settings.portfolio_path),
                           load_programs(settings.programs_path))  # fmt: skip
    run, digest = runner.run(since, until)
    record(runner.store, CLI_USER, "nightly", detail={"digest": run.id, "mailed_to": run.mailed_to})
    console.print(f"digest {run.id}: {len(digest.new_documents)} new documents, judged on {digest.as_of}")
    for item in digest.needs_human:
        console.print(f"[bold red]needs a human:[/bold red] {item.text}", highlight=False)
    console.print(f"written: {run.markdown_path}\n         {run.html_path}")
    if run.mailed_to:
        console.print(f"mailed to {', '.join(run.mailed_to)}")


@app.command()
def risk(site: Annotated[str | None, typer.Argument(help="A site id; default: every site")] = None, as_of: AsOf = None) -> None:
    """Partner risk per site on four dimensions, with the signals behind each."""
    from agents.partner_risk import RiskScorer

    settings = _oversight_settings(as_of)
    scorer = RiskScorer(_records(settings), load_portfolio(settings.portfolio_path), settings.today())
    risks = [scorer.site_risk(site)] if site else scorer.all_sites()
    table = Table("site", "score", "level", "technical", "quality system", "capacity/supply", "business", "evidence")
    for r in risks:
        dims = [f"{d.score:g}" if d.has_data else "no data" for d in r.dimensions]
        table.add_row(r.site, f"{r.score:g}", r.level, *dims, f"{r.completeness:.0%}")
    console.print(table)
    for r in risks if site else []:
        for d in r.dimensions:
            for s in d.signals:
                console.print(f"  {d.dimension.value}: +{s.points:g} {s.label} ({s.filename})", highlight=False)


@app.command()
def readiness(program: Annotated[str | None, typer.Argument(help="A program id; default: every program")] = None,
              as_of: AsOf = None) -> None:  # fmt: skip
    """Program readiness: weighted open items, CTD sections at risk, and failures followed down the chain."""
    from agents.readiness import ReadinessAssessor
    from core.programs import load_programs

    settings = _oversight_settings(as_of)
    assessor = ReadinessAssessor(_records(settings), load_portfolio(settings.portfolio_path),
                                 load_programs(settings.programs_path), settings.today())  # fmt: skip
    for p in [assessor.readiness(program)] if program else assessor.all_programs():
        nxt = f"{p.next_milestone} in {p.days_to_next} days" if p.next_milestone else "no upcoming date"
        console.print(f"[bold]{p.program} {p.name}: readiness {p.score:g}[/bold] (next: {nxt}); CTD at risk: "
                      f"{', '.join(p.ctd_sections_at_risk) or '-'}; {p.overdue_capas} CAPAs past due; "
                      f"{p.open_qta_gaps} QTA gaps", highlight=False)  # fmt: skip
        for i in p.items[:10]:
            console.print(f"  {i.weight:5.1f}  {i.title}", highlight=False)
        for chain in p.propagation:
            console.print(f"  chain from {chain.origin}:", highlight=False)
            for step in chain.steps:
                console.print(f"    -> {step}", highlight=False)


@app.command()
def check(repair: Annotated[bool, typer.Option(help="Make the vector index match the records")] = False) -> None:
    """Find (and with --repair, fix) drift between the vector index and the record store, e.g. after a crash."""
    from retrieval.corpus import check_consistency

    corpus = _corpus()
    try:
        report = check_consistency(corpus, repair=repair)
    finally:
        corpus.close()
    console.print(f"{report.chunks} chunks in the records, {report.points} points in the index: "
                  f"{len(report.missing_vectors)} chunks without a vector, {len(report.orphan_points)} vectors "
                  f"without a chunk, {len(report.wrong_status)} with a stale status")
    if report.repaired:
        console.print("[green]repaired: the index now matches the records[/green]")
    elif not report.consistent:
        console.print("run `cdmo check --repair` to fix it")
        raise typer.Exit(1)


ScopePrograms = Annotated[str | None, typer.Option(help="Comma-separated program ids it may see; default every one")]
ScopeSites = Annotated[str | None, typer.Option(help="Comma-separated site ids it may see; default every one")]
users_app = typer.Typer(help="People who log in (when CDMO_AUTH_ENABLED is on)", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("add")
def add_user(
    username: str,
    role: Annotated[Role, typer.Option()] = Role.VIEWER,
    programs: ScopePrograms = None,
    sites: ScopeSites = None,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)] = "",
) -> None:
    """Add a user (or reset one) with a role and, optionally, the programs and sites they may see."""
    from core.auth import User, hash_password

    if len(password) < 12:
        console.print("[red]a password needs at least 12 characters[/red]")
        raise typer.Exit(2)
    store = _records(get_settings())
    user = User(username=username, role=role, programs=_ids(programs), sites=_ids(sites))
    store.save_user(user, hash_password(password))
    record(store, CLI_USER, "add_user", detail=user.model_dump(mode="json"))
    console.print(f"user {username}: {role.value}")


@users_app.command("list")
def list_users() -> None:
    """Users with their role and the programs and sites they may see."""
    table = Table("user", "role", "programs", "sites")
    for u in _records(get_settings()).users():
        table.add_row(u.username, u.role.value, ",".join(u.programs or ["all"]), ",".join(u.sites or ["all"]))
    console.print(table)


@users_app.command("remove")
def remove_user(username: str) -> None:
    """Remove a user; their sessions end at once."""
    store = _records(get_settings())
    if not store.remove_user(username):
        console.print(f"[red]no user {username}[/red]")
        raise typer.Exit(1)
    record(store, CLI_USER, "remove_user", detail={"username": username})
    console.print(f"user {username} removed")


keys_app = typer.Typer(help="API keys for machines", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def create_key(
    name: str,
    role: Annotated[Role, typer.Option()] = Role.VIEWER,
    programs: ScopePrograms = None,
    sites: ScopeSites = None,
) -> None:
    """Create an API key; it is printed once (only its hash is kept). Send it as 'Authorization: Bearer KEY'."""
    from api.auth import issue_key

    store = _records(get_settings())
    issued = issue_key(store, name, role, _ids(programs), _ids(sites))
    record(store, CLI_USER, "add_key", detail=issued.model_dump(mode="json", exclude={"key"}))
    console.print(issued.key, markup=False, highlight=False)


@keys_app.command("list")
def list_keys() -> None:
    """Keys by prefix, with name, role, scope and creation time (the keys themselves are not kept)."""
    table = Table("id", "name", "role", "programs", "sites", "created")
    for k in _records(get_settings()).api_keys():
        table.add_row(k.id, k.name, k.role.value, ",".join(k.programs or ["all"]), ",".join(k.sites or ["all"]),
                      k.created_at.isoformat(timespec="seconds"))  # fmt: skip
    console.print(table)


@keys_app.command("revoke")
def revoke_key(key_id: Annotated[str, typer.Argument(help="The key's prefix, as `cdmo keys list` shows it")]) -> None:
    """Revoke a key: requests that send it are refused from now on."""
    store = _records(get_settings())
    if not store.revoke_api_key(key_id):
        console.print(f"[red]no key {key_id}[/red]")
        raise typer.Exit(1)
    record(store, CLI_USER, "revoke_key", detail={"id": key_id})
    console.print(f"key {key_id} revoked")


def _ids(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


@app.command()
def audit(
    format: Annotated[str, typer.Option(help="table, jsonl or csv")] = "table",
    actor: str | None = None,
    action: str | None = None,
    out: Annotated[Path | None, typer.Option(help="Write the export here")] = None,
) -> None:
    """View or export the audit trail (append-only): who did what, when, to which document versions."""
    from api.auth import audit_csv

    entries = _records(get_settings()).audit_entries(actor=actor, action=action)
    if format in ("jsonl", "csv"):
        text = "".join(e.model_dump_json() + "\n" for e in entries) if format == "jsonl" else audit_csv(entries)
        if out:
            out.write_text(text, encoding="utf-8")
            console.print(f"{len(entries)} entries written to {out}")
        else:
            print(text, end="")
        return
    table = Table("when", "who", "action", "outcome", "documents", "backend")
    for e in entries:
        docs = ", ".join(f"{d['filename']} v{d['version']}" for d in e.documents)
        table.add_row(e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action, e.outcome, docs, e.backend or "")
    console.print(table)


@app.command("documents")
def list_documents(include_superseded: bool = False) -> None:
    """List ingested documents."""
    corpus = _corpus()
    table = Table("id", "title", "kind", "sites", "programs", "date", "v", "status")
    for d in corpus.store.list_documents(include_superseded=include_superseded):
        table.add_row(
            d.id[:12],
            d.title[:60],
            d.kind.value,
            ",".join(d.metadata.sites),
            ",".join(d.metadata.programs),
            str(d.metadata.document_date or ""),
            str(d.version),
            d.status.value,
        )
    corpus.close()
    console.print(table)


def _write_report(path: Path, result) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(result.model_dump_json(indent=2))
    console.print(f"report written to {path}")


eval_app = typer.Typer(help="Measure quality on the gold sets", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


@eval_app.command("retrieval")
def eval_retrieval(
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The sample corpus folder")] = Path("fixtures/corpus"),
    backend: Annotated[
        list[EmbeddingBackend] | None, typer.Option(help="Embedding engines to compare (repeatable)")
    ] = None,
    k: int = 5,
    report: Path = Path("eval/reports/retrieval.json"),
) -> None:
    """recall@k and MRR for dense-only, BM25-only and hybrid search, per embedding engine."""
    import tempfile

    from eval import retrieval

    backends = backend or [EmbeddingBackend.ONNX, EmbeddingBackend.ONNX_INT8, EmbeddingBackend.TORCH]
    with tempfile.TemporaryDirectory(prefix="cdmo-eval-") as work:
        result = retrieval.run(corpus_dir, Path(work), backends, k)
    categories = sorted({c for s in result.scores for c in s.recall_by_category})
    table = Table("embedding", "mode", f"recall@{k}", "MRR", *[f"recall@{k} {c}" for c in categories], "questions")
    for s in result.scores:
        table.add_row(
            s.embedding,
            s.mode.value,
            f"{s.recall_at_k:.3f}",
            f"{s.mrr:.3f}",
            *[f"{s.recall_by_category.get(c, 0):.3f}" for c in categories],
            str(s.questions),
        )
    console.print(table)
    _write_report(report, result)


@eval_app.command("qa")
def eval_qa(
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The sample corpus folder")] = Path("fixtures/corpus"),
    llm: Annotated[bool, typer.Option(help="Also score the LLM agent (CDMO_LLM_BASE_URL, CDMO_LLM_MODEL)")] = False,
    report: Path = Path("eval/reports/qa.json"),
) -> None:
    """Chat answers on the QA gold set: correctness, citation precision/recall, refusals, latency; per backend."""
    import tempfile
    from datetime import date

    from agents.chat import OFFLINE, ChatService
    from agents.llm_agent import make_llm_agent
    from eval import qa

    settings = get_settings()
    if llm and not settings.llm_enabled:
        console.print("[red]--llm needs CDMO_LLM_BASE_URL and CDMO_LLM_MODEL[/red]")
        raise typer.Exit(2)
    scores = []
    with tempfile.TemporaryDirectory(prefix="cdmo-eval-") as work:
        corpus = qa.load_corpus(corpus_dir, settings.model_copy(update={"data_dir": Path(work)}))
        portfolio = load_portfolio(settings.portfolio_path)
        today = date(2026, 11, 25)  # "past due" is judged on a fixed day, so that scores do not drift
        try:
            scores.append(qa.run(ChatService(corpus, portfolio, today=today), OFFLINE))
            if llm:
                agent = make_llm_agent(settings, corpus, portfolio)
                scores.append(qa.run(ChatService(corpus, portfolio, agent, today=today), agent.label))
        finally:
            corpus.close()
    table = Table("backend", "correct", "by category", "fact recall", "cite P (passage/doc)", "cite R",
                  "refusals", "false refusals", "first sentence p50/p95 ms", "answer p50/p95 ms")
    for s in scores:
        table.add_row(
            s.backend, f"{s.answer_correctness:.3f}", " ".join(f"{c} {v:.2f}" for c, v in s.correctness_by_category.items()),
            f"{s.fact_recall:.3f}", f"{s.citation_precision:.3f} / {s.citation_precision_document:.3f}",
            f"{s.citation_recall:.3f}", f"{s.refusal_accuracy:.3f}", str(s.false_refusals),
            f"{s.first_sentence_ms_p50:.0f} / {s.first_sentence_ms_p95:.0f}", f"{s.answer_ms_p50:.0f} / {s.answer_ms_p95:.0f}",
        )
    console.print(table)
    for s in scores:
        for miss in s.misses:
            console.print(f"[dim]{s.backend} {miss.id}: {miss.why}: {miss.question} -> {miss.answer[:160]}[/dim]",
                          markup=True, highlight=False)
    _write_report(report, qa.QaReport(scores=scores))


@eval_app.command("extraction")
def eval_extraction(
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The sample corpus folder")] = Path("fixtures/corpus"),
    llm: Annotated[bool, typer.Option(help="Also score the LLM backend (CDMO_LLM_BASE_URL, CDMO_LLM_MODEL)")] = False,
    report: Path = Path("eval/reports/extraction.json"),
) -> None:
    """QTA element-status accuracy, gap detection, triage field P/R/F1, flags, risk, time: per backend."""
    from eval import extraction
    from extraction.backends import RulesBackend

    settings = get_settings()
    backends = [RulesBackend()]
    if llm:
        if not settings.llm_enabled:
            console.print("[red]--llm needs CDMO_LLM_BASE_URL and CDMO_LLM_MODEL[/red]")
            raise typer.Exit(2)
        from extraction.llm import LlmBackend

        backends.append(LlmBackend(settings))
    result = extraction.run(corpus_dir, settings, backends)
    rows = [_extraction_row(s) for s in result.scores]
    table = Table("measure", *[f"{s.backend}, {s.gold_set}" for s in result.scores])
    for label in rows[0]:
        table.add_row(label, *[row[label] for row in rows])
    console.print(table)
    _write_report(report, result)


@eval_app.command("ocr")
def eval_ocr(
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The sample corpus folder")] = Path("fixtures/corpus"),
    scans: Annotated[Path, typer.Option(help="The scanned fixtures and their ground truth")] = Path("fixtures/scanned"),
    report: Path = Path("eval/reports/ocr.json"),
) -> None:
    """OCR character accuracy per scanned page, pages/s, and QTA review and triage on scans beside digital."""
    from eval import ocr

    result = ocr.run(corpus_dir, scans, get_settings())
    table = Table("scan", "page", "characters", "accuracy", "confidence", "skew applied / undone")
    for scan in result.scans:
        for p in scan.pages:
            found = "-" if p.skew_found is None else f"{p.skew_found:+.2f}"
            confidence = "-" if p.confidence is None else f"{p.confidence:.1f}"
            table.add_row(scan.scan, str(p.page), str(p.characters), f"{p.accuracy:.4f}", confidence,
                          f"{p.skew_applied:+.2f} / {found}")
    console.print(table)
    console.print(
        f"character accuracy {result.accuracy:.4f} over {result.pages} OCR'd pages; "
        f"{result.pages_per_second} pages/s with {result.ocr_workers} workers; "
        f"mean skew error {result.mean_skew_error_degrees} degrees; the same scans as TIFF files: character "
        f"accuracy {result.image_file_accuracy:.4f}, {result.image_file_pages_per_second} pages/s"
    )
    rows = [_extraction_row(s) for s in result.extraction]
    table = Table("measure", *[s.gold_set for s in result.extraction])
    for label in rows[0]:
        table.add_row(label, *[row[label] for row in rows])
    console.print(table)
    _write_report(report, result)


@eval_app.command("oversight")
def eval_oversight(
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The sample corpus folder")] = Path("fixtures/corpus"),
    scale: Annotated[int, typer.Option(help="Time the nightly run on this many copies of the corpus too")] = 10,
    report: Path = Path("eval/reports/oversight.json"),
) -> None:
    """Partner risk, readiness and digest expectations (eval/oversight_gold.yaml) met; nightly run time."""
    from eval import oversight

    result = oversight.run(corpus_dir, get_settings(), scale)
    table = Table("expectation", "met", "got")
    for c in result.checks:
        table.add_row(c.expectation, "yes" if c.met else "[red]NO[/red]", c.got)
    console.print(table)
    console.print(f"{result.met} of {result.total} expectations met (judged on {result.as_of})")
    for t in result.nightly:
        console.print(f"nightly digest over {t.documents} documents: {t.seconds} s")
    _write_report(report, result)


@eval_app.command("scope")
def eval_scope(
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The sample corpus folder")] = Path("fixtures/corpus"),
    holdout: Annotated[bool, typer.Option(help="Score the held-out documents too")] = True,
    report: Path = Path("eval/reports/scope.json"),
) -> None:
    """Passages withheld from a one-program view (eval/scope_gold.yaml): leaks and over-withholding."""
    from eval import scope

    result = scope.run(corpus_dir, get_settings(), holdout)
    table = Table("gold set", "passages", "judgements", "must withhold", "leaks", "over-withheld", "accuracy", "s/doc")
    for s in result.scores:
        table.add_row(s.gold_set, str(s.passages), str(s.judgements), str(s.must_withhold), str(s.leaks),
                      str(s.over_withheld), f"{s.accuracy:.3f}", f"{s.seconds_per_document:.4f}")  # fmt: skip
    console.print(table)
    for s in result.scores:
        for m in s.misses:
            console.print(f"[{s.gold_set}] {m.view} view: expected {m.expected}, got {m.got}: {m.file}: {m.quote!r}")
    _write_report(report, result)


def _extraction_row(s) -> dict[str, str]:
    """One backend's scores on one gold set, as the eval table shows them."""
    gaps = {f"{k} P / R": f"{v['precision']:.3f} / {v['recall']:.3f}" for k, v in s.status_detection.items()}
    return {
        "QTA element-status accuracy": f"{s.element_status_accuracy:.3f} of {s.qta_elements}",
        **gaps,
        "triage fields P / R / F1": f"{s.fields['precision']:.3f} / {s.fields['recall']:.3f} / {s.fields['f1']:.3f}",
        "flags P / R": f"{s.flags['precision']:.3f} / {s.flags['recall']:.3f}",
        "risk accuracy": f"{s.risk_accuracy:.3f} of {s.reports}",
        "seconds per QTA review": f"{s.seconds_per_qta_review:.3f}",
        "seconds per triage": f"{s.seconds_per_triage:.3f}",
        "model quotes grounded": f"{s.grounding.grounded} of {s.grounding.offered}",
        "invalid model answers / fallbacks": f"{s.grounding.invalid_outputs} / {len(s.grounding.fallbacks)}",
    }


@app.command()
def bench(
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The sample corpus folder")] = Path("fixtures/corpus"),
    sizes: Annotated[str, typer.Option(help="Corpus sizes in chunks, comma-separated")] = "10000,100000",
    engines: Annotated[str, typer.Option(help="Vector engines, comma-separated")] = "edge,local",
    report: Path = Path("eval/reports/benchmark.json"),
) -> None:
    """Ingestion pages/s, embedding chunks/s per engine, search latency p50/p95 per vector engine and size."""
    from eval import benchmark

    result = benchmark.run(
        corpus_dir,
        [int(s) for s in sizes.split(",")],
        [VectorEngine(e) for e in engines.split(",")],
        threads=get_settings().threads,
    )
    i = result.ingestion
    console.print(
        f"ingestion: {i.parse_pages_per_second} PDF pages/s parsed and chunked; "
        f"{i.end_to_end_pages_per_second} pages/s end to end with embedding ({i.pdf_pages} pages)"
    )
    table = Table("embedding engine", "chunks", "mean tokens", "chunks/s")
    for e in result.embedding:
        table.add_row(e.engine, str(e.chunks), str(e.mean_tokens), str(e.chunks_per_second))
    console.print(table)
    table = Table("vector engine", "chunks", "load s", "search p50 ms", "search p95 ms", "queries")
    for s in result.search:
        table.add_row(
            s.engine.value, f"{s.chunks:,}", str(s.load_seconds), str(s.p50_ms), str(s.p95_ms), str(s.queries)
        )
    console.print(table)
    _write_report(report, result)


@app.command("load-test")
def load_test(
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The sample corpus folder")] = Path("fixtures/corpus"),
    workers: Annotated[int, typer.Option(help="Concurrent clients")] = 8,
    seconds: Annotated[float, typer.Option(help="How long the run lasts")] = 60.0,
    programs: ScopePrograms = None,
    report: Path = Path("eval/reports/load.json"),
) -> None:
    """A bounded load run on loopback: concurrent uploads and chat queries with API keys; rps, p95, errors."""
    from api import load

    result = load.run(corpus_dir, workers, seconds, programs=_ids(programs))
    table = Table("kind", "requests", "errors", "p50 ms", "p95 ms")
    for k in result.kinds:
        table.add_row(k.kind, str(k.requests), str(k.errors), f"{k.p50_ms}", f"{k.p95_ms}")
    console.print(table)
    scope = f" scoped to {', '.join(result.programs)}" if result.programs else ""
    console.print(f"{result.requests} requests in {result.seconds} s with {result.workers} clients{scope}: "
                  f"{result.requests_per_second} requests/s, {result.errors} errors; index and records "
                  f"{'consistent' if result.consistent_after else 'DRIFTED'} afterwards")
    _write_report(report, result)


@app.command()
def serve(host: str | None = None, port: int | None = None) -> None:
    """Serve the API (OpenAPI page at /docs)."""
    import uvicorn

    from api.app import create_app

    settings = get_settings()
    uvicorn.run(create_app(settings), host=host or settings.api_host, port=port or settings.api_port)


@app.command("build-fixtures")
def build_fixtures(out: Path = Path("fixtures/corpus")) -> None:
    """Generate the sample corpus (PDF, DOCX, EML, HTML) into a folder."""
    from fixtures.build_corpus import build

    console.print(f"{len(build(out))} files written to {out}")


if __name__ == "__main__":
    app()
