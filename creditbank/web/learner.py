"""The learner's portal: activate, sign in and out, balance, statement, conversions, progress,
certificates and share links. Phone first, for readers over 60 (MIIT 适老化, WCAG 2.2 AA)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse

from creditbank.api.learner import _limit as auth_limit
from creditbank.catalogue.models import CATEGORY_ZH
from creditbank.conversion.progress import CATEGORY_EN
from creditbank.errors import CreditbankError
from creditbank.learners import service as learners
from creditbank.ledger import queries
from creditbank.web import security
from creditbank.web.base import Csrf, Ctx, LearnerPage, Page, PageRoute, local_path, redirect, renderer

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Text = Annotated[str, Form(max_length=200)]
Secret = Annotated[str, Form(max_length=1000)]
Next = Annotated[str | None, Form(alias="next", max_length=500)]


def category_name(ctx: Ctx, category: str) -> str:
    return ctx.pick(CATEGORY_ZH.get(category, category), CATEGORY_EN.get(category))


def _signed_in(ctx: Ctx, token: str, target: str | None):
    response = redirect(ctx, local_path(target))
    response.set_cookie(
        security.SESSION_COOKIE,
        token,
        max_age=30 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=ctx.secure,
        path="/",
    )
    return response


def _form_again(ctx: Ctx, template: str, code: str, params: dict | None = None, **values):
    """The same form again, the problem said in words above it, what was typed kept (not secrets)."""
    error = CreditbankError(code, params or {})
    return renderer(ctx.request).page(
        ctx, template, status=error.http_status, error=ctx.error_text(code, params), **values
    )


@router.get("/activate", response_class=HTMLResponse)
def activate_form(ctx: Page, account_no: Annotated[str, Query(max_length=20)] = ""):
    return renderer(ctx.request).page(ctx, "web/activate.html.j2", account_no=account_no)


@router.post("/activate", response_class=HTMLResponse)
def activate(
    ctx: Page,
    _csrf: Csrf,
    account_no: Text,
    activation_code: Text,
    password: Secret,
    password_again: Secret,
):
    account_no = account_no.strip().upper()
    try:
        auth_limit(ctx.request, account_no)
        if password != password_again:
            raise CreditbankError("passwords_differ")
        with ctx.db.unit_of_work() as session:
            _, token = learners.activate(
                session, account_no=account_no, activation_code=activation_code, password=password
            )
    except CreditbankError as exc:
        return _form_again(ctx, "web/activate.html.j2", exc.code, exc.params, account_no=account_no)
    return _signed_in(ctx, token, "/me?welcome=1")


@router.get("/signin", response_class=HTMLResponse)
def sign_in_form(ctx: Page, target: Annotated[str | None, Query(alias="next", max_length=500)] = None):
    if ctx.learner is not None:
        return redirect(ctx, local_path(target))
    return renderer(ctx.request).page(ctx, "web/signin.html.j2", next=local_path(target), account_no="")


@router.post("/signin", response_class=HTMLResponse)
def sign_in(ctx: Page, _csrf: Csrf, account_no: Text, password: Secret, target: Next = None):
    account_no = account_no.strip().upper()
    try:
        auth_limit(ctx.request, account_no)
        with ctx.db.unit_of_work() as session:
            _, token = learners.sign_in(session, account_no=account_no, password=password)
    except CreditbankError as exc:
        return _form_again(
            ctx, "web/signin.html.j2", exc.code, exc.params, account_no=account_no, next=local_path(target)
        )
    return _signed_in(ctx, token, target)


@router.post("/signout")
def sign_out(ctx: Page, _csrf: Csrf):
    if ctx.token:
        with ctx.db.unit_of_work() as session:
            learners.end_session(session, ctx.token)
    response = redirect(ctx, "/?signed_out=1")
    response.delete_cookie(
        security.SESSION_COOKIE, path="/", secure=ctx.secure, httponly=True, samesite="lax"
    )
    return response


@router.get("/me", response_class=HTMLResponse)
def balance(ctx: LearnerPage, welcome: int = 0):
    with ctx.db.reader() as session:
        figures = queries.balance(session, ctx.learner)
    categories = sorted(figures.by_category.items(), key=lambda kv: -kv[1])
    return renderer(ctx.request).page(
        ctx,
        "web/balance.html.j2",
        balance=figures,
        categories=[(category_name(ctx, c), units) for c, units in categories],
        levels=sorted(figures.by_level.items()),
        welcome=bool(welcome),
    )
