"""What the district office configures for its statistics: the areas it must cover, the resident
population it measures participation against, its targets; and the awards it records."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

# The area list (区域名录) and the population are the bank's districts: enrolment and institutions
# check a district against them (institutions.districts), below the statistics, so they live there.
from creditbank.institutions.models import Area as Area
from creditbank.institutions.models import Population as Population


class AgeBand(StrEnum):
    """SPEC §3.9's bands, from the stored birth year (see ``stats.queries.age_band``)."""

    under_18 = "under_18"
    adult = "18_59"
    senior = "60_plus"


class Target(SQLModel, table=True):
    """A target the district is judged by, as a share (0.6 = 60 %); absent rows take the defaults."""

    __tablename__ = "stats_target"
    name: str = Field(primary_key=True, max_length=40)
    """A ``stats.service.TARGETS`` key."""
    share: float
    updated_at: datetime


class Award(SQLModel, table=True):
    """A recognition (学习激励) the operator recorded for a learner: 百姓学习之星, 优秀学员 …"""

    id: str = Field(primary_key=True, max_length=40)
    """``awd_`` + random."""
    learner_id: int = Field(foreign_key="learner.id", index=True)
    title_zh: str = Field(max_length=100)
    title_en: str | None = Field(default=None, max_length=100)
    district: str | None = Field(default=None, max_length=100)
    category: str | None = Field(default=None, max_length=32)
    """The category the learner was a candidate in; None when across all categories."""
    period_from: date
    period_to: date
    credits_units: int
    """Credits earned in the period and district/category, when the award was recorded."""
    hours: float
    reason: str | None = Field(default=None, max_length=500)
    awarded_at: datetime
    certificate_id: str | None = Field(default=None, foreign_key="certificate.id", max_length=40)
    """The signed certificate (kind ``award``) once issued."""


class Snapshot(SQLModel, table=True):
    """Statistics computed ahead for one (figures, period, district): what the dashboard, the JSON and
    the exports serve when computing them on every request has become too slow (``stats.snapshots``).

    Every worker reads the same rows; one worker at a time recomputes a row (``claimed_at``)."""

    __tablename__ = "stats_snapshot"
    key: str = Field(primary_key=True, max_length=200)
    """``kind|from|to|district``: kind ``dashboard``, ``recognition-credits`` or ``recognition-hours``;
    ``to`` is ``to-date`` for a period that ends on the day it is computed (the default: the year to
    date); district empty for all districts."""
    payload: str
    """The figures as JSON (``stats.snapshots``), exact: counts, fractions unrounded."""
    period_to: date
    """The last day the figures cover (for a ``to-date`` key: the day they were computed)."""
    ledger_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    """The ledger head (``ledger_head.seq``) the computation read first: every ledger transaction up
    to it is counted."""
    computed_at: datetime
    """When the computation started: the figures are as of then ("数据截至")."""
    compute_seconds: float
    """How long the computation took: below ``CREDITBANK_STATS_LIVE_SECONDS`` the figures are
    computed on every request instead of being served from here."""
    claimed_at: datetime | None = None
    """A worker is recomputing the row since then (a claim older than the row's timeout is void)."""
    requested_at: datetime | None = None
    """The office asked for fresh figures (立即更新) or changed what they show (population, targets,
    area list) at this time: the next request recomputes without waiting for the interval."""


class StoppedComputation(SQLModel, table=True):
    """A computation of kept statistics (a ``stats_snapshot`` key) that PostgreSQL stopped at
    ``CREDITBANK_STATS_STATEMENT_TIMEOUT_SECONDS``: for ``CREDITBANK_STATS_REFRESH_SECONDS`` after it,
    no worker starts it again by itself — the office is told it stopped (503 ``stats_timeout``, or
    beside the kept figures) instead of "being computed" while each view ran it again for as long.
    Removed when the figures are computed and kept."""

    __tablename__ = "stats_stopped"
    key: str = Field(primary_key=True, max_length=200)
    """The ``stats_snapshot`` key (``kind|from|to|district``)."""
    stopped_at: datetime
    limit_seconds: float
    """The statement timeout it ran into."""
