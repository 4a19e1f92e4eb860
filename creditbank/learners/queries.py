"""Reading a learner's account for people: the statement of every credit's origin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, or_, select
from sqlmodel import Session, col

from creditbank.catalogue.models import Outcome
from creditbank.db import may_lag
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution
from creditbank.kit import clock
from creditbank.learners.models import ActivationCode, Learner
from creditbank.learners.names import OPERATOR_EN, OPERATOR_ZH
from creditbank.ledger.models import LedgerAccount, Lot, Posting
from creditbank.ledger.queries import lot_hidden


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


def account_state(session: Session, learner: Learner, **_paging: object) -> tuple[int, int] | None:
    """What a statement must not miss, as two numbers that only grow: the postings applied to the
    learner's account (its ``version``) and the lots no longer pending (a published import). A
    replica showing the same two has every line and every published credit the primary has."""
    version = session.execute(
        select(col(LedgerAccount.version)).where(col(LedgerAccount.learner_id) == learner.id)
    ).scalar_one_or_none()
    if version is None:
        return None
    shown = session.execute(
        select(func.count()).select_from(Lot).where(col(Lot.learner_id) == learner.id, ~lot_hidden())
    ).scalar_one()
    return version, shown


@dataclass(frozen=True)
class StatementPage:
    lines: list[StatementLine]
    institution_names: dict[str, tuple[str, str | None]]
    """Code → (Chinese, English) name of every institution the lines name."""
    more: bool
    """Whether a next page may follow (``statement_whole``)."""


@may_lag(fence=account_state)
def statement_page(session: Session, learner: Learner, *, after: int | None, limit: int) -> StatementPage:
    """A page of the statement (whole transactions) with the names of the institutions on it. May be read from a replica
    (``Database.read``), but never older than the learner's account on the primary: a credit posted
    a moment ago is on the page (``account_state``)."""
    lines, more = statement_whole(session, learner, after=after, limit=limit)
    codes = {line.institution_code for line in lines if line.institution_code}
    return StatementPage(lines, institutions.names(session, codes), more)


@may_lag(fence=account_state)
def statement(session: Session, learner: Learner, *, after: int | None, limit: int) -> list[StatementLine]:
    """Every movement on the learner's account, oldest first, paged by ``seq`` (keyset, not offset)."""
    # The learner's lots, read together (a learner's postings carry the learner's own lots, or
    # none): on PostgreSQL from the learner's entries of ix_lot_learner_state alone, one or two
    # index pages (migration 0020), where looking up each line's lot read a random page per line
    # on a large ledger (bench/scale.py). MATERIALIZED keeps the planner from turning it back into
    # one look-up per line. ``hidden``: a batch import not yet published shows nothing
    # (completions.imports).
    lots = (
        select(
            col(Lot.id).label("id"),
            col(Lot.category).label("category"),
            col(Lot.level).label("level"),
            col(Lot.outcome_id).label("outcome_id"),
            col(Lot.institution_id).label("institution_id"),
            lot_hidden().label("hidden"),
        )
        .where(col(Lot.learner_id) == learner.id)
        .cte("learner_lot")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    # A line's transaction fields are read from the posting's copies of them (migration 0023): on
    # PostgreSQL the page is one range of ix_posting_account_seq, index pages only, where joining
    # each line's transaction read a random heap page per line on a large ledger.
    query = (
        select(
            col(Posting.tx_seq),
            col(Posting.transaction_id),
            col(Posting.tx_kind),
            col(Posting.tx_event_on),
            col(Posting.tx_recorded_at),
            col(Posting.amount_units),
            col(Posting.balance_after_units),
            col(Posting.lot_id),
            col(Posting.tx_completion_id),
            col(Institution.code),
            col(Outcome.code),
            col(Outcome.title_zh),
            col(Outcome.title_en),
            lots.c.category,
            lots.c.level,
        )
        .join(LedgerAccount, col(LedgerAccount.id) == col(Posting.account_id))
        .outerjoin(lots, lots.c.id == col(Posting.lot_id))
        .outerjoin(Outcome, col(Outcome.id) == lots.c.outcome_id)
        .outerjoin(Institution, col(Institution.id) == lots.c.institution_id)
        .where(col(LedgerAccount.learner_id) == learner.id, or_(lots.c.id.is_(None), ~lots.c.hidden))
        .order_by(col(Posting.tx_seq), col(Posting.id))
        .limit(limit)
    )
    if after is not None:
        query = query.where(col(Posting.tx_seq) > after)
    return [StatementLine(*row) for row in session.execute(query)]


# Longer than any one transaction's lines on one account (a conversion's reversal touches a few lots).
_ONE_TRANSACTION = 10_000


@may_lag(fence=account_state)
def statement_whole(
    session: Session, learner: Learner, *, after: int | None, limit: int
) -> tuple[list[StatementLine], bool]:
    """A page of the statement that ends after a whole transaction, and whether more may follow.

    The next page starts after the last line's ``seq`` — a transaction's, shared by all its lines —
    so a page cut inside a transaction (a conversion's reversal, three lines) would lose the rest of
    it for good. A page holds at most ``limit`` lines unless one transaction alone is longer: then
    the page is that transaction, whole."""
    lines = statement(session, learner, after=after, limit=limit + 1)
    if len(lines) <= limit:
        return lines, False
    cut = lines[limit].seq
    if lines[limit - 1].seq != cut:
        return lines[:limit], True
    kept = [line for line in lines[:limit] if line.seq != cut]
    if kept:
        return kept, True
    whole = statement(session, learner, after=cut - 1, limit=_ONE_TRANSACTION)
    return [line for line in whole if line.seq == cut], True


@dataclass(frozen=True)
class IssuedSlip:
    issued_at: datetime
    institution_name_zh: str
    institution_name_en: str


def issued_slips(session: Session, learner: Learner) -> list[IssuedSlip]:
    """The new activation slips issued to this activated learner whose code is still unused and
    unexpired, newest first: who issued each and when — never the code.

    An activated account has live codes only from ``new_activation_slip`` (enrolment gives it none,
    and activating deletes every code), so a live code here is a slip someone asked for in the
    learner's name; the learner is shown it on /me so that a slip they did not ask for is noticed
    before the code is used."""
    if learner.activated_at is None:
        return []
    rows = session.execute(
        select(col(ActivationCode.created_at), col(Institution.name_zh), col(Institution.name_en))
        .join(Institution, col(Institution.id) == col(ActivationCode.institution_id), isouter=True)
        .where(
            col(ActivationCode.learner_id) == learner.id,
            col(ActivationCode.expires_at) >= clock.now(),
        )
        .order_by(col(ActivationCode.created_at).desc(), col(ActivationCode.id).desc())
    ).all()
    return [
        IssuedSlip(
            issued_at=issued_at,
            institution_name_zh=name_zh or OPERATOR_ZH,
            institution_name_en=(name_en or name_zh) if name_zh else OPERATOR_EN,
        )
        for issued_at, name_zh, name_en in rows
    ]
