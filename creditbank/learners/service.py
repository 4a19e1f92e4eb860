"""Enrolment, activation and sign-in of learners (SPEC §3.2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import bindparam, delete
from sqlmodel import Session, col, select

from creditbank.db import Database, referenced
from creditbank.errors import CreditbankError
from creditbank.institutions import districts
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution
from creditbank.kit import clock, halfwidth, idcard, passwords, text
from creditbank.kit.tokens import (
    hmac_hex,
    new_account_no,
    new_activation_code,
    new_secret,
    normalize_account_no,
    normalize_activation_code,
    sha256_hex,
)
from creditbank.learners import attempts
from creditbank.learners.models import ActivationCode, InstitutionLearner, Learner, LearnerSession
from creditbank.ledger.models import AccountKind, LedgerAccount

ACTIVATION_DAYS = 30
MAX_LIVE_CODES = 8
"""Live activation codes per account at most (each enrolling desk hands over its own)."""
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_work = passwords.HASHING  # bounded concurrent hashing, shared by the process (issue 9 item 11)


@dataclass(frozen=True)
class Enrolment:
    learner: Learner
    activation_code: str | None
    created: bool
    name_differs: bool = False
    """The 身份证号 was enrolled already, under another name than the one given now (the stored
    name is kept: SPEC §3.2 matches on the ID number alone). The console shows the clerk the
    registered name so a mistyped number or a wrong person is caught at the desk; the API says
    only this flag (``docs/api.md``)."""


def parse_national_id(raw: str) -> idcard.NationalId:
    try:
        return idcard.parse(raw, today=clock.today())
    except idcard.InvalidNationalId as exc:
        raise CreditbankError("invalid_national_id", {"reason_zh": exc.zh, "reason_en": exc.en}) from None


def check_phone(phone: str | None) -> str | None:
    """The phone number as stored, whichever way it came (the API's schema folds it the same way
    first, ``learners.schemas``): full-width digits folded, spaces made one, blank → None; refused
    with ``invalid_value`` unless it looks like a phone number (``kit.halfwidth.PHONE``). The
    console's form stored ``１３８ ００１３ ８０００`` as typed while the API refused it."""
    folded = halfwidth.phone(phone)
    if folded is not None and not halfwidth.is_phone(folded):
        raise CreditbankError(
            "invalid_value",
            {
                "field": "phone 手机号",
                "reason_zh": "应为 5–20 位数字，可含空格、“-”和开头的“+”",
                "reason_en": "should be 5–20 digits, with spaces, dashes and a leading + allowed",
            },
        )
    return folded


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
    township: str | None = None,
    village: str | None = None,
    gender: str | None = None,
    birth_date: date | None = None,
    institution_id: int | None = None,
) -> Enrolment:
    """Enrol a person, or find them: the same 身份证号 always maps to the same account.

    Only the operator and accredited institutions enrol, and a refusal comes before any lookup, so
    it says nothing about who exists. Each enrolment of a not-yet-activated account adds its own
    code; earlier codes keep working (a second school's enrolment must not void the first
    school's slip). Enrolling an activated account gives no code: only a deliberate
    ``new_activation_slip`` (a forgotten password) gives one."""
    if institution_id is not None:
        institutions.require_accredited(session, institution_id)
    # Every way in (API, console, CLI, demo) passes here: the name a certificate will sign is
    # normalised and never blank (a blank one broke every certificate of the learner), and so are
    # the places statistics group by.
    name = text.clean(name, field="name", max_length=100)
    district = districts.check(session, district)  # one spelling per district (the area list)
    township = text.optional(township, field="township", max_length=100)
    village = text.optional(village, field="village", max_length=100)
    nid = parse_national_id(national_id)
    phone = check_phone(phone)
    if birth_date is not None and not (date(1900, 1, 1) <= birth_date <= clock.today()):
        # The year is kept and completions are held against it (completions.rules.check_completed_on).
        raise CreditbankError(
            "invalid_value",
            {
                "field": "birth_date",
                "reason_zh": "应在 1900 年至今天之间",
                "reason_en": "between 1900 and today",
            },
        )
    _agrees_with_id(nid, birth_date=birth_date, gender=gender)
    digest = id_hmac(secret, nid.number)
    learner = session.exec(select(Learner).where(Learner.id_hmac == digest).with_for_update()).first()
    created = learner is None
    if learner is None:
        learner = Learner(
            account_no=_free_account_no(session),
            id_hmac=digest,
            id_masked=nid.masked,
            name=name,
            birth_year=nid.birth_date.year,
            gender=nid.gender,
            phone=phone,
            district=district,
            township=township,
            village=village,
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
        code, _ = _new_code(session, secret, learner, institution_id)
    if institution_id is not None:
        link(session, institution_id=institution_id, learner_ids=[learner.id])
    session.flush()
    return Enrolment(
        learner=learner,
        activation_code=code,
        created=created,
        name_differs=not created and halfwidth.name_key(learner.name) != halfwidth.name_key(name),
    )


GENDER_WORDS = {"male": ("男", "male"), "female": ("女", "female")}


def _agrees_with_id(nid: idcard.NationalId, *, birth_date: date | None, gender: str | None) -> None:
    """SPEC §3.2: the birth date is derived from the ID number (and so is the gender: the sequence's
    parity). A given one that differs is refused rather than stored — statistics count the stored
    one (a man born 1990 among women over 60), and the difference usually means a mistyped ID number."""
    mismatches: list[CreditbankError] = []
    if birth_date is not None and birth_date != nid.birth_date:
        mismatches.append(
            CreditbankError(
                "birth_date_mismatch",
                {"given": birth_date.isoformat(), "from_id": nid.birth_date.isoformat()},
            )
        )
    if gender is not None and gender != nid.gender:
        (given_zh, given_en), (id_zh, id_en) = (
            GENDER_WORDS.get(gender, (gender, gender)),
            GENDER_WORDS[nid.gender],
        )
        mismatches.append(
            CreditbankError(
                "gender_mismatch",
                {"given_zh": given_zh, "given_en": given_en, "from_id_zh": id_zh, "from_id_en": id_en},
            )
        )
    if mismatches:
        first = mismatches[0]
        raise CreditbankError(
            first.code,
            first.params,
            errors=[
                {
                    "field": e.code.removesuffix("_mismatch"),
                    "code": e.code,
                    "message_zh": e.message("zh"),
                    "message_en": e.message("en"),
                }
                for e in mismatches
            ],
        )


@dataclass(frozen=True)
class NewSlip:
    learner: Learner
    activation_code: str
    expires_at: datetime
    had_password: bool
    """The account was activated: its password and sessions stay until the new code is used."""


def new_activation_slip(
    session: Session, *, secret: bytes, account_no: str, institution_id: int | None
) -> NewSlip:
    """A new activation code for a learner who forgot their password (or lost their slip).

    Who: the institution that enrolled the learner (``Learner.enrolled_by_id``) or the operator
    (``institution_id`` None). An institution that cannot see the learner gets ``learner_not_found``
    (it does not learn the account exists); one that only taught or re-enrolled them gets
    ``activation_slip_not_allowed``, naming who can. A pending or suspended institution is refused
    first.

    Nothing changes for the learner now: the old password keeps working until the new code is
    used, and ``activate`` then replaces it and ends every session (docs/privacy.md, "A forgotten
    password" — why at use, not at issue). The code is one more live code of the account, under
    the same cap (``MAX_LIVE_CODES``) and guessing budgets as an enrolment's."""
    if institution_id is not None:
        institutions.require_accredited(session, institution_id)
    visible = visible_to(session, account_no, institution_id=institution_id)
    learner = session.exec(select(Learner).where(Learner.id == visible.id).with_for_update()).one()
    if institution_id is not None and learner.enrolled_by_id != institution_id:
        who_zh, who_en = enrolled_by(session, learner)
        raise CreditbankError("activation_slip_not_allowed", {"who_zh": who_zh, "who_en": who_en})
    code, expires_at = _new_code(session, secret, learner, institution_id)
    session.flush()
    return NewSlip(
        learner=learner,
        activation_code=code,
        expires_at=expires_at,
        had_password=learner.password_hash is not None,
    )


def enrolled_by(session: Session, learner: Learner) -> tuple[str, str]:
    """Who enrolled the learner, in Chinese and English (the operator: the district office)."""
    if learner.enrolled_by_id is None:
        return "区学分银行", "the district office"
    enroller = referenced(session, Institution, learner.enrolled_by_id)
    return enroller.name_zh, enroller.name_en or enroller.name_zh


def _code_hmac(secret: bytes, account_no: str, code: str) -> str:
    return hmac_hex(secret, f"activation\x00{account_no}\x00{normalize_activation_code(code)}")


def _new_code(
    session: Session, secret: bytes, learner: Learner, institution_id: int | None
) -> tuple[str, datetime]:
    now = clock.now()
    live = list(
        session.exec(
            select(ActivationCode)
            .where(ActivationCode.learner_id == learner.id)
            .order_by(col(ActivationCode.created_at), col(ActivationCode.id))
        )
    )
    for row in live:
        if row.expires_at < now:
            session.delete(row)
    live = [row for row in live if row.expires_at >= now]
    # At most MAX_LIVE_CODES per account (the guessing arithmetic in learners.attempts counts on
    # it); beyond that the oldest slip stops working — only after eight enrolments in 30 days.
    for row in live[: max(0, len(live) - MAX_LIVE_CODES + 1)]:
        session.delete(row)
    code = new_activation_code()
    expires_at = now + timedelta(days=ACTIVATION_DAYS)
    session.add(
        ActivationCode(
            learner_id=learner.id,
            code_hmac=_code_hmac(secret, learner.account_no, code),
            institution_id=institution_id,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return code, expires_at


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
    learner = session.exec(
        select(Learner).where(Learner.account_no == normalize_account_no(account_no))
    ).first()
    if learner is None:
        raise CreditbankError("learner_not_found", {"ref": account_no})
    return learner


_BY_ACCOUNT = select(Learner).where(Learner.account_no == bindparam("account_no"))
_TAUGHT_BY_ACCOUNT = _BY_ACCOUNT.where(
    select(InstitutionLearner.learner_id)
    .where(
        InstitutionLearner.institution_id == bindparam("institution_id"),
        InstitutionLearner.learner_id == Learner.id,
    )
    .exists()
)
"""Built once: a balance read runs one of them."""


def visible_to(session: Session, account_no: str, *, institution_id: int | None) -> Learner:
    """The learner, if the caller may read their account: the operator (``institution_id`` None)
    reads everyone; an institution only the learners it enrolled or taught. Anyone else is
    ``learner_not_found`` — indistinguishable from an account that does not exist. One query."""
    params: dict[str, object] = {"account_no": normalize_account_no(account_no)}
    if institution_id is not None:
        params["institution_id"] = institution_id
    query = _BY_ACCOUNT if institution_id is None else _TAUGHT_BY_ACCOUNT
    learner = session.exec(query, params=params).first()
    if learner is None:
        raise CreditbankError("learner_not_found", {"ref": account_no})
    return learner


def activate(
    db: Database,
    *,
    secret: bytes,
    account_no: str,
    activation_code: str,
    password: str,
    client: str | None = None,
) -> tuple[Learner, str]:
    """Set the password with a live code, and open a session.

    The code is an enrolment's (the first password) or a new slip's (``new_activation_slip``, a
    forgotten password): then the old password is replaced and every session of the account ends
    — a phone left signed in, or whoever knew the old password, is shut out.

    Every attempt spends from the guessing budgets first (``learners.attempts``: per account, per
    client and for the whole service). An unknown account, an activated one, a wrong, used or
    expired code all get the same ``invalid_activation_code``: the answer tells nobody which
    accounts exist or are active.

    Its own units of work (issue 9 item 11): the code is checked in a read, the password hashed
    with no transaction open (argon2id, ~0.2 s, never holding the database's write lock; bounded
    by ``_work``), then one short writing transaction checks the code again and activates."""
    account_no = normalize_account_no(account_no)
    attempts.activation_attempt(account_no, client)
    expected = _code_hmac(secret, account_no, activation_code)
    with db.reader() as session:
        _activatable(session, account_no, expected, lock=False)
    _check_password(password)
    password_hash = _work.run(lambda: _hasher.hash(password))
    with db.unit_of_work() as session:
        # Again, locked: another request may have used a code of this account meanwhile.
        learner = _activatable(session, account_no, expected, lock=True)
        learner.password_hash = password_hash
        learner.activated_at = learner.activated_at or clock.now()  # when first activated
        session.add(learner)
        # Every code of the account dies with the activation: none can take it over later.
        session.execute(delete(ActivationCode).where(col(ActivationCode.learner_id) == learner.id))
        # A new slip's code replaced the password: sessions opened with the old one end here.
        session.execute(delete(LearnerSession).where(col(LearnerSession.learner_id) == learner.id))
        return learner, open_session(session, learner)


def _activatable(session: Session, account_no: str, code_hmac: str, *, lock: bool) -> Learner:
    query = select(Learner).where(Learner.account_no == account_no)
    learner = session.exec(query.with_for_update() if lock else query).first()
    # An activated account has a live code only from a deliberate new slip (new_activation_slip).
    if learner is None or not _live_code(session, learner, code_hmac):
        raise CreditbankError("invalid_activation_code")
    return learner


def _live_code(session: Session, learner: Learner, code_hmac: str) -> bool:
    found = session.exec(
        select(ActivationCode.id).where(
            ActivationCode.learner_id == learner.id,
            ActivationCode.code_hmac == code_hmac,
            col(ActivationCode.expires_at) >= clock.now(),
        )
    ).first()
    return found is not None


def sign_in(
    db: Database, *, account_no: str, password: str, client: str | None = None
) -> tuple[Learner, str]:
    """Check the password and open a session (a token for the API and the pages).

    The password is checked with no transaction open (issue 9 item 11): argon2id costs ~0.2 s and
    64 MiB, and inside a writing transaction it held SQLite's write lock, so a sign-in flood
    queued every writer behind it. Hashing is bounded by ``_work`` (503 ``busy`` beyond it); only
    the new session row is written, in a short transaction of its own."""
    account_no = normalize_account_no(account_no)
    attempts.sign_in_attempt(account_no, client)
    with db.reader() as session:
        learner = session.exec(select(Learner).where(Learner.account_no == account_no)).first()
    if learner is None or learner.password_hash is None:
        # Same answer and the same work as a wrong password: nothing reveals which accounts exist.
        _work.run(lambda: _hasher.hash(password))
        raise CreditbankError("invalid_credentials")
    stored = learner.password_hash
    try:
        _work.run(lambda: _hasher.verify(stored, password))
    except (VerifyMismatchError, InvalidHashError):
        raise CreditbankError("invalid_credentials") from None
    with db.unit_of_work() as session:
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
