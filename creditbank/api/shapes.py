"""``/schemas/{file}``: the JSON Schemas every credential is checked against before it is stored
(``schemas/``, ``certificates/shapes.py``), published where their ``$id`` says they are, so that a
verifier or an integrator can fetch them from the bank that issued the credential."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from creditbank.api import conditional, negotiation
from creditbank.certificates import shapes
from creditbank.errors import CreditbankError
from creditbank.httpio import JsonRoute

router = APIRouter(route_class=JsonRoute, tags=["public 公开"])
SCHEMA_JSON = "application/schema+json"
_TYPES = (SCHEMA_JSON, negotiation.JSON)
_HEADERS = {"Cache-Control": "public, max-age=3600", "Vary": "Accept"}
"""A schema changes only with a release of the bank; the ETag makes the check after an upgrade cheap."""


@router.get(
    "/schemas/{file}",
    summary="证书的 JSON Schema · The JSON Schema a credential is checked against",
    description="`achievement-credential.schema.json` (achievement, conversion, qualification and "
    "award certificates: Open Badges 3.0 `OpenBadgeCredential`) or `transcript-credential.schema.json` "
    "(the CLR 2.0 `ClrCredential` transcript). JSON Schema 2020-12; its `$id` is this address on the "
    "bank's base URL. `application/schema+json` by default, `application/json` when `Accept` asks "
    "for it. These are the bank's own, stricter shapes; 1EdTech's OB 3.0 and CLR 2.0 schemas apply "
    "as well (docs/interop.md).",
    responses={
        200: {"content": {media: {"schema": {"type": "object"}} for media in _TYPES}},
        404: {"description": "No such schema"},
    },
)
def schema(request: Request, file: Annotated[str, Path(max_length=64)]) -> Response:
    if file not in shapes.PUBLISHED:
        raise CreditbankError("not_found")
    document = shapes.published(str(request.app.state.issuer.base_url), file)
    media = negotiation.preferred(request, _TYPES)
    tag = conditional.strong_tag(document, media)
    if conditional.client_has(request, tag):
        return conditional.not_modified(tag, _HEADERS)
    return conditional.json_document(document, media_type=media, tag=tag, headers=_HEADERS)
