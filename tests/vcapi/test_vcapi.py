"""The VC-API test endpoints (creditbank/vcapi, creditbank/api/vcapi.py), checked against Digital
Bazaar's libraries (tests/interop/vcapi.mjs, pinned by tests/interop/package-lock.json).

* off by default: the routes do not exist;
* issuing signs with the test-only did:key, one proof per requested cryptosuite, never with the
  bank's key — and Digital Bazaar's verifier accepts what it signs;
* verifying accepts Digital Bazaar's did:key credentials and presentations (challenge, domain) and the
  bank's own did:web certificates (revoked ones refused), and refuses each kind of broken input with
  400/422 problem details naming the VC 2.0 / Data Integrity error type.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from creditbank.app import create_app
from creditbank.config import Settings
from creditbank.db import Database
from creditbank.kit import multikey
from creditbank.kit.dataintegrity import RDFC, create_proof
from tests.conftest import ADMIN, OPERATOR, completion_body, institution, learner, outcome
from tests.kit.test_dataintegrity import CREATED, ob_credential
from tests.kit.test_jsonld_budget import costly_collections
from tests.verification.test_interop import INTEROP

V2 = "https://www.w3.org/ns/credentials/v2"
V1 = "https://www.w3.org/2018/credentials/v1"
SEC = "https://w3id.org/security#"
VC_ERR = "https://www.w3.org/TR/vc-data-model#"
DB_PRESENTATION = Path(__file__).parents[1] / "vectors" / "digital-bazaar-presentation.json"
"""Signed by tests/interop/vcapi.mjs sign-vp (challenge u-challenge-123, domain verifier.example)."""


@pytest.fixture
def api(sqlite_url: str, tmp_path: Path):
    settings = Settings(
        database_url=sqlite_url,
        keys_dir=tmp_path / "keys",
        admin_token=ADMIN,
        secret="vcapi-test",
        base_url="https://credit.example.edu.cn",
        vc_api=True,
    )
    db = Database(sqlite_url)
    with TestClient(create_app(settings, db)) as client:
        yield client
    db.dispose()


def _did(api: TestClient) -> str:
    return api.app.state.vcapi.did


def _credential(**fields: Any) -> dict[str, Any]:
    return {
        "@context": [V2],
        "type": ["VerifiableCredential"],
        "credentialSubject": {"id": "did:example:s"},
    } | fields


def _issue(api: TestClient, credential: dict, **options: Any):
    return api.post("/credentials/issue", json={"credential": credential, "options": options})


def _node(node: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [node, str(INTEROP / "vcapi.mjs"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=INTEROP,
    )


def _db_signed(node: str, tmp_path: Path, document: dict, kind: str = "sign-vc", *extra: str) -> dict:
    source, target = tmp_path / "in.json", tmp_path / "out.json"
    source.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    run = _node(node, tmp_path, kind, str(source), str(target), *extra)
    assert run.returncode == 0, run.stderr
    return json.loads(target.read_text(encoding="utf-8"))


def _refused(response, status: tuple[int, ...] = (400, 422)) -> dict:
    assert response.status_code in status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["errors"][0]["type"] == body["type"]
    return body


class TestSwitch:
    def test_off_by_default(self, client):
        for path in ("/credentials/issue", "/credentials/verify", "/presentations/verify"):
            assert client.post(path, json={}).status_code == 404
            assert path not in client.app.openapi()["paths"]

    def test_on_it_is_documented(self, api):
        assert {"/credentials/issue", "/credentials/verify", "/presentations/verify"} <= set(
            api.app.openapi()["paths"]
        )


class TestIssue:
    def test_one_proof_per_requested_cryptosuite(self, api):
        both = _issue(api, _credential())
        assert both.status_code == 201, both.text
        assert [p["cryptosuite"] for p in both.json()["proof"]] == ["eddsa-rdfc-2022", "eddsa-jcs-2022"]
        for suite in ("eddsa-rdfc-2022", "eddsa-jcs-2022"):
            one = _issue(api, _credential(), cryptosuite=suite)
            assert one.status_code == 201 and one.json()["proof"]["cryptosuite"] == suite
        two = _issue(api, _credential(), cryptosuite=["eddsa-jcs-2022", "eddsa-rdfc-2022"])
        assert [p["cryptosuite"] for p in two.json()["proof"]] == ["eddsa-jcs-2022", "eddsa-rdfc-2022"]
        refused = _refused(_issue(api, _credential(), cryptosuite="ecdsa-rdfc-2019"))
        assert refused["type"] == SEC + "PROOF_GENERATION_ERROR"

    def test_it_signs_with_the_test_did_key_never_the_banks_key(self, api):
        signed = _issue(api, _credential()).json()
        did = _did(api)
        assert did.startswith("did:key:z6Mk") and signed["issuer"] == did
        assert {p["verificationMethod"] for p in signed["proof"]} == {f"{did}#{did[len('did:key:') :]}"}
        bank = api.get("/.well-known/did.json").json()
        published = {m["publicKeyMultibase"] for m in bank["verificationMethod"]}
        assert did[len("did:key:") :] not in published
        other = _refused(_issue(api, _credential(issuer=bank["id"])))
        assert other["code"] == "vc_not_this_issuer"

    def test_an_issuer_object_gets_the_test_did(self, api):
        signed = _issue(api, _credential(issuer={"name": "Example Issuer"})).json()
        assert signed["issuer"] == {"id": _did(api), "name": "Example Issuer"}

    def test_what_it_issues_verifies_with_digital_bazaar(self, api, node, tmp_path):
        signed = _issue(api, ob_credential() | {"issuer": _did(api)}).json()
        (tmp_path / "issued.json").write_text(json.dumps(signed, ensure_ascii=False), encoding="utf-8")
        run = _node(node, tmp_path, "verify-vc", str(tmp_path / "issued.json"))
        report = json.loads(run.stdout)
        assert run.returncode == 0 and report["verified"] is True, report
        assert [p["cryptosuite"] for p in report["proofs"]] == ["eddsa-rdfc-2022", "eddsa-jcs-2022"]

    @pytest.mark.parametrize(
        ("credential", "problem"),
        [
            (
                {"type": ["VerifiableCredential"], "credentialSubject": {"id": "did:example:s"}},
                "PARSING_ERROR",
            ),
            (_credential(**{"@context": ["https://www.w3.org/ns/credentials/examples/v2"]}), "PARSING_ERROR"),
            (_credential(**{"@context": [V2, 123]}), "PARSING_ERROR"),
            (_credential(**{"@context": [V2, "https ://not-a-url/v1"]}), "PARSING_ERROR"),
            (_credential(**{"@context": [V2, "https://example.com/not-bundled"]}), "PARSING_ERROR"),
            (_credential(type=["ExampleCredential"]), "MALFORMED_VALUE_ERROR"),
            (_credential(id="https ://not-a-url/1"), "MALFORMED_VALUE_ERROR"),
            (_credential(id=["urn:a", "urn:b"]), "MALFORMED_VALUE_ERROR"),
            (_credential(issuer="not-a-url"), "MALFORMED_VALUE_ERROR"),
            (_credential(issuer=None), "MALFORMED_VALUE_ERROR"),
            (_credential(credentialSubject={}), "MALFORMED_VALUE_ERROR"),
            (_credential(credentialSubject=[{"id": "did:example:s"}, {}]), "MALFORMED_VALUE_ERROR"),
            (_credential(validFrom="Sat 25 Feb 2023 07:16:31 PM CST"), "MALFORMED_VALUE_ERROR"),
            (
                _credential(validFrom="2030-01-01T00:00:00Z", validUntil="2029-01-01T00:00:00Z"),
                "RANGE_ERROR",
            ),
            (_credential(credentialStatus={"id": "urn:uuid:1"}), "MALFORMED_VALUE_ERROR"),
            (_credential(evidence={}), "MALFORMED_VALUE_ERROR"),
            (_credential(credentialSchema={"type": "JsonSchema"}), "MALFORMED_VALUE_ERROR"),
            (_credential(name={"@value": "Dog", "@language": "en", "url": "x"}), "MALFORMED_VALUE_ERROR"),
            (_credential(relatedResource=[{"id": V2}]), "MALFORMED_VALUE_ERROR"),
            (
                _credential(relatedResource=[{"id": V2, "digestSRI": "sha384-AAAA"}]),
                "CRYPTOGRAPHIC_SECURITY_ERROR",
            ),
        ],
    )
    def test_a_document_outside_the_data_model_is_refused(self, api, credential, problem):
        body = _refused(_issue(api, credential))
        assert body["type"] == VC_ERR + problem, body

    @pytest.mark.parametrize(
        "credential",
        [
            _credential(credentialSubject={"id": "did:example:s", "undefinedTerm": 1}),
            _credential(type=["VerifiableCredential", "UndefinedType"]),
            _credential(**{"@context": [V2, {"VerifiableCredential": "https://example.org/#Redefined"}]}),
        ],
    )
    def test_what_json_ld_would_drop_or_redefine_is_never_signed(self, api, credential):
        body = _refused(_issue(api, credential))
        assert body["code"] in ("vc_cannot_sign", "vc_invalid_document"), body

    def test_a_related_resource_the_bank_holds_is_checked_against_its_digest(self, api):
        import base64
        import hashlib

        from creditbank import contexts

        digest = base64.b64encode(hashlib.sha384(contexts.context_bytes(V2)).digest()).decode()
        ok = _issue(api, _credential(relatedResource=[{"id": V2, "digestSRI": f"sha384-{digest}"}]))
        assert ok.status_code == 201, ok.text


class TestVc11:
    """The Data Integrity suites' own credentials are still VC 1.1: issued (the Data Integrity context
    injected, as VC 1.1's context does not define DataIntegrityProof) and verified."""

    def test_a_vc_1_1_credential_is_issued_and_verified(self, api):
        credential = {
            "@context": [V1],
            "type": ["VerifiableCredential"],
            "issuer": _did(api),
            "issuanceDate": "2020-03-16T22:37:26.544Z",
            "credentialSubject": {"id": "did:example:s"},
        }
        issued = _issue(api, credential, cryptosuite="eddsa-rdfc-2022")
        assert issued.status_code == 201, issued.text
        assert issued.json()["@context"] == [V1, "https://w3id.org/security/data-integrity/v2"]
        r = api.post("/credentials/verify", json={"verifiableCredential": issued.json()})
        assert (r.status_code, r.json()["verified"]) == (200, True), r.text
        body = _refused(_issue(api, {k: v for k, v in credential.items() if k != "issuanceDate"}))
        assert "issuanceDate" in body["detail"]


class TestVerifyCredentials:
    def test_a_digital_bazaar_did_key_credential_verifies_and_a_tampered_one_does_not(
        self, api, node, tmp_path
    ):
        signed = _db_signed(node, tmp_path, ob_credential())
        r = api.post(
            "/credentials/verify", json={"verifiableCredential": signed, "options": {"checks": ["proof"]}}
        )
        assert (r.status_code, r.json()["verified"]) == (200, True), r.text
        tampered = copy.deepcopy(signed)
        tampered["credentialSubject"]["achievement"]["creditsAvailable"] = 20
        body = _refused(api.post("/credentials/verify", json={"verifiableCredential": tampered}))
        assert (
            body["type"] == SEC + "PROOF_VERIFICATION_ERROR" and "signature does not match" in body["detail"]
        )

    @pytest.mark.parametrize(
        ("damage", "problem"),
        [
            (lambda vc: vc.pop("proof"), "PROOF_VERIFICATION_ERROR"),
            (lambda vc: vc.__setitem__("proof", None), "PARSING_ERROR"),
            (lambda vc: vc["proof"][0].pop("verificationMethod"), "PROOF_VERIFICATION_ERROR"),
            (lambda vc: vc["proof"][0].pop("proofPurpose"), "PROOF_VERIFICATION_ERROR"),
            (
                lambda vc: vc["proof"][0].__setitem__("proofPurpose", "authentication"),
                "PROOF_VERIFICATION_ERROR",
            ),
            (lambda vc: vc["proof"][0].__setitem__("type", "UnknownProofType"), "PROOF_VERIFICATION_ERROR"),
            (
                lambda vc: vc["proof"][0].__setitem__("cryptosuite", "UnknownCryptosuite"),
                "PROOF_VERIFICATION_ERROR",
            ),
            (
                lambda vc: vc["proof"][0].__setitem__("proofValue", vc["proof"][0]["proofValue"][1:]),
                "PROOF_VERIFICATION_ERROR",
            ),
            (
                lambda vc: vc["proof"][0].__setitem__("verificationMethod", "did:key:invalidVm"),
                "PROOF_VERIFICATION_ERROR",
            ),
            (
                lambda vc: vc["proof"][0].__setitem__("expires", "2001-01-01T00:00:00Z"),
                "PROOF_VERIFICATION_ERROR",
            ),
            (
                lambda vc: vc["proof"][1].__setitem__("previousProof", "urn:uuid:missing"),
                "PROOF_VERIFICATION_ERROR",
            ),
            (
                lambda vc: vc["credentialSubject"].__setitem__("undefinedTerm", "x"),
                "DATA_LOSS_DETECTION_ERROR",
            ),
            (lambda vc: vc["type"].append("UndefinedType"), "DATA_LOSS_DETECTION_ERROR"),
        ],
    )
    def test_each_broken_proof_is_refused(self, api, node, tmp_path, damage, problem):
        signed = _db_signed(node, tmp_path, ob_credential())
        damage(signed)
        body = _refused(api.post("/credentials/verify", json={"verifiableCredential": signed}))
        assert body["type"].rsplit("#", 1)[1] == problem, body

    def test_a_proof_chain_verifies_when_every_proof_it_names_is_there(self, api, node, tmp_path):
        chain = _db_signed(node, tmp_path, ob_credential(), "sign-chain")
        assert chain["proof"][1]["previousProof"] == chain["proof"][0]["id"]
        r = api.post("/credentials/verify", json={"verifiableCredential": chain})
        assert (r.status_code, r.json()["verified"]) == (200, True), r.text
        broken = _db_signed(node, tmp_path, ob_credential(), "sign-chain", "urn:uuid:missing")
        body = _refused(api.post("/credentials/verify", json={"verifiableCredential": broken}))
        assert "urn:uuid:missing" in body["detail"]
        failing_first = copy.deepcopy(chain)
        failing_first["proof"][0]["proofValue"] = "invalidProofValue"
        _refused(api.post("/credentials/verify", json={"verifiableCredential": failing_first}))

    def test_a_chain_signed_as_the_spec_says_verifies_too(self, api):
        """Data Integrity §4 chains sign the document with the proofs they name (the W3C suite's
        fixtures do); Digital Bazaar's libraries sign without them (above). Both are accepted."""
        key = Ed25519PrivateKey.generate()
        did, vm = multikey.did_key(key.public_key()), multikey.did_key_verification_method(key.public_key())
        doc = ob_credential() | {"issuer": did}
        first = create_proof(
            doc, key, verification_method=vm, cryptosuite=RDFC, created=CREATED, options={"id": "urn:uuid:p1"}
        )
        second = create_proof(
            doc,
            key,
            verification_method=vm,
            cryptosuite=RDFC,
            created=CREATED,
            options={"previousProof": "urn:uuid:p1"},
            previous_proofs=[first],
        )
        r = api.post("/credentials/verify", json={"verifiableCredential": {**doc, "proof": [first, second]}})
        assert (r.status_code, r.json()["verified"]) == (200, True), r.text
        forged = {**second, "previousProof": "urn:uuid:p1", "created": "2024-09-02T08:00:00Z"}
        _refused(
            api.post("/credentials/verify", json={"verifiableCredential": {**doc, "proof": [first, forged]}})
        )

    def test_a_challenge_asked_for_must_be_in_the_proof(self, api, node, tmp_path):
        signed = _db_signed(node, tmp_path, ob_credential())
        body = _refused(
            api.post(
                "/credentials/verify", json={"verifiableCredential": signed, "options": {"challenge": "abc"}}
            )
        )
        assert body["type"] == SEC + "INVALID_CHALLENGE_ERROR"

    def test_input_that_is_not_a_credential_object(self, api):
        assert (
            _refused(api.post("/credentials/verify", content=b"{not json"))["type"]
            == VC_ERR + "PARSING_ERROR"
        )
        for body in (
            {},
            {"verifiableCredential": "a string"},
            {"verifiableCredential": {"type": ["NonconformingDocument"]}},
        ):
            _refused(api.post("/credentials/verify", json=body))


def _bank_certificate(api: TestClient) -> dict:
    inst = institution(api)
    outcome(api, inst)
    person = learner(api, inst)
    completion = api.post(
        "/api/v1/completions", json=completion_body(person["account_no"]), headers=inst
    ).json()
    issued = api.post(
        "/api/v1/certificates/batch",
        json={
            "items": [
                {"account_no": person["account_no"], "kind": "achievement", "completion_id": completion["id"]}
            ]
        },
        headers=OPERATOR,
    )
    assert issued.status_code == 201, issued.text
    return issued.json()[0]


class TestTheBanksOwnCredentials:
    def test_a_bank_certificate_verifies_until_it_is_revoked(self, api):
        cert = _bank_certificate(api)
        assert cert["credential"]["issuer"]["id"].startswith("did:web:credit.example.edu.cn")
        r = api.post("/credentials/verify", json={"verifiableCredential": cert["credential"]})
        assert (r.status_code, r.json()["verified"]) == (200, True), r.text
        api.post(f"/api/v1/certificates/{cert['id']}/revoke", json={"reason": "登记错误"}, headers=OPERATOR)
        body = _refused(api.post("/credentials/verify", json={"verifiableCredential": cert["credential"]}))
        assert body["code"] == "vc_revoked"

    def test_a_proof_past_its_work_budget_is_refused_not_a_500(self, api, monkeypatch):
        # A loaded machine once ran the bank's own transcript past the 2 s budget inside the proof
        # check, which had no answer for it: 500. The check itself is forced over budget here.
        from creditbank.kit import jsonld
        from creditbank.vcapi import service

        cert = _bank_certificate(api)

        def over_budget(*args: Any, **kwargs: Any) -> Any:
            raise jsonld.WorkBudgetExceeded(2.0)

        monkeypatch.setattr(service, "verify_proof", over_budget)
        body = _refused(api.post("/credentials/verify", json={"verifiableCredential": cert["credential"]}))
        assert body["code"] == "vc_too_costly"

    def test_another_did_web_is_not_resolved(self, api):
        cert = _bank_certificate(api)
        forged = copy.deepcopy(cert["credential"])
        for proof in forged["proof"]:
            proof["verificationMethod"] = proof["verificationMethod"].replace(
                "credit.example.edu.cn", "evil.example"
            )
        body = _refused(api.post("/credentials/verify", json={"verifiableCredential": forged}))
        assert "unknown verification method" in body["detail"]


class TestVerifyPresentations:
    def _presentation(self, node, tmp_path, challenge="u-challenge-123", domain="verifier.example"):
        document = {
            "@context": [V2],
            "type": ["VerifiablePresentation"],
            "verifiableCredential": [ob_credential()],
        }
        return _db_signed(node, tmp_path, document, "sign-vp", challenge, domain)

    def test_a_signed_presentation_with_the_challenge_and_domain_verifies(self, api, node, tmp_path):
        vp = self._presentation(node, tmp_path)
        options = {"challenge": "u-challenge-123", "domain": "verifier.example"}
        r = api.post("/presentations/verify", json={"verifiablePresentation": vp, "options": options})
        assert (r.status_code, r.json().get("verified")) == (200, True), r.text

    def test_a_garbage_collection_during_the_check_does_not_refuse_it(self, api, monkeypatch):
        # The test above failed once in a full CI run. Reproduced (1 in ~300 fresh apps): 422
        # vc_too_costly, the 2 s JSON-LD budget charged with a full garbage collection of the test
        # process (6 s CPU) that the 10 ms check of this very presentation happened to set off.
        # Here a collection of fixed cost is forced while the check loads its first context.
        vp = json.loads(DB_PRESENTATION.read_text(encoding="utf-8"))
        loader = api.app.state.vcapi.loader
        load = loader.load
        options = {"challenge": "u-challenge-123", "domain": "verifier.example"}
        with costly_collections(monkeypatch) as collect:

            def collecting(url: str) -> Any:
                collect()
                return load(url)

            monkeypatch.setattr(loader, "load", collecting)
            r = api.post("/presentations/verify", json={"verifiablePresentation": vp, "options": options})
        assert (r.status_code, r.json().get("verified")) == (200, True), r.text

    @pytest.mark.parametrize(
        ("options", "problem"),
        [
            ({"challenge": "another", "domain": "verifier.example"}, "INVALID_CHALLENGE_ERROR"),
            ({"challenge": "u-challenge-123", "domain": "elsewhere.example"}, "INVALID_DOMAIN_ERROR"),
        ],
    )
    def test_another_challenge_or_domain_is_refused(self, api, node, tmp_path, options, problem):
        vp = self._presentation(node, tmp_path)
        body = _refused(
            api.post("/presentations/verify", json={"verifiablePresentation": vp, "options": options})
        )
        assert body["type"] == SEC + problem

    def test_a_tampered_credential_inside_is_refused(self, api, node, tmp_path):
        vp = self._presentation(node, tmp_path)
        vp["verifiableCredential"][0]["credentialSubject"]["achievement"]["name"] = "改过的课程"
        options = {"challenge": "u-challenge-123", "domain": "verifier.example"}
        _refused(api.post("/presentations/verify", json={"verifiablePresentation": vp, "options": options}))

    def test_an_unsigned_presentation(self, api):
        vp = {"@context": [V2], "type": ["VerifiablePresentation"]}
        r = api.post("/presentations/verify", json={"verifiablePresentation": vp})
        assert r.status_code == 200 and r.json()["warnings"], r.text
        body = _refused(
            api.post(
                "/presentations/verify", json={"verifiablePresentation": vp, "options": {"challenge": "c"}}
            )
        )
        assert body["type"] == SEC + "INVALID_CHALLENGE_ERROR"

    @pytest.mark.parametrize(
        "vp",
        [
            {"@context": [V2]},
            {"type": ["VerifiablePresentation"]},
            {
                "@context": ["https://www.w3.org/ns/credentials/examples/v2", V2],
                "type": ["VerifiablePresentation"],
            },
            {
                "@context": [V2],
                "type": ["VerifiablePresentation"],
                "verifiableCredential": ["eyJhbGciOi.a.b"],
            },
            {"@context": [V2], "type": ["VerifiablePresentation"], "holder": "z6MkNotAUrl"},
        ],
    )
    def test_a_presentation_outside_the_data_model_is_refused(self, api, vp):
        _refused(api.post("/presentations/verify", json={"verifiablePresentation": vp}))
