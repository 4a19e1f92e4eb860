"""Reading rules and conversion requests for people: a fixed number of queries however many rows.

A rule's answer names its owner, its target outcome (``INST:CODE``) and its qualification; those
come from one joined query for all the rules asked for, not a handful of look-ups per rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from creditbank.catalogue.models import Outcome
from creditbank.conversion.models import (
    Conversion,
    ConversionLot,
    ConversionRule,
    ConversionState,
    Qualification,
)
from creditbank.conversion.schemas import ConversionOut, LockedOut, RuleOut, RuleRef
from creditbank.conversion.sources import RuleSource
from creditbank.institutions.models import Institution
from creditbank.kit import reasons
from creditbank.kit.units import credits

# -- rules -----------------------------------------------------------------------------------------


def _rules(session: Session, *where: Any) -> list[RuleOut]:
    owner, target_institution = aliased(Institution), aliased(Institution)
    rows = session.execute(
        select(
            ConversionRule,
            col(owner.code),
            col(target_institution.code),
            col(Outcome.code),
            col(Qualification.code),
        )
        .join(owner, col(owner.id) == col(ConversionRule.owner_institution_id))
        .join(Outcome, col(Outcome.id) == col(ConversionRule.target_outcome_id))
        .join(target_institution, col(target_institution.id) == col(Outcome.institution_id))
        .outerjoin(Qualification, col(Qualification.id) == col(ConversionRule.qualification_id))
        .where(*where)
        .order_by(col(ConversionRule.id))
    )
    return [
        RuleOut(
            id=rule.id,
            code=rule.code,
            version=rule.version,
            state=rule.state,
            owner=owner_code,
            name_zh=rule.name_zh,
            name_en=rule.name_en,
            target_outcome=f"{target_code}:{outcome_code}",
            credits=credits(rule.credits_units) if rule.credits_units is not None else None,
            ratio=rule.ratio,
            source=RuleSource.parse(rule.source_json).public(),
            effective_from=rule.effective_from,
            effective_until=rule.effective_until,
            qualification_code=qualification_code,
            rejection_reason=rule.rejection_reason,
        )
        for rule, owner_code, target_code, outcome_code, qualification_code in rows
    ]


def rules(session: Session, *, state: str, owner_institution_id: int | None = None) -> list[RuleOut]:
    """Every rule in a state (of one owner, if given), oldest first: one query."""
    where = [col(ConversionRule.state) == state]
    if owner_institution_id is not None:
        where.append(col(ConversionRule.owner_institution_id) == owner_institution_id)
    return _rules(session, *where)


def rule_out(session: Session, rule: ConversionRule) -> RuleOut:
    return _rules(session, col(ConversionRule.id) == rule.id)[0]


# -- conversion requests ---------------------------------------------------------------------------


def conversions_out(session: Session, conversions: Sequence[Conversion]) -> list[ConversionOut]:
    """The answers for many requests: two queries (their rules, their locked lots)."""
    if not conversions:
        return []
    names = {
        rule_id: RuleRef(id=rule_id, code=code, version=version)
        for rule_id, code, version in session.execute(
            select(col(ConversionRule.id), col(ConversionRule.code), col(ConversionRule.version)).where(
                col(ConversionRule.id).in_({c.rule_id for c in conversions})
            )
        )
    }
    held: dict[str, list[LockedOut]] = defaultdict(list)
    for conversion_id, lot_id, units in session.execute(
        select(col(ConversionLot.conversion_id), col(ConversionLot.lot_id), col(ConversionLot.units))
        .where(col(ConversionLot.conversion_id).in_([c.id for c in conversions]))
        .order_by(col(ConversionLot.conversion_id), col(ConversionLot.lot_id))
    ):
        held[conversion_id].append(LockedOut(lot_id=lot_id, credits=credits(units)))
    return [
        ConversionOut(
            id=c.id,
            state=c.state,
            rule=names[c.rule_id],
            grant=credits(c.grant_units),
            bound_by_cap=c.bound_by_cap,
            locked=held[c.id],
            requested_at=c.requested_at.isoformat(),
            expires_at=c.expires_at.isoformat(),
            decided_at=c.decided_at.isoformat() if c.decided_at else None,
            reason=reasons.both(c.reason) or None,
            transaction_id=c.transaction_id,
            target_lot_id=c.target_lot_id,
        )
        for c in conversions
    ]


def conversion_out(session: Session, conversion: Conversion) -> ConversionOut:
    return conversions_out(session, [conversion])[0]


def learner_conversions(session: Session, *, learner_id: int) -> list[ConversionOut]:
    """A learner's own requests, newest first."""
    found = (
        session.execute(
            select(Conversion)
            .where(col(Conversion.learner_id) == learner_id)
            .order_by(col(Conversion.requested_at).desc())
        )
        .scalars()
        .all()
    )
    return conversions_out(session, found)


def institution_conversions(
    session: Session, *, institution_id: int, state: str, limit: int
) -> list[ConversionOut]:
    """Requests under the rules an institution owns, in one state, oldest first."""
    found = (
        session.execute(
            select(Conversion)
            .join(ConversionRule, col(ConversionRule.id) == col(Conversion.rule_id))
            .where(col(ConversionRule.owner_institution_id) == institution_id, col(Conversion.state) == state)
            .order_by(col(Conversion.requested_at))
            .limit(limit)
        )
        .scalars()
        .all()
    )
    return conversions_out(session, found)


# -- what a forced revocation undoes ---------------------------------------------------------------


@dataclass(frozen=True)
class Undone:
    """A conversion a forced revocation undoes (or undid), as the district office reads it: the
    rule, the course it granted and the school that granted it, the credits it granted and the
    credits it used (given back to the learner when it is reversed)."""

    id: str
    state: str
    rule_code: str
    rule_name_zh: str
    rule_name_en: str | None
    target_title_zh: str
    target_title_en: str | None
    owner_name_zh: str
    owner_name_en: str | None
    grant_units: int
    used_units: int

    @property
    def balance_change_units(self) -> int:
        """What undoing it does to the learner's balance: the credits it used come back, the
        credits it granted go. A request still waiting only locked credits: nothing."""
        if self.state != ConversionState.approved:
            return 0
        return self.used_units - self.grant_units


def undone(session: Session, conversions: Sequence[Conversion]) -> list[Undone]:
    """``conversions`` (``service.built_on``'s walk) in its order, in words: two queries."""
    if not conversions:
        return []
    ids = [c.id for c in conversions]
    used: dict[str, int] = dict(
        session.execute(
            select(col(ConversionLot.conversion_id), func.sum(col(ConversionLot.units)))
            .where(col(ConversionLot.conversion_id).in_(ids))
            .group_by(col(ConversionLot.conversion_id))
        ).all()
    )
    words: dict[int, tuple[str, str, str | None, str, str | None, str, str | None]] = {
        rule_id: (code, name_zh, name_en, title_zh, title_en, owner_zh, owner_en)
        for rule_id, code, name_zh, name_en, title_zh, title_en, owner_zh, owner_en in session.execute(
            select(
                col(ConversionRule.id),
                col(ConversionRule.code),
                col(ConversionRule.name_zh),
                col(ConversionRule.name_en),
                col(Outcome.title_zh),
                col(Outcome.title_en),
                col(Institution.name_zh),
                col(Institution.name_en),
            )
            .join(Outcome, col(Outcome.id) == col(ConversionRule.target_outcome_id))
            .join(Institution, col(Institution.id) == col(ConversionRule.owner_institution_id))
            .where(col(ConversionRule.id).in_({c.rule_id for c in conversions}))
        )
    }
    return [
        Undone(c.id, c.state, *words[c.rule_id], c.grant_units, int(used.get(c.id) or 0)) for c in conversions
    ]
