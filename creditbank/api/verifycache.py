"""The front of ``GET /api/v1/verify/{id}``: a repeated question gets the bytes of the last answer.

Pure ASGI middleware, outermost (``create_app`` adds it last), so a hit costs no routing, no
dependency solving and no JSON encoding. A miss goes through the whole app as before — the route,
``problems``, the security and CORS headers — and a 200 is kept, status, headers and body exactly
as sent, in the verifier's :class:`~creditbank.verification.online.Answers`, under the token read
*before* the route ran. A hit is served only while that token is current (revocations, key status,
log checkpoint: see ``docs/verification-cache.md``), and the per-IP limit is applied to hits as
to the route (a refused hit falls through to the route, which answers the 429).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditbank import httpio

PREFIX = "/api/v1/verify/"


class VerifyAnswers:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not path.startswith(PREFIX)
            or scope.get("query_string")
        ):
            await self.app(scope, receive, send)
            return
        certificate_id = path[len(PREFIX) :]
        if not certificate_id or "/" in certificate_id:
            await self.app(scope, receive, send)
            return
        verifier = scope["app"].state.verifier
        answers = verifier.answers
        token = answers.token()
        hit = answers.get(certificate_id, token)
        if hit is not None:
            client = scope.get("client")
            if httpio.verify_limit.allow(client[0] if client else "?"):  # read each time: tests swap it
                verifier.tally.count(certificate_id)  # counted as a computed verification is (statistics)
                headers, body = hit
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        start: dict = {}
        chunks: list[bytes] = []
        complete = False

        async def keep(message: Message) -> None:
            nonlocal complete
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                complete = not message.get("more_body", False)
            await send(message)

        await self.app(scope, receive, keep)
        if complete and start.get("status") == 200 and not start.get("trailers"):
            body = b"".join(chunks)
            headers = list(start.get("headers", []))
            answers.put(certificate_id, token, (headers, body), len(body) + 64 * len(headers))
