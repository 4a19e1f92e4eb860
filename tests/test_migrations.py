"""The migrations are the schema: they must match the models exactly (alembic check)."""

from __future__ import annotations

import threading
import time

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

import creditbank.models  # noqa: F401 - registers the tables
from creditbank.db import metadata
from creditbank.migrations import alembic_config, current_revision, upgrade


def test_models_and_migrations_agree(db_url):
    engine = create_engine(db_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
    engine.dispose()
    assert diff == []


def test_openapi_documents_every_route(client):
    spec = client.get("/openapi.json").json()
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    for route in client.app.routes:
        for method in getattr(route, "methods", set()) - {"HEAD", "OPTIONS"}:
            if route.path.startswith("/api/") or route.path == "/healthz":
                assert (route.path, method) in documented
                assert spec["paths"][route.path][method.lower()].get("summary"), route.path


def _index(url: str, name: str) -> dict | None:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = {i["name"]: i for i in inspect(connection).get_indexes("ledger_account")}.get(name)
    engine.dispose()
    return found


def test_the_migrations_go_down_and_up_again(db_url):
    """``downgrade`` then ``upgrade head`` on both databases, through the index of 0014 (built
    concurrently on PostgreSQL, outside a transaction, in both directions)."""
    command.downgrade(alembic_config(db_url), "0013")
    assert _index(db_url, "ix_ledger_account_institution_id") is None
    upgrade(db_url)
    assert _index(db_url, "ix_ledger_account_institution_id") is not None
    test_models_and_migrations_agree(db_url)


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, tmp_path) -> str:
    from tests.conftest import _fresh_database

    return _fresh_database("postgresql", request, tmp_path)


@pytest.mark.postgres
def test_ledger_writes_go_on_while_0014_builds_its_index_on_postgresql(pg_url):
    """A plain CREATE INDEX queues a SHARE lock on ledger_account: once it waits (here behind a
    transaction that is writing), every later enrolment, post or conversion waits behind it for
    the whole build. Built concurrently, a write arriving meanwhile goes through at once."""
    import psycopg

    command.downgrade(alembic_config(pg_url), "0013")
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as writing, psycopg.connect(dsn) as later:
        writing.execute("LOCK TABLE ledger_account IN ROW EXCLUSIVE MODE")  # a write in progress
        done: list[BaseException | None] = []

        def migrate() -> None:
            try:
                upgrade(pg_url, "0014")
                done.append(None)
            except BaseException as exc:  # handed to the test's thread
                done.append(exc)

        thread = threading.Thread(target=migrate)
        thread.start()
        with psycopg.connect(dsn, autocommit=True) as watch:  # until the migration waits for the writer
            while not watch.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE NOT l.granted AND a.datname = current_database()"
            ).fetchone()[0]:  # type: ignore[index]
                assert thread.is_alive(), done
                time.sleep(0.05)
        later.execute("SET lock_timeout = '3s'")
        try:
            later.execute("LOCK TABLE ledger_account IN ROW EXCLUSIVE MODE")  # another write
            blocked = False
        except psycopg.errors.LockNotAvailable:
            blocked = True
        later.rollback()
        writing.commit()
        thread.join()
    assert done == [None]
    assert not blocked, "a write waited for the index build"
    assert _index(pg_url, "ix_ledger_account_institution_id") is not None


def _included(url: str, name: str) -> list[str] | None:
    """PostgreSQL: the INCLUDE columns of an index (None: no such index)."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        row = connection.execute(
            "SELECT ARRAY(SELECT a.attname FROM unnest(i.indkey[i.indnkeyatts:]) WITH ORDINALITY k(n, o) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o) "
            "FROM pg_index i WHERE i.indexrelid = to_regclass(%s)",
            (name,),
        ).fetchone()
    return None if row is None else list(row[0])


@pytest.mark.postgres
def test_0020_finishes_an_upgrade_stopped_halfway_on_postgresql(pg_url):
    """0020 rebuilds two indexes concurrently, outside a transaction, in steps: an upgrade stopped
    between them (here: posting's new index built and the old one dropped but not renamed; lot's
    temporary index left by a build that failed) is finished by the next upgrade, and the
    statement page's indexes end up holding its columns."""
    import psycopg

    command.downgrade(alembic_config(pg_url), "0019")
    assert _included(pg_url, "ix_posting_account_tx") == []
    with psycopg.connect(
        pg_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    ) as connection:
        connection.execute(
            "CREATE INDEX ix_posting_account_tx_new ON posting (account_id, transaction_id) "
            "INCLUDE (amount_units, balance_after_units, lot_id)"
        )
        connection.execute("DROP INDEX ix_posting_account_tx")
        connection.execute("CREATE INDEX ix_lot_learner_state_new ON lot (learner_id)")
    upgrade(pg_url, "0022")  # 0023 replaces ix_posting_account_tx
    assert _included(pg_url, "ix_posting_account_tx") == ["amount_units", "balance_after_units", "lot_id"]
    assert _included(pg_url, "ix_lot_learner_state") == [
        "id",
        "batch_id",
        "category",
        "level",
        "outcome_id",
        "institution_id",
    ]
    assert _included(pg_url, "ix_posting_account_tx_new") is None
    assert _included(pg_url, "ix_lot_learner_state_new") is None
    upgrade(pg_url)
    test_models_and_migrations_agree(pg_url)


def test_0023_copies_the_transaction_fields_of_every_posting_and_the_statement_reads_the_same(
    db_url, client, db
):
    """0023 fills the new columns of the postings already on the ledger from their transactions: the
    statement (which reads the copies) shows the same lines after the upgrade as the transactions
    said before, the audit passes, and posting goes on. On PostgreSQL the upgrade is also finished
    when it stopped halfway: some postings filled, the NOT NULL check added but not validated, the
    new index left invalid by a failed concurrent build."""
    from sqlalchemy import text

    from creditbank.audit import audit
    from creditbank.learners import queries as learner_queries
    from creditbank.learners import service as learners
    from tests.conftest import completion_body, institution, learner, outcome

    inst = institution(client)
    outcome(client, inst)
    outcome(client, inst, "YC-WELD", category="vocational_training", level=4, credits=2.25)
    person, other = learner(client, inst), learner(client, inst, "李建国")
    posted = []
    for who, code in ((person, "YC-ELEC"), (other, "YC-ELEC"), (person, "YC-WELD")):
        r = client.post("/api/v1/completions", json=completion_body(who["account_no"], code), headers=inst)
        assert r.status_code == 201, r.text
        posted.append(r.json())
    r = client.post(
        f"/api/v1/completions/{posted[0]['id']}/revoke", json={"reason": "登记错误"}, headers=inst
    )
    assert r.status_code == 200, r.text

    def statement(after: int | None = None) -> list:
        with db.reader() as session:
            holder = learners.by_account_no(session, person["account_no"])
            return learner_queries.statement(session, holder, after=after, limit=100)

    before = statement()
    assert [(line.kind, line.amount_units) for line in before] == [
        ("deposit", 150),
        ("deposit", 225),
        ("reversal", -150),
    ]
    db.engine.dispose()  # no pooled connection keeps a plan of the old columns
    command.downgrade(alembic_config(db_url), "0022")
    if not db.sqlite:
        import psycopg

        with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
            c.execute(
                "ALTER TABLE posting ADD COLUMN tx_seq bigint, ADD COLUMN tx_kind varchar(16), "
                "ADD COLUMN tx_event_on date, ADD COLUMN tx_recorded_at varchar(24), "
                "ADD COLUMN tx_completion_id varchar(40)"
            )
            c.execute(
                "UPDATE posting p SET tx_seq = t.seq, tx_kind = t.kind, tx_event_on = t.event_on, "
                "tx_recorded_at = t.recorded_at, tx_completion_id = t.completion_id FROM ledger_transaction t "
                "WHERE t.id = p.transaction_id AND t.seq = 1"
            )
            c.execute(
                "ALTER TABLE posting ADD CONSTRAINT ck_posting_tx_copies_present CHECK (tx_seq IS NOT NULL "
                "AND tx_kind IS NOT NULL AND tx_event_on IS NOT NULL AND tx_recorded_at IS NOT NULL) NOT VALID"
            )
            with pytest.raises(psycopg.errors.UniqueViolation):  # leaves an invalid index of that name
                c.execute("CREATE UNIQUE INDEX CONCURRENTLY ix_posting_account_seq ON posting (account_id)")
    upgrade(db_url)
    test_models_and_migrations_agree(db_url)
    assert statement() == before
    assert statement(after=before[0].seq) == before[1:]
    with db.engine.connect() as connection:
        missing = connection.execute(text("SELECT count(*) FROM posting WHERE tx_seq IS NULL")).scalar_one()
    assert missing == 0
    with db.reader() as session:
        report = audit(session)
    assert report.ok, report.problems
    r = client.post("/api/v1/completions", json=completion_body(other["account_no"], "YC-WELD"), headers=inst)
    assert r.status_code == 201, r.text
    with db.reader() as session:
        assert audit(session).ok


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_two_processes_upgrading_a_fresh_database_at_once_both_succeed(backend, request, tmp_path):
    """Two workers or hosts starting together on a new database: one waits for the other."""
    import subprocess
    import sys

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        pg_cluster = request.getfixturevalue("pg_cluster")
        if pg_cluster is None:
            pytest.skip("PostgreSQL binaries absent")
        pg_cluster.admin_execute("CREATE DATABASE upgraded_twice")
        url = pg_cluster.url("upgraded_twice")
    code = f"from creditbank.migrations import upgrade; upgrade({url!r})"
    both = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outcomes = [(p.wait(timeout=300), p.stderr.read()) for p in both]
    assert [rc for rc, _ in outcomes] == [0, 0], outcomes
    assert current_revision(url) == ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def test_creditbank_migrate_upgrades_then_says_the_schema_is_up_to_date(pg_cluster, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from creditbank.cli import app
    from creditbank.config import get_settings

    if pg_cluster is None:
        pytest.skip("PostgreSQL binaries absent")
    pg_cluster.admin_execute("CREATE DATABASE migrated_by_command")
    monkeypatch.setenv("CREDITBANK_DATABASE_URL", pg_cluster.url("migrated_by_command"))
    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("CREDITBANK_SECRET", "test-secret")
    get_settings.cache_clear()
    try:
        first = CliRunner().invoke(app, ["migrate"], env={"COLUMNS": "300"})
        again = CliRunner().invoke(app, ["migrate"], env={"COLUMNS": "300"})
    finally:
        get_settings.cache_clear()
    head = ScriptDirectory.from_config(alembic_config(pg_cluster.url("x"))).get_current_head()
    assert first.exit_code == 0, first.output
    assert "数据库结构已升级" in first.output and f"→ {head}" in first.output
    assert again.exit_code == 0 and "the schema is up to date" in again.output
