"""Staff and operator accounts, their sessions, and the record of what they did.

- Institution staff sign in with a username and a password (argon2id, as learners do); their
  roles say what they may do: a *clerk* keeps the catalogue, enrols, posts and uploads
  completions; an *approver* decides conversions and revokes completions.
- Operator accounts (the district office) need a password *and* a TOTP code (RFC 6238, pyotp):
  they accredit institutions and hold the keys. A code is accepted once (the step is stored).
  The first operator account is created with the bootstrap operator token's authority
  (``creditbank operator create``); the token itself stays for the API.
- A session is an opaque ``cbw_`` token; only its SHA-256 is stored. Signing out deletes the row.
- ``record`` writes one ``staff_action`` row per change made through a staff or operator session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import pyotp
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlmodel import Session, col, select

from creditbank.errors import CreditbankError
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution
from creditbank.kit import clock
from creditbank.kit.passwords import BoundedHasher
from creditbank.kit.sealed import seal
from creditbank.kit.tokens import new_secret, sha256_hex
from creditbank.staff.models import (
    OperatorAccount,
    StaffAccount,
    StaffAction,
    StaffRole,
    StaffSession,
)

# argon2id with the library's recommended parameters, through the process-wide bound (issue 9 item 11)
_hasher = BoundedHasher()
STAFF_SESSION = timedelta(hours=12)
OPERATOR_SESSION = timedelta(hours=8)
ISSUER_NAME = "学分银行 creditbank"
_USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-@")


@dataclass(frozen=True)
class StaffUser:
    """Who is signed in through a staff or operator session, as the pages see them."""

    kind: Literal["staff", "operator"]
    id: int
    username: str
    name: str
    roles: frozenset[str]
    institution_id: int | None = None
    institution_code: str | None = None
    institution_name: str | None = None

    @property
    def actor(self) -> str:
        """How records name them (``decided_by``, ``revoked_by``): ``staff:12`` or ``operator:1``."""
        return f"{self.kind}:{self.id}"

    @property
    def is_operator(self) -> bool:
        return self.kind == "operator"

    def has(self, role: str) -> bool:
        return role in self.roles


def _username(raw: str) -> str:
    username = raw.strip().lower()
    if not (3 <= len(username) <= 64) or not set(username) <= _USERNAME_CHARS:
        raise CreditbankError(
            "invalid_value",
            {"field": "username", "reason": "3–64 位小写字母、数字或 ._-@ / 3–64 of a–z 0–9 ._-@"},
        )
    return username


def _password(password: str) -> str:
    if len(password) < 10:
        raise CreditbankError("staff_weak_password")
    return _hasher.hash(password)


def _taken(session: Session, username: str) -> bool:
    return (
        session.exec(select(StaffAccount.id).where(StaffAccount.username == username)).first() is not None
        or session.exec(select(OperatorAccount.id).where(OperatorAccount.username == username)).first()
        is not None
    )


def parse_roles(roles: list[str] | str) -> str:
    chosen = roles.split() if isinstance(roles, str) else list(roles)
    valid = [r.value for r in StaffRole if r.value in chosen]
    if not valid or len(valid) != len(set(chosen)):
        raise CreditbankError("invalid_value", {"field": "roles", "reason": "clerk / approver"})
    return " ".join(valid)


# -- institution staff -------------------------------------------------------------------------


def create_staff(
    session: Session,
    *,
    institution_code: str,
    username: str,
    name: str,
    password: str,
    roles: list[str] | str,
) -> StaffAccount:
    institution = institutions.get(session, institution_code)
    username = _username(username)
    if _taken(session, username):
        raise CreditbankError("username_taken", {"username": username})
    name = name.strip()
    if not name:
        raise CreditbankError("invalid_value", {"field": "name", "reason": "必填 / required"})
    account = StaffAccount(
        institution_id=institution.id,
        username=username,
        name=name[:100],
        roles=parse_roles(roles),
        password_hash=_password(password),
        created_at=clock.now(),
    )
    session.add(account)
    session.flush()
    return account


def list_staff(session: Session, *, institution_id: int) -> list[StaffAccount]:
    return list(
        session.exec(
            select(StaffAccount)
            .where(col(StaffAccount.institution_id) == institution_id)
            .order_by(col(StaffAccount.username))
        )
    )


def disable_staff(session: Session, *, institution_id: int, staff_id: int) -> StaffAccount:
    account = session.get(StaffAccount, staff_id)
    if account is None or account.institution_id != institution_id:
        raise CreditbankError("staff_not_found")
    if account.disabled_at is None:
        account.disabled_at = clock.now()
        session.add(account)
        for row in session.exec(select(StaffSession).where(col(StaffSession.staff_id) == staff_id)):
            session.delete(row)
        session.flush()
    return account


def sign_in_staff(session: Session, *, username: str, password: str) -> tuple[StaffUser, str]:
    account = session.exec(
        select(StaffAccount).where(StaffAccount.username == username.strip().lower())
    ).first()
    if account is None or account.disabled_at is not None:
        _hasher.hash(password)  # the same work and the same answer whether the account exists or not
        raise CreditbankError("staff_sign_in_failed")
    try:
        _hasher.verify(account.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        raise CreditbankError("staff_sign_in_failed") from None
    return _staff_user(session, account), _open(session, staff_id=account.id)


def _staff_user(session: Session, account: StaffAccount) -> StaffUser:
    institution = session.get(Institution, account.institution_id)
    assert institution is not None
    return StaffUser(
        kind="staff",
        id=account.id,
        username=account.username,
        name=account.name,
        roles=frozenset(account.roles.split()),
        institution_id=institution.id,
        institution_code=institution.code,
        institution_name=institution.name_zh,
    )


# -- operator accounts -------------------------------------------------------------------------


def create_operator(
    session: Session, *, username: str, name: str, password: str, secret: bytes
) -> tuple[OperatorAccount, str]:
    """A new operator account; returns it and the TOTP secret (base32) to put in an authenticator app.

    ``secret`` is the deployment secret: the TOTP secret is sealed at rest with it."""
    username = _username(username)
    if _taken(session, username):
        raise CreditbankError("username_taken", {"username": username})
    totp_secret = pyotp.random_base32()
    account = OperatorAccount(
        username=username,
        name=(name.strip() or username)[:100],
        password_hash=_password(password),
        totp_secret=seal(totp_secret, secret),
        created_at=clock.now(),
    )
    session.add(account)
    session.flush()
    return account, totp_secret


def provisioning_uri(username: str, totp_secret: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (as a QR code or typed in)."""
    return pyotp.TOTP(totp_secret).provisioning_uri(name=username, issuer_name=ISSUER_NAME)


def list_operators(session: Session) -> list[OperatorAccount]:
    return list(session.exec(select(OperatorAccount).order_by(col(OperatorAccount.username))))


def _totp_step(totp_secret: str, code: str, at: datetime) -> int | None:
    """The 30-second step ``code`` is valid for (now, or one step either side for clock drift)."""
    code = code.strip().replace(" ", "")
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(totp_secret)
    for drift in (0, -1, 1):
        moment = at + timedelta(seconds=drift * totp.interval)
        if pyotp.utils.strings_equal(totp.at(moment), code):
            return totp.timecode(moment)
    return None


def sign_in_operator(session: Session, *, username: str, password: str, code: str) -> tuple[StaffUser, str]:
    """Password and TOTP code; any mistake gets the same answer (nothing says which part was wrong)."""
    account = session.exec(
        select(OperatorAccount).where(OperatorAccount.username == username.strip().lower())
    ).first()
    if account is None or account.disabled_at is not None:
        _hasher.hash(password)
        raise CreditbankError("operator_sign_in_failed")
    try:
        _hasher.verify(account.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        raise CreditbankError("operator_sign_in_failed") from None
    step = _totp_step(account.totp_secret, code, clock.now())
    if step is None or (account.totp_last_step is not None and step <= account.totp_last_step):
        raise CreditbankError("operator_sign_in_failed")  # a wrong code, or one already used
    account.totp_last_step = step
    session.add(account)
    return _operator_user(account), _open(session, operator_id=account.id)


def _operator_user(account: OperatorAccount) -> StaffUser:
    return StaffUser(
        kind="operator",
        id=account.id,
        username=account.username,
        name=account.name,
        roles=frozenset({"operator"}),
    )


# -- sessions ----------------------------------------------------------------------------------


def _open(session: Session, *, staff_id: int | None = None, operator_id: int | None = None) -> str:
    token = new_secret("cbw")
    now = clock.now()
    session.add(
        StaffSession(
            token_hash=sha256_hex(token),
            staff_id=staff_id,
            operator_id=operator_id,
            created_at=now,
            expires_at=now + (OPERATOR_SESSION if operator_id else STAFF_SESSION),
        )
    )
    session.flush()
    return token


def by_session_token(session: Session, token: str) -> StaffUser | None:
    row = session.get(StaffSession, sha256_hex(token))
    if row is None or row.expires_at < clock.now():
        return None
    if row.staff_id is not None:
        account = session.get(StaffAccount, row.staff_id)
        if account is None or account.disabled_at is not None:
            return None
        return _staff_user(session, account)
    operator = session.get(OperatorAccount, row.operator_id)
    if operator is None or operator.disabled_at is not None:
        return None
    return _operator_user(operator)


def end_session(session: Session, token: str) -> None:
    row = session.get(StaffSession, sha256_hex(token))
    if row is not None:
        session.delete(row)
        session.flush()


# -- what they did -----------------------------------------------------------------------------


def record(
    session: Session, user: StaffUser, action: str, subject: str, *, institution_id: int | None = None
) -> None:
    """One line in ``staff_action`` for a change made through a staff or operator session."""
    session.add(
        StaffAction(
            at=clock.now(),
            staff_id=user.id if user.kind == "staff" else None,
            operator_id=user.id if user.kind == "operator" else None,
            institution_id=institution_id if institution_id is not None else user.institution_id,
            action=action[:40],
            subject=subject[:300],
        )
    )
    session.flush()


def record_api(session: Session, action: str, subject: str, *, institution_id: int | None) -> None:
    """One line in ``staff_action`` for a change made through the API that people answer for (a new
    activation slip): the subject names the API key, or the operator token when no institution."""
    session.add(
        StaffAction(at=clock.now(), institution_id=institution_id, action=action[:40], subject=subject[:300])
    )
    session.flush()


def actions(
    session: Session, *, institution_id: int | None = None, action: str | None = None, limit: int = 50
) -> list[StaffAction]:
    """The newest changes first (of one institution, or of one kind, if given)."""
    query = select(StaffAction).order_by(col(StaffAction.id).desc()).limit(limit)
    if institution_id is not None:
        query = query.where(col(StaffAction.institution_id) == institution_id)
    if action is not None:
        query = query.where(col(StaffAction.action) == action)
    return list(session.exec(query))
