"""Issue 9 item 18: the database file is the owner's alone, and first-run secrets never reach logs.

Before: ``creditbank.db`` was created 0644 (world-readable) beside keys kept 0600, and the first
run printed the operator token, API keys and demo activation codes to stdout — which journald
keeps when ``serve`` runs as a service.
"""

from __future__ import annotations

import os
import stat
import sys

from sqlalchemy import text
from typer.testing import CliRunner

from creditbank.cli import SECRETS_FILE, app, show_secrets
from creditbank.config import Settings, get_settings
from creditbank.db import Database
from creditbank.migrations import upgrade


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_item_18_the_sqlite_database_and_its_wal_are_created_owner_only(tmp_path):
    old = os.umask(0o022)  # the usual umask, under which SQLite alone creates 0644 files
    try:
        path = tmp_path / "data" / "creditbank.db"
        upgrade(f"sqlite:///{path}")
        db = Database(f"sqlite:///{path}")
        with db.unit_of_work() as session:
            session.execute(text("CREATE TABLE probe (x INTEGER)"))
        with db.reader() as session:
            session.execute(text("SELECT 1 FROM probe")).all()
            assert _mode(path) == 0o600
            assert _mode(f"{path}-wal") == 0o600 and _mode(f"{path}-shm") == 0o600
        db.dispose()
    finally:
        os.umask(old)


def test_item_18_first_run_secrets_go_to_an_owner_only_file_off_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setenv("CREDITBANK_DATABASE_URL", f"sqlite:///{tmp_path / 'creditbank.db'}")
    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.delenv("CREDITBANK_ADMIN_TOKEN", raising=False)
    monkeypatch.setenv("CREDITBANK_SECRET", "first-run-secret")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["demo"])  # CliRunner's stdout is not a terminal, as journald's
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    secrets_file = tmp_path / "keys" / SECRETS_FILE
    printed = result.output
    assert "cbo_" not in printed and "cbk_" not in printed and "激活码 code" not in printed
    assert str(secrets_file) in "".join(printed.split())  # only where to find them (Rich may wrap)
    # The operator token and the demo's keys went there in two writes: said once.
    assert "".join(printed.split()).count("Read it, then delete it.".replace(" ", "")) == 1
    kept = secrets_file.read_text(encoding="utf-8")
    assert "cbo_" in kept and "cbk_" in kept and "激活码 code" in kept
    assert _mode(secrets_file) == 0o600


def test_item_18_on_a_terminal_the_secrets_are_printed(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    show_secrets(Settings(keys_dir=tmp_path / "keys"), "Operator token 管理员令牌: cbo_example")
    assert "cbo_example" in capsys.readouterr().out
    assert not (tmp_path / "keys" / SECRETS_FILE).exists()
