"""Recognition (学习激励): the seeds' 百姓学习之星 and 优秀学员.

Candidates are the learners with the most credits (or hours) in a period, per district and
category — only those who agreed in their portal to be named (``Learner.named_consent_at``). The
operator records an award; the learner sees it in the portal and can have it issued as a signed
certificate (an Open Badges 3.0 achievement of type ``Award``, ``certificates.service.issue``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from sqlalchemy import desc, func, select
from sqlmodel import Session, col

from creditbank.catalogue.models import Outcome
from creditbank.certificates import service as certificates
from creditbank.certificates.models import Certificate, CertificateKind
from creditbank.completions.models import Completion
from creditbank.errors import CreditbankError
from creditbank.kit import clock, text
from creditbank.kit.tokens import new_id
from creditbank.learners.models import Learner
from creditbank.stats.models import Award
from creditbank.stats.queries import Period, _active_in

TITLES = {
    "star": ("百姓学习之星", "Star of Lifelong Learning"),
    "outstanding": ("优秀学员", "Outstanding Learner"),
}
"""The awards the seeds name (皇城镇 2024: 优秀学员 rewards, 百姓学习之星 awards)."""


@dataclass(frozen=True)
class Candidate:
    rank: int
    account_no: str
    name: str
    district: str | None
    category: str
    credits_units: int
    hours: float
    completions: int


def _hours():
    return func.coalesce(col(Completion.hours), col(Outcome.hours), 0.0)


def candidates(
    session: Session,
    period: Period,
    *,
    district: str | None = None,
    category: str | None = None,
    by: Literal["credits", "hours"] = "credits",
    top: int = 5,
) -> list[Candidate]:
    """The ``top`` consenting learners per (district, category) by credits (or hours) of their
    active completions in the period; ties by the other measure, then by account."""
    units = func.sum(col(Completion.credits_units))
    hours = func.sum(_hours())
    first, second = (units, hours) if by == "credits" else (hours, units)
    rank = func.row_number().over(
        partition_by=(col(Learner.district), col(Outcome.category)),
        order_by=(desc(first), desc(second), col(Learner.account_no)),
    )
    inner = (
        select(
            rank.label("rank"),
            col(Learner.account_no),
            col(Learner.name),
            col(Learner.district),
            col(Outcome.category),
            units.label("units"),
            hours.label("hours"),
            func.count().label("n"),
        )
        .join(Learner, col(Learner.id) == col(Completion.learner_id))
        .join(Outcome, col(Outcome.id) == col(Completion.outcome_id))
        .where(*_active_in(period), col(Learner.named_consent_at).is_not(None))
        .group_by(
            col(Learner.id),
            col(Learner.account_no),
            col(Learner.name),
            col(Learner.district),
            col(Outcome.category),
        )
    )
    if district is not None:
        inner = inner.where(col(Learner.district) == district)
    if category is not None:
        inner = inner.where(col(Outcome.category) == category)
    ranked = inner.subquery("ranked")
    query = (
        select(ranked)
        .where(ranked.c.rank <= top)
        .order_by(ranked.c.district, ranked.c.category, ranked.c.rank)
    )
    return [
        Candidate(
            int(r.rank),
            r.account_no,
            r.name,
            r.district,
            r.category,
            int(r.units or 0),
            float(r.hours or 0),
            int(r.n),
        )
        for r in session.execute(query).all()
    ]


def withdrawn(session: Session, account_nos: list[str]) -> set[str]:
    """Which of these learners do not (or no longer) agree to be named."""
    found: set[str] = set()
    for start in range(0, len(account_nos), 1000):
        part = account_nos[start : start + 1000]
        found.update(
            session.execute(
                select(col(Learner.account_no)).where(
                    col(Learner.account_no).in_(part), col(Learner.named_consent_at).is_(None)
                )
            ).scalars()
        )
    return found


def set_consent(session: Session, *, learner_id: int, named: bool) -> Learner:
    learner = session.get(Learner, learner_id)
    if learner is None:
        raise CreditbankError("learner_not_found", {"ref": learner_id})
    if named and learner.named_consent_at is None:
        learner.named_consent_at = clock.now()
    elif not named:
        learner.named_consent_at = None
    session.add(learner)
    session.flush()
    return learner


def record(
    session: Session,
    *,
    account_no: str,
    title: str,
    period: Period,
    category: str | None = None,
    reason: str | None = None,
) -> Award:
    """Record an award for a consenting learner; what they earned in the period (in the category,
    if one is given) is kept with it, as the dashboard showed it."""
    learner = session.execute(
        select(Learner).where(col(Learner.account_no) == account_no)
    ).scalar_one_or_none()
    if learner is None:
        raise CreditbankError("learner_not_found", {"ref": account_no})
    if learner.named_consent_at is None:
        raise CreditbankError("award_not_consented")
    if title not in TITLES:
        raise CreditbankError("invalid_value", {"field": "title", "reason": " | ".join(TITLES)})
    query = (
        select(func.sum(col(Completion.credits_units)), func.sum(_hours()))
        .join(Outcome, col(Outcome.id) == col(Completion.outcome_id))
        .where(*_active_in(period), col(Completion.learner_id) == learner.id)
    )
    if category is not None:
        query = query.where(col(Outcome.category) == category)
    units, hours = session.execute(query).one()
    zh, en = TITLES[title]
    award = Award(
        id=new_id("awd"),
        learner_id=learner.id,
        title_zh=zh,
        title_en=en,
        district=learner.district,
        category=category,
        period_from=period.start,
        period_to=period.end,
        credits_units=int(units or 0),
        hours=float(hours or 0),
        reason=text.optional(reason, field="reason", max_length=500),
        awarded_at=clock.now(),
    )
    session.add(award)
    session.flush()
    return award


def listed(
    session: Session, *, learner_id: int | None = None, limit: int = 200
) -> list[tuple[Award, Learner]]:
    query = select(Award, Learner).join(Learner, col(Learner.id) == col(Award.learner_id))
    if learner_id is not None:
        query = query.where(col(Award.learner_id) == learner_id)
    rows = session.execute(query.order_by(desc(col(Award.awarded_at))).limit(limit)).all()
    return [(a, lr) for a, lr in rows]


def issue_certificate(
    session: Session, issuer: certificates.Issuer, *, learner_id: int, award_id: str, issued_by: str
) -> Certificate:
    """The award as a signed certificate (once; asking again returns the same one)."""
    award = session.get(Award, award_id)
    if award is None or award.learner_id != learner_id:
        raise CreditbankError("award_not_found", {"id": award_id})
    if award.certificate_id is not None:
        return certificates.get(session, award.certificate_id)
    learner = session.get(Learner, learner_id)
    assert learner is not None  # the award's foreign key
    certificate = certificates.issue(
        session,
        issuer,
        learner=learner,
        kind=CertificateKind.award,
        award=certificates.AwardFacts(
            award_id=award.id,
            title_zh=award.title_zh,
            title_en=award.title_en,
            reason=award.reason,
            district=award.district,
            category=award.category,
            period_from=award.period_from.isoformat(),
            period_to=award.period_to.isoformat(),
            credits_units=award.credits_units,
            hours=award.hours,
            awarded_on=award.awarded_at.date().isoformat(),
        ),
        issued_by=issued_by,
    )
    award.certificate_id = certificate.id
    session.add(award)
    session.flush()
    return certificate


def award_day(award: Award) -> date:
    return award.awarded_at.date()
