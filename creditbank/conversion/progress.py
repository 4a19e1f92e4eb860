"""Progress toward a qualification: what counts, what is missing, what conversions would add."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from creditbank.catalogue.models import CATEGORY_ZH, Outcome
from creditbank.conversion import rules as engine
from creditbank.conversion import service
from creditbank.conversion.models import Conversion, ConversionRule, Qualification, RuleState
from creditbank.db import referenced
from creditbank.institutions.models import Institution
from creditbank.kit import clock
from creditbank.learners.models import Learner
from creditbank.ledger.models import Lot
from creditbank.ledger.queries import lot_live

WARN_DAYS = 90


def _credits(units: int) -> float:
    return units / 100


def _text(units: int) -> str:
    return f"{units / 100:g}"


def _credits_en(units: int, kind: str = "") -> str:
    """ "1 credit", "1.5 credits" ("1 academic credit"): one is singular in English."""
    return f"{_text(units)} {kind + ' ' if kind else ''}credit{'' if abs(units) == 100 else 's'}"


# -- what progress says (read by the API and by certificates) ----------------------------------


@dataclasses.dataclass(frozen=True)
class Missing:
    """One thing still missing, said for a person."""

    zh: str
    en: str

    def as_dict(self) -> dict[str, str]:
        return {"zh": self.zh, "en": self.en}


@dataclasses.dataclass(frozen=True)
class RequirementStatus:
    """One requirement of the qualification: an outcome to hold, or credits of a category."""

    met: bool
    missing: Missing | None
    outcome: str | None = None
    title_zh: str | None = None
    title_en: str | None = None
    category: str | None = None
    min_units: int = 0
    counted_units: int = 0

    def as_dict(self) -> dict[str, Any]:
        missing = self.missing.as_dict() if self.missing else None
        if self.outcome is not None:
            return {
                "outcome": self.outcome,
                "title_zh": self.title_zh,
                "title_en": self.title_en,
                "met": self.met,
                "missing": missing,
            }
        return {
            "category": self.category,
            "min_credits": _credits(self.min_units),
            "counted": _credits(self.counted_units),
            "met": self.met,
            "missing": missing,
        }


@dataclasses.dataclass(frozen=True)
class Totals:
    required_units: int
    counted_units: int
    transferred_units: int
    missing_units: int

    def as_dict(self) -> dict[str, float]:
        return {
            "required": _credits(self.required_units),
            "counted": _credits(self.counted_units),
            "transferred": _credits(self.transferred_units),
            "missing": _credits(self.missing_units),
        }


@dataclasses.dataclass(frozen=True)
class WouldApply:
    """A conversion the what-if applied: the rule and what it would grant."""

    rule_id: int
    rule_code: str
    rule_version: int
    grant_units: int
    bound_by_cap: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": {"id": self.rule_id, "code": self.rule_code, "version": self.rule_version},
            "grant": _credits(self.grant_units),
            "bound_by_cap": self.bound_by_cap,
        }


@dataclasses.dataclass(frozen=True)
class WhatIf:
    conversions: tuple[WouldApply, ...]
    total_after_units: int
    met_after: bool
    still_missing: tuple[Missing, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversions": [c.as_dict() for c in self.conversions],
            "total_after": _credits(self.total_after_units),
            "met_after": self.met_after,
            "still_missing": [m.as_dict() for m in self.still_missing],
        }


@dataclasses.dataclass(frozen=True)
class ExpiryWarning:
    lot_id: str
    title_zh: str
    units: int
    expires_on: date
    zh: str
    en: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "lot_id": self.lot_id,
            "title_zh": self.title_zh,
            "credits": _credits(self.units),
            "expires_on": self.expires_on.isoformat(),
            "zh": self.zh,
            "en": self.en,
        }


@dataclasses.dataclass(frozen=True)
class NotCounted:
    """Credits converted under a rule bound to another qualification: they count there, not here."""

    lot_id: str
    title_zh: str
    title_en: str | None
    units: int
    rule_code: str
    qualification_code: str

    def as_dict(self) -> dict[str, Any]:
        text = _text(self.units)
        return {
            "lot_id": self.lot_id,
            "title_zh": self.title_zh,
            "credits": _credits(self.units),
            "rule": self.rule_code,
            "counts_toward": self.qualification_code,
            "zh": f"「{self.title_zh}」{text} 学分按转换规则 {self.rule_code} 转换，计入资历 "
            f"{self.qualification_code}，不计入本资历",
            "en": f"{_credits_en(self.units)} of “{self.title_en or self.title_zh}” "
            f"{'was' if self.units == 100 else 'were'} converted under rule "
            f"{self.rule_code} for {self.qualification_code} and "
            f"{'does' if self.units == 100 else 'do'} not count here",
        }


@dataclasses.dataclass(frozen=True)
class Progress:
    """How far a learner is from a qualification (``GET /me/progress/{code}`` is ``as_dict()``)."""

    qualification: dict[str, Any]
    met: bool
    total: Totals
    requirements: tuple[RequirementStatus, ...]
    not_counted: tuple[NotCounted, ...]
    what_if: WhatIf
    warnings: tuple[ExpiryWarning, ...]

    def shortfall(self) -> list[Missing]:
        """What is missing now: each unmet requirement, then the total if it is short."""
        missing = [r.missing for r in self.requirements if not r.met and r.missing is not None]
        if self.total.missing_units:
            text = _text(self.total.missing_units)
            missing.append(Missing(f"总学分还差 {text}", f"{text} more credits in total"))
        return missing

    def as_dict(self) -> dict[str, Any]:
        return {
            "qualification": self.qualification,
            "met": self.met,
            "total": self.total.as_dict(),
            "requirements": [r.as_dict() for r in self.requirements],
            "not_counted": [n.as_dict() for n in self.not_counted],
            "what_if": self.what_if.as_dict(),
            "warnings": [w.as_dict() for w in self.warnings],
        }


def qualification_out(session: Session, q: Qualification) -> dict[str, Any]:
    requirements = []
    for r in json.loads(q.requirements_json):
        if "outcome" in r:
            _, outcome = service.resolve_ref(session, r["outcome"])
            requirements.append(
                {"outcome": r["outcome"], "title_zh": outcome.title_zh, "title_en": outcome.title_en}
            )
        else:
            requirements.append({"category": r["category"], "min_credits": _credits(r["min_units"])})
    rules = session.execute(
        select(col(ConversionRule.id), col(ConversionRule.code), col(ConversionRule.version)).where(
            col(ConversionRule.qualification_id) == q.id, col(ConversionRule.state) == RuleState.approved
        )
    ).all()
    return {
        "code": q.code,
        "version": q.version,
        "owner": referenced(session, Institution, q.owner_institution_id).code,
        "name_zh": q.name_zh,
        "name_en": q.name_en,
        "total_credits": _credits(q.total_units),
        "max_transfer_ratio": q.max_transfer_ratio,
        "per_year_cap": _credits(q.per_year_cap_units) if q.per_year_cap_units is not None else None,
        "per_institution_cap": _credits(q.per_institution_cap_units)
        if q.per_institution_cap_units is not None
        else None,
        "requirements": requirements,
        "conversion_rules": [{"id": i, "code": c, "version": v} for i, c, v in rules],
    }


@dataclasses.dataclass
class _Counted:
    units: int
    category: str
    ref: str
    lot_id: str | None = None


def counted_lots(session: Session, learner: Learner, code: str) -> tuple[Qualification, list[str]]:
    """The lots a qualification certificate rests on (only once ``progress`` says it is met)."""
    q = service.get_qualification(session, code)
    counted, _ = _counted(session, learner, q)
    return q, [c.lot_id for c in counted if c.units > 0 and c.lot_id is not None]


@dataclasses.dataclass
class _Excluded:
    units: int
    category: str
    lot_id: str
    title_zh: str
    title_en: str | None
    rule_code: str
    qualification_code: str


def _counted(session: Session, learner: Learner, q: Qualification) -> tuple[list[_Counted], int]:
    counted, transferred, _ = _counted_and_excluded(session, learner, q)
    return counted, transferred


def _counted_and_excluded(
    session: Session, learner: Learner, q: Qualification
) -> tuple[list[_Counted], int, list[_Excluded]]:
    """Lots that count: earned at the qualification's institution, or converted into it — by a
    rule of this qualification, or by a rule bound to no qualification. Credits converted by a
    rule bound to another qualification do not count here, and are listed with that rule."""
    conversions = {
        target: (rule_code, qualification_code)
        for target, rule_code, qualification_code in session.execute(
            select(col(Conversion.target_lot_id), col(ConversionRule.code), col(Qualification.code))
            .join(ConversionRule, col(ConversionRule.id) == col(Conversion.rule_id))
            .outerjoin(Qualification, col(Qualification.id) == col(Conversion.qualification_id))
            .where(col(Conversion.learner_id) == learner.id, col(Conversion.target_lot_id).is_not(None))
        )
    }
    rows = session.execute(
        select(Lot, Outcome, Institution)
        .join(Outcome, col(Outcome.id) == col(Lot.outcome_id))
        .join(Institution, col(Institution.id) == col(Lot.institution_id))
        .where(col(Lot.learner_id) == learner.id, lot_live())
    )
    counted, transferred, excluded = [], 0, []
    for lot, outcome, institution in rows:
        left = lot.amount_units - lot.consumed_units
        native = lot.institution_id == q.owner_institution_id and lot.conversion_id is None
        rule_code, bound_to = conversions.get(lot.id, (None, None))
        converted_here = lot.conversion_id is not None and (
            bound_to == q.code or (bound_to is None and lot.institution_id == q.owner_institution_id)
        )
        if native or converted_here:
            counted.append(_Counted(left, lot.category, f"{institution.code}:{outcome.code}", lot.id))
            if not native:
                transferred += left
        elif lot.conversion_id is not None and bound_to is not None and left > 0:
            excluded.append(
                _Excluded(
                    left, lot.category, lot.id, outcome.title_zh, outcome.title_en, rule_code or "?", bound_to
                )
            )
    return counted, transferred, excluded


def _evaluate(
    requirements: list[dict],
    counted: list[_Counted],
    q: Qualification,
    titles: dict[str, tuple[str, str | None]],
) -> tuple[list[RequirementStatus], int]:
    total = sum(c.units for c in counted)
    out = []
    for r in requirements:
        if "outcome" in r:
            met = any(c.ref == r["outcome"] for c in counted)
            zh, en = titles.get(r["outcome"], (r["outcome"], None))
            out.append(
                RequirementStatus(
                    met=met,
                    missing=None if met else Missing(f"还差学习成果「{zh}」", f"still need “{en or zh}”"),
                    outcome=r["outcome"],
                    title_zh=zh,
                    title_en=en,
                )
            )
        else:
            have = sum(c.units for c in counted if c.category == r["category"])
            need = r["min_units"] - have
            zh_name, en_name = (
                CATEGORY_ZH.get(r["category"], r["category"]),
                engine.CATEGORY_EN.get(r["category"], r["category"]),
            )
            out.append(
                RequirementStatus(
                    met=need <= 0,
                    missing=None
                    if need <= 0
                    else Missing(
                        f"还差 {_text(need)} 个{zh_name}学分", f"still need {_credits_en(need, en_name)}"
                    ),
                    category=r["category"],
                    min_units=r["min_units"],
                    counted_units=have,
                )
            )
    return out, total


def progress(session: Session, learner: Learner, code: str) -> Progress:
    q = service.get_qualification(session, code)
    today = clock.today()
    requirements = json.loads(q.requirements_json)
    titles = {}
    for r in requirements:
        if "outcome" in r:
            _, outcome = service.resolve_ref(session, r["outcome"])
            titles[r["outcome"]] = (outcome.title_zh, outcome.title_en)
    counted, transferred, excluded = _counted_and_excluded(session, learner, q)
    now_reqs, total = _evaluate(requirements, counted, q, titles)
    for i, requirement in enumerate(now_reqs):  # say why converted credits of this category do not count
        missing = requirement.missing
        if missing is None or requirement.category is None:
            continue
        for e in excluded:
            if e.category == requirement.category:
                missing = Missing(
                    missing.zh
                    + f"（按转换规则 {e.rule_code} 转换的 {_text(e.units)} 学分计入资历 {e.qualification_code}，不计入本资历）",
                    missing.en
                    + f" ({_text(e.units)} credits converted under rule {e.rule_code} count toward "
                    f"{e.qualification_code}, not this qualification)",
                )
        now_reqs[i] = dataclasses.replace(requirement, missing=missing)

    # What-if: apply every eligible rule of this qualification in turn, on a copy of the lots.
    lots = service.lot_views(session, learner.id)
    rules = (
        session.execute(
            select(ConversionRule)
            .where(
                col(ConversionRule.qualification_id) == q.id, col(ConversionRule.state) == RuleState.approved
            )
            .order_by(col(ConversionRule.id))
        )
        .scalars()
        .all()
    )
    hypothetical = list(counted)
    applied = []
    extra_transfer = 0
    taken = service.taken_targets(session, learner.id)  # a target held or asked for is not granted again
    for rule in rules:
        if service.taken_for(session, rule, taken) is not None:
            continue
        view = service.rule_view(session, rule, learner_id=learner.id, today=today)
        if view.transferred is not None:
            view = dataclasses.replace(
                view,
                transferred=dataclasses.replace(
                    view.transferred,
                    total_units=view.transferred.total_units + extra_transfer,
                    this_year_units=view.transferred.this_year_units + extra_transfer,
                ),
            )
        option = engine.evaluate(view, lots, today=today)
        if not option.eligible:
            continue
        used = {u.lot_id: u.units for u in option.would_use}
        lots = [
            dataclasses.replace(lot, available_units=lot.available_units - used.get(lot.id, 0))
            for lot in lots
        ]
        target = referenced(session, Outcome, rule.target_outcome_id)
        taken[(target.institution_id, target.code)] = service.Taken(
            "conversion_already_requested", view.target_ref, target.title_zh, target.title_zh, None
        )
        hypothetical.append(_Counted(option.grant_units, target.category, view.target_ref))
        extra_transfer += option.grant_units
        applied.append(WouldApply(rule.id, rule.code, rule.version, option.grant_units, option.bound_by_cap))
    after_reqs, total_after = _evaluate(requirements, hypothetical, q, titles)

    warnings = []
    horizon = today + timedelta(days=WARN_DAYS)
    for lot in service.lot_views(session, learner.id):
        if lot.expires_on is not None and today <= lot.expires_on <= horizon and lot.available_units > 0:
            warnings.append(
                ExpiryWarning(
                    lot_id=lot.id,
                    title_zh=lot.title_zh,
                    units=lot.available_units,
                    expires_on=lot.expires_on,
                    zh=f"「{lot.title_zh}」的 {_text(lot.available_units)} 学分将于 {lot.expires_on} 过期，过期后不能再用于转换",
                    en=f"{_credits_en(lot.available_units)} of “{lot.title_en or lot.title_zh}” "
                    f"{'expires' if lot.available_units == 100 else 'expire'} on "
                    f"{lot.expires_on} and can no longer be converted after that",
                )
            )
    total_missing = max(0, q.total_units - total)
    still_missing = [r.missing for r in after_reqs if not r.met and r.missing is not None]
    if total_after < q.total_units:
        text = _text(q.total_units - total_after)
        still_missing.append(Missing(f"总学分还差 {text}", f"{text} more credits in total"))
    return Progress(
        qualification=qualification_out(session, q),
        met=total_missing == 0 and all(r.met for r in now_reqs),
        total=Totals(q.total_units, total, transferred, total_missing),
        requirements=tuple(now_reqs),
        not_counted=tuple(
            NotCounted(e.lot_id, e.title_zh, e.title_en, e.units, e.rule_code, e.qualification_code)
            for e in excluded
        ),
        what_if=WhatIf(
            conversions=tuple(applied),
            total_after_units=total_after,
            met_after=total_after >= q.total_units and all(r.met for r in after_reqs),
            still_missing=tuple(still_missing),
        ),
        warnings=tuple(warnings),
    )
