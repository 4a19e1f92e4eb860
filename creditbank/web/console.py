"""The institution console: what a school's clerk and approver do in the browser.

Every page is under ``/console/{code}`` (the institution's code) and opens only for that
institution's own staff (``own_institution``): staff of another institution get the 403 page.
Pages call the domain services the API calls, with the staff account recorded on every change.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse

from creditbank.staff import service as staff_accounts
from creditbank.web.accounts import ROLE_NAMES, StaffPage, own_institution
from creditbank.web.base import PageRoute, redirect, renderer

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Code = Annotated[str, Path(max_length=32)]


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
    return renderer(ctx.request).page(
        ctx, "web/staff/console_home.html.j2", recent=recent, role_words=role_words
    )
