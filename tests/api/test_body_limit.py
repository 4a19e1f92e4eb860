"""One body-size limit for every route, enforced while the body streams in (issue 9, item 4).

The app is driven as ASGI directly, so the test sees how much of a body the server pulled
before answering (the test client would read the whole body first)."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from creditbank.app import create_app

CHUNK = 64 * 1024


def _call(app, method: str, path: str, chunks: int, headers: list[tuple[bytes, bytes]], first: bytes = b""):
    """Send ``first`` then ``chunks`` chunks of 64 KiB; return (status, problem, chunks pulled)."""
    pulled = 0
    sent: list[dict] = []

    async def receive():
        nonlocal pulled
        if pulled == 0 and first:
            pulled += 1
            return {"type": "http.request", "body": first, "more_body": True}
        pulled += 1
        more = pulled <= chunks
        return {"type": "http.request", "body": b"x" * CHUNK if more else b"", "more_body": more}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    # On a thread of its own: asyncio.run refuses to start where a loop is already running, and the
    # session's browser (Playwright's sync API) keeps one on the main thread once a browser test ran.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, app(scope, receive, send)).result()
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    content_type = dict(start["headers"]).get(b"content-type", b"").decode()
    return start["status"], (json.loads(body) if "json" in content_type else body), content_type, pulled


@pytest.fixture
def app(settings):
    settings.max_upload_bytes = 1024 * 1024  # the same check as 20 MB, without sending 20 MB
    return create_app(settings)


class TestItem4BodyLimit:
    def test_item4_a_huge_json_body_without_length_is_cut_off_while_streaming(self, app):
        """400 MB to /auth/token used to be read whole; now the server stops at the limit."""
        status, problem, content_type, pulled = _call(
            app, "POST", "/api/v1/auth/token", 400 * 16, [(b"content-type", b"application/json")], b"["
        )
        assert status == 413 and problem["code"] == "body_too_large"
        assert content_type.startswith("application/problem+json")
        assert pulled * CHUNK <= 1024 * 1024 + 2 * CHUNK  # 1 MB limit, not 400 MB

    def test_item4_a_declared_length_over_the_limit_is_refused_before_reading(self, app):
        headers = [(b"content-type", b"application/json"), (b"content-length", str(400 << 20).encode())]
        status, problem, _, pulled = _call(app, "POST", "/api/v1/auth/token", 400 * 16, headers)
        assert status == 413 and problem["code"] == "body_too_large" and pulled <= 1

    def test_item4_a_chunked_multipart_upload_is_cut_off_while_streaming(self, app):
        """Starlette spooled a chunked multipart upload in full before the 20 MB check."""
        head = b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
        headers = [(b"content-type", b"multipart/form-data; boundary=B"), (b"authorization", b"Bearer x")]
        status, problem, _, pulled = _call(app, "POST", "/api/v1/verify", 200 * 16, headers, head)
        assert status == 413 and problem["code"] == "upload_too_large"
        assert pulled * CHUNK <= 1024 * 1024 + 4 * CHUNK  # 1 MB upload limit, not 200 MB

    def test_item4_small_bodies_still_pass(self, client):
        response = client.post("/api/v1/auth/token", json={"account_no": "CB0000000000X", "password": "x"})
        assert response.status_code in (401, 422)
