"""Cookies, CSRF tokens and security headers for the pages.

- The learner's session cookie holds the opaque ``cbs_`` token of a row in ``learner_session``
  (stored hashed, the same sessions the API's Bearer tokens use); signing out deletes the row.
  HttpOnly, SameSite=Lax, and Secure whenever the base URL is https.
- CSRF: signed double-submit. A random nonce lives in its own cookie; every form carries
  HMAC(key, nonce), checked on every POST. A cross-site page can neither read the nonce nor forge
  the HMAC without the deployment secret.
- Headers: a CSP without inline script (every script is a file under /static), no framing,
  nosniff, a strict referrer policy. /docs and /redoc need inline styles and a blob worker
  (Swagger UI, ReDoc) and get a slightly wider style/worker policy, still without inline script.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "cb_session"
STAFF_COOKIE = "cb_staff"
"""Staff and operator sessions (``creditbank.staff``): a cookie of their own, beside a learner's."""
CSRF_COOKIE = "cb_csrf"
LANG_COOKIE = "cb_lang"
TEXT_COOKIE = "cb_text"
CSRF_FIELD = "csrf_token"
YEAR = 365 * 24 * 3600

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def csrf_key(secret: bytes) -> bytes:
    """A key of its own, derived from the deployment secret (never the ID-number HMAC key itself)."""
    return hmac.new(secret, b"creditbank/web/csrf/v1", hashlib.sha256).digest()


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def csrf_token(key: bytes, nonce: str) -> str:
    return hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()


def csrf_ok(key: bytes, nonce: str | None, token: str | None) -> bool:
    if not nonce or not token:
        return False
    return hmac.compare_digest(csrf_token(key, nonce), token)


class SecurityHeaders:
    """Pure ASGI middleware: the headers on every response (pages, API, static files)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        policy = DOCS_CSP if path in ("/docs", "/redoc") else CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
            await send(message)

        await self.app(scope, receive, send_with_headers)
