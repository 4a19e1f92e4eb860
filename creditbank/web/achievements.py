"""Pages for the achievement ids inside credentials: a learning outcome or a qualification, in the
version the credential was issued under. The ids themselves live in the API
(``/api/v1/outcomes/{ref}``, ``/api/v1/qualifications/{code}/versions/{n}``) and send a browser
here (``303``); machines asking there get the Open Badges 3.0 ``Achievement``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse

from creditbank.certificates import achievements
from creditbank.certificates.achievements import AchievementView
from creditbank.web.base import Ctx, Page, PageRoute, renderer
from creditbank.web.i18n import N_

router = APIRouter(route_class=PageRoute, include_in_schema=False)
KINDS = (N_("Learning outcome"), N_("Qualification"))  # AchievementView.page["kind"]


def _page(ctx: Ctx, view: AchievementView, api_url: str) -> HTMLResponse:
    cache = "public, max-age=86400" if view.versioned else "public, max-age=300"
    return renderer(ctx.request).page(
        ctx, "web/achievement.html.j2", headers={"Cache-Control": cache}, a=view.page, api_url=api_url
    )


@router.get("/achievements/outcomes/{ref}", response_class=HTMLResponse)
def outcome_page(ctx: Page, ref: Annotated[str, Path(max_length=200)]):
    with ctx.db.reader() as session:
        view = achievements.outcome(session, ctx.request.app.state.issuer.base_url, ref)
    return _page(ctx, view, f"/api/v1/outcomes/{ref}")


@router.get("/achievements/qualifications/{code}", response_class=HTMLResponse)
def qualification_page(ctx: Page, code: Annotated[str, Path(max_length=64)]):
    with ctx.db.reader() as session:
        view = achievements.qualification(session, ctx.request.app.state.issuer.base_url, code)
    return _page(ctx, view, f"/api/v1/qualifications/{code}")


@router.get("/achievements/qualifications/{code}/versions/{version}", response_class=HTMLResponse)
def qualification_version_page(
    ctx: Page, code: Annotated[str, Path(max_length=64)], version: Annotated[int, Path(ge=1, le=10**9)]
):
    with ctx.db.reader() as session:
        view = achievements.qualification(session, ctx.request.app.state.issuer.base_url, code, version)
    return _page(ctx, view, f"/api/v1/qualifications/{code}/versions/{version}")
