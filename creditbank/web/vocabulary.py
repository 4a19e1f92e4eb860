"""``/ns``: creditbank's own JSON-LD vocabulary, on the bank (``certificates.keys.vocabulary``).

did.json defines its extra member ``creditbank_pdf_seals_since`` as ``<base URL>/ns#pdfSealsSince``;
this is what that IRI opens: a page (``#pdfSealsSince`` lands on the term), or to a client asking for
JSON-LD an RDF Schema description of the terms. No JSON-LD processor needs it (term IRIs are never
fetched, only ``@context`` URLs); it is there for a person or a tool that follows the IRI."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse

from creditbank.certificates.keys import VOCABULARY_TERMS, vocabulary
from creditbank.web.base import Page, PageRoute, asks_for, renderer

router = APIRouter(route_class=PageRoute, tags=["public 公开"])
LD_JSON = "application/ld+json"


def document(base_url: str) -> dict[str, Any]:
    """The vocabulary as JSON-LD (RDF Schema): each term's label, comment and range, zh and en."""
    ns = vocabulary(base_url)
    return {
        "@context": {
            "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
            "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
            "rdfs:range": {"@type": "@id"},
            "rdfs:isDefinedBy": {"@type": "@id"},
        },
        "@graph": [
            {
                "@id": ns + name,
                "@type": "rdf:Property",
                "rdfs:isDefinedBy": ns,
                "rdfs:label": [
                    {"@value": term["label_zh"], "@language": "zh-CN"},
                    {"@value": term["label_en"], "@language": "en"},
                ],
                "rdfs:comment": [
                    {"@value": term["comment_zh"], "@language": "zh-CN"},
                    {"@value": term["comment_en"], "@language": "en"},
                ],
                "rdfs:range": term["range"],
            }
            for name, term in VOCABULARY_TERMS.items()
        ],
    }


@router.get(
    "/ns",
    response_class=HTMLResponse,
    summary="本行 JSON-LD 词汇表 · The bank's own JSON-LD vocabulary (did.json's extra member)",
    responses={
        200: {
            "description": "A page (text/html) or, to `Accept: application/ld+json` (or JSON), the "
            "vocabulary as RDF Schema in JSON-LD",
            "content": {
                "text/html": {"schema": {"type": "string"}},
                LD_JSON: {"schema": {"type": "object"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
def vocabulary_page(ctx: Page):
    """What `<base URL>/ns#pdfSealsSince` (the IRI did.json gives `creditbank_pdf_seals_since`)
    opens: each term of the bank's vocabulary, Chinese first, English second."""
    base_url = str(ctx.request.app.state.issuer.base_url)
    media = asks_for(ctx.request, (LD_JSON, "application/json"))
    if media is not None:
        return JSONResponse(
            document(base_url),
            media_type=media,
            headers={"Cache-Control": "public, max-age=3600", "Vary": "Accept"},
        )
    terms = [
        {"name": name, "iri": vocabulary(base_url) + name} | term for name, term in VOCABULARY_TERMS.items()
    ]
    return renderer(ctx.request).page(ctx, "web/vocabulary.html.j2", headers={"Vary": "Accept"}, terms=terms)
