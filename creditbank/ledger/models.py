"""The double-entry ledger: accounts, transactions, postings, lots and materialised balances.

Rows here are append-only except the materialised figures (``balance_units``, ``version``,
``consumed_units``/``locked_units`` of a lot, ``learner_balance``) which are caches of the
postings, kept in the same database transaction and recomputed by ``creditbank audit``.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Index, String, text
from sqlmodel import Field, SQLModel


class AccountKind(StrEnum):
    issuance = "issuance"
    """An institution's source of credits: goes negative by what it has issued."""
    learner = "learner"
    """A learner's credit account."""


class LedgerAccount(SQLModel, table=True):
    __tablename__ = "ledger_account"
    __table_args__ = (
        # Issuance accounts by institution (every post looks its own up); learner accounts have none.
        Index(
            "ix_ledger_account_institution_id",
            "institution_id",
            postgresql_where=text("institution_id IS NOT NULL"),
            sqlite_where=text("institution_id IS NOT NULL"),
        ),
    )
    id: int = Field(default=None, primary_key=True)
    """Given by the database when the row is flushed, and read only after that: an int, not int | None."""
    code: str = Field(unique=True, max_length=64)
    """Human-readable and stable: ``issuance:YCCEC``, ``learner:CB1234567890X``."""
    kind: str = Field(max_length=16)
    institution_id: int | None = Field(default=None, foreign_key="institution.id")
    learner_id: int | None = Field(default=None, foreign_key="learner.id", unique=True)
    balance_units: int = 0
    version: int = 0
    """Number of postings applied; lets a reader detect a concurrent change."""


class LedgerHead(SQLModel, table=True):
    """The tip of the hash chain. Its single row is the lock every ledger writer takes first."""

    __tablename__ = "ledger_head"
    id: int = Field(default=1, primary_key=True)
    seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    hash: str = Field(default="0" * 64, max_length=64)


class TxKind(StrEnum):
    deposit = "deposit"
    reversal = "reversal"
    conversion = "conversion"
    """Consumes source lots (back to their issuers) and deposits the target credits."""


class LedgerTransaction(SQLModel, table=True):
    __tablename__ = "ledger_transaction"
    id: str = Field(primary_key=True, max_length=40)
    seq: int = Field(sa_column=Column(BigInteger, unique=True, nullable=False))
    """Position in the hash chain. Its transparency-log leaf (kind ``ledger_transaction``, ref = id)
    has its own index: certificate events are leaves too."""
    kind: str = Field(max_length=16)
    reverses_id: str | None = Field(
        default=None,
        sa_column=Column(String(40), ForeignKey("ledger_transaction.id"), unique=True, nullable=True),
    )
    """A transaction is reversed at most once: the unique constraint enforces it."""
    completion_id: str | None = Field(default=None, max_length=40, index=True)
    completion_hash: str | None = Field(default=None, max_length=64)
    """Digest of the completion's content, so an edited completion row breaks the chain."""
    event_on: date
    """When it happened in the world (completion date); ``recorded_at`` is when we wrote it."""
    recorded_at: str = Field(max_length=24)
    """ISO-8601 UTC text, stored as hashed so no database time zone can alter it."""
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


_STATEMENT_LINE = (
    "transaction_id", "amount_units", "balance_after_units", "lot_id",
    "tx_kind", "tx_event_on", "tx_recorded_at", "tx_completion_id",
)  # fmt: skip
"""What a statement line shows of a posting besides its index keys: ``ix_posting_account_seq``
includes them on PostgreSQL (the migration lists the same)."""


class Posting(SQLModel, table=True):
    __table_args__ = (
        # The statement page: one learner's lines in order, a range of this index. On PostgreSQL
        # every column a line shows is in it (INCLUDE), so a page of lines is read from an index
        # page or two instead of a heap page of posting and of ledger_transaction per line (0020,
        # 0023; bench/scale.py). ``id`` orders the legs of one transaction on the same account.
        Index(
            "ix_posting_account_seq",
            "account_id",
            "tx_seq",
            "id",
            postgresql_include=_STATEMENT_LINE,
        ),
    )
    # BigInteger: a province-scale ledger passes 2^31 postings (docs/scale.md).
    id: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    )
    transaction_id: str = Field(foreign_key="ledger_transaction.id", index=True, max_length=40)
    account_id: int = Field(foreign_key="ledger_account.id")
    amount_units: int
    """Signed hundredths of a credit: positive raises the account's balance."""
    lot_id: str | None = Field(default=None, max_length=40, index=True)
    balance_after_units: int
    """The account's balance right after this posting, so a statement line needs no running sum."""
    # Copies of the transaction's fields a statement line shows (migration 0023), written with the
    # posting by ``ledger.writer`` and compared with the transaction by ``creditbank audit``: a
    # statement then reads postings (and the learner's lots) only, not one random transaction row
    # per line. The transaction row stays what the chain hashes.
    tx_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    tx_kind: str = Field(max_length=16)
    tx_event_on: date
    tx_recorded_at: str = Field(max_length=24)
    tx_completion_id: str | None = Field(default=None, max_length=40)


class LotState(StrEnum):
    active = "active"
    reversed = "reversed"
    pending = "pending"
    """Deposited by a batch import: on the ledger (the chain, the account balances) but neither
    shown to the learner nor spendable while its batch is ``held``; live (like ``active``) from the
    moment the batch is ``released`` (``queries.lot_live``), and turned ``active`` soon after."""


class BatchState(StrEnum):
    held = "held"
    """Its lots are being written (or the import failed): none of them is shown or spendable."""
    released = "released"
    """Published: every pending lot of the batch counts as active — one row changed for any
    number of lots. Its lots are being turned ``active`` in short chunks (``settled`` after)."""
    settled = "settled"
    """Every lot of the batch is ``active`` (or reversed): the batch no longer matters to readers."""


class LotBatch(SQLModel, table=True):
    """Lots deposited together that become visible together: a staged batch import
    (``completions.imports``; the batch id is the import's id). Publishing the import releases the
    batch — an O(1) switch, so on SQLite it holds the one write lock for a moment, not for a
    row update per lot (issue 14, goal 7)."""

    __tablename__ = "lot_batch"
    id: str = Field(primary_key=True, max_length=40)
    state: str = Field(default=BatchState.held, max_length=16, index=True)
    """Indexed: every reader of lots asks for the released batches (one row per import ever)."""


class Lot(SQLModel, table=True):
    """The credits one completion created; conversions consume them, never twice."""

    __table_args__ = (
        CheckConstraint("consumed_units >= 0 AND locked_units >= 0", name="non_negative"),
        CheckConstraint("consumed_units + locked_units <= amount_units", name="not_overdrawn"),
        # A learner's lots; on PostgreSQL with what a statement line shows of its lot (0020).
        Index(
            "ix_lot_learner_state",
            "learner_id",
            "state",
            postgresql_include=["id", "batch_id", "category", "level", "outcome_id", "institution_id"],
        ),
    )
    id: str = Field(primary_key=True, max_length=40)
    learner_id: int = Field(foreign_key="learner.id")
    completion_id: str | None = Field(default=None, max_length=40, unique=True)
    conversion_id: str | None = Field(default=None, max_length=40, unique=True)
    """Set on the lot a conversion deposited: its provenance leads back to the source lots."""
    transaction_id: str = Field(foreign_key="ledger_transaction.id", max_length=40)
    institution_id: int = Field(foreign_key="institution.id")
    outcome_id: int = Field(foreign_key="outcome.id")
    category: str = Field(max_length=32)
    level: int
    earned_on: date
    expires_on: date | None = None
    """Last day the credits count for conversion (outcome's validity); None = never."""
    amount_units: int
    consumed_units: int = 0
    locked_units: int = 0
    state: str = Field(default=LotState.active, max_length=16)
    batch_id: str | None = Field(default=None, max_length=40)
    """The ``lot_batch`` a pending lot belongs to (a staged import); None for every other lot. No
    foreign key and no index: written 100 000 times per big import, read only together with
    ``state = 'pending'`` (a foreign-key check per row would slow every import)."""


class LearnerBalance(SQLModel, table=True):
    """Materialised balance per learner × category × level, for O(1) balance reads."""

    __tablename__ = "learner_balance"
    learner_id: int = Field(foreign_key="learner.id", primary_key=True)
    category: str = Field(primary_key=True, max_length=32)
    level: int = Field(primary_key=True)
    units: int = 0
