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


# pydantic's error types → a Chinese message (the English one is pydantic's own ``msg``).
_VALIDATION_ZH = {
    "missing": "缺少必填字段 {field}",
    "string_too_short": "{field} 太短（至少 {min_length} 个字符）",
    "string_too_long": "{field} 太长（最多 {max_length} 个字符）",
    "string_type": "{field} 应为文字",
    "int_parsing": "{field} 应为整数",
    "int_type": "{field} 应为整数",
    "float_parsing": "{field} 应为数字",
    "float_type": "{field} 应为数字",
    "bool_parsing": "{field} 应为 true 或 false",
    "date_from_datetime_parsing": "{field} 应为日期，如 2026-03-01",
    "date_parsing": "{field} 应为日期，如 2026-03-01",
    "datetime_parsing": "{field} 应为日期时间，如 2026-03-01T08:00:00Z",
    "greater_than_equal": "{field} 应不小于 {ge}",
    "greater_than": "{field} 应大于 {gt}",
    "less_than_equal": "{field} 应不大于 {le}",
    "less_than": "{field} 应小于 {lt}",
    "literal_error": "{field} 只能是 {expected}",
    "enum": "{field} 只能是 {expected}",
    "extra_forbidden": "不认识的字段 {field}",
    "json_invalid": "JSON 格式错误",
    "dict_type": "{field} 应为 JSON 对象",
    "model_type": "{field} 应为 JSON 对象",
    "list_type": "{field} 应为列表",
    "too_short": "{field} 的项数太少（至少 {min_length} 项）",
    "too_long": "{field} 的项数太多（最多 {max_length} 项）",
    "value_error": "{field} 的值无效",
    "string_pattern_mismatch": "{field} 的格式不正确",
    "invalid_text": "{field} 含有不可见或控制字符（{char}），常见于从 Excel 或微信复制的文字：请删除后重新输入",
}


def validation_zh(kind: str, field: str, ctx: dict[str, Any]) -> str:
    """A Chinese message for one pydantic validation error (a generic one for types not listed)."""
    template = _VALIDATION_ZH.get(kind, "{field} 的值不符合要求")
    try:
        return template.format(field=field or "请求内容", **{k: v for k, v in ctx.items() if k != "field"})
    except (KeyError, IndexError, ValueError):
        return _VALIDATION_ZH.get("value_error", "").format(field=field or "请求内容")


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
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else {}
        if "retry_after" in exc.params:  # 429 and 503: when to come back (RFC 9110 §10.2.3)
            headers["Retry-After"] = str(exc.params["retry_after"])
        return problem(
            request, exc.code, exc.params, status=exc.http_status, errors=exc.errors, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _shape(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors():
            field = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            errors.append(
                {
                    "field": field,
                    "code": e.get("type"),
                    "message_zh": validation_zh(str(e.get("type", "")), field, e.get("ctx") or {}),
                    "message_en": e.get("msg"),
                }
            )
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
