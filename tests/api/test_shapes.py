"""The credentials' JSON Schemas are served by the bank where their ``$id`` says (api/shapes.py).

Their ``$id`` was ``https://creditbank.example/schemas/<file>``, a reserved domain nobody can
open; now it is ``<base URL>/schemas/<file>`` on the deployment that issued the credential. A
verifier fetches the schema by its ``$id`` and validates a credential the bank really issued.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator, FormatChecker

from creditbank.app import create_app
from creditbank.certificates import shapes
from creditbank.db import Database
from tests.conftest import completion_body, institution, learner, outcome, signed_in

BANK = "https://credits.yongchuan.example"
ACHIEVEMENT = "achievement-credential.schema.json"
TRANSCRIPT = "transcript-credential.schema.json"


@pytest.fixture
def bank(settings, db: Database):
    """The bank set up under its public address; the test client still calls it as testserver."""
    with TestClient(create_app(settings.model_copy(update={"base_url": BANK}), db)) as client:
        yield client


def _issued(client: TestClient) -> dict[str, dict]:
    """An achievement and a transcript the bank signs for a learner: the signed credentials."""
    inst = institution(client)
    outcome(client, inst)
    person = learner(client, inst)
    completion = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst)
    headers = signed_in(client, person, "12345678")
    credentials = {}
    for kind, body in [
        ("achievement", {"kind": "achievement", "completion_id": completion.json()["id"]}),
        ("transcript", {"kind": "transcript"}),
    ]:
        issued = client.post("/api/v1/me/certificates", json=body, headers=headers)
        assert issued.status_code == 201, issued.text
        served = client.get(
            f"/api/v1/certificates/{issued.json()['id']}", headers={"Accept": "application/vc"}
        )
        assert served.status_code == 200, served.text
        credentials[kind] = served.json()
    return credentials


def _fetch(client: TestClient, url: str) -> dict:
    """What a verifier gets at ``url`` (on this bank's base URL)."""
    assert url.startswith(f"{BANK}/"), url
    response = client.get(url.removeprefix(BANK), headers={"Accept": "application/schema+json"})
    assert response.status_code == 200, (url, response.text)
    assert response.headers["content-type"] == "application/schema+json"
    return response.json()


class TestAVerifierFetchesTheSchemaByItsId:
    def test_each_issued_credential_validates_against_the_schema_its_id_opens(self, bank):
        for kind, credential in _issued(bank).items():
            file = shapes.FILES[kind]
            schema = _fetch(bank, f"{BANK}/schemas/{file}")
            assert schema["$id"] == f"{BANK}/schemas/{file}"
            assert _fetch(bank, schema["$id"]) == schema  # the $id opens the same document
            Draft202012Validator.check_schema(schema)
            validator = Draft202012Validator(schema, format_checker=FormatChecker())
            assert list(validator.iter_errors(credential)) == [], kind
            # a real check: the same credential without its revocation entry fails it
            unrevocable = {k: v for k, v in credential.items() if k != "credentialStatus"}
            assert not validator.is_valid(unrevocable), kind

    def test_every_kind_of_certificate_has_a_schema_the_bank_serves(self, bank):
        ids = {_fetch(bank, f"{BANK}/schemas/{file}")["$id"] for file in shapes.FILES.values()}
        assert ids == {f"{BANK}/schemas/{ACHIEVEMENT}", f"{BANK}/schemas/{TRANSCRIPT}"}

    def test_no_schema_names_the_placeholder_domain(self, bank):
        for file in (ACHIEVEMENT, TRANSCRIPT):
            text = bank.get(f"/schemas/{file}").text
            assert (
                "creditbank.example" not in text
                and "creditbank.example" not in (shapes.SCHEMAS / file).read_text()
            )


class TestTheAnswer:
    def test_json_when_asked_for_and_revalidated_by_etag(self, bank):
        first = bank.get(f"/schemas/{ACHIEVEMENT}", headers={"Accept": "application/json"})
        assert first.headers["content-type"] == "application/json"
        assert first.headers["cache-control"] == "public, max-age=3600" and first.headers["vary"] == "Accept"
        again = bank.get(
            f"/schemas/{ACHIEVEMENT}",
            headers={"Accept": "application/json", "If-None-Match": first.headers["etag"]},
        )
        assert (again.status_code, again.content) == (304, b"")
        # what the bank checks credentials against is what it serves, $id aside
        served = json.loads(first.content)
        assert {k: v for k, v in served.items() if k != "$id"} == json.loads(
            (shapes.SCHEMAS / ACHIEVEMENT).read_text()
        )

    @pytest.mark.parametrize("file", ["nothing.schema.json", "..%2Fpyproject.toml", "achievement-credential"])
    def test_an_unknown_schema_is_a_404_problem(self, bank, file):
        response = bank.get(f"/schemas/{file}")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"

    def test_the_openapi_document_lists_the_route(self, bank):
        spec = bank.get("/openapi.json").json()
        route = spec["paths"]["/schemas/{file}"]["get"]
        assert ACHIEVEMENT in route["description"] and TRANSCRIPT in route["description"]
        assert set(route["responses"]["200"]["content"]) == {"application/schema+json", "application/json"}
