"""Pages anyone may open: the front page, the language and text-size switches, the API docs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse

from creditbank.web import security
from creditbank.web.base import (
    TEXT_SIZES,
    Page,
    PageRoute,
    context_of,
    error_page,
    local_path,
    redirect,
    renderer,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Next = Annotated[str | None, Query(alias="next", max_length=500)]
FAVICON = Path(__file__).parent / "static" / "favicon.ico"


@router.get("/", response_class=HTMLResponse)
def home(ctx: Page):
    if ctx.learner is not None:
        return redirect(ctx, "/me")
    return renderer(ctx.request).page(ctx, "web/home.html.j2")


@router.get("/favicon.ico")
def favicon():
    """Browsers ask for it on every site whatever the page links (pages link /static/favicon.svg too)."""
    return FileResponse(
        FAVICON, media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"}
    )


def _preference(ctx, name: str, value: str, target: str | None):
    response = redirect(ctx, local_path(target, "/"))
    response.set_cookie(
        name, value, max_age=security.YEAR, httponly=True, samesite="lax", secure=ctx.secure, path="/"
    )
    return response


@router.get("/lang/{lang}")
def switch_language(lang: str, ctx: Page, target: Next = None):
    """The language switch every page shows; remembered for a year in a cookie."""
    return _preference(ctx, security.LANG_COOKIE, lang if lang in ("zh", "en") else "zh", target)


@router.get("/text/{size}")
def switch_text_size(size: str, ctx: Page, target: Next = None):
    """标准 → 大 → 特大 (18, 24, 30 px body text); remembered like the language."""
    return _preference(ctx, security.TEXT_COOKIE, size if size in TEXT_SIZES else "m", target)


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(ctx: Page):
    """Swagger UI from the bundled files (no CDN: it works offline)."""
    return renderer(ctx.request).page(ctx, "web/docs.html.j2", headers={"Cache-Control": "no-cache"})


@router.get("/redoc", response_class=HTMLResponse)
def redoc(ctx: Page):
    return renderer(ctx.request).page(ctx, "web/redoc.html.j2", headers={"Cache-Control": "no-cache"})


def status_page(
    request: Request,
    code: str,
    status: int,
    params: dict | None = None,
    *,
    headers: dict[str, str] | None = None,
    database: bool = True,
):
    """Errors outside the page routes (an unknown path, a body over the limit, the database
    unreachable: ``database=False`` then, nobody's session is looked up) for a browser: a page."""
    ctx = context_of(request, database=database)
    return error_page(ctx, code, params, status=status, headers=headers)
