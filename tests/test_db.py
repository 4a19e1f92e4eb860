"""The engine and its sessions: pooled connections checked only after a rest, reads without a transaction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from creditbank import db as dbmodule
from creditbank.db import Database
from creditbank.institutions.models import OperatorToken
from creditbank.kit import clock
from tests.conftest import _fresh_database

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
    return pings


class TestPooledConnections:
    def test_a_connection_the_server_dropped_while_it_rested_is_replaced_not_an_error(self, pg, monkeypatch):
        # A restarted server or a proxy's idle timeout: the next request must not fail.
        first = _backend(pg)
        server = pg.engine.url.set(drivername="postgresql", database="postgres")
        with psycopg.connect(server.render_as_string(hide_password=False), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
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
