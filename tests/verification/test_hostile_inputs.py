"""What POST /api/v1/verify does with inputs built to hurt it (issue 9, items 3, 13 and 16):
a 4xx problem with a stable code, refused before the expensive work, never a 500."""

from __future__ import annotations

import copy
import json

import pytest

from creditbank.kit import jsonld
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome


@pytest.fixture
def issued(client) -> list[dict]:
    """Two achievement certificates (A and B) of one learner, as the API returns them."""
    inst = institution(client)
    outcome(client, inst)
    outcome(client, inst, "YC-BAMBOO", title_zh="楠竹工艺画", credits=1)
    person = learner(client, inst)
    items = []
    for code in ("YC-ELEC", "YC-BAMBOO"):
        done = client.post(
            "/api/v1/completions", json=completion_body(person["account_no"], code), headers=inst
        ).json()
        items.append({"kind": "achievement", "account_no": person["account_no"], "completion_id": done["id"]})
    response = client.post("/api/v1/certificates/batch", json={"items": items}, headers=OPERATOR)
    assert response.status_code == 201, response.text
    return response.json()


def _never_canonicalise(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("canonicalisation must not start on an over-budget document")

    monkeypatch.setattr(jsonld, "to_dataset", refuse)


class TestItem13DeepJson:
    @pytest.mark.parametrize("depth", [40, 100_000])
    def test_item13_deeply_nested_json_is_a_422_problem(self, client, depth):
        body = b'{"credential":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
        response = client.post("/api/v1/verify", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "json_too_deep"

    def test_item13_deeply_nested_raw_upload_is_a_422_problem(self, client):
        body = b"[" * 100_000 + b"]" * 100_000
        response = client.post("/api/v1/verify", content=b"{" + b'"x":' + body + b"}")
        assert response.status_code == 422 and response.json()["code"] == "json_too_deep"


def test_a_form_upload_without_the_file_tells_the_verifier_what_to_upload(client):
    """An employer's form post whose file part is missing is told what the verifier reads — not the
    batch import's "CSV or XLSX" words it got before."""
    response = client.post(
        "/api/v1/verify", data={"note": "证书"}, files={"attachment": ("a.pdf", b"%PDF-1.7")}
    )
    assert response.status_code == 415, response.text
    problem = response.json()
    assert problem["code"] == "unsupported_verify_input"
    assert "PDF" in problem["title"] and "CSV" not in problem["title"]


class TestItem3CanonicalisationBudget:
    def test_item3_fifteen_thousand_identifiers_are_refused_before_canonicalising(
        self, client, issued, monkeypatch
    ):
        """The reported attack: 15 000 entries in credentialSubject.identifier (1.4 MB) kept the
        verifier busy for > 45 s while every other check waited."""
        credential = copy.deepcopy(issued[0]["credential"])
        credential["credentialSubject"]["identifier"] *= 15_000 // 3
        assert len(json.dumps(credential, ensure_ascii=False).encode()) > 1_000_000
        _never_canonicalise(monkeypatch)
        response = client.post("/api/v1/verify", json={"credential": credential})
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "credential_too_large"

    def test_item3_a_long_array_under_the_byte_limit_is_refused_too(self, client, issued, monkeypatch):
        credential = copy.deepcopy(issued[0]["credential"])
        credential["credentialSubject"]["identifier"] = [{"type": "IdentityObject"}] * 2_000
        _never_canonicalise(monkeypatch)
        response = client.post("/api/v1/verify", json={"credential": credential})
        assert response.status_code == 413 and response.json()["code"] == "credential_too_large"

    def test_item3_over_the_time_budget_is_a_413_problem(self, client, issued, monkeypatch):
        credential = copy.deepcopy(issued[0]["credential"])
        credential["credentialSubject"]["name"] = "改过 / changed"  # not the cached original
        monkeypatch.setattr(jsonld, "DEFAULT_TIME_BUDGET_SECONDS", 0.0)
        response = client.post("/api/v1/verify", json={"credential": credential})
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "credential_too_complex"

    def test_item3_the_banks_own_credentials_stay_within_budget(self, client, issued):
        verdict = client.post("/api/v1/verify", json={"credential": issued[0]["credential"]}).json()
        assert verdict["valid"] is True


class TestItem16UrlNamesAnotherCertificate:
    """A QR URL whose path names certificate B while its fragment carries A's genuine payload
    must not verify (as A or as B): the phone page already refused it; now the API and the
    offline verifier do too."""

    @staticmethod
    def _swapped(issued: list[dict]) -> str:
        url_a, url_b = issued[0]["verify_url"], issued[1]["verify_url"]
        return url_b.split("#")[0] + "#" + url_a.split("#")[1]

    def test_item16_swapped_path_is_invalid_online(self, client, issued):
        verdict = client.post("/api/v1/verify", json={"url": self._swapped(issued)}).json()
        assert verdict["valid"] is False and verdict["verdict"] == "invalid"
        assert verdict["checks"]["integrity"]["ok"] is False
        assert issued[1]["id"] in verdict["checks"]["integrity"]["detail_en"]
        # the genuine URL still verifies
        assert client.post("/api/v1/verify", json={"url": issued[0]["verify_url"]}).json()["valid"] is True

    def test_item16_swapped_path_is_invalid_offline(self, client, issued):
        from creditbank.verification import inputs, offline

        keys = client.get("/api/v1/keys").content
        verdict = offline.verify(inputs.from_json({"url": self._swapped(issued)}), keys)
        assert verdict["valid"] is False and verdict["checks"]["integrity"]["ok"] is False
        # genuine; offline without a status list the revocation is not checked (issue 8 item 4)
        assert (
            offline.verify(inputs.from_json({"url": issued[0]["verify_url"]}), keys)["verdict"] == "unchecked"
        )


class TestItem3StrangersAreBounded:
    def test_item3_busy_slots_refuse_uploads_fast_but_never_checks_by_id(self, client, issued, monkeypatch):
        from creditbank.verification import online

        monkeypatch.setattr(online, "STRANGER_WAIT_SECONDS", 0)
        slots = client.app.state.verifier._stranger_slots
        held = 0
        while slots.acquire(blocking=False):
            held += 1
        try:
            credential = copy.deepcopy(issued[0]["credential"])
            credential["credentialSubject"]["name"] = "改过 / changed"
            busy = client.post("/api/v1/verify", json={"credential": credential})
            assert busy.status_code == 503 and busy.json()["code"] == "verification_busy"
            # the bank's own credential, by id, by QR and as an identical upload: unaffected
            assert client.get(f"/api/v1/verify/{issued[0]['id']}").json()["valid"] is True
            assert (
                client.post("/api/v1/verify", json={"url": issued[0]["verify_url"]}).json()["valid"] is True
            )
            same = client.post("/api/v1/verify", json={"credential": issued[1]["credential"]})
            assert same.json()["valid"] is True
        finally:
            for _ in range(held):
                slots.release()
        assert held == online.STRANGER_SLOTS
