"""The district office's statistics dashboard (operator session: password + TOTP).

Every figure of ``stats.queries`` as a chart (server-side SVG, ``web/charts.py``) with the same
numbers in an accessible table beside it, CSV and XLSX downloads of exactly that table; the pages
where the office enters the resident population (form or CSV), its targets and its area list.
Definitions: docs/statistics.md.
"""

from __future__ import annotations

import base64
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from creditbank.errors import CreditbankError
from creditbank.stats import export, queries
from creditbank.stats import service as stats
from creditbank.stats.figures import AGE_BANDS, Figure, as_of_text, cell, shown
from creditbank.stats.models import AgeBand
from creditbank.stats.snapshots import Stamp, Statistics
from creditbank.web import charts
from creditbank.web.accounts import OperatorPage
from creditbank.web.base import Csrf, Ctx, PageRoute, redirect, renderer
from creditbank.web.i18n import N_

router = APIRouter(route_class=PageRoute, include_in_schema=False)

From = Annotated[date | None, Query(alias="from")]
To = Annotated[date | None, Query(alias="to")]
District = Annotated[str | None, Query(max_length=100)]
FigureName = Annotated[str, Path(max_length=40, pattern=r"^[a-z_-]+$")]
MAX_CSV_BYTES = 1024 * 1024

TARGET_LABELS = {
    "participation": N_("Residents' learning participation (all ages)"),
    "senior_participation": N_("Participation of residents aged 60 and over"),
    "township_coverage": N_("乡镇/街道 with an accredited institution"),
    "village_coverage": N_("村/社区 with an accredited institution"),
}


def _period(start: date | None, end: date | None) -> queries.Period:
    return queries.Period.of(start, end)


def _query(period: queries.Period, district: str | None) -> str:
    params = {"from": period.start.isoformat(), "to": period.end.isoformat()}
    if district:
        params["district"] = district
    return urlencode(params)


def table_view(ctx: Ctx, figure: Figure) -> dict[str, Any]:
    """The table as the template shows it: header titles, then each row's cells as text."""
    lang = ctx.lang
    return {
        "headers": [c.title(lang) for c in figure.columns],
        "numeric": [c.kind not in ("label", "text") for c in figure.columns],
        "rows": [[shown(cell(c, row, lang), c) for c in figure.columns] for row in figure.rows],
    }


@router.get("/operator/stats", response_class=HTMLResponse)
def dashboard(ctx: OperatorPage, start: From = None, end: To = None, district: District = None):
    period = _period(start, end)
    district = (district or "").strip() or None
    # Computed for this request, or computed ahead and kept when that takes long (stats.snapshots).
    shown_ = statistics(ctx).dashboard(period, district)
    figures = shown_.figures
    query = _query(period, district)
    return renderer(ctx.request).page(
        ctx,
        "web/stats/dashboard.html.j2",
        period=period,
        district=district,
        districts=shown_.districts,
        query=query,
        stamp=shown_.stamp,
        as_of=as_of_text(shown_.stamp.as_of, shown_.stamp.ledger_seq, ctx.lang),
        refreshed=ctx.request.query_params.get("refreshed"),
        stopped=_stopped(shown_.stamp),
        refresh_seconds=statistics(ctx).policy.refresh_seconds,
        wait_seconds=statistics(ctx).policy.wait_seconds,
        figures=[
            {
                "figure": f,
                "title": f.title(ctx.lang),
                "table": table_view(ctx, f),
                # The chart inside the page (CSP: img-src data:), so the dashboard is one request and
                # one pass over the data; /operator/stats/<figure>.svg serves the same drawing alone.
                "chart": "data:image/svg+xml;base64,"
                + base64.b64encode(charts.svg(f, ctx.lang).encode()).decode(),
                "notes": [zh if ctx.lang == "zh" else en for zh, en in f.notes],
            }
            for f in figures
        ],
    )


def _stopped(stamp: Stamp) -> dict[str, Any] | None:
    """The last recomputation of kept figures stopped at the statement timeout: when, and the limit."""
    if stamp.stopped_at is None:
        return None
    return {"at": stamp.stopped_at, "seconds": f"{stamp.stopped_limit or 0:g}"}


def statistics(ctx: Ctx) -> Statistics:
    return ctx.request.app.state.statistics


def _one(ctx: Ctx, name: str, start: date | None, end: date | None, district: str | None) -> Figure:
    return statistics(ctx).figure(name, _period(start, end), (district or "").strip() or None)


@router.post("/operator/stats/refresh")
def refresh(
    ctx: OperatorPage,
    _csrf: Csrf,
    start: Annotated[date | None, Form(alias="from")] = None,
    end: Annotated[date | None, Form(alias="to")] = None,
    district: Annotated[str | None, Form(max_length=100)] = None,
):
    """立即更新: recompute the kept figures of this period and district now, in the background."""
    period = _period(start, end)
    district = (district or "").strip() or None
    statistics(ctx).refresh_now(period, district)
    return redirect(ctx, f"/operator/stats?{_query(period, district)}&refreshed=1")


@router.get("/operator/stats/{name}.svg")
def chart(ctx: OperatorPage, name: FigureName, start: From = None, end: To = None, district: District = None):
    figure = _one(ctx, name, start, end, district)
    return Response(
        charts.svg(figure, ctx.lang),
        media_type="image/svg+xml",
        headers={"Content-Security-Policy": charts.SVG_CSP, "Cache-Control": "no-store"},
    )


@router.get("/operator/stats/{name}.csv")
def download_csv(
    ctx: OperatorPage, name: FigureName, start: From = None, end: To = None, district: District = None
):
    figure = _one(ctx, name, start, end, district)
    return Response(
        export.to_csv(figure, ctx.lang),
        media_type=export.CSV_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{export.filename(figure, "csv")}"'},
    )


@router.get("/operator/stats/{name}.xlsx")
def download_xlsx(
    ctx: OperatorPage, name: FigureName, start: From = None, end: To = None, district: District = None
):
    figure = _one(ctx, name, start, end, district)
    return Response(
        export.to_xlsx(figure, ctx.lang),
        media_type=export.XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{export.filename(figure, "xlsx")}"'},
    )


# -- resident population -----------------------------------------------------------------------------


def _population_page(
    ctx: Ctx, *, values: dict[tuple[str, str], str] | None = None, error: str | None = None, status: int = 200
):
    with ctx.db.reader() as session:
        entered = {(p.district, p.age_band): str(p.residents) for p in stats.population(session)}
        districts = stats.districts(session)
    values = entered | (values or {})
    bands = [(b.value, AGE_BANDS[b.value][0 if ctx.lang == "zh" else 1]) for b in AgeBand]
    return renderer(ctx.request).page(
        ctx,
        "web/stats/population.html.j2",
        status=status,
        districts=districts,
        bands=bands,
        values=values,
        error=error,
        saved=ctx.request.query_params.get("saved"),
    )


@router.get("/operator/stats/population", response_class=HTMLResponse)
def population_form(ctx: OperatorPage):
    return _population_page(ctx)


# The POST pages read their body on the event loop (the form's field names are not fixed), then do
# the database work in the thread pool as every sync page does: a write must never block the loop.
@router.post("/operator/stats/population", response_class=HTMLResponse)
async def population_save(ctx: OperatorPage, _: Csrf):
    """One field per district and age band (``p|<district>|<band>``); empty fields are left as they
    are; anything else that is not a positive whole number: the form again, nothing changed."""
    form = await ctx.request.form()
    return await run_in_threadpool(_save_population, ctx, form)


def _save_population(ctx: Ctx, form: FormData):
    lines: list[stats.PopulationLine] = []
    values: dict[tuple[str, str], str] = {}
    for key, value in form.multi_items():
        if not key.startswith("p|") or not isinstance(value, str):
            continue
        _prefix, district, band = [*key.split("|", 2), "", ""][:3]
        values[(district, band)] = value
        if value.strip():
            lines.append(stats.PopulationLine(district, band, value, len(lines) + 1))
    new_district = str(form.get("new_district") or "").strip()
    if new_district:
        for band in AgeBand:
            value = str(form.get(f"new|{band.value}") or "")
            values[(new_district, band.value)] = value
            if value.strip():
                lines.append(stats.PopulationLine(new_district, band.value, value, len(lines) + 1))
    try:
        with ctx.db.unit_of_work() as session:
            stats.set_population(session, lines=lines)
    except CreditbankError as exc:
        return _population_page(ctx, values=values, error=ctx.error_text(exc.code, exc.params), status=422)
    return redirect(ctx, "/operator/stats/population?saved=1")


@router.post("/operator/stats/population.csv", response_class=HTMLResponse)
async def population_import(ctx: OperatorPage, _: Csrf, file: Annotated[UploadFile, File()]):
    return await run_in_threadpool(_import_population, ctx, await file.read(MAX_CSV_BYTES + 1))


def _import_population(ctx: Ctx, data: bytes):
    try:
        if len(data) > MAX_CSV_BYTES:
            raise CreditbankError("stats_file_invalid", {"reason": "> 1 MB"})
        lines = stats.population_from_csv(data)
        with ctx.db.unit_of_work() as session:
            stats.set_population(session, lines=lines)
    except CreditbankError as exc:
        return _population_page(ctx, error=ctx.error_text(exc.code, exc.params), status=422)
    return redirect(ctx, "/operator/stats/population?saved=1")


# -- targets and the area list -----------------------------------------------------------------------


def _targets_page(
    ctx: Ctx, *, values: dict[str, str] | None = None, error: str | None = None, status: int = 200
):
    with ctx.db.reader() as session:
        current = {k: f"{v * 100:g}" for k, v in queries.targets(session).items()}
    return renderer(ctx.request).page(
        ctx,
        "web/stats/targets.html.j2",
        status=status,
        targets=[
            (name, ctx._(TARGET_LABELS[name]), (values or current).get(name, "")) for name in queries.TARGETS
        ],
        error=error,
        saved=ctx.request.query_params.get("saved"),
    )


@router.get("/operator/stats/targets", response_class=HTMLResponse)
def targets_form(ctx: OperatorPage):
    return _targets_page(ctx)


@router.post("/operator/stats/targets", response_class=HTMLResponse)
async def targets_save(ctx: OperatorPage, _: Csrf):
    form = await ctx.request.form()
    return await run_in_threadpool(_save_targets, ctx, form)


def _save_targets(ctx: Ctx, form: FormData):
    values = {name: str(form.get(name) or "") for name in queries.TARGETS}
    try:
        with ctx.db.unit_of_work() as session:
            stats.set_targets(session, percents={k: v for k, v in values.items() if v.strip()})
    except CreditbankError as exc:
        return _targets_page(ctx, values=values, error=ctx.error_text(exc.code, exc.params), status=422)
    return redirect(ctx, "/operator/stats/targets?saved=1")


def _areas_page(ctx: Ctx, *, error: str | None = None, status: int = 200):
    with ctx.db.reader() as session:
        listed = stats.areas(session)
    by_district: dict[str, dict[str, list[str]]] = {}
    for a in listed:
        townships = by_district.setdefault(a.district, {})
        villages = townships.setdefault(a.township, [])
        if a.village:
            villages.append(a.village)
    return renderer(ctx.request).page(
        ctx,
        "web/stats/areas.html.j2",
        status=status,
        areas=by_district,
        error=error,
        saved=ctx.request.query_params.get("saved"),
    )


@router.get("/operator/stats/areas", response_class=HTMLResponse)
def areas_list(ctx: OperatorPage):
    return _areas_page(ctx)


@router.post("/operator/stats/areas.csv", response_class=HTMLResponse)
async def areas_import(ctx: OperatorPage, _: Csrf, file: Annotated[UploadFile, File()]):
    return await run_in_threadpool(_import_areas, ctx, await file.read(MAX_CSV_BYTES + 1))


def _import_areas(ctx: Ctx, data: bytes):
    try:
        if len(data) > MAX_CSV_BYTES:
            raise CreditbankError("stats_file_invalid", {"reason": "> 1 MB"})
        lines = stats.areas_from_csv(data)
        with ctx.db.unit_of_work() as session:
            stats.replace_areas(session, lines=lines)
    except CreditbankError as exc:
        return _areas_page(ctx, error=ctx.error_text(exc.code, exc.params), status=422)
    return redirect(ctx, "/operator/stats/areas?saved=1")
