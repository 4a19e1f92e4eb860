"""Conditional GETs (RFC 9110 §13): ``ETag`` on the published verification documents and ``304``
when the client already holds the version — a verifier polling a status list or the DID document
then costs one small query and no signature."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import Request, Response


def strong_tag(content: Any, media_type: str = "") -> str:
    """An ETag for a JSON document that is the same bytes every time (DID document, JWKS); each
    media type it is served as is its own representation, with its own tag."""
    body = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return '"' + hashlib.sha256(f"{media_type}\n{body}".encode()).hexdigest()[:32] + '"'


def weak_tag(version: str) -> str:
    """For a document re-signed on each request (its proof's ``created`` differs, its meaning not)."""
    return f'W/"{version}"'


def client_has(request: Request, tag: str) -> bool:
    """``If-None-Match`` names ``tag`` (weak comparison, as GET requires)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    bare = tag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == bare for candidate in header.split(","))


def not_modified(tag: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=304, headers={"ETag": tag, **(headers or {})})


def json_document(
    content: Any, *, media_type: str, tag: str, headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, media_type=media_type, headers={"ETag": tag, **(headers or {})})
