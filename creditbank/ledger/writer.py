"""Appending to the ledger: the only code that writes transactions, postings and lots.

A ``LedgerWriter`` is opened inside a unit of work. It takes the ledger lock first (the
head row ``FOR UPDATE`` on PostgreSQL; SQLite writers already hold ``BEGIN IMMEDIATE``), so
sequence numbers, hashes and balances are computed against a ledger nobody else is changing.
Rows are buffered and written with executemany in ``flush()`` — one code path for a single
completion and for a 100 000-row import. Each transaction is also a leaf of the transparency log,
appended in the same flush (``translog`` sits below the ledger: it knows rows and digests, no
domain), so no transaction can be committed without its leaf.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select, text, update
from sqlmodel import Session, col

from creditbank.db import bulk_insert_values, in_values, table_of
from creditbank.kit import clock
from creditbank.kit.tokens import new_ordered_id
from creditbank.ledger import chain
from creditbank.ledger.models import (
    LedgerAccount,
    LedgerHead,
    LedgerTransaction,
    Lot,
    LotState,
    Posting,
    TxKind,
)
from creditbank.translog import sequencer as translog
from creditbank.translog.models import LeafKind


class Leg(NamedTuple):
    """One side of a transaction before it is written (a named tuple: an imported row makes two, and
    a frozen dataclass's ``__init__`` cost ~1 µs each)."""

    account_id: int
    account_code: str
    units: int
    lot_id: str | None = None
    # Which (learner, category, level) balance this leg moves, if it is a learner's credit leg.
    balance_key: tuple[int, str, int] | None = None


# Statements built once: building a statement and its cache key costs SQLAlchemy 60–160 µs each,
# ~2.5 ms of CPU per single completion post when every call built its own (bench/hotpath.py).
_LOCK = select(col(LedgerHead.seq), col(LedgerHead.hash)).where(col(LedgerHead.id) == 1).with_for_update()
_BALANCES = select(col(LedgerAccount.id), col(LedgerAccount.balance_units)).where(
    in_values(col(LedgerAccount.id), "ids")
)
# SQLite: the moves and the learner-balance upserts as the driver's executemany over plain tuples —
# through Core, SQLAlchemy processed each row's parameters in Python (~2 µs a row, twice that of
# SQLite's own work: a 4 000-row chunk of an import moves ~2 500 accounts and ~4 000 balances).
_MOVE_SQLITE = (
    "UPDATE ledger_account SET balance_units = balance_units + ?, version = version + ? WHERE id = ?"
)
_UPSERT_SQLITE = (
    "INSERT INTO learner_balance (learner_id, category, level, units) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (learner_id, category, level) DO UPDATE SET units = learner_balance.units + excluded.units"
)
# PostgreSQL: the same moves and upserts as one statement over arrays (one per flush), where an
# executemany runs one statement per account or per learner balance on the server — a 4 000-row
# chunk of an import moves ~1 000 accounts and ~4 000 learner balances (bench/ingest.py).
_MOVE_ARRAYS = text(
    "UPDATE ledger_account AS a SET balance_units = a.balance_units + d.delta, version = a.version + d.n "
    "FROM unnest(CAST(:aids AS integer[]), CAST(:deltas AS integer[]), CAST(:ns AS integer[])) AS d(aid, delta, n) "
    "WHERE a.id = d.aid"
)
_UPSERT_ARRAYS = text(
    "INSERT INTO learner_balance (learner_id, category, level, units) "
    "SELECT * FROM unnest(CAST(:learner_ids AS integer[]), CAST(:categories AS varchar[]), "
    "CAST(:levels AS integer[]), CAST(:units AS integer[])) "
    "ON CONFLICT (learner_id, category, level) DO UPDATE SET units = learner_balance.units + excluded.units"
)
_HEAD = table_of(LedgerHead)
_TRANSACTION, _POSTING, _LOT = table_of(LedgerTransaction), table_of(Posting), table_of(Lot)
TX_COLUMNS = (
    "id", "seq", "kind", "reverses_id", "completion_id", "completion_hash", "event_on", "recorded_at",
    "prev_hash", "hash",
)  # fmt: skip
POSTING_COLUMNS = (
    "transaction_id", "account_id", "amount_units", "lot_id", "balance_after_units",
    "tx_seq", "tx_kind", "tx_event_on", "tx_recorded_at", "tx_completion_id",
)  # fmt: skip
LOT_COLUMNS = (
    "id", "learner_id", "completion_id", "conversion_id", "transaction_id", "institution_id", "outcome_id",
    "category", "level", "earned_on", "expires_on", "amount_units", "consumed_units", "locked_units", "state",
    "batch_id",
)  # fmt: skip
"""The columns of the buffered rows, in order (the ``_tx``, ``_postings`` and ``_lots`` tuples)."""
_ADVANCE = update(_HEAD).where(_HEAD.c.id == 1).values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))


def lock(session: Session) -> tuple[int, str]:
    """Take the ledger lock (the head row, FOR UPDATE) and return the chain tip (seq, hash).

    Every use case that changes lots or postings takes it first, so they run one at a time
    against a ledger nobody else is changing. Columns, not the ORM object: an identity-mapped
    LedgerHead from an earlier writer in the same session would be returned stale.
    """
    return tuple(session.execute(_LOCK).one())


class LedgerWriter:
    """Buffers transactions against the chain tip read when it is created: create it after any
    other writer in the same unit of work has flushed."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.seq, self.prev_hash = lock(session)
        self.recorded_at = clock.iso(clock.now())
        self._balances: dict[int, int] = {}
        self._versions: dict[int, int] = defaultdict(int)
        self._deltas: dict[int, int] = defaultdict(int)
        self._learner_deltas: dict[tuple[int, str, int], int] = defaultdict(int)
        # Rows as tuples in the column order of ``TX_COLUMNS`` etc. (``db.bulk_insert_values``): an
        # imported row buffers four (a transaction, two postings, a lot), and a dict each cost more
        # than SQLite's insert of it.
        self._tx: list[tuple] = []
        self._postings: list[tuple] = []
        self._lots: list[tuple] = []
        self._reversed_lots: set[str] = set()

    def prefetch(self, account_ids: set[int]) -> None:
        """Load current balances of accounts about to be posted to (one query per chunk)."""
        missing = sorted(a for a in account_ids if a not in self._balances)
        if missing:
            rows = self.session.execute(_BALANCES, {"ids": missing})
            self._balances.update({account_id: units for account_id, units in rows})  # noqa: C416 — a Result is no mapping

    def append(
        self,
        *,
        kind: str,
        event_on: date,
        legs: list[Leg],
        completion_id: str | None = None,
        completion_hash: str | None = None,
        reverses_id: str | None = None,
    ) -> str:
        """Buffer one balanced transaction and return its id."""
        if len(legs) < 2 or sum(leg.units for leg in legs) != 0:
            # A programming error, never user input: every caller builds balanced legs.
            raise ValueError("a ledger transaction needs two or more postings summing to zero")
        balances = self._balances
        if any(leg.account_id not in balances for leg in legs):  # a chunk's accounts are prefetched
            self.prefetch({leg.account_id for leg in legs})
        self.seq += 1
        tx_id = new_ordered_id("txn")
        digest = chain.payload_hash(
            seq=self.seq,
            tx_id=tx_id,
            prev_hash=self.prev_hash,
            kind=kind,
            event_on=event_on,
            recorded_at=self.recorded_at,
            reverses_id=reverses_id,
            completion_id=completion_id,
            completion_hash=completion_hash,
            postings=[(leg.account_code, leg.units, leg.lot_id) for leg in legs],
        )
        self._tx.append(
            (
                tx_id,
                self.seq,
                kind,
                reverses_id,
                completion_id,
                completion_hash,
                event_on,
                self.recorded_at,
                self.prev_hash,
                digest,
            )
        )
        self.prev_hash = digest
        for leg in legs:
            balance = self._balances[leg.account_id] + leg.units
            self._balances[leg.account_id] = balance
            self._deltas[leg.account_id] += leg.units
            self._versions[leg.account_id] += 1
            # The transaction's fields a statement line shows, copied (models.Posting says why).
            self._postings.append(
                (
                    tx_id, leg.account_id, leg.units, leg.lot_id, balance,
                    self.seq, kind, event_on, self.recorded_at, completion_id,
                )
            )  # fmt: skip
            if leg.balance_key is not None:
                self._learner_deltas[leg.balance_key] += leg.units
        return tx_id

    def add_lot(self, row: dict[str, Any]) -> None:
        """Buffer a lot: ``LOT_COLUMNS`` by name (``conversion_id`` and ``batch_id`` may be left out)."""
        self._lots.append(tuple(row.get(column) for column in LOT_COLUMNS))

    def add_lot_values(self, values: tuple) -> None:
        """``add_lot`` for a lot already in ``LOT_COLUMNS`` order (the import's hot path: no dict)."""
        self._lots.append(values)

    def reverse(self, transaction_id: str) -> str:
        """Buffer the exact opposite of an earlier transaction and return the reversal's id.

        Every posting is negated (same accounts, same lots, same learner balances), the completion
        facts are carried over so the chain still says what was undone, and the lots the original
        deposited are marked reversed on ``flush()``. A transaction is reversed at most once: the
        unique ``reverses_id`` refuses a second reversal. Why it was undone is the caller's record
        (the completion's ``revoke_reason``, the conversion's ``reason``): the hashed chain has no
        place for free text.
        """
        session = self.session
        original = session.execute(
            select(col(LedgerTransaction.completion_id), col(LedgerTransaction.completion_hash)).where(
                col(LedgerTransaction.id) == transaction_id
            )
        ).one()
        postings = session.execute(
            select(
                col(Posting.account_id),
                col(LedgerAccount.code),
                col(Posting.amount_units),
                col(Posting.lot_id),
            )
            .join(LedgerAccount, col(LedgerAccount.id) == col(Posting.account_id))
            .where(col(Posting.transaction_id) == transaction_id)
            .order_by(col(Posting.id))
        ).all()
        lot_ids = sorted({lot_id for _, _, _, lot_id in postings if lot_id})
        keys = {
            lot_id: (learner_id, category, level)
            for lot_id, learner_id, category, level in session.execute(
                select(col(Lot.id), col(Lot.learner_id), col(Lot.category), col(Lot.level)).where(
                    col(Lot.id).in_(lot_ids)
                )
            )
        }
        legs = [
            Leg(account_id, code, -units, lot_id, balance_key=keys[lot_id] if lot_id else None)
            for account_id, code, units, lot_id in postings
        ]
        tx_id = self.append(
            kind=TxKind.reversal,
            event_on=clock.today(),
            legs=legs,
            reverses_id=transaction_id,
            completion_id=original.completion_id,
            completion_hash=original.completion_hash,
        )
        # The lots this transaction filled (a completion's deposit, a conversion's target) stop counting.
        self._reversed_lots.update(lot_id for _, _, units, lot_id in postings if lot_id and units > 0)
        return tx_id

    def flush(self) -> None:
        """Write everything buffered, move the materialised balances and the chain head."""
        if not self._tx:
            return
        session = self.session
        bulk_insert_values(session, _TRANSACTION, TX_COLUMNS, self._tx)
        translog.append(
            session, [(LeafKind.ledger_transaction, tx[0], bytes.fromhex(tx[-1])) for tx in self._tx]
        )
        bulk_insert_values(session, _POSTING, POSTING_COLUMNS, self._postings)
        bulk_insert_values(session, _LOT, LOT_COLUMNS, self._lots)
        connection = session.connection()
        moves = sorted(self._deltas.items())
        if connection.dialect.name == "postgresql":
            connection.execute(
                _MOVE_ARRAYS,
                {
                    "aids": [a for a, _ in moves],
                    "deltas": [d for _, d in moves],
                    "ns": [self._versions[a] for a, _ in moves],
                },
            )
        else:  # SQLite's executemany steps one prepared statement in C: nothing to save
            versions = self._versions
            connection.exec_driver_sql(_MOVE_SQLITE, [(d, versions[a], a) for a, d in moves])
        self._upsert_learner_balances()
        if self._reversed_lots:
            session.execute(
                update(Lot)
                .where(col(Lot.id).in_(sorted(self._reversed_lots)))
                .values(state=LotState.reversed)
            )
        session.connection().execute(_ADVANCE, {"new_seq": self.seq, "new_hash": self.prev_hash})
        self._tx, self._postings, self._lots = [], [], []
        self._reversed_lots = set()
        self._deltas.clear()
        self._versions.clear()
        self._learner_deltas.clear()

    def _upsert_learner_balances(self) -> None:
        if not self._learner_deltas:
            return
        connection = self.session.connection()
        deltas = sorted(self._learner_deltas.items())
        if connection.dialect.name == "postgresql":
            connection.execute(
                _UPSERT_ARRAYS,
                {
                    "learner_ids": [k[0] for k, _ in deltas],
                    "categories": [k[1] for k, _ in deltas],
                    "levels": [k[2] for k, _ in deltas],
                    "units": [v for _, v in deltas],
                },
            )
            return
        connection.exec_driver_sql(_UPSERT_SQLITE, [(*key, units) for key, units in deltas])
