"""Oversight: partner risk, program readiness, the nightly digest."""

from datetime import date, datetime
from typing import Annotated

import typer
from rich.table import Table

from api.cli.access import store_access
from api.cli.app import app, console
from core.config import get_settings

AsOf = Annotated[date | None, typer.Option(help="Judge on this day (replaying a corpus); default CDMO_AS_OF or today")]


@app.command()
def nightly(
    since: Annotated[datetime | None, typer.Option(help="Start of the window; default: the end of the last run")] = None,
    until: Annotated[datetime | None, typer.Option(help="End of the window; default: now")] = None,
    as_of: AsOf = None,
) -> None:
    """Write the digest of what was ingested in the window (Markdown and HTML), record it, mail it if set."""
    settings = get_settings()
    with store_access(settings) as store:  # this terminal's CDMO_AS_OF, even when a server does the work
        outcome = store.nightly(since, until, as_of or settings.as_of)
    run, digest = outcome.run, outcome.digest
    console.print(f"digest {run.id}: {len(digest.new_documents)} new documents, judged on {digest.as_of}")
    for item in digest.needs_human:
        console.print(f"[bold red]needs a human:[/bold red] {item.text}", highlight=False)
    console.print(f"written: {run.markdown_path}\n         {run.html_path}")
    if run.mailed_to:
        console.print(f"mailed to {', '.join(run.mailed_to)}")


@app.command()
def risk(site: Annotated[str | None, typer.Argument(help="A site id; default: every site")] = None, as_of: AsOf = None) -> None:
    """Partner risk per site on four dimensions, with the signals behind each."""
    settings = get_settings()
    with store_access(settings) as store:
        risks = store.risk(site, as_of or settings.as_of)
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
    settings = get_settings()
    with store_access(settings) as store:
        programs = store.readiness(program, as_of or settings.as_of)
    for p in programs:
        nxt = f"{p.next_milestone} in {p.days_to_next} days" if p.next_milestone else "no upcoming date"
        console.print(f"[bold]{p.program} {p.name}: readiness {p.score:g}[/bold] (next: {nxt}); CTD at risk: "
                      f"{', '.join(p.ctd_sections_at_risk) or '-'}; {p.overdue_capas} CAPAs past due; "
                      f"{p.open_qta_gaps} QTA gaps", highlight=False)  # fmt: skip
        if p.closed_left_out:
            console.print(f"  open findings only: {p.closed_left_out} closed by people not counted", highlight=False)
        for i in p.items[:10]:
            console.print(f"  {i.weight:5.1f}  {i.title}", highlight=False)
        for chain in p.propagation:
            console.print(f"  chain from {chain.origin}:", highlight=False)
            for step in chain.steps:
                console.print(f"    -> {step}", highlight=False)
