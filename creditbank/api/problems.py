"""RFC 9457 problem+json for every error, in the caller's language; never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from creditbank.errors import CODES, CreditbankError, render

log = logging.getLogger("creditbank")

_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "not_found",
    413: "upload_too_large",
    415: "unsupported_file",
    429: "rate_limited",
}


def language(request: Request) -> str:
    """zh-CN unless the caller prefers English (first tag of Accept-Language)."""
    header = request.headers.get("accept-language", "")
    first = header.split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "zh"


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not /api/…, Accept naming text/html): it gets a page, not JSON."""
    path = request.url.path
    if path.startswith(("/api/", "/.well-known/")):
        return False
    return "text/html" in request.headers.get("accept", "")


def problem(
    request: Request,
    code: str,
    params: dict[str, Any] | None = None,
    *,
    status: int | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    lang = language(request)
    status = status or CODES[code][0]
    body: dict[str, Any] = {
        "type": f"https://creditbank.example/problems/{code}",
        "title": render(code, params or {}, lang),
        "status": status,
        "detail": render(code, params or {}, "en" if lang == "zh" else "zh"),
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(CreditbankError)
    async def _domain(request: Request, exc: CreditbankError) -> JSONResponse:
        # RFC 6750: a 401 names the scheme the client should use.
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        return problem(
            request, exc.code, exc.params, status=exc.http_status, errors=exc.errors, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _shape(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
                "code": e.get("type"),
                "message_en": e.get("msg"),
            }
            for e in exc.errors()
        ]
        return problem(request, "validation_error", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "validation_error")
        html_page = getattr(request.app.state, "html_error", None)
        if html_page is not None and wants_html(request):
            return html_page(request, "page_not_found" if exc.status_code == 404 else code, exc.status_code)
        return problem(request, code, status=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(request, "internal_error")
