"""`creditbank operator create` and `creditbank staff create`: the first accounts of the pages."""

from __future__ import annotations

import re

import pyotp
from argon2 import PasswordHasher
from typer.testing import CliRunner

from creditbank.cli import app
from creditbank.config import get_settings
from creditbank.db import Database
from creditbank.institutions import service as institutions
from creditbank.staff import service as staff


def _env(db_url: str, tmp_path) -> dict[str, str]:
    get_settings.cache_clear()  # the CLI reads its settings once per process
    return {
        "CREDITBANK_DATABASE_URL": db_url,
        "CREDITBANK_KEYS_DIR": str(tmp_path / "keys"),
        "CREDITBANK_SECRET": "cli-secret",
        "CREDITBANK_ADMIN_TOKEN": "cbo_cli",
        "COLUMNS": "300",
    }


def test_operator_create_prints_a_totp_secret_that_signs_in(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setattr(staff, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    result = CliRunner().invoke(
        app,
        ["operator", "create", "office", "--name", "区社区教育办公室", "--password", "长城长城长城12345"],
        env=_env(sqlite_url, tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert "/operator/signin" in result.output
    # Not a terminal: the secret is not printed but written to keys/first-run-secrets.txt (0600).
    written = (tmp_path / "keys" / "first-run-secrets.txt").read_text()
    assert "otpauth://totp/" in written and "otpauth" not in result.output
    secret = re.search(r"secret \(shown once 仅显示一次\): ([A-Z2-7]+)", written).group(1)
    db = Database(sqlite_url)
    with db.unit_of_work() as session:
        user, _ = staff.sign_in_operator(
            session, username="office", password="长城长城长城12345", code=pyotp.TOTP(secret).now()
        )
    assert user.is_operator
    again = CliRunner().invoke(
        app,
        ["operator", "create", "office", "--password", "长城长城长城12345"],
        env=_env(sqlite_url, tmp_path),
    )
    get_settings.cache_clear()
    assert again.exit_code == 2 and "已被使用" in again.output


def test_staff_create_makes_a_console_login(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setattr(staff, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    env = _env(sqlite_url, tmp_path)
    db = Database(sqlite_url)
    with db.unit_of_work() as session:
        institutions.create(session, code="YCCEC", name_zh="永川区社区教育学院")
    result = CliRunner().invoke(
        app,
        ["staff", "create", "wang", "--institution", "YCCEC", "--role", "clerk", "--role", "approver",
         "--password", "长城长城长城12345"],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with db.unit_of_work() as session:
        user, _ = staff.sign_in_staff(session, username="wang", password="长城长城长城12345")
    assert user.has("clerk") and user.has("approver") and user.institution_code == "YCCEC"
    get_settings.cache_clear()
