"""The district office forces the revocation of a record whose credits a conversion used.

An institution cannot revoke such a record (``lot_consumed``; its console tells the clerk to ask the
office). Here the office finds the record (by its id, or from the learner's page), reads what the
forced revocation will undo — the record, the conversions built on its credits, the certificates
resting on it, the learner's balance before and after — gives a reason and confirms. The revocation
is the API's own call (``completions.revoke(..., force=True)``); a second submit finds the record
revoked by this office account and shows the result again, revoking nothing twice.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import HTMLResponse

from creditbank.certificates import service as certificates
from creditbank.completions import revocation
from creditbank.completions import service as completions
from creditbank.errors import CreditbankError
from creditbank.learners import service as learners
from creditbank.ledger import queries as ledger_queries
from creditbank.staff import service as staff_accounts
from creditbank.web.accounts import OperatorPage
from creditbank.web.base import Csrf, Ctx, FieldProblem, PageRoute, redirect, refills, refused, renderer
from creditbank.web.i18n import N_

router = APIRouter(route_class=PageRoute, include_in_schema=False)
CompletionId = Annotated[str, Path(max_length=40)]

CERTIFICATE_KINDS = {
    "achievement": N_("Course certificate"),
    "transcript": N_("Transcript"),
    "conversion": N_("Conversion certificate"),
    "qualification": N_("Diploma certificate"),
    "award": N_("Award certificate"),
}
CONVERSION_FATES = {
    "approved": N_(
        "will be reversed: the converted credits are taken back, the credits it used are given back"
    ),
    "pending": N_("waiting for a decision: the request will be ended and the credits it holds released"),
    "reversed": N_("reversed"),
    "rejected": N_("ended: it was waiting for a decision"),
}


def _page(ctx: Ctx, template: str, *, status: int = 200, **values):
    return renderer(ctx.request).page(ctx, f"web/staff/{template}.html.j2", status=status, **values)


def _find(ctx: Ctx, *, status: int = 200, **values):
    return _page(ctx, "record_find", status=status, **values)


@router.get("/operator/completions", response_class=HTMLResponse)
def find_record(ctx: OperatorPage, q: Annotated[str, Query(max_length=60)] = ""):
    """One box for what the office is given: a record id (cmp_…) or the learner's account number
    (the learner's page lists their records)."""
    typed = q.strip()
    if not typed:
        return _find(ctx)
    if typed.upper().startswith("CB"):  # an account number (a record id starts with cmp_)
        return redirect(ctx, f"/operator/learners/{quote(typed.upper(), safe='')}#records")
    return redirect(ctx, f"/operator/completions/{quote(typed, safe='')}")


def _revoked_by(ctx: Ctx, session, record: revocation.Record) -> str:
    """Who revoked it, in words: an office account, an institution's staff member, or the API."""
    kind, _, number = (record.revoked_by or "").partition(":")
    school = ctx.pick(record.institution_name_zh, record.institution_name_en)
    if kind == "operator" and number:
        names = {str(a.id): a.username for a in staff_accounts.list_operators(session)}
        return ctx._("District office (%(who)s)", who=names.get(number, number))
    if kind == "operator":
        return ctx._("District office (API)")
    if kind == "staff":
        people = staff_accounts.list_staff(session, institution_id=record.institution_id)
        names = {str(p.id): p.name for p in people}
        return ctx._("%(school)s (%(who)s)", school=school, who=names[number]) if number in names else school
    if kind == "inst":
        return ctx._("%(school)s (API)", school=school)
    return record.revoked_by or ""


def _record_page(ctx: Ctx, completion_id: str, *, status: int = 200, **values):
    """The record and, depending on its state, the forced revocation's preview and form, the reason
    the office need not force it, or what its revocation undid."""
    with ctx.db.reader() as session:
        plan = revocation.plan(session, completion_id)
        record = plan.record
        resting = certificates.resting_on(session, completion_id=record.id, revoked=record.revoked)
        learner = learners.by_account_no(session, record.account_no)
        balance = ledger_queries.balance(session, learner)
        revoked_by = _revoked_by(ctx, session, record) if record.revoked else ""
    return _page(
        ctx,
        "record",
        status=status,
        record=record,
        plan=plan,
        school=ctx.pick(record.institution_name_zh, record.institution_name_en),
        title=ctx.pick(record.title_zh, record.title_en),
        conversions=[
            {
                "item": u,
                "rule": ctx.pick(u.rule_name_zh, u.rule_name_en),
                "target": ctx.pick(u.target_title_zh, u.target_title_en),
                "owner": ctx.pick(u.owner_name_zh, u.owner_name_en),
                "fate": ctx._(CONVERSION_FATES.get(u.state, u.state)),
            }
            for u in plan.conversions
        ],
        certificates=[
            {
                "id": c.id,
                "kind": ctx._(CERTIFICATE_KINDS.get(c.kind, c.kind))
                if c.parent_id is None
                else ctx._("Line of transcript %(id)s", id=c.parent_id),
                "issued_at": c.issued_at,
            }
            for c in resting
        ],
        balance=balance,
        after_units=balance.total_units + plan.balance_change_units,
        revoked_by=revoked_by,
        not_converted=None
        if record.revoked or record.needs_force
        else ctx.error_text("completion_not_converted", _not_converted(record)),
        reason=values.pop("reason", ""),
        **values,
    )


def _not_converted(record: revocation.Record) -> dict[str, str]:
    return {
        "id": record.id,
        "institution_zh": record.institution_name_zh,
        "institution_en": record.institution_name_en or record.institution_name_zh,
    }


def _missing(ctx: Ctx, completion_id: str, refusal: CreditbankError):
    """A record the office cannot open: the search page again, the id as typed, why."""
    return _find(
        ctx,
        status=refusal.http_status,
        q=completion_id,
        error=ctx.error_text(refusal.code, refusal.params),
    )


@router.get("/operator/completions/{completion_id}", response_class=HTMLResponse)
def record_page(
    ctx: OperatorPage, completion_id: CompletionId, done: Annotated[str | None, Query(max_length=10)] = None
):
    try:
        return _record_page(ctx, completion_id, done=done)
    except CreditbankError as exc:
        if exc.code not in ("completion_not_found", "completion_unpublished"):
            raise
        return _missing(ctx, completion_id, exc)


def _reason_again(ctx: Ctx, typed: dict[str, str], problems: dict[str, FieldProblem]):
    """No reason (an empty box arrives as no value) or one too long: the preview again, said beside
    the box, what was typed kept."""
    completion_id = str(ctx.request.path_params.get("completion_id", ""))
    return _record_page(
        ctx, completion_id, status=422, reason=typed.get("reason", ""), **refused(ctx, problems)
    )


@router.post("/operator/completions/{completion_id}/revoke", response_class=HTMLResponse)
@refills(_reason_again)
def force_revoke(
    ctx: OperatorPage,
    _csrf: Csrf,
    completion_id: CompletionId,
    reason: Annotated[str, Form(max_length=500)],
):
    assert ctx.staff is not None
    if not reason.strip():
        return _reason_again(ctx, {"reason": reason}, {"reason": FieldProblem("missing")})
    try:
        with ctx.db.unit_of_work() as session:
            # Read under the ledger lock: what the log records is what the revocation below undoes.
            plan = revocation.plan(session, completion_id, for_update=True)
            record = plan.record
            if record.revoked:
                if record.revoked_by == ctx.staff.actor:
                    return redirect(ctx, f"/operator/completions/{record.id}?done=revoked")  # a second submit
                raise CreditbankError("already_revoked")
            if not record.needs_force:
                raise CreditbankError("completion_not_converted", _not_converted(record))
            resting = certificates.resting_on(session, completion_id=record.id)
            completions.revoke(
                session,
                completion_id=record.id,
                institution_id=None,
                reason=reason.strip(),
                force=True,
                revoked_by=ctx.staff.actor,
            )
            undone = ", ".join(u.id for u in plan.conversions) or "-"
            revoked = ", ".join(c.id for c in resting) or "-"
            staff_accounts.record(
                session,
                ctx.staff,
                "revoke",
                # The ids first: the log keeps 300 characters, and a long reason is in the record.
                f"{record.id} forced · conversions undone: {undone} · certificates revoked: {revoked}"
                f" · reason: {reason.strip()}",
                institution_id=record.institution_id,
            )
    except CreditbankError as exc:
        if exc.code in ("completion_not_found", "completion_unpublished"):
            return _missing(ctx, completion_id, exc)
        return _record_page(
            ctx,
            completion_id,
            status=exc.http_status,
            error=ctx.error_text(exc.code, exc.params),
            reason=reason,
        )
    return redirect(ctx, f"/operator/completions/{record.id}?done=revoked")
