"""Alembic migrations, shipped inside the package so an installed creditbank can upgrade itself."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, pool, text

from creditbank.db import create_sqlite_file, is_sqlite

HERE = Path(__file__).parent


def alembic_config(url: str, *, secret: bytes | None = None) -> Config:
    cfg = Config()
    cfg.attributes["id_secret"] = secret  # migrations that re-key or seal stored data need it
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


UPGRADE_LOCK = 0x6372_6564_6974_6261
"""The PostgreSQL advisory lock every upgrade holds (the bytes of "creditba"): one bigint for the
whole server, so upgrades of two creditbank databases on one server wait for each other too (rare,
harmless)."""


LOCK_POLL_SECONDS = 0.2


def upgrade(url: str, revision: str = "head", *, secret: bytes | None = None) -> None:
    """Bring the schema to ``revision``. Several processes may call it at once (workers or hosts
    starting together, ``creditbank migrate`` beside a ``serve``): on PostgreSQL each waits for the
    one upgrading (an advisory lock), then finds nothing left to do — two would otherwise both
    create the first tables and one fail on a duplicate."""
    create_sqlite_file(url)  # 0600 before alembic's own engine would create it world-readable
    with _one_at_a_time(url):
        command.upgrade(alembic_config(url, secret=secret), revision)


def current_revision(url: str) -> str | None:
    """The schema's revision (None: not set up)."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


@contextmanager
def _one_at_a_time(url: str) -> Iterator[None]:
    """On PostgreSQL, hold ``UPGRADE_LOCK`` on a connection of its own (autocommit, no transaction
    open: the migrations that build an index CONCURRENTLY do not wait for it). SQLite: an exclusive
    ``flock`` of ``<database>.upgrade-lock`` — alembic's deferred transactions let two upgrades both
    read the old revision, and the second then fails on what the first added."""
    if is_sqlite(url):
        with _file_lock(url):
            yield
        return
    engine = create_engine(url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            # Asked again and again, not waited for in one pg_advisory_lock: a statement waiting
            # that long holds a snapshot, and the upgrade's CREATE INDEX CONCURRENTLY (0014, 0020)
            # waits for every snapshot older than itself — each would wait for the other forever.
            try_lock = text("SELECT pg_try_advisory_lock(:key)")
            while not connection.execute(try_lock, {"key": UPGRADE_LOCK}).scalar_one():
                time.sleep(LOCK_POLL_SECONDS)
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": UPGRADE_LOCK})
    finally:
        engine.dispose()


@contextmanager
def _file_lock(url: str) -> Iterator[None]:
    """Not a lock of the database file itself: closing any descriptor of it would drop the POSIX
    locks SQLite holds on it in this process."""
    import fcntl

    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    fd = os.open(f"{database}.upgrade-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
