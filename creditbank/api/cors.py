"""Cross-origin access to the bank's public, read-only verification resources.

A browser-based verifier served from another origin (a wallet, DCC's VerifierPlus, an employer's
own page) must be able to fetch the issuer's DID document, its keys, the status lists, the
credentials themselves and the verify API, and an integrator's page the documents those name: the
problem types (every error's ``type``), the bank's JSON-LD vocabulary and the credentials' JSON
Schemas. Those resources are listed in :data:`PUBLIC`; every other route keeps answering without
CORS headers and an ``OPTIONS`` preflight to it still answers 405, so a browser never sends a
token across origins.

For a listed path the middleware

* answers a preflight (``OPTIONS``) itself: ``204`` with ``Access-Control-Allow-Origin: *``, the
  methods the entry allows and the request headers the browser asked for (never
  ``Authorization`` or ``Cookie``: nothing here reads them), cached by the browser for two hours;
* adds ``Access-Control-Allow-Origin: *`` (and the headers a verifier may read) to every answer,
  errors included, so a verifier can read *why* a fetch failed;
* adds the entry's ``Cache-Control`` to a successful answer when the route did not set its own,
  and ``no-store`` to an error.

No credentials mode: ``*`` is never combined with cookies or tokens.

To open a new public resource, add a line to :data:`PUBLIC` — a route template as in FastAPI
(``{name}`` matches one path segment, ``{name:path}`` the rest of the path), the methods, and how
long a cache may keep the answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["PUBLIC", "PublicCors", "PublicResource"]


@dataclass(frozen=True)
class PublicResource:
    path: str
    """A route template: ``/api/v1/status-lists/{list_id}``, ``/api/v1/log/{rest:path}``."""
    methods: tuple[str, ...] = ("GET",)
    cache_control: str | None = None
    """Sent when the route sets no ``Cache-Control`` of its own."""


# How long a cache may keep each kind of resource (the routes that negotiate set their own):
KEYS = "public, max-age=300"  # a rotation or a compromise must reach verifiers within minutes
STATUS = "public, max-age=60"  # a revocation must reach verifiers within a minute
LIVE = "no-store"  # a verdict is computed now, from the live status

PUBLIC: tuple[PublicResource, ...] = (
    PublicResource("/.well-known/did.json", cache_control=KEYS),
    PublicResource("/.well-known/jwks.json", cache_control=KEYS),
    PublicResource("/api/v1/keys", cache_control=KEYS),
    PublicResource("/api/v1/status-lists/{list_id}", cache_control=STATUS),
    # the credential JSON by id (and the PDF, which matches the same template)
    PublicResource("/api/v1/certificates/{certificate_id}", cache_control=STATUS),
    # the achievement ids put into credentials
    PublicResource("/api/v1/outcomes/{ref}"),
    PublicResource("/api/v1/qualifications/{code}", cache_control=KEYS),
    PublicResource("/api/v1/qualifications/{code}/versions/{version}"),
    PublicResource("/api/v1/verify/{certificate_id}", cache_control=LIVE),
    PublicResource("/api/v1/verify", methods=("POST",), cache_control=LIVE),
    # what an error's `type`, did.json's vocabulary term and a schema's `$id` open: each route sets
    # its own Cache-Control — an hour for the JSON, `no-store` for a page (it may carry a signed-in
    # reader's name; a browser shows another origin no answer to a fetch sent with cookies: `*`).
    PublicResource("/problems"),
    PublicResource("/problems/{code}"),
    PublicResource("/ns"),
    PublicResource("/schemas/{file}"),
    # the transparency log (issue 13): public by SPEC §4
    PublicResource("/api/v1/log/{rest:path}", cache_control=STATUS),
    PublicResource("/log/{rest:path}", cache_control=STATUS),
    # the W3C VC-API test endpoints, when switched on (settings.vc_api)
    PublicResource("/credentials/issue", methods=("POST",), cache_control=LIVE),
    PublicResource("/credentials/verify", methods=("POST",), cache_control=LIVE),
    PublicResource("/presentations/verify", methods=("POST",), cache_control=LIVE),
)

PREFLIGHT_MAX_AGE = "7200"  # Chromium's ceiling
NEVER_ALLOWED = frozenset({"authorization", "cookie"})
EXPOSED = "ETag, Link, Location, Retry-After, Content-Language"
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class PublicCors:
    """Pure ASGI middleware (no per-request task hop: the verify route is on the benchmark)."""

    def __init__(self, app: ASGIApp, resources: Iterable[PublicResource] = PUBLIC) -> None:
        self.app = app
        self._rules = [(compile_path(r.path)[0], r) for r in resources]

    def match(self, path: str) -> PublicResource | None:
        for regex, resource in self._rules:
            if regex.match(path):
                return resource
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        resource = self.match(scope["path"])
        if resource is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await self._preflight(scope, resource, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers.append((b"access-control-allow-origin", b"*"))
                headers.append((b"access-control-expose-headers", EXPOSED.encode()))
                if b"cache-control" not in names:
                    if message["status"] >= 400:  # never keep a refusal (a 429, a 404 before issue)
                        headers.append((b"cache-control", LIVE.encode()))
                    elif resource.cache_control:
                        headers.append((b"cache-control", resource.cache_control.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, scope: Scope, resource: PublicResource, send: Send) -> None:
        request_headers = dict(scope.get("headers", []))
        methods = ", ".join(resource.methods)
        asked = request_headers.get(b"access-control-request-headers", b"").decode("latin-1")
        allowed = [
            name.strip()
            for name in asked.split(",")
            if name.strip() and name.strip().lower() not in NEVER_ALLOWED and _TOKEN.match(name.strip())
        ]
        headers = [
            (b"access-control-allow-origin", b"*"),
            (b"access-control-allow-methods", methods.encode()),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE.encode()),
            (b"allow", f"{methods}, OPTIONS".encode()),
            (b"vary", b"Access-Control-Request-Headers"),
            (b"content-length", b"0"),
        ]
        if allowed:
            headers.append((b"access-control-allow-headers", ", ".join(allowed).encode()))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
