"""A NUL character in a request's address is refused before any route sees it (422 ``text_has_nul``).

PostgreSQL text cannot hold NUL and SQLite keeps it, so without this the same request answered a 500
on one database (``/v/crt_%00``) and a 404 or a stored ``E\\x00x`` on the other. Bodies: JSON strings
are checked where the body is read (``httpio.JsonRoute``); form fields meet the database's refusal
(``api.problems``), which answers the same code.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from creditbank.api.problems import page_or_problem


def install(app: FastAPI) -> None:
    app.add_middleware(RefuseNul)


def has_nul(scope: Scope) -> bool:
    """The decoded path, or the raw query string (``%00`` in either case, or a bare NUL byte)."""
    query: bytes = scope.get("query_string", b"")
    return "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query


class RefuseNul:
    """Pure ASGI middleware: one substring test per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and has_nul(scope):
            await page_or_problem(Request(scope), "text_has_nul")(scope, receive, send)
            return
        await self.app(scope, receive, send)
