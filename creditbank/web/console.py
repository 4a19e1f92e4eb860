"""The institution console: what a school's clerk and approver do in the browser.

Every page is under ``/console/{code}`` (the institution's code) and opens only for that
institution's own staff (``own_institution``): staff of another institution get the 403 page.
Pages call the domain services the API calls; every change records the staff account
(``staff.service.record``; completions carry ``staff_id``, revocations and decisions ``staff:<id>``).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from creditbank.catalogue import service as catalogue
from creditbank.catalogue.models import Category
from creditbank.catalogue.schemas import OutcomeSpec
from creditbank.completions import service as completions
from creditbank.conversion import service as conversions
from creditbank.conversion.models import ConversionState
from creditbank.errors import CreditbankError
from creditbank.httpio import spool_body
from creditbank.institutions import districts
from creditbank.institutions import service as institutions
from creditbank.kit import clock, text, tokens
from creditbank.learners import names
from creditbank.learners import service as learners
from creditbank.learners.service import ACTIVATION_DAYS
from creditbank.ledger import queries
from creditbank.staff import service as staff_accounts
from creditbank.staff import uploads
from creditbank.web import security
from creditbank.web.accounts import ROLE_NAMES, ApproverPage, ClerkPage, StaffPage, own_institution
from creditbank.web.base import (
    Csrf,
    CsrfRefused,
    Ctx,
    FieldProblem,
    PageRoute,
    redirect,
    refills,
    refused,
    renderer,
)
from creditbank.web.i18n import N_
from creditbank.web.learner import CAP_WORDS, category_name

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Code = Annotated[str, Path(max_length=32)]
Text = Annotated[str, Form(max_length=200)]
OptionalText = Annotated[str | None, Form(max_length=200)]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHOWN_REFUSED_ROWS = 100


def _page(ctx: Ctx, template: str, *, status: int = 200, **values):
    return renderer(ctx.request).page(ctx, f"web/staff/{template}.html.j2", status=status, **values)


def _again(ctx: Ctx, template: str, exc: CreditbankError, **values):
    """The same form, the problem said in words above it, what was typed kept."""
    return _page(ctx, template, status=exc.http_status, error=ctx.error_text(exc.code, exc.params), **values)


Typed = dict[str, str]
Problems = dict[str, FieldProblem]


def _code(ctx: Ctx) -> str:
    """The institution code of the page a refused form was sent from (its path)."""
    return str(ctx.request.path_params.get("code", ""))


def _blank(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


@router.get("/console", response_class=HTMLResponse)
def console_start(ctx: StaffPage):
    assert ctx.staff is not None
    return redirect(ctx, f"/console/{ctx.staff.institution_code}")


@router.get("/console/{code}", response_class=HTMLResponse)
def console_home(ctx: StaffPage, code: Code):
    institution_id = own_institution(ctx, code)
    with ctx.db.reader() as session:
        recent = staff_accounts.actions(session, institution_id=institution_id, limit=20)
    assert ctx.staff is not None
    role_words = "、".join(ctx._(ROLE_NAMES[r][1]) for r in ("clerk", "approver") if ctx.staff.has(r))
    return _page(ctx, "console_home", recent=recent, role_words=role_words)


# -- the catalogue -------------------------------------------------------------------------------


def _categories(ctx: Ctx) -> list[tuple[str, str]]:
    return [(c.value, category_name(ctx, c.value)) for c in Category]


@router.get("/console/{code}/catalogue", response_class=HTMLResponse)
def catalogue_page(ctx: ClerkPage, code: Code, saved: Annotated[str | None, Query(max_length=64)] = None):
    institution_id = own_institution(ctx, code)
    with ctx.db.reader() as session:
        outcomes = list(catalogue.current_catalogue(session, institution_id=institution_id).values())
    return _page(
        ctx,
        "catalogue",
        outcomes=outcomes,
        categories=dict(_categories(ctx)),
        saved=saved,
    )


def _outcome_form(ctx: Ctx, code: str, outcome_code: str | None, **values):
    with ctx.db.reader() as session:
        institution_id = own_institution(ctx, code)
        current = (
            catalogue.current_version(session, institution_id=institution_id, code=outcome_code)
            if outcome_code
            else None
        )
        history = (
            catalogue.versions(session, institution_id=institution_id, code=outcome_code)
            if outcome_code
            else []
        )
    if outcome_code and current is None:
        raise CreditbankError("outcome_not_found", {"code": outcome_code})
    return current, history


@router.get("/console/{code}/catalogue/new", response_class=HTMLResponse)
def new_outcome(ctx: ClerkPage, code: Code):
    own_institution(ctx, code)
    return _page(ctx, "outcome_form", outcome=None, history=[], categories=_categories(ctx), form={})


@router.get("/console/{code}/catalogue/{outcome_code}", response_class=HTMLResponse)
def edit_outcome(ctx: ClerkPage, code: Code, outcome_code: Annotated[str, Path(max_length=64)]):
    current, history = _outcome_form(ctx, code, outcome_code)
    return _page(ctx, "outcome_form", outcome=current, history=history, categories=_categories(ctx), form={})


def _outcome_again(ctx: Ctx, typed: Typed, problems: Problems):
    ref = typed.get("outcome_code", "").strip()
    with ctx.db.reader() as session:
        institution_id = own_institution(ctx, _code(ctx))
        current = catalogue.current_version(session, institution_id=institution_id, code=ref) if ref else None
        history = catalogue.versions(session, institution_id=institution_id, code=ref) if current else []
    return _page(
        ctx,
        "outcome_form",
        status=422,
        outcome=current,
        history=history,
        categories=_categories(ctx),
        form=typed,
        **refused(ctx, problems),
    )


@router.post("/console/{code}/catalogue", response_class=HTMLResponse)
@refills(_outcome_again)
def save_outcome(
    ctx: ClerkPage,
    _csrf: Csrf,
    code: Code,
    outcome_code: Annotated[str, Form(max_length=64)],
    title_zh: Text,
    category: Annotated[str, Form(max_length=40)],
    level: Annotated[str, Form(max_length=4)],
    title_en: OptionalText = None,
    credits: Annotated[str | None, Form(max_length=20)] = None,
    hours: Annotated[str | None, Form(max_length=20)] = None,
    validity_years: Annotated[str | None, Form(max_length=4)] = None,
    min_score: Annotated[str | None, Form(max_length=20)] = None,
):
    institution_id = own_institution(ctx, code)
    form = {
        "outcome_code": outcome_code.strip(),
        "title_zh": title_zh,
        "title_en": title_en,
        "category": category,
        "level": level,
        "credits": credits,
        "hours": hours,
        "validity_years": validity_years,
        "min_score": min_score,
    }
    try:
        ref = outcome_code.strip()
        if not (1 <= len(ref) <= 64 and all(c.isalnum() or c in "._-" for c in ref)):
            raise CreditbankError(
                "invalid_value", {"field": "outcome_code", "reason": "字母、数字、._- / letters, digits, ._-"}
            )
        try:
            spec = OutcomeSpec.model_validate({k: _blank(v) for k, v in form.items() if k != "outcome_code"})
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(map(str, first["loc"]))
            if first["type"] == "invalid_text":  # kit.text: say which character, in both languages
                raise CreditbankError(
                    "invalid_text", {"field": field, "char": first["ctx"]["char"]}
                ) from None
            raise CreditbankError("invalid_value", {"field": field, "reason": first["msg"]}) from None
        with ctx.db.unit_of_work() as session:
            # Read afresh in the writing transaction: a suspended institution publishes nothing
            # (issue 9 item 6), even from a page opened before the operator suspended it.
            institutions.require_accredited(session, institution_id)
            outcome, changed = catalogue.upsert(
                session,
                institution_id=institution_id,
                code=ref,
                spec=spec,
                hours_per_credit=ctx.settings.hours_per_credit,
            )
            if changed:
                assert ctx.staff is not None
                staff_accounts.record(session, ctx.staff, "catalogue", f"{ref} v{outcome.version}")
    except CreditbankError as exc:
        with ctx.db.reader() as session:
            current = catalogue.current_version(session, institution_id=institution_id, code=ref)
            history = catalogue.versions(session, institution_id=institution_id, code=ref) if current else []
        return _again(
            ctx, "outcome_form", exc, outcome=current, history=history, categories=_categories(ctx), form=form
        )
    return redirect(ctx, f"/console/{code}/catalogue?saved={outcome.code}")


# -- enrolment and the activation slip -------------------------------------------------------------


@router.get("/console/{code}/enrol", response_class=HTMLResponse)
def enrol_form(ctx: ClerkPage, code: Code):
    own_institution(ctx, code)
    return _page(ctx, "enrol", form={}, districts=_districts(ctx))


def _districts(ctx: Ctx) -> list[str]:
    """The bank's districts for the form's choice (``institutions.districts``)."""
    with ctx.db.reader() as session:
        return districts.known(session)


def _enrol_again(ctx: Ctx, typed: Typed, problems: Problems):
    own_institution(ctx, _code(ctx))
    form = {k: v for k, v in typed.items() if k != "national_id"}  # never echo an ID number back
    return _page(ctx, "enrol", status=422, form=form, districts=_districts(ctx), **refused(ctx, problems))


@router.post("/console/{code}/enrol", response_class=HTMLResponse)
@refills(_enrol_again)
def enrol(
    ctx: ClerkPage,
    _csrf: Csrf,
    code: Code,
    name: Annotated[str, Form(max_length=100)],
    national_id: Annotated[str, Form(max_length=25)],
    phone: Annotated[str | None, Form(max_length=20)] = None,
    district: Annotated[str | None, Form(max_length=100)] = None,
):
    institution_id = own_institution(ctx, code)
    form = {"name": name, "national_id": national_id, "phone": phone, "district": district}
    try:
        with ctx.db.unit_of_work() as session:
            enrolment = learners.enroll(
                session,
                secret=ctx.settings.id_secret(),
                name=name,
                national_id=national_id,
                phone=_blank(phone),
                district=_blank(district),
                institution_id=institution_id,
            )
            assert ctx.staff is not None
            staff_accounts.record(
                session,
                ctx.staff,
                "enrol",
                f"{enrolment.learner.account_no} ({'new' if enrolment.created else 'again'}"
                f"{', name differs' if enrolment.name_differs else ''})",
            )
    except CreditbankError as exc:
        form.pop("national_id")  # never echo an ID number back into a page
        return _again(ctx, "enrol", exc, form=form, districts=_districts(ctx))
    return _page(
        ctx,
        "slip",
        status=201 if enrolment.created else 200,
        name=enrolment.learner.name,
        account_no=enrolment.learner.account_no,
        activation_code=enrolment.activation_code,
        created=enrolment.created,
        # Shown to the clerk at the desk, who holds the ID card: a mistyped number or another
        # person is caught before the slip (and its code) is handed over.
        entered_name=text.normalize(name) if enrolment.name_differs else None,
        days=ACTIVATION_DAYS,
        base_url=ctx.request.app.state.issuer.base_url,
    )


# -- a new activation slip (a forgotten password) -------------------------------------------------


@router.get("/console/{code}/learners/{account_no}/activation-slip", response_class=HTMLResponse)
def new_slip_form(ctx: ClerkPage, code: Code, account_no: Annotated[str, Path(max_length=20)]):
    institution_id = own_institution(ctx, code)
    return new_slip_form_page(ctx, account_no, institution_id=institution_id, base=f"/console/{code}")


@router.post("/console/{code}/learners/{account_no}/activation-slip", response_class=HTMLResponse)
def new_slip(
    ctx: ClerkPage,
    _csrf: Csrf,
    code: Code,
    account_no: Annotated[str, Path(max_length=20)],
    checked: Annotated[str | None, Form(max_length=10)] = None,
):
    institution_id = own_institution(ctx, code)
    return issue_new_slip(ctx, account_no, checked, institution_id=institution_id, base=f"/console/{code}")


def new_slip_form_page(ctx: Ctx, account_no: str, *, institution_id: int | None, status: int = 200, **values):
    """The confirmation before a new slip: who, and what happens when the code is used. Shared with
    the operator's page (``office``; ``institution_id`` None)."""
    base = values.pop("base")
    with ctx.db.reader() as session:
        # A learner this institution cannot see is "not found", as everywhere in the console.
        person = learners.visible_to(session, account_no, institution_id=institution_id)
        if institution_id is not None and person.enrolled_by_id != institution_id:
            who_zh, who_en = learners.enrolled_by(session, person)
            refusal = CreditbankError("activation_slip_not_allowed", {"who_zh": who_zh, "who_en": who_en})
            values |= {"error": ctx.error_text(refusal.code, refusal.params), "refused": True}
            status = refusal.http_status
    return _page(
        ctx,
        "new_slip",
        status=status,
        person=person,
        action=f"{base}/learners/{person.account_no}/activation-slip",
        **values,
    )


def issue_new_slip(ctx: Ctx, account_no: str, checked: str | None, *, institution_id: int | None, base: str):
    """Issue the slip once the box "I checked the ID card" is ticked, and show it to print (the code
    is shown this once). The activity log names who, never the code."""
    assert ctx.staff is not None
    if checked != "yes":
        return new_slip_form_page(
            ctx,
            account_no,
            institution_id=institution_id,
            status=422,
            base=base,
            error=ctx._("Tick the box once you have checked the learner's ID card."),
        )
    with ctx.db.unit_of_work() as session:
        # Another institution's learner: refused here (403) with who can, as the form page says.
        slip = learners.new_activation_slip(
            session, secret=ctx.settings.id_secret(), account_no=account_no, institution_id=institution_id
        )
        staff_accounts.record(session, ctx.staff, "new activation slip", slip.learner.account_no)
    return _page(
        ctx,
        "slip_new",
        status=201,
        name=slip.learner.name,
        account_no=slip.learner.account_no,
        activation_code=slip.activation_code,
        had_password=slip.had_password,
        days=ACTIVATION_DAYS,
        base_url=ctx.request.app.state.issuer.base_url,
    )


# -- one learner: name, balance, name corrections ------------------------------------------------


@router.get("/console/{code}/learners", response_class=HTMLResponse)
def find_learner(ctx: StaffPage, code: Code, account_no: Annotated[str, Query(max_length=20)] = ""):
    own_institution(ctx, code)
    if account_no.strip():
        return redirect(ctx, f"/console/{code}/learners/{account_no.strip().upper()}")
    return _page(ctx, "learner_find", base=f"/console/{code}")


def _learner_page(ctx: Ctx, code: str, account_no: str, *, status: int = 200, **values):
    institution_id = own_institution(ctx, code)
    with ctx.db.reader() as session:
        # Learners this institution enrolled or taught; anyone else's account is "not found".
        learner = learners.visible_to(session, account_no, institution_id=institution_id)
        history = names.history(session, learner.id)
        balance = queries.balance(session, learner)
        enrolled_by = learners.enrolled_by(session, learner)
        usernames = {
            f"staff:{account.id}": account.username
            for account in staff_accounts.list_staff(session, institution_id=institution_id)
        }
    assert ctx.staff is not None
    return _page(
        ctx,
        "learner",
        status=status,
        person=learner,
        history=history,
        balance=balance,
        enrolled_by=ctx.pick(*enrolled_by),
        ours=learner.enrolled_by_id == institution_id,
        may_correct=learner.enrolled_by_id == institution_id and ctx.staff.has("clerk"),
        usernames=usernames,
        form=values.pop("form", {}),
        base=f"/console/{code}",
        completions_url=f"/console/{code}/completions?account_no={learner.account_no}",
        **values,
    )


def learner_not_found(ctx: Ctx, base: str, account_no: str, refusal: CreditbankError):
    """A learner the page cannot show (a mistyped number, another institution's learner): the search
    page again inside the console, the number as typed, why — never a dead end with only 回到首页.
    The words are the same whether the account exists elsewhere or not at all (no probing)."""
    typed = account_no.strip().upper()
    return _page(
        ctx,
        "learner_find",
        status=refusal.http_status,
        base=base,
        account_no=typed,
        error=ctx.error_text(refusal.code, refusal.params),
        # CB + 10 digits + a MOD 11-2 check character: a number that fails it was mistyped.
        typo=not tokens.is_account_no(typed),
    )


@router.get("/console/{code}/learners/{account_no}", response_class=HTMLResponse)
def learner_page(
    ctx: StaffPage,
    code: Code,
    account_no: Annotated[str, Path(max_length=20)],
    corrected: Annotated[str | None, Query(max_length=10)] = None,
):
    try:
        return _learner_page(ctx, code, account_no, corrected=corrected)
    except CreditbankError as exc:
        if exc.code != "learner_not_found":
            raise
        return learner_not_found(ctx, f"/console/{code}", account_no, exc)


def _name_again(ctx: Ctx, typed: Typed, problems: Problems):
    account_no = str(ctx.request.path_params.get("account_no", ""))
    form = {"name": typed.get("name", ""), "reason": typed.get("reason", "")}
    return _learner_page(ctx, _code(ctx), account_no, status=422, form=form, **refused(ctx, problems))


@router.post("/console/{code}/learners/{account_no}/name", response_class=HTMLResponse)
@refills(_name_again)
def correct_name(
    ctx: ClerkPage,
    _csrf: Csrf,
    code: Code,
    account_no: Annotated[str, Path(max_length=20)],
    name: Annotated[str, Form(max_length=100)],
    reason: Annotated[str, Form(max_length=500)],
):
    institution_id = own_institution(ctx, code)
    assert ctx.staff is not None
    try:
        with ctx.db.unit_of_work() as session:
            done = names.correct(
                session,
                account_no=account_no,
                name=name,
                reason=reason,
                institution_id=institution_id,
                corrected_by=ctx.staff.actor,
            )
            if done.action_note is not None:
                staff_accounts.record(session, ctx.staff, "name", done.action_note)
    except CreditbankError as exc:
        if exc.code == "learner_not_found":
            return learner_not_found(ctx, f"/console/{code}", account_no, exc)
        if exc.code in ("institution_suspended", "institution_not_accredited"):
            raise
        return _learner_page(
            ctx,
            code,
            account_no,
            status=exc.http_status,
            error=ctx.error_text(exc.code, exc.params),
            form={"name": name, "reason": reason},
        )
    outcome = "yes" if done.changed else "same"
    return redirect(ctx, f"/console/{code}/learners/{done.learner.account_no}?corrected={outcome}")


# -- one completion ------------------------------------------------------------------------------


@router.get("/console/{code}/completions/new", response_class=HTMLResponse)
def completion_form(ctx: ClerkPage, code: Code, account_no: Annotated[str, Query(max_length=20)] = ""):
    institution_id = own_institution(ctx, code)
    with ctx.db.reader() as session:
        outcomes = list(catalogue.current_catalogue(session, institution_id=institution_id).values())
    return _page(
        ctx, "completion_form", outcomes=outcomes, form={"account_no": account_no}, today=clock.today()
    )


def _completion_again(ctx: Ctx, typed: Typed, problems: Problems):
    institution_id = own_institution(ctx, _code(ctx))
    with ctx.db.reader() as session:
        outcomes = list(catalogue.current_catalogue(session, institution_id=institution_id).values())
    form = typed | {"account_no": typed.get("account_no", "").strip().upper()}
    return _page(
        ctx,
        "completion_form",
        status=422,
        outcomes=outcomes,
        form=form,
        today=clock.today(),
        **refused(ctx, problems),
    )


@router.post("/console/{code}/completions", response_class=HTMLResponse)
@refills(_completion_again)
def post_completion(
    ctx: ClerkPage,
    _csrf: Csrf,
    code: Code,
    account_no: Annotated[str, Form(max_length=20)],
    outcome_code: Annotated[str, Form(max_length=64)],
    completed_on: Annotated[str, Form(max_length=20)],  # 2026年10月1日 too
    external_id: Annotated[str | None, Form(max_length=100)] = None,
    score: Annotated[str | None, Form(max_length=20)] = None,
    hours: Annotated[str | None, Form(max_length=20)] = None,
):
    own_institution(ctx, code)
    assert ctx.staff is not None
    form = {
        "account_no": account_no.strip().upper(),
        "outcome_code": outcome_code,
        "completed_on": completed_on,
        "external_id": external_id,
        "score": score,
        "hours": hours,
    }
    values = {
        "external_id": _blank(external_id) or f"web-{clock.today():%Y%m%d}-{secrets.token_hex(4)}",
        "account_no": form["account_no"],
        "national_id": None,
        "outcome_code": outcome_code.strip(),
        "completed_on": completed_on.strip(),
        "score": _blank(score),
        "hours": _blank(hours),
    }
    try:
        with ctx.db.unit_of_work() as session:
            institution = institutions.get(session, code)
            posted = completions.post_one(
                session,
                institution=institution,
                api_key_id=None,
                staff_id=ctx.staff.id,
                secret=ctx.settings.id_secret(),
                values=values,
            )
            if not posted.replayed:
                staff_accounts.record(
                    session, ctx.staff, "completion", f"{posted.id} {posted.account_no} {posted.outcome_code}"
                )
    except CreditbankError as exc:
        with ctx.db.reader() as session:
            outcomes = list(
                catalogue.current_catalogue(session, institution_id=ctx.staff.institution_id or 0).values()
            )
        return _again(ctx, "completion_form", exc, outcomes=outcomes, form=form, today=clock.today())
    return _page(ctx, "completion_posted", status=200 if posted.replayed else 201, posted=posted)


# -- uploads ---------------------------------------------------------------------------------------


@router.get("/console/{code}/upload", response_class=HTMLResponse)
def upload_form(ctx: ClerkPage, code: Code):
    institution_id = own_institution(ctx, code)
    with ctx.db.reader() as session:
        recent = uploads.recent(session, institution_id=institution_id)
    return _page(ctx, "upload", recent=recent, limit_mb=ctx.settings.max_upload_bytes // (1024 * 1024))


@router.post("/console/{code}/upload", response_class=HTMLResponse)
async def upload(ctx: ClerkPage, code: Code):
    """multipart: the CSRF token and ``file`` (CSV or XLSX, ≤ 20 MB)."""
    own_institution(ctx, code)
    limit = ctx.settings.max_upload_bytes
    if not ctx.request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise CreditbankError("unsupported_spreadsheet")
    file, _, filename = await spool_body(ctx.request, limit)  # refuses > limit before reading it all
    form = await ctx.request.form()
    token = form.get(security.CSRF_FIELD)
    if ctx.new_nonce or not security.csrf_ok(
        ctx.request.app.state.web.csrf_key, ctx.nonce, token if isinstance(token, str) else None
    ):
        raise CsrfRefused
    return await run_in_threadpool(_import, ctx, code, file, filename)


def _import(ctx: Ctx, code: str, file, filename: str | None):
    assert ctx.staff is not None
    try:
        with ctx.db.reader() as session:
            institution_id = institutions.get(session, code).id
        # Staged (committed in chunks, published at once): a term-end upload does not stall
        # every other institution's posts for its whole length (docs/scale.md, "Big imports").
        result = uploads.import_upload(
            ctx.db,
            user=ctx.staff,
            institution_id=institution_id,
            file=file,
            filename=filename,
            secret=ctx.settings.id_secret(),
            max_rows=ctx.settings.max_batch_rows,
        )
    except CreditbankError as exc:  # a file-level problem: nothing was imported
        if exc.code == "unsupported_file":  # the API's words name JSON, which this page does not take
            exc = CreditbankError("unsupported_spreadsheet")
        with ctx.db.reader() as session:
            recent = uploads.recent(session, institution_id=ctx.staff.institution_id or 0)
        return _again(
            ctx, "upload", exc, recent=recent, limit_mb=ctx.settings.max_upload_bytes // (1024 * 1024)
        )
    # The first rows only: a term's file refused whole (99 999 rows) made a 21 MB page a browser took
    # over a minute to show. The counts per reason say the rest; the Excel download has every row.
    return _page(
        ctx,
        "upload_result",
        upload=result.upload,
        reasons=result.reasons(),
        refused=result.refused[:SHOWN_REFUSED_ROWS],
        file=result.file,
        duplicates=result.duplicates,
        duplicate_rows=result.duplicate_rows,
    )


@router.get("/console/{code}/uploads/{upload_id}/refused.xlsx")
def refused_rows(ctx: ClerkPage, code: Code, upload_id: Annotated[str, Path(max_length=40)]):
    institution_id = own_institution(ctx, code)
    with ctx.db.reader() as session:
        found, workbook = uploads.refused_file(session, institution_id=institution_id, upload_id=upload_id)
    stem = (found.filename.rsplit(".", 1)[0] or "upload").encode("ascii", "ignore").decode() or "upload"
    return Response(
        workbook,
        media_type=XLSX_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{stem}-refused.xlsx"',
            "Cache-Control": "no-store",
        },
    )


# -- completions: find, revoke -------------------------------------------------------------------


@router.get("/console/{code}/completions", response_class=HTMLResponse)
def completions_page(
    ctx: StaffPage,
    code: Code,
    account_no: Annotated[str, Query(max_length=20)] = "",
    revoked: Annotated[str | None, Query(max_length=40)] = None,
):
    return _completions(ctx, own_institution(ctx, code), account_no, revoked=revoked)


def _completions(ctx: Ctx, institution_id: int, account_no: str, *, status: int = 200, **values):
    """The list (one learner's with their balance); after a refused revocation (``refused`` = the
    record's id, ``error``, the ``reason`` typed) the refusal stands beside that record's reason box."""
    with ctx.db.reader() as session:
        found = completions.for_institution(
            session, institution_id=institution_id, account_no=account_no or None, limit=50
        )
        balance = None
        if account_no:
            try:
                learner = learners.visible_to(
                    session, account_no.strip().upper(), institution_id=institution_id
                )
                balance = queries.balance(session, learner)
            except CreditbankError:
                balance = None
        # Who revokes a mistake: named for a clerk, or — none yet — who can make one (docs/web.md).
        approvers = [
            person.name
            for person in staff_accounts.list_staff(session, institution_id=institution_id)
            if person.disabled_at is None and "approver" in person.roles.split()
        ]
    return _page(
        ctx,
        "completions",
        status=status,
        found=found,
        account_no=account_no,
        balance=balance,
        approvers=approvers,
        **values,
    )


LOT_CONSUMED_NEXT = N_(
    "%(refusal)s. If it must be revoked all the same, ask the district learning-credit bank office: only the office "
    "can force the revocation, which first takes back the conversion that used these credits and the "
    "certificates resting on it. Tell them the record and why."
)
REVOKE_REASON_NEEDED = N_("Write the reason for revoking in the box: the learner sees it.")


def _revoke_again(ctx: Ctx, typed: Typed, problems: Problems):
    """No reason at all (an empty box arrives as no value): as a blank one, beside the record's box."""
    refused_id = str(ctx.request.path_params.get("completion_id", ""))
    return _completions(
        ctx,
        own_institution(ctx, _code(ctx)),
        typed.get("account_no", ""),
        status=422,
        error=ctx._(REVOKE_REASON_NEEDED),
        refused=refused_id,
        reason=typed.get("reason", ""),
    )


@router.post("/console/{code}/completions/{completion_id}/revoke", response_class=HTMLResponse)
@refills(_revoke_again)
def revoke_completion(
    ctx: ApproverPage,
    _csrf: Csrf,
    code: Code,
    completion_id: Annotated[str, Path(max_length=40)],
    reason: Annotated[str, Form(max_length=500)],
    account_no: Annotated[str, Form(max_length=20)] = "",
):
    institution_id = own_institution(ctx, code)
    assert ctx.staff is not None
    # Refused (no reason; credits a pending conversion holds, lot_locked): the list again, as it was
    # filtered, the refusal beside the record's reason box — never a dead-end page.
    again = {"refused": completion_id, "reason": reason}
    if not reason.strip():
        return _completions(
            ctx, institution_id, account_no, status=422, error=ctx._(REVOKE_REASON_NEEDED), **again
        )
    try:
        with ctx.db.unit_of_work() as session:
            posted = completions.revoke(
                session,
                completion_id=completion_id,
                institution_id=institution_id,
                reason=reason.strip(),
                revoked_by=ctx.staff.actor,
            )
            staff_accounts.record(session, ctx.staff, "revoke", f"{posted.id}: {reason.strip()}")
    except CreditbankError as exc:
        error = ctx.error_text(exc.code, exc.params)
        if exc.code == "lot_consumed":  # say what to do: only the office may force it (docs/ledger.md)
            error = ctx._(LOT_CONSUMED_NEXT, refusal=error)
        return _completions(ctx, institution_id, account_no, status=exc.http_status, error=error, **again)
    return redirect(ctx, f"/console/{code}/completions?account_no={posted.account_no}&revoked={posted.id}")


# -- conversion requests (approver) ----------------------------------------------------------------


@router.get("/console/{code}/conversions", response_class=HTMLResponse)
def conversion_queue(ctx: ApproverPage, code: Code, done: Annotated[str | None, Query(max_length=40)] = None):
    return _queue(ctx, own_institution(ctx, code), done=done)


def _queue(ctx: Ctx, institution_id: int, *, status: int = 200, **values):
    """The queue; after a refused decision (``refused`` = the request's id, ``error``, the
    ``reason`` typed) the refusal stands beside that request's reason box."""
    with ctx.db.reader() as session:
        reviews = conversions.pending_reviews(session, institution_id=institution_id)
        withdrawn = conversions.recently_ended(
            session, institution_id=institution_id, state=ConversionState.withdrawn
        )
        superseded = conversions.recently_ended(
            session, institution_id=institution_id, state=ConversionState.superseded
        )
    return _page(
        ctx,
        "conversions",
        status=status,
        reviews=reviews,
        withdrawn=withdrawn,
        superseded=superseded,
        cap_words={k: ctx._(v) for k, v in CAP_WORDS.items()},
        **values,
    )


REASON_NEEDED = N_("Write the reason for the rejection in the box: the learner reads it.")


@router.post("/console/{code}/conversions/{conversion_id}", response_class=HTMLResponse)
def decide_conversion(
    ctx: ApproverPage,
    _csrf: Csrf,
    code: Code,
    conversion_id: Annotated[str, Path(max_length=40)],
    decision: Annotated[Literal["approve", "reject"], Form()],
    reason: Annotated[str | None, Form(max_length=500)] = None,
):
    institution_id = own_institution(ctx, code)
    assert ctx.staff is not None
    if decision == "reject" and not _blank(reason):
        return _queue(
            ctx, institution_id, status=422, refused=conversion_id, error=ctx._(REASON_NEEDED), reason=reason
        )
    with ctx.db.unit_of_work() as session:  # committed on its own, as the API does
        conversions.supersede_if_held(session, conversion_id=conversion_id)  # the ledger lock first
        conversions.expire_pending(session, conversion_id=conversion_id)
    try:
        with ctx.db.unit_of_work() as session:
            conversions.decide(
                session,
                conversion_id=conversion_id,
                institution_id=institution_id,
                decision=decision,
                reason=_blank(reason),
                decided_by=ctx.staff.actor,
            )
            staff_accounts.record(session, ctx.staff, decision, conversion_id)
    except CreditbankError as exc:  # decided or expired meanwhile, say: the queue as it is now, and why
        return _queue(
            ctx,
            institution_id,
            status=exc.http_status,
            refused=conversion_id,
            error=ctx.error_text(exc.code, exc.params),
            reason=reason,
        )
    return redirect(ctx, f"/console/{code}/conversions?done={conversion_id}")
