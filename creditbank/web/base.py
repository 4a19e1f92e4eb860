"""What every page shares: the request's language, text size, signed-in learner and CSRF token;
rendering a template; turning refusals into pages in the reader's language.

Pages call the domain services directly (never the API over HTTP). Who may see what is decided
in the domain, by the same functions the API routes call (for a learner: only rows that carry
their own ``learner_id``; everything else answers "not found", as the API does).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import Depends, Form, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from creditbank.config import Settings
from creditbank.db import Database
from creditbank.errors import CODES, CreditbankError, render
from creditbank.httpio import JsonRoute, preferred_language
from creditbank.kit import clock, reasons
from creditbank.kit.resources import shared_dir
from creditbank.kit.text import visible
from creditbank.learners import service as learners
from creditbank.learners.models import Learner
from creditbank.staff import service as staff_accounts
from creditbank.staff.service import StaffUser
from creditbank.web import i18n, security
from creditbank.web.i18n import N_

Refill = Callable[["Ctx", dict[str, str], dict[str, "FieldProblem"]], Response]

log = logging.getLogger("creditbank.web")
TEMPLATES = shared_dir("templates", "web/base.html.j2")
TEXT_SIZES = ("m", "l", "xl")


@dataclass
class Ctx:
    """One request as the pages see it."""

    request: Request
    lang: str
    text: str
    nonce: str
    new_nonce: bool
    token: str | None = None
    learner: Learner | None = None
    staff: StaffUser | None = None
    """The signed-in staff or operator account (its own cookie, ``cb_staff``), if any."""
    staff_token: str | None = None
    _: i18n.Translator = field(init=False)

    def __post_init__(self) -> None:
        self._ = i18n.Translator(self.lang)

    @property
    def me(self) -> Learner:
        """The signed-in learner (pages behind ``LearnerPage`` only)."""
        assert self.learner is not None, "a LearnerPage dependency guarantees a learner"
        return self.learner

    @property
    def learner_id(self) -> int:
        assert self.me.id is not None
        return self.me.id

    @property
    def settings(self) -> Settings:
        return self.request.app.state.settings

    @property
    def db(self) -> Database:
        return self.request.app.state.db

    @property
    def csrf(self) -> str:
        return security.csrf_token(self.request.app.state.web.csrf_key, self.nonce)

    @property
    def secure(self) -> bool:
        return self.request.app.state.issuer.base_url.lower().startswith("https://")

    def pick(self, zh: str, en: str | None) -> str:
        return i18n.pick(zh, en, self.lang)

    def reason(self, stored: str | None) -> str:
        """A stored reason (``kit.reasons``) in the reader's language around the person's own words."""
        return reasons.text(stored, self.lang)

    def error_text(self, code: str, params: dict[str, Any] | None = None) -> str:
        """The API's own wording for a refusal (errors.CODES): one source for both faces. A field the
        message names is named in words a reader knows (机构代码, not ``code``) unless it already is;
        a page says how long to wait where the API says it in its Retry-After header."""
        if code == "rate_limited" and params and params.get("retry_after"):
            return wait_words(self._, int(params["retry_after"]))
        params = dict(params or {})
        field = params.get("field")
        if isinstance(field, str) and field in FIELD_WORDS and "field_zh" not in params:
            params["field_zh"], params["field_en"] = FIELD_WORDS[field]
        return render(code, params, self.lang)


FIELD_WORDS: dict[str, tuple[str, str]] = {
    "code": ("机构代码", "institution code"),
    "name_zh": ("中文名称", "Chinese name"),
    "name_en": ("英文名称", "English name"),
    "name": ("姓名", "name"),
    "reason": ("原因", "reason"),
    "days": ("有效天数", "days valid"),
    "note": ("附言", "note"),
    "username": ("用户名", "username"),
    "roles": ("角色", "roles"),
    "kind": ("类型", "kind"),
    "since": ("泄露时间", "compromised since"),
    "birth_date": ("出生日期", "date of birth"),
    "township": ("乡镇/街道", "乡镇/街道 (town or subdistrict)"),
    "village": ("村/社区", "村/社区 (village or community)"),
    "completion_id": ("学习成果记录", "learning record"),
    "outcome_code": ("学习成果", "learning outcome"),
}
"""Fields a refusal names (``invalid_value``'s ``{field}``), as the pages' forms call them; the API
keeps the field's own name for the programs that call it."""


TRY_AGAIN_MINUTES = (
    N_("Too many attempts. Please try again in %(num)s minute."),
    N_("Too many attempts. Please try again in %(num)s minutes."),
)
TRY_AGAIN_HOURS = (
    N_("Too many attempts. Please try again in about %(num)s hour."),
    N_("Too many attempts. Please try again in about %(num)s hours."),
)


def wait_words(_: i18n.Translator, seconds: int) -> str:
    """``尝试次数过多，请 3 分钟后再试。``: a Retry-After in whole minutes (rounded up, never "0"),
    in hours from two hours on (a blocked activation waits up to a day)."""
    minutes = max(1, math.ceil(seconds / 60))
    count, (one, many) = (
        (minutes, TRY_AGAIN_MINUTES) if minutes < 120 else (math.ceil(minutes / 60), TRY_AGAIN_HOURS)
    )
    return _(one if count == 1 else many, num=count)


def _context(request: Request) -> Ctx:
    return context_of(request)


def context_of(request: Request, *, database: bool = True) -> Ctx:
    """``database=False``: without looking up who is signed in (the database is unreachable)."""
    cached = getattr(request.state, "web_ctx", None)
    if cached is not None:
        return cached
    cookies = request.cookies
    lang = cookies.get(security.LANG_COOKIE, "")
    if lang not in i18n.LANGUAGES:  # no choice made yet: what the browser asks for
        lang = preferred_language(request.headers.get("accept-language", ""))
    text = cookies.get(security.TEXT_COOKIE, "m")
    if text not in TEXT_SIZES:
        text = "m"
    nonce = cookies.get(security.CSRF_COOKIE) or ""
    fresh = len(nonce) < 20
    ctx = Ctx(request, lang, text, security.new_nonce() if fresh else nonce, fresh)
    if not database:
        return ctx
    token = cookies.get(security.SESSION_COOKIE)
    if token:
        with ctx.db.reader() as session:
            ctx.learner = learners.by_session_token(session, token)
        ctx.token = token if ctx.learner else None
    staff_token = cookies.get(security.STAFF_COOKIE)
    if staff_token:
        with ctx.db.reader() as session:
            ctx.staff = staff_accounts.by_session_token(session, staff_token)
        ctx.staff_token = staff_token if ctx.staff else None
    request.state.web_ctx = ctx
    return ctx


Page = Annotated[Ctx, Depends(_context)]


class SignInRequired(Exception):
    """Not signed in: go to ``path`` (the learner's, the staff's or the operator's sign-in)."""

    def __init__(self, path: str = "/signin") -> None:
        super().__init__(path)
        self.path = path


def _signed_in(ctx: Page) -> Ctx:
    if ctx.learner is None:
        raise SignInRequired
    return ctx


LearnerPage = Annotated[Ctx, Depends(_signed_in)]


class CsrfRefused(Exception):
    pass


def _csrf(ctx: Page, csrf_token: Annotated[str | None, Form()] = None) -> None:
    # The nonce must come from the browser's cookie: a fresh one minted for this request proves nothing.
    if ctx.new_nonce or not security.csrf_ok(ctx.request.app.state.web.csrf_key, ctx.nonce, csrf_token):
        raise CsrfRefused


Csrf = Annotated[None, Depends(_csrf)]


BEIJING_TIME = N_("%(time)s (Beijing time)")


def _moment(value: date | datetime | str) -> date | datetime:
    if isinstance(value, str):  # an ISO timestamp kept as text (the key files)
        parsed = clock.parse_iso(value)
        if parsed is None:
            raise ValueError(f"not an ISO date or time: {value!r}")
        return parsed
    return value


def local_date(value: date | datetime | str | None) -> str:
    """``2026-12-03``: a day as the bank counts days — a timestamp's date in Beijing, not in UTC
    (at 16:30 UTC it is already tomorrow there, and "today" is Beijing's everywhere: kit.clock)."""
    if value is None:
        return ""
    moment = _moment(value)
    if isinstance(moment, datetime):
        moment = clock.local(moment).date()
    return moment.isoformat()


@pass_context
def local_datetime(context: Context, value: datetime | str | None) -> str:
    """``2026-12-03 00:36（北京时间）`` / ``2026-12-03 00:36 (Beijing time)``: every time a page shows,
    in the bank's zone and saying so (timestamps are stored in UTC)."""
    if value is None:
        return ""
    moment = _moment(value)
    if not isinstance(moment, datetime):
        return moment.isoformat()
    shown = clock.local(moment).strftime("%Y-%m-%d %H:%M")
    return context["_"](BEIJING_TIME, time=shown)


class Renderer:
    def __init__(self, settings: Settings) -> None:
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html", "j2"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["credits"] = lambda units: f"{units / 100:g}"
        self.env.filters["urlquote"] = lambda s: quote(str(s), safe="")
        self.env.filters["date"] = local_date
        self.env.filters["datetime"] = local_datetime
        self.env.filters["visible"] = visible
        self.csrf_key = security.csrf_key(settings.id_secret())

    def page(
        self,
        ctx: Ctx,
        template: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **values: Any,
    ) -> HTMLResponse:
        html = self.env.get_template(template).render(
            ctx=ctx,
            _=ctx._,
            lang=ctx.lang,
            html_lang=i18n.HTML_LANG[ctx.lang],
            learner=ctx.learner,
            staff=ctx.staff,
            csrf_field=security.CSRF_FIELD,
            **values,
        )
        response = HTMLResponse(html, status_code=status, headers=headers)
        response.headers.setdefault("Cache-Control", "no-store")
        finish(ctx, response)
        return response


R = TypeVar("R", bound=Response)
E = TypeVar("E", bound=Callable[..., Any])


def finish(ctx: Ctx, response: R) -> R:
    if ctx.new_nonce:
        response.set_cookie(
            security.CSRF_COOKIE, ctx.nonce, httponly=True, samesite="lax", secure=ctx.secure, path="/"
        )
    return response


def renderer(request: Request) -> Renderer:
    return request.app.state.web


def redirect(ctx: Ctx, url: str) -> RedirectResponse:
    return finish(ctx, RedirectResponse(url, status_code=303))


def local_path(target: str | None, default: str = "/me") -> str:
    """Only paths on this site: ``next=`` must never send a reader elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def asks_for(request: Request, offers: tuple[str, ...]) -> str | None:
    """The first of ``offers`` (JSON types) that ``Accept`` names itself with a higher q than any
    range taking HTML (``text/html``, ``text/*``, ``*/*``); None — the page — otherwise, so a browser,
    curl's ``*/*`` and a request without ``Accept`` get the page."""
    best: tuple[float, str | None] = (0.0, None)
    html = 0.0
    for part in request.headers.get("accept", "").split(","):
        media, *params = (p.strip().lower() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media in offers and q > best[0]:
            best = (q, media)
        elif media in ("text/html", "text/*", "*/*"):
            html = max(html, q)
    return best[1] if best[0] > html else None


def retry_after(status: int, params: dict[str, Any] | None) -> dict[str, str] | None:
    """The Retry-After header of a refusal that says when to come back (as the API's), else none."""
    if status not in (429, 503):
        return None
    return {"Retry-After": str((params or {}).get("retry_after") or 60)}


def error_page(
    ctx: Ctx,
    code: str,
    params: dict[str, Any] | None = None,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
):
    status = status or CODES[code][0]
    if headers is None:
        headers = retry_after(status, params)
    return renderer(ctx.request).page(
        ctx,
        "web/error.html.j2",
        status=status,
        headers=headers,
        code=code,
        message=ctx.error_text(code, params),
    )


FORM_INCOMPLETE = N_("The form is not complete yet: please see the fields marked below.")


@dataclass(frozen=True)
class FieldProblem:
    """Why FastAPI refused one form field, for the form's template to say beside the field, in words
    naming it (``templates/web/_fields.html.j2``): ``missing`` (left empty — an empty input arrives
    as no value), ``too_long`` (over ``limit`` characters) or ``invalid``."""

    kind: str
    limit: int | None = None


def field_problems(errors: Sequence[Any]) -> dict[str, FieldProblem] | None:
    """Each refused form field's problem, or None when something other than the body's fields was
    refused (a path or query value): that is no form to fill in again."""
    problems: dict[str, FieldProblem] = {}
    for error in errors:
        loc = error.get("loc", ())
        if len(loc) < 2 or loc[0] != "body" or not isinstance(loc[1], str):
            return None
        kind = {"missing": "missing", "string_too_long": "too_long"}.get(error.get("type"), "invalid")
        limit = (error.get("ctx") or {}).get("max_length")
        problems.setdefault(loc[1], FieldProblem(kind, limit))
    return problems


def refused(ctx: Ctx, problems: dict[str, FieldProblem]) -> dict[str, Any]:
    """The template values of a refused form: the notice above it and each field's problem."""
    return {"error": ctx._(FORM_INCOMPLETE), "problems": problems}


def refills(again: Refill) -> Callable[[E], E]:
    """Marks a POST page route whose form a reader fills in: when FastAPI refuses its fields (one left
    empty, one too long), ``again(ctx, typed, problems)`` answers the same form, what was typed kept
    and each problem beside its field, instead of the dead-end ``form_incomplete`` page. The route's
    own dependencies (session, role, CSRF) have run by then; ``again`` checks the institution again as
    the route does, and must never put a typed secret back into the page."""

    def mark(endpoint: E) -> E:
        endpoint.refill = again  # type: ignore[attr-defined]
        return endpoint

    return mark


class PageRoute(JsonRoute):
    """Refusals on a page answer a page in the reader's language, with the API's status code."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired as exc:
                ctx = _context(request)
                return redirect(ctx, exc.path + "?next=" + quote(request.url.path, safe="/"))
            except CsrfRefused:
                return error_page(_context(request), "csrf_failed")
            except CreditbankError as exc:
                return error_page(_context(request), exc.code, exc.params, status=exc.http_status)
            except RequestValidationError as exc:
                return await self._refused_form(request, exc)

        return page_handler

    async def _refused_form(self, request: Request, exc: RequestValidationError) -> Response:
        ctx = _context(request)
        again: Refill | None = getattr(self.endpoint, "refill", None)
        problems = field_problems(exc.errors())
        if again is None or problems is None or request.method != "POST":
            return error_page(ctx, "form_incomplete")
        form = await request.form()  # already parsed by FastAPI: Starlette keeps it on the request
        token = form.get(security.CSRF_FIELD)
        if ctx.new_nonce or not security.csrf_ok(
            request.app.state.web.csrf_key, ctx.nonce, token if isinstance(token, str) else None
        ):
            return error_page(ctx, "csrf_failed")
        typed = {key: value for key, value in form.items() if isinstance(value, str)}
        try:
            return await run_in_threadpool(again, ctx, typed, problems)
        except CreditbankError as refusal:  # another institution's page, say: as the route would
            return error_page(ctx, refusal.code, refusal.params, status=refusal.http_status)
