"""Engine, sessions and the unit of work.

One unit of work per request or CLI command: services only ``flush``; the caller commits once.
Writers that touch the ledger must be serialised — on SQLite by ``BEGIN IMMEDIATE`` (taken when
the session starts, so two writers never both read a stale head and then collide), on
PostgreSQL by ``SELECT … FOR UPDATE`` on the ledger head row (see ``ledger.service``).

With ``CREDITBANK_DATABASE_REPLICA_URL`` a second engine reads from a PostgreSQL streaming replica.
Only reads whose answer may be a moment old go there, and the code that owns a read says so — a
query function marked ``@may_lag`` and run through ``Database.read``, or a domain that asks for
``Database.replica_reader()`` for what never changes. Everything else (every write, revocation
status, balances a decision rests on, sign-in and sessions, idempotency) uses the primary, and
without a replica URL every read does (docs/scale.md, "Read replica").

Reads made on a thread that runs an asyncio event loop (``async def`` routes, ASGI middleware, the
verify answer cache) take the one connection reserved for them (``Database.loop_engine``), never
the pool the thread-pool routes share: a pool those routes have exhausted would otherwise hold the
event loop — every request of the worker — for the pool timeout (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import select
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import cache
from operator import itemgetter
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import (
    Date,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    TypeDecorator,
    bindparam,
    create_engine,
    event,
    inspect,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import NullType, TypeEngine
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
P = ParamSpec("P")
R = TypeVar("R")


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


POOL_SIZE = 10
POOL_OVERFLOW = 20
"""A PostgreSQL worker's pool: 10 connections kept, 20 more while busy (SQLite: SQLAlchemy's 5 + 10)."""
POOL_TIMEOUT = 30.0
"""Seconds a checkout waits for a pooled connection when every one is taken; then the request
answers 503 ``busy`` (``pool_exhausted``): the worker is saturated, the database is not down."""


def make_engine(
    url: str, *, connect_timeout: int | None = None, pool: tuple[int, int, float] | None = None
) -> Engine:
    """``pool``: (kept, overflow, checkout timeout in seconds) instead of the defaults."""
    sizes = {} if pool is None else {"pool_size": pool[0], "max_overflow": pool[1], "pool_timeout": pool[2]}
    if pool is None and not _in_memory(url):  # an in-memory SQLite's pool holds one connection, never waits
        sizes["pool_timeout"] = POOL_TIMEOUT
    if is_sqlite(url):
        create_sqlite_file(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **sizes)
        _sqlite_transactions(engine)
        return engine
    # What the URL says itself (?connect_timeout=…) wins over these defaults.
    defaults = {"connect_timeout": connect_timeout or CONNECT_SECONDS, **KEEPALIVES}
    connect = {k: v for k, v in defaults.items() if k not in make_url(url).query}
    if pool is None:
        sizes |= {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}
    engine = create_engine(url, connect_args=connect, **sizes)
    _ping_when_idle(engine, defaults["connect_timeout"])
    if engine.dialect.driver == "psycopg":
        _watch_stalls(engine, defaults["connect_timeout"])
    return engine


CONNECT_SECONDS = 5
"""How long a thread-pool connection waits for PostgreSQL to accept it (libpq ``connect_timeout``):
a server that is down or stopped answers 503 ``database_unavailable`` after this, not never."""
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
"""TCP keepalives (libpq): a connection whose server machine vanished (network cut, host down) fails
after about a minute instead of the operating system's two hours."""


def connection_failed(error: BaseException) -> bool:
    """Did ``error`` come from the database being unreachable rather than from the statement?

    True for a connection that could not be made or was lost (psycopg's ``OperationalError`` with
    no SQLSTATE, class 08, the server shutting down: 57P01–57P03, a login or database refused: class
    28, 3D000) and a pool checkout refused by the ping. False for everything the code handles
    itself: serialization failures and deadlocks (40xxx, retried), lock and statement timeouts
    (55P03, 57014), every SQLite error ("database is locked" included) — and a pool with no
    connection to hand out in time, which is the worker's saturation (``pool_exhausted``)."""
    if isinstance(error, DisconnectionError):
        return True
    if not isinstance(error, DBAPIError) or error.orig is None:
        return False
    if error.connection_invalidated:
        return True
    if not type(error.orig).__module__.startswith("psycopg") or not isinstance(error, OperationalError):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None)
    # 28xxx and 3D000: the server refused the login or has no such database (a connection attempt).
    return sqlstate is None or sqlstate.startswith(("08", "28")) or sqlstate in CONNECTION_SQLSTATES


CONNECTION_SQLSTATES = ("57P01", "57P02", "57P03", "3D000")


def pool_exhausted(error: BaseException) -> bool:
    """Did ``error`` come from a pool with no connection to hand out within its timeout?

    Every connection of the pool was checked out by other requests of this worker the whole time:
    the worker is saturated (too many slow requests at once), the database answers them. Answered
    503 ``busy`` with a short Retry-After — not ``database_unavailable``, which would send an
    operator to restart a healthy PostgreSQL (docs/operations.md)."""
    return isinstance(error, PoolTimeout)


def pool_figures(engine: Engine) -> str:
    """How full ``engine``'s pool is, for a log line: ``size 10, checked out 30, overflow 20``.
    ``overflow`` counts the connections made beyond ``size`` (SQLAlchemy shows it negative while
    fewer than ``size`` exist)."""
    pool = engine.pool
    if not isinstance(pool, QueuePool):
        return type(pool).__name__
    return f"size {pool.size()}, checked out {pool.checkedout()}, overflow {pool.overflow()}"


LOOP_POOL = (1, 4, 2.0)
"""The event loop's own connection: one kept. A loop never holds a session across an ``await``, so
one is all a worker uses; the spares (made and closed again) are for sessions that overlap on one
``Database`` all the same — two event loops (tests), or nested sessions under a loop that is not a
server's (Playwright's sync API runs one in the test's main thread). Nothing but event-loop reads
checks out from it, so the thread pool never exhausts it."""
LOOP_CONNECT_SECONDS = 2
"""How long a read on the event loop waits for PostgreSQL to accept a new connection (the loop's
connection was lost): a server that does not answer stalls the loop this long, not the OS's minutes."""


def on_event_loop() -> bool:
    """Is this thread running an asyncio event loop (an ``async def`` route, an ASGI middleware)?
    Sync routes and ``run_in_threadpool`` run on worker threads, where it is not."""
    return asyncio._get_running_loop() is not None


def _in_memory(url: str) -> bool:
    database = make_url(url).database
    return is_sqlite(url) and (not database or database == ":memory:" or "mode=memory" in url)


PING_AFTER_IDLE = 1.0
"""Seconds a pooled PostgreSQL connection may rest before its next checkout pings the server."""


def _ping_within(dbapi_connection: Any, seconds: float) -> None:
    """``SELECT 1`` on a psycopg connection, giving up after ``seconds`` (``TimeoutError``).

    A server that is stopped (SIGSTOP, a frozen VM) or behind a network that drops packets never
    answers, while the kernel keeps acknowledging: neither TCP keepalives nor a statement_timeout
    (the server's own) end the wait, and psycopg's ``execute`` would wait forever — each request
    that takes a rested connection would hang, on the event loop the whole worker. libpq's
    asynchronous calls let the wait end: the pool then replaces the connection, and a new one
    gives up after ``connect_timeout``. (A statement sent before the freeze: ``_Watchdog``.)"""
    pgconn = dbapi_connection.pgconn
    deadline = time.monotonic() + seconds
    pgconn.send_query(b"SELECT 1")
    while pgconn.flush() != 0:
        _wait_socket(pgconn.socket, deadline, write=True)
    while True:
        pgconn.consume_input()
        if not pgconn.is_busy():
            break
        _wait_socket(pgconn.socket, deadline, write=False)
    while (result := pgconn.get_result()) is not None:
        if result.error_message:
            raise ConnectionError(result.error_message.decode(errors="replace"))


def _wait_socket(fileno: int, deadline: float, *, write: bool) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("PostgreSQL did not answer the ping")
    # poll, not select: select() refuses a descriptor ≥ 1024 (FD_SETSIZE), which a worker serving
    # hundreds of clients (or a long test process) reaches — the ping then raised ValueError.
    poller = select.poll()
    poller.register(fileno, select.POLLOUT if write else select.POLLIN)
    if not poller.poll(remaining * 1000):
        raise TimeoutError("PostgreSQL did not answer the ping")


def _ping_when_idle(engine: Engine, ping_seconds: float) -> None:
    """Check a pooled connection before use only when it has rested for ``PING_AFTER_IDLE``.

    ``pool_pre_ping`` pings on every checkout: one round trip per session, two per request (API
    key, route) — as many as the statements saved elsewhere, and on a loaded 2-core machine each
    round trip waits for the server process to be scheduled (bench/hotpath.py). A connection
    returned a moment ago is alive; one that rested may belong to a server that restarted or a
    proxy that dropped it, and is pinged (a dead one is replaced: SQLAlchemy's documented custom
    pessimistic check, ``DisconnectionError`` in ``checkout``). A connection that dies within that
    second fails the next statement sent on it: a read runs that statement again on a fresh
    connection (``_ReadSession``), a write is retried whole by ``api.deps.write``; SQLAlchemy then
    replaces every connection of the pool."""

    @event.listens_for(engine, "checkin")
    def _rested_since(_dbapi_connection, record):
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "connect")
    def _made_now(_dbapi_connection, record):
        record.info["checked_in"] = time.monotonic()
        record.info["unused"] = True

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection, record, _proxy):
        # A connection just made is alive: its first checkout is never pinged, however short
        # PING_AFTER_IDLE. SQLAlchemy checks the replacement of a connection that failed the ping
        # once more and gives up after that second check with a bare "This connection is closed"
        # (a 500): pinging the replacement could only fail a request it would have served.
        if record.info.pop("unused", False):
            return
        rested = record.info.get("checked_in")
        if rested is not None and time.monotonic() - rested < PING_AFTER_IDLE:
            return
        try:
            if engine.dialect.driver == "psycopg":
                _ping_within(dbapi_connection, ping_seconds)
            else:
                engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any driver error: the pool replaces this connection
            raise DisconnectionError() from exc


STALL_SECONDS = 30.0
"""A command still running on a connection after this long (seen at every look of the watchdog)
makes the watchdog ask its server, on a new connection, whether it answers at all."""
WATCH_EVERY = 5.0
"""Seconds between two looks of the watchdog at the connections in use."""


class _Watchdog:
    """Ends the wait of statements sent to a PostgreSQL that stopped answering altogether.

    A server whose processes are stopped (SIGSTOP, a backend stuck on a hung disk) while its kernel
    still acknowledges every packet leaves a statement in flight waiting forever: the server's own
    ``statement_timeout`` cannot fire in a stopped process, TCP keepalives are answered by the
    kernel, and psycopg's ``execute`` has no time limit (the checkout's ping bounds only what is
    sent after the freeze). One thread per process looks at the connections in use every
    ``WATCH_EVERY`` s. When a connection has been busy with a command (libpq ``ACTIVE``) at every
    look for ``STALL_SECONDS``, it tries a new connection to that server, bounded like any other
    (``connect_timeout``, then the ping's bound); only if that gets no answer at all — a refusal
    such as "too many clients" is an answer — does it shut the sockets of that server's stalled
    connections. Their statements then fail as a lost connection (503 ``database_unavailable``)
    and the pool replaces them. A statement that is merely slow (statistics, a large import) runs
    on: its server answered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[Any, _Watched] = {}
        self._thread: threading.Thread | None = None

    def checked_out(self, record: Any, connection: Any, probe: Callable[[], bool]) -> None:
        with self._lock:
            self._watched[record] = _Watched(record, connection, probe)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="creditbank-db-watchdog", daemon=True)
                self._thread.start()

    def checked_in(self, record: Any) -> None:
        with self._lock:
            self._watched.pop(record, None)

    def _run(self) -> None:
        while True:
            time.sleep(WATCH_EVERY)
            try:
                self.look()
            except Exception:  # the watchdog must outlive any surprise; the next look tries again
                logging.getLogger("creditbank").exception("database watchdog")

    def look(self) -> None:
        """One look: note which connections are busy, and cut those stalled on a silent server."""
        now = time.monotonic()
        with self._lock:
            watched = list(self._watched.values())
        stalled: dict[Callable[[], bool], list[_Watched]] = {}
        for w in watched:
            if not _busy(w):
                w.busy_since = None
            elif w.busy_since is None:
                w.busy_since = now
            elif now - w.busy_since >= STALL_SECONDS:
                stalled.setdefault(w.probe, []).append(w)
        for probe, connections in stalled.items():
            if probe():
                for w in connections:  # merely slow: asked about again after another STALL_SECONDS
                    w.busy_since = time.monotonic()
                continue
            with self._lock:  # only those still checked out by the same request, still busy
                connections = [w for w in connections if self._watched.get(w.record) is w and _busy(w)]
            if not connections:
                continue
            for w in connections:
                _shut(w.connection)
            logging.getLogger("creditbank").error(
                "database unavailable: %d statement(s) in flight for %.0f s or more on a server that no "
                "longer answers a new connection; their connections were closed",
                len(connections),
                STALL_SECONDS,
            )


class _Watched:
    """A checked-out connection: a new one for each checkout."""

    __slots__ = ("busy_since", "connection", "probe", "record")

    def __init__(self, record: Any, connection: Any, probe: Callable[[], bool]) -> None:
        self.record = record
        self.connection = connection
        self.probe = probe
        self.busy_since: float | None = None


_ACTIVE = 1
"""libpq's ``PQTRANS_ACTIVE`` (``psycopg.pq.TransactionStatus.ACTIVE``): a command is in progress."""


def _busy(watched: _Watched) -> bool:
    return watched.connection.pgconn.transaction_status == _ACTIVE


_watchdog = _Watchdog()


def _shut(dbapi_connection: Any) -> None:
    """Shut the connection's socket both ways from this thread: libpq's wait in the thread that sent
    the statement wakes to a closed connection. Through a duplicate of the descriptor, which is
    closed again: libpq's own stays open until the pool closes the connection."""
    try:
        duplicate = socket.socket(fileno=os.dup(dbapi_connection.pgconn.socket))
    except Exception:  # closed meanwhile: its statement has ended
        return
    with duplicate, contextlib.suppress(OSError):
        duplicate.shutdown(socket.SHUT_RDWR)


def _watch_stalls(engine: Engine, seconds: float) -> None:
    """Put the connections of ``engine`` (psycopg) under the watchdog while they are checked out."""
    probe = functools.partial(_answers, engine, seconds)

    @event.listens_for(engine, "checkout")
    def _watch(dbapi_connection, record, _proxy):
        _watchdog.checked_out(record, dbapi_connection, probe)

    @event.listens_for(engine, "checkin")
    def _unwatch(_dbapi_connection, record):
        _watchdog.checked_in(record)


def _answers(engine: Engine, seconds: float) -> bool:
    """Does the server behind ``engine`` answer a new connection and its ping within ``seconds``
    each? A refusal is an answer; only silence (a timeout) is not."""
    import psycopg

    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    try:
        connection = psycopg.connect(*cargs, **{**cparams, "connect_timeout": max(1, round(seconds))})
    except psycopg.errors.ConnectionTimeout:
        return False
    except psycopg.Error:
        return True
    try:
        _ping_within(connection, seconds)
    except TimeoutError:
        return False
    except Exception:
        return True
    finally:
        connection.close()
    return True


REPLICA_CONNECT_SECONDS = 2
"""How long a read waits for the replica to accept a connection before it asks the primary."""
REPLICA_REST_SECONDS = 10.0
"""After the replica failed a read, the reads that may lag go straight to the primary this long: a
replica that is down (a blackholed address costs the whole connect timeout) must not add
``REPLICA_CONNECT_SECONDS`` to every read — nor to each certificate the verifier meets."""


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


def may_lag(
    fence: Callable[..., Any] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Mark a read whose answer may be a moment old: ``Database.read`` runs it on the replica.

    ``fence`` (optional) is a cheap query taking the same arguments that names what the reader must
    not miss — e.g. the version of a learner's account. ``Database.read`` asks the primary for it,
    then the replica; the replica answers only when it has caught up to that value (``>=``), else
    the read goes to the primary: whoever reads sees every change made up to that moment, whoever
    made it (read-your-writes without a session marker). Unmarked functions always read the primary.
    """

    def mark(function: Callable[P, R]) -> Callable[P, R]:
        function.__may_lag__ = (fence,)  # type: ignore[attr-defined]
        return function

    return mark


def _read_only(session: Session) -> Session:
    """A session that refuses to flush: nothing is ever written through a replica session (a hot
    standby would refuse it too, but only at run time on PostgreSQL, never in SQLite tests)."""

    @event.listens_for(session, "before_flush")
    def _refuse(_session, _context, _instances):
        raise RuntimeError("a read-only (replica) session must not write")

    return session


class _ReadSession(Session):
    """A session that only reads, and whose first statement survives a connection that died.

    Pooled connections are pinged only after a rest (``_ping_when_idle``): one the server dropped
    less than ``PING_AFTER_IDLE`` after its last use fails the first statement sent on it. Nothing
    has run on that connection in this session yet, so that statement is run again, once, on a fresh
    connection (SQLAlchemy has invalidated the dead one, and every pooled connection as old) — the
    reader sees one slower answer instead of a 500, and a connection in steady use is still never
    pinged. A connection lost later in a session is an error as before: its earlier statements
    may have to agree with the next one. Writes are retried whole by ``api.deps.write``."""

    def _execute_internal(self, *args: Any, **kwargs: Any) -> Any:
        if self.in_transaction():
            return super()._execute_internal(*args, **kwargs)
        try:
            return super()._execute_internal(*args, **kwargs)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            self.rollback()  # gives the dead connection back; the next statement checks out anew
        return super()._execute_internal(*args, **kwargs)


class Database:
    """The engine(s) plus the kinds of unit of work: read-only, read-only that may lag, writing.

    ``replica_url`` (a PostgreSQL hot standby streaming from ``url``) gives a second engine for the
    reads that may lag; without it those reads use the primary, exactly as before. ``loop_engine``
    is the primary too, with the one connection that reads made on the event loop use."""

    def __init__(self, url: str, replica_url: str | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sqlite = is_sqlite(self.engine)
        self._writer = self.engine.execution_options(writer=True)
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # An in-memory SQLite database exists once per engine: its loop reads share the engine.
        self.loop_engine = (
            self.engine
            if _in_memory(url)
            else make_engine(url, connect_timeout=LOOP_CONNECT_SECONDS, pool=LOOP_POOL)
        )
        self._loop_autocommit = self.loop_engine.execution_options(isolation_level="AUTOCOMMIT")
        self.replica_url = replica_url or None
        if self.replica_url is not None and (self.sqlite or is_sqlite(self.replica_url)):
            raise ValueError("a read replica needs PostgreSQL (streaming replication) on both sides")
        self.replica_engine = (
            make_engine(self.replica_url, connect_timeout=REPLICA_CONNECT_SECONDS)
            if self.replica_url
            else self.engine
        )
        self.replica_reads = 0
        """Reads answered by the replica (``Database.read`` and ``replica_reader``): for tests and
        benchmarks; approximate under threads."""
        self.replica_fallbacks = 0
        """``Database.read`` calls the replica could not answer because it lagged behind the fence."""
        self.replica_failures = 0
        """Reads sent to the primary because the replica failed (unreachable, query cancelled)."""
        self._replica_rests_until = 0.0
        self.write_info: dict[str, Any] = {}
        """Put in the ``Session.info`` of every writing session: what a layer above hands the domains'
        writes (the transparency log's published checkpoint, ``translog.sequencer.PUBLISHED``)."""

    @property
    def has_replica(self) -> bool:
        return self.replica_engine is not self.engine

    @property
    def replica_usable(self) -> bool:
        """A replica is configured and has not failed in the last ``REPLICA_REST_SECONDS``."""
        return self.has_replica and time.monotonic() >= self._replica_rests_until

    def replica_failed(self, error: OperationalError) -> None:
        """A read on the replica failed: count it, and rest the replica when it did not answer
        (cannot connect, timed out, connection lost: no SQLSTATE from the server, or not class 40).
        A hot standby that cancels a query because replay needs its rows ("conflict with
        recovery", SQLSTATE 40001/40P01) answered at once: that read goes to the primary, the next
        one may use the replica again — resting it would send every read to the primary for
        ``REPLICA_REST_SECONDS`` after each of these, which a busy standby raises often."""
        self.replica_failures += 1
        if not (getattr(error.orig, "sqlstate", None) or "").startswith("40"):
            self._replica_rests_until = time.monotonic() + REPLICA_REST_SECONDS

    def reader(self) -> Session:
        """A read on the primary: what must be current (status, balances for a decision, sign-in).
        On the event loop it uses the loop's own connection (``loop_engine``)."""
        return _ReadSession(self.loop_engine if on_event_loop() else self.engine, expire_on_commit=False)

    def autocommit_reader(self) -> Session:
        """A read on the primary with no transaction around its statements (PostgreSQL autocommit):
        no ``BEGIN`` and no ``ROLLBACK`` round trip. Each statement sees what was committed before
        it started — exactly what it sees inside a READ COMMITTED transaction, where every
        statement takes its own snapshot — so it suits reads that are one statement, or several
        that need no common snapshot (who is calling; a balance: its figures are one statement).
        It refuses to write. SQLite has no round trips to save: an ordinary read there."""
        if self.sqlite:
            return _read_only(self.reader())
        bind = self._loop_autocommit if on_event_loop() else self._autocommit
        return _read_only(_ReadSession(bind, expire_on_commit=False))

    def replica_reader(self) -> Session:
        """A read that may be a moment old: on the replica when there is one, else the primary.
        Only for what cannot change once written (an issued credential) or what may lag by design;
        the caller must cope with a row the replica does not have yet (fall back to ``reader``)."""
        if self.has_replica:
            self.replica_reads += 1
        return _read_only(_ReadSession(self.replica_engine, expire_on_commit=False))

    def read(self, query: Callable[..., R], /, *args: Any, **kwargs: Any) -> R:
        """Run ``query(session, *args, **kwargs)`` where its declaration allows: on the replica when it
        is marked ``@may_lag`` (and its fence, if any, is passed there), otherwise on the primary.
        A replica that cannot answer — unreachable, or a hot standby cancelling the query because
        replay needs its rows ("conflict with recovery") — sends the read to the primary. A query
        stopped at its own ``statement_timeout`` (SQLSTATE 57014) is raised: it would run as long
        there."""
        marked = getattr(query, "__may_lag__", None)
        if marked is None or not self.replica_usable:
            with self.reader() as session:
                return query(session, *args, **kwargs)
        (fence,) = marked
        wanted = None
        if fence is not None:
            with self.reader() as session:
                wanted = fence(session, *args, **kwargs)
        try:
            with Session(self.replica_engine, expire_on_commit=False) as session:
                _read_only(session)
                if fence is None:
                    answer = query(session, *args, **kwargs)
                    self.replica_reads += 1
                    return answer
                # One transaction on the replica: the fence and the query see the same snapshot
                # (PostgreSQL's default READ COMMITTED takes a snapshot per statement, so ask for
                # REPEATABLE READ, which a hot standby allows).
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
                seen = fence(session, *args, **kwargs)
                if seen is not None and wanted is not None and seen >= wanted:
                    answer = query(session, *args, **kwargs)
                    self.replica_reads += 1
                    return answer
                self.replica_fallbacks += 1
        except OperationalError as error:
            if getattr(error.orig, "sqlstate", None) == "57014":
                # Stopped by the statement_timeout the query set itself (statistics) or cancelled on
                # purpose: the replica answered, and the primary would only run it as long again.
                raise
            self.replica_failed(error)
        with self.reader() as session:
            return query(session, *args, **kwargs)

    def writer(self) -> Session:
        return Session(self._writer, expire_on_commit=False, info=self.write_info)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """Commit once on success, roll back on any error. Always on the primary."""
        with self.writer() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def pool_figures(self) -> str:
        """Every pool of this worker, for the log line of a request refused because one was full."""
        figures = f"requests' pool {pool_figures(self.engine)}"
        if self.loop_engine is not self.engine:
            figures += f"; event loop's pool {pool_figures(self.loop_engine)}"
        if self.has_replica:
            figures += f"; replica's pool {pool_figures(self.replica_engine)}"
        return figures

    def dispose(self) -> None:
        self.engine.dispose()
        if self.loop_engine is not self.engine:
            self.loop_engine.dispose()
        if self.has_replica:
            self.replica_engine.dispose()


def _sqlite_value(value: object) -> object:
    # The same text SQLAlchemy's SQLite types write, so ORM reads of bulk rows round-trip.
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _sqlite_tuples(table: Table, columns: Sequence[str], rows: list[tuple]) -> list[tuple]:
    """Rows with their dates and times as SQLAlchemy writes them — only those columns converted (a
    converter call per value was a tenth of a 100 000-row import)."""
    temporal = _temporal(table, tuple(columns))
    if not temporal:
        return rows
    # A chunk's rows share few dates and times (a completion date among a few hundred, one creation
    # stamp per chunk): each distinct value is converted once.
    texts: dict[object, object] = {}
    out = []
    for r in rows:
        values = list(r)
        for i in temporal:
            value = values[i]
            text = texts.get(value)
            if text is None:
                text = texts[value] = _sqlite_value(value)
            values[i] = text
        out.append(tuple(values))
    return out


@cache
def _temporal(table: Table, columns: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(i for i, c in enumerate(columns) if _is_temporal(table.c[c].type))


def _is_temporal(column_type: Any) -> bool:
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    return isinstance(column_type, (Date, DateTime))


def bulk_insert(session: Session, table: Table, rows: list[dict]) -> None:
    """Insert many rows in one statement execution. All rows must have the same keys; see
    ``bulk_insert_values``, which the ingest hot path uses with tuples (no dict per row)."""
    if rows:
        columns = tuple(rows[0])
        pick = itemgetter(*columns)
        bulk_insert_values(
            session,
            table,
            columns,
            [pick(r) for r in rows] if len(columns) > 1 else [(pick(r),) for r in rows],
        )


def bulk_insert_values(session: Session, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert many rows, each a tuple of values in ``columns`` order, in one statement execution
    (the ingest hot path: rows built as tuples cost a fraction of dicts, and go to the driver as
    they are).

    SQLite: the driver's executemany on plain tuples, ~2.5× faster than Core parameter
    processing. PostgreSQL with psycopg: ``COPY … FROM STDIN`` on the session's own connection (same
    transaction, same constraints and indexes; column defaults such as ``posting.id`` apply to the
    columns not listed); small batches, and other drivers, go through Core's insertmanyvalues.
    """
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(
            _insert_sql(table.name, tuple(columns)), _sqlite_tuples(table, columns, rows)
        )
    elif connection.dialect.driver == "psycopg" and len(rows) >= COPY_MIN_ROWS:
        driver = connection.connection.driver_connection
        assert driver is not None
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for r in rows:
                copy.write_row(r)
    else:
        connection.execute(_insert_into(table), [dict(zip(columns, r, strict=True)) for r in rows])


@cache
def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


class _ValueList(TypeDecorator):
    """A list of values bound as one parameter: a PostgreSQL array, a JSON array text on SQLite."""

    impl = String
    cache_ok = True

    def __init__(self, item_type: TypeEngine) -> None:
        super().__init__()
        self.item_type = item_type

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(self.item_type))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        values = list(value)
        return values if dialect.name == "postgresql" else json.dumps(values)


class _InValues(ColumnElement[Any]):
    inherit_cache = True
    type: TypeEngine[Any] = NullType()  # Boolean would make SQLite render "… = 1" after it
    _traverse_internals = [  # noqa: RUF012 — SQLAlchemy declares it so; the statement cache key's parts
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement, values: ColumnElement) -> None:
        self.column = column
        self.values = values


@compiles(_InValues)
def _any(element: _InValues, compiler: Any, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} = ANY ({compiler.process(element.values, **kw)})"


@compiles(_InValues, "sqlite")
def _json_each(element: _InValues, compiler: Any, **kw: Any) -> str:
    values = compiler.process(element.values, **kw)
    return f"{compiler.process(element.column, **kw)} IN (SELECT value FROM json_each({values}))"


def in_values(column: Any, name: str) -> ColumnElement[Any]:
    """``column IN (…)`` with the whole list bound as **one** parameter ``name`` (pass a list):
    ``= ANY(:name)`` on PostgreSQL, ``IN (SELECT value FROM json_each(:name))`` on SQLite.

    For the per-chunk look-ups and updates of a batch import, where the list has hundreds to
    thousands of values. An ``expanding`` ``IN`` renders one placeholder per value on every
    execution (SQLAlchemy: ~1 µs a value), the database parses them all, and psycopg neither caches
    nor prepares a statement whose text changes with the list's length; here the text is fixed:
    compiled once, prepared by the server, and the list travels as one value. Both use the
    column's index for each value (a B-tree probe per value, like ``IN``)."""
    column_type = getattr(column, "type", None)
    return _InValues(column, bindparam(name, type_=_ValueList(column_type or String())))


@cache
def _insert_into(table: Table) -> Any:
    """``table.insert()``, built once per table (a single post inserts into six tables)."""
    return table.insert()


COPY_MIN_ROWS = 50
"""Below this a multi-row INSERT costs about what COPY's start-up does."""
