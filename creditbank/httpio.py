"""HTTP plumbing both faces share — the API routes (``api/``) and the pages (``web/``): receiving
an upload without holding it in memory, strict JSON bodies (:class:`JsonRoute`), the caller's
address, the caller's language (``Accept-Language``), and the verification rate limit.

It lives beside the faces rather than in either, so a page never imports a route module to reach
it (and one limiter counts a client's verifications whether they come from the API or the page)."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Coroutine
from typing import IO, Any

from fastapi import Request, Response
from fastapi.params import Form
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from creditbank.errors import CreditbankError
from creditbank.kit import jsonbody
from creditbank.kit.ratelimit import RateLimiter

LANGUAGES = ("zh", "en")
"""What the bank speaks, pages and API errors alike; the first is the default."""


def preferred_language(header: str) -> str:
    """Of our languages, the one an ``Accept-Language`` ranks highest by its q weights
    (``de-DE,de;q=0.9,en;q=0.8`` or ``en;q=0.9,zh;q=0.1`` → en; ``zh-TW`` or ``fr,zh;q=0.5`` → zh;
    ``q=0`` refuses a language); zh when it names neither. Ties keep the header's order (RFC 9110 §12.5.4). The pages
    (before a reader's own choice) and the API's problem titles both ask this, so they agree."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and q > 0:
            ranked.append((-q, position, primary))
    return min(ranked)[2] if ranked else LANGUAGES[0]


verify_limit = RateLimiter(limit=120, window_seconds=60, name="verify")
"""Verifications per client address a minute, API and page together (read at call time: tests and
benchmarks replace it)."""


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def limit_verification(request: Request) -> None:
    """Refuse (429 ``rate_limited``) a client that verified too often this minute."""
    if not verify_limit.allow(client_address(request) or "?"):
        raise CreditbankError("rate_limited")


async def spool_body(
    request: Request, limit_bytes: int, *, unsupported: str = "unsupported_file"
) -> tuple[IO[bytes], str, str | None]:
    """(file positioned at 0, sha256 of the bytes, filename) of a raw or multipart upload.

    Raw bodies (text/csv, the XLSX media type, application/octet-stream) are streamed to a
    spooled temporary file chunk by chunk and cut off at the limit. Multipart uploads are spooled
    by Starlette itself; the Content-Length check below stops oversized ones before parsing.
    A multipart body without a ``file`` part is refused with ``unsupported`` (415): the import's
    code names the import's formats, a verification upload's its own.
    """
    too_big = CreditbankError("upload_too_large", {"limit_mb": limit_bytes // (1024 * 1024)})
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit_bytes + 64 * 1024:
        raise too_big
    content_type = request.headers.get("content-type", "")
    digest = hashlib.sha256()
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=1)
        except HTTPException as exc:  # Starlette's 400 for a body that is not multipart as declared
            if exc.status_code != 400:
                raise
            raise CreditbankError("validation_error", errors=[_multipart_invalid(exc.detail)]) from None
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise CreditbankError(unsupported)
        file = upload.file
        file.seek(0, 2)
        if file.tell() > limit_bytes:
            raise too_big
        file.seek(0)
        while chunk := file.read(1 << 20):
            digest.update(chunk)
        file.seek(0)
        return file, digest.hexdigest(), upload.filename
    spooled = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115 — returned to the caller, who closes it
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            spooled.close()
            raise too_big
        digest.update(chunk)
        spooled.write(chunk)
    spooled.seek(0)
    return spooled, digest.hexdigest(), None


def _multipart_invalid(reason: str) -> dict[str, str]:
    """The ``errors`` entry for an upload declared multipart/form-data that does not parse as one
    (was Starlette's bare 400): like a JSON body's ``json_invalid``, a 422 ``validation_error``."""
    return {
        "field": "",
        "code": "multipart_invalid",
        "message_zh": "上传内容不是有效的 multipart/form-data：请用名为 file 的表单字段上传文件，"
        "或按文件本身的类型（如 application/pdf、text/csv）直接发送",
        "message_en": f"The upload is not valid multipart/form-data ({reason}): send the file in a form "
        "field named file, or send the file itself with its own Content-Type (such as application/pdf, "
        "text/csv)",
    }


def is_json(content_type: str) -> bool:
    """``application/json`` or ``application/*+json`` (what FastAPI parses as a JSON body)."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class _StrictJson(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = jsonbody.loads(await self.body())
        return self._json


class JsonRoute(APIRoute):
    """A route whose JSON body is read by :func:`creditbank.kit.jsonbody.loads` before FastAPI sees
    it: a body that is not UTF-8, holds NaN, Infinity or a number out of range, or is nested past
    Python's recursion is 422 ``validation_error`` with a ``json_invalid`` entry saying why, as a
    syntax error is (FastAPI's own parsing answered a bare 400 or let NaN through). Every API router
    and the pages use it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None or isinstance(self.body_field.field_info, Form):
            return handler  # no body, a form, or a body read by hand (which uses jsonbody itself)

        async def strict_handler(request: Request) -> Response:
            request = _StrictJson(request.scope, request.receive)
            if is_json(request.headers.get("content-type", "")) and await request.body():
                try:
                    await request.json()  # kept for FastAPI, which asks for it next
                except (jsonbody.NotJson, json.JSONDecodeError) as exc:
                    raise CreditbankError("validation_error", errors=[jsonbody.problem_entry(exc)]) from None
            return await handler(request)

        return strict_handler
