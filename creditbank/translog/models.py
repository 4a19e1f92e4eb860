"""The transparency log's tables: leaves, stored tiles, the sequencer's head, checkpoints and the
cosignatures witnesses sent.

Append-only except ``translog_head.size`` (the sequencer's counter, moved in the same database
transaction as the leaves it counts). Tiles are a cache of the leaves that ``creditbank audit``
recomputes; checkpoints are signed and can only be checked, never recomputed.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum

import sqlalchemy as sa
from sqlalchemy import BigInteger, Column, ForeignKey, LargeBinary, SmallInteger, String, Text
from sqlmodel import Field, SQLModel

# On SQLite an INTEGER PRIMARY KEY is the rowid itself: the cheapest row to append.
_BIG_KEY = BigInteger().with_variant(sa.Integer, "sqlite")


class LeafKind(IntEnum):
    """The first byte of every log entry; the other 32 are a SHA-256 digest of the event."""

    ledger_transaction = 1
    """Digest: ``ledger_transaction.hash`` — SHA-256 of the transaction's RFC 8785 payload."""
    certificate_issued = 2
    """Digest: ``certificate.credential_hash`` — SHA-256 of the signed credential's RFC 8785 bytes."""
    certificate_revoked = 3
    """Digest: SHA-256 of the RFC 8785 revocation record (id, credential hash, time, reason)."""
    outcome_version = 4
    """Digest: SHA-256 of the RFC 8785 record of a published outcome version (``catalogue.logged``)."""
    rule_approved = 5
    """Digest: SHA-256 of the RFC 8785 terms of a conversion rule as approved (``conversion.logged``)."""
    rule_retired = 6
    """Digest: the same terms as retired (``conversion.logged``)."""


class TranslogHead(SQLModel, table=True):
    """The sequencer: its single row is the lock every appender takes, and the log's identity."""

    __tablename__ = "translog_head"
    id: int = Field(default=1, primary_key=True)
    size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    """Leaves sequenced so far (the next leaf's index)."""
    origin: str | None = Field(default=None, max_length=200)
    """The checkpoint origin line (and log key name), fixed when the first checkpoint is signed."""


class TranslogLeaf(SQLModel, table=True):
    __tablename__ = "translog_leaf"
    leaf_index: int = Field(sa_column=Column(_BIG_KEY, primary_key=True, autoincrement=False))
    kind: int = Field(sa_column=Column(SmallInteger, nullable=False))
    ref: str = Field(max_length=40)
    """Which row the leaf records: a ledger transaction id, a certificate id, ``outcome:<id>`` or
    ``rule:<id>``."""
    digest: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    """32 bytes; the log entry is ``bytes([kind]) + digest``."""


class TranslogTile(SQLModel, table=True):
    """A full tile (C2SP tlog-tiles, height 8): 256 consecutive hashes of one level of the tree."""

    __tablename__ = "translog_tile"
    level: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    tile_index: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hashes: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    """8 192 bytes: at level 0 the leaf hashes, above it the roots of full tiles one level down."""
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    """The Merkle root of the 256 hashes — the tile's entry in the level above."""


class TranslogCheckpoint(SQLModel, table=True):
    __tablename__ = "translog_checkpoint"
    size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))
    """The C2SP signed note exactly as signed (body and the log's signature line)."""
    kid: str = Field(max_length=64)
    """The log key that signed it."""
    created_at: datetime


class TranslogCosignature(SQLModel, table=True):
    """A witness's C2SP tlog-cosignature on one of our checkpoints, published with it."""

    __tablename__ = "translog_cosignature"
    checkpoint_size: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("translog_checkpoint.size"), primary_key=True, autoincrement=False
        )
    )
    witness: str = Field(sa_column=Column(String(200), primary_key=True))
    """The witness's key name."""
    key_id: str = Field(sa_column=Column(String(8), primary_key=True))
    """Hex of the 4-byte signed-note key ID."""
    timestamp: int = Field(sa_column=Column(BigInteger, nullable=False))
    """When the witness cosigned (POSIX seconds, as signed)."""
    line: str = Field(sa_column=Column(Text, nullable=False))
    """The signature line as the witness sent it (``— name base64``)."""
    received_at: datetime
