"""Issue 9 item 18: the database file is the owner's alone, and first-run secrets never reach logs.

Before: ``creditbank.db`` was created 0644 (world-readable) beside keys kept 0600, and the first
run printed the operator token, API keys and demo activation codes to stdout — which journald
keeps when ``serve`` runs as a service.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import stat
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from rich.cells import cell_len
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


# -- on an 80-column terminal (a pty, as an operator's SSH session) -------------------------------

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def in_terminal(
    tmp_path: Path, *args: str, until: str | None = None, timeout: float = 240
) -> tuple[int | None, str]:
    """Run ``creditbank ARGS`` with a pseudo-terminal 80 columns wide as its stdout, as an operator's
    SSH session is; returns the exit code (None when stopped at ``until``) and the raw output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITBANK_")} | {
        "CREDITBANK_DATABASE_URL": f"sqlite:///{tmp_path / 'creditbank.db'}",
        "CREDITBANK_KEYS_DIR": str(tmp_path / "keys"),
        "CREDITBANK_SECRET": "terminal-test-secret",
        "CREDITBANK_INSTALL_FONTS": "false",
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "80",
        "LINES": "24",
        "TERM": "xterm-256color",
    }
    env.pop("NO_COLOR", None)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "creditbank.cli", *args],
        env=env,
        cwd=tmp_path,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    # poll, not select: a long test process holds descriptors past 1024, where select() refuses.
    poller = select.poll()
    poller.register(master, select.POLLIN)
    try:
        while time.monotonic() < deadline:
            ready = poller.poll(1000)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                chunks.append(chunk)
                if until and until in b"".join(chunks).decode("utf-8", "replace"):
                    process.terminate()
                    process.wait(timeout=60)
                    return None, b"".join(chunks).decode("utf-8", "replace")
            elif process.poll() is not None:
                break
        else:
            pytest.fail("timed out:\n" + b"".join(chunks).decode("utf-8", "replace"))
        return process.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)


class TestOnAnEightyColumnTerminal:
    """The reviewer's 80-column terminal: the operator's password sat alone on the next line, and
    Rich coloured half of the DID (``did:w`` plain, ``eb:127.0.0.1`` coloured)."""

    def test_each_secret_sits_on_its_own_line_beside_its_label_and_nothing_is_coloured(self, tmp_path):
        code, raw = in_terminal(tmp_path, "demo")
        assert code == 0, raw
        lines = raw.replace("\r", "").split("\n")
        plain = [ANSI.sub("", line) for line in lines]
        did_lines = [raw_line for raw_line, line in zip(lines, plain, strict=True) if "did:web:" in line]
        assert did_lines and not [line for line in did_lines if ANSI.search(line)], did_lines
        secrets_shown = {
            "cbo_": "管理员令牌 operator token",
            "cbk_": "API 密钥 key",
        }
        for marker, label in secrets_shown.items():
            found = [line for line in plain if marker in line]
            assert found, (marker, raw)
            assert all(label in line and cell_len(line) <= 80 for line in found), found
        for label in ("密码 password:", "TOTP 密钥 secret:", "激活码 code:", "用户名 username:"):
            found = [line for line in plain if label in line]
            assert found, (label, raw)
            # the value follows its label on the same line, and the line fits the terminal
            assert all(line.split(label, 1)[1].strip() and cell_len(line) <= 80 for line in found), found
        # The operator's password and TOTP secret: each with its label, on lines of their own.
        office = plain.index(next(line for line in plain if "/operator/signin" in line))
        block = "\n".join(plain[office : office + 6])
        assert re.search(r"用户名 username: +office\n", block), block
        assert re.search(r"密码 password: +\S{10,}\n", block), block
        assert re.search(r"TOTP 密钥 secret: +[A-Z2-7]{32}\n", block), block

    def test_a_second_serve_with_demo_says_the_demo_is_loaded_and_how_to_get_back_in(self, tmp_path):
        code, raw = in_terminal(tmp_path, "demo")
        assert code == 0, raw
        _, again = in_terminal(tmp_path, "serve", "--demo", "--port", "0", until="creditbank on http")
        said = ANSI.sub("", again)
        assert "演示数据已加载" in said and "demo is already loaded" in said, said
        assert "creditbank operator create" in said and "creditbank.db" in said, said
        assert "cbk_" not in said

    def test_demo_on_a_database_with_data_is_refused_with_a_non_zero_exit(self, tmp_path):
        code, raw = in_terminal(tmp_path, "demo")
        assert code == 0, raw
        code, again = in_terminal(tmp_path, "demo")
        said = ANSI.sub("", again)
        assert code == 1 and "数据库已有数据，未加载演示数据" in said, again
        assert "演示数据已加载过" in said and "creditbank operator create" in said, said
