"""The command line as an operator uses it: import a file, survive a kill, audit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from creditbank.audit import audit
from creditbank.catalogue.schemas import OutcomeSpec
from creditbank.catalogue.service import upsert
from creditbank.cli import app
from creditbank.completions.models import Completion
from creditbank.db import Database
from creditbank.institutions import service as institutions
from creditbank.institutions.models import InstitutionState
from creditbank.learners import service as learners
from tests.conftest import national_id


def _world(url: str, people: int, outcomes: int) -> list[str]:
    db = Database(url)
    with db.unit_of_work() as session:
        inst, _ = institutions.create(session, code="HCZCEC", name_zh="皇城镇社区教育中心")
        institutions.set_state(session, code="HCZCEC", state=InstitutionState.accredited)
        for i in range(outcomes):
            upsert(
                session,
                institution_id=inst.id,
                code=f"HC-{i}",
                hours_per_credit=16,
                spec=OutcomeSpec(
                    title_zh=f"春季蔬菜田间管理培训 {i}", category="community", level=1, credits=0.5
                ),
            )
        accounts = [
            learners.enroll(session, secret=b"s", name="赵大山", national_id=national_id()).learner.account_no
            for _ in range(people)
        ]
    db.dispose()
    return accounts


def _csv(path: Path, accounts: list[str], outcomes: int) -> int:
    with open(path, "w", encoding="utf-8") as f:
        f.write("external_id,account_no,outcome_code,completed_on\n")
        n = 0
        for a in accounts:
            for i in range(outcomes):
                n += 1
                f.write(f"HC-{n},{a},HC-{i},2026-04-0{1 + i % 9}\n")
    return n


def _completions(url: str) -> int:
    db = Database(url)
    with db.reader() as session:
        count = session.execute(select(func.count()).select_from(Completion)).scalar_one()
        ok = audit(session).ok
    db.dispose()
    assert ok
    return count


def test_import_command_reports_and_audit_passes(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CREDITBANK_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("CREDITBANK_SECRET", "s")
    accounts = _world(sqlite_url, people=5, outcomes=4)
    rows = _csv(tmp_path / "export.csv", accounts, 4)
    from creditbank.config import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["import", str(tmp_path / "export.csv"), "--institution", "HCZCEC"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert f"accepted {rows}" in result.output
    assert _completions(sqlite_url) == rows
    audited = CliRunner().invoke(app, ["audit"])
    assert audited.exit_code == 0 and "audit passed" in audited.output


def test_killed_import_leaves_all_or_nothing(sqlite_url, tmp_path):
    accounts = _world(sqlite_url, people=4000, outcomes=10)
    rows = _csv(tmp_path / "big.csv", accounts, 10)
    env = os.environ | {
        "CREDITBANK_DATABASE_URL": sqlite_url,
        "CREDITBANK_KEYS_DIR": str(tmp_path / "keys"),
        "CREDITBANK_SECRET": "s",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "creditbank.cli",
            "import",
            str(tmp_path / "big.csv"),
            "--institution",
            "HCZCEC",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(2.0)  # mid-import: 40 000 rows take several seconds on this machine
    still_running = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait()
    count = _completions(sqlite_url)
    assert count in (0, rows)
    if still_running:
        assert count == 0


def test_bank_set_up_before_identities_were_stored_keeps_the_did_of_its_certificates(sqlite_url, tmp_path):
    """Upgrading: keys and certificates exist but no keys/issuer.json. The first start adopts the
    DID the database's certificates name, not the address it happens to listen on."""
    from fastapi.testclient import TestClient

    from creditbank.app import create_app
    from creditbank.certificates.keys import KeyStore
    from creditbank.cli import _prepare
    from creditbank.config import Settings
    from tests.conftest import ADMIN, completion_body, institution, learner, outcome

    old = Settings(
        database_url=sqlite_url,
        keys_dir=tmp_path / "keys",
        admin_token=ADMIN,
        secret="s",
        base_url="https://xuefen.example.gov.cn",
    )
    db = Database(sqlite_url)
    with TestClient(create_app(old, db)) as client:
        inst = institution(client)
        outcome(client, inst)
        person = learner(client, inst)
        done = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst)
        issued = client.post(
            "/api/v1/certificates/batch",
            json={
                "items": [
                    {
                        "kind": "achievement",
                        "account_no": person["account_no"],
                        "completion_id": done.json()["id"],
                    }
                ]
            },
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert issued.status_code == 201, issued.text
    db.dispose()
    (tmp_path / "keys" / "issuer.json").unlink()

    _prepare(old.model_copy(update={"base_url": None}), "http://127.0.0.1:8611").dispose()
    identity = KeyStore(tmp_path / "keys").identity()
    assert identity is not None
    assert (identity.did, identity.base_url) == (
        "did:web:xuefen.example.gov.cn",
        "https://xuefen.example.gov.cn",
    )


def _all_commands(typer_app, prefix=()):
    for command in typer_app.registered_commands:
        yield (*prefix, command.name or command.callback.__name__.replace("_", "-"))
    for group in typer_app.registered_groups:
        yield from _all_commands(group.typer_instance, (*prefix, group.name))


def test_every_commands_help_names_the_database_and_the_creditbank_variables():
    commands = list(_all_commands(app))
    assert ("serve",) in commands and ("keys", "move-domain") in commands
    for command in commands:
        result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
        text = " ".join(result.output.split())
        assert result.exit_code == 0, (command, result.output)
        assert "CREDITBANK_DATABASE_URL (default sqlite:///./creditbank.db" in text, command
        assert "CREDITBANK_KEYS_DIR" in text and "CREDITBANK_SECRET" in text, command
        assert "CREDITBANK_DATABASE_REPLICA_URL" in text, command  # the setting serve reads too


def test_import_mode_lists_its_values_in_help():
    result = CliRunner().invoke(app, ["import", "--help"], env={"COLUMNS": "200"})
    assert "all_or_nothing|partial" in result.output
    bad = CliRunner().invoke(app, ["import", "x.csv", "--institution", "X", "--mode", "some"])
    assert bad.exit_code == 2 and "all_or_nothing" in bad.output


def test_import_prints_row_errors_after_the_progress_bar(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CREDITBANK_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("CREDITBANK_SECRET", "s")
    accounts = _world(sqlite_url, people=2, outcomes=2)
    (tmp_path / "bad.csv").write_text(
        "external_id,account_no,outcome_code,completed_on\n"
        f"B-1,{accounts[0]},HC-0,2026-04-01\nB-2,{accounts[1]},NO-SUCH,2026-04-01\n",
        encoding="utf-8",
    )
    from creditbank.config import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["import", str(tmp_path / "bad.csv"), "--institution", "HCZCEC"])
    get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    progress_at = result.output.index("bad.csv")
    error_at = result.output.index("line 3: outcome_not_found")
    assert progress_at < error_at
    assert "rows" not in result.output[error_at:]  # nothing of the bar after the errors


def _import(tmp_path, monkeypatch, sqlite_url, name: str, text: str, *args: str):
    monkeypatch.setenv("CREDITBANK_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("CREDITBANK_SECRET", "s")
    (tmp_path / name).write_text(text, encoding="gb18030")
    from creditbank.config import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(
        app, ["import", str(tmp_path / name), "--institution", "HCZCEC", *args], env={"COLUMNS": "300"}
    )
    get_settings.cache_clear()
    return result


class TestImportSpeaksToAClerk:
    """The review of 2026-12-02: "1 rows", "0 rows" on a refused file, errors in Chinese only, and
    no word of --mode partial."""

    def test_one_row_is_one_row(self, sqlite_url, tmp_path, monkeypatch):
        accounts = _world(sqlite_url, people=1, outcomes=1)
        text = f"标题：春季名单\n外部编号,学习账号,成果代码,完成日期,姓名,备注\nB-1,{accounts[0]},HC-0,2026/4/1 0:00,赵大山,补录\n"
        result = _import(tmp_path, monkeypatch, sqlite_url, "one.csv", text)
        assert result.exit_code == 0, result.output
        assert "1 行 row " in result.output and "1 rows" not in result.output
        assert "表头在第 2 行 / header on line 2" in result.output
        assert "未导入的列 / columns not imported: 备注" in result.output  # 姓名 is read: checked
        assert "accepted 1" in result.output

    def test_a_refused_file_counts_what_it_read_and_suggests_partial(self, sqlite_url, tmp_path, monkeypatch):
        accounts = _world(sqlite_url, people=2, outcomes=2)
        rows = [f"B-{i},{accounts[i % 2]},HC-{i // 2},2026-04-01" for i in range(4)]
        rows.append(f"B-9,{accounts[0]},NO-SUCH,2026-04-01")
        result = _import(
            tmp_path,
            monkeypatch,
            sqlite_url,
            "bad.csv",
            "\n".join(["external_id,account_no,outcome_code,completed_on", *rows]) + "\n",
        )
        assert result.exit_code == 1, result.output
        assert "5 行 rows" in result.output and "0 行" not in result.output  # the rows read and checked
        line = next(x for x in result.output.splitlines() if "outcome_not_found" in x)
        assert line.index("找不到学习成果 NO-SUCH") < line.index("Learning outcome NO-SUCH not found")
        assert "--mode partial" in result.output and "其余 4 行" in result.output
        assert "The other 4 rows are fine" in result.output and "1 rows" not in result.output
        assert _completions(sqlite_url) == 0

    def test_a_repeated_row_is_said_once_and_imported_once(self, sqlite_url, tmp_path, monkeypatch):
        accounts = _world(sqlite_url, people=1, outcomes=1)
        row = f"B-1,{accounts[0]},HC-0,2026-04-01"
        result = _import(
            tmp_path,
            monkeypatch,
            sqlite_url,
            "twice.csv",
            f"external_id,account_no,outcome_code,completed_on\n{row}\n{row}\n",
        )
        assert result.exit_code == 0, result.output
        assert "duplicates 1" in result.output and "duplicate_in_file — 与第 2 行完全相同" in result.output
        assert _completions(sqlite_url) == 1


class TestAbandonImportAsANewOperatorRunsIt:
    """``creditbank abandon-import`` on whatever database the environment names: a wrong URL or a
    database not set up is said in words (no traceback, no empty database left behind), and the
    list names the institution by its code and each import's state in both languages."""

    def _invoke(self, url: str, *args: str, monkeypatch):
        from creditbank.config import get_settings

        monkeypatch.setenv("CREDITBANK_DATABASE_URL", url)
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(app, ["abandon-import", *args], env={"COLUMNS": "300"})
        finally:
            get_settings.cache_clear()

    def test_a_database_that_does_not_exist_is_named_and_not_created(self, tmp_path, monkeypatch):
        missing = tmp_path / "typo" / "creditbank.db"
        result = self._invoke(f"sqlite:///{missing}", monkeypatch=monkeypatch)
        assert result.exit_code == 1, result.output
        assert "找不到数据库" in result.output and "CREDITBANK_DATABASE_URL" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert not missing.exists()

    def test_a_postgresql_server_that_does_not_answer_is_named_without_the_password(self, monkeypatch):
        from tests.test_serve import free_port

        url = f"postgresql+psycopg://creditbank:pg-s3cret@127.0.0.1:{free_port()}/creditbank"
        result = self._invoke(url, monkeypatch=monkeypatch)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        assert "无法连接数据库" in result.output and "cannot reach the database" in result.output
        assert "127.0.0.1" in result.output and "pg-s3cret" not in result.output

    def test_a_database_not_set_up_says_to_run_serve_first(self, tmp_path, monkeypatch):
        empty = tmp_path / "empty.db"
        empty.touch()
        result = self._invoke(f"sqlite:///{empty}", "imp_x", monkeypatch=monkeypatch)
        assert result.exit_code == 1, result.output
        assert "尚未建立" in result.output and "creditbank serve" in result.output

    def test_nothing_to_list_is_said(self, sqlite_url, monkeypatch):
        result = self._invoke(sqlite_url, monkeypatch=monkeypatch)
        assert result.exit_code == 0 and "没有未发布的批量导入" in result.output, result.output

    def test_the_list_names_the_institution_and_a_stopped_import(self, sqlite_url, monkeypatch):
        from datetime import timedelta

        from creditbank.completions.models import CompletionImport
        from creditbank.kit import clock

        _world(sqlite_url, people=0, outcomes=0)
        db = Database(sqlite_url)
        long_ago = clock.now() - timedelta(hours=3)
        with db.unit_of_work() as session:
            inst = institutions.get(session, "HCZCEC")
            for id_, state in (("imp_failed", "failed"), ("imp_crashed", "running")):
                session.add(
                    CompletionImport(
                        id=id_, institution_id=inst.id, state=state, rows=40, started_at=long_ago,
                        heartbeat_at=long_ago,
                    )
                )  # fmt: skip
        db.dispose()
        result = self._invoke(sqlite_url, monkeypatch=monkeypatch)
        assert result.exit_code == 0, result.output
        lines = {line.split()[0]: line for line in result.output.splitlines() if line.startswith("imp_")}
        assert "HCZCEC" in lines["imp_failed"] and "失败 failed" in lines["imp_failed"]
        # Its process died three hours ago: not "running" — the one the operator may abandon.
        assert "已中断" in lines["imp_crashed"] and "running" not in lines["imp_crashed"]
        assert f"{long_ago:%Y-%m-%d}" in lines["imp_crashed"]


def test_the_serve_banner_names_the_databases_without_their_passwords(tmp_path):
    from creditbank.cli import _serving_banner
    from creditbank.config import Settings

    settings = Settings(
        database_url="postgresql+psycopg://creditbank:pr1mary-secret@db.example/creditbank",
        database_replica_url="postgresql+psycopg://creditbank:rep1ica-secret@standby.example/creditbank",
        keys_dir=tmp_path / "keys",
    )
    banner = _serving_banner(settings, "127.0.0.1", 8000, "did:web:credit.example", "https://credit.example")
    # The line lands in journald and log collectors: the hosts, never the passwords.
    assert "db.example/creditbank" in banner and "standby.example/creditbank" in banner
    assert "pr1mary-secret" not in banner and "rep1ica-secret" not in banner
    assert "read replica" in banner and "did:web:credit.example" in banner
    without = _serving_banner(settings.model_copy(update={"database_replica_url": None}), "h", 1, "d", "b")
    assert "replica" not in without


def test_a_read_replica_url_that_cannot_be_one_is_refused_in_words(sqlite_url, tmp_path, monkeypatch):
    from creditbank.config import get_settings

    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(tmp_path / "keys"))
    for primary, replica in (
        (sqlite_url, "postgresql+psycopg://creditbank@standby.example/creditbank"),  # SQLite has none
        ("postgresql+psycopg://creditbank@db.example/creditbank", "standby.example"),  # not a URL
    ):
        monkeypatch.setenv("CREDITBANK_DATABASE_URL", primary)
        monkeypatch.setenv("CREDITBANK_DATABASE_REPLICA_URL", replica)
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(app, ["serve", "--port", "1"], env={"COLUMNS": "300"})
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
        assert "SQLite 没有只读副本" in result.output and "SQLite has no read replica" in result.output
        assert not (tmp_path / "keys").exists()  # refused before anything was set up


DATABASE_COMMANDS = [
    ["import", "term.csv", "--institution", "HCZCEC"],
    ["abandon-import"],
    ["audit"],
    ["expire-conversions"],
    ["stats"],
    ["stats-refresh"],
    ["districts", "--apply"],
    [
        "staff",
        "create",
        "yc-clerk",
        "--institution",
        "HCZCEC",
        "--role",
        "clerk",
        "--password",
        "竹林深处2026abc",
    ],
    ["log", "checkpoint"],
    ["log", "keys", "list"],
    ["log", "keys", "rotate"],
]
"""Every command that works on an existing bank's database (``serve``, ``demo`` and ``operator
create`` set one up; ``backup``, ``restore``, ``verify`` and ``witness`` say their own words)."""

KEY_COMMANDS = [
    ["keys", "list"],
    ["keys", "rotate"],
    ["keys", "move-domain", "https://xuefen.example.gov.cn"],
    ["keys", "rename", "--zh", "永川区学分银行", "--en", "Yongchuan Learning-Credit Bank"],
    ["keys", "compromised", "key-x", "--since", "2026-01-01T00:00:00Z"],
    ["log", "checkpoint"],
    ["log", "keys", "list"],
    ["log", "keys", "rotate"],
]


class TestEveryCommandOnAWrongDatabaseOrKeysFolder:
    """A mistyped CREDITBANK_DATABASE_URL or CREDITBANK_KEYS_DIR (or another working folder) is said in
    both languages with exit 1 — no traceback, no empty database or new keys left behind (before,
    ``stats-refresh`` and ``log …`` printed tracebacks and left an empty .db; ``import`` and
    ``staff create`` set up a new bank there; the key commands made a new key, and ``log checkpoint``
    signed with it a checkpoint that ``audit`` then called edited)."""

    def _invoke(self, args, monkeypatch, tmp_path, url: str, keys: Path):
        from creditbank.config import get_settings

        monkeypatch.chdir(tmp_path)
        (tmp_path / "term.csv").write_text("external_id,account_no,outcome_code,completed_on\n")
        monkeypatch.setenv("CREDITBANK_DATABASE_URL", url)
        monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(keys))
        monkeypatch.setenv("CREDITBANK_SECRET", "s")
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
        finally:
            get_settings.cache_clear()
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result

    @pytest.mark.parametrize("args", DATABASE_COMMANDS, ids=" ".join)
    def test_a_database_that_does_not_exist_is_named_and_not_created(self, args, tmp_path, monkeypatch):
        (tmp_path / "keys").mkdir()
        missing = tmp_path / "typo" / "creditbank.db"
        result = self._invoke(args, monkeypatch, tmp_path, f"sqlite:///{missing}", tmp_path / "keys")
        assert result.exit_code == 1, result.output
        assert "找不到数据库" in result.output and "No database at" in result.output, result.output
        assert not missing.parent.exists()
        assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == []

    @pytest.mark.parametrize("args", DATABASE_COMMANDS, ids=" ".join)
    def test_an_unset_database_url_in_an_empty_folder_creates_no_database(self, args, tmp_path, monkeypatch):
        monkeypatch.delenv("CREDITBANK_DATABASE_URL", raising=False)
        (tmp_path / "keys").mkdir()
        result = self._invoke(args, monkeypatch, tmp_path, "sqlite:///./creditbank.db", tmp_path / "keys")
        assert result.exit_code == 1 and "找不到数据库" in result.output, result.output
        assert not (tmp_path / "creditbank.db").exists()

    @pytest.mark.parametrize("args", DATABASE_COMMANDS, ids=" ".join)
    def test_a_postgresql_server_that_does_not_answer_is_named(self, args, tmp_path, monkeypatch):
        from tests.test_serve import free_port

        (tmp_path / "keys").mkdir()
        url = f"postgresql+psycopg://creditbank:pg-s3cret@127.0.0.1:{free_port()}/creditbank"
        result = self._invoke(args, monkeypatch, tmp_path, url, tmp_path / "keys")
        assert result.exit_code == 1, result.output
        assert "无法连接数据库" in result.output and "cannot reach the database" in result.output
        assert "pg-s3cret" not in result.output

    @pytest.mark.parametrize("args", KEY_COMMANDS, ids=" ".join)
    def test_a_keys_folder_that_does_not_exist_is_named_and_not_created(
        self, args, sqlite_url, tmp_path, monkeypatch
    ):
        missing = tmp_path / "typo-keys"
        result = self._invoke(args, monkeypatch, tmp_path, sqlite_url, missing)
        assert result.exit_code == 1, result.output
        assert "找不到密钥目录" in result.output and "No keys folder at" in result.output, result.output
        assert not missing.exists()

    def test_audit_with_a_keys_folder_that_does_not_exist_does_not_call_the_log_edited(
        self, sqlite_url, tmp_path, monkeypatch
    ):
        from creditbank.app import log_service
        from creditbank.config import Settings

        db = Database(sqlite_url)
        log_service(Settings(database_url=sqlite_url, keys_dir=tmp_path / "keys"), db).checkpoint()
        db.dispose()
        missing = tmp_path / "typo-keys"
        result = self._invoke(["audit"], monkeypatch, tmp_path, sqlite_url, missing)
        assert result.exit_code == 1, result.output
        assert "找不到密钥目录" in result.output and "edited" not in result.output, result.output
        assert not missing.exists()
        fine = self._invoke(["audit"], monkeypatch, tmp_path, sqlite_url, tmp_path / "keys")
        assert fine.exit_code == 0 and "audit passed" in fine.output, fine.output

    def test_an_unknown_key_or_a_bad_time_is_said_in_words(self, tmp_path, monkeypatch):
        from creditbank.certificates.keys import KeyStore

        KeyStore(tmp_path / "keys").ensure_active()
        url = f"sqlite:///{tmp_path / 'unused.db'}"
        unknown = self._invoke(
            ["keys", "compromised", "key-x", "--since", "2026-01-01T00:00:00Z"], monkeypatch, tmp_path, url,
            tmp_path / "keys",
        )  # fmt: skip
        assert unknown.exit_code == 2 and "没有密钥 key-x / no key key-x" in unknown.output, unknown.output
        bad = self._invoke(["keys", "compromised", "key-x", "--since", "昨天"], monkeypatch, tmp_path, url,
                           tmp_path / "keys")  # fmt: skip
        assert bad.exit_code == 2 and "ISO 8601" in bad.output and "无效" in bad.output, bad.output


def test_serve_with_the_database_unreachable_says_so_in_both_languages_without_a_traceback(
    tmp_path, monkeypatch
):
    from creditbank.config import get_settings
    from tests.test_serve import free_port

    url = f"postgresql+psycopg://creditbank:pg-s3cret@127.0.0.1:{free_port()}/creditbank"
    monkeypatch.setenv("CREDITBANK_DATABASE_URL", url)
    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("CREDITBANK_SECRET", "test-secret")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["serve", "--port", str(free_port())], env={"COLUMNS": "300"})
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "无法连接数据库" in result.output and "cannot reach the database" in result.output
    assert "127.0.0.1" in result.output and "pg-s3cret" not in result.output
    assert "Traceback" not in result.output
