"""Institutions, their API keys, and the operator token."""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from creditbank.errors import CreditbankError
from creditbank.institutions import districts
from creditbank.institutions.models import ApiKey, Institution, InstitutionState, OperatorToken
from creditbank.kit import clock, text
from creditbank.kit.tokens import new_id, new_secret, sha256_hex
from creditbank.ledger.models import AccountKind, LedgerAccount

# Which state changes the operator may make (SPEC §3.1).
_TRANSITIONS = {
    InstitutionState.accredited: {InstitutionState.pending, InstitutionState.suspended},
    InstitutionState.suspended: {InstitutionState.accredited},
}


def create(
    session: Session,
    *,
    code: str,
    name_zh: str,
    name_en: str | None = None,
    kind: str | None = None,
    district: str | None = None,
    township: str | None = None,
    village: str | None = None,
) -> tuple[Institution, bool]:
    """Create an institution (pending) and its issuance account. Same code, same fields → replay.

    Its names and places are printed on certificates: normalised here (``kit.text``) for every way
    in — the API, the operator's pages, the CLI, the demo."""
    code = code.strip().upper()
    name_zh = text.clean(name_zh, field="name_zh", max_length=200)
    name_en = text.optional(name_en, field="name_en", max_length=200)
    district, township, village = (
        districts.check(session, district),
        _place(township, "township"),
        _place(village, "village"),
    )
    existing = session.exec(select(Institution).where(Institution.code == code)).first()
    if existing is not None:
        if (
            existing.name_zh,
            existing.name_en,
            existing.kind,
            existing.district,
            existing.township,
            existing.village,
        ) == (name_zh, name_en, kind, district, township, village):
            return existing, False
        raise CreditbankError("institution_exists", {"code": code})
    institution = Institution(
        code=code,
        name_zh=name_zh,
        name_en=name_en,
        kind=kind,
        district=district,
        township=township,
        village=village,
        state=InstitutionState.pending,
        created_at=clock.now(),
    )
    session.add(institution)
    session.flush()
    session.add(
        LedgerAccount(code=f"issuance:{code}", kind=AccountKind.issuance, institution_id=institution.id)
    )
    session.flush()
    return institution, True


def list_all(session: Session) -> list[Institution]:
    return list(session.exec(select(Institution).order_by(Institution.code)))


def get(session: Session, code: str) -> Institution:
    institution = session.exec(select(Institution).where(Institution.code == code.strip().upper())).first()
    if institution is None:
        raise CreditbankError("institution_not_found", {"code": code})
    return institution


def names(session: Session, codes: set[str]) -> dict[str, tuple[str, str | None]]:
    """code → (name_zh, name_en) for the given institution codes, in one query."""
    if not codes:
        return {}
    rows = session.execute(
        select(col(Institution.code), col(Institution.name_zh), col(Institution.name_en)).where(
            col(Institution.code).in_(codes)
        )
    )
    return {code: (zh, en) for code, zh, en in rows}


def require_accredited(session: Session, institution_id: int) -> Institution:
    """The institution, read afresh, if it may act (accredited); else 403 — see ``may_act``."""
    institution = session.get(Institution, institution_id, populate_existing=True)
    if institution is None:
        raise CreditbankError("institution_not_accredited", {"code": "?"})
    may_act(institution)
    return institution


def may_act(institution: Institution) -> None:
    """Refuse an institution that may not change anything: enrol, publish, post, revoke, issue,
    decide, propose or retire rules (SPEC §3.1) — the check every changing route makes first. Pending
    ones never could (``institution_not_accredited``); a suspended one is read-only
    (``institution_suspended``, issue 9 item 6). The operator's own actions on a
    suspended institution's records are not asked here: they are allowed."""
    if institution.state == InstitutionState.suspended:
        raise CreditbankError("institution_suspended", {"code": institution.code})
    if institution.state != InstitutionState.accredited:
        raise CreditbankError("institution_not_accredited", {"code": institution.code})


def set_state(session: Session, *, code: str, state: InstitutionState) -> Institution:
    institution = get(session, code)
    if institution.state == state:
        return institution  # repeating a state change is a no-op, not an error
    if institution.state not in _TRANSITIONS.get(state, set()):
        raise CreditbankError(
            "invalid_state_change", {"from_state": institution.state, "to_state": state.value}
        )
    institution.state = state
    session.add(institution)
    session.flush()
    return institution


def _place(name: str | None, field: str) -> str | None:
    return text.optional(name, field=field, max_length=100)


def set_location(
    session: Session, *, code: str, district: str | None, township: str | None, village: str | None
) -> Institution:
    """Where the institution stands (区/县, 乡镇/街道, 村/社区): what coverage statistics count."""
    institution = get(session, code)
    institution.district, institution.township, institution.village = (
        districts.check(session, district),
        _place(township, "township"),
        _place(village, "village"),
    )
    session.add(institution)
    session.flush()
    return institution


def issue_api_key(session: Session, *, code: str, label: str | None = None) -> tuple[ApiKey, str]:
    """A new key; the clear key is returned once and only its hash is stored."""
    institution = get(session, code)
    secret = new_secret("cbk")
    key = ApiKey(
        id=new_id("key"),
        institution_id=institution.id,
        key_hash=sha256_hex(secret),
        label=label,
        created_at=clock.now(),
    )
    session.add(key)
    session.flush()
    return key, secret


def list_api_keys(session: Session, *, code: str) -> list[ApiKey]:
    institution = get(session, code)
    return list(
        session.exec(
            select(ApiKey)
            .where(col(ApiKey.institution_id) == institution.id)
            .order_by(col(ApiKey.created_at))
        )
    )


def revoke_api_key(session: Session, *, code: str, key_id: str) -> ApiKey:
    institution = get(session, code)
    key = session.get(ApiKey, key_id)
    if key is None or key.institution_id != institution.id:
        raise CreditbankError("api_key_not_found")
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        session.add(key)
        session.flush()
    return key


_BY_API_KEY = (
    select(Institution, ApiKey)
    .join(ApiKey, col(ApiKey.institution_id) == col(Institution.id))
    .where(ApiKey.key_hash == bindparam("digest"))
)
"""Built once: every institution request starts with it."""


def find_by_api_key(session: Session, secret: str) -> tuple[Institution, ApiKey] | None:
    """The key's institution and the key, in one query."""
    found = session.exec(_BY_API_KEY, params={"digest": sha256_hex(secret)}).first()
    if found is None or found[1].revoked_at is not None:
        return None
    return found[0], found[1]


def ensure_operator_token(session: Session) -> str | None:
    """Create the operator token on first run; returns it (to print once) or None if one exists."""
    if session.exec(select(OperatorToken)).first() is not None:
        return None
    token = new_secret("cbo")
    session.add(OperatorToken(token_hash=sha256_hex(token), created_at=clock.now()))
    session.flush()
    return token


def is_operator_token(session: Session, token: str) -> bool:
    return (
        session.exec(select(OperatorToken).where(OperatorToken.token_hash == sha256_hex(token))).first()
        is not None
    )
