"""The `cdmo` Typer app and what its command modules share: the console, the terminal's user, options."""

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from core.auth import Principal, Role
from core.config import Settings

app = typer.Typer(help="CDMO document intelligence", no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()
# The terminal's user, for the audit trail: whoever can run the command owns the data folder
CLI_USER = Principal(name=f"cli:{getpass.getuser()}", kind="cli", role=Role.ADMIN)

ScopePrograms = Annotated[str | None, typer.Option(help="Comma-separated program ids it may see; default every one")]
ScopeSites = Annotated[str | None, typer.Option(help="Comma-separated site ids it may see; default every one")]


def ids(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print why the command stopped; `raise fail(...)`."""
    console.print(message, style="red", markup=False, highlight=False)
    return typer.Exit(code)


def refuse_store_path(out: Path, settings: Settings) -> None:
    """An output file may never land on the store: not in the data folder, not on the record database."""
    target = out.resolve()
    database = settings.sqlalchemy_url.removeprefix("sqlite:///")
    inside = target.is_relative_to(settings.data_dir.resolve())
    if inside or (settings.sqlalchemy_url.startswith("sqlite:///") and target == Path(database).resolve()):
        raise fail(f"refusing to write {out}: it is in the store ({settings.data_dir}); choose a path outside it")
