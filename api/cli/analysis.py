"""Analyses of a file, stored nowhere: QTA gap review and investigation triage."""

from pathlib import Path
from typing import Annotated

import typer

from api.cli.access import store_access
from api.cli.app import app, console, fail, refuse_store_path
from api.reports import ReportFormat
from core.config import get_settings
from core.errors import IngestError


@app.command("review-qta")
def review_qta(
    file: Path,
    playbook: Annotated[Path | None, typer.Option(help="A playbook YAML; default: the built-in one")] = None,
    format: Annotated[ReportFormat, typer.Option(help="json, markdown, html; docx or pdf (with --out)")] = ReportFormat.MARKDOWN,
    out: Annotated[Path | None, typer.Option(help="Write the report here instead of printing it")] = None,
) -> None:
    """Review a quality agreement against a playbook: every element present, vague, missing or conflicting."""
    _report(lambda store, data: store.review_qta(file, data, playbook, format), file, out, format)


@app.command()
def triage(
    file: Path,
    format: Annotated[ReportFormat, typer.Option(help="json, markdown, html; docx or pdf (with --out)")] = ReportFormat.MARKDOWN,
    out: Annotated[Path | None, typer.Option(help="Write the report here instead of printing it")] = None,
) -> None:
    """Triage a deviation, OOS or change report: event, risk, weak-investigation flags, clocks, CTD sections.

    Notification and closure times are checked against the site's quality agreement in the corpus."""
    _report(lambda store, data: store.triage(file, data, format), file, out, format)


@app.command()
def observations(
    file: Path,
    format: Annotated[ReportFormat, typer.Option(help="json, markdown, html; docx or pdf (with --out)")] = ReportFormat.MARKDOWN,
    out: Annotated[Path | None, typer.Option(help="Write the report here instead of printing it")] = None,
) -> None:
    """Read a 483, inspection report, regulator's letter or audit report as its numbered observations:
    regulations cited, categories with quotes, repeats, and the portfolio site it concerns (or why none)."""
    _report(lambda store, data: store.observations(file, data, format), file, out, format)


def _report(analyse, file: Path, out: Path | None, format: ReportFormat) -> None:
    from ingestion.guards import read_file

    settings = get_settings()
    if out:
        refuse_store_path(out, settings)
    elif format.binary:
        raise fail(f"{file}: a {format.value} report is a file: name it with --out")
    try:
        data = read_file(file, settings)
    except IngestError as exc:
        raise fail(f"{exc.filename}: {exc.reason}") from None
    with store_access(settings) as store:
        text = analyse(store, data)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(text) if isinstance(text, bytes) else out.write_text(text, encoding="utf-8")
        console.print(f"report written to {out}")
    else:
        print(text)
