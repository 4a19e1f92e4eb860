"""RFC 9457 problem+json for every error, in the caller's language; never a stack trace."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from creditbank.db import connection_failed, pool_exhausted
from creditbank.errors import CODES, CreditbankError, problem_type, render
from creditbank.httpio import is_json, preferred_language

log = logging.getLogger("creditbank")

_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
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
    "int_from_float": "{field} 应为整数，不能有小数",
    "float_parsing": "{field} 应为数字",
    "float_type": "{field} 应为数字",
    "multiple_of": "{field} 应为 {multiple_of} 的整数倍",
    "bool_parsing": "{field} 应为 true 或 false",
    "bool_type": "{field} 应为 true 或 false",
    "date_from_datetime_parsing": "{field} 应为日期，如 2026-03-01",
    "date_from_datetime_inexact": "{field} 应为日期，如 2026-03-01（不带时间）",
    "date_parsing": "{field} 应为日期，如 2026-03-01",
    "date_type": "{field} 应为日期，如 2026-03-01",
    "datetime_parsing": "{field} 应为日期时间，如 2026-03-01T08:00:00Z",
    "datetime_type": "{field} 应为日期时间，如 2026-03-01T08:00:00Z",
    "greater_than_equal": "{field} 应不小于 {ge}",
    "greater_than": "{field} 应大于 {gt}",
    "less_than_equal": "{field} 应不大于 {le}",
    "less_than": "{field} 应小于 {lt}",
    "literal_error": "{field} 只能是 {expected}",
    "enum": "{field} 只能是 {expected}",
    "extra_forbidden": "不认识的字段 {field}",
    "dict_type": "{field} 应为 JSON 对象",
    "model_type": "{field} 应为 JSON 对象",
    "model_attributes_type": "{field} 应为 JSON 对象",
    "list_type": "{field} 应为列表",
    "too_short": "{field} 的项数太少（至少 {min_length} 项）",
    "too_long": "{field} 的项数太多（最多 {max_length} 项）",
    "value_error": "{field} 的值无效",
    "string_pattern_mismatch": "{field} 的格式不正确",
    "blank_text": "{field} 不能为空（只有空格或不可见字符）",
    "invalid_text": "{field} 含有不可见或控制字符（{char}），常见于从 Excel 或微信复制的文字：请删除后重新输入",
}

# The fields people meet most, in the words of the pages and the batch file's Chinese headers; the
# machine name follows in brackets so an integrator still finds the field (others stay as named).
FIELD_ZH = {
    "name": "姓名",
    "national_id": "身份证号",
    "birth_date": "出生日期",
    "gender": "性别",
    "phone": "手机号",
    "district": "区县",
    "township": "街道或镇",
    "account_no": "学习账号",
    "activation_code": "激活码",
    "password": "密码",
    "external_id": "外部编号",
    "outcome_code": "成果代码",
    "completed_on": "完成日期",
    "score": "成绩",
    "hours": "学时",
    "credits": "学分",
    "ratio": "比例",
    "category": "类别",
    "level": "等级",
    "min_level": "最低等级",
    "title_zh": "中文名称",
    "title_en": "英文名称",
    "name_zh": "中文名称",
    "name_en": "英文名称",
    "validity_years": "有效年限",
    "min_score": "最低成绩",
    "code": "代码",
    "target_outcome_code": "目标成果代码",
    "source": "来源条件",
    "effective_from": "生效日期",
    "effective_until": "失效日期",
    "qualification_code": "资历代码",
    "total_credits": "总学分",
    "rule_id": "规则编号",
    "rule_code": "规则代码",
    "lot_ids": "学分批次",
    "decision": "处理结果",
    "reason": "理由",
    "mode": "导入方式",
    "rows": "数据行",
    "days": "有效天数",
    "from": "起始日期",
    "to": "截止日期",
    "group_by": "分组方式",
    "limit": "条数",
}

# What the request models' own validators say (their ``ValueError`` text, in English) → the same
# reason in Chinese. tests/api/test_problems_zh.py checks that every such message has an entry.
VALIDATOR_ZH = {
    "give exactly one of all_of, any_n_of, credits": "来源条件 source 只能填 all_of、any_n_of、credits 其中一项",
    "any_n_of.n is larger than the list": "任选项数 any_n_of.n 大于所列成果的个数",
    "effective_until is before effective_from": "失效日期 effective_until 早于生效日期 effective_from",
    "a requirement is {category, min_credits} or {outcome}": (
        "每项要求应为 {category, min_credits}（类别及最低学分）或 {outcome}（指定成果）之一"
    ),
    "give exactly one of rule_id or rule_code": "请填写 rule_id（规则编号）或 rule_code（规则代码），只填其中一个",
    "an achievement certificate needs completion_id": "成果证书需要填写 completion_id（学习成果记录编号）",
    "a conversion certificate needs conversion_id": "转换证书需要填写 conversion_id（已批准的转换申请编号）",
    "a qualification certificate needs qualification_code": "资历证书需要填写 qualification_code（资历代码）",
}


def field_zh(path: str) -> str:
    """``name`` → ``姓名（name）``; a nested path is labelled by its last part; the root is 请求内容."""
    if not path:
        return "请求内容"
    label = FIELD_ZH.get(path.rsplit(".", 1)[-1])
    return f"{label}（{path}）" if label else path


def validation_zh(kind: str, field: str, ctx: dict[str, Any]) -> str:
    """A Chinese message for one pydantic validation error (a generic one for types not listed)."""
    if kind == "value_error":
        reason = VALIDATOR_ZH.get(str(ctx.get("error", "")))
        if reason:
            return reason if not field or _names(reason, field) else f"{field_zh(field)}：{reason}"
    template = _VALIDATION_ZH.get(kind, "{field} 的值不符合要求")
    try:
        text = template.format(field=field_zh(field), **{k: v for k, v in ctx.items() if k != "field"})
    except (KeyError, IndexError, ValueError):
        text = _VALIDATION_ZH["value_error"].format(field=field_zh(field))
    return text.replace("） ", "）")  # 姓名（name）应为文字: no space after a closing bracket


def _names(reason: str, field: str) -> bool:
    """Does a validator's reason already name the field it is about (``reason``, ``rule_id``)?
    Then it is not prefixed with the field a second time."""
    return re.search(rf"\b{re.escape(field.rsplit('.', 1)[-1])}\b", reason, re.ASCII) is not None


def validation_en(kind: str, message: str, ctx: dict[str, Any]) -> str:
    """pydantic's own message, without the "Value error, " it puts before a validator's reason."""
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    return message


_OBJECT_EXPECTED = (
    "请求内容应为一个 JSON 对象（{…}），不能是列表、文字、数字或 null",
    "The request body must be a JSON object ({…}), not an array, a string, a number or null",
)
_BODY_AS_A_WHOLE = {
    "missing": ("请求内容为空：请发送一个 JSON 对象", "The request body is empty; send a JSON object"),
    "dict_type": _OBJECT_EXPECTED,
    "model_type": _OBJECT_EXPECTED,
    "model_attributes_type": _OBJECT_EXPECTED,
}
"""What is wrong with the body itself (no field to name): pydantic's words would be "Field required"
or "Input should be a valid dictionary or object to extract fields from"."""

PARAMETER_PLACES = {"query": "查询参数", "path": "路径参数", "header": "请求头", "cookie": "Cookie"}


def validation_errors(raw: Sequence[Any], *, dropped: tuple[str, ...] = ("body",)) -> list[dict[str, Any]]:
    """pydantic's errors as the ``errors`` of a problem: field path, type, Chinese and English.
    A query, path or header parameter is named as such (``in``), without the location prefix."""
    entries = []
    for e in raw:
        loc = [str(p) for p in e.get("loc", ())]
        place = loc[0] if loc and loc[0] in PARAMETER_PLACES else None
        if loc and (loc[0] in dropped or place):
            loc = loc[1:]
        kind = str(e.get("type", ""))
        ctx = e.get("ctx") or {}
        field = ".".join(loc)
        entry = {
            "field": field,
            "code": kind,
            "message_zh": validation_zh(kind, field, ctx),
            "message_en": validation_en(kind, str(e.get("msg", "")), ctx),
        }
        if not field and not place and kind in _BODY_AS_A_WHOLE:
            entry["message_zh"], entry["message_en"] = _BODY_AS_A_WHOLE[kind]
        if place:
            entry["in"] = place
            entry["message_zh"] = f"{PARAMETER_PLACES[place]} {entry['message_zh']}"
            entry["message_en"] = f"{place} parameter {field}: {entry['message_en']}"
        elif field and not (kind == "value_error" and _names(entry["message_en"], field)):
            # named as message_zh names it: "name: Field required", not "Field required" alone
            entry["message_en"] = f"{field}: {entry['message_en']}"
        entries.append(entry)
    return entries


def language(request: Request) -> str:
    """zh-CN unless the caller's ``Accept-Language`` ranks English higher — as the pages rank it."""
    return preferred_language(request.headers.get("accept-language", ""))


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not /api/…, Accept naming text/html): it gets a page, not JSON."""
    path = request.url.path
    if path.startswith(("/api/", "/.well-known/")):
        return False
    return "text/html" in request.headers.get("accept", "")


def _base_url(request: Request) -> str:
    """The bank's address as keys/issuer.json fixes it (certificates' verify URLs use the same), not
    the host or port this request came in on; the request's own base only before the app is set up."""
    issuer = getattr(request.app.state, "issuer", None)
    return issuer.base_url if issuer is not None else str(request.base_url)


def problem(
    request: Request,
    code: str,
    params: dict[str, Any] | None = None,
    *,
    status: int | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    lang = language(request)
    status = status or CODES[code][0]
    body: dict[str, Any] = {
        "type": problem_type(_base_url(request), code),
        "title": render(code, params or {}, lang),
        "status": status,
        "detail": render(code, params or {}, "en" if lang == "zh" else "zh"),
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    body |= extensions or {}
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(CreditbankError)
    async def _domain(request: Request, exc: CreditbankError) -> JSONResponse:
        # RFC 6750: a 401 names the scheme the client should use.
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else {}
        if "retry_after" in exc.params:  # 429 and 503: when to come back (RFC 9110 §10.2.3)
            headers["Retry-After"] = str(exc.params["retry_after"])
        return problem(
            request,
            exc.code,
            exc.params,
            status=exc.http_status,
            errors=exc.errors,
            headers=headers,
            extensions=exc.extensions,
        )

    @app.exception_handler(RequestValidationError)
    async def _shape(request: Request, exc: RequestValidationError) -> JSONResponse:
        received = request.headers.get("content-type", "")
        if isinstance(exc.body, bytes | bytearray) and not is_json(received):
            # FastAPI hands a JSON route's body over unparsed when it is not declared JSON; the
            # model then fails on a string. What is wrong is the media type (RFC 9110 §15.5.16).
            return problem(request, "unsupported_media_type", {"received": received or "（未注明 / none）"})
        errors = validation_errors(exc.errors())
        if errors and all("in" in e for e in errors):
            names = ", ".join(dict.fromkeys(e["field"] for e in errors))
            return problem(request, "invalid_parameter", {"names": names}, errors=errors)
        return problem(request, "validation_error", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "validation_error")
        headers = getattr(exc, "headers", None)
        params = {}
        if exc.status_code == 405:
            params = {"method": request.method, "allowed": (headers or {}).get("Allow", "")}
        html_page = getattr(request.app.state, "html_error", None)
        if html_page is not None and wants_html(request):
            page_code = "page_not_found" if exc.status_code == 404 else code
            return html_page(request, page_code, exc.status_code, params)
        return problem(request, code, params, status=exc.status_code, headers=headers)

    async def _database(request: Request, exc: Exception) -> Response:
        if _nul_refused(exc):
            # What the input checks (api.nulbytes) cannot see — a form field — PostgreSQL refuses: the
            # statement failed, so nothing was written; the caller's input, not a bug.
            log.info("NUL refused by PostgreSQL on %s %s", request.method, request.url.path)
            return page_or_problem(request, "text_has_nul")
        if pool_exhausted(exc):
            return server_busy(request, exc)
        if not connection_failed(exc):
            return await _bug(request, exc)
        return database_unavailable(request, exc)

    for kind in (DBAPIError, DisconnectionError, PoolTimeout):
        app.add_exception_handler(kind, _database)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Response:
        # Also what a middleware's database failure reaches (ServerErrorMiddleware).
        if pool_exhausted(exc):
            return server_busy(request, exc)
        if connection_failed(exc):
            return database_unavailable(request, exc)
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(request, "internal_error")


def _nul_refused(exc: Exception) -> bool:
    """psycopg's DataError for a NUL byte in a text value (PostgreSQL text cannot hold one)."""
    return isinstance(exc, DataError) and "NUL (0x00)" in str(exc.orig)


def page_or_problem(request: Request, code: str, params: dict[str, Any] | None = None) -> Response:
    """A page to a browser asking for one (when the app serves pages), else problem+json."""
    html_page = getattr(request.app.state, "html_error", None)
    if html_page is not None and wants_html(request):
        return html_page(request, code, CODES[code][0], params or {})
    return problem(request, code, params)


RETRY_AFTER_DATABASE = 30
"""Seconds a caller is told to wait when the database cannot be reached (``Retry-After``)."""


def database_unavailable(request: Request, exc: BaseException) -> Response:
    """503 ``database_unavailable`` (a page for a browser), logged in one line — no traceback: the
    cause is the database's, and an outage would otherwise log one per request."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    log.error(
        "database unavailable on %s %s: %s: %s",
        request.method,
        request.url.path,
        type(getattr(exc, "orig", None) or exc).__name__,
        reason[0] if reason else "",
    )
    headers = {"Retry-After": str(RETRY_AFTER_DATABASE)}
    html_page = getattr(request.app.state, "html_error", None)
    if html_page is not None and wants_html(request):
        return html_page(request, "database_unavailable", 503, None, headers=headers, database=False)
    return problem(request, "database_unavailable", headers=headers)


RETRY_AFTER_BUSY = 5
"""Seconds a caller is told to wait when every pooled connection was taken (``Retry-After``): the
request has already waited ``db.POOL_TIMEOUT`` for one, so the worker is saturated — a little
longer than the 1 s of a full password-hashing queue, so that retries do not keep it so."""
BUSY_LOG_SECONDS = 10.0
"""At most one log line about a saturated pool this often per worker: a burst of refused requests
would otherwise log one each, just when the operator reads the log."""


class _Every:
    """Says whether to log now: at most once per ``seconds``, counting the occasions held back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = -float("inf")
        self._held = 0

    def due(self, seconds: float) -> int | None:
        """The occasions held back since the last line when one is due now, else None."""
        with self._lock:
            now = time.monotonic()
            if now - self._last < seconds:
                self._held += 1
                return None
            held, self._held, self._last = self._held, 0, now
            return held


_busy_log = _Every()


def server_busy(request: Request, exc: BaseException) -> Response:
    """503 ``busy`` (a page for a browser): no pooled connection came free within the pool's timeout.
    The worker is saturated; the database answers — logged as that, with the pools' figures, at
    most once per ``BUSY_LOG_SECONDS``."""
    held = _busy_log.due(BUSY_LOG_SECONDS)
    if held is not None:
        db = getattr(request.app.state, "db", None)
        log.warning(
            "server busy on %s %s: no database connection came free in time — the worker is saturated, "
            "the database is not down (%s; %s)%s",
            request.method,
            request.url.path,
            exc.args[0] if exc.args else type(exc).__name__,  # SQLAlchemy's words, without its link
            db.pool_figures() if db is not None else "pools unknown",
            f"; {held} more refused so since the last such line" if held else "",
        )
    headers = {"Retry-After": str(RETRY_AFTER_BUSY)}
    html_page = getattr(request.app.state, "html_error", None)
    if html_page is not None and wants_html(request):
        # database=False: looking up who is signed in would wait for the full pool again.
        return html_page(request, "busy", 503, None, headers=headers, database=False)
    return problem(request, "busy", headers=headers)
