"""The bank's own JSON-LD vocabulary lives on the bank: did.json defines its extra member
``creditbank_pdf_seals_since`` as ``<base URL>/ns#pdfSealsSince`` (was
``https://creditbank.example/ns#pdfSealsSince``, a reserved domain nobody could open), and ``/ns``
documents the term. Signed credentials never name the vocabulary, so none changes."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from pyld import jsonld as pyld

from creditbank.app import create_app
from creditbank.db import Database
from creditbank.kit import jsonld
from tests.certificates.test_certificates import issue, world  # noqa: F401

BANK = "https://credits.yongchuan.example"
TERM = f"{BANK}/ns#pdfSealsSince"


@pytest.fixture
def bank(settings, db: Database):
    with TestClient(create_app(settings.model_copy(update={"base_url": BANK}), db)) as client:
        yield client


def test_did_json_names_the_term_on_the_banks_own_address(bank):
    did = bank.get("/.well-known/did.json").json()
    assert did["@context"][-1]["creditbank_pdf_seals_since"]["@id"] == TERM
    [expanded] = pyld.expand(json.loads(json.dumps(did)), jsonld.default_loader().options())
    assert expanded[TERM][0]["@value"] == did["creditbank_pdf_seals_since"]
    jsonld.to_dataset(did)  # strict, offline: nothing fetched, nothing undefined


def test_the_term_opens_as_a_page_with_its_meaning_in_both_languages(bank):
    page = bank.get("/ns", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="pdfSealsSince"' in page.text and TERM in page.text
    assert page.text.index("PDF 封印起始时间") < page.text.index("PDFs sealed since")
    assert "creditbank_pdf_seals_since" in page.text


@pytest.mark.parametrize("accept", ["application/ld+json", "application/json"])
def test_a_json_ld_client_gets_the_vocabulary_as_rdf_schema(bank, accept):
    response = bank.get("/ns", headers={"Accept": accept})
    assert response.headers["content-type"].startswith(accept)
    document = response.json()
    [expanded] = [
        node for node in pyld.expand(document, jsonld.default_loader().options()) if node["@id"] == TERM
    ]
    assert expanded["@type"] == ["http://www.w3.org/1999/02/22-rdf-syntax-ns#Property"]
    assert expanded["http://www.w3.org/2000/01/rdf-schema#range"] == [
        {"@id": "http://www.w3.org/2001/XMLSchema#dateTime"}
    ]
    labels = {
        v["@language"].lower(): v["@value"] for v in expanded["http://www.w3.org/2000/01/rdf-schema#label"]
    }
    assert labels == {"zh-cn": "PDF 封印起始时间", "en": "PDFs sealed since"}  # pyld lowercases tags


@pytest.mark.parametrize("kind", ["achievement", "transcript"])
def test_no_credential_names_the_vocabulary(client, world, kind):  # noqa: F811
    """Credentials are signed: they must not depend on the bank's vocabulary (nor did they on the old one)."""
    text = json.dumps(issue(client, world, kind)["credential"])
    assert "/ns#" not in text and "creditbank.example" not in text
