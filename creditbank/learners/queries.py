"""Reading a learner's account for people: the statement of every credit's origin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlmodel import Session

from creditbank.catalogue.models import Outcome
from creditbank.institutions.models import Institution
from creditbank.learners.models import Learner
from creditbank.ledger.models import LedgerAccount, LedgerTransaction, Lot, Posting


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
