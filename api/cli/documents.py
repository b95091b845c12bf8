"""Documents in and out: ingest, list, search, ask."""

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from api.cli.access import store_access
from api.cli.app import app, console, fail
from core.config import Settings, get_settings
from core.documents import DocumentKind, IngestResult, IngestStatus
from core.errors import IngestError
from core.search import SearchFilters, SearchMode


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the per-file results as JSON")] = False,
) -> None:
    """Ingest files (PDF, DOCX, EML, MSG, HTML, Markdown, text, scans); folders are walked."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ingestion.guards import read_file

    settings = get_settings()
    files = list(expand_paths(paths, settings))
    if not files:
        raise fail("No files found.", 1)
    table = Table("file", "result", "kind", "pages", "chunks", "detail")
    for column in table.columns:  # wrap, never cut: the file name and the reason must be readable
        column.overflow = "fold"
    results = []
    with store_access(settings) as store, Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, disable=json_output,
    ) as progress:  # fmt: skip
        task = progress.add_task("ingesting", total=len(files))
        for path in files:
            progress.update(task, description=f"ingesting {path.name[:40]}")

            def stage(what: str, done: int | None, total: int | None, name: str = path.name[:40]) -> None:
                count = f" {done} of {total}" if done is not None and total else ""
                progress.update(task, description=f"{name}: {what}{count}")

            try:
                result = store.ingest(path, read_file(path, settings), stage)
            except IngestError as exc:
                result = IngestResult(filename=exc.filename, status=IngestStatus.FAILED, error=exc.reason)
            results.append(result)
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


def expand_paths(paths: list[Path], settings: Settings) -> Iterator[Path]:
    """Files as given; folders walked for files of the supported types (hidden files skipped)."""
    from ingestion.filetypes import EXTENSIONS

    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and not child.name.startswith(".") and child.suffix.lower() in EXTENSIONS:
                    yield child
        else:
            yield path


def _notes(row: IngestResult) -> str:
    notes = [f"supersedes {row.supersedes}" if row.supersedes else ""]
    if row.ocr_pages:
        notes.append(f"OCR: page{'s' * (len(row.ocr_pages) > 1)} {', '.join(map(str, row.ocr_pages))}")
    if row.unreadable_pages:
        notes.append(f"[yellow]unreadable: page {', '.join(str(p.page) for p in row.unreadable_pages)}[/yellow]")
    return "; ".join(x for x in [*notes, row.analysis or ""] if x)


@app.command("documents")
def list_documents(include_superseded: bool = False) -> None:
    """List ingested documents."""
    with store_access(get_settings()) as store:
        documents = store.documents(include_superseded)
    table = Table("id", "title", "kind", "sites", "programs", "date", "v", "status")
    for d in documents:
        table.add_row(
            d.id[:12],
            d.title[:60],
            d.kind.value + (f" ({d.metadata.kind_confidence:.2f})" if (d.metadata.kind_confidence or 1) < 0.6 else ""),
            ",".join(d.metadata.sites),
            ",".join(d.metadata.programs),
            str(d.metadata.document_date or ""),
            str(d.version),
            d.status.value,
        )
    console.print(table)


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
    with store_access(get_settings()) as store:
        hits = store.search(query, filters, limit, mode)
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
    from core.chat import ChatEventType, ChatScope

    citations = {}
    with store_access(get_settings()) as store:
        for event in store.ask(question, ChatScope(site=site, program=program), session):
            if json_output:
                console.print_json(data={"event": event.type.value, "data": event.data})
            elif event.type == ChatEventType.CITATION:
                citations[event.data["marker"]] = event.data
            elif event.type == ChatEventType.SENTENCE:
                marks = "".join(f" [{m}]" for m in event.data["citations"])
                console.print(event.data["text"] + marks, markup=False, highlight=False)
            if event.type == ChatEventType.DONE and not json_output:
                for marker, c in citations.items():
                    quote = " ".join(c["quote"].split())
                    console.print(f"[dim][{marker}] {c['filename']}, page {c['page']}, chars {c['start']}-{c['end']}:[/dim]",
                                  f"\"{quote[:160]}\"", markup=True, highlight=False)
                console.print(f"[dim]{event.data['kind']} · {event.data['backend']} · session {event.data['session_id']}[/dim]")
