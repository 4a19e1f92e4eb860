"""The catalogue of learning outcomes, versioned (SPEC §3.3)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, func
from sqlmodel import Session, col, select

from creditbank.catalogue import logged
from creditbank.catalogue.models import Outcome
from creditbank.catalogue.schemas import OutcomeSpec
from creditbank.errors import CreditbankError
from creditbank.kit import clock


def credits_units_for(spec: OutcomeSpec, hours_per_credit: float) -> tuple[int, bool]:
    """Credits in hundredths; derived from hours (rounded down to 0.5) when not given.

    An outcome is worth more than 0 credits: a completion deposits its credits as a lot, and a
    lot of nothing is no credit a learner could see, spend or be certified for (docs/ledger.md).
    A 2-hour lecture is refused here, with the hours it would need, not later at every posting."""
    if spec.credits is not None:
        units = round(spec.credits * 100)
        if units <= 0:
            raise CreditbankError("credits_must_be_positive")
        return units, False
    if spec.hours is None:  # OutcomeSpec refuses this already; a spec built in code might not
        raise CreditbankError("credits_or_hours_required")
    halves = math.floor(spec.hours / hours_per_credit * 2 + 1e-9)
    if halves <= 0:
        raise CreditbankError(
            "hours_too_few_for_credit",
            {"min_hours": f"{hours_per_credit / 2:g}", "hours_per_credit": f"{hours_per_credit:g}"},
        )
    return halves * 50, True


def upsert(
    session: Session, *, institution_id: int, code: str, spec: OutcomeSpec, hours_per_credit: float
) -> tuple[Outcome, bool]:
    """Add a version when anything changed (and log it); an identical PUT returns the current version."""
    current = current_version(session, institution_id=institution_id, code=code)
    units, derived = credits_units_for(spec, hours_per_credit)
    fields: dict[str, Any] = dict(
        title_zh=spec.title_zh,
        title_en=spec.title_en,
        category=spec.category.value,
        level=spec.level,
        credits_units=units,
        hours=spec.hours,
        credits_from_hours=derived,
        validity_years=spec.validity_years,
        min_score=spec.min_score,
    )
    if current is not None and all(getattr(current, k) == v for k, v in fields.items()):
        return current, False
    outcome = Outcome(
        institution_id=institution_id,
        code=code,
        version=(current.version + 1) if current else 1,
        created_at=clock.now(),
        **fields,
    )
    session.add(outcome)
    session.flush()
    logged.append(session, outcome)  # what certificates will sign, tamper-evident from now on
    return outcome, True


def current_version(session: Session, *, institution_id: int, code: str) -> Outcome | None:
    return session.exec(
        select(Outcome)
        .where(Outcome.institution_id == institution_id, Outcome.code == code)
        .order_by(col(Outcome.version).desc())
        .limit(1)
    ).first()


def current_catalogue(session: Session, *, institution_id: int) -> dict[str, Outcome]:
    """The latest version of every outcome of an institution, by code."""
    latest = (
        select(Outcome.code, func.max(Outcome.version).label("v"))
        .where(Outcome.institution_id == institution_id)
        .group_by(Outcome.code)
        .subquery()
    )
    rows = session.exec(
        select(Outcome)
        .join(latest, (col(Outcome.code) == latest.c.code) & (col(Outcome.version) == latest.c.v))
        .where(Outcome.institution_id == institution_id)
        .order_by(Outcome.code)
    )
    return {o.code: o for o in rows}


_NAMED = (
    select(Outcome)
    .where(
        Outcome.institution_id == bindparam("institution_id"),
        col(Outcome.code).in_(bindparam("codes", expanding=True)),
    )
    .order_by(Outcome.code, col(Outcome.version).desc())
)
"""Every version of the named outcomes, newest first (built once: a completion post runs it)."""


def current_versions(session: Session, *, institution_id: int, codes: Iterable[str]) -> dict[str, Outcome]:
    """The latest version of each named outcome that exists, by code: what a post of these codes
    needs, without reading the rest of the catalogue (one query per 500 codes)."""
    wanted = sorted(set(codes))
    found: dict[str, Outcome] = {}
    for i in range(0, len(wanted), 500):
        for outcome in session.exec(
            _NAMED, params={"institution_id": institution_id, "codes": wanted[i : i + 500]}
        ):
            found.setdefault(outcome.code, outcome)  # newest first: the first row of a code wins
    return found


def versions(session: Session, *, institution_id: int, code: str) -> list[Outcome]:
    """Every version of one outcome, newest first (editing adds a version; none is ever changed)."""
    return list(
        session.exec(
            select(Outcome)
            .where(Outcome.institution_id == institution_id, Outcome.code == code)
            .order_by(col(Outcome.version).desc())
        )
    )
