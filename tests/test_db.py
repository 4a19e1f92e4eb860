"""The engine and its sessions: pooled connections checked only after a rest, a read that meets a
connection which died since its last use run again on a fresh one, reads without a transaction."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from creditbank import db as dbmodule
from creditbank.app import create_app
from creditbank.db import Database
from creditbank.institutions.models import OperatorToken
from creditbank.kit import clock
from tests.conftest import _fresh_database, _settings, institution, outcome

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    database = Database(_fresh_database("postgresql", request, tmp_path))
    yield database
    database.dispose()


def _backend(database: Database) -> int:
    with database.reader() as session:
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _pings(database: Database, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings: list[int] = []
    # Both engines: after a browser test, Playwright's event loop runs in this thread, and the reads
    # of the tests below then use the event loop's engine (db.on_event_loop).
    for engine in {database.engine, database.loop_engine}:
        original = engine.dialect.do_ping

        def counted(dbapi_connection, original=original):
            pings.append(1)
            return original(dbapi_connection)

        monkeypatch.setattr(engine.dialect, "do_ping", counted)
    within = dbmodule._ping_within  # psycopg's ping: bounded in time (docs/operations.md)

    def counted_within(dbapi_connection, seconds):
        pings.append(1)
        return within(dbapi_connection, seconds)

    monkeypatch.setattr(dbmodule, "_ping_within", counted_within)
    return pings


def _admin(database: Database) -> psycopg.Connection:
    server = database.engine.url.set(drivername="postgresql", database="postgres")
    return psycopg.connect(server.render_as_string(hide_password=False), autocommit=True)


def _terminate(database: Database, pids: list[int] | None = None) -> None:
    """Kill the server processes behind ``pids`` (default: every connection to this database) and
    wait until they are gone — their sockets closed, as after a server restart or a failover."""
    name = database.engine.url.database
    with _admin(database) as admin:
        if pids is None:
            rows = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))
            pids = [pid for (pid,) in rows]
        assert pids
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 30
        while admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
        ).fetchone() != (0,):
            assert time.monotonic() < deadline, "the terminated backends did not exit"
            time.sleep(0.01)


class TestPooledConnections:
    def test_a_connection_the_server_dropped_while_it_rested_is_replaced_not_an_error(self, pg, monkeypatch):
        # A restarted server or a proxy's idle timeout: the next request must not fail.
        first = _backend(pg)
        _terminate(pg, [first])
        monkeypatch.setattr(dbmodule, "PING_AFTER_IDLE", 0.0)  # it has rested long enough
        assert _backend(pg) != first

    def test_a_connection_in_steady_use_is_not_pinged_before_every_request(self, pg, monkeypatch):
        # Each ping is a round trip, as costly as a statement (bench/hotpath.py): a busy server pings
        # only connections that rested, not one returned a moment ago.
        _backend(pg)
        pings = _pings(pg, monkeypatch)
        for _ in range(5):
            _backend(pg)
        assert pings == []
        monkeypatch.setattr(dbmodule, "PING_AFTER_IDLE", 0.0)
        _backend(pg)
        assert pings == [1]

    def test_the_connection_made_to_replace_one_that_failed_its_ping_is_handed_out_unpinged(
        self, pg, monkeypatch
    ):
        # SQLAlchemy checks a replacement once and then gives up with "This connection is closed" (a
        # 500): a server that has just come back (SIGCONT after a freeze, seen in CI) must not get
        # the chance to fail a request on a connection made a moment ago.
        first = _backend(pg)
        pings = _pings(pg, monkeypatch)
        monkeypatch.setattr(dbmodule, "PING_AFTER_IDLE", 0.0)
        refuse = iter([True])  # only the first ping fails, as when the pooled one was frozen

        def ping_that_fails_once(dbapi_connection, seconds):
            pings.append(1)
            if next(refuse, False):
                raise TimeoutError("PostgreSQL did not answer the ping")

        monkeypatch.setattr(dbmodule, "_ping_within", ping_that_fails_once)
        assert _backend(pg) != first
        assert pings == [1]  # the pooled one only; its replacement was not pinged
        _backend(pg)
        assert pings == [1, 1]  # once used and returned, it is pinged after a rest like any other

    def test_a_rested_connection_is_pinged_in_a_worker_holding_over_a_thousand_descriptors(
        self, pg, monkeypatch, request
    ):
        # A worker serving hundreds of clients holds sockets numbered past 1024, where select() gave
        # up with ValueError: the ping "failed" and every rested connection was thrown away and a new
        # one made (a connect per request). Found by a full test run whose process had that many.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 1200:  # the common default is 1024
            if hard != resource.RLIM_INFINITY and hard < 1200:
                pytest.skip(f"this process may open only {hard} files; the test needs 1 200")
            resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
            request.addfinalizer(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)))
        pg.dispose()  # before: the sockets it closes would free low numbers for the next connection
        held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
        try:
            first = _backend(pg)  # its socket is numbered past the held ones
            pings = _pings(pg, monkeypatch)
            monkeypatch.setattr(dbmodule, "PING_AFTER_IDLE", 0.0)
            assert _backend(pg) == first, "the rested connection was replaced, not pinged and kept"
            assert pings, "the rested connection was not pinged"
        finally:
            for fd in held:
                os.close(fd)


class TestAConnectionThatDiedSinceItsLastUse:
    """Killed less than ``PING_AFTER_IDLE`` after its last use, it is handed out unpinged: a read's
    first statement on it fails, and is run again once on a fresh connection — not a 500."""

    @pytest.fixture(autouse=True)
    def _never_pinged(self, monkeypatch):
        # However slow this machine is between two requests, the connection counts as just used.
        monkeypatch.setattr(dbmodule, "PING_AFTER_IDLE", 3600.0)

    def test_a_read_runs_its_statement_again_on_a_fresh_connection(self, pg, monkeypatch):
        first = _backend(pg)
        _terminate(pg, [first])
        pings = _pings(pg, monkeypatch)
        assert _backend(pg) != first
        assert pings == []  # found out by the statement itself, not by a ping per checkout

    def test_so_does_a_read_outside_a_transaction(self, pg):
        with pg.autocommit_reader() as session:
            first = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        _terminate(pg, [first])
        with pg.autocommit_reader() as session:
            assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() != first

    def test_a_connection_lost_in_the_middle_of_a_read_is_still_an_error(self, pg):
        # Its earlier statements may have to agree with the next one: nothing is run again.
        with pg.reader() as session:
            first = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            _terminate(pg, [first])
            with pytest.raises(OperationalError, match="terminating connection"):
                session.execute(text("SELECT 1"))

    def test_read_routes_answer_after_the_server_dropped_every_connection_of_the_worker(
        self, request, tmp_path
    ):
        settings = _settings(_fresh_database("postgresql", request, tmp_path), tmp_path)
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            inst = institution(client)
            outcome(client, inst)
            assert client.get("/api/v1/catalogue", headers=inst).status_code == 200  # API key, then catalogue
            assert client.get("/healthz").status_code == 200  # the event loop's own connection
            _terminate(client.app.state.db)
            catalogue = client.get("/api/v1/catalogue", headers=inst)
            assert catalogue.status_code == 200, catalogue.text
            assert [o["code"] for o in catalogue.json()] == ["YC-ELEC"]
            health = client.get("/healthz")
            assert health.status_code == 200, health.text
            client.app.state.db.dispose()


class TestAutocommitReader:
    def test_its_statements_run_outside_a_transaction(self, pg):
        with pg.autocommit_reader() as session:
            session.execute(text("SELECT pg_sleep(0.01)"))
            # Outside a transaction each statement is its own: its transaction starts with it.
            assert session.execute(text("SELECT now() = statement_timestamp()")).scalar_one() is True
        with pg.reader() as session:
            session.execute(text("SELECT pg_sleep(0.01)"))
            assert session.execute(text("SELECT now() = statement_timestamp()")).scalar_one() is False

    def test_it_refuses_to_write(self, pg):
        with pg.autocommit_reader() as session, pytest.raises(RuntimeError):
            session.add(OperatorToken(token_hash="0" * 64, created_at=clock.now()))
            session.flush()
        with pg.reader() as session:
            assert session.execute(text("SELECT count(*) FROM operator_token")).scalar_one() == 0


class TestTheWatchdog:
    def test_a_slow_statement_on_a_server_that_answers_runs_to_its_end(self, request, tmp_path, monkeypatch):
        # Statistics run for tens of seconds: a statement that long is asked about, not cut, while a
        # new connection to its server is answered (tests/test_database_outage.py: one that is not).
        probes: list[bool] = []
        answers = dbmodule._answers

        def counted(engine, seconds):
            probes.append(answers(engine, seconds))
            return probes[-1]

        monkeypatch.setattr(dbmodule, "_answers", counted)
        monkeypatch.setattr(dbmodule, "STALL_SECONDS", 0.0)
        database = Database(_fresh_database("postgresql", request, tmp_path))

        def slow() -> int:
            with database.reader() as session:
                return int(session.execute(text("SELECT 7 FROM pg_sleep(3)")).scalar_one())

        with ThreadPoolExecutor(1) as pool, _admin(database) as admin:
            running = pool.submit(slow)
            while admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT 7 FROM pg_sleep(3)'"
            ).fetchone() != (1,):
                assert not running.done(), running.result()
            dbmodule._watchdog.look()  # busy: noted
            dbmodule._watchdog.look()  # still busy: stalled, so its server is asked
            assert running.result() == 7
        assert probes and all(probes)
        database.dispose()
