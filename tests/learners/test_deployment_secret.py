"""Issue 9 item 10: a lost or changed deployment secret is refused, never silently replaced.

Learners are matched on HMAC(secret, ID number): under another secret the same person would get a
second account. The database keeps a fingerprint of the secret; starting the service (the app, or
any command) and ``creditbank audit`` compare it.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from creditbank.app import create_app
from creditbank.cli import app as cli
from creditbank.config import Settings, get_settings
from creditbank.learners.secret import SecretRefused
from tests.conftest import ADMIN, institution, learner


def _settings(db_url, tmp_path, **fields) -> Settings:
    return Settings(database_url=db_url, keys_dir=tmp_path / "keys", admin_token=ADMIN, **fields)


def _enrol_one(settings: Settings, db) -> str:
    with TestClient(create_app(settings, db)) as client:
        return learner(client, institution(client))["account_no"]


class TestSecretChangeIsRefused:
    def test_a_changed_secret_refuses_to_start_once_learners_exist(self, db_url, db, tmp_path):
        _enrol_one(_settings(db_url, tmp_path, secret="the original secret"), db)
        with pytest.raises(SecretRefused) as refused:
            create_app(_settings(db_url, tmp_path, secret="another secret"), db)
        assert "部署密钥与数据库不符" in refused.value.zh and "does not match" in refused.value.en
        create_app(_settings(db_url, tmp_path, secret="the original secret"), db)  # the right one starts

    def test_a_lost_secret_file_is_not_regenerated(self, db_url, db, tmp_path):
        settings = _settings(db_url, tmp_path)  # no CREDITBANK_SECRET: keys/secret.key is created
        _enrol_one(settings, db)
        path = tmp_path / "keys" / "secret.key"
        assert path.exists()
        path.unlink()
        with pytest.raises(SecretRefused) as refused:
            create_app(_settings(db_url, tmp_path), db)
        assert "keys/secret.key" in refused.value.en and not path.exists()

    def test_without_learners_a_new_secret_is_simply_recorded(self, db_url, db, tmp_path):
        with TestClient(create_app(_settings(db_url, tmp_path, secret="first"), db)) as client:
            institution(client)  # no learner yet
        create_app(_settings(db_url, tmp_path, secret="second"), db)


class TestCommandsCheckTheSecret:
    @pytest.fixture
    def env(self, sqlite_url, tmp_path, monkeypatch):
        monkeypatch.setenv("CREDITBANK_DATABASE_URL", sqlite_url)
        monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(tmp_path / "keys"))
        monkeypatch.setenv("CREDITBANK_ADMIN_TOKEN", ADMIN)
        monkeypatch.setenv("CREDITBANK_SECRET", "the original secret")
        get_settings.cache_clear()
        yield monkeypatch
        get_settings.cache_clear()

    def test_audit_fails_and_commands_refuse_with_a_changed_secret(self, env, sqlite_url, tmp_path):
        from creditbank.db import Database

        db = Database(sqlite_url)
        _enrol_one(get_settings(), db)
        db.dispose()
        assert CliRunner().invoke(cli, ["audit"]).exit_code == 0

        env.setenv("CREDITBANK_SECRET", "a new secret")
        get_settings.cache_clear()
        audited = CliRunner().invoke(cli, ["audit"])
        assert audited.exit_code == 1 and "does not match" in audited.output
        started = CliRunner().invoke(cli, ["demo"])  # every command that prepares the database
        assert started.exit_code == 1 and "部署密钥与数据库不符" in started.output
