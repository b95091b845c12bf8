"""A real PostgreSQL for the suite: Debian's server (installed by `make test`), a throw-away cluster started
for the session on a loopback port and stopped after it, a fresh database per test.

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user the Debian package
creates, in a folder of its own outside pytest's (which only root may enter).
"""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from api.loopback import free_port


def server_binaries() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return os.path.dirname(found[-1]) if found else None


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Yields the server's URL without a database name (append one)."""
    bindir = server_binaries()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server in /usr/lib/postgresql: `make test` installs Debian's postgresql")
    folder = tempfile.mkdtemp(prefix="cdmo-pg-")
    as_user: list[str] = []
    if os.getuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(folder, "data"), free_port()
    run = lambda *args: subprocess.run([*as_user, *args], check=True, capture_output=True)  # noqa: E731
    try:
        run(f"{bindir}/initdb", "-D", data, "-U", "cdmo", "-A", "trust", "-E", "UTF8", "--no-sync")
        # a test server: durability off (fsync), which changes no behaviour the suite looks at
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
        run(f"{bindir}/pg_ctl", "-D", data, "-o", options, "-l", os.path.join(folder, "server.log"), "-w", "start")
        try:
            yield f"postgresql+psycopg://cdmo@127.0.0.1:{port}"
        finally:
            run(f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def new_database(server: str) -> str:
    """A fresh, empty database on the cluster; its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"
