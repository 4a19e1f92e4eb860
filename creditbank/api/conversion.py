"""Conversion rules, qualifications, conversion requests and progress (SPEC §3.5–§3.6)."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response
from sqlmodel import Session

from creditbank.api import negotiation
from creditbank.api.deps import (
    ActingInstitution,
    ActingInstitutionOrOperator,
    DbDep,
    DbId,
    IdempotencyKey,
    InstitutionCaller,
    LearnerCaller,
    MaybeCaller,
    Operator,
    body_digest,
    write,
)
from creditbank.certificates import achievements
from creditbank.conversion import progress as progress_service
from creditbank.conversion import queries
from creditbank.conversion import rules as engine
from creditbank.conversion import service as conversions
from creditbank.conversion.models import Conversion, ConversionRule
from creditbank.conversion.schemas import (
    ConversionIn,
    ConversionOut,
    DecideIn,
    OptionOut,
    ProgressOut,
    QualificationOut,
    QualificationSpec,
    RejectRuleIn,
    RuleOut,
    RuleSpec,
)
from creditbank.httpio import JsonRoute
from creditbank.kit.units import credits

router = APIRouter(route_class=JsonRoute, prefix="/api/v1", tags=["conversion 学分转换"])


def rule_out(session: Session, rule: ConversionRule) -> dict:
    return queries.rule_out(session, rule).model_dump(mode="json")


def conversion_out(session: Session, conversion: Conversion) -> dict:
    return queries.conversion_out(session, conversion).model_dump(mode="json")


def option_out(option: engine.Option, taken: conversions.Taken | None = None) -> dict:
    rule = option.rule
    return {
        "rule": {
            "id": rule.id,
            "code": rule.code,
            "version": rule.version,
            "name_zh": rule.name_zh,
            "name_en": rule.name_en,
            "target_outcome": rule.target_ref,
            "target_title_zh": rule.target_title_zh,
        },
        "eligible": option.eligible,
        "grant": credits(option.grant_units),
        "would_use": [{"lot_id": u.lot_id, "credits": credits(u.units)} for u in option.would_use],
        "missing": [{"zh": m.zh, "en": m.en} for m in option.missing],
        "notes": [{"zh": m.zh, "en": m.en} for m in option.notes],
        "bound_by_cap": option.bound_by_cap,
        # Said plainly, not left to a note: a capped conversion uses more credits than it grants.
        "uses": credits(option.used_units) if option.eligible else 0.0,
        "exchange": None if (m := option.exchange) is None else {"zh": m.zh, "en": m.en},
        # Not eligible because the learner holds the target or asked for it already (docs/conversion.md).
        "taken": None if taken is None else {"code": taken.code, "conversion_id": taken.conversion_id},
    }


@router.post(
    "/conversion-rules",
    status_code=201,
    response_model=RuleOut,
    summary="提出转换规则 · Propose a conversion rule for one of your outcomes",
)
def propose_rule(
    body: RuleSpec,
    request: Request,
    db: DbDep,
    principal: ActingInstitution,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    def use_case(session: Session):
        rule, created = conversions.propose_rule(session, institution=principal.institution, spec=body)
        return (201 if created else 200), rule_out(session, rule)

    return write(
        db, principal, use_case, idempotency_key=idempotency_key, request_hash=body_digest(request, body)
    )


@router.get(
    "/conversion-rules",
    response_model=list[RuleOut],
    summary="转换规则公示 · Conversion rules anyone can read (approved by default)",
    description="Approved and retired rules are public. Proposed rules (drafts) are listed only to "
    "the operator and to the institution that owns them; anyone else gets an empty list. "
    "草案（proposed）仅管理员和规则所属机构可见。 Rejected rules (with the operator's reason) likewise.",
    # A token is optional here (it shows the caller's drafts): say so, or clients assume it is required.
    openapi_extra={"security": [{}, {"HTTPBearer": []}]},
)
def list_rules(
    db: DbDep,
    caller: MaybeCaller,
    state: Literal["proposed", "approved", "retired", "rejected"] = "approved",
) -> list[dict]:
    owner_id = None
    if state in ("proposed", "rejected"):
        if caller is None or caller.role not in ("operator", "institution"):
            return []
        if caller.role == "institution":
            owner_id = caller.institution.id
    with db.reader() as session:
        found = queries.rules(session, state=state, owner_institution_id=owner_id)
        return [r.model_dump(mode="json") for r in found]


@router.post(
    "/conversion-rules/{rule_id}/approve", response_model=RuleOut, summary="批准转换规则 · Approve a rule"
)
def approve_rule(
    rule_id: DbId, request: Request, db: DbDep, principal: Operator, idempotency_key: IdempotencyKey = None
) -> Response:
    return write(
        db,
        principal,
        lambda session: (200, rule_out(session, conversions.approve_rule(session, rule_id=rule_id))),
        idempotency_key=idempotency_key,
        request_hash=body_digest(request, None),
    )


@router.post(
    "/conversion-rules/{rule_id}/reject",
    response_model=RuleOut,
    summary="驳回转换规则 · Reject a proposed rule, saying why",
    description="The operator turns down a `proposed` rule; `reason` (required) is kept and shown to "
    "the institution that proposed it (`rejection_reason`, state `rejected`; listed with "
    "`GET /conversion-rules?state=rejected` to the operator and that institution). Rejecting it again "
    "answers the rule as it is; an approved or retired rule is 409 `rule_state_conflict`. The "
    "institution proposes the rule again with changed content to start a new version. "
    "管理员驳回待批准的规则并写明理由，提出机构可以看到。",
)
def reject_rule(
    rule_id: DbId,
    body: RejectRuleIn,
    request: Request,
    db: DbDep,
    principal: Operator,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return write(
        db,
        principal,
        lambda session: (
            200,
            rule_out(session, conversions.reject_rule(session, rule_id=rule_id, reason=body.reason)),
        ),
        idempotency_key=idempotency_key,
        request_hash=body_digest(request, body),
    )


@router.post(
    "/conversion-rules/{rule_id}/retire",
    response_model=RuleOut,
    summary="停用转换规则 · Retire a rule (operator or its owner)",
)
def retire_rule(
    rule_id: DbId,
    request: Request,
    db: DbDep,
    principal: ActingInstitutionOrOperator,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    institution_id = principal.institution.id if principal.institution else None
    return write(
        db,
        principal,
        lambda session: (
            200,
            rule_out(
                session, conversions.retire_rule(session, rule_id=rule_id, institution_id=institution_id)
            ),
        ),
        idempotency_key=idempotency_key,
        request_hash=body_digest(request, None),
    )


@router.put(
    "/qualifications/{code}",
    response_model=None,  # answered as built; documented by `responses` (conversion/schemas.py says why)
    responses={200: {"model": QualificationOut, "description": "Edited · 已修改"}},
    summary="发布资历 · Publish or edit a qualification",
)
def put_qualification(
    code: str, body: QualificationSpec, db: DbDep, principal: ActingInstitution
) -> Response:
    def use_case(session: Session):
        q, created = conversions.put_qualification(
            session, institution=principal.institution, code=code, spec=body
        )
        return (201 if created else 200), progress_service.qualification_out(session, q)

    return write(db, principal, use_case)


@router.get(
    "/qualifications/{code}",
    summary="资历要求 · A qualification and its requirements",
    description="The qualification's current version. `Accept: application/ld+json` answers it as an Open "
    "Badges 3.0 `Achievement` (what qualification certificates issued before versioned ids name), "
    "a browser (`text/html`) a readable page.",
    response_model=None,
    responses={
        **negotiation.ACHIEVEMENT_RESPONSES,
        200: {
            "model": QualificationOut,
            "description": "JSON: the qualification as published; JSON-LD: its Open Badges 3.0 Achievement",
            "content": {negotiation.LD_JSON: {"schema": {"type": "object"}}},
        },
    },
)
def get_qualification(code: str, request: Request, db: DbDep) -> Response | dict:
    if negotiation.explicit(request, (negotiation.LD_JSON,)) or negotiation.wants_page(request):
        with db.reader() as session:
            view = achievements.qualification(session, request.app.state.issuer.base_url, code)
        return negotiation.answer_achievement(
            request, view, f"/achievements/qualifications/{quote(code, safe='')}"
        )
    with db.reader() as session:
        return progress_service.qualification_out(session, conversions.get_qualification(session, code))


@router.get(
    "/qualifications/{code}/versions/{version}",
    summary="资历（按版本） · A qualification in one version, as qualification certificates name it",
    description="The achievement id of a qualification certificate. JSON: the Open Badges 3.0 `Achievement` "
    "of that version (`application/json` or `application/ld+json`); a browser (`text/html`) gets a page.",
    response_class=Response,
    responses=negotiation.ACHIEVEMENT_RESPONSES,
)
def qualification_version(
    code: str, version: Annotated[int, Path(ge=1, le=10**9)], request: Request, db: DbDep
) -> Response:
    with db.reader() as session:
        view = achievements.qualification(session, request.app.state.issuer.base_url, code, version)
    page = f"/achievements/qualifications/{quote(code, safe='')}/versions/{version}"
    return negotiation.answer_achievement(request, view, page)


@router.get(
    "/me/conversion-options",
    summary="可转换项目 · What my credits can be converted into, and what is missing",
    response_model=None,
    responses={200: {"model": list[OptionOut], "description": "Every approved rule, eligible or not"}},
)
def my_options(db: DbDep, principal: LearnerCaller) -> list[dict]:
    with db.reader() as session:
        return [option_out(o, t) for o, t in conversions.options_with_standing(session, principal.learner)]


@router.post(
    "/me/conversions",
    status_code=201,
    response_model=ConversionOut,
    summary="申请学分转换 · Apply a conversion rule: the chosen credits are locked at once",
)
def request_conversion(
    body: ConversionIn,
    request: Request,
    db: DbDep,
    principal: LearnerCaller,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    with db.unit_of_work() as session:  # on its own: a refused request below must not undo the release
        conversions.expire_pending(session, learner_id=principal.learner.id)

    def use_case(session: Session):
        conversion = conversions.request(
            session,
            learner=principal.learner,
            rule_id=body.rule_id,
            rule_code=body.rule_code,
            lot_ids=body.lot_ids,
        )
        return 201, conversion_out(session, conversion)

    return write(
        db, principal, use_case, idempotency_key=idempotency_key, request_hash=body_digest(request, body)
    )


@router.post(
    "/me/conversions/{conversion_id}/withdraw",
    response_model=ConversionOut,
    summary="撤回转换申请 · Withdraw my pending request: its credits are released at once",
    description="The learner takes back a request of theirs that still waits for the school's decision "
    "(asked by mistake, or a change of mind): state `withdrawn`, and the credits it locked are released "
    "exactly as a rejection releases them; the school can no longer decide it (409 "
    "`conversion_withdrawn`). Withdrawing again answers the request as it is (200); an `Idempotency-Key` "
    "is honoured. A request already approved, rejected or reversed is 409 `conversion_not_withdrawable`, "
    "an expired one 409 `conversion_expired` (its credits were released already); another learner's "
    "request is 404 `conversion_not_found`. Against a concurrent approval exactly one of the two wins. "
    "学习者可以撤回仍在等待学校审核的申请，锁定的学分立即退回；已处理的申请不能撤回。",
)
def withdraw_conversion(
    conversion_id: Annotated[str, Path(max_length=40)],
    request: Request,
    db: DbDep,
    principal: LearnerCaller,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    with db.unit_of_work() as session:  # committed on its own: a refusal below must not undo the release
        conversions.expire_pending(session, learner_id=principal.learner.id, conversion_id=conversion_id)

    def use_case(session: Session):
        conversion = conversions.withdraw(
            session, conversion_id=conversion_id, learner_id=principal.learner.id
        )
        return 200, conversion_out(session, conversion)

    return write(
        db, principal, use_case, idempotency_key=idempotency_key, request_hash=body_digest(request, None)
    )


@router.get(
    "/me/conversions", response_model=list[ConversionOut], summary="我的转换申请 · My conversion requests"
)
def my_conversions(db: DbDep, principal: LearnerCaller) -> list[dict]:
    with db.reader() as session:
        found = queries.learner_conversions(session, learner_id=principal.learner.id)
        return [c.model_dump(mode="json") for c in found]


@router.get(
    "/conversions",
    response_model=list[ConversionOut],
    summary="待处理的转换申请 · Conversion requests targeting my outcomes (pending by default)",
    description="Requests under the rules the institution owns, in one `state`: `pending` (to decide), "
    "`approved`, `rejected`, `expired` (undecided for 30 days, credits released), `reversed` (undone "
    "by a forced revocation of a source record), `withdrawn` (taken back by the learner before a "
    "decision, credits released; 已撤回) or `superseded` (the institution posted the target course to "
    "the learner itself, by a completion or an import: the request ended, credits released; 已被直接登记取代).",
)
def institution_conversions(
    db: DbDep,
    principal: InstitutionCaller,
    state: Literal[
        "pending", "approved", "rejected", "expired", "reversed", "withdrawn", "superseded"
    ] = "pending",
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[dict]:
    with db.reader() as session:
        found = queries.institution_conversions(
            session, institution_id=principal.institution.id, state=state, limit=limit
        )
        return [c.model_dump(mode="json") for c in found]


@router.post(
    "/conversions/{conversion_id}/decide",
    response_model=ConversionOut,
    summary="审核转换申请 · Approve or reject a request (the target institution)",
    description="Only a `pending` request is decided. The same decision again answers the request as "
    "it stands (200, the first reason kept); another decision on one already decided is 409 "
    "`conversion_already_decided`; one the learner withdrew 409 `conversion_withdrawn` (已撤回: its "
    "credits were released, nothing to decide); one ended because the institution posted the target "
    "course to the learner itself 409 `conversion_superseded` (its credits were released); an expired "
    "one 409 `conversion_expired`; approving when the learner meanwhile holds the target outcome 409 "
    "`conversion_target_held`, and while the institution's own batch import has written it for the "
    "learner but not published it 409 `conversion_target_importing` (publishing ends the request). "
    "Another institution's request is 404.",
)
def decide(
    conversion_id: str,
    body: DecideIn,
    request: Request,
    db: DbDep,
    principal: ActingInstitutionOrOperator,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    with db.unit_of_work() as session:  # committed on its own: a refusal below must not undo the release
        conversions.supersede_if_held(session, conversion_id=conversion_id)  # the ledger lock first
        conversions.expire_pending(session, conversion_id=conversion_id)

    def use_case(session: Session):
        conversion = conversions.decide(
            session,
            conversion_id=conversion_id,
            institution_id=principal.institution.id if principal.institution else None,
            decision=body.decision,
            reason=body.reason,
            decided_by=principal.key,
        )
        return 200, conversion_out(session, conversion)

    return write(
        db, principal, use_case, idempotency_key=idempotency_key, request_hash=body_digest(request, body)
    )


@router.get(
    "/me/progress/{qualification_code}",
    summary="资历进度 · How far I am from a qualification",
    response_model=None,
    responses={
        200: {
            "model": ProgressOut,
            "description": "Met and unmet requirements, and what conversions would add",
        }
    },
)
def my_progress(qualification_code: str, db: DbDep, principal: LearnerCaller) -> dict:
    with db.reader() as session:
        return progress_service.progress(session, principal.learner, qualification_code).as_dict()
