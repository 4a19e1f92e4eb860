"""Reading the ledger for people: a learner's balance from the materialised figures.

The statement (every movement with the outcome and institution it came from) joins the catalogue
and institutions, so it lives with the learner: ``learners.queries.statement``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import func, select
from sqlmodel import Session, col

from creditbank.kit import clock
from creditbank.ledger.models import LearnerBalance, LedgerAccount, Lot, LotState


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


def balance(session: Session, learner: AccountHolder) -> Balance:
    """From the materialised figures: cost independent of how long the ledger is."""
    learner_id = learner.id
    total = session.execute(
        select(col(LedgerAccount.balance_units)).where(col(LedgerAccount.learner_id) == learner_id)
    ).scalar_one()
    by_category: dict[str, int] = {}
    by_level: dict[int, int] = {}
    for category, level, units in session.execute(
        select(col(LearnerBalance.category), col(LearnerBalance.level), col(LearnerBalance.units)).where(
            col(LearnerBalance.learner_id) == learner_id
        )
    ):
        if units:
            by_category[category] = by_category.get(category, 0) + units
            by_level[level] = by_level.get(level, 0) + units
    # Credits of a batch import not yet published are on the account already, but nobody sees
    # them until the whole batch is published (completions.imports): take them back out.
    for category, level, units in session.execute(
        select(col(Lot.category), col(Lot.level), func.sum(Lot.amount_units))
        .where(col(Lot.learner_id) == learner_id, col(Lot.state) == LotState.pending)
        .group_by(col(Lot.category), col(Lot.level))
    ):
        total -= units
        by_category[category] = by_category.get(category, 0) - units
        by_level[level] = by_level.get(level, 0) - units
    by_category = {k: v for k, v in by_category.items() if v}
    by_level = {k: v for k, v in by_level.items() if v}
    today = clock.today()
    convertible = session.execute(
        select(func.coalesce(func.sum(Lot.amount_units - Lot.consumed_units - Lot.locked_units), 0)).where(
            col(Lot.learner_id) == learner_id,
            col(Lot.state) == LotState.active,
            (col(Lot.expires_on).is_(None)) | (col(Lot.expires_on) >= today),
        )
    ).scalar_one()
    return Balance(learner.account_no, total, by_category, by_level, int(convertible))
