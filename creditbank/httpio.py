"""HTTP plumbing both faces share — the API routes (``api/``) and the pages (``web/``): receiving
an upload without holding it in memory, the caller's address, and the verification rate limit.

It lives beside the faces rather than in either, so a page never imports a route module to reach
it (and one limiter counts a client's verifications whether they come from the API or the page)."""

from __future__ import annotations

import hashlib
import tempfile
from typing import IO

from fastapi import Request

from creditbank.errors import CreditbankError
from creditbank.kit.ratelimit import RateLimiter

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
        form = await request.form(max_files=1)
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
