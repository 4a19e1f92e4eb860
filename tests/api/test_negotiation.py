"""Media types (VC 2.0's application/vc, the DID document's types) and content negotiation on Accept."""

from __future__ import annotations

import pytest

from creditbank.api import negotiation
from creditbank.api.negotiation import CREDENTIAL_TYPES, DID_TYPES, choose
from tests.api.test_cors import _certificate

# What Digital Bazaar's http-client sends (inside its and DCC's document loaders); it parses a body
# only when the answer's Content-Type contains "json".
DB_HTTP_CLIENT = "application/ld+json, application/json"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


class TestChoose:
    @pytest.mark.parametrize(
        ("accept", "expected"),
        [
            (None, "application/vc"),
            ("*/*", "application/vc"),
            ("application/*", "application/vc"),
            (DB_HTTP_CLIENT, "application/ld+json"),
            ("application/json", "application/json"),
            ("application/vc+ld+json", "application/vc+ld+json"),
            ("application/json;q=0.5, application/ld+json;q=0.9", "application/ld+json"),
            ("application/vc;q=0, */*", "application/vc+ld+json"),
            ("text/html", None),
            ("garbage", "application/vc"),
        ],
    )
    def test_the_most_preferred_offer_wins_and_ties_keep_the_servers_order(self, accept, expected):
        assert choose(accept, CREDENTIAL_TYPES) == expected

    def test_the_did_document_defaults_to_did_json(self):
        assert choose("*/*", DID_TYPES) == "application/did+json"
        assert choose("application/did+ld+json", DID_TYPES) == "application/did+ld+json"


class TestRoutes:
    def test_a_status_list_is_application_vc_unless_json_is_asked_for(self, client):
        cert = _certificate(client)
        url = cert["credential"]["credentialStatus"]["statusListCredential"]
        path = url[url.index("/api/") :]
        for accept, media in [
            (None, "application/vc"),
            ("*/*", "application/vc"),
            (DB_HTTP_CLIENT, "application/ld+json"),
            ("application/json", "application/json"),
            ("application/vc+ld+json", "application/vc+ld+json"),
        ]:
            r = client.get(path, headers={"Accept": accept} if accept else {})
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == media, accept
            assert r.headers["vary"] == "Accept"
            assert r.json()["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
        # each representation has its own tag: a cached ld+json copy does not answer an application/vc request
        tag = client.get(path, headers={"Accept": DB_HTTP_CLIENT}).headers["etag"]
        assert client.get(path, headers={"Accept": DB_HTTP_CLIENT, "If-None-Match": tag}).status_code == 304
        assert client.get(path, headers={"If-None-Match": tag}).status_code == 200

    def test_the_did_document_answers_what_a_resolver_accepts(self, client):
        for accept, media in [
            (None, "application/did+json"),
            ("application/did+ld+json", "application/did+ld+json"),
            (DB_HTTP_CLIENT, "application/ld+json"),
            ("application/json", "application/json"),
        ]:
            r = client.get("/.well-known/did.json", headers={"Accept": accept} if accept else {})
            assert r.headers["content-type"] == media, accept
            assert r.json()["@context"][0] == "https://www.w3.org/ns/did/v1"

    def test_a_credential_id_answers_the_credential_the_record_or_the_page(self, client):
        cert = _certificate(client)
        path = f"/api/v1/certificates/{cert['id']}"
        for accept in ("application/vc", "application/vc+ld+json", DB_HTTP_CLIENT):
            r = client.get(path, headers={"Accept": accept})
            assert r.headers["content-type"] == negotiation.choose(accept, CREDENTIAL_TYPES), accept
            assert r.json() == cert["credential"]
            assert "immutable" in r.headers["cache-control"]
        record = client.get(path)  # SPEC §4's shape for everyone else, unchanged
        assert record.headers["content-type"] == "application/json"
        assert record.json()["credential"] == cert["credential"] and record.json()["id"] == cert["id"]
        assert client.get(path, headers={"Accept": "application/json"}).json()["id"] == cert["id"]
        page = client.get(path, headers={"Accept": BROWSER}, follow_redirects=False)
        assert (page.status_code, page.headers["location"]) == (303, f"/v/{cert['id']}")

    def test_the_openapi_document_declares_the_media_types(self, client):
        paths = client.app.openapi()["paths"]

        def types(path: str) -> set[str]:
            return set(paths[path]["get"]["responses"]["200"]["content"])

        assert {"application/vc", "application/ld+json"} <= types("/api/v1/status-lists/{list_id}")
        assert {"application/vc", "application/json"} <= types("/api/v1/certificates/{certificate_id}")
        assert {"application/did+json", "application/did+ld+json"} <= types("/.well-known/did.json")
