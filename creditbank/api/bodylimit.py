"""One request-body limit for every route, enforced while the body streams in.

Without it a 400 MB body to ``/auth/token`` was read whole (+1.2 GB RSS), and a chunked
multipart upload was spooled in full before the 20 MB check (issue 9, item 4). Starlette's own
limiter does the counting (``Content-Length`` is refused before a byte is read; a body without
one is cut off at the first chunk past the limit); this module only picks the limit per route:
``Settings.max_upload_bytes`` (plus room for the multipart envelope) on the routes that take
files, ``Settings.max_json_bytes`` everywhere else. Both are read per request, so a changed
setting applies at once.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY, RequestBodyLimitResponder
from starlette.types import ASGIApp, Receive, Scope, Send

from creditbank.api.problems import problem, wants_html

UPLOAD_ROUTES = frozenset(
    {("POST", "/api/v1/completions/batch"), ("POST", "/api/v1/verify"), ("POST", "/verify")}
)
"""(method, path) of the routes that accept a file (CSV, XLSX, PDF, image)."""

MULTIPART_ENVELOPE_BYTES = 64 * 1024
"""Boundaries and part headers around an uploaded file; the file itself is held to the limit."""


def install(app: FastAPI) -> None:
    app.add_middleware(BodyLimit)
    app.add_exception_handler(413, _too_large)


def _is_upload(scope: Scope) -> bool:
    method, path = scope.get("method"), scope.get("path", "")
    if method == "POST" and path.startswith("/console/") and path.endswith("/upload"):
        return True  # the console's sheet upload, /console/{code}/upload (creditbank/web/console.py)
    return (method, path) in UPLOAD_ROUTES


def _limit(scope: Scope) -> int:
    settings = scope["app"].state.settings
    if _is_upload(scope):
        return settings.max_upload_bytes + MULTIPART_ENVELOPE_BYTES
    return settings.max_json_bytes


async def _too_large(request: Request, exc: Exception) -> Response:
    """413 as problem+json (a page for a browser's form), naming the limit in force."""
    if _is_upload(request.scope):
        limit_mb = request.app.state.settings.max_upload_bytes // (1024 * 1024)
        html_page = getattr(request.app.state, "html_error", None)
        if html_page is not None and (wants_html(request) or not request.url.path.startswith("/api/")):
            return html_page(request, "upload_too_large", 413, {"limit_mb": limit_mb})
        return problem(request, "upload_too_large", {"limit_mb": limit_mb})
    limit = request.scope.get(MAX_BODY_SIZE_SCOPE_KEY) or _limit(request.scope)
    html_page = getattr(request.app.state, "html_error", None)
    if html_page is not None and not request.url.path.startswith("/api/"):
        return html_page(request, "body_too_large", 413, {"limit_kb": limit // 1024})
    return problem(request, "body_too_large", {"limit_kb": limit // 1024})


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class BodyLimit:
    """Pure ASGI middleware (no buffering of its own): see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = _limit(scope)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            # Refused before a byte is read, as problem+json (Starlette's own answer is plain text
            # when a route responds without reading the body).
            response = await _too_large(Request(scope), Exception())
            await response(scope, receive, send)
            return
        await RequestBodyLimitResponder(self.app, limit)(scope, receive, send)
