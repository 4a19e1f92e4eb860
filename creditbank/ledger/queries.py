"""Reading the ledger for people: a learner's balance from the materialised figures.

The statement (every movement with the outcome and institution it came from) joins the catalogue
and institutions, so it lives with the learner: ``learners.queries.statement``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Date,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    cast,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    union_all,
)
from sqlmodel import Session, col

from creditbank.kit import clock
from creditbank.ledger.models import BatchState, LearnerBalance, LedgerAccount, Lot, LotBatch, LotState


def released() -> Select:
    """Ids of the batches published but not yet settled: usually none, a few during a big import."""
    return select(col(LotBatch.id)).where(col(LotBatch.state) == BatchState.released)


def lot_live() -> ColumnElement[bool]:
    """A lot that is shown and spendable: ``active``, or ``pending`` in a released batch (a published
    import whose lots are still being turned active). Every reader of lots uses this, never
    ``state = 'active'`` alone: a lot of an import appears the moment its import is published."""
    return or_(
        col(Lot.state) == LotState.active,
        and_(col(Lot.state) == LotState.pending, col(Lot.batch_id).in_(released())),
    )


def lot_hidden() -> ColumnElement[bool]:
    """A lot on the ledger that nobody may see yet: pending, its batch not released."""
    return and_(
        col(Lot.state) == LotState.pending,
        or_(col(Lot.batch_id).is_(None), not_(col(Lot.batch_id).in_(released()))),
    )


def is_live(session: Session, lot: Lot) -> bool:
    """``lot_live`` for a lot already loaded."""
    if lot.state == LotState.active:
        return True
    if lot.state != LotState.pending or lot.batch_id is None:
        return False
    state = session.execute(select(col(LotBatch.state)).where(col(LotBatch.id) == lot.batch_id)).scalar()
    return bool(state == BatchState.released)


class AccountHolder(Protocol):
    """A learner as the ledger sees one (``learners.models.Learner`` is one): no import upward."""

    @property
    def id(self) -> int | None: ...

    @property
    def account_no(self) -> str: ...


@dataclass(frozen=True)
class Balance:
    account_no: str
    total_units: int
    by_category: dict[str, int]
    by_level: dict[int, int]
    convertible_units: int


def _figures() -> CompoundSelect:
    """A learner's balance figures in one statement, built once (a bound ``learner_id`` and
    ``today``): the account's balance, the learner × category × level balances and one pass over
    the learner's pending and active lots."""
    learner_id = bindparam("learner_id", type_=Integer)
    hidden = lot_hidden()  # on the account, not yet shown: a batch import not yet published
    usable = lot_live() & (
        col(Lot.expires_on).is_(None) | (col(Lot.expires_on) >= bindparam("today", type_=Date))
    )
    return union_all(
        select(
            literal("total"),
            cast(null(), String),
            cast(null(), Integer),
            col(LedgerAccount.balance_units),
            literal(0),
        ).where(col(LedgerAccount.learner_id) == learner_id),
        select(
            literal("balance"),
            col(LearnerBalance.category),
            col(LearnerBalance.level),
            col(LearnerBalance.units),
            literal(0),
        ).where(col(LearnerBalance.learner_id) == learner_id),
        select(
            literal("lots"),
            col(Lot.category),
            col(Lot.level),
            func.coalesce(func.sum(Lot.amount_units).filter(hidden), 0),
            func.coalesce(
                func.sum(Lot.amount_units - Lot.consumed_units - Lot.locked_units).filter(usable), 0
            ),
        )
        .where(col(Lot.learner_id) == learner_id, col(Lot.state).in_([LotState.pending, LotState.active]))
        .group_by(col(Lot.category), col(Lot.level)),
    )


_FIGURES = _figures()


def balance(session: Session, learner: AccountHolder) -> Balance:
    """From the materialised figures: cost independent of how long the ledger is.

    One statement (``_FIGURES``): one round trip instead of four, and one snapshot — on PostgreSQL
    each statement of a read sees the commits made before it started, so four statements could mix
    figures from before and after a post."""
    total = 0
    convertible = 0
    by_category: dict[str, int] = {}
    by_level: dict[int, int] = {}
    rows = session.execute(_FIGURES, {"learner_id": learner.id, "today": clock.today()})
    for kind, category, level, units, usable_units in rows:
        if kind == "total":
            total += units
            continue
        if kind == "lots":
            # Credits of a batch import not yet published are on the account already, but nobody
            # sees them until the whole batch is published (completions.imports): taken back out.
            convertible += usable_units
            units = -units
            total += units
        if units:
            by_category[category] = by_category.get(category, 0) + units
            by_level[level] = by_level.get(level, 0) + units
    by_category = {k: v for k, v in by_category.items() if v}
    by_level = {k: v for k, v in by_level.items() if v}
    return Balance(learner.account_no, total, by_category, by_level, int(convertible))
