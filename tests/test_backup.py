"""creditbank backup / restore (issue 9, item 19): a copy taken while the bank runs restores into
a fresh directory, and `audit` passes there."""

from __future__ import annotations

import os
import shutil
import stat

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from creditbank.app import create_app
from creditbank.cli import app as cli
from creditbank.completions.models import Completion
from creditbank.config import Settings, get_settings
from creditbank.db import Database
from tests.conftest import ADMIN, OPERATOR, completion_body, institution, learner, outcome


def _run(monkeypatch, url: str, keys, *args: str):
    monkeypatch.setenv("CREDITBANK_DATABASE_URL", url)
    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(keys))
    monkeypatch.setenv("CREDITBANK_SECRET", "test-secret")
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, list(args))
    finally:
        get_settings.cache_clear()


def _completions(url: str) -> int:
    db = Database(url)
    try:
        with db.reader() as session:
            return session.execute(select(func.count()).select_from(Completion)).scalar_one()
    finally:
        db.dispose()


class TestItem19BackupRestore:
    def test_item19_backup_restores_into_a_fresh_directory_and_audit_passes(
        self, sqlite_url, tmp_path, monkeypatch
    ):
        keys = tmp_path / "keys"
        settings = Settings(database_url=sqlite_url, keys_dir=keys, admin_token=ADMIN, secret="test-secret")
        db = Database(sqlite_url)
        with TestClient(create_app(settings, db)) as client:
            inst = institution(client)
            outcome(client, inst)
            person = learner(client, inst)
            for _ in range(3):
                done = client.post(
                    "/api/v1/completions", json=completion_body(person["account_no"]), headers=inst
                )
                assert done.status_code == 201 or done.json()["code"] == "duplicate_completion"
            cert = client.post(
                "/api/v1/certificates/batch",
                json={"items": [{"kind": "transcript", "account_no": person["account_no"]}]},
                headers=OPERATOR,
            ).json()[0]
            # the copy is taken while the app (and its connection pool) is live
            copy = tmp_path / "backups" / "creditbank-backup.db"
            copy.parent.mkdir()
            made = _run(monkeypatch, sqlite_url, keys, "backup", str(copy))
            assert made.exit_code == 0, made.output
        db.dispose()
        assert stat.S_IMODE(os.stat(copy).st_mode) == 0o600
        again = _run(monkeypatch, sqlite_url, keys, "backup", str(copy))
        assert again.exit_code == 1 and "exists" in again.output  # never overwrites

        fresh = tmp_path / "fresh"
        fresh.mkdir()
        shutil.copytree(keys, fresh / "keys")  # kept separately, as docs/operations.md says
        fresh_url = f"sqlite:///{fresh / 'creditbank.db'}"
        restored = _run(monkeypatch, fresh_url, fresh / "keys", "restore", str(copy))
        assert restored.exit_code == 0, restored.output
        assert "audit passed" in restored.output
        assert _completions(fresh_url) == _completions(sqlite_url) >= 1
        audited = _run(monkeypatch, fresh_url, fresh / "keys", "audit")
        assert audited.exit_code == 0 and "audit passed" in audited.output

        # the restored bank still verifies what the old one issued
        fresh_settings = Settings(
            database_url=fresh_url, keys_dir=fresh / "keys", admin_token=ADMIN, secret="test-secret"
        )
        fresh_db = Database(fresh_url)
        with TestClient(create_app(fresh_settings, fresh_db)) as client:
            assert client.get(f"/api/v1/verify/{cert['id']}").json()["valid"] is True
        fresh_db.dispose()

        refused = _run(monkeypatch, fresh_url, fresh / "keys", "restore", str(copy))
        assert refused.exit_code == 1 and "--force" in refused.output

    def test_item19_postgresql_is_pointed_to_pg_dump(self, tmp_path, monkeypatch):
        result = _run(
            monkeypatch, "postgresql+psycopg://u@localhost/creditbank", tmp_path / "keys", "backup", "x.db"
        )
        assert result.exit_code == 1 and "pg_dump" in result.output

    @pytest.mark.parametrize("content", [b"", b"not a database"])
    def test_item19_restore_refuses_what_is_not_a_backup(self, tmp_path, monkeypatch, content):
        bogus = tmp_path / "bogus.db"
        bogus.write_bytes(content)
        (tmp_path / "keys").mkdir()
        result = _run(
            monkeypatch, f"sqlite:///{tmp_path / 'new.db'}", tmp_path / "keys", "restore", str(bogus)
        )
        assert result.exit_code == 1
        assert not (tmp_path / "new.db").exists()
