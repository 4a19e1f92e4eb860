"""Content negotiation on ``Accept`` (RFC 9110 §12.5.1) for the resources creditbank names in its
credentials: the credential and status-list routes answer VC 2.0's registered ``application/vc``
and, to a client that asks for JSON-LD or JSON, the same document as ``application/ld+json`` or
``application/json``; the DID document answers ``application/did+json`` or
``application/did+ld+json``; achievements and credentials answer a readable page to a browser.

Why not ``application/vc`` for everyone: Digital Bazaar's http-client (inside its and DCC's
document loaders) sends ``Accept: application/ld+json, application/json`` and parses a body only
when the answer's ``Content-Type`` contains ``json``. Answering what the client asked for keeps
those verifiers working; answering ``application/vc`` to ``*/*`` follows VC 2.0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

VC = "application/vc"
VC_LD_JSON = "application/vc+ld+json"  # the name before VC 2.0 registered application/vc
LD_JSON = "application/ld+json"
JSON = "application/json"
HTML = "text/html"
DID_JSON = "application/did+json"
DID_LD_JSON = "application/did+ld+json"

CREDENTIAL_TYPES = (VC, VC_LD_JSON, LD_JSON, JSON)
"""What a credential or a status list is served as, the first one by default."""
DID_TYPES = (DID_JSON, DID_LD_JSON, LD_JSON, JSON)


def _ranges(header: str) -> list[tuple[str, str, float]]:
    ranges = []
    for part in header.split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if "/" not in media:
            continue
        kind, _, subtype = media.partition("/")
        q = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = max(0.0, min(1.0, float(value)))
                except ValueError:
                    q = 0.0
        ranges.append((kind, subtype, q))
    return ranges


def _quality(offer: str, ranges: list[tuple[str, str, float]]) -> float:
    """The q of the most specific range that matches ``offer`` (exact > type/* > */*)."""
    kind, _, subtype = offer.partition("/")
    best, best_specificity = 0.0, -1
    for r_kind, r_subtype, q in ranges:
        if (r_kind, r_subtype) == (kind, subtype):
            specificity = 2
        elif r_kind == kind and r_subtype == "*":
            specificity = 1
        elif (r_kind, r_subtype) == ("*", "*"):
            specificity = 0
        else:
            continue
        if specificity > best_specificity:
            best, best_specificity = q, specificity
    return best


def _best(offers: Sequence[str], ranges: list[tuple[str, str, float]]) -> str | None:
    """The offer of highest q above 0 (ties: the earlier offer), ``None`` when every q is 0."""
    best, best_q = None, 0.0
    for offer in offers:
        q = _quality(offer, ranges)
        if q > best_q:
            best, best_q = offer, q
    return best


def choose(accept: str | None, offers: Sequence[str]) -> str | None:
    """The offer the client prefers (ties: the earlier offer), ``offers[0]`` when it sends no
    ``Accept``, ``None`` when it accepts none of them."""
    if not accept or not accept.strip():
        return offers[0]
    ranges = _ranges(accept)
    if not ranges:
        return offers[0]
    return _best(offers, ranges)


def preferred(request: Request, offers: Sequence[str]) -> str:
    """Like :func:`choose`, but an unacceptable ``Accept`` gets the default (RFC 9110 lets a server
    ignore it rather than answer 406; a verifier is better served by the document than by an error)."""
    return choose(request.headers.get("accept"), offers) or offers[0]


def explicit(request: Request, offers: Sequence[str]) -> str | None:
    """The offer the client names itself (``type/subtype``, not a wildcard), preferring the earlier
    one on a tie; ``None`` when it names none of them (``*/*``, no ``Accept``)."""
    accept = request.headers.get("accept")
    if not accept:
        return None
    ranges = [r for r in _ranges(accept) if "*" not in r[:2]]
    return _best(offers, ranges)


def wants_page(request: Request) -> bool:
    """A browser navigating to an id (``text/html`` preferred over every JSON type)."""
    accept = request.headers.get("accept")
    if not accept:
        return False
    ranges = _ranges(accept)
    html = _quality(HTML, [r for r in ranges if r[:2] != ("*", "*")])
    return html > 0 and html >= max(_quality(t, ranges) for t in (*CREDENTIAL_TYPES, DID_JSON))


ACHIEVEMENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The Open Badges 3.0 Achievement (JSON-LD, with its @context)",
        "content": {
            JSON: {"schema": {"type": "object"}},
            LD_JSON: {"schema": {"type": "object"}},
        },
    },
    303: {"description": "A browser (text/html): to the page for people"},
}


def answer_achievement(request: Request, view: Any, page: str) -> Response:
    """An achievement id: ``303`` to its page (``page``) for a browser, the OB 3.0 ``Achievement``
    for everyone else. ``view`` is a :class:`creditbank.certificates.achievements.AchievementView`."""
    cache = "public, max-age=86400" if view.versioned else "public, max-age=300"
    headers = {"Vary": "Accept", "Cache-Control": cache}
    if wants_page(request):
        return RedirectResponse(page, status_code=303, headers=headers)
    # JSON-LD when asked for by name (a JSON-LD loader), plain JSON to everyone else
    media = explicit(request, (LD_JSON, JSON)) or JSON
    return JSONResponse(view.document, media_type=media, headers=headers)
