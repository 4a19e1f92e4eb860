"""The OpenAPI document declares every status code and media type the routes answer.

Every refusal is RFC 9457 ``application/problem+json`` (``creditbank.api.problems``), raised by
the shared machinery rather than by each route: authentication (401/403), missing path
resources (404), conflicts and Idempotency-Key reuse (409), the body limit (413), request shape
(400/422), rate limits (429). Declaring them route by route would drift; this adds them to each
operation from what the operation is (secured, has path parameters, takes a body, writes), with
one shared ``Problem`` schema. Found by schemathesis (tests/api/test_schemathesis.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

PROBLEM_MEDIA_TYPE = "application/problem+json"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `code` is stable, `title` follows Accept-Language.",
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {
            "type": "string",
            "format": "uri",
            "description": "`<the bank's base URL>/problems/{code}`: a page saying what the code means and "
            "what to do next (JSON to `Accept: application/json`); every code is listed at `/problems`. "
            "Match on `code`, not on `type` (the base URL is each bank's own).",
        },
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}

DESCRIPTIONS = {
    "400": "Malformed request body · 请求体无法解析",
    "401": "A valid token is required · 需要有效令牌",
    "403": "Not allowed for this caller · 无权操作",
    "404": "Not found · 找不到",
    "405": "Method not allowed · 不支持该方法",
    "409": "Conflict (state, duplicate, Idempotency-Key reuse) · 冲突",
    "413": "Body, file or credential over a limit · 超出上限",
    "415": "Unsupported media type · 不支持的文件类型",
    "422": "Invalid request · 请求内容无效",
    "429": "Too many attempts · 请求过多",
    "503": "Busy or unavailable; try again · 暂时无法处理",
}

_RATE_LIMITED = ("/api/v1/auth/", "/api/v1/verify", "/auth/")
_BUSY = ("/api/v1/verify",)


def _codes(path: str, method: str, operation: dict[str, Any]) -> set[str]:
    codes = {"404", "422"}  # anything named in the path or the query may not exist
    if operation.get("security") or path.startswith(_RATE_LIMITED):
        codes |= {"401", "403"}  # a token, an activation code or a password refused
    if "requestBody" in operation:
        codes |= {"400", "413", "415"}
    if method in ("post", "put", "patch", "delete"):
        codes |= {"403", "409"}  # scope, conflicts, Idempotency-Key reuse
    if path.startswith(_RATE_LIMITED):
        codes.add("429")
    if path.startswith(_BUSY):
        codes.add("503")
    return codes


def document(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        servers=app.servers,
    )
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    problem = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            # Create-or-replace and create-or-replay: a PUT creates (201) or edits (200); a POST
            # that creates answers a replay of the same request with 200 and the original.
            if method == "put" and "200" in responses and "201" not in responses:
                responses["201"] = {**responses["200"], "description": "Created · 已创建"}
            if method == "post" and "201" in responses and "200" not in responses:
                responses["200"] = {**responses["201"], "description": "Already there: the original · 已存在"}
            # A page for people (the phone verification page) answers its errors as a page too.
            page = "text/html" in responses.get("200", {}).get("content", {})
            refusal = problem | ({"text/html": {"schema": {"type": "string"}}} if page else {})
            for code in sorted(_codes(path, method, operation)):
                entry = responses.setdefault(code, {"description": DESCRIPTIONS[code]})
                if code == "422":  # FastAPI's own validation body is answered as a problem
                    entry["content"] = dict(refusal)
                    entry["description"] = DESCRIPTIONS["422"]
                else:
                    entry.setdefault("content", {}).update(refusal)
    return spec


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
