"""Administration: users, API keys, the audit trail, the store's consistency, the server."""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from api.cli.access import store_access
from api.cli.app import ScopePrograms, ScopeSites, app, console, fail, ids, refuse_store_path
from core.auth import Role, User
from core.config import Settings, get_settings


@app.command()
def check(repair: Annotated[bool, typer.Option(help="Make the vector index match the records")] = False) -> None:
    """Find (and with --repair, fix) drift between the vector index and the record store, e.g. after a crash.

    Beside a running server the check goes through it; a repair needs the store to itself."""
    with store_access(get_settings(), own="`cdmo check --repair`" if repair else None) as store:
        report = store.check(repair)
    if report.unreadable:
        console.print(report.unreadable, style="red", markup=False, highlight=False)
    if report.rebuilt_from:
        console.print(f"rebuilt from the records; the damaged index was moved to {report.rebuilt_from}", highlight=False)
    if report.arithmetic is not None:
        console.print(report.arithmetic.words, style=None if report.arithmetic.mixable else "red", markup=False,
                      highlight=False)  # fmt: skip
    if report.unreadable and not report.rebuilt_from:
        console.print(f"{report.chunks} chunks in the records; the index could not be read to compare them",
                      highlight=False)  # fmt: skip
    else:
        _counts(report)
    if report.repaired:
        console.print("[green]repaired: the index now matches the records[/green]")
    elif not report.consistent:
        console.print("run `cdmo check --repair` to fix it")
        raise typer.Exit(1)


def _counts(report) -> None:
    console.print(f"{report.chunks} chunks in the records, {report.points} points in the index: "
                  f"{len(report.missing_vectors)} chunks without a vector, {len(report.orphan_points)} vectors "
                  f"without a chunk, {len(report.wrong_status)} with a stale status, "
                  f"{len(report.damaged_vectors)} of {report.vectors_checked} vectors checked damaged, "
                  f"{len(report.keyword_drift)} passages out of step in the keyword index, "
                  f"{len(report.keyword_damaged)} of {report.keywords_checked} keyword points checked damaged",
                  highlight=False)  # fmt: skip


@app.command()
def reanalyse() -> None:
    """Read every current document's analysis again with today's readers (after an upgrade): QTA reviews,
    triages, regulators' observations and the findings they give, each audited; the work people did on a finding
    stays with it. Needs the store to itself (stop the server first)."""
    with store_access(get_settings(), own="`cdmo reanalyse`") as store:
        done, before, after = store.reanalyse()
    console.print(f"{done} document{'s' * (done != 1)} read again; {before} findings before, {after} now", highlight=False)


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
    if len(password) < 12:
        raise fail("a password needs at least 12 characters")
    user = User(username=username, role=role, programs=ids(programs), sites=ids(sites))
    with store_access(get_settings()) as store:
        store.add_user(user, password)
    console.print(f"user {username}: {role.value}")


@users_app.command("list")
def list_users() -> None:
    """Users with their role and the programs and sites they may see."""
    with store_access(get_settings()) as store:
        users = store.users()
    table = Table("user", "role", "programs", "sites")
    for u in users:
        table.add_row(u.username, u.role.value, ",".join(u.programs or ["all"]), ",".join(u.sites or ["all"]))
    console.print(table)


@users_app.command("remove")
def remove_user(username: str) -> None:
    """Remove a user; their sessions end at once."""
    with store_access(get_settings()) as store:
        if not store.remove_user(username):
            raise fail(f"no user {username}", 1)
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
    with store_access(get_settings()) as store:
        issued = store.create_key(name, role, ids(programs), ids(sites))
    console.print(issued.key, markup=False, highlight=False)


@keys_app.command("list")
def list_keys() -> None:
    """Keys by prefix, with name, role, scope and creation time (the keys themselves are not kept)."""
    with store_access(get_settings()) as store:
        keys = store.keys()
    table = Table("id", "name", "role", "programs", "sites", "created")
    for k in keys:
        table.add_row(k.id, k.name, k.role.value, ",".join(k.programs or ["all"]), ",".join(k.sites or ["all"]),
                      k.created_at.isoformat(timespec="seconds"))  # fmt: skip
    console.print(table)


@keys_app.command("revoke")
def revoke_key(key_id: Annotated[str, typer.Argument(help="The key's prefix, as `cdmo keys list` shows it")]) -> None:
    """Revoke a key: requests that send it are refused from now on."""
    with store_access(get_settings()) as store:
        if not store.revoke_key(key_id):
            raise fail(f"no key {key_id}", 1)
    console.print(f"key {key_id} revoked")


audit_app = typer.Typer(help="The audit trail (append-only, hash-chained)", invoke_without_command=True)
app.add_typer(audit_app, name="audit")


@audit_app.callback()
def audit(
    ctx: typer.Context,
    format: Annotated[str, typer.Option(help="table, jsonl or csv")] = "table",
    actor: str | None = None,
    action: str | None = None,
    out: Annotated[Path | None, typer.Option(help="Write the export here (never into the data folder)")] = None,
) -> None:
    """View or export the audit trail: who did what, when, to which document versions. `cdmo audit verify`
    walks its hash chain."""
    if ctx.invoked_subcommand:
        return
    from api.audit import audit_csv

    settings = get_settings()
    if out:
        refuse_store_path(out, settings)
    with store_access(settings) as store:
        entries = store.audit(actor, action)
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


@audit_app.command("verify")
def verify(
    against: Annotated[str | None, typer.Option(help="A head noted elsewhere earlier, '<entry>:<hash>' (the digest "
                                                     "prints it): it must still be in the chain")] = None,
) -> None:
    """Walk the hash chain: every entry's hash recomputed and every link checked; exit 1 on any problem."""
    with store_access(get_settings()) as store:
        result = store.verify_audit(against)
    console.print(f"{result.entries} entries, {result.chained} in the chain"
                  + (f", {result.unchained} written before it began" if result.unchained else "")
                  + f"; head: {result.anchor} (note it elsewhere: `cdmo audit verify --against {result.anchor}`)",
                  highlight=False)  # fmt: skip
    for problem in result.problems:
        console.print(problem, style="red", markup=False, highlight=False)
    if result.problems:
        raise typer.Exit(1)
    console.print("[green]the trail is whole: no entry changed, removed or cut from the end[/green]")


@app.command()
def serve(host: str | None = None, port: int | None = None) -> None:
    """Serve the API and the web app (OpenAPI page at /docs). While it runs, other `cdmo` commands go through it."""
    import uvicorn

    from api.app import create_app
    from core.ownership import StoreLock, needs_lock

    settings = get_settings()
    host, port = host or settings.api_host, port or settings.api_port
    lock = StoreLock(settings.data_dir)  # taken here, before uvicorn starts, so that a refusal reads plainly
    if needs_lock(settings) and (owner := lock.try_acquire("cdmo serve")) is not None:
        raise fail(f"cannot serve: the store in {settings.data_dir} is in use by {owner.describe()}", 3)
    _log_to(settings)
    address = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    try:
        uvicorn.run(create_app(settings, url=f"http://{address}:{port}"), host=host, port=port)
    finally:
        lock.release()


def _log_to(settings: Settings) -> None:
    """The server's log (failures with their tracebacks) on the terminal and in the data folder's logs/."""
    import logging

    settings.logs_path.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(), logging.FileHandler(settings.logs_path / "server.log")],
        force=True,
    )

