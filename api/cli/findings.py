"""Findings and the work on them: list them with their state; acknowledge, assign, comment, close, reopen."""

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from api.cli.access import store_access
from api.cli.app import app, console, fail, refuse_store_path
from api.client import Refused
from core.config import get_settings
from core.workflow import FindingAction, FindingRequest, FindingStatus


@app.command()
def findings(
    status: Annotated[FindingStatus | None, typer.Option(help="Only findings in this state")] = None,
    site: Annotated[str | None, typer.Option(help="Only this site's")] = None,
    program: Annotated[str | None, typer.Option(help="Only this program's")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the register to this file (.csv or .xlsx) instead")] = None,
) -> None:
    """Every finding (weak-investigation flags, QTA gaps, inspection observations) with its state and its key."""
    settings = get_settings()
    if out is not None:
        if out.suffix.lower() not in (".csv", ".xlsx"):
            raise fail(f"{out}: the register is written as .csv or .xlsx")
        refuse_store_path(out, settings)
        with store_access(settings) as store:
            out.write_bytes(store.export_findings(out.suffix.lower()[1:], status, site, program))
        console.print(f"register written to {out}", highlight=False)
        return
    with store_access(settings) as store:
        found = store.findings(status, site, program)
    for f in found:  # a block per finding, its key on a line of its own, whole, to be copied into `cdmo finding`
        state = f.state.status.value
        if f.state.assignee:
            state += f" ({f.state.assignee}{f', due ' + str(f.state.due) if f.state.due else ''})"
        console.print(f.key, style="bold", soft_wrap=True, highlight=False, markup=False)
        where = "; ".join(x for x in (f.severity, f.site, ", ".join(f.programs)) if x)
        console.print(f"  {f.name}: {state}; {where}", highlight=False, markup=False)
        console.print(f"  {f.summary}", highlight=False, markup=False)
    console.print(f"{len(found)} finding{'s' * (len(found) != 1)}", highlight=False)


@app.command()
def finding(
    key: Annotated[str, typer.Argument(help="The finding's key (`cdmo findings` lists them)")],
    action: Annotated[FindingAction, typer.Argument(help="What to do")],
    assignee: Annotated[str | None, typer.Option(help="assign: who is to act")] = None,
    due: Annotated[str | None, typer.Option(help="assign: by when (YYYY-MM-DD)")] = None,
    text: Annotated[str | None, typer.Option(help="comment: the comment; close, reopen: why")] = None,
) -> None:
    """Acknowledge, assign, comment on, close or reopen a finding; the change goes into the audit trail."""
    if not key.strip():
        raise fail("name the finding by its key (`cdmo findings` lists them)")
    try:
        request = FindingRequest(action=action, assignee=assignee, due=date.fromisoformat(due) if due else None, text=text)
    except ValueError as exc:
        raise fail(f"{key}: {' '.join(str(exc).split())[:300]}") from None
    try:
        with store_access(get_settings()) as store:
            changed = store.change_finding(key, request)
    except Refused as exc:
        raise fail(f"{key}: {exc}") from None
    console.print(f"{changed.key}: {changed.state.status.value}", highlight=False)
