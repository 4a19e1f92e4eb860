"""Appending leaves: the one sequencer of the log, inside the caller's database transaction.

The head row is the lock (``FOR UPDATE`` on PostgreSQL; on SQLite the writer already holds
``BEGIN IMMEDIATE``), held until the caller commits: leaf indexes are handed out one transaction
at a time, so concurrent writers can never give two leaves one index or leave a hole, and a
rolled-back transaction takes its leaves with it. Only counters and rows are written here — the
tree's hashes are computed when the next checkpoint integrates the new leaves (``tiles.integrate``).
Rows go in as tuples with one executemany or COPY (``db.bulk_insert_values``): one statement for a
100 000-row import.

Nothing is appended to a log that does not contain the checkpoint the bank published (``published``:
a database restored to an earlier point, or another one, put under a running server): the leaves
would take the places of published ones, and the lost entries could no longer be put back
(``log reset-after-restore --entries-from``). The app hands every writing session the published
checkpoint (``Session.info[PUBLISHED]``); the statement that moves the counter reads the database's
root at that size too, so the check costs no round trip.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sqlalchemy import BigInteger, bindparam, func, select, update
from sqlmodel import Session

from creditbank.db import bulk_insert_values, table_of
from creditbank.kit import merkle
from creditbank.translog.models import LeafKind, TranslogCheckpoint, TranslogHead, TranslogLeaf
from creditbank.translog.published import Divergence, LogForked, Published

logger = logging.getLogger("creditbank")

Entry = tuple[LeafKind, str, bytes]
"""(kind, ref — the id of the row it records, 32-byte digest of the event)."""

PUBLISHED = "translog.published"
"""``Session.info`` key: a function giving the checkpoint the bank published (None: none recorded)."""

_HEAD = table_of(TranslogHead)
_LEAF = table_of(TranslogLeaf)
_CHECKPOINT = table_of(TranslogCheckpoint)
# Built once (a statement and its cache key cost SQLAlchemy ~0.1 ms to build; every post appends).
_SIZE = select(_HEAD.c.size).where(_HEAD.c.id == 1)
_LOCKED_SIZE = _SIZE.with_for_update()
_ADVANCE = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(size=_HEAD.c.size + bindparam("n", type_=BigInteger))
    .returning(
        _HEAD.c.size,
        select(_CHECKPOINT.c.root)
        .where(_CHECKPOINT.c.size == bindparam("published", type_=BigInteger))
        .scalar_subquery(),
    )
)
_NEWEST = select(func.max(_CHECKPOINT.c.size))


def entry_bytes(kind: int, digest: bytes) -> bytes:
    """The log entry as served in entry bundles and hashed into the tree: kind byte + digest."""
    return bytes([kind]) + digest


def entry_hash(kind: int, digest: bytes) -> bytes:
    return merkle.leaf_hash(bytes([kind]) + digest)


def lock(session: Session) -> int:
    """Take the sequencer lock; return the current size (the next leaf's index)."""
    connection = session.connection()
    query = _SIZE if connection.dialect.name == "sqlite" else _LOCKED_SIZE
    return int(connection.execute(query).scalar_one())


def append(session: Session, entries: Sequence[Entry], *, behind_published: bool = False) -> int:
    """Append ``entries`` in order; return the index of the first. Nothing to append: the size.

    One statement takes the lock and moves the counter: ``UPDATE … RETURNING`` locks the head row
    like ``FOR UPDATE`` (a waiter re-reads the row once the holder commits), so lock, read and
    update cost one round trip instead of three — every completion post appends a leaf.

    Raises ``LogForked`` (the caller's transaction rolls back) when the database does not contain the
    published checkpoint — unless ``behind_published``: putting the published entries back."""
    if not entries:
        return lock(session)
    for kind, ref, digest in entries:
        if len(digest) != merkle.HASH_SIZE or not ref:
            # A programming error in the caller, never user input.
            raise ValueError(f"log entry {kind!r} {ref!r}: a ref and a 32-byte digest are required")
    recorded: Callable[[], Published | None] | None = session.info.get(PUBLISHED)
    published = None if recorded is None or behind_published else recorded()
    wanted = published.size if published is not None and published.size > 0 else -1
    size, root = session.connection().execute(_ADVANCE, {"n": len(entries), "published": wanted}).one()
    first = int(size) - len(entries)
    if published is not None and wanted > 0 and root != published.root:
        _refuse(session, published, first, root)
    bulk_insert_values(
        session,
        _LEAF,
        ("leaf_index", "kind", "ref", "digest"),
        [(first + i, int(kind), ref, digest) for i, (kind, ref, digest) in enumerate(entries)],
    )
    return first


def _refuse(session: Session, published: Published, size: int, root: bytes | None) -> None:
    newest = session.connection().execute(_NEWEST).scalar()
    divergence = Divergence(published, size, None if newest is None else int(newest), root)
    logger.error("transparency log: a write was refused, nothing was appended: %s", divergence.en)
    raise LogForked(divergence.en, divergence)
