"""Who is calling, and the unit of work each write runs in."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Header, Path, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from creditbank import idempotency
from creditbank.config import Settings
from creditbank.db import Database
from creditbank.errors import CreditbankError
from creditbank.institutions import service as institutions
from creditbank.institutions.models import ApiKey, Institution
from creditbank.kit.tokens import same
from creditbank.learners import service as learners
from creditbank.learners.models import Learner

# A database id in a path: larger numbers cannot exist and must be a 422, not a driver overflow.
DbId = Annotated[int, Path(ge=1, le=2**63 - 1)]

_bearer = HTTPBearer(
    auto_error=False,
    description="operator token (cbo_…), institution API key (cbk_…) or learner session (cbs_…)",
)


@dataclass(frozen=True)
class OperatorPrincipal:
    role: Literal["operator"] = "operator"
    institution: None = None
    api_key: None = None
    learner: None = None

    @property
    def key(self) -> str:
        """Namespace for Idempotency-Key: one caller's keys never collide with another's."""
        return "operator"


@dataclass(frozen=True)
class InstitutionPrincipal:
    institution: Institution
    api_key: ApiKey
    role: Literal["institution"] = "institution"
    learner: None = None

    @property
    def key(self) -> str:
        return f"inst:{self.institution.id}"


@dataclass(frozen=True)
class LearnerPrincipal:
    learner: Learner
    role: Literal["learner"] = "learner"
    institution: None = None
    api_key: None = None

    @property
    def key(self) -> str:
        return f"learner:{self.learner.id}"


# Who is calling. Each kind has all four attributes, so code that accepts several kinds reads
# ``principal.institution`` (None for the others); ``principal.role == "institution"`` narrows
# the type to InstitutionPrincipal.
Principal = OperatorPrincipal | InstitutionPrincipal | LearnerPrincipal


# The dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in
# the thread pool, and each such hop is a thread wake-up and an event-loop wake-up per request —
# on a busy 2-core machine a scheduling wait each (bench/README.md, "mix"). Those that read the
# database (``_principal``) stay plain ``def``.


async def get_db(request: Request) -> Database:
    return request.app.state.db


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


DbDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal | None:
    if credentials is None:
        return None
    token = credentials.credentials.strip()
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    with db.autocommit_reader() as session:  # one statement per kind of token: no transaction needed
        if token.startswith("cbk_"):
            found = institutions.find_by_api_key(session, token)
            if found is not None:
                return InstitutionPrincipal(institution=found[0], api_key=found[1])
        elif token.startswith("cbs_"):
            learner = learners.by_session_token(session, token)
            if learner is not None:
                return LearnerPrincipal(learner=learner)
        elif settings.admin_token is not None:
            if same(token, settings.admin_token.get_secret_value()):
                return OperatorPrincipal()
        elif institutions.is_operator_token(session, token):
            return OperatorPrincipal()
    raise CreditbankError("unauthorized")


def _require(*roles: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(principal: Annotated[Principal | None, Depends(_principal)]) -> Principal:
        if principal is None:
            raise CreditbankError("unauthorized")
        if principal.role not in roles:
            raise CreditbankError("forbidden")
        return principal

    return dependency


def _acting(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """``_require`` for the routes that change something: only an accredited institution changes
    anything (SPEC §3.1). A pending one is refused here, on every such route, with
    ``institution_not_accredited`` — publishing an outcome too, which learners and other
    institutions' rules would see; a suspended one is read-only (issue 9 item 6),
    ``institution_suspended``. The operator may still act on a suspended institution's records.
    The services check again inside the transaction where a state change just committed matters
    (outcomes, postings, enrolment, certificates, decisions)."""
    required = Depends(_require(*roles))  # a default, not an annotation: these are resolved as globals

    async def dependency(principal: Principal = required) -> Principal:
        if principal.institution is not None:
            institutions.may_act(principal.institution)
        return principal

    return dependency


def _optional_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal | None:
    """For public routes that show a caller more when they say who they are: an unusable token
    is treated as no token (public routes never answer 401)."""
    try:
        return _principal(request, credentials)
    except CreditbankError:
        return None


Operator = Annotated[OperatorPrincipal, Depends(_require("operator"))]
InstitutionCaller = Annotated[InstitutionPrincipal, Depends(_require("institution"))]
InstitutionOrOperator = Annotated[
    InstitutionPrincipal | OperatorPrincipal, Depends(_require("institution", "operator"))
]
# The same callers, on routes that change something (a pending or suspended institution is refused).
ActingInstitution = Annotated[InstitutionPrincipal, Depends(_acting("institution"))]
ActingInstitutionOrOperator = Annotated[
    InstitutionPrincipal | OperatorPrincipal, Depends(_acting("institution", "operator"))
]
LearnerCaller = Annotated[LearnerPrincipal, Depends(_require("learner"))]
MaybeCaller = Annotated[Principal | None, Depends(_optional_principal)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Retry-safe POSTs: the same key and body answer the same",
    ),
]


def body_digest(request: Request, body: Any) -> str:
    """What 'the same request' means for Idempotency-Key: method, path and body.

    Plain sorted JSON, not RFC 8785: a request may carry numbers JCS refuses (beyond 2^53), and
    this digest is only ever compared with itself."""
    if hasattr(body, "model_dump"):
        body = body.model_dump(mode="json")
    text = json.dumps(
        {"method": request.method, "path": request.url.path, "body": body},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def keyed_digest(request: Request, body: Any, secret: bytes) -> str:
    """``body_digest`` under the deployment secret, for bodies carrying a password or an activation
    code: a plain SHA-256 of them stored in ``idempotency_record`` could be guessed offline (an
    8-digit code at once), bypassing argon2id and the guessing budgets."""
    return hmac.new(secret, body_digest(request, body).encode(), hashlib.sha256).hexdigest()


def write(
    db: Database,
    principal: Principal | None,
    use_case: Callable[[Session], tuple[int, Any]],
    *,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    secret_fields: tuple[str, ...] = (),
) -> JSONResponse:
    """Run one use case in one transaction and answer with (status, body).

    With an Idempotency-Key the answer is stored in the same transaction, so a retry after a
    lost response gets the same answer; the same key with another body is a 409. Fields named in
    ``secret_fields`` (an API key, an activation code: shown once) are not stored: a replay has
    them as null, lists them in ``redacted`` and says so in the ``Idempotent-Redacted`` header.
    A unique-constraint race (two requests creating the same thing at once) is retried: the
    retry sees the winner's committed row and answers as a replay (formance's algorithm).
    """
    scope = principal.key if principal else "anonymous"
    for attempt in range(3):
        try:
            with db.unit_of_work() as session:
                response = answer_once(
                    session,
                    scope,
                    use_case,
                    idempotency_key=idempotency_key,
                    request_hash=request_hash,
                    secret_fields=secret_fields,
                )
            return response
        except (IntegrityError, OperationalError) as exc:
            # OperationalError: PostgreSQL serialization/deadlock or SQLite busy; both are retryable.
            if attempt == 2:
                raise exc
    raise AssertionError("unreachable")


def answer_once(
    session: Session,
    scope: str,
    use_case: Callable[[Session], tuple[int, Any]],
    *,
    idempotency_key: str | None,
    request_hash: str | None,
    secret_fields: tuple[str, ...] = (),
) -> JSONResponse:
    """``write``'s work inside a transaction the caller opened: the stored answer if the key has
    one, else the use case's, stored. For a route whose caller is known only inside its
    transaction (a witness, by the cosignature it hands in)."""
    if idempotency_key:
        idempotency.serialise(session, scope, idempotency_key)
        record = idempotency.find(session, scope, idempotency_key)
        if record is not None:
            return _replayed(record, request_hash)
    status, body = use_case(session)
    if idempotency_key:
        idempotency.remember(
            session,
            scope,
            idempotency_key,
            request_hash=request_hash,
            status_code=status,
            body=body,
            secret_fields=secret_fields,
        )
    return JSONResponse(body, status_code=status)


def _replayed(record: idempotency.IdempotencyRecord, request_hash: str | None) -> JSONResponse:
    """The answer stored under an Idempotency-Key, or 409 when the key came with another request."""
    if record.request_hash != request_hash:
        raise CreditbankError("idempotency_key_reused")
    stored = json.loads(record.response_body)
    headers = {"Idempotent-Replayed": "true"}
    if isinstance(stored, dict) and stored.get("redacted"):
        headers["Idempotent-Redacted"] = ", ".join(stored["redacted"])
    return JSONResponse(stored, status_code=record.status_code, headers=headers)


Remember = Callable[[Session, int, Any], None]


def write_in_steps(
    db: Database,
    principal: Principal | None,
    use_case: Callable[[Remember], tuple[int, Any]],
    *,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    scope: str | None = None,
    secret_fields: tuple[str, ...] = (),
    before_replay: Callable[[], None] | None = None,
) -> JSONResponse:
    """``write`` for a use case that commits in steps (a staged batch import): it opens its own
    transactions and calls ``remember(session, status, body)`` inside its last one, where the
    Idempotency-Key answer is stored — so the answer is kept exactly when the work is visible.

    A route without a token names its caller in ``scope`` (a sign-in: the account). A stored answer
    found is compared only after ``before_replay`` ran: a sign-in spends a guess there, so that
    "replayed" against "409" tells a password guesser no more than a normal attempt would."""
    scope = scope or (principal.key if principal else "anonymous")
    if idempotency_key:
        with db.reader() as session:
            record = idempotency.find(session, scope, idempotency_key)
        if record is not None:
            if before_replay is not None:
                before_replay()
            return _replayed(record, request_hash)

    def remember(session: Session, status: int, body: Any) -> None:
        if not idempotency_key:
            return
        idempotency.serialise(session, scope, idempotency_key)
        if idempotency.find(session, scope, idempotency_key) is None:  # a concurrent retry may have won
            idempotency.remember(
                session,
                scope,
                idempotency_key,
                request_hash=request_hash,
                status_code=status,
                body=body,
                secret_fields=secret_fields,
            )

    status, body = use_case(remember)
    return JSONResponse(body, status_code=status)
