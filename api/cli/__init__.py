"""The `cdmo` command: the same library calls as the API, in a terminal (one module per command group).

Heavy imports (the embedder, the search engine, the parsers) happen inside the commands that need them,
so that `cdmo --help` and `cdmo documents` answer at once. While a server owns the store, commands go
through its API (api/cli/access.py).
"""

import logging
import sys

from api.cli import admin, analysis, documents, evaluate, findings, oversight  # noqa: F401, I001  (in the order --help lists them)
from api.cli.app import app, console
from core.errors import unexpected

log = logging.getLogger("cdmo")


class _CommandLog(logging.Handler):
    """A command's warnings and failures (tracebacks among them), into the data folder's logs/cli.log, opened on
    the first one: the terminal gets the command's words, never a traceback."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self._file: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._file is None:
            from core.config import get_settings

            folder = get_settings().logs_path
            try:
                folder.mkdir(parents=True, exist_ok=True)
                self._file = logging.FileHandler(folder / "cli.log")
            except OSError:
                return
            self._file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._file.emit(record)


def main() -> None:
    """The console script: a failure is told in words, its traceback goes to the data folder's log."""
    logging.basicConfig(handlers=[_CommandLog()])  # `cdmo serve` replaces it with its own (api/cli/admin.py)
    try:
        app()
    except Exception:
        command = " ".join(["cdmo", *sys.argv[1:2]])
        where = _log_file()
        console.print(f"{unexpected(log, command)}; details in {where}", style="red", markup=False, highlight=False)
        sys.exit(1)


def _log_file() -> str:
    from core.config import get_settings

    folder = get_settings().logs_path
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(folder / "cli.log")
    except OSError:
        handler, folder = logging.StreamHandler(), None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.propagate = False  # the terminal gets the words, not the traceback
    return str(folder / "cli.log") if folder else "the terminal's error output"


__all__ = ["app", "main"]
