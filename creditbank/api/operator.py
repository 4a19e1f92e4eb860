"""Operator routes: accredit institutions and manage their API keys (SPEC §3.1)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from creditbank.api.deps import DbDep, IdempotencyKey, Operator, body_digest, write
from creditbank.httpio import JsonRoute
from creditbank.institutions import service as institutions
from creditbank.institutions.models import ApiKey, Institution, InstitutionState
from creditbank.institutions.schemas import ApiKeyIn, ApiKeyOut, InstitutionIn, InstitutionOut, LocationIn

router = APIRouter(route_class=JsonRoute, prefix="/api/v1", tags=["operator 管理员"])


def institution_out(i: Institution) -> dict:
    return InstitutionOut.model_validate(i, from_attributes=True).model_dump(mode="json")


def key_out(k: ApiKey, secret: str | None = None) -> dict:
    return ApiKeyOut(
        id=k.id, label=k.label, created_at=k.created_at, revoked_at=k.revoked_at, key=secret
    ).model_dump(mode="json")


@router.post(
    "/institutions",
    status_code=201,
    response_model=InstitutionOut,
    summary="新建机构 · Create an institution (pending)",
)
def create_institution(
    body: InstitutionIn,
    request: Request,
    db: DbDep,
    principal: Operator,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    def use_case(session):
        institution, created = institutions.create(session, **body.model_dump())
        return (201 if created else 200), institution_out(institution)

    return write(
        db, principal, use_case, idempotency_key=idempotency_key, request_hash=body_digest(request, body)
    )


@router.get("/institutions", response_model=list[InstitutionOut], summary="机构列表 · List institutions")
def list_institutions(db: DbDep, principal: Operator) -> list[dict]:
    with db.reader() as session:
        return [institution_out(i) for i in institutions.list_all(session)]


def _state_route(state: InstitutionState):
    def change(
        code: str, request: Request, db: DbDep, principal: Operator, idempotency_key: IdempotencyKey = None
    ) -> Response:
        def use_case(session):
            return 200, institution_out(institutions.set_state(session, code=code, state=state))

        return write(
            db, principal, use_case, idempotency_key=idempotency_key, request_hash=body_digest(request, None)
        )

    return change


router.add_api_route(
    "/institutions/{code}/accredit",
    _state_route(InstitutionState.accredited),
    methods=["POST"],
    response_model=InstitutionOut,
    summary="认证机构 · Accredit (or re-accredit) an institution",
)
router.add_api_route(
    "/institutions/{code}/suspend",
    _state_route(InstitutionState.suspended),
    methods=["POST"],
    response_model=InstitutionOut,
    summary="暂停机构 · Suspend an institution: no new postings, existing credits stay",
)


@router.put(
    "/institutions/{code}/location",
    response_model=InstitutionOut,
    summary="机构所在地 · Set where an institution stands (区/县, 乡镇/街道, 村/社区)",
)
def set_location(code: str, body: LocationIn, db: DbDep, principal: Operator) -> Response:
    """Coverage statistics count an accredited institution in the 乡镇/街道 and 村/社区 named here."""
    return write(
        db,
        principal,
        lambda session: (
            200,
            institution_out(institutions.set_location(session, code=code, **body.model_dump())),
        ),
    )


@router.post(
    "/institutions/{code}/api-keys",
    status_code=201,
    response_model=ApiKeyOut,
    summary="发放 API 密钥 · Issue an API key (shown once)",
)
def create_api_key(
    code: str,
    request: Request,
    db: DbDep,
    principal: Operator,
    body: ApiKeyIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    body = body or ApiKeyIn()

    def use_case(session):
        key, secret = institutions.issue_api_key(session, code=code, label=body.label)
        return 201, key_out(key, secret)

    return write(
        db,
        principal,
        use_case,
        idempotency_key=idempotency_key,
        request_hash=body_digest(request, body),
        secret_fields=("key",),  # shown once: a replay answers it as null (issue 9 item 8)
    )


@router.get(
    "/institutions/{code}/api-keys",
    response_model=list[ApiKeyOut],
    summary="列出 API 密钥（不含密钥本身） · List API keys (no secrets)",
)
def list_api_keys(code: str, db: DbDep, principal: Operator) -> list[dict]:
    with db.reader() as session:
        return [key_out(k) for k in institutions.list_api_keys(session, code=code)]


@router.delete(
    "/institutions/{code}/api-keys/{key_id}", response_model=ApiKeyOut, summary="吊销密钥 · Revoke an API key"
)
def revoke_api_key(code: str, key_id: str, db: DbDep, principal: Operator) -> Response:
    return write(
        db,
        principal,
        lambda session: (200, key_out(institutions.revoke_api_key(session, code=code, key_id=key_id))),
    )
