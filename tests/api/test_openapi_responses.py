"""The OpenAPI document describes what each route answers, field by field.

Outside integrators generate clients from ``/openapi.json``: a 2xx JSON answer documented as ``{}``
or a bare ``object`` gives them nothing to generate, and a field the schema leaves out is one their
client drops. The walk fails on any 2xx JSON answer without a schema (but for the few documents whose
shape another standard defines, each listed with its reason); the answers of the routes SPEC §4
names are checked against their schema with every object closed, so a field the route answers and
the schema does not declare fails here — schemathesis (test_schemathesis.py) leaves objects open.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from creditbank.app import create_app
from creditbank.config import Settings
from creditbank.db import Database
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome, signed_in

ALL = "*"
FREE_FORM: dict[tuple[str, str], tuple[str, str]] = {
    # (method, path): (media type or ALL, why the document describes no shape of its own)
    ("GET", "/.well-known/did.json"): (ALL, "a W3C DID Core document; resolvers read it by that spec"),
    ("GET", "/api/v1/certificates/{certificate_id}"): (
        ALL,  # the JSON answer is CertificateOut (typed); the VC media types carry the credential alone
        "the signed W3C Verifiable Credential; its shape is the JSON Schema at /schemas/{file}",
    ),
    ("GET", "/api/v1/status-lists/{list_id}"): (ALL, "a signed W3C Bitstring Status List credential"),
    ("GET", "/api/v1/outcomes/{ref}"): (ALL, "an Open Badges 3.0 Achievement (JSON-LD, 1EdTech's schema)"),
    ("GET", "/api/v1/qualifications/{code}"): (
        "application/ld+json",
        "an Open Badges 3.0 Achievement (JSON-LD); the JSON answer is QualificationOut",
    ),
    ("GET", "/api/v1/qualifications/{code}/versions/{version}"): (
        ALL,
        "an Open Badges 3.0 Achievement (JSON-LD, 1EdTech's schema)",
    ),
    ("GET", "/ns"): (ALL, "the bank's JSON-LD context, whose shape JSON-LD 1.1 defines"),
    ("GET", "/schemas/{file}"): (ALL, "a JSON Schema 2020-12 document: the metaschema is its schema"),
    ("POST", "/credentials/issue"): (ALL, "the signed credential, as the W3C VC-API test suites read it"),
}
FREE_FORM_FIELDS: dict[tuple[str, str], str] = {
    # (schema, property): why it has no shape of its own in the document
    ("CertificateOut", "credential"): "the signed W3C Verifiable Credential (JSON Schema at /schemas/{file})",
}


@pytest.fixture(params=[False, True], ids=["default", "vc_api"])
def client(request, sqlite_settings: Settings) -> Iterator[TestClient]:
    """The bank, and the bank with its VC-API conformance endpoints mounted (off by default)."""
    settings = sqlite_settings.model_copy(update={"vc_api": request.param})
    db = Database(settings.database_url)
    with TestClient(create_app(settings, db)) as test_client:
        yield test_client
    db.dispose()


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _untyped(spec: dict, schema: dict) -> bool:
    """``{}``, an object with no properties (open to anything), or a list of either."""
    schema = _resolve(spec, schema)
    if schema.get("type") == "array":
        return _untyped(spec, schema.get("items", {}))
    if any(k in schema for k in ("anyOf", "oneOf", "allOf")):
        return False
    open_values = schema.get("additionalProperties", True) in (True, {})
    return schema.get("type") in ("object", None) and "properties" not in schema and open_values


def _named(spec: dict, found: list[Any]) -> set[str]:
    """The names of the component schemas ``found`` refers to, however deep."""
    names: set[str] = set()
    while found:
        schema = found.pop()
        if isinstance(schema, dict):
            ref = schema.get("$ref", "")
            name = ref.rsplit("/", 1)[-1]
            if ref and name not in names:
                names.add(name)
                found.append(spec["components"]["schemas"][name])
            found.extend(schema.values())
        elif isinstance(schema, list):
            found.extend(schema)
    return names


def _json_answers(spec: dict) -> Iterator[tuple[str, str, str, str, dict]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for status, response in operation.get("responses", {}).items():
                if not status.startswith("2"):
                    continue
                for media, content in response.get("content", {}).items():
                    if media.endswith("json"):
                        yield method.upper(), path, status, media, content.get("schema", {})


class TestEveryJsonAnswerHasASchema:
    def test_no_2xx_json_answer_is_untyped(self, client):
        spec = client.get("/openapi.json").json()
        untyped = []
        for method, path, status, media, schema in _json_answers(spec):
            allowed = FREE_FORM.get((method, path))
            if allowed and allowed[0] in (ALL, media):
                continue
            if _untyped(spec, schema):
                untyped.append(f"{method} {path} {status} {media}: {schema}")
        assert not untyped, "2xx JSON answers without a schema:\n" + "\n".join(untyped)

    def test_no_field_of_a_2xx_answer_is_untyped(self, client):
        """The fields too: `{"rule": {}}` tells a client as little as `{}`."""
        spec = client.get("/openapi.json").json()
        schemas = spec["components"]["schemas"]
        answered = _named(spec, [schema for *_, schema in _json_answers(spec)])
        untyped = [
            f"{name}.{field}: {prop}"
            for name in sorted(answered)
            for field, prop in schemas[name].get("properties", {}).items()
            if (name, field) not in FREE_FORM_FIELDS
            and any(_untyped(spec, alt) for alt in prop.get("anyOf", [prop]) if alt.get("type") != "null")
        ]
        assert not untyped, "fields without a schema:\n" + "\n".join(untyped)
        assert all(field in schemas[name]["properties"] for name, field in FREE_FORM_FIELDS)

    def test_the_free_form_list_names_only_operations_that_exist(self, client):
        spec = client.get("/openapi.json").json()
        answers = {(m, p) for m, p, *_ in _json_answers(spec)}
        if not client.app.state.settings.vc_api:  # its endpoints are in the list, mounted or not
            answers.add(("POST", "/credentials/issue"))
        assert set(FREE_FORM) <= answers, set(FREE_FORM) - answers


def _closed(schema: Any) -> Any:
    """``schema`` with every object that lists its properties closed to others."""
    if isinstance(schema, dict):
        closed = {k: (v if k == "properties" else _closed(v)) for k, v in schema.items()}
        if "properties" in schema:
            closed["properties"] = {name: _closed(s) for name, s in schema["properties"].items()}
            closed.setdefault("additionalProperties", False)
        return closed
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    return schema


def _declares_every_field(spec: dict, method: str, path: str, response) -> None:
    """The answer validates against its operation's schema for its status, with objects closed."""
    content = spec["paths"][path][method.lower()]["responses"][str(response.status_code)]["content"]
    schema = content[response.headers["content-type"].split(";")[0]]["schema"]
    assert not _untyped(spec, schema), f"{method} {path}: no schema for {response.status_code}"
    root = {"components": _closed(copy.deepcopy(spec["components"])), **_closed(schema)}
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in Draft202012Validator(root).iter_errors(response.json())
    ]
    assert not errors, f"{method} {path} answers what its schema does not say:\n" + "\n".join(errors)


@pytest.fixture
def bank(client) -> dict:
    """A learner of a community school with 3 community credits, and an open university whose
    qualification a conversion rule counts toward."""
    hc = institution(client, "HCZCEC", "皇城镇社区教育中心")
    for i in range(2):
        outcome(client, hc, f"HC-AGRI-{i}", category="community", level=2, credits=1.5, validity_years=5)
    ou = institution(client, "CQOUYC", "重庆开放大学永川分校")
    outcome(client, ou, "OU-AGRI", title_zh="现代农业技术基础", category="academic", level=5, credits=2)
    person = learner(client, hc, name="赵大山")
    for i in range(2):
        posted = client.post(
            "/api/v1/completions", json=completion_body(person["account_no"], f"HC-AGRI-{i}"), headers=hc
        )
        assert posted.status_code == 201, posted.text
    return {"hc": hc, "ou": ou, "me": signed_in(client, person, "12345678")}


QUALIFICATION = {
    "name_zh": "现代农业专科",
    "name_en": "Modern agriculture diploma",
    "total_credits": 3,
    "max_transfer_ratio": 0.5,
    "per_year_cap": 20,
    "requirements": [{"category": "academic", "min_credits": 2}, {"outcome": "CQOUYC:OU-AGRI"}],
}
RULE = {
    "code": "AGRI-3",
    "name_zh": "社区农业学分转现代农业技术基础",
    "target_outcome_code": "OU-AGRI",
    "credits": 2,
    "source": {"credits": {"category": "community", "min_level": 2, "amount": 3, "within_years": 5}},
    "effective_from": "2020-01-01",
    "qualification_code": "OU-AGRI-DIP",
}


class TestSpecRoutesDeclareEveryField:
    def test_qualification_options_and_progress(self, client, bank):
        spec = client.get("/openapi.json").json()
        path = "/api/v1/qualifications/{code}"
        created = client.put("/api/v1/qualifications/OU-AGRI-DIP", json=QUALIFICATION, headers=bank["ou"])
        assert created.status_code == 201, created.text
        _declares_every_field(spec, "PUT", path, created)
        rule = client.post("/api/v1/conversion-rules", json=RULE, headers=bank["ou"])
        _declares_every_field(spec, "POST", "/api/v1/conversion-rules", rule)
        assert client.post(
            f"/api/v1/conversion-rules/{rule.json()['id']}/approve", headers=OPERATOR
        ).is_success
        edited = client.put("/api/v1/qualifications/OU-AGRI-DIP", json=QUALIFICATION, headers=bank["ou"])
        assert edited.status_code == 200 and edited.json()["conversion_rules"], edited.text
        _declares_every_field(spec, "PUT", path, edited)
        _declares_every_field(spec, "GET", path, client.get("/api/v1/qualifications/OU-AGRI-DIP"))

        options = client.get("/api/v1/me/conversion-options", headers=bank["me"])
        [option] = options.json()
        assert option["eligible"] and option["would_use"] and option["bound_by_cap"] == "max_transfer_ratio"
        _declares_every_field(spec, "GET", "/api/v1/me/conversion-options", options)

        progress = client.get("/api/v1/me/progress/OU-AGRI-DIP", headers=bank["me"])
        assert progress.status_code == 200 and progress.json()["what_if"]["conversions"], progress.text
        _declares_every_field(spec, "GET", "/api/v1/me/progress/{qualification_code}", progress)

        requested = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=bank["me"])
        assert requested.status_code == 201, requested.text
        _declares_every_field(spec, "POST", "/api/v1/me/conversions", requested)
        figure = client.get("/api/v1/stats/participation", params={"group_by": "district"}, headers=OPERATOR)
        assert figure.status_code == 200 and figure.json()["rows"], figure.text
        _declares_every_field(spec, "GET", "/api/v1/stats/participation", figure)

    def test_health_and_keys(self, client):
        spec = client.get("/openapi.json").json()
        _declares_every_field(spec, "GET", "/healthz", client.get("/healthz"))
        rotated = client.post("/api/v1/keys/rotate", headers=OPERATOR)
        assert rotated.status_code == 200, rotated.text
        _declares_every_field(spec, "POST", "/api/v1/keys/rotate", rotated)
        keys = client.get("/api/v1/keys")
        assert {"kid": rotated.json()["kid"], "status": "active"}.items() <= keys.json()[-1].items()
        _declares_every_field(spec, "GET", "/api/v1/keys", keys)
        _declares_every_field(spec, "GET", "/.well-known/jwks.json", client.get("/.well-known/jwks.json"))
        if client.app.state.settings.vc_api:
            credential = {
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "type": ["VerifiableCredential"],
                "issuer": client.app.state.vcapi.did,
                "credentialSubject": {"id": "did:example:s"},
            }
            issued = client.post("/credentials/issue", json={"credential": credential})
            assert issued.status_code == 201, issued.text
            verified = client.post("/credentials/verify", json={"verifiableCredential": issued.json()})
            assert verified.json()["verified"] is True, verified.text
            _declares_every_field(spec, "POST", "/credentials/verify", verified)
