"""The operator's (district office's) administration pages, behind password + TOTP sign-in:
institutions (create, accredit, suspend, API keys shown once, staff accounts), conversion rules
waiting for approval, the signing keys (rotation, compromise) and the audit status.
The statistics dashboard is built beside these (``require_operator`` in ``web/accounts.py``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from creditbank.staff import service as staff_accounts
from creditbank.web.accounts import OperatorPage
from creditbank.web.base import PageRoute, renderer

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/operator", response_class=HTMLResponse)
def office_home(ctx: OperatorPage):
    with ctx.db.reader() as session:
        recent = staff_accounts.actions(session, limit=20)
    return renderer(ctx.request).page(ctx, "web/staff/office_home.html.j2", recent=recent)
