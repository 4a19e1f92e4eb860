"""What each problem ``type`` opens: ``/problems/{code}`` documents one error code, ``/problems``
lists them all — generated from ``errors.CODES`` (the one registry of codes and messages), in
Chinese first, English second. A browser gets a page; ``Accept: application/json`` the same entry
as JSON (RFC 9457 §3.1.1: a type URI should give human-readable documentation when opened)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import HTMLResponse, JSONResponse

from creditbank.errors import CODES, STATUS_NAMES, next_steps, problem_type
from creditbank.web.base import Ctx, Page, PageRoute, asks_for, renderer

router = APIRouter(route_class=PageRoute, tags=["public 公开"])
_JSON = ("application/json", "application/problem+json")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_CACHE = {"Cache-Control": "public, max-age=3600", "Vary": "Accept"}
"""For the JSON only: a page carries the signed-in reader's name and form token (base.html.j2), so
pages stay ``no-store`` like every other."""
_ENTRY_SCHEMA = {
    "type": "object",
    "required": ["type", "code", "status", "message_zh", "message_en", "next_steps_zh", "next_steps_en"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "code": {"type": "string"},
        "status": {"type": "integer"},
        "status_zh": {"type": "string"},
        "status_en": {"type": "string"},
        "message_zh": {"type": "string", "description": "the title's template; {name}: filled per answer"},
        "message_en": {"type": "string"},
        "next_steps_zh": {"type": "array", "items": {"type": "string"}},
        "next_steps_en": {"type": "array", "items": {"type": "string"}},
    },
}


def entry(base_url: str, code: str) -> dict[str, Any]:
    """One code's documentation: its type URI, status, message templates and next steps."""
    status, zh, en = CODES[code]
    steps_zh, steps_en = next_steps(code)
    status_zh, status_en = STATUS_NAMES[status]
    return {
        "type": problem_type(base_url, code),
        "code": code,
        "status": status,
        "status_zh": status_zh,
        "status_en": status_en,
        "message_zh": zh,
        "message_en": en,
        "next_steps_zh": steps_zh,
        "next_steps_en": steps_en,
    }


def _parts(template: str) -> list[tuple[str, bool]]:
    """A message template as (text, is_placeholder) pieces: a page shows ``{code}`` as <var>code</var>."""
    pieces = _PLACEHOLDER.split(template)
    return [(piece, i % 2 == 1) for i, piece in enumerate(pieces) if piece]


def _base_url(ctx: Ctx) -> str:
    return str(ctx.request.app.state.issuer.base_url)


@router.get(
    "/problems",
    response_class=HTMLResponse,
    summary="错误代码一览 · Every error code the bank answers",
    responses={
        200: {
            "description": "A page (text/html) or, to `Accept: application/json`, every code's entry",
            "content": {
                "text/html": {"schema": {"type": "string"}},
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"problems": {"type": "array", "items": _ENTRY_SCHEMA}},
                    }
                },
            },
        }
    },
)
def problem_list(ctx: Page):
    """Every `code` of a problem+json answer, with its HTTP status and message, each linking to its
    page (the problem's `type`). Generated from the bank's one registry of codes."""
    base_url = _base_url(ctx)
    entries = [entry(base_url, code) for code in CODES]
    if asks_for(ctx.request, _JSON):
        return JSONResponse({"problems": entries}, headers=_CACHE)
    return renderer(ctx.request).page(
        ctx, "web/problems.html.j2", headers={"Vary": "Accept"}, entries=entries
    )


@router.get(
    "/problems/{code}",
    response_class=HTMLResponse,
    summary="错误代码说明（problem type） · What one error code means and what to do next",
    responses={
        200: {
            "description": "A page (text/html) or, to `Accept: application/json`, the code's entry",
            "content": {
                "text/html": {"schema": {"type": "string"}},
                "application/json": {"schema": _ENTRY_SCHEMA},
            },
        },
        404: {"description": "No such code"},
    },
)
def problem_page(ctx: Page, code: Annotated[str, Path(max_length=64)]):
    """What a problem's `type` opens: the code's meaning (its message in Chinese and English, with
    `{placeholders}` filled in each answer), its HTTP status, and what to do next."""
    if code not in CODES:  # the app's 404: a page for a browser, problem+json for a JSON client
        raise HTTPException(404)
    item = entry(_base_url(ctx), code)
    if asks_for(ctx.request, _JSON):
        return JSONResponse(item, headers=_CACHE)
    return renderer(ctx.request).page(
        ctx,
        "web/problem.html.j2",
        headers={"Vary": "Accept"},
        item=item,
        zh_parts=_parts(item["message_zh"]),
        en_parts=_parts(item["message_en"]),
    )
