"""A completion as the district office reads it before and after forcing its revocation.

Credits a conversion already used cannot be revoked by the institution (``lot_consumed``); only the
office may force it, and the cascade then undoes the conversions built on them (SPEC §3.4). The
office must see that before it confirms: :func:`plan` is the record, the conversions the cascade
will undo (``conversion.service.built_on``, the walk ``reverse_for_lot`` then acts on) and what the
learner's balance loses. The revocation itself is ``service.revoke(..., force=True)``, as the API's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlmodel import Session, col

from creditbank.catalogue.models import Outcome
from creditbank.completions.models import Completion, CompletionState, live
from creditbank.conversion import queries as conversion_queries
from creditbank.conversion import service as conversions
from creditbank.errors import CreditbankError
from creditbank.institutions.models import Institution
from creditbank.learners.models import Learner
from creditbank.ledger.models import Lot
from creditbank.ledger.writer import lock


@dataclass(frozen=True)
class Record:
    """One completion with its learner, school, course and what conversions did with its credits."""

    id: str
    external_id: str
    state: str
    completed_on: date
    credits_units: int
    revoked_at: datetime | None
    revoke_reason: str | None
    revoked_by: str | None
    learner_id: int
    learner_name: str
    account_no: str
    outcome_code: str
    title_zh: str
    title_en: str | None
    institution_id: int
    institution_code: str
    institution_name_zh: str
    institution_name_en: str | None
    lot_id: str | None
    consumed_units: int
    """Credits approved conversions used."""
    locked_units: int
    """Credits requests still waiting for a decision hold."""

    @property
    def revoked(self) -> bool:
        return self.state == CompletionState.revoked

    @property
    def needs_force(self) -> bool:
        """Only a forced revocation can take it back: a conversion used or holds its credits. Any
        other live record its institution's approver revokes in the console."""
        return not self.revoked and (self.consumed_units > 0 or self.locked_units > 0)


def _records():
    return (
        select(
            Completion,
            col(Learner.name),
            col(Learner.account_no),
            col(Outcome.title_zh),
            col(Outcome.title_en),
            col(Institution.code),
            col(Institution.name_zh),
            col(Institution.name_en),
            col(Lot.id),
            col(Lot.consumed_units),
            col(Lot.locked_units),
            live(),
        )
        .join(Learner, col(Learner.id) == col(Completion.learner_id))
        .join(Outcome, col(Outcome.id) == col(Completion.outcome_id))
        .join(Institution, col(Institution.id) == col(Completion.institution_id))
        .outerjoin(Lot, col(Lot.completion_id) == col(Completion.id))
    )


def _record(row) -> Record:
    c, name, account_no, title_zh, title_en, code, school_zh, school_en, lot_id, consumed, locked, counts = (
        row
    )
    # A row of a published import still being settled counts already: shown active (as ``service.get``).
    state = CompletionState.active if c.state == CompletionState.pending and counts else c.state
    return Record(
        c.id, c.external_id, state, c.completed_on, c.credits_units, c.revoked_at, c.revoke_reason,
        c.revoked_by, c.learner_id, name, account_no, c.outcome_code, title_zh, title_en,
        c.institution_id, code, school_zh, school_en, lot_id, consumed or 0, locked or 0,
    )  # fmt: skip


def record(session: Session, completion_id: str) -> Record:
    """``completion_not_found``; a row of an import not published yet: ``completion_unpublished``."""
    row = session.execute(_records().where(col(Completion.id) == completion_id.strip())).first()
    if row is None:
        raise CreditbankError("completion_not_found", {"id": completion_id.strip()})
    found = _record(row)
    if found.state == CompletionState.pending:
        raise CreditbankError("completion_unpublished", {"id": found.id})
    return found


def of_learner(session: Session, *, learner_id: int, limit: int = 200) -> list[Record]:
    """A learner's records at every institution, newest first: those that count and those revoked
    (not the rows of an import nobody sees yet)."""
    rows = session.execute(
        _records()
        .where(
            col(Completion.learner_id) == learner_id,
            live() | (col(Completion.state) == CompletionState.revoked),
        )
        .order_by(col(Completion.created_at).desc(), col(Completion.id))
        .limit(limit)
    )
    return [_record(row) for row in rows]


@dataclass(frozen=True)
class Plan:
    """What forcing the revocation of ``record`` undoes — or, once revoked, undid."""

    record: Record
    conversions: list[conversion_queries.Undone]

    @property
    def balance_change_units(self) -> int:
        """The learner's balance after minus before: the record's credits go; each approved
        conversion undone gives back what it used and takes what it granted."""
        if self.record.revoked:
            return 0
        return -self.record.credits_units + sum(u.balance_change_units for u in self.conversions)


def plan(session: Session, completion_id: str, *, for_update: bool = False) -> Plan:
    """``for_update``: under the ledger lock every writer takes first (inside a unit of work), so
    nothing changes between this reading and the revocation that follows it in the same transaction."""
    if for_update:
        lock(session)
    found = record(session, completion_id)
    if found.lot_id is None:
        return Plan(found, [])
    walk = conversions.built_on(session, lot_id=found.lot_id, undone=found.revoked)
    return Plan(found, conversion_queries.undone(session, walk))
