"""Learner routes: activation, sign-in, and the learner's own account (SPEC §3.2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from creditbank.api.deps import (
    DbDep,
    IdempotencyKey,
    LearnerCaller,
    Remember,
    SettingsDep,
    keyed_digest,
    write_in_steps,
)
from creditbank.api.institution import balance_out, correction_out
from creditbank.config import Settings
from creditbank.db import Database
from creditbank.httpio import JsonRoute, client_address
from creditbank.kit.tokens import normalize_account_no
from creditbank.kit.units import credits
from creditbank.learners import attempts, names
from creditbank.learners import queries as learner_queries
from creditbank.learners import service as learners
from creditbank.learners.models import Learner
from creditbank.learners.schemas import (
    ActivateIn,
    LedgerLineOut,
    LedgerPageOut,
    MeOut,
    NameHistoryOut,
    SignInIn,
    TokenOut,
)
from creditbank.ledger import queries
from creditbank.ledger.schemas import BalanceOut

router = APIRouter(route_class=JsonRoute, prefix="/api/v1", tags=["learner 学习者"])


@router.post(
    "/auth/activate",
    response_model=TokenOut,
    summary="激活账户 · Activate an account with the code, set a password",
)
def activate(
    body: ActivateIn,
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return _token_answer(
        request,
        body,
        db,
        settings,
        idempotency_key,
        signs_in=lambda: learners.activate(
            db,
            secret=settings.id_secret(),
            account_no=body.account_no,
            activation_code=body.activation_code,
            password=body.password,
            client=client_address(request),
        ),
        spend_attempt=attempts.activation_attempt,
    )


@router.post(
    "/auth/token", response_model=TokenOut, summary="登录 · Sign in with account number and password"
)
def sign_in(
    body: SignInIn,
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return _token_answer(
        request,
        body,
        db,
        settings,
        idempotency_key,
        signs_in=lambda: learners.sign_in(
            db, account_no=body.account_no, password=body.password, client=client_address(request)
        ),
        spend_attempt=attempts.sign_in_attempt,
    )


# A session token is shown once: a replayed sign-in answers it as null (``redacted``) — sign in again.
_TOKEN = ("access_token",)


def _token_answer(
    request: Request,
    body: ActivateIn | SignInIn,
    db: Database,
    settings: Settings,
    idempotency_key: str | None,
    *,
    signs_in: Callable[[], tuple[Learner, str]],
    spend_attempt: Callable[[str, str | None], None],
) -> Response:
    """Activation and sign-in answer alike: the learner's session token, kept under the
    Idempotency-Key of the account (there is no caller yet) without the token itself. A replay
    spends a guess of the account's budget first (``spend_attempt``), as a new attempt would. The
    services run their own short transactions (a password is hashed with none open): write_in_steps."""
    account_no = normalize_account_no(body.account_no)

    def use_case(remember: Remember) -> tuple[int, Any]:
        learner, token = signs_in()
        out = TokenOut(access_token=token, account_no=learner.account_no).model_dump(mode="json")
        with db.unit_of_work() as session:
            remember(session, 200, out)
        return 200, out

    return write_in_steps(
        db,
        None,
        use_case,
        idempotency_key=idempotency_key,
        request_hash=keyed_digest(request, body, settings.id_secret()),
        scope=f"account:{account_no}",
        secret_fields=_TOKEN,
        before_replay=lambda: spend_attempt(account_no, client_address(request)),
    )


@router.get("/me", response_model=MeOut, summary="我的账户 · My account")
def me(principal: LearnerCaller) -> dict:
    # The learner sees their own phone in full; every other page masks it.
    return MeOut.model_validate(principal.learner, from_attributes=True).model_dump(mode="json")


@router.get(
    "/me/name-corrections",
    response_model=NameHistoryOut,
    summary="我的姓名更正记录 · Corrections of my name: old, new, why, who, when",
)
def my_name_history(db: DbDep, principal: LearnerCaller) -> dict:
    with db.reader() as session:
        learner = learners.by_account_no(session, principal.learner.account_no)
        return NameHistoryOut(
            account_no=learner.account_no,
            name=learner.name,
            corrections=[correction_out(c) for c in names.history(session, learner.id)],
        ).model_dump(mode="json")


@router.get("/me/balance", response_model=BalanceOut, summary="我的学分 · My credits by category and level")
def my_balance(db: DbDep, principal: LearnerCaller) -> dict:
    with db.autocommit_reader() as session:  # the figures are one statement
        return balance_out(queries.balance(session, principal.learner))


@router.get(
    "/me/ledger", response_model=LedgerPageOut, summary="学分明细 · Every credit's origin, oldest first"
)
def my_ledger(
    db: DbDep,
    principal: LearnerCaller,
    after: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="seq of the last line already seen")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict:
    # Whole transactions per page: ``after`` is a transaction's seq, so a page cut inside one would
    # make the next page skip its remaining lines.
    lines, more = db.read(learner_queries.statement_whole, principal.learner, after=after, limit=limit)
    items = [
        LedgerLineOut(
            seq=line.seq,
            transaction_id=line.transaction_id,
            kind=line.kind,
            event_on=line.event_on,
            recorded_at=line.recorded_at,
            amount=credits(line.amount_units),
            balance_after=credits(line.balance_after_units),
            lot_id=line.lot_id,
            completion_id=line.completion_id,
            institution_code=line.institution_code,
            outcome_code=line.outcome_code,
            outcome_title_zh=line.outcome_title_zh,
            outcome_title_en=line.outcome_title_en,
            category=line.category,
            level=line.level,
        )
        for line in lines
    ]
    next_after = items[-1].seq if more and items else None
    return LedgerPageOut(items=items, next_after=next_after).model_dump(mode="json")
