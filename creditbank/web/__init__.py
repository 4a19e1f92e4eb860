"""The pages: the web face of the bank, beside the API (``creditbank/api``).

``install(app)`` adds the page routes, the static files (CSS, the little JS, Swagger UI and ReDoc
from the ``fastapi-offline`` wheel — no CDN), the security headers and the HTML error pages.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from creditbank.web import (
    accounts,
    achievements,
    console,
    learner,
    office,
    problems,
    public,
    recognition,
    revocation,
    security,
    stats,
    verifier,
    vocabulary,
)
from creditbank.web.base import Renderer

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    app.state.web = Renderer(app.state.settings)
    app.add_middleware(security.SecurityHeaders)
    app.mount(
        "/static/vendor", StaticFiles(directory=str(files("fastapi_offline") / "static")), name="vendor"
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(public.router)
    app.include_router(learner.router)
    app.include_router(verifier.router)
    app.include_router(verifier.qr_router)
    app.include_router(achievements.router)
    app.include_router(accounts.router)
    app.include_router(console.router)
    app.include_router(office.router)
    app.include_router(revocation.router)
    app.include_router(stats.router)
    app.include_router(recognition.router)
    app.include_router(problems.router)
    app.include_router(vocabulary.router)
    app.state.html_error = public.status_page
