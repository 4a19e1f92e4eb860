"""SPEC §4: "credits are JSON numbers with at most two decimals (1.5)" — in every answer a client
reads, whichever route: the verification report (by id, by credential, by QR payload, offline),
the statistics beside the balance. The signed credential keeps its own shape."""

from __future__ import annotations

from decimal import Decimal

from creditbank.verification import inputs, offline
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome, signed_in


def _credit_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and Decimal(str(value)).as_tuple().exponent >= -2  # type: ignore[operator]
    )


def _world(client) -> tuple[dict, dict]:
    """A learner with 1.5 + 2 credits (3.5) and a transcript of both."""
    head = institution(client)
    outcome(client, head, "YC-ELEC", credits=1.5)
    outcome(client, head, "YC-FARM", title_zh="春季蔬菜田间管理", credits=2)
    person = learner(client, head)
    for code in ("YC-ELEC", "YC-FARM"):
        r = client.post("/api/v1/completions", json=completion_body(person["account_no"], code), headers=head)
        assert r.status_code == 201, r.text
    r = client.post("/api/v1/me/certificates", json={"kind": "transcript"}, headers=signed_in(client, person))
    assert r.status_code == 201, r.text
    return person, r.json()


def _assert_credits(certificate: dict, *, lines: bool = True) -> None:
    assert certificate["total_credits"] == 3.5 and _credit_number(certificate["total_credits"])
    if lines:
        assert sorted(line["credits"] for line in certificate["lines"]) == [1.5, 2]
        assert all(_credit_number(line["credits"]) for line in certificate["lines"])


class TestVerificationReport:
    def test_by_id_by_credential_and_by_qr_the_certificates_credits_are_numbers(self, client):
        _, issued = _world(client)
        for answer in (
            client.get(f"/api/v1/verify/{issued['id']}"),
            client.post("/api/v1/verify", json={"credential": issued["credential"]}),
            client.post("/api/v1/verify", json={"url": issued["verify_url"]}),
            client.post("/api/v1/verify", json={"payload": issued["verify_url"].split("#")[1]}),
        ):
            assert answer.status_code == 200, answer.text
            assert answer.json()["valid"] is True
            _assert_credits(answer.json()["certificate"])

    def test_offline_the_qr_claims_credits_are_a_number_too(self, client):
        _, issued = _world(client)
        keys = client.get("/api/v1/keys").content
        verdict = offline.verify(inputs.from_json({"url": issued["verify_url"]}), keys)
        assert verdict["verdict"] == "unchecked"
        _assert_credits(verdict["certificate"], lines=False)

    def test_the_signed_credential_keeps_its_own_shape(self, client):
        _, issued = _world(client)
        verified = client.get(f"/api/v1/verify/{issued['id']}").json()
        assert verified["checks"]["signature"]["ok"] is True
        again = client.get(f"/api/v1/certificates/{issued['id']}").json()["credential"]
        assert again == issued["credential"]
        earned = [
            c["credentialSubject"]["creditsEarned"]
            for c in again["credentialSubject"]["verifiableCredential"]
        ]
        assert sorted(earned) == [1.5, 2]

    def test_the_openapi_document_says_so(self, client):
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
        for path in ("/api/v1/verify/{certificate_id}", "/api/v1/verify"):
            operation = next(iter(client.get("/openapi.json").json()["paths"][path].values()))
            ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/VerificationOut")
        summary = schemas["CertificateSummaryOut"]["properties"]
        assert {"type": "number"} in summary["total_credits"]["anyOf"]
        assert {"type": "number"} in schemas["LineOut"]["properties"]["credits"]["anyOf"]


class TestStatistics:
    def test_credits_figure_is_in_credits_as_the_balance(self, client):
        person, _ = _world(client)
        balance = client.get(f"/api/v1/learners/{person['account_no']}/balance", headers=OPERATOR)
        rows = client.get("/api/v1/stats/credits", headers=OPERATOR).json()["rows"]
        assert sum(row["credits"] for row in rows) == balance.json()["total"] == 3.5
        assert all(_credit_number(row["credits"]) for row in rows)
