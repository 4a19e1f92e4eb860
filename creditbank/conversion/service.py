"""Conversion rules, qualifications, requests and decisions — one unit of work each.

The pure engine (``conversion.rules``) decides what is eligible and which lots to use; this
module feeds it from the database and writes the outcome: locks (pending), consumption and the
target deposit (approved, one ledger transaction), or release (rejected / expired).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy import and_, func, or_, select, update
from sqlmodel import Session, col

from creditbank.catalogue.models import Outcome
from creditbank.catalogue.service import current_version
from creditbank.conversion import logged
from creditbank.conversion import rules as engine
from creditbank.conversion.models import (
    Conversion,
    ConversionLot,
    ConversionRule,
    ConversionState,
    Qualification,
    RuleState,
)
from creditbank.conversion.schemas import QualificationSpec, RuleSpec
from creditbank.conversion.sources import CreditsCondition, RuleSource
from creditbank.db import referenced
from creditbank.errors import CreditbankError
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution
from creditbank.kit import clock, reasons
from creditbank.kit.canonical import digest_hex
from creditbank.kit.tokens import new_id
from creditbank.learners.models import Learner
from creditbank.ledger.models import LedgerAccount, Lot, LotState, TxKind
from creditbank.ledger.queries import is_live, lot_hidden, lot_live
from creditbank.ledger.writer import LedgerWriter, Leg, lock
from creditbank.translog.models import LeafKind

PENDING_DAYS = 30


def _units(credits: float | None) -> int | None:
    return None if credits is None else round(credits * 100)


# -- outcome references ----------------------------------------------------------------------


def resolve_ref(session: Session, ref: str, *, default_institution: str | None = None) -> tuple[str, Outcome]:
    """``INST:CODE`` (or a bare ``CODE`` of ``default_institution``) → (canonical ref, current outcome)."""
    institution_code, sep, code = ref.strip().partition(":")
    if not sep:
        institution_code, code = default_institution or "", institution_code
    if not institution_code or not code or ":" in code:
        raise CreditbankError("invalid_outcome_ref", {"ref": ref})
    institution = session.execute(
        select(Institution).where(col(Institution.code) == institution_code.upper())
    ).scalar_one_or_none()
    if institution is None:
        raise CreditbankError("outcome_not_found", {"code": ref})
    outcome = current_version(session, institution_id=institution.id, code=code)
    if outcome is None:
        raise CreditbankError("outcome_not_found", {"code": ref})
    return f"{institution.code}:{outcome.code}", outcome


# -- qualifications --------------------------------------------------------------------------


def put_qualification(
    session: Session, *, institution: Institution, code: str, spec: QualificationSpec
) -> tuple[Qualification, bool]:
    _accredited(institution)
    current = latest_qualification(session, code)
    if current is not None and current.owner_institution_id != institution.id:
        raise CreditbankError("qualification_owned_by_other", {"code": code})
    requirements: list[dict[str, Any]] = []
    for requirement in spec.requirements:
        if requirement.outcome:
            ref, _ = resolve_ref(session, requirement.outcome, default_institution=institution.code)
            requirements.append({"outcome": ref})
        else:
            requirements.append(
                {"category": requirement.category, "min_units": _units(requirement.min_credits)}
            )
    fields: dict[str, Any] = dict(
        name_zh=spec.name_zh,
        name_en=spec.name_en,
        total_units=_units(spec.total_credits),
        max_transfer_ratio=spec.max_transfer_ratio,
        per_year_cap_units=_units(spec.per_year_cap),
        per_institution_cap_units=_units(spec.per_institution_cap),
        requirements_json=json.dumps(requirements, ensure_ascii=False, sort_keys=True),
    )
    if current is not None and all(getattr(current, k) == v for k, v in fields.items()):
        return current, False
    qualification = Qualification(
        code=code,
        version=(current.version + 1) if current else 1,
        owner_institution_id=institution.id,
        created_at=clock.now(),
        **fields,
    )
    session.add(qualification)
    session.flush()
    return qualification, True


def latest_qualification(session: Session, code: str) -> Qualification | None:
    return session.execute(
        select(Qualification)
        .where(col(Qualification.code) == code)
        .order_by(col(Qualification.version).desc())
        .limit(1)
    ).scalar_one_or_none()


def get_qualification(session: Session, code: str) -> Qualification:
    qualification = latest_qualification(session, code)
    if qualification is None:
        raise CreditbankError("qualification_not_found", {"code": code})
    return qualification


# -- rules -----------------------------------------------------------------------------------


def _accredited(institution: Institution) -> None:
    # Suspension blocks new postings (SPEC §3.1); granting credits through rules is posting too.
    institutions.may_act(institution)


def propose_rule(
    session: Session, *, institution: Institution, spec: RuleSpec
) -> tuple[ConversionRule, bool]:
    """A new rule (or a new version of one), proposed by the institution that owns the target."""
    _accredited(institution)
    target_ref, target = _target(session, institution, spec.target_outcome_code)

    def ref(given: str) -> str:  # a bare CODE is the proposer's own, as in a qualification (SPEC §4)
        return resolve_ref(session, given, default_institution=institution.code)[0]

    if spec.source.all_of is not None:
        source = RuleSource(all_of=tuple(ref(r) for r in spec.source.all_of))
    elif spec.source.any_n_of is not None:
        source = RuleSource(
            any_n_of=(spec.source.any_n_of.n, tuple(ref(r) for r in spec.source.any_n_of.outcomes))
        )
    elif spec.source.credits is not None:
        c = spec.source.credits
        source = RuleSource(
            credits=CreditsCondition(c.category, c.min_level, round(c.amount * 100), c.within_years)
        )
    else:  # SourceSpec insists on exactly one of the three
        raise ValueError("give exactly one of all_of, any_n_of, credits")
    qualification_id = None
    if spec.qualification_code:
        qualification = get_qualification(session, spec.qualification_code)
        if qualification.owner_institution_id != institution.id:
            raise CreditbankError("qualification_owned_by_other", {"code": spec.qualification_code})
        qualification_id = qualification.id
    _refuse_cycles(
        session, [(s, target_ref) for s in source.refs()], exclude_code=(institution.id, spec.code)
    )
    current = session.execute(
        select(ConversionRule)
        .where(
            col(ConversionRule.owner_institution_id) == institution.id, col(ConversionRule.code) == spec.code
        )
        .order_by(col(ConversionRule.version).desc())
        .limit(1)
    ).scalar_one_or_none()
    fields: dict[str, Any] = dict(
        name_zh=spec.name_zh,
        name_en=spec.name_en,
        target_outcome_id=target.id,
        credits_units=_units(spec.credits),
        ratio=spec.ratio,
        source_json=source.dumps(),
        effective_from=spec.effective_from,
        effective_until=spec.effective_until,
        qualification_id=qualification_id,
    )
    if current is not None and all(getattr(current, k) == v for k, v in fields.items()):
        return current, False
    rule = ConversionRule(
        code=spec.code,
        version=(current.version + 1) if current else 1,
        owner_institution_id=institution.id,
        state=RuleState.proposed,
        created_at=clock.now(),
        **fields,
    )
    session.add(rule)
    session.flush()
    return rule, True


def _target(session: Session, institution: Institution, code: str) -> tuple[str, Outcome]:
    ref, outcome = resolve_ref(session, code, default_institution=institution.code)
    # Judge by what the reference resolved to, not by how it was spelled.
    if outcome.institution_id != institution.id:
        raise CreditbankError("rule_target_not_owned", {"ref": code})
    return ref, outcome


def _refuse_cycles(
    session: Session, new_edges: list[tuple[str, str]], *, exclude_code: tuple[int, str]
) -> None:
    edges: list[tuple[str, str]] = []
    rows = session.execute(
        select(
            col(ConversionRule.source_json),
            col(ConversionRule.owner_institution_id),
            col(ConversionRule.code),
            col(Institution.code),
            col(Outcome.code),
        )
        .join(Outcome, col(Outcome.id) == col(ConversionRule.target_outcome_id))
        .join(Institution, col(Institution.id) == col(Outcome.institution_id))
        .where(col(ConversionRule.state).not_in([RuleState.retired, RuleState.rejected]))
    )
    for source_json, owner_id, code, target_inst, target_code in rows:
        if (owner_id, code) == exclude_code:
            continue  # the rule being re-versioned is replaced, not kept beside the new one
        edges += [(s, f"{target_inst}:{target_code}") for s in RuleSource.parse(source_json).refs()]
    for edge in new_edges:
        cycle = [edge[0], edge[1]] if edge[0] == edge[1] else engine.find_cycle(edges, edge)
        if cycle:
            raise CreditbankError("rule_cycle", {"cycle": " → ".join(cycle)})
        edges.append(edge)


def get_rule(session: Session, rule_id: int, *, for_update: bool = False) -> ConversionRule:
    """``for_update``: locked until the caller commits (PostgreSQL), so that of two approvals or
    retirements at once the second sees the first's state — each is logged once."""
    rule = (
        session.get(ConversionRule, rule_id, with_for_update=True, populate_existing=True)
        if for_update
        else session.get(ConversionRule, rule_id)
    )
    if rule is None:
        raise CreditbankError("rule_not_found", {"ref": rule_id})
    return rule


def approve_rule(session: Session, *, rule_id: int) -> ConversionRule:
    rule = get_rule(session, rule_id, for_update=True)
    if rule.state == RuleState.approved:
        return rule
    if rule.state != RuleState.proposed:
        raise CreditbankError("rule_state_conflict", {"state": rule.state})
    # Approving a new version retires the older approved versions of the same rule.
    older = (
        session.execute(
            select(ConversionRule)
            .where(
                col(ConversionRule.owner_institution_id) == rule.owner_institution_id,
                col(ConversionRule.code) == rule.code,
                col(ConversionRule.state) == RuleState.approved,
            )
            .with_for_update()
        )
        .scalars()
        .all()
    )
    now = clock.now()
    for old in older:
        old.state, old.retired_at = RuleState.retired, now
    rule.state, rule.approved_at = RuleState.approved, now
    session.add(rule)
    session.flush()
    logged.append(session, [(LeafKind.rule_retired, old) for old in older] + [(LeafKind.rule_approved, rule)])
    return rule


def reject_rule(session: Session, *, rule_id: int, reason: str) -> ConversionRule:
    """The operator turns a proposed rule down, saying why; a rule already rejected stays as it was."""
    rule = get_rule(session, rule_id)
    if rule.state == RuleState.rejected:
        return rule
    if rule.state != RuleState.proposed:
        raise CreditbankError("rule_state_conflict", {"state": rule.state})
    rule.state, rule.rejected_at, rule.rejection_reason = RuleState.rejected, clock.now(), reason
    session.add(rule)
    session.flush()
    return rule


def retire_rule(session: Session, *, rule_id: int, institution_id: int | None) -> ConversionRule:
    rule = get_rule(session, rule_id, for_update=True)
    if institution_id is not None and rule.owner_institution_id != institution_id:
        raise CreditbankError("rule_not_found", {"ref": rule_id})
    if rule.state != RuleState.retired:
        rule.state, rule.retired_at = RuleState.retired, clock.now()
        session.add(rule)
        session.flush()
        logged.append(session, [(LeafKind.rule_retired, rule)])
    return rule


# -- feeding the engine ----------------------------------------------------------------------


def lot_views(
    session: Session, learner_id: int, *, lock: bool = False, besides: str | None = None
) -> list[engine.LotView]:
    """The learner's live lots for the engine; ``besides``: a conversion whose own hold is not
    named among those that took part of a lot (the request under review)."""
    query = (
        select(Lot, Outcome, Institution)
        .join(Outcome, col(Outcome.id) == col(Lot.outcome_id))
        .join(Institution, col(Institution.id) == col(Lot.institution_id))
        .where(col(Lot.learner_id) == learner_id, lot_live())
        .order_by(Lot.id)
    )
    if lock:
        query = query.with_for_update(of=Lot)
    rows = session.execute(query.execution_options(populate_existing=True)).all()
    used_for = _used_for(
        session,
        [lot.id for lot, _, _ in rows if lot.consumed_units + lot.locked_units > 0],
        besides=besides,
    )
    return [
        engine.LotView(
            id=lot.id,
            outcome_ref=f"{institution.code}:{outcome.code}",
            title_zh=outcome.title_zh,
            title_en=outcome.title_en,
            institution_code=institution.code,
            category=lot.category,
            level=lot.level,
            earned_on=lot.earned_on,
            expires_on=lot.expires_on,
            available_units=lot.amount_units - lot.consumed_units - lot.locked_units,
            amount_units=lot.amount_units,
            used_for=tuple(used_for.get(lot.id, ())),
        )
        for lot, outcome, institution in rows
    ]


def _used_for(
    session: Session, lot_ids: list[str], *, besides: str | None
) -> dict[str, list[tuple[str, str]]]:
    """Lot id -> (zh, en) names of the rules of the live conversions holding part of it: an outcome
    rule's explanation says which conversion took the course's credits."""
    if not lot_ids:
        return {}
    query = (
        select(col(ConversionLot.lot_id), col(ConversionRule.name_zh), col(ConversionRule.name_en))
        .join(Conversion, col(Conversion.id) == col(ConversionLot.conversion_id))
        .join(ConversionRule, col(ConversionRule.id) == col(Conversion.rule_id))
        .where(col(ConversionLot.lot_id).in_(lot_ids), col(Conversion.state).in_(LIVE))
        .order_by(col(Conversion.requested_at), col(Conversion.id))
    )
    if besides is not None:
        query = query.where(col(Conversion.id) != besides)
    names: dict[str, list[tuple[str, str]]] = {}
    for lot_id, name_zh, name_en in session.execute(query):
        if (name_zh, name_en or name_zh) not in names.setdefault(lot_id, []):
            names[lot_id].append((name_zh, name_en or name_zh))
    return names


def _titles(session: Session, refs: list[str]) -> dict[str, tuple[str, str | None]]:
    titles = {}
    for ref in refs:
        try:
            _, outcome = resolve_ref(session, ref)
        except CreditbankError:
            continue
        titles[ref] = (outcome.title_zh, outcome.title_en)
    return titles


def _transferred(session: Session, learner_id: int, qualification_id: int, today: date) -> engine.Transferred:
    live = (ConversionState.pending, ConversionState.approved)
    base = select(Conversion).where(
        col(Conversion.learner_id) == learner_id,
        col(Conversion.qualification_id) == qualification_id,
        col(Conversion.state).in_(live),
    )
    conversions = session.execute(base).scalars().all()
    by_institution: dict[str, int] = {}
    if conversions:
        for code, units in session.execute(
            select(col(ConversionLot.institution_code), func.sum(col(ConversionLot.granted_units)))
            .where(col(ConversionLot.conversion_id).in_([c.id for c in conversions]))
            .group_by(ConversionLot.institution_code)
        ):
            by_institution[code] = int(units)
    return engine.Transferred(
        total_units=sum(c.grant_units for c in conversions),
        this_year_units=sum(c.grant_units for c in conversions if c.requested_at.year == today.year),
        by_institution=by_institution,
    )


def rule_view(
    session: Session, rule: ConversionRule, *, learner_id: int | None, today: date
) -> engine.RuleView:
    source = RuleSource.parse(rule.source_json)
    target = referenced(session, Outcome, rule.target_outcome_id)
    owner = referenced(session, Institution, rule.owner_institution_id)
    caps = transferred = None
    if rule.qualification_id is not None:
        q = referenced(session, Qualification, rule.qualification_id)
        caps = engine.Caps(
            total_units=q.total_units,
            max_transfer_ratio=q.max_transfer_ratio,
            per_year_cap_units=q.per_year_cap_units,
            per_institution_cap_units=q.per_institution_cap_units,
        )
        if learner_id is not None:
            transferred = _transferred(session, learner_id, q.id, today)
    return engine.RuleView(
        id=rule.id,
        code=rule.code,
        version=rule.version,
        name_zh=rule.name_zh,
        name_en=rule.name_en or rule.name_zh,
        source=source.for_engine(),
        target_ref=f"{owner.code}:{target.code}",
        target_title_zh=target.title_zh,
        target_title_en=target.title_en,
        credits_units=rule.credits_units,
        ratio=rule.ratio,
        effective_from=rule.effective_from,
        effective_until=rule.effective_until,
        state=rule.state,
        titles=_titles(session, source.refs()),
        caps=caps,
        transferred=transferred,
    )


@dataclass(frozen=True)
class Taken:
    """Why a learner cannot be granted a target outcome by a conversion (again)."""

    code: Literal["conversion_target_held", "conversion_already_requested"]
    ref: str
    """The target outcome, ``INST:CODE``."""
    title_zh: str
    title_en: str
    conversion_id: str | None
    """The pending request (``conversion_already_requested``) or the approved conversion that
    granted it; None when a completion of the outcome itself is held."""

    def error(self) -> CreditbankError:
        return CreditbankError(
            self.code, {"ref": self.ref, "title_zh": self.title_zh, "title_en": self.title_en}
        )

    def message(self) -> engine.Message:
        if self.code == "conversion_already_requested":
            return engine.Message(
                f"已申请转换为「{self.title_zh}」，正在等待学校审核",
                f"Requested: the conversion into “{self.title_en}” is waiting for the school's decision",
            )
        return engine.Message(
            f"你已获得「{self.title_zh}」的学分，不能重复获得",
            f"You already hold the credits of “{self.title_en}”; they cannot be granted twice",
        )


def taken_targets(
    session: Session, learner_id: int, *, besides: str | None = None
) -> dict[tuple[int, str], Taken]:
    """The outcomes (institution id, code — any version) this learner holds or has asked for: a live
    lot of the outcome (a completion, or a conversion approved into it), or a pending request whose
    rule targets it (``besides``: a request to leave out — the one being approved). A conversion
    never grants one course twice, as a completion is never posted twice (duplicate_completion)."""
    taken: dict[tuple[int, str], Taken] = {}
    for lot_conversion, outcome, institution_code in session.execute(
        select(col(Lot.conversion_id), Outcome, col(Institution.code))
        .join(Outcome, col(Outcome.id) == col(Lot.outcome_id))
        .join(Institution, col(Institution.id) == col(Outcome.institution_id))
        .where(col(Lot.learner_id) == learner_id, lot_live())
        .order_by(col(Lot.id))
    ):
        taken.setdefault(
            (outcome.institution_id, outcome.code),
            Taken(
                "conversion_target_held",
                f"{institution_code}:{outcome.code}",
                outcome.title_zh,
                outcome.title_en or outcome.title_zh,
                lot_conversion,
            ),
        )
    pending = (
        select(col(Conversion.id), Outcome, col(Institution.code))
        .join(ConversionRule, col(ConversionRule.id) == col(Conversion.rule_id))
        .join(Outcome, col(Outcome.id) == col(ConversionRule.target_outcome_id))
        .join(Institution, col(Institution.id) == col(Outcome.institution_id))
        .where(
            col(Conversion.learner_id) == learner_id,
            col(Conversion.state) == ConversionState.pending,
            col(Conversion.expires_at) >= clock.now(),
        )
        .order_by(col(Conversion.requested_at), col(Conversion.id))
    )
    if besides is not None:
        pending = pending.where(col(Conversion.id) != besides)
    for conversion_id, outcome, institution_code in session.execute(pending):
        taken.setdefault(
            (outcome.institution_id, outcome.code),
            Taken(
                "conversion_already_requested",
                f"{institution_code}:{outcome.code}",
                outcome.title_zh,
                outcome.title_en or outcome.title_zh,
                conversion_id,
            ),
        )
    return taken


def taken_for(session: Session, rule: ConversionRule, taken: dict[tuple[int, str], Taken]) -> Taken | None:
    target = referenced(session, Outcome, rule.target_outcome_id)
    return taken.get((target.institution_id, target.code))


def options_with_standing(session: Session, learner: Learner) -> list[tuple[engine.Option, Taken | None]]:
    """Every approved rule evaluated for this learner, with what already stands in its way: a rule
    whose target the learner holds or has asked for is not eligible, and says why."""
    taken = taken_targets(session, learner.id)
    answer = []
    for option in options(session, learner):
        rule = referenced(session, ConversionRule, option.rule.id)
        standing = taken_for(session, rule, taken)
        if standing is not None:
            option = replace(
                option,
                eligible=False,
                would_use=(),
                grant_units=0,
                bound_by_cap=None,
                missing=(standing.message(),),
                notes=(),
            )
        answer.append((option, standing))
    return answer


def options(session: Session, learner: Learner) -> list[engine.Option]:
    """Every approved rule, evaluated by the engine for this learner's lots (what they would use)."""
    today = clock.today()
    rules = (
        session.execute(
            select(ConversionRule)
            .where(col(ConversionRule.state) == RuleState.approved)
            .order_by(col(ConversionRule.id))
        )
        .scalars()
        .all()
    )
    views = [rule_view(session, r, learner_id=learner.id, today=today) for r in rules]
    return engine.evaluate_all(views, lot_views(session, learner.id), today=today)


# -- requests and decisions ------------------------------------------------------------------


def find_rule(session: Session, *, rule_id: int | None, rule_code: str | None) -> ConversionRule:
    if rule_id is not None:
        return get_rule(session, rule_id)
    institution_code, sep, code = (rule_code or "").partition(":")
    query = select(ConversionRule).where(col(ConversionRule.state) == RuleState.approved)
    if sep:
        query = query.join(
            Institution, col(Institution.id) == col(ConversionRule.owner_institution_id)
        ).where(col(Institution.code) == institution_code.upper(), col(ConversionRule.code) == code)
    else:
        query = query.where(col(ConversionRule.code) == rule_code)
    rules = session.execute(query).scalars().all()
    if len(rules) != 1:
        raise CreditbankError("rule_not_found", {"ref": rule_code})
    return rules[0]


def request(
    session: Session,
    *,
    learner: Learner,
    rule_id: int | None = None,
    rule_code: str | None = None,
    lot_ids: list[str] | None = None,
) -> Conversion:
    """Apply a rule: the chosen lots are locked at once; the target institution decides later."""
    lock(session)  # requests and decisions on lots run one at a time
    today = clock.today()
    expire_pending(session, learner_id=learner.id)
    rule = find_rule(session, rule_id=rule_id, rule_code=rule_code)
    if lot_ids:
        others = (
            session.execute(
                select(col(Lot.id)).where(col(Lot.id).in_(lot_ids), col(Lot.learner_id) != learner.id)
            )
            .scalars()
            .first()
        )
        missing = set(lot_ids) - set(
            session.execute(select(col(Lot.id)).where(col(Lot.id).in_(lot_ids))).scalars()
        )
        if others or missing:
            raise CreditbankError("lot_not_yours", {"lot_id": others or sorted(missing)[0]})
    view = rule_view(session, rule, learner_id=learner.id, today=today)
    option = engine.select(view, lot_views(session, learner.id, lock=True), today=today, lot_ids=lot_ids)
    if rule.state != RuleState.approved or not (
        rule.effective_from <= today and (rule.effective_until is None or today <= rule.effective_until)
    ):
        reason = option.missing[0].zh if option.missing else rule.state
        raise CreditbankError("rule_not_available", {"code": rule.code, "reason": reason})
    # Under the ledger lock taken above: of racing requests for one target, only the first passes.
    standing = taken_for(session, rule, taken_targets(session, learner.id))
    if standing is not None:
        raise standing.error()
    if not option.eligible:
        raise CreditbankError(
            "not_eligible",
            errors=[{"code": "missing", "message_zh": m.zh, "message_en": m.en} for m in option.missing],
        )
    # Nothing is posted on request: a lock is not a balance change (TigerBeetle's pending transfer).
    now = clock.now()
    conversion = Conversion(
        id=new_id("cnv"),
        learner_id=learner.id,
        rule_id=rule.id,
        qualification_id=rule.qualification_id,
        state=ConversionState.pending,
        grant_units=option.grant_units,
        bound_by_cap=option.bound_by_cap,
        requested_at=now,
        expires_at=now + timedelta(days=PENDING_DAYS),
    )
    session.add(conversion)
    session.flush()
    institutions = dict(
        session.execute(
            select(col(Lot.id), col(Institution.code))
            .join(Institution, col(Institution.id) == col(Lot.institution_id))
            .where(col(Lot.id).in_([u.lot_id for u in option.would_use]))
        ).all()
    )
    for use in sorted(option.would_use, key=lambda u: u.lot_id):
        # The CHECK constraint (consumed + locked ≤ amount) is the last line against double use.
        session.execute(
            update(Lot)
            .where(col(Lot.id) == use.lot_id)
            .values(locked_units=col(Lot.locked_units) + use.units)
        )
        session.add(
            ConversionLot(
                conversion_id=conversion.id,
                lot_id=use.lot_id,
                units=use.units,
                granted_units=use.granted_units,
                institution_code=institutions[use.lot_id],
            )
        )
    session.flush()
    return conversion


def get_for_learner(
    session: Session, *, learner_id: int, conversion_id: str
) -> tuple[Conversion, ConversionRule, int]:
    """One of the learner's own requests, its rule and the credits it holds (hundredths); another
    learner's is ``conversion_not_found``, as if it did not exist."""
    conversion = session.get(Conversion, conversion_id)
    if conversion is None or conversion.learner_id != learner_id:
        raise CreditbankError("conversion_not_found", {"id": conversion_id})
    rule = referenced(session, ConversionRule, conversion.rule_id)
    return conversion, rule, sum(h.units for h in held_lots(session, conversion.id))


def for_learner(session: Session, learner_id: int) -> list[tuple[Conversion, ConversionRule]]:
    """A learner's own requests with their rules, newest first."""
    return [
        (c, r)
        for c, r in session.execute(
            select(Conversion, ConversionRule)
            .join(ConversionRule, col(ConversionRule.id) == col(Conversion.rule_id))
            .where(col(Conversion.learner_id) == learner_id)
            .order_by(col(Conversion.requested_at).desc(), col(Conversion.id))
        )
    ]


def list_qualifications(session: Session) -> list[Qualification]:
    """The current version of every published qualification."""
    newest = {}
    for q in session.execute(
        select(Qualification).order_by(col(Qualification.code), col(Qualification.version))
    ).scalars():
        newest[q.code] = q
    return list(newest.values())


def get(session: Session, conversion_id: str) -> Conversion:
    conversion = session.get(Conversion, conversion_id)
    if conversion is None:
        raise CreditbankError("conversion_not_found", {"id": conversion_id})
    return conversion


def held_lots(session: Session, conversion_id: str) -> list[ConversionLot]:
    return list(
        session.execute(
            select(ConversionLot)
            .where(col(ConversionLot.conversion_id) == conversion_id)
            .order_by(ConversionLot.lot_id)
        ).scalars()
    )


def _release(
    session: Session, conversion: Conversion, state: ConversionState, *, by: str | None, reason: str | None
) -> None:
    for held in held_lots(session, conversion.id):
        session.execute(
            update(Lot)
            .where(col(Lot.id) == held.lot_id)
            .values(locked_units=col(Lot.locked_units) - held.units)
        )
    conversion.state, conversion.decided_at = state, clock.now()
    conversion.decided_by, conversion.reason = by, reason
    session.add(conversion)
    session.flush()


def expire_pending(
    session: Session, *, learner_id: int | None = None, conversion_id: str | None = None
) -> int:
    """Release the locks of requests nobody decided in time (also run by ``creditbank expire-conversions``)."""
    query = select(Conversion).where(
        col(Conversion.state) == ConversionState.pending, col(Conversion.expires_at) < clock.now()
    )
    if learner_id is not None:
        query = query.where(col(Conversion.learner_id) == learner_id)
    if conversion_id is not None:
        query = query.where(col(Conversion.id) == conversion_id)
    expired = session.execute(query.order_by(Conversion.id)).scalars().all()
    for conversion in expired:
        _release(
            session,
            conversion,
            ConversionState.expired,
            by="system",
            reason=reasons.coded(reasons.EXPIRED),
        )
    return len(expired)


SUPERSEDED_BY = "completion:"
"""``Conversion.decided_by`` of a superseded request: the prefix of the completion that ended it."""


def supersede(session: Session, ends: dict[str, str]) -> list[str]:
    """End pending requests whose target outcome the learner was just given by a completion:
    ``ends`` maps a conversion id to the completion that holds the course now. Each request still
    pending is released as a rejection releases it, state ``superseded`` — the course counts once,
    through the completion, never stuck waiting with the learner's credits locked. Called under the
    ledger lock by whoever makes the completion count (a post; an import as it publishes); returns
    the ids it ended (one decided meanwhile is left as it stands)."""
    if not ends:
        return []
    pending = (
        session.execute(
            select(Conversion)
            .where(col(Conversion.id).in_(sorted(ends)), col(Conversion.state) == ConversionState.pending)
            .order_by(col(Conversion.id))
            .execution_options(populate_existing=True)
        )
        .scalars()
        .all()
    )
    for conversion in pending:
        completion = ends[conversion.id]
        _release(
            session,
            conversion,
            ConversionState.superseded,
            by=f"{SUPERSEDED_BY}{completion}",
            reason=reasons.coded(reasons.SUPERSEDED, completion),
        )
    return [c.id for c in pending]


def supersede_if_held(session: Session, *, conversion_id: str) -> bool:
    """A pending request whose target outcome (any version) the learner already holds through a
    live completion is ended as that posting ends one now (``supersede``): such requests were left
    waiting, credits locked, by completions posted before 2026-12-02 (then approving was 409
    ``conversion_target_held`` until the school rejected). Deciding calls it first, in a unit of
    work of its own (as ``expire_pending``), so the decision meets ``conversion_superseded``.
    Returns whether it ended the request."""
    lock(session)
    conversion = session.execute(
        select(Conversion)
        .where(col(Conversion.id) == conversion_id, col(Conversion.state) == ConversionState.pending)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if conversion is None:
        return False
    rule = referenced(session, ConversionRule, conversion.rule_id)
    target = referenced(session, Outcome, rule.target_outcome_id)
    completion = session.execute(
        select(col(Lot.completion_id))
        .join(Outcome, col(Outcome.id) == col(Lot.outcome_id))
        .where(
            col(Lot.learner_id) == conversion.learner_id,
            col(Lot.completion_id).is_not(None),
            col(Outcome.institution_id) == target.institution_id,
            col(Outcome.code) == target.code,
            lot_live(),
        )
        .order_by(col(Lot.id))
        .limit(1)
    ).scalar()
    if completion is None:
        return False
    return bool(supersede(session, {conversion.id: completion}))


def superseded_by(conversion: Conversion) -> str:
    """The completion that ended a superseded request."""
    return (conversion.decided_by or "").removeprefix(SUPERSEDED_BY)


@dataclass(frozen=True)
class Superseded:
    """A request of the learner's that a completion of its target ended, as /me tells them."""

    conversion: Conversion
    title_zh: str
    title_en: str | None
    institution_zh: str
    institution_en: str | None


def recently_superseded(session: Session, *, learner_id: int, days: int = PENDING_DAYS) -> list[Superseded]:
    """The learner's requests superseded in the last ``days``, newest first, with the target course
    and the school that posted it: /me says so while it is news."""
    rows = session.execute(
        select(
            Conversion,
            col(Outcome.title_zh),
            col(Outcome.title_en),
            col(Institution.name_zh),
            col(Institution.name_en),
        )
        .join(ConversionRule, col(ConversionRule.id) == col(Conversion.rule_id))
        .join(Outcome, col(Outcome.id) == col(ConversionRule.target_outcome_id))
        .join(Institution, col(Institution.id) == col(Outcome.institution_id))
        .where(
            col(Conversion.learner_id) == learner_id,
            col(Conversion.state) == ConversionState.superseded,
            col(Conversion.decided_at) >= clock.now() - timedelta(days=days),
        )
        .order_by(col(Conversion.decided_at).desc(), col(Conversion.id))
    ).all()
    return [Superseded(*row) for row in rows]


NOT_WITHDRAWABLE: dict[str, tuple[str, str]] = {
    ConversionState.approved: ("已经批准，学分已转换", "was already approved and the credits converted"),
    ConversionState.rejected: (
        "已被学校拒绝，锁定的学分已退回",
        "was refused by the school and its credits released",
    ),
    ConversionState.reversed: ("已被取消，学分已退回", "was cancelled and its credits given back"),
    ConversionState.superseded: (
        "已自动结束：学校已直接登记了这门课程，学分已退回",
        "ended by itself: the school posted the course directly and its credits were given back",
    ),
}
"""How a request that can no longer be withdrawn stands, in the words of conversion_not_withdrawable."""
STATE_NAMES: dict[str, tuple[str, str]] = {
    ConversionState.pending: ("等待审核", "pending"),
    ConversionState.approved: ("已批准", "approved"),
    ConversionState.rejected: ("已拒绝", "rejected"),
    ConversionState.expired: ("已过期", "expired"),
    ConversionState.reversed: ("已取消", "reversed"),
    ConversionState.withdrawn: ("已撤回", "withdrawn"),
    ConversionState.superseded: ("已自动结束", "superseded"),
}
"""A state named in a message: Chinese words in the Chinese one (not "已处理（rejected）")."""


def withdraw(session: Session, *, conversion_id: str, learner_id: int) -> Conversion:
    """The learner takes back their own pending request: its locked credits are released exactly as
    a rejection releases them (state ``withdrawn``), and the school has nothing left to decide.

    Under the ledger lock every request and decision takes, so against a concurrent approval exactly
    one wins: the loser meets the winner's state (``conversion_not_withdrawable`` here,
    ``conversion_withdrawn`` in ``decide``). Withdrawing again answers the request as it is (a
    double tap on a phone is not an error); an approved, rejected or reversed one is 409
    ``conversion_not_withdrawable``, an expired one ``conversion_expired`` (callers run
    ``expire_pending`` first, in a unit of work of its own, as for ``decide``). Another learner's
    request is ``conversion_not_found``, as if it did not exist."""
    lock(session)
    conversion = session.execute(
        select(Conversion)
        .where(col(Conversion.id) == conversion_id)
        .execution_options(populate_existing=True)  # as the lock found it, not as this session saw it
    ).scalar_one_or_none()
    if conversion is None or conversion.learner_id != learner_id:
        raise CreditbankError("conversion_not_found", {"id": conversion_id})
    if conversion.state == ConversionState.withdrawn:
        return conversion
    if conversion.state == ConversionState.expired or (
        conversion.state == ConversionState.pending and conversion.expires_at < clock.now()
    ):
        raise CreditbankError("conversion_expired")
    if conversion.state != ConversionState.pending:
        name_zh, name_en = STATE_NAMES.get(conversion.state, ("已处理", conversion.state))
        zh, en = NOT_WITHDRAWABLE.get(conversion.state, (f"已处理（{name_zh}）", f"was {name_en}"))
        raise CreditbankError("conversion_not_withdrawable", {"state_zh": zh, "state_en": en})
    _release(session, conversion, ConversionState.withdrawn, by=f"learner:{learner_id}", reason=None)
    return conversion


_DECIDED = {"approve": ConversionState.approved, "reject": ConversionState.rejected}


def decide(
    session: Session,
    *,
    conversion_id: str,
    institution_id: int | None,
    decision: Literal["approve", "reject"],
    reason: str | None,
    decided_by: str,
) -> Conversion:
    """Approve or reject a pending request. ``institution_id`` None = the operator, who may decide
    on any rule's requests — also those of a suspended institution (it acts on its records); the
    owning institution itself decides only while accredited (issue 9 item 6)."""
    if institution_id is not None:
        institutions.require_accredited(session, institution_id)
    writer = LedgerWriter(session)
    conversion = get(session, conversion_id)
    rule = referenced(session, ConversionRule, conversion.rule_id)
    if institution_id is not None and rule.owner_institution_id != institution_id:
        raise CreditbankError("conversion_not_found", {"id": conversion_id})
    # Expiry must outlive this unit of work's rollback: callers run expire_pending first, in its own.
    if conversion.state == ConversionState.expired or (
        conversion.state == ConversionState.pending and conversion.expires_at < clock.now()
    ):
        raise CreditbankError("conversion_expired")
    if conversion.state == ConversionState.withdrawn:
        raise CreditbankError("conversion_withdrawn")
    if conversion.state == ConversionState.superseded:
        raise CreditbankError("conversion_superseded", {"completion": superseded_by(conversion)})
    if conversion.state == _DECIDED[decision]:
        # The same decision again (a retry whose answer was lost): the request as it stands, as a
        # repeated rule approval or completion revocation answers; the first reason is kept.
        return conversion
    if conversion.state != ConversionState.pending:
        name_zh, name_en = STATE_NAMES.get(conversion.state, ("已处理", conversion.state))
        raise CreditbankError(
            "conversion_already_decided",
            {"state": conversion.state, "state_zh": name_zh, "state_en": name_en},
        )
    if decision == "reject":  # it only gives the learner's credits back
        if not (reason and reason.strip()):  # the learner reads that none was given, not an empty line
            reason = reasons.coded(reasons.NOT_GIVEN)
        _release(session, conversion, ConversionState.rejected, by=decided_by, reason=reason)
        return conversion
    # A completion of the target ended the request when it was posted (``supersede``), or as the
    # callers' ``supersede_if_held`` found it; anything else holding the target still refuses.
    standing = taken_for(session, rule, taken_targets(session, conversion.learner_id, besides=conversion.id))
    if standing is not None:
        raise standing.error()
    # The institution's own staged import may have written the target for this learner, not yet
    # published (invisible to taken_targets): approving now would grant the course a second time when
    # it publishes. Publishing supersedes this request instead (completions.imports).
    importing = _importing(session, conversion.learner_id, rule)
    if importing is not None:
        raise CreditbankError("conversion_target_importing", importing)
    _approve(session, writer, conversion, rule, decided_by=decided_by, reason=reason)
    return conversion


def _importing(session: Session, learner_id: int, rule: ConversionRule) -> dict[str, str] | None:
    """The staged import (``{import_id, ref}``) that has written a completion of the rule's target
    outcome — any version — for this learner and is not published: its lot is on the ledger, hidden
    (``lot_hidden``), in the import's batch. A dead import's rows count too, until the file is sent
    again (then it publishes and supersedes the request) or the operator abandons it (its lots are
    reversed)."""
    target = referenced(session, Outcome, rule.target_outcome_id)
    batch = session.execute(
        select(col(Lot.batch_id))
        .join(Outcome, col(Outcome.id) == col(Lot.outcome_id))
        .where(
            col(Lot.learner_id) == learner_id,
            col(Lot.completion_id).is_not(None),
            col(Lot.batch_id).is_not(None),
            col(Outcome.institution_id) == target.institution_id,
            col(Outcome.code) == target.code,
            lot_hidden(),
        )
        .limit(1)
    ).scalar()
    if batch is None:
        return None
    owner = referenced(session, Institution, target.institution_id)
    return {"import_id": batch, "ref": f"{owner.code}:{target.code}"}


def _approve(
    session: Session,
    writer: LedgerWriter,
    conversion: Conversion,
    rule: ConversionRule,
    *,
    decided_by: str,
    reason: str | None,
) -> None:
    held = held_lots(session, conversion.id)
    lots = {
        lot.id: lot
        for lot in session.execute(
            select(Lot)
            .where(col(Lot.id).in_([h.lot_id for h in held]))
            .order_by(Lot.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalars()
    }
    learner_account = session.execute(
        select(LedgerAccount).where(col(LedgerAccount.learner_id) == conversion.learner_id)
    ).scalar_one()
    target = referenced(session, Outcome, rule.target_outcome_id)
    owner = referenced(session, Institution, rule.owner_institution_id)
    issuance = dict(
        session.execute(
            select(col(LedgerAccount.institution_id), col(LedgerAccount.id)).where(
                col(LedgerAccount.institution_id).in_(
                    {lot.institution_id for lot in lots.values()} | {owner.id}
                ),
                col(LedgerAccount.kind) == "issuance",
            )
        ).all()
    )
    issuance_codes = dict(
        session.execute(
            select(col(LedgerAccount.id), col(LedgerAccount.code)).where(
                col(LedgerAccount.id).in_(issuance.values())
            )
        ).all()
    )
    by_outcome = bool(RuleSource.parse(rule.source_json).refs())
    legs: list[Leg] = []
    for h in held:
        lot = lots[h.lot_id]
        if not is_live(session, lot) or lot.locked_units < h.units:
            raise CreditbankError("lots_changed")
        if by_outcome and (lot.consumed_units or lot.locked_units != h.units or h.units != lot.amount_units):
            # An outcome rule needs the whole course, unused: a credits rule took part of this lot
            # (requests made before 2026-12-03 could hold what was left). Under the row lock above,
            # so of two racing approvals the credits one passes and this one is refused.
            outcome = referenced(session, Outcome, lot.outcome_id)
            raise CreditbankError(
                "conversion_lot_partly_used",
                {"title_zh": outcome.title_zh, "title_en": outcome.title_en or outcome.title_zh},
            )
        key = (conversion.learner_id, lot.category, lot.level)
        # Consumed credits go back to the institution that issued them.
        legs.append(Leg(learner_account.id, learner_account.code, -h.units, lot.id, balance_key=key))
        legs.append(Leg(issuance[lot.institution_id], issuance_codes[issuance[lot.institution_id]], h.units))
    target_lot = new_id("lot")
    legs.append(Leg(issuance[owner.id], issuance_codes[issuance[owner.id]], -conversion.grant_units))
    legs.append(
        Leg(
            learner_account.id,
            learner_account.code,
            conversion.grant_units,
            target_lot,
            balance_key=(conversion.learner_id, target.category, target.level),
        )
    )
    facts = conversion_facts(conversion, rule, held)
    today = clock.today()
    tx_id = writer.append(
        kind=TxKind.conversion, event_on=today, legs=legs, completion_hash=digest_hex(facts)
    )
    writer.add_lot(
        {
            "id": target_lot,
            "learner_id": conversion.learner_id,
            "completion_id": None,
            "conversion_id": conversion.id,
            "transaction_id": tx_id,
            "institution_id": owner.id,
            "outcome_id": target.id,
            "category": target.category,
            "level": target.level,
            "earned_on": today,
            "expires_on": None
            if target.validity_years is None
            else clock.add_years(today, target.validity_years),
            "amount_units": conversion.grant_units,
            "consumed_units": 0,
            "locked_units": 0,
            "state": LotState.active,
        }
    )
    writer.flush()
    for h in held:
        session.execute(
            update(Lot)
            .where(col(Lot.id) == h.lot_id)
            .values(locked_units=Lot.locked_units - h.units, consumed_units=Lot.consumed_units + h.units)
        )
    conversion.state, conversion.decided_at, conversion.decided_by = (
        ConversionState.approved,
        clock.now(),
        decided_by,
    )
    conversion.reason, conversion.transaction_id, conversion.target_lot_id = reason, tx_id, target_lot
    session.add(conversion)
    session.flush()


def conversion_facts(conversion: Conversion, rule: ConversionRule, held: list[ConversionLot]) -> dict:
    """What a conversion transaction's hash covers besides its postings (audit recomputes it)."""
    return {
        "conversion": conversion.id,
        "rule": rule.id,
        "rule_version": rule.version,
        "grant_units": conversion.grant_units,
        "lots": [[h.lot_id, h.units, h.granted_units] for h in held],
    }


# -- the revocation cascade ------------------------------------------------------------------


def locked_by(session: Session, *, lot_id: str) -> list[tuple[str, str]]:
    """The pending requests holding a lot, as (conversion id, code of the institution deciding it)."""
    return [
        (conversion_id, code)
        for conversion_id, code in session.execute(
            select(col(Conversion.id), col(Institution.code))
            .join(ConversionLot, col(ConversionLot.conversion_id) == col(Conversion.id))
            .join(ConversionRule, col(ConversionRule.id) == col(Conversion.rule_id))
            .join(Institution, col(Institution.id) == col(ConversionRule.owner_institution_id))
            .where(col(ConversionLot.lot_id) == lot_id, col(Conversion.state) == ConversionState.pending)
            .order_by(col(Conversion.id))
        )
    ]


LIVE = (ConversionState.pending, ConversionState.approved)
"""The conversions a forced revocation still has to undo."""


def built_on(session: Session, *, lot_id: str, undone: bool = False) -> list[Conversion]:
    """The conversions resting on a lot, in the order a forced revocation undoes them: each pending
    request holding it, and each approved conversion that used it — after what was built in turn on
    that conversion's own credits (depth first). One walk for the preview the district office reads
    before it confirms (web/revocation.py) and for :func:`reverse_for_lot`, so the page lists exactly
    what the revocation then does.

    ``undone=True``: afterwards, what such a revocation undid — reversed conversions and requests the
    cascade ended (``decided_by = "cascade"``)."""
    seen: set[str] = set()
    order: list[Conversion] = []

    def walk(held_lot: str) -> None:
        state = col(Conversion.state)
        which = (
            or_(
                state == ConversionState.reversed,
                and_(state == ConversionState.rejected, col(Conversion.decided_by) == "cascade"),
            )
            if undone
            else state.in_(LIVE)
        )
        uses = session.execute(
            select(Conversion)
            .join(ConversionLot, col(ConversionLot.conversion_id) == col(Conversion.id))
            .where(col(ConversionLot.lot_id) == held_lot, which)
            .order_by(col(Conversion.id))
        ).scalars()
        for conversion in list(uses):
            if conversion.id in seen:
                continue  # reached through another path of this cascade
            seen.add(conversion.id)
            if conversion.target_lot_id is not None and conversion.state in (
                ConversionState.approved,
                ConversionState.reversed,
            ):
                walk(conversion.target_lot_id)
            order.append(conversion)

    walk(lot_id)
    return order


def reverse_for_lot(session: Session, *, lot_id: str, reason: str) -> list[str]:
    """Undo every conversion that used a lot (pending ones are released, approved ones reversed,
    recursively when their own target lot was used further). Returns the undone conversion ids."""
    undone = built_on(session, lot_id=lot_id)
    for conversion in undone:
        if conversion.state == ConversionState.pending:
            _release(session, conversion, ConversionState.rejected, by="cascade", reason=reason)
        else:
            _reverse(session, conversion, reason)
    return [conversion.id for conversion in undone]


def _reverse(session: Session, conversion: Conversion, reason: str) -> None:
    if conversion.transaction_id is None:  # only approved conversions come here, and approving posts
        raise ValueError(f"conversion {conversion.id} has no ledger transaction to reverse")
    writer = LedgerWriter(session)
    tx_id = writer.reverse(conversion.transaction_id)
    writer.flush()  # marks the target lot reversed too
    for held in held_lots(session, conversion.id):
        session.execute(
            update(Lot)
            .where(col(Lot.id) == held.lot_id)
            .values(consumed_units=col(Lot.consumed_units) - held.units)
        )
    conversion.state, conversion.reversal_transaction_id, conversion.reason = (
        ConversionState.reversed,
        tx_id,
        reason,
    )
    session.add(conversion)
    session.flush()


# -- the approver's view of a request -------------------------------------------------------------


@dataclass(frozen=True)
class Ended:
    """A request that ended without a decision — its learner took it back (``withdrawn``), or the
    institution posted the course itself (``superseded``) — as the approving institution's console
    lists it."""

    conversion: Conversion
    rule: ConversionRule
    learner_name: str
    account_no: str


def recently_ended(
    session: Session,
    *,
    institution_id: int,
    state: ConversionState,
    days: int = PENDING_DAYS,
    limit: int = 50,
) -> list[Ended]:
    """Requests under the rules ``institution_id`` owns that ended in ``state`` (``withdrawn`` or
    ``superseded``) in the last ``days``, newest first: the console says so where a request it may
    have seen waiting was."""
    rows = session.execute(
        select(Conversion, ConversionRule, col(Learner.name), col(Learner.account_no))
        .join(ConversionRule, col(ConversionRule.id) == col(Conversion.rule_id))
        .join(Learner, col(Learner.id) == col(Conversion.learner_id))
        .where(
            col(ConversionRule.owner_institution_id) == institution_id,
            col(Conversion.state) == state,
            col(Conversion.decided_at) >= clock.now() - timedelta(days=days),
        )
        .order_by(col(Conversion.decided_at).desc(), col(Conversion.id))
        .limit(limit)
    ).all()
    return [Ended(*row) for row in rows]


@dataclass(frozen=True)
class HeldLot:
    lot_id: str
    title_zh: str
    title_en: str | None
    institution_code: str
    earned_on: date
    units: int
    granted_units: int


@dataclass(frozen=True)
class Review:
    """A pending request as the approving institution sees it: who, which rule, what the engine
    says about it now, and the lots it would consume."""

    conversion: Conversion
    rule: ConversionRule
    learner_name: str
    account_no: str
    option: engine.Option
    held: list[HeldLot]


def pending_reviews(session: Session, *, institution_id: int, limit: int = 100) -> list[Review]:
    """Pending requests under the rules ``institution_id`` owns, oldest first, each re-evaluated by
    the engine with its own held lots given back (and its own grant taken off the caps' count), so
    the explanation is the one the learner saw when asking."""
    today = clock.today()
    rows = session.execute(
        select(Conversion, ConversionRule, Learner)
        .join(ConversionRule, col(ConversionRule.id) == col(Conversion.rule_id))
        .join(Learner, col(Learner.id) == col(Conversion.learner_id))
        .where(
            col(ConversionRule.owner_institution_id) == institution_id,
            col(Conversion.state) == ConversionState.pending,
            col(Conversion.expires_at) >= clock.now(),
        )
        .order_by(col(Conversion.requested_at), col(Conversion.id))
        .limit(limit)
    ).all()
    reviews = []
    for conversion, rule, learner in rows:
        held = held_lots(session, conversion.id)
        back = {h.lot_id: h.units for h in held}
        lots = [
            replace(lot, available_units=lot.available_units + back.get(lot.id, 0))
            for lot in lot_views(session, learner.id, besides=conversion.id)
        ]
        view = rule_view(session, rule, learner_id=learner.id, today=today)
        if view.transferred is not None:
            t = view.transferred
            by_institution = dict(t.by_institution)
            for h in held:
                by_institution[h.institution_code] = (
                    by_institution.get(h.institution_code, 0) - h.granted_units
                )
            view = replace(
                view,
                transferred=engine.Transferred(
                    total_units=t.total_units - conversion.grant_units,
                    this_year_units=t.this_year_units
                    - (conversion.grant_units if conversion.requested_at.year == today.year else 0),
                    by_institution=by_institution,
                ),
            )
        option = engine.select(view, lots, today=today, lot_ids=list(back))
        titles = {lot.id: lot for lot in lots}
        reviews.append(
            Review(
                conversion=conversion,
                rule=rule,
                learner_name=learner.name,
                account_no=learner.account_no,
                option=option,
                held=[
                    HeldLot(
                        lot_id=h.lot_id,
                        title_zh=titles[h.lot_id].title_zh if h.lot_id in titles else h.lot_id,
                        title_en=titles[h.lot_id].title_en if h.lot_id in titles else None,
                        institution_code=h.institution_code,
                        earned_on=titles[h.lot_id].earned_on if h.lot_id in titles else today,
                        units=h.units,
                        granted_units=h.granted_units,
                    )
                    for h in held
                ],
            )
        )
    return reviews
