"""The dashboard's figures, each an SQL aggregation in the database (SQLite and PostgreSQL alike).

No row of completions, learners or certificates is loaded into Python: each query returns one row
per group. Where several figures share a scan, the database returns the finest cross-tab and the
coarser figures add its cells — valid because every learner falls into exactly one cell of
(district, 乡镇/街道, age band, gender), so distinct learners add up across cells
(``_learner_cells``). Category and month are not attributes of a learner (one person learns in
several), so they get their own ``COUNT(DISTINCT …)``. docs/statistics.md states every definition.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, extract, func, literal, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from creditbank.catalogue.models import Outcome
from creditbank.certificates.models import Certificate
from creditbank.completions.models import Completion, CompletionState
from creditbank.conversion.models import Conversion
from creditbank.db import may_lag
from creditbank.errors import CreditbankError
from creditbank.institutions.models import Institution, InstitutionState
from creditbank.kit import clock
from creditbank.learners.models import Learner
from creditbank.stats.figures import ALL, Chart, Column, Figure, label, labelled
from creditbank.stats.models import AgeBand, Area, Population, Target
from creditbank.verification.models import VerificationTally

CHINA = ZoneInfo("Asia/Shanghai")
GROUPS = ("district", "township", "age_band", "gender", "category", "month")
Group = Literal["district", "township", "age_band", "gender", "category", "month"]

TARGETS: dict[str, tuple[float, str, str]] = {
    "participation": (0.60, "社区居民学习参与率", "residents' learning participation"),
    "senior_participation": (0.20, "老年人学习参与率", "participation of residents aged 60 and over"),
    "township_coverage": (0.80, "乡镇/街道覆盖率", "乡镇/街道 (towns and subdistricts) covered"),
    "village_coverage": (0.60, "村/社区覆盖率", "村/社区 (villages and communities) covered"),
}
"""name → (default share, zh, en). 60 %, 80 %, 60 % are the seed plan's targets (景德镇 2020: 乡镇街道
覆盖率 ≥ 80 %, 村社区 ≥ 60 %, 社区居民学习参与率 ≥ 60 %). The seeds ask only for a *rising* seniors'
rate; 20 % is the national 老年教育发展规划 (2016—2020) figure for seniors taking part in education
regularly. Every target can be changed on the dashboard or by ``PUT /api/v1/stats/targets``."""


FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2199, 12, 31)


@dataclass(frozen=True)
class Period:
    """Completion dates from ``start`` to ``end``, both included (China's calendar days)."""

    start: date
    end: date

    @classmethod
    def of(cls, start: date | None, end: date | None) -> Period:
        """Default: the calendar year to date — the year a participation rate is reported for."""
        end = end or clock.today()
        start = start or date(end.year, 1, 1)
        if start > end:
            raise CreditbankError("stats_period_invalid", {"from": start.isoformat(), "to": end.isoformat()})
        # Year 1 or 9999 overflowed the UTC conversion (a 500) and a month grouping over them made
        # 120 000 empty rows; no learning record the bank holds lies outside these years.
        for day in (start, end):
            if not FIRST_DAY <= day <= LAST_DAY:
                raise CreditbankError(
                    "stats_period_out_of_range",
                    {"date": day.isoformat(), "first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat()},
                )
        return cls(start, end)

    def instants(self) -> tuple[datetime, datetime]:
        """[first instant, first instant after) of the period in UTC, for timestamps."""
        first = datetime.combine(self.start, time(), CHINA).astimezone(UTC)
        after = datetime.combine(self.end + timedelta(days=1), time(), CHINA).astimezone(UTC)
        return first, after


def age_band(period: Period) -> ColumnElement[str]:
    """The band of a learner's age in the period's last year: that year minus the stored birth year
    (only the year is kept, docs/privacy.md), so someone born in 1966 counts as 60 all of 2026."""
    year = period.end.year
    return case(
        (col(Learner.birth_year) > year - 18, literal(AgeBand.under_18.value)),
        (col(Learner.birth_year) <= year - 60, literal(AgeBand.senior.value)),
        else_=literal(AgeBand.adult.value),
    )


def _active_in(period: Period) -> list[ColumnElement[bool]]:
    return [
        col(Completion.state) == CompletionState.active.value,
        col(Completion.completed_on) >= period.start,
        col(Completion.completed_on) <= period.end,
    ]


def _int(value: Any) -> int:
    return int(value or 0)


# -- participation ---------------------------------------------------------------------------------

PARTICIPATION_COLUMNS = (
    Column("label", "分组", "group", "label"),
    Column("learners", "参与人数", "learners"),
    Column("completions", "人次", "completions"),
)
GROUP_TITLES = {
    "district": ("按区县的学习参与", "Participation by district"),
    "township": ("按乡镇/街道的学习参与", "Participation by 乡镇/街道 (town or subdistrict)"),
    "age_band": ("按年龄段的学习参与", "Participation by age band"),
    "gender": ("按性别的学习参与", "Participation by gender"),
    "category": ("按学习类别的学习参与", "Participation by kind of learning"),
    "month": ("按月的学习参与", "Participation by month"),
}


@dataclass(frozen=True)
class Cell:
    district: str | None
    township: str | None
    age_band: str
    gender: str
    learners: int
    completions: int


def learner_cells(session: Session, period: Period, district: str | None = None) -> list[Cell]:
    """Distinct learners with an active completion in the period and their completions (人次), per
    (district, 乡镇/街道, age band, gender): one scan, one row per cell."""
    per_learner = (
        select(col(Completion.learner_id).label("learner_id"), func.count().label("n"))
        .where(*_active_in(period))
        .group_by(col(Completion.learner_id))
        .subquery("per_learner")
    )
    band = age_band(period).label("band")
    query = (
        select(
            col(Learner.district),
            col(Learner.township),
            band,
            col(Learner.gender),
            func.count().label("learners"),
            func.sum(per_learner.c.n).label("completions"),
        )
        .select_from(per_learner)
        .join(Learner, col(Learner.id) == per_learner.c.learner_id)
        .group_by(col(Learner.district), col(Learner.township), band, col(Learner.gender))
    )
    if district is not None:
        query = query.where(col(Learner.district) == district)
    return [Cell(d, t, b, g, _int(n), _int(c)) for d, t, b, g, n, c in session.execute(query).all()]


def _per_completion(
    session: Session, period: Period, key: Any, district: str | None, *, outcome: bool
) -> list[tuple[Any, int, int]]:
    query = select(key, func.count(func.distinct(col(Completion.learner_id))), func.count()).where(
        *_active_in(period)
    )
    if outcome:
        query = query.join(Outcome, col(Outcome.id) == col(Completion.outcome_id))
    if district is not None:
        query = query.join(Learner, col(Learner.id) == col(Completion.learner_id)).where(
            col(Learner.district) == district
        )
    return [(k, _int(n), _int(c)) for k, n, c in session.execute(query.group_by(key)).all()]


def _months(period: Period) -> list[str]:
    months, year, month = [], period.start.year, period.start.month
    while (year, month) <= (period.end.year, period.end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def participation(
    session: Session,
    period: Period,
    group_by: Group,
    *,
    district: str | None = None,
    cells: list[Cell] | None = None,
) -> Figure:
    """Distinct learners with an active completion in the period, and 人次, per group."""
    rows: list[dict[str, Any]]
    if group_by in ("district", "township", "age_band", "gender"):
        cells = cells if cells is not None else learner_cells(session, period, district)
        sums: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
        for c in cells:
            key: Any = {
                "district": c.district,
                "township": (c.district, c.township) if c.township else None,
                "age_band": c.age_band,
                "gender": c.gender,
            }[group_by]
            sums[key][0] += c.learners
            sums[key][1] += c.completions
        if group_by == "age_band":
            order: Iterable[Any] = [b.value for b in AgeBand]
        elif group_by == "gender":
            order = ["female", "male", *sorted(k for k in sums if k not in ("female", "male"))]
        else:
            order = sorted(sums, key=lambda k: (k is None, k or ""))
        rows = []
        for key in order:
            learners, completions = sums.get(key, [0, 0])
            if group_by == "township" and key is not None:
                rows.append(
                    {
                        "key": f"{key[0] or ''} {key[1]}".strip(),
                        "label_zh": f"{key[0] or ''}{key[1]}",
                        "label_en": f"{key[0] or ''} {key[1]}".strip(),
                        "district": key[0],
                        "township": key[1],
                        "learners": learners,
                        "completions": completions,
                    }
                )
            elif group_by in ("age_band", "gender") or key in sums:
                rows.append(labelled(group_by, key, learners=learners, completions=completions))
    elif group_by == "category":
        found = {
            k: (n, c)
            for k, n, c in _per_completion(session, period, col(Outcome.category), district, outcome=True)
        }
        rows = [labelled("category", k, learners=n, completions=c) for k, (n, c) in sorted(found.items())]
    elif group_by == "month":
        year, month = (
            extract("year", col(Completion.completed_on)),
            extract("month", col(Completion.completed_on)),
        )
        query = (
            select(year, month, func.count(func.distinct(col(Completion.learner_id))), func.count())
            .where(*_active_in(period))
            .group_by(year, month)
        )
        if district is not None:
            query = query.join(Learner, col(Learner.id) == col(Completion.learner_id)).where(
                col(Learner.district) == district
            )
        found = {f"{int(y):04d}-{int(m):02d}": (_int(n), _int(c)) for y, m, n, c in session.execute(query)}
        rows = [
            labelled("month", k, learners=found.get(k, (0, 0))[0], completions=found.get(k, (0, 0))[1])
            for k in _months(period)
        ]
    else:
        raise CreditbankError("stats_group_unknown", {"group_by": group_by, "allowed": ", ".join(GROUPS)})
    zh, en = GROUP_TITLES[group_by]
    return Figure(
        f"participation-{group_by}",
        zh,
        en,
        PARTICIPATION_COLUMNS,
        rows,
        Chart(("learners", "completions"), "line" if group_by == "month" else "bar"),
        period.start,
        period.end,
        [
            (
                "参与人数：期间内至少有一条有效学习成果记录的不同学习者人数；人次：这些记录的条数。",
                "Learners: distinct learners with at least one active completion in the period; "
                "completions (人次): how many such records.",
            )
        ],
    )


# -- participation rate ----------------------------------------------------------------------------

RATE_COLUMNS = (
    Column("label", "区县", "district", "label"),
    Column("band", "年龄段", "age band", "label"),
    Column("learners", "参与人数", "learners"),
    Column("residents", "常住人口", "residents"),
    Column("rate", "参与率", "rate", "percent"),
    Column("target", "目标", "target", "percent"),
    Column("met", "是否达标", "target met", "label"),
)


def targets(session: Session) -> dict[str, float]:
    stored: dict[str, float] = {}
    for name, share in session.execute(select(col(Target.name), col(Target.share))).all():
        stored[name] = share
    return {name: stored.get(name, default) for name, (default, _, _) in TARGETS.items()}


def _met(rate: float | None, target: float | None) -> dict[str, str] | None:
    if rate is None or target is None:
        return None
    return {"zh": "✓ 达标", "en": "✓ met"} if rate >= target else {"zh": "✗ 未达标", "en": "✗ not met"}


def participation_rate(
    session: Session, period: Period, *, district: str | None = None, cells: list[Cell] | None = None
) -> Figure:
    """Per district with a population entered: participants ÷ residents, overall and per age band."""
    cells = cells if cells is not None else learner_cells(session, period, district)
    goal = targets(session)
    learners: dict[tuple[str | None, str], int] = defaultdict(int)
    for c in cells:
        learners[(c.district, c.age_band)] += c.learners
    query = select(col(Population.district), col(Population.age_band), col(Population.residents))
    if district is not None:
        query = query.where(col(Population.district) == district)
    population: dict[str, dict[str, int]] = defaultdict(dict)
    for d, band, residents in session.execute(query).all():
        population[d][band] = residents
    rows: list[dict[str, Any]] = []
    bands = [b.value for b in AgeBand]
    for d in sorted(population):
        entered = population[d]
        complete = all(b in entered for b in bands)
        total_learners = sum(learners[(d, b)] for b in bands)
        total_residents = sum(entered.values()) if complete else None
        for band in ("all", *bands):
            n = total_learners if band == "all" else learners[(d, band)]
            residents = total_residents if band == "all" else entered.get(band)
            rate = n / residents if residents else None
            target = goal["participation"] if band == "all" else None
            if band == AgeBand.senior.value:
                target = goal["senior_participation"]
            band_zh, band_en = ALL if band == "all" else label("age_band", band)
            met = _met(rate, target)
            rows.append(
                {
                    "key": f"{d}/{band}",
                    "district": d,
                    "age_band": band,
                    "label_zh": d,
                    "label_en": d,
                    "band_zh": band_zh,
                    "band_en": band_en,
                    "learners": n,
                    "residents": residents,
                    "rate": rate,
                    "target": target,
                    "met_zh": met["zh"] if met else None,
                    "met_en": met["en"] if met else None,
                }
            )
    return Figure(
        "participation-rate",
        "学习参与率（对照常住人口）",
        "Participation rate against the resident population",
        RATE_COLUMNS,
        rows,
        Chart(("rate",), "bar", target="target"),
        period.start,
        period.end,
        [
            (
                "参与率 = 期间内有有效学习成果记录、登记住址在该区县（该年龄段）的不同学习者人数 ÷ 该区县（该年龄段）"
                "常住人口。年龄按期间最后一年减出生年份计算。全部 = 三个年龄段之和，须三段人口都已录入。",
                "Rate = distinct learners living in the district (in the age band) with an active completion in "
                "the period ÷ the district's resident population (in that band). Age = the period's last year "
                "minus the birth year. 'all' adds the three bands and needs all three populations entered.",
            )
        ],
    )


# -- coverage --------------------------------------------------------------------------------------

COVERAGE_COLUMNS = (
    Column("label", "区县", "district", "label"),
    Column("townships", "乡镇/街道数", "乡镇/街道"),
    Column("townships_covered", "有机构的乡镇/街道", "乡镇/街道 covered"),
    Column("township_coverage", "乡镇/街道覆盖率", "乡镇/街道 coverage", "percent"),
    Column("township_target", "目标", "target", "percent"),
    Column("villages", "村/社区数", "村/社区"),
    Column("villages_covered", "有机构的村/社区", "村/社区 covered"),
    Column("village_coverage", "村/社区覆盖率", "村/社区 coverage", "percent"),
    Column("village_target", "目标", "target", "percent"),
)


def coverage(session: Session, *, district: str | None = None) -> Figure:
    """Per district of the area list: the share of its 乡镇/街道 where at least one accredited
    institution stands, and of its 村/社区 likewise (a 村/社区 institution also covers its 乡镇/街道)."""
    accredited = col(Institution.state) == InstitutionState.accredited.value
    in_township = exists().where(
        accredited,
        col(Institution.district) == col(Area.district),
        col(Institution.township) == col(Area.township),
    )
    in_village = exists().where(
        accredited,
        col(Institution.district) == col(Area.district),
        col(Institution.township) == col(Area.township),
        col(Institution.village) == col(Area.village),
    )
    is_township = col(Area.village) == ""
    query = select(
        col(Area.district),
        func.sum(case((is_township, 1), else_=0)),
        func.sum(case((and_(is_township, in_township), 1), else_=0)),
        func.sum(case((is_township, 0), else_=1)),
        func.sum(case((and_(~is_township, in_village), 1), else_=0)),
    ).group_by(col(Area.district))
    if district is not None:
        query = query.where(col(Area.district) == district)
    goal = targets(session)
    rows = []
    totals = [0, 0, 0, 0]
    for d, townships, t_cov, villages, v_cov in session.execute(query.order_by(col(Area.district))).all():
        numbers = [_int(townships), _int(t_cov), _int(villages), _int(v_cov)]
        totals = [a + b for a, b in zip(totals, numbers)]
        rows.append(_coverage_row(d, d, numbers, goal))
    if len(rows) > 1:
        rows.append(_coverage_row(ALL[0], ALL[1], totals, goal, key=None))
    return Figure(
        "coverage",
        "社区教育机构覆盖率",
        "Coverage by accredited institutions",
        COVERAGE_COLUMNS,
        rows,
        Chart(("township_coverage", "village_coverage"), "bar"),
        notes=[
            (
                "乡镇/街道覆盖率 = 至少有一所已认证机构（登记在该乡镇/街道或其下的村/社区）的乡镇/街道数 ÷ 区域名录中的"
                "乡镇/街道数；村/社区覆盖率 = 至少有一所已认证机构登记在该村/社区的村/社区数 ÷ 名录中的村/社区数。"
                "机构的区县、乡镇/街道、村/社区名称须与名录一致。",
                "乡镇/街道 coverage = 乡镇/街道 of the area list with at least one accredited institution "
                "registered there (or in one of its 村/社区) ÷ all 乡镇/街道 of the list; 村/社区 coverage = "
                "村/社区 with at least one accredited institution registered there ÷ all 村/社区 of the list. "
                "Names must match the list exactly.",
            )
        ],
    )


def _coverage_row(
    zh: str, en: str, numbers: list[int], goal: dict[str, float], key: str | None = "same"
) -> dict[str, Any]:
    townships, t_cov, villages, v_cov = numbers
    return {
        "key": zh if key == "same" else key,
        "label_zh": zh,
        "label_en": en,
        "townships": townships,
        "townships_covered": t_cov,
        "township_coverage": t_cov / townships if townships else None,
        "township_target": goal["township_coverage"],
        "villages": villages,
        "villages_covered": v_cov,
        "village_coverage": v_cov / villages if villages else None,
        "village_target": goal["village_coverage"],
    }


# -- credits, conversions, certificates ------------------------------------------------------------

CREDITS_COLUMNS = (
    Column("label", "机构", "institution", "label"),
    Column("category", "学习类别", "kind of learning", "label"),
    Column("completions", "人次", "completions"),
    Column("credits", "学分", "credits", "credits"),
)


def credits(session: Session, period: Period, *, district: str | None = None) -> Figure:
    """Credits of the active completions in the period, per institution and category."""
    query = (
        select(
            col(Institution.code),
            col(Institution.name_zh),
            col(Institution.name_en),
            col(Outcome.category),
            func.count(),
            func.sum(col(Completion.credits_units)),
        )
        .join(Institution, col(Institution.id) == col(Completion.institution_id))
        .join(Outcome, col(Outcome.id) == col(Completion.outcome_id))
        .where(*_active_in(period))
        .group_by(
            col(Institution.code), col(Institution.name_zh), col(Institution.name_en), col(Outcome.category)
        )
        .order_by(col(Institution.code), col(Outcome.category))
    )
    if district is not None:
        query = query.where(col(Institution.district) == district)
    rows = []
    for code, name_zh, name_en, category, n, units in session.execute(query).all():
        category_zh, category_en = label("category", category)
        rows.append(
            {
                "key": f"{code}/{category}",
                "institution": code,
                "label_zh": name_zh,
                "label_en": name_en or name_zh,
                "category_key": category,
                "category_zh": category_zh,
                "category_en": category_en,
                "completions": _int(n),
                "credits": _int(units),
            }
        )
    return Figure(
        "credits",
        "各机构按类别颁发的学分",
        "Credits issued per institution and kind of learning",
        CREDITS_COLUMNS,
        rows,
        Chart(("credits",), "hbar"),
        period.start,
        period.end,
        [
            (
                "学分：期间内有效学习成果记录的学分之和（不含转换所得）。",
                "Credits of the active completions in the period (conversions not included).",
            )
        ],
    )


CONVERSION_COLUMNS = (
    Column("label", "状态", "state", "label"),
    Column("requests", "申请数", "requests"),
    Column("credits", "转换学分", "credits granted", "credits"),
)


def conversions(session: Session, period: Period) -> Figure:
    """Conversion requests made in the period, by their state today."""
    first, after = period.instants()
    query = (
        select(col(Conversion.state), func.count(), func.sum(col(Conversion.grant_units)))
        .where(col(Conversion.requested_at) >= first, col(Conversion.requested_at) < after)
        .group_by(col(Conversion.state))
    )
    found = {state: (_int(n), _int(units)) for state, n, units in session.execute(query).all()}
    order = ["approved", "rejected", "pending", "expired", "reversed", "withdrawn", "superseded"]
    rows = [
        labelled(
            "state",
            s,
            requests=found.get(s, (0, 0))[0],
            credits=found.get(s, (0, 0))[1] if s == "approved" else None,
        )
        for s in [*order, *sorted(set(found) - set(order))]
    ]
    return Figure(
        "conversions",
        "学分转换申请",
        "Conversion requests",
        CONVERSION_COLUMNS,
        rows,
        Chart(("requests",), "bar"),
        period.start,
        period.end,
        [
            (
                "期间内提出的转换申请，按目前状态计数；转换学分为已批准申请授予的学分。",
                "Requests made in the period, by their state today; credits granted by the approved ones.",
            )
        ],
    )


CERTIFICATE_COLUMNS = (
    Column("label", "证书种类", "kind", "label"),
    Column("issued", "签发", "issued"),
    Column("revoked", "撤销", "revoked"),
    Column("verifications", "核验次数", "verifications"),
    Column("verified", "被核验的证书", "certificates verified"),
)


def certificates(session: Session, period: Period) -> Figure:
    """Certificates issued and revoked in the period, and how often they were verified."""
    first, after = period.instants()
    own = col(Certificate.parent_id).is_(None)  # a transcript's lines are part of the transcript
    issued = dict(
        session.execute(
            select(col(Certificate.kind), func.count())
            .where(own, col(Certificate.issued_at) >= first, col(Certificate.issued_at) < after)
            .group_by(col(Certificate.kind))
        ).all()
    )
    revoked = dict(
        session.execute(
            select(col(Certificate.kind), func.count())
            .where(own, col(Certificate.revoked_at) >= first, col(Certificate.revoked_at) < after)
            .group_by(col(Certificate.kind))
        ).all()
    )
    verified = {
        kind: (_int(n), _int(k))
        for kind, n, k in session.execute(
            select(
                col(Certificate.kind),
                func.sum(col(VerificationTally.count)),
                func.count(func.distinct(col(VerificationTally.certificate_id))),
            )
            .join(Certificate, col(Certificate.id) == col(VerificationTally.certificate_id))
            .where(col(VerificationTally.day) >= period.start, col(VerificationTally.day) <= period.end)
            .group_by(col(Certificate.kind))
        ).all()
    }
    kinds = ["achievement", "transcript", "conversion", "qualification", "award"]
    kinds += sorted((set(issued) | set(revoked) | set(verified)) - set(kinds))
    rows = [
        labelled(
            "kind",
            k,
            issued=_int(issued.get(k)),
            revoked=_int(revoked.get(k)),
            verifications=verified.get(k, (0, 0))[0],
            verified=verified.get(k, (0, 0))[1],
        )
        for k in kinds
    ]
    return Figure(
        "certificates",
        "证书签发、撤销与核验",
        "Certificates issued, revoked and verified",
        CERTIFICATE_COLUMNS,
        rows,
        Chart(("issued", "revoked", "verified"), "bar"),
        period.start,
        period.end,
        [
            (
                "签发、撤销：期间内（北京时间）签发或撤销的证书数（成绩单中的各行不单独计数）。核验次数：按编号、二维码、"
                "上传文件核验该证书的次数；被核验的证书：期间内至少被核验一次的不同证书数。",
                "Issued, revoked: certificates issued or revoked in the period (Beijing days; a transcript's "
                "lines are not counted apart). Verifications: checks by id, QR or upload; certificates "
                "verified: distinct certificates checked at least once in the period.",
            )
        ],
    )


# -- the dashboard ---------------------------------------------------------------------------------

FIGURES = (
    "participation-district",
    "participation-township",
    "participation-age_band",
    "participation-gender",
    "participation-category",
    "participation-month",
    "participation-rate",
    "coverage",
    "credits",
    "conversions",
    "certificates",
)


@may_lag()  # the office's figures: a few seconds behind the primary is fine (docs/scale.md)
def figure(session: Session, name: str, period: Period, *, district: str | None = None) -> Figure:
    if name.startswith("participation-") and name != "participation-rate":
        group = name.removeprefix("participation-")
        if group not in GROUPS:
            raise CreditbankError("stats_figure_unknown", {"figure": name, "allowed": ", ".join(FIGURES)})
        return participation(session, period, group, district=district)  # type: ignore[arg-type]
    if name == "participation-rate":
        return participation_rate(session, period, district=district)
    if name == "coverage":
        return coverage(session, district=district)
    if name == "credits":
        return credits(session, period, district=district)
    if name == "conversions":
        return conversions(session, period)
    if name == "certificates":
        return certificates(session, period)
    raise CreditbankError("stats_figure_unknown", {"figure": name, "allowed": ", ".join(FIGURES)})


@may_lag()
def dashboard(session: Session, period: Period, *, district: str | None = None) -> list[Figure]:
    """Every figure, with one scan of the learner cells shared by the five that read them."""
    cells = learner_cells(session, period, district)
    figures = [
        participation(session, period, g, district=district, cells=cells)  # type: ignore[arg-type]
        for g in GROUPS
    ]
    figures.insert(0, participation_rate(session, period, district=district, cells=cells))
    figures.append(coverage(session, district=district))
    figures.append(credits(session, period, district=district))
    figures.append(conversions(session, period))
    figures.append(certificates(session, period))
    return figures
