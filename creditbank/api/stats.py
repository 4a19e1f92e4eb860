"""Statistics for the district office's own reporting tools (SPEC §3.9), operator only.

Every figure answers JSON by default, or the very table the dashboard shows as CSV or XLSX with
``format=csv|xlsx`` (labels in the ``Accept-Language`` language). Definitions: docs/statistics.md.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter
from sqlmodel import Session

from creditbank.api.certificates import certificate_out
from creditbank.api.deps import (
    DbDep,
    IdempotencyKey,
    LearnerCaller,
    Operator,
    Remember,
    body_digest,
    write,
    write_in_steps,
)
from creditbank.api.problems import language
from creditbank.certificates.schemas import CertificateOut
from creditbank.httpio import JsonRoute
from creditbank.learners.models import Learner
from creditbank.stats import awards, export, queries
from creditbank.stats import service as stats
from creditbank.stats.figures import Figure
from creditbank.stats.models import Award
from creditbank.stats.schemas import (
    AreaIn,
    AreaOut,
    AwardIn,
    AwardOut,
    CandidateOut,
    ConsentIn,
    ConsentOut,
    FigureOut,
    PopulationIn,
    PopulationOut,
    RefreshOut,
    TargetsIn,
    TargetsOut,
)
from creditbank.stats.snapshots import Statistics

router = APIRouter(route_class=JsonRoute, prefix="/api/v1/stats", tags=["statistics 统计"])

From = Annotated[date | None, Query(alias="from", description="First day (default: 1 January this year)")]
To = Annotated[
    date | None, Query(alias="to", description="Last day, included (default: today, Beijing time)")
]
District = Annotated[str | None, Query(max_length=100, description="Only this district (区/县)")]
Format = Annotated[
    Literal["json", "csv", "xlsx"], Query(description="json, or the dashboard's table as csv or xlsx")
]

FIGURE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/json": {},
            "text/csv": {"schema": {"type": "string"}},
            export.XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
        "description": "The figure (JSON), or its table as CSV (UTF-8 with BOM) or XLSX",
    }
}


def _answer(request: Request, figure: Figure, fmt: str) -> Response:
    if fmt == "json":
        return JSONResponse(figure.as_json())
    lang = language(request)
    if fmt == "csv":
        body, media = export.to_csv(figure, lang), export.CSV_TYPE
    else:
        body, media = export.to_xlsx(figure, lang), export.XLSX_TYPE
    name = export.filename(figure, fmt)
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def statistics(request: Request) -> Statistics:
    return request.app.state.statistics


def _figure(
    request: Request, db, name: str, start: date | None, end: date | None, district: str | None, fmt: str
) -> Response:
    """The figure computed for this request, or — when computing it takes long — the one computed
    ahead, with ``as_of`` (docs/statistics.md)."""
    period = queries.Period.of(start, end)
    figure = statistics(request).figure(name, period, district)
    return _answer(request, figure, fmt)


@router.get(
    "/participation",
    response_model=FigureOut,
    responses=FIGURE_RESPONSES,
    summary="学习参与人数与人次 · Participation: distinct learners and 人次 per group",
)
def participation(
    request: Request,
    db: DbDep,
    principal: Operator,
    group_by: Literal["district", "township", "age_band", "gender", "category", "month"] = "district",
    start: From = None,
    end: To = None,
    district: District = None,
    format: Format = "json",
) -> Response:
    """Distinct learners with an active completion in the period (``learners``) and the number of
    such completions (``completions``, 人次), per district, 乡镇/街道, age band (< 18, 18–59, 60+),
    gender, category or month."""
    return _figure(request, db, f"participation-{group_by}", start, end, district, format)


@router.get(
    "/participation-rate",
    response_model=FigureOut,
    responses=FIGURE_RESPONSES,
    summary="学习参与率 · Participation rate against the resident population and targets",
)
def participation_rate(
    request: Request,
    db: DbDep,
    principal: Operator,
    start: From = None,
    end: To = None,
    district: District = None,
    format: Format = "json",
) -> Response:
    return _figure(request, db, "participation-rate", start, end, district, format)


@router.get(
    "/coverage",
    response_model=FigureOut,
    responses=FIGURE_RESPONSES,
    summary="覆盖率 · Coverage of 乡镇/街道 and 村/社区 by accredited institutions",
)
def coverage(
    request: Request, db: DbDep, principal: Operator, district: District = None, format: Format = "json"
) -> Response:
    return _figure(request, db, "coverage", None, None, district, format)


@router.get(
    "/credits",
    response_model=FigureOut,
    responses=FIGURE_RESPONSES,
    summary="各机构颁发学分 · Credits issued per institution and category",
)
def credits(
    request: Request,
    db: DbDep,
    principal: Operator,
    start: From = None,
    end: To = None,
    district: District = None,
    format: Format = "json",
) -> Response:
    return _figure(request, db, "credits", start, end, district, format)


@router.get(
    "/conversions",
    response_model=FigureOut,
    responses=FIGURE_RESPONSES,
    summary="学分转换申请 · Conversion requests by state",
)
def conversions(
    request: Request,
    db: DbDep,
    principal: Operator,
    start: From = None,
    end: To = None,
    format: Format = "json",
) -> Response:
    return _figure(request, db, "conversions", start, end, None, format)


@router.get(
    "/certificates",
    response_model=FigureOut,
    responses=FIGURE_RESPONSES,
    summary="证书签发、撤销与核验 · Certificates issued, revoked and verified",
)
def certificates(
    request: Request,
    db: DbDep,
    principal: Operator,
    start: From = None,
    end: To = None,
    format: Format = "json",
) -> Response:
    return _figure(request, db, "certificates", start, end, None, format)


@router.post(
    "/refresh",
    response_model=RefreshOut,
    status_code=202,
    summary="立即更新统计 · Recompute figures computed ahead, now",
)
def refresh(
    request: Request,
    db: DbDep,
    principal: Operator,
    start: From = None,
    end: To = None,
    district: District = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """On a bank whose figures take long to compute, the dashboard's figures for this period and
    district are recomputed in the background now (``refreshing``: true), whatever
    ``CREDITBANK_STATS_REFRESH_SECONDS`` says; the figures answer with the new ``as_of`` once done.
    Figures computed for every request (``kept``: false) are always current: nothing to do."""

    # refresh_now commits on its own (and the computation writes from another thread): the answer is
    # stored after it, like a staged import's (write_in_steps).
    def use_case(remember: Remember) -> tuple[int, Any]:
        stamp = statistics(request).refresh_now(queries.Period.of(start, end), district)
        if stamp is None:
            out = RefreshOut(kept=False, refreshing=False, as_of=None, ledger_seq=None)
        else:
            out = RefreshOut(
                kept=True, refreshing=stamp.refreshing, as_of=stamp.as_of, ledger_seq=stamp.ledger_seq
            )
        body = out.model_dump(mode="json")
        with db.unit_of_work() as session:
            remember(session, 202, body)
        return 202, body

    # The period and district are the query: another period under the same key is another request.
    return write_in_steps(
        db,
        principal,
        use_case,
        idempotency_key=idempotency_key,
        request_hash=body_digest(request, dict(request.query_params)),
    )


# -- what the office enters ------------------------------------------------------------------------


def _population_out(session: Session) -> list[dict]:
    return [
        PopulationOut(district=p.district, age_band=p.age_band, residents=p.residents).model_dump()
        for p in stats.population(session)
    ]


@router.get("/population", response_model=list[PopulationOut], summary="常住人口 · Resident population")
def get_population(db: DbDep, principal: Operator) -> list[dict]:
    with db.reader() as session:
        return _population_out(session)


@router.put(
    "/population",
    response_model=list[PopulationOut],
    summary="录入常住人口 · Set the resident population of districts and age bands",
)
def put_population(body: list[PopulationIn], db: DbDep, principal: Operator) -> Response:
    """Creates or replaces each (district, age band) given; the others stay. All or nothing."""
    lines = [stats.PopulationLine(p.district, p.age_band, p.residents, i) for i, p in enumerate(body, 1)]

    def use_case(session) -> tuple[int, Any]:
        stats.set_population(session, lines=lines)
        return 200, _population_out(session)

    return write(db, principal, use_case)


def _targets_out(shares: dict[str, float]) -> dict[str, float]:
    return {name: round(share * 100, 2) for name, share in shares.items()}


@router.get("/targets", response_model=TargetsOut, summary="目标 · Targets, in percent")
def get_targets(db: DbDep, principal: Operator) -> dict[str, float]:
    with db.reader() as session:
        return _targets_out(queries.targets(session))


@router.put("/targets", response_model=TargetsOut, summary="修改目标 · Change targets, in percent")
def put_targets(body: TargetsIn, db: DbDep, principal: Operator) -> Response:
    def use_case(session) -> tuple[int, Any]:
        stats.set_targets(session, percents=body.model_dump(exclude_none=True))
        return 200, _targets_out(queries.targets(session))

    return write(db, principal, use_case)


def _areas_out(session: Session) -> list[dict]:
    return [
        AreaOut(district=a.district, township=a.township, village=a.village).model_dump()
        for a in stats.areas(session)
    ]


@router.get("/areas", response_model=list[AreaOut], summary="区域名录 · The 乡镇/街道 and 村/社区 to cover")
def get_areas(db: DbDep, principal: Operator) -> list[dict]:
    with db.reader() as session:
        return _areas_out(session)


@router.put(
    "/areas",
    response_model=list[AreaOut],
    summary="更新区域名录 · Replace the area list of the districts given",
)
def put_areas(body: list[AreaIn], db: DbDep, principal: Operator) -> Response:
    """For each district named in the body, its list becomes exactly these 乡镇/街道 and 村/社区 (a
    村/社区 adds its 乡镇/街道 too); other districts keep theirs."""
    lines = [stats.AreaLine(a.district, a.township, a.village, i) for i, a in enumerate(body, 1)]

    def use_case(session) -> tuple[int, Any]:
        stats.replace_areas(session, lines=lines)
        return 200, _areas_out(session)

    return write(db, principal, use_case)


# -- recognition (学习激励) ---------------------------------------------------------------------------

awards_router = APIRouter(route_class=JsonRoute, prefix="/api/v1", tags=["recognition 学习激励"])


def award_out(award: Award, learner: Learner) -> dict:
    return AwardOut.model_validate(
        {
            "id": award.id,
            "account_no": learner.account_no,
            "name": learner.name,
            "title_zh": award.title_zh,
            "title_en": award.title_en,
            "district": award.district,
            "category": award.category,
            "from": award.period_from,
            "to": award.period_to,
            "credits": award.credits_units / 100,
            "hours": award.hours,
            "reason": award.reason,
            "awarded_at": award.awarded_at,
            "certificate_id": award.certificate_id,
        }
    ).model_dump(mode="json", by_alias=True)


_TIME = TypeAdapter(datetime)
AS_OF_HEADERS: dict[str, Any] = {
    "Creditbank-As-Of": {
        "description": "When the candidates were computed, if they were computed ahead (as each "
        "item's as_of; here also for an empty list); absent: computed for this answer",
        "schema": {"type": "string", "format": "date-time"},
    },
    "Creditbank-Ledger-Seq": {
        "description": "The ledger position the candidates include (as each item's ledger_seq)",
        "schema": {"type": "integer"},
    },
}


@router.get(
    "/recognition",
    response_model=list[CandidateOut],
    responses={200: {"description": "The candidates", "headers": AS_OF_HEADERS}},
    summary="表彰候选人 · Candidates for recognition: most credits or hours per district and category",
)
def recognition_candidates(
    request: Request,
    principal: Operator,
    start: From = None,
    end: To = None,
    district: District = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    by: Literal["credits", "hours"] = "credits",
    top: Annotated[int, Query(ge=1, le=100)] = 5,
) -> Response:
    """Only learners who agreed in their portal to be named appear. On a large bank the candidates
    are computed ahead like the other figures: each item then carries the list's ``as_of`` time
    (null when computed for this answer) and ``ledger_seq`` — and so do the headers
    ``Creditbank-As-Of`` and ``Creditbank-Ledger-Seq``, which an empty list has too."""
    period = queries.Period.of(start, end)
    found, stamp = statistics(request).candidates(
        period, district=district, category=category, by=by, top=top
    )
    items = [
        CandidateOut(
            rank=c.rank,
            account_no=c.account_no,
            name=c.name,
            district=c.district,
            category=c.category,
            credits=c.credits_units / 100,
            hours=round(c.hours, 2),
            completions=c.completions,
            as_of=stamp.as_of,
            ledger_seq=stamp.ledger_seq,
        ).model_dump(mode="json")
        for c in found
    ]
    # The answer stays a list (existing clients); the headers say as_of for an empty one too.
    headers = {"Creditbank-Ledger-Seq": str(stamp.ledger_seq)}
    if stamp.as_of is not None:
        headers["Creditbank-As-Of"] = _TIME.dump_python(stamp.as_of, mode="json")  # as each item's
    return JSONResponse(items, headers=headers)


@awards_router.post("/awards", status_code=201, response_model=AwardOut, summary="记录表彰 · Record an award")
def record_award(
    body: AwardIn,
    request: Request,
    db: DbDep,
    principal: Operator,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    period = queries.Period.of(body.from_, body.to)

    def use_case(session) -> tuple[int, Any]:
        award = awards.record(
            session,
            account_no=body.account_no,
            title=body.title,
            period=period,
            category=body.category,
            reason=body.reason,
        )
        learner = session.get(Learner, award.learner_id)
        return 201, award_out(award, learner)

    return write(
        db, principal, use_case, idempotency_key=idempotency_key, request_hash=body_digest(request, body)
    )


@awards_router.get("/awards", response_model=list[AwardOut], summary="表彰记录 · Awards recorded")
def list_awards(db: DbDep, principal: Operator) -> list[dict]:
    with db.reader() as session:
        return [award_out(a, lr) for a, lr in awards.listed(session)]


@awards_router.get("/me/awards", response_model=list[AwardOut], summary="我的表彰 · My awards")
def my_awards(db: DbDep, principal: LearnerCaller) -> list[dict]:
    with db.reader() as session:
        return [award_out(a, lr) for a, lr in awards.listed(session, learner_id=principal.learner.id)]


@awards_router.put(
    "/me/recognition-consent",
    response_model=ConsentOut,
    summary="同意公开表彰 · Agree (or not) to be named for recognition",
)
def my_consent(body: ConsentIn, db: DbDep, principal: LearnerCaller) -> Response:
    def use_case(session) -> tuple[int, Any]:
        learner = awards.set_consent(session, learner_id=principal.learner.id, named=body.named)
        return 200, ConsentOut(
            named=learner.named_consent_at is not None, since=learner.named_consent_at
        ).model_dump(mode="json")

    return write(db, principal, use_case)


@awards_router.post(
    "/me/awards/{award_id}/certificate",
    status_code=201,
    response_model=CertificateOut,
    summary="表彰证书 · My award as a signed certificate (Open Badge, achievement type Award)",
)
def my_award_certificate(
    award_id: Annotated[str, Path(max_length=40)],
    request: Request,
    db: DbDep,
    principal: LearnerCaller,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    issuer = request.app.state.issuer

    def use_case(session) -> tuple[int, Any]:
        certificate = awards.issue_certificate(
            session, issuer, learner_id=principal.learner.id, award_id=award_id, issued_by=principal.key
        )
        return 201, certificate_out(request, certificate)

    return write(
        db, principal, use_case, idempotency_key=idempotency_key, request_hash=body_digest(request, None)
    )
