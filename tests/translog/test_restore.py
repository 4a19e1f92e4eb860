"""A database restored to an earlier point, against the log the bank already published.

The restore is done as an operator does it: the SQLite file copied away before more postings and
put back (``creditbank backup`` / ``restore`` too); on PostgreSQL the database copied with
``CREATE DATABASE … TEMPLATE`` and recreated from the copy, as ``pg_restore --clean`` would."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from creditbank.app import create_app, log_service
from creditbank.cli import app as cli
from creditbank.config import Settings, get_settings
from creditbank.db import Database
from creditbank.kit import merkle
from creditbank.translog import published, tiles
from creditbank.translog.published import LogBehind
from creditbank.translog.service import Log, LogForked
from tests.conftest import completion_body, institution, learner, outcome
from tests.translog.test_tiles import _append


def _snapshot(url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], None]:
    """Take a copy of the (disposed) database now; the returned function puts it back."""
    if make_url(url).get_backend_name() == "sqlite":
        live = Path(make_url(url).database or "")
        copy = tmp_path / "backup.db"
        shutil.copyfile(live, copy)

        def put_back() -> None:
            for stale in (Path(f"{live}-wal"), Path(f"{live}-shm")):
                stale.unlink(missing_ok=True)
            shutil.copyfile(copy, live)

        return put_back
    cluster = request.getfixturevalue("pg_cluster")
    name = make_url(url).database
    cluster.admin_execute(f"CREATE DATABASE {name}_backup TEMPLATE {name}")

    def restore() -> None:
        cluster.admin_execute(f"DROP DATABASE {name} WITH (FORCE)")
        cluster.admin_execute(f"CREATE DATABASE {name} TEMPLATE {name}_backup")

    return restore


class Bank:
    """The bank of ``settings``, opened and closed around each step (a restore needs it stopped)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.inst: dict[str, str] = {}

    def post(self, completions: int, *, checkpoint: bool) -> Log:
        """Post completions (one log entry each); ``checkpoint``: then sign one, as the schedule does."""
        db = Database(self.settings.database_url)
        try:
            with TestClient(create_app(self.settings, db)) as client:
                if not self.inst:
                    self.inst = institution(client)
                    outcome(client, self.inst)
                for _ in range(completions):
                    body = completion_body(learner(client, self.inst)["account_no"])
                    answer = client.post("/api/v1/completions", json=body, headers=self.inst)
                    assert answer.status_code == 201, answer.text
                if checkpoint:
                    client.app.state.log.checkpoint()
                return client.app.state.log
        finally:
            db.dispose()

    def mirror(self, folder: Path) -> None:
        """Copy the published entry bundles to ``folder/log/tile/entries/…``, as a static mirror keeps them."""
        db = Database(self.settings.database_url)
        try:
            with TestClient(create_app(self.settings, db)) as client:
                size = self.record()["published"]["size"]
                for index in range((size + tiles.WIDTH - 1) // tiles.WIDTH):
                    width = min(tiles.WIDTH, size - index * tiles.WIDTH)
                    path = tiles.tile_path("entries", index, None if width == tiles.WIDTH else width)
                    answer = client.get(f"/log/{path}")
                    assert answer.status_code == 200, path
                    (folder / "log" / path).parent.mkdir(parents=True, exist_ok=True)
                    (folder / "log" / path).write_bytes(answer.content)
                (folder / "log" / "checkpoint").write_bytes(client.get("/log/checkpoint").content)
        finally:
            db.dispose()

    def record(self) -> dict:
        return json.loads((self.settings.keys_dir / published.FILE).read_text(encoding="utf-8"))


def _cli(monkeypatch: pytest.MonkeyPatch, settings: Settings, *args: str):
    monkeypatch.setenv("CREDITBANK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(settings.keys_dir))
    monkeypatch.setenv("CREDITBANK_SECRET", "test-secret")
    monkeypatch.setenv("CREDITBANK_ADMIN_TOKEN", "cbo_test-operator-token")
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, list(args))
    finally:
        get_settings.cache_clear()


@pytest.fixture
def restored(settings: Settings, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Bank, dict, int]:
    """A bank that published a checkpoint, then had its database put back to a backup from before it:
    the bank, the published checkpoint as recorded and the size of the restored log."""
    bank = Bank(settings)
    bank.post(2, checkpoint=True)
    backed_up = bank.record()["published"]["size"]
    put_back = _snapshot(settings.database_url, request, tmp_path)
    bank.post(3, checkpoint=True)
    lost = bank.record()["published"]
    bank.mirror(tmp_path / "mirror")
    put_back()
    return bank, lost, backed_up


class TestThePublishedCheckpointIsRecorded:
    def test_each_checkpoint_signed_is_kept_beside_the_keys(self, settings):
        bank = Bank(settings)
        bank.post(2, checkpoint=True)
        first = bank.record()["published"]
        bank.post(1, checkpoint=True)
        second = bank.record()["published"]
        assert second["size"] == first["size"] + 1
        assert second["note"].startswith(f"127.0.0.1:8000/log\n{second['size']}\n{second['root']}\n\n— ")
        path = settings.keys_dir / published.FILE
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644  # public data, in the 0700 keys folder
        assert [p.name for p in settings.keys_dir.iterdir() if p.name.endswith(".tmp")] == []

    def test_the_record_never_goes_back(self, settings, tmp_path):
        record = published.RecordFile(tmp_path / "keys")
        big = published.Published("b/log", 9, b"\1" * 32, "b/log\n9\n…\n", "2026-12-03T00:00:00Z")
        small = published.Published("b/log", 4, b"\2" * 32, "b/log\n4\n…\n", "2026-12-03T00:00:01Z")
        assert record.advance(big) and not record.advance(small)  # a slower worker signed the smaller
        assert record.read().published == big

    def test_a_bank_from_before_the_record_gets_it_from_its_database_at_start(self, settings, db):
        bank = Bank(settings)
        bank.post(2, checkpoint=False)
        unrecorded = Log(db, log_service(settings, db).keys, "http://127.0.0.1:8000")  # the old release
        row = unrecorded.checkpoint()
        assert not (settings.keys_dir / published.FILE).exists()
        bank.post(0, checkpoint=False)  # the first start of this release
        assert bank.record()["published"]["size"] == row.size
        assert bank.record()["published"]["note"] == row.note

    def test_a_fresh_bank_starts_and_records_its_first_checkpoint(self, settings):
        bank = Bank(settings)
        bank.post(0, checkpoint=False)
        assert not (settings.keys_dir / published.FILE).exists()  # nothing published yet
        bank.post(1, checkpoint=True)
        assert bank.record()["published"]["size"] >= 1


class TestARestoreToAnEarlierPoint:
    def test_the_bank_refuses_to_start_and_says_what_happened(self, restored):
        bank, lost, backed_up = restored
        db = Database(bank.settings.database_url)
        try:
            with pytest.raises(LogBehind) as refused:
                create_app(bank.settings, db)
        finally:
            db.dispose()
        message = str(refused.value)
        at_zh, at_en = published.when(lost["signed_at"])
        assert f"published {at_en} has {lost['size']} entries, the database has {backed_up}" in message
        assert "restored to an earlier point" in message and "reset-after-restore --accept-fork" in message
        assert f"{at_zh} 公布的检查点有 {lost['size']} 条" in message and "恢复" in message

    def test_nothing_is_appended_or_signed_over_the_published_log(self, restored):
        bank, lost, backed_up = restored
        db = Database(bank.settings.database_url)
        try:
            log = log_service(bank.settings, db)  # a server that was not stopped for the restore
            with pytest.raises(LogForked, match=f"has {lost['size']} entries, the database has {backed_up}"):
                _append(db, 5000, 1)  # a new posting
            with pytest.raises(LogForked, match=f"has {lost['size']} entries, the database has {backed_up}"):
                log.checkpoint()
            assert log.divergence().database_size == backed_up
        finally:
            db.dispose()

    def test_entries_written_since_do_not_pass_for_the_published_ones(self, restored, monkeypatch):
        bank, lost, backed_up = restored
        db = Database(bank.settings.database_url)
        try:
            _append(db, 1000, lost["size"] - backed_up + 2)  # other entries, past the published size
            with pytest.raises(LogBehind, match="differs from the log the bank published"):
                create_app(bank.settings, db)
        finally:
            db.dispose()
        assert _cli(monkeypatch, bank.settings, "audit").exit_code == 1

    def test_audit_and_log_status_name_both_sizes(self, restored, monkeypatch):
        bank, lost, backed_up = restored
        audited = _cli(monkeypatch, bank.settings, "audit")
        assert audited.exit_code == 1
        assert f"has {lost['size']} entries" in audited.output and "older than" in audited.output
        status = _cli(monkeypatch, bank.settings, "log", "status")
        assert status.exit_code == 1, status.output
        assert f"已公布 published:  {lost['size']} 条 entries · root {lost['root']}" in status.output
        assert f"数据库 database:   {backed_up} 条 entries" in status.output

    def test_a_restore_that_lost_nothing_published_starts(self, settings, request, tmp_path, monkeypatch):
        bank = Bank(settings)
        bank.post(2, checkpoint=True)
        put_back = _snapshot(settings.database_url, request, tmp_path)
        bank.post(3, checkpoint=False)  # written, never in a published checkpoint
        put_back()
        bank.post(1, checkpoint=True)
        status = _cli(monkeypatch, settings, "log", "status")
        assert status.exit_code == 0 and "consistent" in status.output


class TestADatabasePutBackUnderARunningServer:
    """The database restored to an earlier point while ``serve`` keeps running (not stopped first, as
    docs/operations.md asks): what needs the log is refused in words, nothing is written, the
    operator is told — and once the operator has dealt with it, the bank goes on without a restart."""

    def test_writes_are_refused_with_nothing_saved_and_the_operator_is_told(
        self, settings, request, tmp_path, monkeypatch, caplog
    ):
        from sqlalchemy import func, select

        from creditbank.certificates.models import Certificate
        from tests.conftest import OPERATOR

        bank = Bank(settings)
        bank.post(0, checkpoint=False)
        db = Database(settings.database_url)
        try:
            with TestClient(create_app(settings, db)) as client:
                log = client.app.state.log
                person = learner(client, bank.inst)
                posted = client.post(
                    "/api/v1/completions", json=completion_body(person["account_no"]), headers=bank.inst
                )
                assert posted.status_code == 201, posted.text
                log.checkpoint()
                db.dispose()  # a restore ends the server's connections (PostgreSQL: DROP DATABASE … FORCE)
                put_back = _snapshot(settings.database_url, request, tmp_path)
                for _ in range(2):
                    body = completion_body(learner(client, bank.inst)["account_no"])
                    assert client.post("/api/v1/completions", json=body, headers=bank.inst).status_code == 201
                log.checkpoint()
                lost = bank.record()["published"]
                db.dispose()
                put_back()

                newcomer = learner(client, bank.inst)  # enrolling adds nothing to the log
                refused = client.post(
                    "/api/v1/completions", json=completion_body(newcomer["account_no"]), headers=bank.inst
                )
                assert refused.status_code == 503, refused.text
                assert refused.json()["code"] == "log_forked"
                assert (
                    "没有保存" in refused.json()["title"]
                    and "creditbank log status" in refused.json()["title"]
                )
                issued = client.post(
                    "/api/v1/certificates/batch",
                    json={
                        "items": [
                            {
                                "account_no": person["account_no"],
                                "kind": "achievement",
                                "completion_id": posted.json()["id"],
                            }
                        ]
                    },
                    headers=OPERATOR | {"Accept-Language": "en"},
                )
                assert (issued.status_code, issued.json()["code"]) == (503, "log_forked"), issued.text
                assert "nothing of this request was saved" in issued.json()["title"]
                balance = client.get(f"/api/v1/learners/{newcomer['account_no']}/balance", headers=bank.inst)
                assert balance.json()["total"] == 0
                with db.reader() as session:
                    assert session.execute(select(func.count()).select_from(Certificate)).scalar_one() == 0
                with pytest.raises(LogForked):
                    log.checkpoint()  # the scheduled checkpoint signs nothing over the published log
                assert f"has {lost['size']} entries" in caplog.text and "transparency log" in caplog.text

                health = client.get("/healthz")
                assert health.status_code == 200 and health.json()["status"] == "degraded"
                check = health.json()["checks"]["log"]
                assert check["ok"] is False and f"has {lost['size']} entries" in check["detail"]
                assert "creditbank log status" in check["detail_zh"]

                # The operator gives the published checkpoint up (the server still running): it goes on.
                reset = _cli(monkeypatch, settings, "log", "reset-after-restore", "--accept-fork")
                assert reset.exit_code == 0, reset.output
                body = completion_body(learner(client, bank.inst)["account_no"])
                again = client.post("/api/v1/completions", json=body, headers=bank.inst)
                assert again.status_code == 201, again.text
                log.checkpoint()
                assert client.get("/healthz").json()["checks"]["log"] == {"ok": True}
        finally:
            db.dispose()

    def test_a_damaged_record_refuses_writes_in_words_until_it_is_mended(self, settings):
        # Every write reads the record (keys/log-published.json): damaged, it answered each post 500.
        bank = Bank(settings)
        bank.post(1, checkpoint=True)
        record = settings.keys_dir / published.FILE
        good = record.read_bytes()
        db = Database(settings.database_url)
        try:
            with TestClient(create_app(settings, db)) as client:
                record.write_text("{not json", encoding="utf-8")
                body = completion_body(learner(client, bank.inst)["account_no"])
                refused = client.post("/api/v1/completions", json=body, headers=bank.inst)
                assert (refused.status_code, refused.json()["code"]) == (503, "log_forked"), refused.text
                health = client.get("/healthz").json()
                assert health["status"] == "degraded" and "damaged" in health["checks"]["log"]["detail"]
                record.write_bytes(good)
                again = client.post("/api/v1/completions", json=body, headers=bank.inst)
                assert again.status_code == 201, again.text
        finally:
            db.dispose()


class TestKeysRestoredToo:
    def test_the_record_is_brought_forward_from_a_checkpoint_kept_elsewhere(
        self, settings, request, tmp_path, monkeypatch
    ):
        bank = Bank(settings)
        bank.post(2, checkpoint=True)
        put_back = _snapshot(settings.database_url, request, tmp_path)
        shutil.copytree(settings.keys_dir, tmp_path / "keys-backup")
        bank.post(3, checkpoint=True)
        bank.mirror(tmp_path / "mirror")  # /log/checkpoint as a CDN or a witness kept it
        size = bank.record()["published"]["size"]
        put_back()
        shutil.rmtree(settings.keys_dir)
        shutil.copytree(tmp_path / "keys-backup", settings.keys_dir)  # a new machine: both from backup
        assert _cli(monkeypatch, settings, "log", "status").exit_code == 0  # the record is as old as the keys

        seen = tmp_path / "mirror" / "log" / "checkpoint"
        forged = tmp_path / "forged.checkpoint"
        forged.write_text(seen.read_text().replace(f"\n{size}\n", f"\n{size + 1}\n", 1))
        refused = _cli(monkeypatch, settings, "log", "record-published", str(forged))
        assert refused.exit_code == 1 and "not a checkpoint signed by this bank's log" in refused.output

        told = _cli(monkeypatch, settings, "log", "record-published", str(seen))
        assert told.exit_code == 0 and f"recorded the checkpoint of {size} entries" in told.output
        status = _cli(monkeypatch, settings, "log", "status")
        assert (
            status.exit_code == 1 and f"the checkpoint published earlier has {size} entries" in status.output
        )
        db = Database(settings.database_url)
        try:
            with pytest.raises(LogBehind):
                create_app(settings, db)
        finally:
            db.dispose()


class TestResetAfterRestore:
    def test_it_needs_the_flag_then_records_the_fork_and_the_bank_goes_on(self, restored, monkeypatch):
        bank, lost, backed_up = restored
        asked = _cli(monkeypatch, bank.settings, "log", "reset-after-restore")
        assert asked.exit_code == 1 and "--accept-fork" in asked.output
        assert bank.record()["published"] == lost and bank.record()["resets"] == []

        accepted = _cli(monkeypatch, bank.settings, "log", "reset-after-restore", "--accept-fork")
        assert accepted.exit_code == 0, accepted.output
        assert "Fork recorded" in accepted.output and "witnesses" in accepted.output
        (reset,) = bank.record()["resets"]
        assert reset["abandoned"] == lost and reset["database_size"] == backed_up

        bank.post(1, checkpoint=True)  # starts again, and signs: the declared fork
        assert bank.record()["published"]["size"] == backed_up + 1
        assert bank.record()["published"]["root"] != lost["root"]
        status = _cli(monkeypatch, bank.settings, "log", "status")
        assert (
            status.exit_code == 0 and f"the checkpoint of {lost['size']} entries published" in status.output
        )
        audited = _cli(monkeypatch, bank.settings, "audit")
        assert audited.exit_code == 0 and "was abandoned" in audited.output
        again = _cli(monkeypatch, bank.settings, "log", "reset-after-restore", "--accept-fork")
        assert again.exit_code == 0 and "nothing to reset" in again.output


class TestTheLostEntriesBackFromAMirror:
    def test_the_log_goes_on_without_a_fork(self, restored, monkeypatch, tmp_path):
        bank, lost, backed_up = restored
        mirror = str(tmp_path / "mirror")
        back = _cli(monkeypatch, bank.settings, "log", "reset-after-restore", "--entries-from", mirror)
        assert back.exit_code == 0, back.output
        assert (
            f"Put back entries {backed_up}–{lost['size'] - 1}" in back.output
            and "does not fork" in back.output
        )
        assert bank.record()["published"] == lost  # nothing abandoned
        assert _cli(monkeypatch, bank.settings, "log", "status").exit_code == 0

        log = bank.post(1, checkpoint=True)  # starts; the next checkpoint extends the published one
        grown = bank.record()["published"]
        assert grown["size"] == lost["size"] + 1
        proof = log.consistency_proof(lost["size"], grown["size"])
        roots = [base64.b64decode(c["root"]) for c in (lost, grown)]
        assert merkle.verify_consistency(lost["size"], grown["size"], proof, *roots)  # what a witness checks

        audited = _cli(monkeypatch, bank.settings, "audit")
        assert audited.exit_code == 0, audited.output
        assert f"entries {backed_up}–{lost['size'] - 1} were put back" in audited.output

        # In the database alone, marking a leaf lost would hide a deleted row: the record decides.
        path = bank.settings.keys_dir / published.FILE
        data = json.loads(path.read_text(encoding="utf-8"))
        path.write_text(json.dumps(data | {"resets": []}), encoding="utf-8")
        audited = _cli(monkeypatch, bank.settings, "audit")
        assert audited.exit_code == 1 and f"log leaf {backed_up} is marked as put back" in audited.output

    def test_a_copy_that_is_not_the_published_log_puts_nothing_back(self, restored, monkeypatch, tmp_path):
        bank, lost, backed_up = restored
        (bundle,) = (tmp_path / "mirror").rglob("*.p/*")
        forged = bytearray(bundle.read_bytes())
        forged[-1] ^= 1  # the last entry's digest
        bundle.write_bytes(bytes(forged))
        back = _cli(
            monkeypatch,
            bank.settings,
            "log",
            "reset-after-restore",
            "--entries-from",
            str(tmp_path / "mirror"),
        )
        assert back.exit_code == 1 and "nothing was put back" in back.output
        assert "do not make the published tree" in back.output
        status = _cli(monkeypatch, bank.settings, "log", "status")
        assert status.exit_code == 1 and f"数据库 database:   {backed_up} 条 entries" in status.output
        assert bank.record() == {"published": lost, "resets": []}


class TestTheBackupCommands:
    def test_restoring_an_older_backup_is_caught_by_restore_and_serve(
        self, sqlite_settings, tmp_path, monkeypatch
    ):
        bank = Bank(sqlite_settings)
        bank.post(2, checkpoint=True)
        copy = tmp_path / "creditbank-backup.db"
        assert _cli(monkeypatch, sqlite_settings, "backup", str(copy)).exit_code == 0
        bank.post(3, checkpoint=True)
        restored = _cli(monkeypatch, sqlite_settings, "restore", "--force", str(copy))
        assert restored.exit_code == 1
        assert "older than the log the bank already published" in restored.output

        import uvicorn

        monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("serve started"))
        served = _cli(monkeypatch, sqlite_settings, "serve", "--no-install-fonts")
        assert served.exit_code == 1
        assert "数据库里的透明日志比本行已经公布的旧" in served.output
