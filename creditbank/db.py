"""Engine, sessions and the unit of work.

One unit of work per request or CLI command: services only ``flush``; the caller commits once.
Writers that touch the ledger must be serialised — on SQLite by ``BEGIN IMMEDIATE`` (taken when
the session starts, so two writers never both read a stale head and then collide), on
PostgreSQL by ``SELECT … FOR UPDATE`` on the ledger head row (see ``ledger.service``).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Date, DateTime, Engine, MetaData, Table, TypeDecorator, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel

# Stable constraint names so alembic migrations can alter them on SQLite (batch mode) and PG alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata
M = TypeVar("M", bound=SQLModel)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a table model, for bulk inserts and Core statements: typed, where
    ``Model.__table__`` is not (SQLModel does not declare it to type checkers)."""
    table = inspect(model).local_table
    assert isinstance(table, Table), f"{model.__name__} is not a table model"
    return table


def referenced(session: Session, model: type[M], key: Any) -> M:
    """``session.get`` for a row that must be there (a foreign key points at it, or this unit of work
    just read it): its absence is a broken invariant (a 500), never a 404 — look up what a caller
    names with the domain's own ``get``, which answers the 404."""
    row = session.get(model, key)
    if row is None:
        raise LookupError(f"{model.__name__} {key!r} is referenced but missing")
    return row


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


SQLITE_WRITE_WAIT = 30.0
"""Seconds a SQLite writer waits for the write lock before giving up ("database is locked")."""


def create_sqlite_file(url: str) -> None:
    """Create a SQLite database file readable by its owner only (0600), before anything opens it.

    SQLite itself would create it with the process umask (usually 0644: world-readable), and
    its ``-wal``/``-shm`` files copy the database file's mode."""
    if not is_sqlite(url):
        return
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)  # an empty file is an empty SQLite database


def make_engine(url: str) -> Engine:
    if is_sqlite(url):
        create_sqlite_file(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _sqlite_transactions(engine)
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _sqlite_transactions(engine: Engine) -> None:
    """Take transaction control from pysqlite so that writers can say BEGIN IMMEDIATE.

    pysqlite's own implicit BEGIN is deferred: two writers both read, then one fails with
    'database is locked' on upgrade. SQLAlchemy's documented recipe hands BEGIN to us.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_WRITE_WAIT * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if not conn.get_execution_options().get("writer", False):
            conn.exec_driver_sql("BEGIN")
            return
        # SQLite's own busy handler sleeps up to 100 ms between tries, so a writer waiting behind a
        # staged import that commits chunk after chunk keeps missing the short gap between two
        # chunks (measured: 13 s p99). Ask every few milliseconds instead: the longest waiter gets in.
        dbapi_connection = conn.connection.driver_connection
        dbapi_connection.execute("PRAGMA busy_timeout=0")
        deadline = time.monotonic() + SQLITE_WRITE_WAIT
        try:
            while True:
                try:
                    dbapi_connection.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.002)
        finally:
            dbapi_connection.execute(f"PRAGMA busy_timeout={int(SQLITE_WRITE_WAIT * 1000)}")


class Database:
    """The engine plus the two kinds of unit of work: read-only and writing."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sqlite = is_sqlite(self.engine)
        self._writer = self.engine.execution_options(writer=True)

    def reader(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def writer(self) -> Session:
        return Session(self._writer, expire_on_commit=False)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """Commit once on success, roll back on any error."""
        with self.writer() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


@lru_cache
def get_database(url: str) -> Database:
    return Database(url)


def _sqlite_value(value: object) -> object:
    # The same text SQLAlchemy's SQLite types write, so ORM reads of bulk rows round-trip.
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _sqlite_rows(table: Table, columns: list[str], rows: list[dict]) -> list[tuple]:
    """Rows as tuples, dates and times as SQLAlchemy writes them — only those columns converted
    (a converter call per value was a tenth of a 100 000-row import)."""
    temporal = [i for i, c in enumerate(columns) if _is_temporal(table.c[c].type)]
    if len(columns) == 1:
        return [(_sqlite_value(r[columns[0]]),) if temporal else (r[columns[0]],) for r in rows]
    pick = itemgetter(*columns)
    if not temporal:
        return [pick(r) for r in rows]
    out = []
    for r in rows:
        values = list(pick(r))
        for i in temporal:
            values[i] = _sqlite_value(values[i])
        out.append(tuple(values))
    return out


def _is_temporal(column_type: Any) -> bool:
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    return isinstance(column_type, (Date, DateTime))


def bulk_insert(session: Session, table: Table, rows: list[dict]) -> None:
    """Insert many rows in one statement execution (the ingest hot path).

    SQLite: the driver's executemany on plain tuples, ~2.5× faster than Core parameter
    processing. PostgreSQL with psycopg: ``COPY … FROM STDIN`` on the session's own connection (same
    transaction, same constraints and indexes; column defaults such as ``posting.id`` apply to the
    columns not listed); small batches, and other drivers, go through Core's insertmanyvalues.
    All rows must have the same keys.
    """
    if not rows:
        return
    connection = session.connection()
    columns = list(rows[0])
    if connection.dialect.name == "sqlite":
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        connection.exec_driver_sql(sql, _sqlite_rows(table, columns, rows))
    elif connection.dialect.driver == "psycopg" and len(rows) >= COPY_MIN_ROWS:
        driver = connection.connection.driver_connection
        assert driver is not None
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for r in rows:
                copy.write_row([r[c] for c in columns])
    else:
        connection.execute(table.insert(), rows)


COPY_MIN_ROWS = 50
"""Below this a multi-row INSERT costs about what COPY's start-up does."""
