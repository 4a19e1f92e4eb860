"""The learner's portal: activate, sign in and out, balance, statement, conversions, progress,
certificates and share links. Phone first, for readers over 60 (MIIT 适老化, WCAG 2.2 AA)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from creditbank.catalogue.models import CATEGORY_ZH
from creditbank.certificates import service as certificates
from creditbank.certificates import sharing
from creditbank.certificates.models import CertificateKind
from creditbank.completions import service as completions
from creditbank.conversion import progress
from creditbank.conversion import service as conversions
from creditbank.errors import CODES, CreditbankError
from creditbank.httpio import client_address
from creditbank.kit import clock, qrcodes, reasons
from creditbank.learners import names
from creditbank.learners import queries as learner_queries
from creditbank.learners import service as learners
from creditbank.ledger import queries
from creditbank.web import security
from creditbank.web.base import (
    Csrf,
    Ctx,
    FieldProblem,
    LearnerPage,
    Page,
    PageRoute,
    local_path,
    redirect,
    refills,
    refused,
    renderer,
    retry_after,
)
from creditbank.web.i18n import N_

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Text = Annotated[str, Form(max_length=200)]
Secret = Annotated[str, Form(max_length=1000)]
Next = Annotated[str | None, Form(alias="next", max_length=500)]


CATEGORY_WORDS_EN = {
    "academic": "Academic education",
    "vocational_training": "Vocational training",
    "vocational_certificate": "Vocational skill certificates",
    "community": "Community education",
    "senior": "Education for older people",
    "culture_leisure": "Culture and leisure",
}
"""A kind of learning as a page's label names it in English: 学历教育 is academic *education*, and a
label starts with a capital (not "academic credits")."""


def category_name(ctx: Ctx, category: str) -> str:
    zh = {str(k): v for k, v in CATEGORY_ZH.items()}.get(category, category)
    return ctx.pick(zh, CATEGORY_WORDS_EN.get(category))


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
        ctx,
        template,
        status=error.http_status,
        headers=retry_after(error.http_status, params),
        error=ctx.error_text(code, params),
        **values,
    )


@router.get("/activate", response_class=HTMLResponse)
def activate_form(ctx: Page, account_no: Annotated[str, Query(max_length=20)] = ""):
    return renderer(ctx.request).page(ctx, "web/activate.html.j2", account_no=account_no)


def _activate_again(ctx: Ctx, typed: dict[str, str], problems: dict[str, FieldProblem]):
    return renderer(ctx.request).page(
        ctx,
        "web/activate.html.j2",
        status=422,
        account_no=typed.get("account_no", "").strip().upper(),
        activation_code=typed.get("activation_code", ""),
        **refused(ctx, problems),
    )


@router.post("/activate", response_class=HTMLResponse)
@refills(_activate_again)
def activate(
    ctx: Page,
    _csrf: Csrf,
    account_no: Text,
    activation_code: Text,
    password: Secret,
    password_again: Secret,
):
    account_no = account_no.strip().upper()
    # What can be told without the activation code, all at once: a reader over 60 should not fix
    # one thing, submit, and only then learn of the next. The code they typed is kept (it is their
    # own, 16 digits from the slip); the passwords are not.
    problems = [
        code
        for code, wrong in (
            ("weak_password", len(password) < 8),  # learners' own rule (weak_password), asked early
            ("passwords_differ", password != password_again),
        )
        if wrong
    ]
    if problems:
        return renderer(ctx.request).page(
            ctx,
            "web/activate.html.j2",
            status=CODES[problems[0]][0],
            errors=[ctx.error_text(code) for code in problems],
            account_no=account_no,
            activation_code=activation_code,
        )
    try:
        _, token = learners.activate(
            ctx.db,
            secret=ctx.settings.id_secret(),
            account_no=account_no,
            activation_code=activation_code,
            password=password,
            client=client_address(ctx.request),
        )
    except CreditbankError as exc:
        return _form_again(
            ctx,
            "web/activate.html.j2",
            exc.code,
            exc.params,
            account_no=account_no,
            activation_code=activation_code,
        )
    return _signed_in(ctx, token, "/me?welcome=1")


@router.get("/signin", response_class=HTMLResponse)
def sign_in_form(ctx: Page, target: Annotated[str | None, Query(alias="next", max_length=500)] = None):
    if ctx.learner is not None:
        return redirect(ctx, local_path(target))
    return renderer(ctx.request).page(ctx, "web/signin.html.j2", next=local_path(target), account_no="")


def _sign_in_again(ctx: Ctx, typed: dict[str, str], problems: dict[str, FieldProblem]):
    return renderer(ctx.request).page(
        ctx,
        "web/signin.html.j2",
        status=422,
        account_no=typed.get("account_no", "").strip().upper(),
        next=local_path(typed.get("next")),
        **refused(ctx, problems),
    )


@router.post("/signin", response_class=HTMLResponse)
@refills(_sign_in_again)
def sign_in(ctx: Page, _csrf: Csrf, account_no: Text, password: Secret, target: Next = None):
    account_no = account_no.strip().upper()
    try:
        _, token = learners.sign_in(
            ctx.db, account_no=account_no, password=password, client=client_address(ctx.request)
        )
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
        figures = queries.balance(session, ctx.me)
        corrections = names.history(session, ctx.me.id)
        slips = learner_queries.issued_slips(session, ctx.me)
        superseded = conversions.recently_superseded(session, learner_id=ctx.learner_id)
    categories = sorted(figures.by_category.items(), key=lambda kv: -kv[1])
    return renderer(ctx.request).page(
        ctx,
        "web/balance.html.j2",
        balance=figures,
        categories=[(category_name(ctx, c), units) for c, units in categories],
        levels=sorted(figures.by_level.items()),
        welcome=bool(welcome),
        corrections=corrections,
        slips=slips,
        superseded=superseded,
    )


# -- the statement: where every credit came from --------------------------------------------------

STATEMENT_PAGE = 20
KIND_WORDS = {
    "deposit": N_("Credits earned"),
    "conversion": N_("Conversion"),
}
# A reversal undoes a transaction line by line; what that means for the learner depends on what it
# undid and which way the credits move. One label for all ("credits withdrawn") called credits given
# back after a conversion was undone a withdrawal.
RETURNED = N_("Credits returned (conversion undone)")
"""Only a conversion takes credits out of a lot, so credits coming back are always a conversion's."""
WITHDRAWN = {
    True: N_("Credits withdrawn (record corrected)"),  # a completion's deposit (it carries the completion)
    False: N_("Converted credits withdrawn (conversion undone)"),  # a conversion's target lot
}


def _statement_kind(line: learner_queries.StatementLine) -> str:
    if line.kind != "reversal":
        return KIND_WORDS.get(line.kind, line.kind)
    return RETURNED if line.amount_units > 0 else WITHDRAWN[line.completion_id is not None]


@router.get("/me/statement", response_class=HTMLResponse)
def statement(ctx: LearnerPage, after: Annotated[int | None, Query(ge=0, le=2**62)] = None):
    # Whole transactions per page (learners.queries.statement_whole): the next page starts after the
    # last line's seq, so a transaction cut at a page's end would lose its other lines for good.
    page = ctx.db.read(learner_queries.statement_page, ctx.me, after=after, limit=STATEMENT_PAGE)
    lines, names, more = page.lines, page.institution_names, page.more
    rows = [
        {
            "line": line,
            "kind": ctx._(_statement_kind(line)),
            "title": ctx.pick(line.outcome_title_zh or "", line.outcome_title_en) or line.outcome_code or "",
            "institution": ctx.pick(*names[line.institution_code]) if line.institution_code in names else "",
            "category": category_name(ctx, line.category) if line.category else "",
            # The balance after a transaction, on its last line only: its lines happen at once, and the
            # sums between them (3.5 + 1.5 + 1.5 before the 2 converted credits go) were never a balance.
            "balance_after": i + 1 == len(lines) or lines[i + 1].transaction_id != line.transaction_id,
        }
        for i, line in enumerate(lines)
    ]
    return renderer(ctx.request).page(
        ctx,
        "web/statement.html.j2",
        rows=rows,
        next_after=lines[-1].seq if more and lines else None,
        first_page=after is None,
    )


# -- conversions ---------------------------------------------------------------------------------

CAP_WORDS = {
    "max_transfer_ratio": N_("the diploma's limit on converted credits"),
    "per_year_cap": N_("the yearly limit on converted credits"),
    "per_institution_cap": N_("the limit on credits from one school"),
}
# The marks are characters every Chinese font has (○ is GB2312): an emoji (U+23F3, the hourglass) is an empty
# box on a computer without an emoji font (Debian's chromium) — tests/web/test_foundation.py.
STATE_WORDS = {
    "pending": (N_("Waiting for the school's decision"), "info", "○"),
    "approved": (N_("Approved: the credits were converted"), "ok", "✓"),
    "rejected": (N_("Not approved"), "bad", "✗"),
    "expired": (N_("Expired: no decision in 30 days, your credits were released"), "warn", "⚠"),
    "reversed": (N_("Cancelled: a source record was withdrawn"), "warn", "⚠"),
    "withdrawn": (N_("Withdrawn by you: your credits were given back"), "info", "←"),
    "superseded": (
        N_("Ended: the school posted this course for you directly, your credits were given back"),
        "info",
        "✓",
    ),
}


@router.get("/me/conversions", response_class=HTMLResponse)
def conversion_options(ctx: LearnerPage):
    with ctx.db.reader() as session:
        # With what stands in each rule's way: right after "apply", the rule's credits are locked by the
        # request — the page says the request waits, not that credits are missing.
        options = conversions.options_with_standing(session, ctx.me)
    return renderer(ctx.request).page(
        ctx, "web/conversions.html.j2", options=options, cap_words={k: ctx._(v) for k, v in CAP_WORDS.items()}
    )


@router.post("/me/conversions")
def request_conversion(ctx: LearnerPage, _csrf: Csrf, rule_id: Annotated[int, Form(ge=1, le=2**63 - 1)]):
    # As POST /api/v1/me/conversions: stale requests are released in a unit of work of their own first.
    with ctx.db.unit_of_work() as session:
        conversions.expire_pending(session, learner_id=ctx.learner_id)
    with ctx.db.unit_of_work() as session:
        conversions.request(session, learner=ctx.me, rule_id=rule_id)
    return redirect(ctx, "/me/conversions/requests?done=1")


@router.get("/me/conversions/requests", response_class=HTMLResponse)
def conversion_requests(ctx: LearnerPage, done: int = 0, withdrawn: int = 0):
    with ctx.db.reader() as session:
        rows = conversions.for_learner(session, ctx.learner_id)
    items = [
        {
            "conversion": c,
            "name": ctx.pick(rule.name_zh, rule.name_en),
            "state": ctx._(STATE_WORDS.get(c.state, (c.state, "info", ""))[0]),
            "tone": STATE_WORDS.get(c.state, (c.state, "info", ""))[1],
            "icon": STATE_WORDS.get(c.state, (c.state, "info", ""))[2],
            "reason": reasons.text(c.reason, ctx.lang),
        }
        for c, rule in rows
    ]
    return renderer(ctx.request).page(
        ctx, "web/conversion_requests.html.j2", items=items, done=bool(done), withdrawn=bool(withdrawn)
    )


ConversionId = Annotated[str, Path(max_length=40)]


@router.get("/me/conversions/requests/{conversion_id}/withdraw", response_class=HTMLResponse)
def withdraw_form(ctx: LearnerPage, conversion_id: ConversionId):
    """Asks first, in plain words: what withdrawing does (the school stops, the credits come back)."""
    with ctx.db.reader() as session:
        conversion, rule, held_units = conversions.get_for_learner(
            session, learner_id=ctx.learner_id, conversion_id=conversion_id
        )
    words = STATE_WORDS.get(conversion.state, (conversion.state, "info", ""))
    return renderer(ctx.request).page(
        ctx,
        "web/conversion_withdraw.html.j2",
        conversion=conversion,
        name=ctx.pick(rule.name_zh, rule.name_en),
        held_units=held_units,
        state=ctx._(words[0]),
        tone=words[1],
        icon=words[2],
    )


@router.post("/me/conversions/requests/{conversion_id}/withdraw")
def withdraw_conversion(ctx: LearnerPage, _csrf: Csrf, conversion_id: ConversionId):
    # As POST /api/v1/me/conversions/{id}/withdraw: a stale request is released on its own first.
    with ctx.db.unit_of_work() as session:
        conversions.expire_pending(session, learner_id=ctx.learner_id, conversion_id=conversion_id)
    with ctx.db.unit_of_work() as session:
        conversions.withdraw(session, conversion_id=conversion_id, learner_id=ctx.learner_id)
    return redirect(ctx, f"/me/conversions/requests?withdrawn=1#{conversion_id}")


# -- progress toward a qualification --------------------------------------------------------------


@router.get("/me/progress", response_class=HTMLResponse)
def qualifications(ctx: LearnerPage):
    with ctx.db.reader() as session:
        found = conversions.list_qualifications(session)
    if len(found) == 1:
        return redirect(ctx, f"/me/progress/{found[0].code}")
    return renderer(ctx.request).page(ctx, "web/qualifications.html.j2", qualifications=found)


@router.get("/me/progress/{code}", response_class=HTMLResponse)
def qualification_progress(ctx: LearnerPage, code: Annotated[str, Path(max_length=64)]):
    with ctx.db.reader() as session:
        report = progress.progress(session, ctx.me, code).as_dict()
    for r in report["requirements"]:
        r["label"] = (
            ctx._("%(category)s credits", category=category_name(ctx, r["category"]))
            if "category" in r
            else ctx.pick(r["title_zh"], r["title_en"])
        )
    return renderer(ctx.request).page(ctx, "web/progress.html.j2", report=report)


# -- certificates ----------------------------------------------------------------------------------

CERTIFICATE_KINDS = {
    "achievement": N_("Certificate for one course"),
    "transcript": N_("Transcript of all my credits"),
    "conversion": N_("Conversion certificate"),
    "qualification": N_("Diploma certificate"),
    "award": N_("Award certificate"),
}


def certificate_view(ctx: Ctx, certificate) -> dict:
    printed = certificates.printed_of(certificate)
    titles = [ctx.pick(line.title_zh, line.title_en) for line in printed.lines]
    return {
        "id": certificate.id,
        "kind": ctx._(CERTIFICATE_KINDS.get(certificate.kind, certificate.kind)),
        "title": titles[0]
        if certificate.kind == "achievement" and titles
        else ctx._(CERTIFICATE_KINDS.get(certificate.kind, "")),
        "titles": titles,
        "issued_on": printed.issued_on,
        # Two transcripts of one day differ by the time and what they hold (the date alone read alike).
        "issued_at": certificate.issued_at,
        "total_credits": printed.total_credits,
        "revoked": certificate.revoked_at is not None,
        "revoke_reason": reasons.text(certificate.revoke_reason, ctx.lang),
    }


@router.get("/me/certificates", response_class=HTMLResponse)
def my_certificates(ctx: LearnerPage):
    with ctx.db.reader() as session:
        mine = [certificate_view(ctx, c) for c in certificates.for_learner(session, ctx.learner_id)]
    return renderer(ctx.request).page(ctx, "web/certificates.html.j2", certificates=mine)


@router.get("/me/certificates/new", response_class=HTMLResponse)
def new_certificate(ctx: LearnerPage):
    with ctx.db.reader() as session:
        done = completions.for_learner(session, ctx.learner_id)
    return renderer(ctx.request).page(ctx, "web/certificate_new.html.j2", completions=done)


@router.post("/me/certificates")
def issue_certificate(
    ctx: LearnerPage,
    _csrf: Csrf,
    kind: Annotated[Literal["achievement", "transcript"], Form()],
    completion_id: Annotated[str | None, Form(max_length=40)] = None,
):
    with ctx.db.unit_of_work() as session:
        certificate = certificates.issue(
            session,
            ctx.request.app.state.issuer,
            learner=ctx.me,
            kind=CertificateKind(kind),
            completion_id=completion_id if kind == "achievement" else None,
            issued_by=f"learner:{ctx.learner_id}",
        )
    return redirect(ctx, f"/me/certificates/{certificate.id}?new=1")


def _mine(ctx: Ctx, certificate_id: str):
    with ctx.db.reader() as session:
        return certificates.get_for_learner(session, learner_id=ctx.learner_id, certificate_id=certificate_id)


CertificateId = Annotated[str, Path(max_length=40)]


@router.get("/me/certificates/{certificate_id}", response_class=HTMLResponse)
def certificate_page(ctx: LearnerPage, certificate_id: CertificateId, new: int = 0):
    certificate = _mine(ctx, certificate_id)
    return renderer(ctx.request).page(
        ctx, "web/certificate.html.j2", certificate=certificate_view(ctx, certificate), new=bool(new)
    )


@router.get("/me/certificates/{certificate_id}/pdf")
async def certificate_pdf(ctx: LearnerPage, certificate_id: CertificateId):
    certificate = await run_in_threadpool(_mine, ctx, certificate_id)
    app = ctx.request.app

    def render() -> tuple[certificates.PrintState, bytes]:  # with the log proof, as the API's PDF
        proof = app.state.log.proof(
            certificate.log_index, wait_seconds=app.state.settings.log_certificate_wait
        )
        return certificates.print_state_of(certificate), app.state.pdf(certificate, log_proof=proof)

    pdf = await app.state.pdfs.get(certificate.id, certificates.print_state_of(certificate), render)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{certificate.id}.pdf"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/me/certificates/{certificate_id}/qr", response_class=HTMLResponse)
def certificate_qr(ctx: LearnerPage, certificate_id: CertificateId):
    """The QR full screen, for a verifier to scan from the learner's phone."""
    certificate = _mine(ctx, certificate_id)
    url = certificates.qr_url(ctx.request.app.state.issuer.base_url, certificate)
    return renderer(ctx.request).page(
        ctx,
        "web/certificate_qr.html.j2",
        certificate=certificate_view(ctx, certificate),
        qr=Markup(qrcodes.qr_svg(url)),
    )


# -- share links -----------------------------------------------------------------------------------

LIFETIMES = (30, 90, 180)


def share_view(ctx: Ctx, shared: sharing.Shared, mine: dict[str, dict]) -> dict:
    """A link and what it shows: an active link whose certificate was revoked since does not say
    ✓ 有效 — the reader it was sent to sees 已撤销 (/s/{id})."""
    state = shared.state(clock.now())
    words = {
        "active": (N_("Active"), "ok", "✓"),
        "expired": (N_("Expired"), "warn", "⚠"),
        "revoked": (N_("Revoked by you"), "bad", "✗"),
    }[state]
    shown = [
        mine.get(c) or {"id": c, "title": c, "revoked": False, "revoke_reason": ""}
        for c in shared.certificate_ids
    ]
    revoked = sum(1 for c in shown if c["revoked"])
    if state == "active" and revoked == len(shown):
        words = (N_("The link works, but the certificate it shares is revoked"), "bad", "✗")
    elif state == "active" and revoked:
        words = (N_("The link works, but some certificates it shares are revoked"), "warn", "⚠")
    return {
        "id": shared.link.id,
        "url": f"{ctx.request.app.state.issuer.base_url}/s/{shared.link.id}",
        "note": shared.link.note,
        "expires_at": shared.link.expires_at,
        "opened": shared.link.open_count,
        "state": state,
        "state_words": ctx._(words[0]),
        "tone": words[1],
        "icon": words[2],
        "certificates": shown,
    }


def _views(ctx: Ctx, session) -> dict[str, dict]:
    return {c.id: certificate_view(ctx, c) for c in certificates.for_learner(session, ctx.learner_id)}


@router.get("/me/share", response_class=HTMLResponse)
def share_links(ctx: LearnerPage):
    with ctx.db.reader() as session:
        mine = _views(ctx, session)
        links = [share_view(ctx, s, mine) for s in sharing.for_learner(session, ctx.learner_id)]
    return renderer(ctx.request).page(ctx, "web/share_links.html.j2", links=links)


SHARE_FIELDS = {"share_needs_certificates": "certificates", "certificate_not_found": "certificates"}
"""Which part of the share form a refusal is about (``invalid_value`` names its field)."""


def _share_form(
    ctx: Ctx,
    *,
    chosen: list[str],
    days: int = LIFETIMES[0],
    note: str = "",
    refused: CreditbankError | None = None,
) -> HTMLResponse:
    with ctx.db.reader() as session:
        mine = [
            certificate_view(ctx, c)
            for c in certificates.for_learner(session, ctx.learner_id)
            if c.revoked_at is None
        ]
    values: dict = {
        "certificates": mine,
        "chosen": chosen,
        "days": days,
        "note": note,
        "lifetimes": LIFETIMES,
    }
    if refused is None:
        return renderer(ctx.request).page(ctx, "web/share_new.html.j2", **values)
    field = SHARE_FIELDS.get(refused.code) or str(refused.params.get("field", "certificates"))
    return _form_again(
        ctx, "web/share_new.html.j2", refused.code, refused.params, error_field=field, **values
    )


@router.get("/me/share/new", response_class=HTMLResponse)
def new_share_link(ctx: LearnerPage, certificate: Annotated[str | None, Query(max_length=40)] = None):
    return _share_form(ctx, chosen=[certificate] if certificate else [])


@router.post("/me/share")
def create_share_link(
    ctx: LearnerPage,
    _csrf: Csrf,
    days: Annotated[int, Form(ge=1, le=10_000)],
    certificate_ids: Annotated[list[str] | None, Form(alias="certificate_id", max_length=200)] = None,
    note: Annotated[str | None, Form(max_length=1000)] = None,
):
    try:
        with ctx.db.unit_of_work() as session:
            link = sharing.create(
                session,
                learner_id=ctx.learner_id,
                certificate_ids=certificate_ids or [],
                days=days,
                note=note,
            )
    except CreditbankError as exc:  # the form again, what was chosen and written kept
        return _share_form(ctx, chosen=certificate_ids or [], days=days, note=note or "", refused=exc)
    return redirect(ctx, f"/me/share/{link.id}?new=1")


ShareId = Annotated[str, Path(max_length=60)]


@router.get("/me/share/{link_id}", response_class=HTMLResponse)
def share_link(ctx: LearnerPage, link_id: ShareId, new: int = 0):
    with ctx.db.reader() as session:
        shared = sharing.get_for_learner(session, learner_id=ctx.learner_id, link_id=link_id)
        link = share_view(ctx, shared, _views(ctx, session))
    return renderer(ctx.request).page(ctx, "web/share_link.html.j2", link=link, new=bool(new))


@router.get("/me/share/{link_id}/revoke", response_class=HTMLResponse)
def revoke_share_form(ctx: LearnerPage, link_id: ShareId):
    """Asks first, as withdrawing a conversion request does: stopping a link cannot be undone."""
    with ctx.db.reader() as session:
        shared = sharing.get_for_learner(session, learner_id=ctx.learner_id, link_id=link_id)
        link = share_view(ctx, shared, _views(ctx, session))
    return renderer(ctx.request).page(ctx, "web/share_revoke.html.j2", link=link)


@router.post("/me/share/{link_id}/revoke")
def revoke_share_link(ctx: LearnerPage, _csrf: Csrf, link_id: ShareId):
    with ctx.db.unit_of_work() as session:
        sharing.revoke(session, learner_id=ctx.learner_id, link_id=link_id)
    return redirect(ctx, f"/me/share/{link_id}")
