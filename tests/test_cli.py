"""The `cdmo` command in a terminal: progress, per-file results, ranked passages."""

import json

import pytest
from typer.testing import CliRunner

from api.cli import app
from core.config import get_settings


@pytest.fixture
def cli_env(tmp_path, monkeypatch, model_cache):
    monkeypatch.setenv("CDMO_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "models").symlink_to(model_cache)  # reuse the session's exported model
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_ingest_then_search(cli_env, corpus_dir, tmp_path):
    bad = tmp_path / "scan.pdf"
    bad.write_bytes(b"%PDF-1.4 broken")
    runner = CliRunner()
    oos = corpus_dir / "OOS-24-007_SEC_Purity_Veltrusimab_DS_24-019.pdf"
    result = runner.invoke(app, ["ingest", str(oos), str(bad)])
    assert result.exit_code == 2, result.output  # one file failed
    assert "2/2" in result.output and "1 of 2 files ingested or already present; 1 failed." in result.output

    result = runner.invoke(app, ["ingest", "--json", str(oos), str(bad)])
    by_file = {r["filename"]: r for r in json.loads(result.output)}
    assert by_file[oos.name]["status"] == "unchanged" and by_file[oos.name]["kind"] == "oos_investigation"
    assert by_file["scan.pdf"]["status"] == "failed" and "corrupt" in by_file["scan.pdf"]["error"]

    result = runner.invoke(app, ["search", "OOS-24-007 retest", "--limit", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert '"filename": "OOS-24-007_SEC_Purity_Veltrusimab_DS_24-019.pdf"' in result.output
    assert '"page": 1' in result.output


def test_keys_users_audit_and_check_from_the_terminal(cli_env, corpus_dir):
    from core.auth import secret_hash
    from core.store import RecordStore

    runner = CliRunner()
    dev = corpus_dir / "DEV-2024-044_Buffer_Preparation_Error.pdf"
    assert runner.invoke(app, ["ingest", str(dev)]).exit_code == 0
    result = runner.invoke(app, ["keys", "create", "lims", "--role", "reviewer", "--programs", "HB-240"])
    key = result.output.strip().splitlines()[-1]
    store = RecordStore(get_settings().sqlalchemy_url)
    issued = store.api_key(secret_hash(key))
    assert issued.name == "lims" and issued.role == "reviewer" and issued.programs == ["HB-240"]
    short = runner.invoke(app, ["users", "add", "elena", "--role", "viewer"], input="short\nshort\n")
    assert short.exit_code == 2 and "12 characters" in short.output
    added = runner.invoke(app, ["users", "add", "elena", "--sites", "NGB-CORK"], input="a long passphrase\n" * 2)
    assert added.exit_code == 0 and store.user("elena")[0].sites == ["NGB-CORK"]
    assert "elena" in runner.invoke(app, ["users", "list"]).output
    assert issued.id in runner.invoke(app, ["keys", "list"]).output
    assert runner.invoke(app, ["keys", "revoke", issued.id]).exit_code == 0 and store.api_key(secret_hash(key)) is None
    assert runner.invoke(app, ["keys", "revoke", issued.id]).exit_code == 1
    assert runner.invoke(app, ["users", "remove", "elena"]).exit_code == 0 and store.user("elena") is None
    rows = runner.invoke(app, ["audit", "--format", "csv"]).output.strip().splitlines()
    assert [r.split(",")[5] for r in rows[1:]] == ["upload", "analyse", "add_key", "add_user", "revoke_key", "remove_user"]
    assert "DEV-2024-044_Buffer_Preparation_Error.pdf@v1" in rows[1]
    database = get_settings().data_dir / "records.sqlite3"
    size = database.stat().st_size
    over = runner.invoke(app, ["audit", "--format", "csv", "--out", str(database)])
    assert over.exit_code == 2 and "refusing to write" in over.output and database.stat().st_size == size
    assert store.user("elena") is None and len(store.audit_entries()) == len(rows) - 1  # the store is whole
    verified = runner.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0 and "the trail is whole" in verified.output
    checked = runner.invoke(app, ["check"])
    assert checked.exit_code == 0 and "0 chunks without a vector, 0 vectors without a chunk" in " ".join(checked.output.split())
    store.engine.dispose()
