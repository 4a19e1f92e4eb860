"""Reading the ledger for people: balances and statements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlmodel import Session

from creditbank.catalogue.models import Outcome
from creditbank.institutions.models import Institution
from creditbank.kit import clock
from creditbank.learners.models import Learner
from creditbank.ledger.models import LearnerBalance, LedgerAccount, LedgerTransaction, Lot, LotState, Posting


@dataclass(frozen=True)
class Balance:
    account_no: str
    total_units: int
    by_category: dict[str, int]
    by_level: dict[int, int]
    convertible_units: int


def balance(session: Session, learner: Learner) -> Balance:
    """From the materialised figures: cost independent of how long the ledger is."""
    total = session.execute(
        select(LedgerAccount.balance_units).where(LedgerAccount.learner_id == learner.id)
    ).scalar_one()
    by_category: dict[str, int] = {}
    by_level: dict[int, int] = {}
    for category, level, units in session.execute(
        select(LearnerBalance.category, LearnerBalance.level, LearnerBalance.units).where(
            LearnerBalance.learner_id == learner.id
        )
    ):
        if units:
            by_category[category] = by_category.get(category, 0) + units
            by_level[level] = by_level.get(level, 0) + units
    today = clock.today()
    convertible = session.execute(
        select(func.coalesce(func.sum(Lot.amount_units - Lot.consumed_units - Lot.locked_units), 0)).where(
            Lot.learner_id == learner.id,
            Lot.state == LotState.active,
            (Lot.expires_on.is_(None)) | (Lot.expires_on >= today),
        )
    ).scalar_one()
    return Balance(learner.account_no, total, by_category, by_level, int(convertible))


@dataclass(frozen=True)
class StatementLine:
    seq: int
    transaction_id: str
    kind: str
    event_on: date
    recorded_at: str
    amount_units: int
    balance_after_units: int
    lot_id: str | None
    completion_id: str | None
    institution_code: str | None
    outcome_code: str | None
    outcome_title_zh: str | None
    outcome_title_en: str | None
    category: str | None
    level: int | None


def statement(session: Session, learner: Learner, *, after: int | None, limit: int) -> list[StatementLine]:
    """Every movement on the learner's account, oldest first, paged by ``seq`` (keyset, not offset)."""
    query = (
        select(
            LedgerTransaction.seq,
            LedgerTransaction.id,
            LedgerTransaction.kind,
            LedgerTransaction.event_on,
            LedgerTransaction.recorded_at,
            Posting.amount_units,
            Posting.balance_after_units,
            Posting.lot_id,
            LedgerTransaction.completion_id,
            Institution.code,
            Outcome.code,
            Outcome.title_zh,
            Outcome.title_en,
            Lot.category,
            Lot.level,
        )
        .join(Posting, Posting.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .outerjoin(Lot, Lot.id == Posting.lot_id)
        .outerjoin(Outcome, Outcome.id == Lot.outcome_id)
        .outerjoin(Institution, Institution.id == Lot.institution_id)
        .where(LedgerAccount.learner_id == learner.id)
        .order_by(LedgerTransaction.seq)
        .limit(limit)
    )
    if after is not None:
        query = query.where(LedgerTransaction.seq > after)
    return [StatementLine(*row) for row in session.execute(query)]
