"""CORS, preflights and cache headers on the public verification resources (creditbank/api/cors.py).

The browser itself is in test_cross_origin.py; here each header is checked on its own, and the CORS
set is cross-checked with the authorization matrix: nothing outside the public rows is opened.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from creditbank.api.cors import PUBLIC, PublicCors
from tests.api.test_authz_matrix import MATRIX, _walk
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome

ORIGIN = {"Origin": "https://verifier.example"}


def _preflight(client: TestClient, path: str, method: str = "GET", headers: str = "") -> object:
    request_headers = ORIGIN | {"Access-Control-Request-Method": method}
    if headers:
        request_headers["Access-Control-Request-Headers"] = headers
    return client.options(path, headers=request_headers)


def _certificate(client: TestClient) -> dict:
    inst = institution(client)
    outcome(client, inst)
    person = learner(client, inst)
    completion = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst)
    issued = client.post(
        "/api/v1/certificates/batch",
        json={
            "items": [
                {
                    "account_no": person["account_no"],
                    "kind": "achievement",
                    "completion_id": completion.json()["id"],
                }
            ]
        },
        headers=OPERATOR,
    )
    assert issued.status_code == 201, issued.text
    return issued.json()[0]


class TestTheCorsSet:
    def test_every_entry_names_a_route_the_app_has(self, client):
        """A typo in the set would leave a resource closed; the log and the VC-API are other switches."""
        cors = PublicCors(client.app)
        templates = {path for _, path, _ in _walk(client.app.routes)}
        for resource in PUBLIC:
            if resource.path.startswith(("/api/v1/log/", "/log/", "/credentials/", "/presentations/")):
                continue
            assert resource.path in templates, f"{resource.path} is in the CORS set but no route has it"
            assert cors.match(resource.path) is resource

    def test_only_routes_anyone_may_call_are_opened(self, client):
        """Every /api/v1 route the CORS set matches is a public row of the authorization matrix."""
        cors = PublicCors(client.app)
        for (method, template), route in MATRIX.items():
            resource = cors.match(template)
            if resource is not None and method in resource.methods:
                assert route.access == "public", f"{method} {template} needs a token but CORS opens it"


class TestPreflight:
    @pytest.mark.parametrize(
        ("path", "method"),
        [
            ("/.well-known/did.json", "GET"),
            ("/.well-known/jwks.json", "GET"),
            ("/api/v1/keys", "GET"),
            ("/api/v1/status-lists/1", "GET"),
            ("/api/v1/certificates/crt_anything", "GET"),
            ("/api/v1/verify/crt_anything", "GET"),
            ("/api/v1/verify", "POST"),
        ],
    )
    def test_public_resources_answer_a_preflight(self, client, path, method):
        r = _preflight(client, path, method, "Accept, X-Verifier, Content-Type")
        assert r.status_code == 204, r.text
        assert r.headers["access-control-allow-origin"] == "*"
        assert method in r.headers["access-control-allow-methods"]
        assert r.headers["access-control-allow-headers"] == "Accept, X-Verifier, Content-Type"
        assert int(r.headers["access-control-max-age"]) > 0

    def test_a_preflight_never_allows_tokens_or_cookies(self, client):
        r = _preflight(client, "/api/v1/verify", "POST", "Content-Type, Authorization, Cookie")
        assert r.status_code == 204
        assert r.headers["access-control-allow-headers"] == "Content-Type"

    @pytest.mark.parametrize(
        "path", ["/api/v1/me", "/api/v1/institutions", "/api/v1/keys/rotate", "/api/v1/completions"]
    )
    def test_routes_that_need_a_token_stay_closed(self, client, path):
        r = _preflight(client, path, "POST" if path.endswith(("rotate", "completions")) else "GET")
        assert r.status_code == 405
        assert "access-control-allow-origin" not in r.headers


class TestAnswers:
    def test_keys_and_status_lists_carry_cors_and_fitting_cache_headers(self, client):
        cert = _certificate(client)
        list_url = cert["credential"]["credentialStatus"]["statusListCredential"].split("://", 1)[1]
        list_path = list_url[list_url.index("/") :]
        expected = {
            "/.well-known/did.json": "public, max-age=300",
            "/.well-known/jwks.json": "public, max-age=300",
            "/api/v1/keys": "public, max-age=300",
            list_path: "public, max-age=60",
            f"/api/v1/certificates/{cert['id']}": "public, max-age=60",
            f"/api/v1/verify/{cert['id']}": "no-store",
        }
        for path, cache in expected.items():
            r = client.get(path, headers=ORIGIN)
            assert r.status_code == 200, (path, r.text)
            assert r.headers["access-control-allow-origin"] == "*", path
            assert r.headers["cache-control"] == cache, path
        posted = client.post("/api/v1/verify", json={"credential": cert["credential"]}, headers=ORIGIN)
        assert posted.json()["valid"] is True
        assert (posted.headers["access-control-allow-origin"], posted.headers["cache-control"]) == (
            "*",
            "no-store",
        )

    def test_the_transparency_log_is_readable_cross_origin(self, client):
        """The log's routes (issue 13) are in the set from the start: a verifier checks inclusion too."""
        for path in ("/api/v1/log/checkpoint", "/api/v1/log/keys", "/log/checkpoint"):
            r = client.get(path, headers=ORIGIN)  # a fresh bank has no checkpoint yet: a readable 404
            assert r.status_code in (200, 404) and r.headers["content-type"], (path, r.text)
            assert r.headers["access-control-allow-origin"] == "*", path
            assert _preflight(client, path).status_code == 204, path
        # publishing a cosignature is not a read: its preflight allows GET only
        assert (
            _preflight(client, "/api/v1/log/cosignatures", "POST").headers.get("access-control-allow-methods")
            == "GET"
        )

    def test_a_refusal_is_readable_cross_origin_and_never_cached(self, client):
        r = client.get("/api/v1/certificates/crt_never_issued", headers=ORIGIN)
        assert r.status_code == 404 and r.json()["code"] == "certificate_not_found"
        assert r.headers["access-control-allow-origin"] == "*"
        assert r.headers["cache-control"] == "no-store"

    def test_token_routes_answer_without_cors_headers(self, client):
        r = client.get("/api/v1/institutions", headers=ORIGIN | OPERATOR)
        assert r.status_code == 200
        assert "access-control-allow-origin" not in r.headers


class TestTheDocumentsTheResourcesName:
    """An integrator's page on another origin reads what an error's ``type``, did.json's vocabulary
    term and a schema's ``$id`` open — as JSON (or JSON-LD) for its code, as the page for a person."""

    @pytest.mark.parametrize(
        "path", ["/problems", "/problems/not_found", "/ns", "/schemas/achievement-credential.schema.json"]
    )
    def test_a_preflight_is_answered(self, client, path):
        r = _preflight(client, path, "GET", "Accept, X-Verifier")
        assert r.status_code == 204, r.text
        assert r.headers["access-control-allow-origin"] == "*"
        assert r.headers["access-control-allow-methods"] == "GET"
        assert r.headers["access-control-allow-headers"] == "Accept, X-Verifier"

    @pytest.mark.parametrize(
        ("path", "accept", "media"),
        [
            ("/problems", "application/json", "application/json"),
            ("/problems/idempotency_key_reused", "application/problem+json", "application/json"),
            ("/ns", "application/ld+json", "application/ld+json"),
            ("/schemas/achievement-credential.schema.json", "application/json", "application/json"),
            ("/schemas/transcript-credential.schema.json", "*/*", "application/schema+json"),
        ],
    )
    def test_the_json_is_readable_and_kept_an_hour(self, client, path, accept, media):
        r = client.get(path, headers=ORIGIN | {"Accept": accept})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].split(";")[0] == media
        assert r.headers["access-control-allow-origin"] == "*"
        assert r.headers["cache-control"] == "public, max-age=3600"
        assert r.headers["vary"] == "Accept"
        assert r.json()

    @pytest.mark.parametrize("path", ["/problems", "/problems/not_found", "/ns"])
    def test_the_page_is_readable_and_never_kept(self, client, path):
        """A page may carry a signed-in reader's name and form token: no cache keeps it."""
        r = client.get(path, headers=ORIGIN | {"Accept": "text/html"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert r.headers["access-control-allow-origin"] == "*"
        assert r.headers["cache-control"] == "no-store"

    def test_an_unknown_code_is_a_readable_404(self, client):
        r = client.get("/problems/no_such_code", headers=ORIGIN | {"Accept": "application/json"})
        assert r.status_code == 404 and r.json()["code"] == "not_found"
        assert r.headers["access-control-allow-origin"] == "*"
        assert r.headers["cache-control"] == "no-store"


class TestConditionalGet:
    def test_the_did_document_is_not_sent_again_until_the_keys_change(self, client):
        client.post("/api/v1/keys/rotate", headers=OPERATOR)
        first = client.get("/.well-known/did.json")
        tag = first.headers["etag"]
        again = client.get("/.well-known/did.json", headers={"If-None-Match": tag})
        assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag)
        client.post("/api/v1/keys/rotate", headers=OPERATOR)
        rotated = client.get("/.well-known/did.json", headers={"If-None-Match": tag})
        assert rotated.status_code == 200 and rotated.headers["etag"] != tag
        assert len(rotated.json()["verificationMethod"]) == len(first.json()["verificationMethod"]) + 1

    def test_a_status_list_is_sent_again_only_after_a_revocation(self, client):
        cert = _certificate(client)
        url = cert["credential"]["credentialStatus"]["statusListCredential"]
        path = url[url.index("/api/") :]
        first = client.get(path)
        tag = first.headers["etag"]
        assert tag.startswith('W/"'), "re-signed on each request: the tag is weak"
        assert client.get(path, headers={"If-None-Match": tag}).status_code == 304
        revoked = client.post(
            f"/api/v1/certificates/{cert['id']}/revoke", json={"reason": "测试"}, headers=OPERATOR
        )
        assert revoked.status_code == 200
        after = client.get(path, headers={"If-None-Match": tag})
        assert after.status_code == 200 and after.headers["etag"] != tag
