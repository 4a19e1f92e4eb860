"""The operator's (district office's) administration pages, behind password + TOTP sign-in:
institutions (create, accredit, suspend; API keys shown once; staff accounts), conversion rules
waiting for approval with their text, the signing keys (rotation, compromise) and the audit
status. The statistics dashboard is built beside these (``require_operator`` in ``web/accounts.py``).
Every change is recorded as the operator account's (``staff_action``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from creditbank.audit import audit as run_audit
from creditbank.certificates.keys import describe
from creditbank.completions import revocation
from creditbank.conversion import queries as conversion_queries
from creditbank.conversion import service as conversions
from creditbank.errors import CreditbankError
from creditbank.institutions import districts
from creditbank.institutions import service as institutions
from creditbank.institutions.models import InstitutionState
from creditbank.kit import clock
from creditbank.learners import names
from creditbank.learners import secret as deployment_secret
from creditbank.learners import service as learners
from creditbank.ledger import queries as ledger_queries
from creditbank.staff import service as staff_accounts
from creditbank.web import console
from creditbank.web.accounts import OperatorPage
from creditbank.web.base import Csrf, Ctx, FieldProblem, PageRoute, redirect, refills, refused, renderer
from creditbank.web.i18n import N_
from creditbank.web.learner import category_name

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Code = Annotated[str, Path(max_length=32)]
Text = Annotated[str, Form(max_length=200)]
OptionalText = Annotated[str | None, Form(max_length=200)]
STATE_WORDS = {
    "pending": (N_("Waiting for accreditation"), "info", "○"),
    "accredited": (N_("Accredited"), "ok", "✓"),
    "suspended": (N_("Suspended: cannot post new credits"), "warn", "⚠"),
}


def _page(ctx: Ctx, template: str, *, status: int = 200, **values):
    return renderer(ctx.request).page(ctx, f"web/staff/{template}.html.j2", status=status, **values)


def _blank(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def _record(session, ctx: Ctx, action: str, subject: str, institution_id: int | None = None) -> None:
    assert ctx.staff is not None
    staff_accounts.record(session, ctx.staff, action, subject, institution_id=institution_id)


def _state(ctx: Ctx, state: str) -> dict:
    words, tone, icon = STATE_WORDS.get(state, (state, "info", ""))
    return {"words": ctx._(words), "tone": tone, "icon": icon}


@router.get("/operator", response_class=HTMLResponse)
def office_home(ctx: OperatorPage):
    with ctx.db.reader() as session:
        recent = staff_accounts.actions(session, limit=20)
    return _page(ctx, "office_home", recent=recent)


# -- institutions ----------------------------------------------------------------------------------


@router.get("/operator/institutions", response_class=HTMLResponse)
def institutions_page(ctx: OperatorPage):
    with ctx.db.reader() as session:
        found = institutions.list_all(session)
        known = districts.known(session)
    return _page(
        ctx,
        "institutions",
        institutions=[(i, _state(ctx, i.state)) for i in found],
        form={},
        districts=known,
    )


def _institution_again(ctx: Ctx, typed: dict[str, str], problems: dict[str, FieldProblem]):
    with ctx.db.reader() as session:
        found = institutions.list_all(session)
        known = districts.known(session)
    return _page(
        ctx,
        "institutions",
        status=422,
        institutions=[(i, _state(ctx, i.state)) for i in found],
        form=typed,
        districts=known,
        **refused(ctx, problems),
    )


@router.post("/operator/institutions", response_class=HTMLResponse)
@refills(_institution_again)
def create_institution(
    ctx: OperatorPage,
    _csrf: Csrf,
    code: Annotated[str, Form(max_length=32)],
    name_zh: Text,
    name_en: OptionalText = None,
    kind: Annotated[str | None, Form(max_length=40)] = None,
    district: Annotated[str | None, Form(max_length=100)] = None,
):
    form = {"code": code, "name_zh": name_zh, "name_en": name_en, "kind": kind, "district": district}
    try:
        ref = code.strip().upper()
        if not (2 <= len(ref) <= 32 and all(c.isalnum() or c in "-_" for c in ref) and ref.isascii()):
            raise CreditbankError(
                "invalid_value",
                {
                    "field": "code",
                    "reason_zh": "2–32 位字母、数字、-_",
                    "reason_en": "2–32 letters, digits, -_",
                },
            )
        if not name_zh.strip():
            raise CreditbankError(
                "invalid_value", {"field": "name_zh", "reason_zh": "必填", "reason_en": "required"}
            )
        with ctx.db.unit_of_work() as session:
            institution, created = institutions.create(
                session,
                code=ref,
                name_zh=name_zh.strip(),
                name_en=_blank(name_en),
                kind=_blank(kind),
                district=_blank(district),
            )
            if created:
                _record(session, ctx, "institution", f"{institution.code} created", institution.id)
    except CreditbankError as exc:
        with ctx.db.reader() as session:
            found = institutions.list_all(session)
            known = districts.known(session)
        return _page(
            ctx,
            "institutions",
            status=exc.http_status,
            error=ctx.error_text(exc.code, exc.params),
            institutions=[(i, _state(ctx, i.state)) for i in found],
            form=form,
            districts=known,
        )
    return redirect(ctx, f"/operator/institutions/{institution.code}")


def _institution_page(ctx: Ctx, code: str, *, status: int = 200, **values):
    with ctx.db.reader() as session:
        institution = institutions.get(session, code)
        keys = institutions.list_api_keys(session, code=institution.code)
        people = staff_accounts.list_staff(session, institution_id=institution.id)
    return _page(
        ctx,
        "institution",
        status=status,
        institution=institution,
        state=_state(ctx, institution.state),
        keys=keys,
        people=people,
        form=values.pop("form", {}),
        **values,
    )


# -- learners: a name enrolled wrongly is corrected here or by the school that enrolled them -------


@router.get("/operator/learners", response_class=HTMLResponse)
def find_learner(ctx: OperatorPage, account_no: Annotated[str, Query(max_length=20)] = ""):
    if account_no.strip():
        return redirect(ctx, f"/operator/learners/{account_no.strip().upper()}")
    return _page(ctx, "learner_find", base="/operator")


def _learner_page(ctx: Ctx, account_no: str, *, status: int = 200, **values):
    with ctx.db.reader() as session:
        learner = learners.by_account_no(session, account_no)
        history = names.history(session, learner.id)
        balance = ledger_queries.balance(session, learner)
        enrolled_by = learners.enrolled_by(session, learner)
        usernames = {f"operator:{a.id}": a.username for a in staff_accounts.list_operators(session)}
        records = revocation.of_learner(session, learner_id=learner.id)
    return _page(
        ctx,
        "learner",
        status=status,
        person=learner,
        history=history,
        balance=balance,
        enrolled_by=ctx.pick(*enrolled_by),
        ours=True,
        may_correct=True,
        usernames=usernames,
        form=values.pop("form", {}),
        base="/operator",
        completions_url=None,
        records=records,  # every institution's: the way to a record only the office may revoke
        **values,
    )


@router.get("/operator/learners/{account_no}", response_class=HTMLResponse)
def learner_page(
    ctx: OperatorPage,
    account_no: Annotated[str, Path(max_length=20)],
    corrected: Annotated[str | None, Query(max_length=10)] = None,
):
    try:
        return _learner_page(ctx, account_no, corrected=corrected)
    except CreditbankError as exc:
        if exc.code != "learner_not_found":
            raise
        return console.learner_not_found(ctx, "/operator", account_no, exc)


def _name_again(ctx: Ctx, typed: dict[str, str], problems: dict[str, FieldProblem]):
    account_no = str(ctx.request.path_params.get("account_no", ""))
    form = {"name": typed.get("name", ""), "reason": typed.get("reason", "")}
    return _learner_page(ctx, account_no, status=422, form=form, **refused(ctx, problems))


@router.post("/operator/learners/{account_no}/name", response_class=HTMLResponse)
@refills(_name_again)
def correct_name(
    ctx: OperatorPage,
    _csrf: Csrf,
    account_no: Annotated[str, Path(max_length=20)],
    name: Annotated[str, Form(max_length=100)],
    reason: Annotated[str, Form(max_length=500)],
):
    assert ctx.staff is not None
    try:
        with ctx.db.unit_of_work() as session:
            done = names.correct(
                session,
                account_no=account_no,
                name=name,
                reason=reason,
                institution_id=None,
                corrected_by=ctx.staff.actor,
            )
            if done.action_note is not None:
                _record(session, ctx, "name", done.action_note)
    except CreditbankError as exc:
        if exc.code == "learner_not_found":
            return console.learner_not_found(ctx, "/operator", account_no, exc)
        return _learner_page(
            ctx,
            account_no,
            status=exc.http_status,
            error=ctx.error_text(exc.code, exc.params),
            form={"name": name, "reason": reason},
        )
    outcome = "yes" if done.changed else "same"
    return redirect(ctx, f"/operator/learners/{done.learner.account_no}?corrected={outcome}")


@router.get("/operator/institutions/{code}", response_class=HTMLResponse)
def institution_page(ctx: OperatorPage, code: Code, done: Annotated[str | None, Query(max_length=40)] = None):
    return _institution_page(ctx, code, done=done)


@router.post("/operator/institutions/{code}/state", response_class=HTMLResponse)
def change_state(
    ctx: OperatorPage,
    _csrf: Csrf,
    code: Code,
    state: Annotated[Literal["accredited", "suspended"], Form()],
):
    with ctx.db.unit_of_work() as session:
        institution = institutions.set_state(session, code=code, state=InstitutionState(state))
        _record(session, ctx, state, institution.code, institution.id)
    return redirect(ctx, f"/operator/institutions/{institution.code}?done={state}")


@router.post("/operator/institutions/{code}/api-keys", response_class=HTMLResponse)
def issue_key(ctx: OperatorPage, _csrf: Csrf, code: Code, label: OptionalText = None):
    with ctx.db.unit_of_work() as session:
        key, secret = institutions.issue_api_key(session, code=code, label=_blank(label))
        institution = institutions.get(session, code)
        _record(session, ctx, "api_key", f"{institution.code} {key.id} issued", institution.id)
    # The key is in this answer only (never stored, never in a URL): "shown once".
    return _institution_page(ctx, code, status=201, new_key=secret, new_key_id=key.id)


@router.post("/operator/institutions/{code}/api-keys/{key_id}/revoke", response_class=HTMLResponse)
def revoke_key(ctx: OperatorPage, _csrf: Csrf, code: Code, key_id: Annotated[str, Path(max_length=40)]):
    with ctx.db.unit_of_work() as session:
        key = institutions.revoke_api_key(session, code=code, key_id=key_id)
        institution = institutions.get(session, code)
        _record(session, ctx, "api_key", f"{institution.code} {key.id} revoked", institution.id)
    return redirect(ctx, f"/operator/institutions/{institution.code}?done=key-revoked")


def _staff_again(ctx: Ctx, typed: dict[str, str], problems: dict[str, FieldProblem]):
    values = refused(ctx, problems)
    form = {"username": typed.get("username", ""), "name": typed.get("name", "")}  # never the password
    code = str(ctx.request.path_params.get("code", ""))
    return _institution_page(ctx, code, status=422, staff_error=values.pop("error"), form=form, **values)


@router.post("/operator/institutions/{code}/staff", response_class=HTMLResponse)
@refills(_staff_again)
def create_staff(
    ctx: OperatorPage,
    _csrf: Csrf,
    code: Code,
    username: Annotated[str, Form(max_length=64)],
    name: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    roles: Annotated[list[str] | None, Form(alias="role", max_length=4)] = None,
):
    form = {"username": username, "name": name, "roles": roles or []}
    try:
        with ctx.db.unit_of_work() as session:
            account = staff_accounts.create_staff(
                session,
                institution_code=code,
                username=username,
                name=name,
                password=password,
                roles=roles or [],
            )
            _record(
                session, ctx, "staff", f"{account.username} ({account.roles}) created", account.institution_id
            )
    except CreditbankError as exc:
        return _institution_page(
            ctx, code, status=exc.http_status, staff_error=ctx.error_text(exc.code, exc.params), form=form
        )
    return redirect(ctx, f"/operator/institutions/{code.strip().upper()}?done=staff")


@router.post("/operator/institutions/{code}/staff/{staff_id}/disable", response_class=HTMLResponse)
def disable_staff(ctx: OperatorPage, _csrf: Csrf, code: Code, staff_id: Annotated[int, Path(ge=1, le=2**62)]):
    with ctx.db.unit_of_work() as session:
        institution = institutions.get(session, code)
        account = staff_accounts.disable_staff(session, institution_id=institution.id, staff_id=staff_id)
        _record(session, ctx, "staff", f"{account.username} disabled", institution.id)
    return redirect(ctx, f"/operator/institutions/{institution.code}?done=staff-disabled")


# -- conversion rules --------------------------------------------------------------------------------


def _source_refs(source: dict) -> list[str]:
    return list(source.get("all_of") or (source.get("any_n_of") or {}).get("outcomes") or [])


@router.get("/operator/rules", response_class=HTMLResponse)
def rules_page(
    ctx: OperatorPage,
    done: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    rejected: Annotated[int | None, Query(ge=1, le=2**62)] = None,
):
    """Each proposed rule in words the district office reads — course and school names, the code
    beside them in small type — rather than its JSON."""
    return _rules(ctx, done=done, rejected=rejected)


def _rules(ctx: Ctx, *, status: int = 200, **values):
    """The rules page; after a refused rejection (``refused`` = the rule's id, ``error``, the
    ``reason`` typed) the refusal stands beside that rule's reason box."""
    with ctx.db.reader() as session:
        proposed = conversion_queries.rules(session, state="proposed")
        refs = {ref for r in proposed for ref in [r.target_outcome, *_source_refs(r.source)]}
        titles: dict[str, str] = {}
        for ref in refs:
            try:
                _, found = conversions.resolve_ref(session, ref)
            except CreditbankError:
                continue  # an outcome withdrawn since: its code alone is shown
            titles[ref] = ctx.pick(found.title_zh, found.title_en)
        codes = {r.owner for r in proposed} | {ref.partition(":")[0] for ref in refs}
        schools = {code: ctx.pick(*pair) for code, pair in institutions.names(session, codes).items()}

    def outcome(ref: str) -> dict[str, str]:
        school = ref.partition(":")[0]
        return {"ref": ref, "title": titles.get(ref, ref), "school": schools.get(school, school)}

    items = []
    for r in proposed:
        credits_source = r.source.get("credits")
        items.append(
            {
                "rule": r,
                "owner": schools.get(r.owner, r.owner),
                "target": outcome(r.target_outcome),
                "all_of": [outcome(ref) for ref in r.source.get("all_of") or []],
                "any_n_of": r.source.get("any_n_of")
                and {
                    "n": r.source["any_n_of"]["n"],
                    "outcomes": [outcome(ref) for ref in r.source["any_n_of"]["outcomes"]],
                },
                "credits": credits_source
                and credits_source
                | {
                    "category_name": category_name(ctx, credits_source["category"]),
                    "amount": f"{credits_source['amount']:g}",
                },
            }
        )
    return _page(ctx, "rules", status=status, items=items, **values)


@router.post("/operator/rules/{rule_id}/approve", response_class=HTMLResponse)
def approve_rule(ctx: OperatorPage, _csrf: Csrf, rule_id: Annotated[int, Path(ge=1, le=2**62)]):
    with ctx.db.unit_of_work() as session:
        rule = conversions.approve_rule(session, rule_id=rule_id)
        _record(session, ctx, "rule", f"{rule.code} v{rule.version} approved", rule.owner_institution_id)
    return redirect(ctx, f"/operator/rules?done={rule_id}")


@router.post("/operator/rules/{rule_id}/reject", response_class=HTMLResponse)
def reject_rule(
    ctx: OperatorPage,
    _csrf: Csrf,
    rule_id: Annotated[int, Path(ge=1, le=2**62)],
    reason: Annotated[str, Form(max_length=500)] = "",
):
    try:
        if not reason.strip():
            raise CreditbankError(
                "invalid_value",
                {
                    "field_zh": "驳回理由",
                    "field_en": "reason",
                    "reason_zh": "请写明理由，提出规则的机构会看到",
                    "reason_en": "say why; the institution that proposed the rule reads it",
                },
            )
        with ctx.db.unit_of_work() as session:
            rule = conversions.reject_rule(session, rule_id=rule_id, reason=reason.strip())
            _record(
                session,
                ctx,
                "rule",
                f"{rule.code} v{rule.version} rejected: {rule.rejection_reason}",
                rule.owner_institution_id,
            )
    except CreditbankError as exc:  # the rules again, the refusal beside this rule's reason box
        error = ctx.error_text(exc.code, exc.params)
        return _rules(ctx, status=exc.http_status, refused=rule_id, error=error, reason=reason)
    return redirect(ctx, f"/operator/rules?rejected={rule_id}")


# -- signing keys -----------------------------------------------------------------------------------


def _keys(ctx: Ctx) -> list[dict]:
    issuer = ctx.request.app.state.issuer
    issuer.keys.ensure_active()  # as `creditbank keys list`: the first key exists before the first signature
    return describe(issuer.keys.all())


@router.get("/operator/keys", response_class=HTMLResponse)
def keys_page(ctx: OperatorPage, done: Annotated[str | None, Query(max_length=40)] = None):
    return _keys_page(ctx, done=done)


def _keys_page(ctx: Ctx, *, status: int = 200, **values):
    issuer = ctx.request.app.state.issuer
    since = issuer.identity.pdf_seals_since  # as published with the keys (docs/certificates.md)
    published = None if since is None else clock.iso_seconds(since)
    return _page(
        ctx,
        "keys",
        status=status,
        keys=_keys(ctx),
        issuer=issuer,
        seals_since=since,
        published=published,
        **values,
    )


def _compromised_again(ctx: Ctx, typed: dict[str, str], problems: dict[str, FieldProblem]):
    return _keys_page(ctx, status=422, done=None, **refused(ctx, problems))


@router.post("/operator/keys/rotate", response_class=HTMLResponse)
def rotate_key(ctx: OperatorPage, _csrf: Csrf):
    key = ctx.request.app.state.issuer.keys.rotate()
    with ctx.db.unit_of_work() as session:
        _record(session, ctx, "key", f"rotated: {key.kid} active")
    return redirect(ctx, "/operator/keys?done=rotated")


@router.post("/operator/keys/compromised", response_class=HTMLResponse)
@refills(_compromised_again)
def key_compromised(
    ctx: OperatorPage,
    _csrf: Csrf,
    kid: Annotated[str, Form(max_length=200)],
    since: Annotated[str, Form(max_length=40)],
):
    at = clock.parse_typed(since)  # without a zone, Beijing time: as the page shows every time
    if at is None:
        raise CreditbankError(
            "invalid_value", {"field": "since", "reason": "例如 2026-12-01 08:00 / e.g. 2026-12-01 08:00"}
        )
    issuer = ctx.request.app.state.issuer
    if kid not in {k.kid for k in issuer.keys.all()}:
        raise CreditbankError("invalid_value", {"field": "kid", "reason": kid})
    issuer.keys.mark_compromised(kid, at)
    with ctx.db.unit_of_work() as session:
        _record(session, ctx, "key", f"compromised: {kid} since {at.isoformat()}")
    return redirect(ctx, "/operator/keys?done=compromised")


# -- audit ---------------------------------------------------------------------------------------------


@router.get("/operator/audit", response_class=HTMLResponse)
def audit_page(ctx: OperatorPage):
    with ctx.db.reader() as session:
        runs = staff_accounts.actions(session, action="audit", limit=10)
    return _page(ctx, "audit", runs=runs)


@router.post("/operator/audit", response_class=HTMLResponse)
async def audit_now(ctx: OperatorPage, _csrf: Csrf):
    app = ctx.request.app

    # The audit and the record of it, both off the event loop: the record may wait for SQLite's lock.
    def run() -> None:
        with ctx.db.reader() as session:
            report = run_audit(session, log_verifiers=app.state.log.verifiers())
            report.problems += deployment_secret.audit(session, ctx.settings)
        counts = f"{report.transactions} tx, {report.postings} postings, {report.log_leaves} log leaves"
        summary = f"passed · {counts}" if report.ok else f"FAILED · {counts} · {report.problems[0]}"
        with ctx.db.unit_of_work() as session:
            _record(session, ctx, "audit", summary)

    await run_in_threadpool(run)
    return redirect(ctx, "/operator/audit")


# -- a new activation slip (a forgotten password; the console's pages, for any learner) -----------


@router.get("/operator/learners/{account_no}/activation-slip", response_class=HTMLResponse)
def new_slip_form(ctx: OperatorPage, account_no: Annotated[str, Path(max_length=20)]):
    return console.new_slip_form_page(ctx, account_no, institution_id=None, base="/operator")


@router.post("/operator/learners/{account_no}/activation-slip", response_class=HTMLResponse)
def new_slip(
    ctx: OperatorPage,
    _csrf: Csrf,
    account_no: Annotated[str, Path(max_length=20)],
    checked: Annotated[str | None, Form(max_length=10)] = None,
):
    return console.issue_new_slip(ctx, account_no, checked, institution_id=None, base="/operator")
