"""A read replica (CREDITBANK_DATABASE_REPLICA_URL): a real primary and a real streaming standby.

One primary and one standby (``pg_basebackup -R``) for the whole module. To show which server
answered, the standby's replay is paused (``pg_wal_replay_pause``): then the replica keeps the
state of that moment while the primary moves on, and a page that shows the older state was read
from the replica, one that shows the newer state from the primary.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, text

from creditbank.app import create_app
from creditbank.config import Settings
from creditbank.db import Database, may_lag
from creditbank.migrations import upgrade
from creditbank.web.security import SESSION_COOKIE
from tests import pgcluster
from tests.conftest import ADMIN, OPERATOR, completion_body, institution, learner, outcome, signed_in

DB = "replica_test"
WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE|COPY|SELECT[^;]*FOR UPDATE)", re.IGNORECASE)


class Pair:
    def __init__(self, primary: pgcluster.Cluster, standby: pgcluster.Cluster) -> None:
        self.primary, self.standby = primary, standby

    def on_standby(self, sql: str, *params: object) -> object:
        with psycopg.connect(self.standby.dsn(DB), autocommit=True) as conn:
            row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
            return row[0] if row else None

    def caught_up(self, timeout: float = 30.0) -> None:
        """Wait until the standby has replayed everything the primary has committed so far.

        The test cluster commits asynchronously (``synchronous_commit=off``, tests/pgcluster.py):
        a COMMIT returns once its record is in the WAL buffers, and the WAL writer writes it out up
        to 200 ms later. ``pg_current_wal_lsn()`` is the *write* position, which can still be before
        that commit record — waiting for it let about one run in five go on before the standby had
        the commit. The *insert* position covers every commit that has returned."""
        with psycopg.connect(self.primary.dsn(DB), autocommit=True) as conn:
            lsn = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]  # type: ignore[index]
        deadline = time.monotonic() + timeout
        while not self.on_standby("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", str(lsn)):
            assert time.monotonic() < deadline, "the standby did not catch up"
            time.sleep(0.02)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The standby stops replaying (it keeps receiving): what the primary commits meanwhile is
        not on the replica until the block ends."""
        self.caught_up()
        self.on_standby("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + 10
        while self.on_standby("SELECT pg_get_wal_replay_pause_state()") != "paused":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        try:
            yield
        finally:
            self.on_standby("SELECT pg_wal_replay_resume()")


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    bindir = pgcluster.find_bindir()
    if bindir is None or not (bindir / "pg_basebackup").exists():
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) not found: the read-replica "
            "tests need a real primary and standby — run scripts/setup-system.sh"
        )
    primary = pgcluster.start_cluster()
    standby = None
    try:
        primary.admin_execute(f"CREATE DATABASE {DB}")
        upgrade(primary.url(DB))
        standby = pgcluster.start_standby(primary)
        yield Pair(primary, standby)
    finally:
        if standby is not None:
            standby.stop(remove=True)
        primary.stop(remove=True)


@pytest.fixture(scope="module")
def client(pair: Pair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    work = tmp_path_factory.mktemp("replica")
    settings = Settings(
        database_url=pair.primary.url(DB),
        database_replica_url=pair.standby.url(DB),
        keys_dir=work / "keys",
        admin_token=ADMIN,
        secret="test-secret",
        rate_limit_file=work / "ratelimit",
        verify_recheck_seconds=0,  # every verify re-reads the revocation epoch: no 0.25 s window
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def world(client: TestClient) -> dict:
    inst = institution(client, code="REPL")
    outcome(client, inst, "RP-1")
    outcome(client, inst, "RP-2")
    outcome(client, inst, "RP-3", title_zh="竹编入门", title_en="Bamboo weaving")
    outcome(client, inst, "RP-4")
    person = learner(client, inst, name="李秀英")
    first = client.post(
        "/api/v1/completions", json=completion_body(person["account_no"], "RP-1"), headers=inst
    )
    assert first.status_code == 201, first.text
    me = signed_in(client, person)
    return {
        "inst": inst,
        "person": person,
        "me": me,
        "token": me["Authorization"].removeprefix("Bearer "),
        "completion": first.json(),
    }


@pytest.fixture
def db(client: TestClient) -> Database:
    return client.app.state.db  # type: ignore[attr-defined]


@pytest.fixture
def replica_sql(db: Database) -> Iterator[list[str]]:
    """Every statement the app sends to the replica during the test."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _many):
        seen.append(statement)

    event.listen(db.replica_engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.replica_engine, "before_cursor_execute", record)
    assert not [s for s in seen if WRITES.match(s)], "a write or a lock went to the replica"


def post(client: TestClient, world: dict, code: str) -> dict:
    body = completion_body(world["person"]["account_no"], code)
    response = client.post("/api/v1/completions", json=body, headers=world["inst"])
    assert response.status_code == 201, response.text
    return response.json()


def issue(client: TestClient, world: dict) -> dict:
    body = {"kind": "achievement", "completion_id": world["completion"]["id"]}
    response = client.post("/api/v1/me/certificates", json=body, headers=world["me"])
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.postgres
class TestSessions:
    def test_a_replica_session_is_on_the_standby_every_other_on_the_primary(self, db: Database):
        with db.replica_reader() as session:
            assert session.execute(select(func.pg_is_in_recovery())).scalar_one() is True
        with db.reader() as session:
            assert session.execute(select(func.pg_is_in_recovery())).scalar_one() is False
        with db.unit_of_work() as session:
            assert session.execute(select(func.pg_is_in_recovery())).scalar_one() is False

    def test_a_replica_session_refuses_to_write(self, db: Database, world: dict):
        from creditbank.stats.models import Target

        with db.replica_reader() as session, pytest.raises(RuntimeError, match="must not write"):
            session.add(Target(name="participation", share=0.5))
            session.flush()

    def test_reads_that_may_lag_go_to_the_primary_when_the_replica_is_unreachable(
        self, pair: Pair, world: dict
    ):
        from creditbank.stats import service as stats

        nowhere = f"postgresql+psycopg://postgres@127.0.0.1:{pgcluster._free_port()}/{DB}"
        database = Database(pair.primary.url(DB), replica_url=nowhere)
        try:
            with database.reader() as session:
                expected = stats.districts(session)
            assert database.read(stats.districts) == expected
            assert database.replica_failures == 1 and database.replica_reads == 0
            assert not database.replica_usable  # a replica that does not answer is rested
        finally:
            database.dispose()


@pytest.mark.postgres
class TestPair:
    def test_caught_up_waits_for_a_commit_the_primary_has_not_written_out_yet(self, pair: Pair):
        # The primary commits asynchronously: a commit may still be in its WAL buffers when the
        # next statement asks where the WAL is. Twenty commits, each read on the standby at once.
        with psycopg.connect(pair.primary.dsn(DB), autocommit=True) as conn:
            conn.execute("SET synchronous_commit = off")
            conn.execute("CREATE TABLE IF NOT EXISTS pair_probe (n integer)")
            for n in range(20):
                conn.execute("INSERT INTO pair_probe VALUES (%s)", (n,))
                pair.caught_up()
                assert pair.on_standby("SELECT count(*) FROM pair_probe WHERE n = %s", n) == 1, n
            conn.execute("DROP TABLE pair_probe")


@pytest.mark.postgres
class TestAReplicaThatCancelsAQuery:
    def test_a_query_the_standby_cancels_is_read_on_the_primary_and_the_next_asks_the_replica(
        self, db: Database, world: dict
    ):
        # A hot standby cancels a query whose rows replay needs with SQLSTATE 40001 ("conflict with
        # recovery"): raised here by the standby itself, the first time it is asked.
        cancelled: list[bool] = []

        @may_lag()
        def in_recovery(session) -> bool:
            on_standby = session.execute(select(func.pg_is_in_recovery())).scalar_one()
            if on_standby and not cancelled:
                cancelled.append(True)
                session.execute(
                    text(
                        "DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE ="
                        " 'canceling statement due to conflict with recovery'; END $$"
                    )
                )
            return on_standby

        failures = db.replica_failures
        assert db.read(in_recovery) is False  # cancelled on the standby: the primary answered
        assert db.replica_failures == failures + 1
        # The standby answered (it cancelled at once): it is not rested like one that is down.
        assert db.replica_usable and db.read(in_recovery) is True


@pytest.mark.postgres
class TestRouting:
    def test_statistics_show_the_replicas_state_while_a_balance_shows_the_primarys(
        self, client: TestClient, world: dict, pair: Pair, replica_sql: list[str]
    ):
        figure = "/api/v1/stats/participation?group_by=category"
        balance = f"/api/v1/learners/{world['person']['account_no']}/balance"
        pair.caught_up()
        before = client.get(figure, headers=OPERATOR).json()
        credits_before = client.get(balance, headers=world["inst"]).json()["total"]
        with pair.paused():
            post(client, world, "RP-2")
            # The office's figure may lag: read from the replica, it has not seen the completion.
            assert client.get(figure, headers=OPERATOR).json() == before
            assert replica_sql, "the figure was not read from the replica"
            # A balance may decide something: from the primary, the new credits are there.
            assert client.get(balance, headers=world["inst"]).json()["total"] == credits_before + 1.5
        pair.caught_up()
        assert client.get(figure, headers=OPERATOR).json() != before

    def test_a_statement_is_never_older_than_the_learners_account(
        self, client: TestClient, world: dict, db: Database, pair: Pair, replica_sql: list[str]
    ):
        pair.caught_up()
        lines = client.get("/api/v1/me/ledger", headers=world["me"]).json()["items"]
        assert db.replica_reads and any("posting.tx_seq" in s for s in replica_sql)
        fallbacks = db.replica_fallbacks
        with pair.paused():
            post(client, world, "RP-3")
            # The replica has not replayed the credit: the statement is read from the primary.
            after = client.get("/api/v1/me/ledger", headers=world["me"]).json()["items"]
            assert len(after) == len(lines) + 1 and after[-1]["outcome_code"] == "RP-3"
            assert db.replica_fallbacks == fallbacks + 1
            client.cookies.set(SESSION_COOKIE, world["token"])
            page = client.get("/me/statement")
            client.cookies.clear()
            assert page.status_code == 200 and "竹编入门" in page.text
        pair.caught_up()
        replica_sql.clear()
        assert client.get("/api/v1/me/ledger", headers=world["me"]).json()["items"] == after
        assert any("posting.tx_seq" in s for s in replica_sql), "caught up, the replica answers again"


@pytest.mark.postgres
class TestVerification:
    def test_a_revocation_is_honoured_at_once_while_the_replica_lags(
        self, client: TestClient, world: dict, pair: Pair, replica_sql: list[str]
    ):
        certificate = issue(client, world)["id"]
        pair.caught_up()
        assert client.get(f"/api/v1/verify/{certificate}").json()["valid"] is True
        assert any("FROM certificate" in s for s in replica_sql), "the credential came from the replica"
        with pair.paused():
            revoked = client.post(
                f"/api/v1/certificates/{certificate}/revoke", json={"reason": "登记错误"}, headers=OPERATOR
            )
            assert revoked.status_code == 200, revoked.text
            # The replica still holds the certificate unrevoked ...
            assert pair.on_standby("SELECT revoked_at IS NULL FROM certificate WHERE id = %s", certificate)
            # ... but the status is the primary's, on the API and on the phone's page alike.
            verdict = client.get(f"/api/v1/verify/{certificate}").json()
            assert verdict["verdict"] == "revoked" and verdict["valid"] is False
            assert 'data-verdict="revoked"' in client.get(f"/v/{certificate}").text

    def test_a_certificate_issued_a_moment_ago_verifies_before_the_replica_has_it(
        self, client: TestClient, world: dict, pair: Pair
    ):
        with pair.paused():
            certificate = issue(client, world)["id"]
            assert pair.on_standby("SELECT count(*) FROM certificate WHERE id = %s", certificate) == 0
            assert client.get(f"/api/v1/verify/{certificate}").json()["valid"] is True
            assert 'data-verdict="valid"' in client.get(f"/v/{certificate}").text


@pytest.mark.postgres
class TestWrites:
    def test_every_write_goes_to_the_primary_even_while_the_replica_is_paused(
        self, client: TestClient, world: dict, pair: Pair, replica_sql: list[str]
    ):
        with pair.paused():
            post(client, world, "RP-4")
            made = client.put("/api/v1/stats/targets", json={"participation": 40}, headers=OPERATOR)
            assert made.status_code == 200, made.text
            # The office reads back what it entered: the primary's, not the paused replica's.
            assert client.get("/api/v1/stats/targets", headers=OPERATOR).json()["participation"] == 40
            assert pair.on_standby("SELECT count(*) FROM stats_target") == 0
        # replica_sql's teardown: no INSERT, UPDATE, DELETE or FOR UPDATE reached the replica.


class TestWithoutReplica:
    """SQLite deployments (and PostgreSQL without a replica URL): everything reads the primary."""

    def test_every_read_uses_the_primary(self, tmp_path: Path):
        @may_lag()
        def where(session) -> str:
            return str(session.get_bind().url)

        database = Database(f"sqlite:///{tmp_path / 'one.db'}")
        try:
            assert not database.has_replica and database.replica_engine is database.engine
            assert database.read(where) == database.url
            with database.replica_reader() as session:
                assert session.execute(text("SELECT 1")).scalar_one() == 1
            assert database.replica_reads == 0
        finally:
            database.dispose()

    def test_a_replica_needs_postgresql(self, tmp_path: Path):
        with pytest.raises(ValueError, match="PostgreSQL"):
            Database(f"sqlite:///{tmp_path / 'a.db'}", replica_url=f"sqlite:///{tmp_path / 'b.db'}")


class TestAReplicaThatDoesNotAnswer:
    """No PostgreSQL needed: a SQLite primary with a stand-in for the replica's engine."""

    @staticmethod
    def _dead_replica(database: Database, tmp_path: Path) -> list[int]:
        """The replica's engine swapped for one whose every connect fails; the attempts counted."""
        from sqlalchemy import create_engine

        dead = create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'folder.db'}")  # cannot be opened
        attempts: list[int] = []
        event.listen(dead, "do_connect", lambda *_: attempts.append(1))
        database.replica_engine = dead
        return attempts

    def test_after_a_failure_the_reads_go_straight_to_the_primary_for_a_while(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ):
        import creditbank.db

        @may_lag()
        def where(session) -> str:
            session.execute(text("SELECT 1"))
            return str(session.get_bind().url)

        database = Database(f"sqlite:///{tmp_path / 'one.db'}")
        attempts = self._dead_replica(database, tmp_path)
        try:
            with monkeypatch.context() as no_rest:
                no_rest.setattr(creditbank.db, "REPLICA_REST_SECONDS", 0.0)
                assert [database.read(where) for _ in range(2)] == [database.url] * 2
                assert len(attempts) == 2  # without a rest each read pays the replica's connect
            assert [database.read(where) for _ in range(3)] == [database.url] * 3
            # A replica that is down would cost every read its connect timeout (2 s): asked once.
            assert len(attempts) == 3 and database.replica_failures == 3
        finally:
            database.dispose()

    def test_with_a_replica_verify_by_id_reads_the_certificate_off_the_event_loop(
        self, sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
    ):
        import asyncio

        from creditbank.db import make_engine

        database = Database(sqlite_settings.database_url)
        with TestClient(create_app(sqlite_settings, database)) as client:
            inst = institution(client, code="REPL")
            outcome(client, inst, "RP-1")
            person = learner(client, inst)
            done = client.post(
                "/api/v1/completions", json=completion_body(person["account_no"], "RP-1"), headers=inst
            )
            assert done.status_code == 201, done.text
            certificate = client.post(
                "/api/v1/me/certificates",
                json={"kind": "achievement", "completion_id": done.json()["id"]},
                headers=signed_in(client, person),
            ).json()["id"]
            database.replica_engine = make_engine(sqlite_settings.database_url)  # a caught-up stand-in
            verifier = client.app.state.verifier  # type: ignore[attr-defined]
            issued, on_loop = verifier.issued, []

            def issued_recording_where(*args, **kwargs):
                try:
                    asyncio.get_running_loop()
                    on_loop.append(True)
                except RuntimeError:  # no loop in this thread: a worker thread
                    on_loop.append(False)
                return issued(*args, **kwargs)

            monkeypatch.setattr(verifier, "issued", issued_recording_where)
            verdict = client.get(f"/api/v1/verify/{certificate}")
        database.dispose()
        assert verdict.status_code == 200 and verdict.json()["valid"] is True, verdict.text
        # The replica may make this read wait (up to its connect timeout): never on the event loop.
        assert on_loop == [False]


@pytest.mark.postgres
def test_healthz_reports_the_replica_and_one_that_does_not_answer_is_degraded_not_down(
    pair: Pair, client: TestClient, tmp_path: Path
):
    health = client.get("/healthz").json()
    assert health["checks"]["replica"] == {"ok": True}
    nowhere = f"postgresql+psycopg://postgres@127.0.0.1:{pgcluster._free_port()}/{DB}"
    settings = Settings(
        database_url=pair.primary.url(DB),
        database_replica_url=nowhere,
        keys_dir=tmp_path / "keys",
        admin_token=ADMIN,
        secret="test-secret",
        rate_limit_file=tmp_path / "ratelimit",
    )
    with TestClient(create_app(settings)) as standby_down:
        answer = standby_down.get("/healthz")
        assert answer.status_code == 200  # its reads go to the primary: still serving
        assert answer.json()["status"] == "degraded"
        assert answer.json()["checks"]["database"] == {"ok": True}
        assert answer.json()["checks"]["replica"]["ok"] is False
        assert answer.json()["checks"]["replica"]["detail"]
        standby_down.app.state.db.dispose()  # type: ignore[attr-defined]
