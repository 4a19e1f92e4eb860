"""Backing up and restoring the database (issue 9, item 19; docs/operations.md).

SQLite: ``backup`` copies the live database with SQLite's online backup API — consistent while
the server keeps writing — into a new file (mode 0600), then checks the copy with
``PRAGMA integrity_check``. ``restore`` puts such a file in place of an absent database (or,
with ``force``, of an existing one) the same way; the caller then upgrades the schema and runs
``creditbank audit``.

PostgreSQL: use the server's own tools (``pg_dump -Fc`` / ``pg_restore``, or
``pg_basebackup`` for point-in-time recovery); the commands say so instead of guessing.

What a database backup does not hold, on purpose, and must be kept separately: the deployment
secret (``CREDITBANK_SECRET`` or ``keys/secret.key``: without it no learner can be matched by
ID number again), the ``keys/`` folder (issuer and log signing keys) and the key passphrase.

Nor the newest transparency-log checkpoint the bank published (``keys/log-published.json``): its
value is being newer than any database copy — a restore that lost published checkpoints is caught
against it (``translog.published``); inside a backup it would go back in time with the database.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """A refusal with a message for the operator (both languages)."""


POSTGRES_HINT = (
    "PostgreSQL：请用 pg_dump -Fc 备份、pg_restore 恢复（见 docs/operations.md） / "
    "PostgreSQL: back up with pg_dump -Fc and restore with pg_restore (see docs/operations.md)"
)


def sqlite_path(database_url: str) -> Path:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(POSTGRES_HINT)
    if not url.database or url.database == ":memory:":
        raise BackupError("没有数据库文件 / no database file in " + database_url)
    return Path(url.database)


def _check(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        try:
            result = db.execute("PRAGMA integrity_check").fetchone()[0]
            db.execute("SELECT count(*) FROM alembic_version").fetchone()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"不是 creditbank 的数据库 / not a creditbank database: {exc}") from None
    if result != "ok":
        raise BackupError(f"数据库文件已损坏 / the database file is damaged: {result}")


def _copy(source: Path, target: Path) -> None:
    """SQLite online backup into ``target`` (written beside it, then renamed into place)."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        with (
            contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
            contextlib.closing(sqlite3.connect(partial)) as dst,
        ):
            src.backup(dst, pages=1024)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        _check(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def backup(database_url: str, target: Path) -> int:
    """Copy the live SQLite database to ``target`` (must not exist); returns its size in bytes."""
    source = sqlite_path(database_url)
    if not source.exists():
        raise BackupError(f"数据库不存在 / no database at {source}")
    if target.exists():
        raise BackupError(f"{target} 已存在，不会覆盖 / {target} exists; not overwriting it")
    _copy(source, target)
    return target.stat().st_size


def restore(source: Path, database_url: str, *, force: bool = False) -> Path:
    """Put the backup ``source`` in place as the database of ``database_url``."""
    target = sqlite_path(database_url)
    if not source.exists():
        raise BackupError(f"找不到备份文件 / no backup file at {source}")
    _check(source)
    if target.exists() and not force:
        raise BackupError(
            f"{target} 已存在；确认要覆盖请加 --force / {target} exists; add --force to replace it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        stale.unlink(missing_ok=True)
    _copy(source, target)
    return target
