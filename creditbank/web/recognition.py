"""Recognition (学习激励) pages: the learner's consent and awards in the portal; the district office's
candidates and the awards it records (operator session). The work is in ``stats.awards``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import HTMLResponse

from creditbank.certificates.credentials import CATEGORY_NAMES
from creditbank.stats import awards, queries
from creditbank.stats.figures import as_of_text
from creditbank.web.accounts import OperatorPage
from creditbank.web.base import Csrf, LearnerPage, PageRoute, redirect, renderer

router = APIRouter(route_class=PageRoute, include_in_schema=False)


# -- the learner -----------------------------------------------------------------------------------


@router.get("/me/recognition", response_class=HTMLResponse)
def my_recognition(ctx: LearnerPage):
    with ctx.db.reader() as session:
        mine = awards.listed(session, learner_id=ctx.learner_id)
    return renderer(ctx.request).page(
        ctx,
        "web/recognition.html.j2",
        named=ctx.me.named_consent_at is not None,
        awards=[a for a, _ in mine],
        saved=ctx.request.query_params.get("saved"),
    )


@router.post("/me/recognition/consent")
def my_consent(ctx: LearnerPage, _csrf: Csrf, named: Annotated[Literal["yes", "no"], Form()]):
    with ctx.db.unit_of_work() as session:
        awards.set_consent(session, learner_id=ctx.learner_id, named=named == "yes")
    return redirect(ctx, "/me/recognition?saved=1")


@router.post("/me/recognition/{award_id}/certificate")
def my_award_certificate(ctx: LearnerPage, _csrf: Csrf, award_id: Annotated[str, Path(max_length=40)]):
    with ctx.db.unit_of_work() as session:
        certificate = awards.issue_certificate(
            session,
            ctx.request.app.state.issuer,
            learner_id=ctx.learner_id,
            award_id=award_id,
            issued_by=f"learner:{ctx.learner_id}",
        )
    return redirect(ctx, f"/me/certificates/{certificate.id}?new=1")


# -- the district office ---------------------------------------------------------------------------


@router.get("/operator/stats/recognition", response_class=HTMLResponse)
def candidates_page(
    ctx: OperatorPage,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    district: Annotated[str | None, Query(max_length=100)] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    by: Literal["credits", "hours"] = "credits",
):
    period = queries.Period.of(start, end)
    district = (district or "").strip() or None
    category = category if category in CATEGORY_NAMES else None
    statistics = ctx.request.app.state.statistics  # computed for this request, or ahead at scale
    found, stamp = statistics.candidates(period, district=district, category=category, by=by)
    districts = statistics.districts()
    with ctx.db.reader() as session:
        recorded = awards.listed(session, limit=50)
    categories = [(k, v[0] if ctx.lang == "zh" else v[1]) for k, v in CATEGORY_NAMES.items()]
    return renderer(ctx.request).page(
        ctx,
        "web/stats/recognition.html.j2",
        period=period,
        district=district,
        category=category,
        by=by,
        districts=districts,
        categories=categories,
        category_names=dict(categories),
        candidates=found,
        as_of=as_of_text(stamp.as_of, stamp.ledger_seq, ctx.lang),
        recorded=recorded,
        titles=[(k, v[0] if ctx.lang == "zh" else v[1]) for k, v in awards.TITLES.items()],
        saved=ctx.request.query_params.get("saved"),
    )


@router.post("/operator/stats/recognition")
def record_award(
    ctx: OperatorPage,
    _csrf: Csrf,
    account_no: Annotated[str, Form(min_length=13, max_length=13)],
    title: Annotated[Literal["star", "outstanding"], Form()],
    start: Annotated[date, Form(alias="from")],
    end: Annotated[date, Form(alias="to")],
    category: Annotated[str | None, Form(max_length=32)] = None,
    reason: Annotated[str | None, Form(max_length=500)] = None,
):
    with ctx.db.unit_of_work() as session:
        awards.record(
            session,
            account_no=account_no,
            title=title,
            period=queries.Period.of(start, end),
            category=category if category in CATEGORY_NAMES else None,
            reason=reason,
        )
    return redirect(ctx, "/operator/stats/recognition?saved=1")
