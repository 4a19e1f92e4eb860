"""Sign-in for institution staff and the operator (district office), and the dependencies every
staff or operator page uses to say who may open it:

- ``require_staff(*roles)`` — a signed-in staff account (of any institution) having every role
  named (``"clerk"``, ``"approver"``); ``StaffPage``, ``ClerkPage``, ``ApproverPage`` are ready-made.
- ``require_operator`` / ``OperatorPage`` — a signed-in operator account (password + TOTP).

Not signed in → a redirect to the right sign-in page (``?next=`` brings the reader back);
signed in without the role → the 403 page in the reader's language (``staff_role_required`` /
``operator_required``). Pages of one institution also call ``own_institution(ctx, code)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from creditbank.errors import CreditbankError
from creditbank.httpio import client_address
from creditbank.kit.ratelimit import RateLimiter
from creditbank.staff import service as staff_accounts
from creditbank.staff.service import StaffUser
from creditbank.web import security
from creditbank.web.base import (
    Csrf,
    Ctx,
    FieldProblem,
    Page,
    PageRoute,
    SignInRequired,
    local_path,
    redirect,
    refills,
    refused,
    renderer,
    retry_after,
)
from creditbank.web.i18n import N_

router = APIRouter(route_class=PageRoute, include_in_schema=False)
_sign_in_limit = RateLimiter(limit=10, window_seconds=60, name="staff-sign-in")
Text = Annotated[str, Form(max_length=200)]
Secret = Annotated[str, Form(max_length=1000)]
Next = Annotated[str | None, Form(alias="next", max_length=500)]

ROLE_NAMES = {
    "clerk": ("经办员", N_("clerk")),
    "approver": ("审批员", N_("approver")),
}


def require_staff(*roles: str) -> Callable[[Ctx], Ctx]:
    """A dependency: the page needs a staff session with every one of ``roles``."""

    def dependency(ctx: Page) -> Ctx:
        if ctx.staff is None or ctx.staff.kind != "staff":
            raise SignInRequired("/staff/signin")
        for role in roles:
            if not ctx.staff.has(role):
                zh, en = ROLE_NAMES[role]
                raise CreditbankError("staff_role_required", {"role_zh": zh, "role_en": en})
        return ctx

    return dependency


def require_operator(ctx: Page) -> Ctx:
    """A dependency: the page needs an operator session (password + TOTP)."""
    if ctx.staff is None:
        raise SignInRequired("/operator/signin")
    if not ctx.staff.is_operator:
        raise CreditbankError("operator_required")
    return ctx


StaffPage = Annotated[Ctx, Depends(require_staff())]
ClerkPage = Annotated[Ctx, Depends(require_staff("clerk"))]
ApproverPage = Annotated[Ctx, Depends(require_staff("approver"))]
OperatorPage = Annotated[Ctx, Depends(require_operator)]


def own_institution(ctx: Ctx, code: str) -> int:
    """The institution id of ``code`` if it is the signed-in staff member's own; else a 403 page."""
    assert ctx.staff is not None and ctx.staff.institution_id is not None
    if (ctx.staff.institution_code or "").upper() != code.strip().upper():
        raise CreditbankError("other_institution")
    return ctx.staff.institution_id


def _limit(request: Request, username: str) -> None:
    client = client_address(request) or "?"
    wait = _sign_in_limit.retry_after(f"staff:{client}:{username.strip().lower()}")
    if wait > 0:  # the page says how long (web.base.wait_words)
        raise CreditbankError("rate_limited", {"retry_after": max(1, math.ceil(wait))})


def _signed_in(ctx: Ctx, token: str, target: str):
    response = redirect(ctx, target)
    # No max_age: a browser-session cookie; the row itself expires after 12 h (staff) / 8 h (operator).
    response.set_cookie(
        security.STAFF_COOKIE, token, httponly=True, samesite="lax", secure=ctx.secure, path="/"
    )
    return response


def _sign_in(
    ctx: Ctx,
    username: str,
    target: str | None,
    *,
    operator: bool,
    check: Callable[[Session], tuple[StaffUser, str]],
):
    """Both sign-in forms: the guessing budget, then ``check`` (password, and the TOTP code for an
    operator) — the session cookie and on to ``target``, or the form again saying what went wrong
    with the name typed kept."""
    home = "/operator" if operator else "/console"
    try:
        _limit(ctx.request, username)
        with ctx.db.unit_of_work() as session:
            _, token = check(session)
    except CreditbankError as exc:
        return renderer(ctx.request).page(
            ctx,
            "web/staff/signin.html.j2",
            status=exc.http_status,
            headers=retry_after(exc.http_status, exc.params),
            error=ctx.error_text(exc.code, exc.params),
            username=username,
            next=local_path(target, home),
            operator=operator,
        )
    return _signed_in(ctx, token, local_path(target, home))


@router.get("/staff/signin", response_class=HTMLResponse)
def staff_sign_in_form(ctx: Page, target: Annotated[str | None, Query(alias="next", max_length=500)] = None):
    if ctx.staff is not None and ctx.staff.kind == "staff":
        return redirect(ctx, local_path(target, "/console"))
    return renderer(ctx.request).page(
        ctx, "web/staff/signin.html.j2", next=local_path(target, "/console"), username="", operator=False
    )


def _sign_in_again(operator: bool):
    def again(ctx: Ctx, typed: dict[str, str], problems: dict[str, FieldProblem]):
        return renderer(ctx.request).page(
            ctx,
            "web/staff/signin.html.j2",
            status=422,
            username=typed.get("username", ""),
            next=local_path(typed.get("next"), "/operator" if operator else "/console"),
            operator=operator,
            **refused(ctx, problems),
        )

    return again


@router.post("/staff/signin", response_class=HTMLResponse)
@refills(_sign_in_again(operator=False))
def staff_sign_in(ctx: Page, _csrf: Csrf, username: Text, password: Secret, target: Next = None):
    return _sign_in(
        ctx,
        username,
        target,
        operator=False,
        check=lambda session: staff_accounts.sign_in_staff(session, username=username, password=password),
    )


@router.get("/operator/signin", response_class=HTMLResponse)
def operator_sign_in_form(
    ctx: Page, target: Annotated[str | None, Query(alias="next", max_length=500)] = None
):
    if ctx.staff is not None and ctx.staff.is_operator:
        return redirect(ctx, local_path(target, "/operator"))
    return renderer(ctx.request).page(
        ctx, "web/staff/signin.html.j2", next=local_path(target, "/operator"), username="", operator=True
    )


@router.post("/operator/signin", response_class=HTMLResponse)
@refills(_sign_in_again(operator=True))
def operator_sign_in(
    ctx: Page,
    _csrf: Csrf,
    username: Text,
    password: Secret,
    code: Annotated[str, Form(max_length=20)],
    target: Next = None,
):
    return _sign_in(
        ctx,
        username,
        target,
        operator=True,
        check=lambda session: staff_accounts.sign_in_operator(
            session, username=username, password=password, code=code
        ),
    )


@router.post("/staff/signout")
def staff_sign_out(ctx: Page, _csrf: Csrf):
    """Ends a staff or an operator session (the row is deleted)."""
    was_operator = ctx.staff is not None and ctx.staff.is_operator
    if ctx.staff_token:
        with ctx.db.unit_of_work() as session:
            staff_accounts.end_session(session, ctx.staff_token)
    response = redirect(ctx, "/operator/signin" if was_operator else "/staff/signin")
    response.delete_cookie(security.STAFF_COOKIE, path="/", secure=ctx.secure, httponly=True, samesite="lax")
    return response
