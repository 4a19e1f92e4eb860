"""Enrolment, activation and sign-in of learners (SPEC §3.2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlmodel import Session, col, select

from creditbank.errors import CreditbankError
from creditbank.kit import clock, idcard
from creditbank.kit.tokens import hmac_hex, new_account_no, new_activation_code, new_secret, sha256_hex
from creditbank.learners.models import InstitutionLearner, Learner, LearnerSession
from creditbank.ledger.models import AccountKind, LedgerAccount

ACTIVATION_DAYS = 30
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@dataclass(frozen=True)
class Enrolment:
    learner: Learner
    activation_code: str | None
    created: bool


def parse_national_id(raw: str) -> idcard.NationalId:
    try:
        return idcard.parse(raw, today=clock.today())
    except idcard.InvalidNationalId as exc:
        raise CreditbankError("invalid_national_id", {"reason": exc.zh}) from None


def id_hmac(secret: bytes, number: str) -> str:
    return hmac_hex(secret, idcard.normalize(number))


def enroll(
    session: Session,
    *,
    secret: bytes,
    name: str,
    national_id: str,
    phone: str | None = None,
    district: str | None = None,
    gender: str | None = None,
    birth_date: date | None = None,
    institution_id: int | None = None,
) -> Enrolment:
    """Enrol a person, or find them: the same 身份证号 always maps to the same account."""
    nid = parse_national_id(national_id)
    digest = id_hmac(secret, nid.number)
    learner = session.exec(select(Learner).where(Learner.id_hmac == digest)).first()
    created = learner is None
    if learner is None:
        learner = Learner(
            account_no=_free_account_no(session),
            id_hmac=digest,
            id_masked=nid.masked,
            name=name.strip(),
            birth_year=(birth_date or nid.birth_date).year,
            gender=gender or nid.gender,
            phone=phone,
            district=district,
            enrolled_by_id=institution_id,
            created_at=clock.now(),
        )
        session.add(learner)
        session.flush()
        session.add(
            LedgerAccount(
                code=f"learner:{learner.account_no}", kind=AccountKind.learner, learner_id=learner.id
            )
        )
    code = None
    if learner.activated_at is None:
        # A fresh code each time a clerk enrols them: the last paper slip handed over is the valid one.
        code = new_activation_code()
        learner.activation_hash = sha256_hex(f"{learner.account_no}:{code}")
        learner.activation_expires_at = clock.now() + timedelta(days=ACTIVATION_DAYS)
        session.add(learner)
    if institution_id is not None:
        link(session, institution_id=institution_id, learner_ids=[learner.id])
    session.flush()
    return Enrolment(learner=learner, activation_code=code, created=created)


def _free_account_no(session: Session) -> str:
    while True:  # 10^10 numbers: a collision is rare, but the unique index is the real guard
        candidate = new_account_no()
        if session.exec(select(Learner.id).where(Learner.account_no == candidate)).first() is None:
            return candidate


def link(session: Session, *, institution_id: int, learner_ids: list[int]) -> None:
    """Remember that an institution enrolled or taught these learners (read access to balances)."""
    known = set(
        session.exec(
            select(InstitutionLearner.learner_id).where(
                InstitutionLearner.institution_id == institution_id,
                col(InstitutionLearner.learner_id).in_(learner_ids),
            )
        )
    )
    for learner_id in sorted(set(learner_ids) - known):
        session.add(InstitutionLearner(institution_id=institution_id, learner_id=learner_id))
    session.flush()


def by_account_no(session: Session, account_no: str) -> Learner:
    learner = session.exec(select(Learner).where(Learner.account_no == account_no.strip().upper())).first()
    if learner is None:
        raise CreditbankError("learner_not_found", {"ref": account_no})
    return learner


def visible_to(session: Session, account_no: str, *, institution_id: int | None) -> Learner:
    """The learner, if the caller may read their account: the operator (``institution_id`` None)
    reads everyone; an institution only the learners it enrolled or taught. Anyone else is
    ``learner_not_found`` — indistinguishable from an account that does not exist."""
    try:
        learner = by_account_no(session, account_no)
    except CreditbankError:
        learner = None
    if learner is not None and institution_id is not None:
        linked = session.exec(
            select(InstitutionLearner).where(
                InstitutionLearner.institution_id == institution_id,
                InstitutionLearner.learner_id == learner.id,
            )
        ).first()
        if linked is None:
            learner = None
    if learner is None:
        raise CreditbankError("learner_not_found", {"ref": account_no})
    return learner


def activate(
    session: Session, *, account_no: str, activation_code: str, password: str
) -> tuple[Learner, str]:
    learner = session.exec(select(Learner).where(Learner.account_no == account_no.strip().upper())).first()
    if learner is None:
        raise CreditbankError("invalid_activation_code")
    if learner.activated_at is not None:
        raise CreditbankError("already_activated")
    expected = sha256_hex(f"{learner.account_no}:{activation_code.strip()}")
    if (
        learner.activation_hash is None
        or learner.activation_hash != expected
        or learner.activation_expires_at is None
        or learner.activation_expires_at < clock.now()
    ):
        raise CreditbankError("invalid_activation_code")
    _check_password(password)
    learner.password_hash = _hasher.hash(password)
    learner.activated_at = clock.now()
    learner.activation_hash = None
    learner.activation_expires_at = None
    session.add(learner)
    return learner, open_session(session, learner)


def sign_in(session: Session, *, account_no: str, password: str) -> tuple[Learner, str]:
    learner = session.exec(select(Learner).where(Learner.account_no == account_no.strip().upper())).first()
    if learner is None or learner.password_hash is None:
        # Same answer as a wrong password: the response must not reveal which accounts exist.
        _hasher.hash(password)
        raise CreditbankError("invalid_credentials")
    try:
        _hasher.verify(learner.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        raise CreditbankError("invalid_credentials") from None
    return learner, open_session(session, learner)


def open_session(session: Session, learner: Learner, days: int = 30) -> str:
    token = new_secret("cbs")
    now = clock.now()
    session.add(
        LearnerSession(
            token_hash=sha256_hex(token),
            learner_id=learner.id,
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
    )
    session.flush()
    return token


def by_session_token(session: Session, token: str) -> Learner | None:
    row = session.get(LearnerSession, sha256_hex(token))
    if row is None or row.expires_at < clock.now():
        return None
    return session.get(Learner, row.learner_id)


def end_session(session: Session, token: str) -> None:
    """Sign out: the session row is deleted, so the token is dead everywhere (pages and API)."""
    row = session.get(LearnerSession, sha256_hex(token))
    if row is not None:
        session.delete(row)
        session.flush()


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise CreditbankError("weak_password")


def mask_phone(phone: str | None) -> str | None:
    if not phone or len(phone) < 7:
        return phone
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
