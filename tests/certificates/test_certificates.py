"""Certificates as a learner, an employer and an operator meet them."""

from __future__ import annotations

import copy
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from creditbank.certificates import shapes
from creditbank.cli import app as cli
from creditbank.kit import qrcodes, statuslist
from creditbank.kit.dataintegrity import sign_proof_set
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome, signed_in


@pytest.fixture
def world(client):
    inst = institution(client)
    outcome(client, inst)
    outcome(
        client,
        inst,
        "YC-BAMBOO",
        title_zh="楠竹工艺画",
        title_en="Bamboo craft painting",
        category="culture_leisure",
        level=1,
        credits=1,
    )
    person = learner(client, inst, name="张桂兰")
    first = client.post(
        "/api/v1/completions", json=completion_body(person["account_no"]), headers=inst
    ).json()
    second = client.post(
        "/api/v1/completions", json=completion_body(person["account_no"], "YC-BAMBOO"), headers=inst
    ).json()
    return {
        "inst": inst,
        "learner": signed_in(client, person),
        "person": person,
        "completions": [first, second],
    }


def issue(client, world, kind="achievement", index=0) -> dict:
    body = {"kind": kind} | (
        {"completion_id": world["completions"][index]["id"]} if kind == "achievement" else {}
    )
    response = client.post("/api/v1/me/certificates", json=body, headers=world["learner"])
    assert response.status_code == 201, response.text
    return response.json()


def verify_json(client, credential: dict) -> dict:
    return client.post("/api/v1/verify", json={"credential": credential}).json()


def oks(verdict: dict) -> dict:
    return {name: check["ok"] for name, check in verdict["checks"].items()}


class TestIssue:
    def test_achievement_is_an_open_badge_with_both_proofs(self, client, world):
        cert = issue(client, world)
        credential = cert["credential"]
        assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
        assert credential["credentialSubject"]["achievement"]["creditsAvailable"] == 1.5
        assert credential["credentialSubject"]["creditsEarned"] == 1.5
        assert sorted(p["cryptosuite"] for p in credential["proof"]) == ["eddsa-jcs-2022", "eddsa-rdfc-2022"]
        assert credential["credentialStatus"]["type"] == "BitstringStatusListEntry"
        assert shapes.problems("achievement", credential) == []
        assert cert["verify_url"].startswith(f"http://127.0.0.1:8000/v/{cert['id']}#CB1.")
        assert "张桂兰" in json.dumps(credential, ensure_ascii=False)

    def test_transcript_is_a_clr_with_every_line(self, client, world):
        cert = issue(client, world, "transcript")
        credential = cert["credential"]
        assert credential["type"] == ["VerifiableCredential", "ClrCredential"]
        inner = credential["credentialSubject"]["verifiableCredential"]
        assert sorted(c["credentialSubject"]["creditsEarned"] for c in inner) == [1, 1.5]
        assert shapes.problems("transcript", credential) == []
        assert oks(verify_json(client, credential))["signature"] is True

    def test_someone_elses_completion_is_not_found(self, client, world):
        other = learner(client, world["inst"], name="李建国")
        theirs = client.post(
            "/api/v1/completions", json=completion_body(other["account_no"]), headers=world["inst"]
        ).json()
        r = client.post(
            "/api/v1/me/certificates",
            json={"kind": "achievement", "completion_id": theirs["id"]},
            headers=world["learner"],
        )
        assert r.status_code == 404 and r.json()["code"] == "completion_not_found"

    def test_institution_batch_issue_only_for_its_own(self, client, world):
        body = {
            "items": [
                {
                    "account_no": world["person"]["account_no"],
                    "kind": "achievement",
                    "completion_id": world["completions"][0]["id"],
                }
            ]
        }
        assert client.post("/api/v1/certificates/batch", json=body, headers=world["inst"]).status_code == 201
        stranger = institution(client, "XDCEC", "新都社区教育学院")
        r = client.post("/api/v1/certificates/batch", json=body, headers=stranger)
        assert r.status_code == 404


class TestVerify:
    def test_valid_by_id_and_by_json(self, client, world):
        cert = issue(client, world)
        by_id = client.get(f"/api/v1/verify/{cert['id']}").json()
        assert by_id["valid"] is True and by_id["verdict"] == "valid"
        assert oks(by_id) == {
            "signature": True,
            "issuer_key": True,
            "integrity": True,
            "status": True,
            "log_inclusion": True,
        }
        assert by_id["certificate"]["learner_name"] == "张桂兰"
        assert verify_json(client, cert["credential"])["valid"] is True

    @pytest.mark.parametrize(
        "tamper",
        [
            lambda c: c["credentialSubject"]["identifier"][0].update(identityHash="张桂芳"),
            lambda c: c["credentialSubject"].update(creditsEarned=2.5),
            lambda c: c["credentialSubject"].update(activityEndDate="2026-03-02T00:00:00Z"),
            lambda c: c["credentialSubject"]["achievement"].update(name="居民用电安全（高级）"),
        ],
        ids=["name", "credits", "date", "title"],
    )
    def test_one_changed_character_is_caught(self, client, world, tamper):
        credential = issue(client, world)["credential"]
        tamper(credential)
        verdict = verify_json(client, credential)
        assert verdict["valid"] is False and verdict["verdict"] == "invalid"
        assert oks(verdict)["signature"] is False and oks(verdict)["integrity"] is False

    def test_swapped_proof_fails(self, client, world):
        first = issue(client, world, index=0)["credential"]
        second = issue(client, world, index=1)["credential"]
        first["proof"] = second["proof"]
        assert oks(verify_json(client, first))["signature"] is False

    def test_proof_by_an_unknown_key_fails(self, client, world):
        credential = issue(client, world)["credential"]
        method = credential["proof"][0]["verificationMethod"]
        forged = sign_proof_set(
            {k: v for k, v in credential.items() if k != "proof"},
            Ed25519PrivateKey.generate(),
            verification_method=method.split("#")[0] + "#key-20260101-abcdef",
            created="2026-11-01T00:00:00Z",
        )
        verdict = verify_json(client, forged)
        assert verdict["valid"] is False and oks(verdict)["issuer_key"] is False

    def test_retired_key_still_verifies(self, client, world):
        cert = issue(client, world)
        assert client.post("/api/v1/keys/rotate", headers=OPERATOR).status_code == 200
        verdict = client.get(f"/api/v1/verify/{cert['id']}").json()
        assert verdict["valid"] is True and "retired" in verdict["checks"]["issuer_key"]["detail"]
        newer = issue(client, world, index=1)
        assert (
            newer["credential"]["proof"][0]["verificationMethod"]
            != cert["credential"]["proof"][0]["verificationMethod"]
        )
        did = client.get("/.well-known/did.json").json()
        assert len(did["verificationMethod"]) == 2 and len(did["assertionMethod"]) == 2

    def test_compromised_key_invalidates_what_it_signed_after(self, client, world):
        from datetime import timedelta

        from creditbank.kit import clock

        before = issue(client, world)
        kid = before["credential"]["proof"][0]["verificationMethod"].split("#")[1]
        client.app.state.issuer.keys.mark_compromised(kid, clock.now() + timedelta(seconds=-3600))
        verdict = client.get(f"/api/v1/verify/{before['id']}").json()
        assert verdict["valid"] is False and oks(verdict)["issuer_key"] is False
        client.app.state.issuer.keys.rotate()
        safe = issue(client, world, index=1)
        assert client.get(f"/api/v1/verify/{safe['id']}").json()["valid"] is True

    def test_compromise_time_after_signing_keeps_it_valid(self, client, world):
        from datetime import timedelta

        from creditbank.kit import clock

        cert = issue(client, world)
        kid = cert["credential"]["proof"][0]["verificationMethod"].split("#")[1]
        client.app.state.issuer.keys.mark_compromised(kid, clock.now() + timedelta(days=1))
        assert client.get(f"/api/v1/verify/{cert['id']}").json()["valid"] is True

    def test_revoked_shows_reason_and_flips_the_status_bit(self, client, world):
        cert = issue(client, world)
        r = client.post(
            f"/api/v1/certificates/{cert['id']}/revoke", json={"reason": "证书信息有误"}, headers=OPERATOR
        )
        assert r.status_code == 200
        verdict = client.get(f"/api/v1/verify/{cert['id']}").json()
        assert verdict["verdict"] == "revoked" and verdict["valid"] is False
        assert "证书信息有误" in verdict["checks"]["status"]["detail"]
        entry = cert["credential"]["credentialStatus"]
        list_credential = client.get(
            f"/api/v1/status-lists/{entry['statusListCredential'].rsplit('/', 1)[1]}"
        ).json()
        bits = statuslist.decode(list_credential["credentialSubject"]["encodedList"])
        assert statuslist.get_bit(bits, int(entry["statusListIndex"])) is True
        assert len(bits) * 8 >= 131072
        assert oks(verify_json(client, list_credential))["signature"] is True

    def test_revoking_the_completion_revokes_its_certificates(self, client, world):
        cert = issue(client, world)
        transcript = issue(client, world, "transcript")
        client.post(
            f"/api/v1/completions/{world['completions'][0]['id']}/revoke",
            json={"reason": "登记错误"},
            headers=world["inst"],
        )
        for certificate_id in (cert["id"], transcript["id"]):
            verdict = client.get(f"/api/v1/verify/{certificate_id}").json()
            assert verdict["verdict"] == "revoked", certificate_id

    def test_unknown_certificate_is_404(self, client):
        r = client.get("/api/v1/verify/crt_doesnotexist")
        assert r.status_code == 404 and r.json()["code"] == "certificate_not_found"


class TestPdf:
    def test_pdf_round_trip_through_a_real_qr_decoder(self, client, world, tmp_path):
        cert = issue(client, world)
        pdf = client.get(f"/api/v1/certificates/{cert['id']}.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert qrcodes.decode_qr_pdf(pdf.content, dpi=150) == [cert["verify_url"]]
        assert qrcodes.qr_version(cert["verify_url"]) <= 25
        uploaded = client.post(
            "/api/v1/verify", content=pdf.content, headers={"Content-Type": "application/pdf"}
        ).json()
        assert uploaded["valid"] is True and uploaded["source"] == "pdf"
        # Offline, with only the bank's published keys:
        (tmp_path / "cert.pdf").write_bytes(pdf.content)
        (tmp_path / "keys.json").write_text(json.dumps(client.get("/api/v1/keys").json()))
        result = CliRunner().invoke(
            cli, ["verify", str(tmp_path / "cert.pdf"), "--offline", "--keys", str(tmp_path / "keys.json")]
        )
        assert result.exit_code == 3, result.output  # genuine; revocation not checked offline
        assert "签名真实" in result.output

    def test_pdf_whose_attachment_and_qr_disagree_is_invalid(self, client, world, tmp_path):
        first, second = issue(client, world, index=0), issue(client, world, index=1)
        printer = client.app.state.printer
        from creditbank.certificates.models import Certificate

        with client.app.state.db.reader() as session:
            a, b = session.get(Certificate, first["id"]), session.get(Certificate, second["id"])
            mixed = printer.renderer.render(printer.view(b), credential_json=a.credential_json.encode())
        verdict = client.post(
            "/api/v1/verify", content=mixed, headers={"Content-Type": "application/pdf"}
        ).json()
        assert verdict["valid"] is False and oks(verdict)["integrity"] is False
        (tmp_path / "mixed.pdf").write_bytes(mixed)
        (tmp_path / "did.json").write_text(json.dumps(client.get("/.well-known/did.json").json()))
        result = CliRunner().invoke(
            cli, ["verify", str(tmp_path / "mixed.pdf"), "--offline", "--keys", str(tmp_path / "did.json")]
        )
        assert result.exit_code == 1, result.output

    def test_qr_photo_and_payload_verify(self, client, world):
        cert = issue(client, world)
        import io

        buffer = io.BytesIO()
        qrcodes.make(cert["verify_url"]).save(buffer, kind="png", scale=4)
        photo = client.post(
            "/api/v1/verify", content=buffer.getvalue(), headers={"Content-Type": "image/png"}
        ).json()
        assert photo["valid"] is True and photo["source"] == "image"
        by_url = client.post("/api/v1/verify", json={"url": cert["verify_url"]}).json()
        assert by_url["valid"] is True

    def test_tampered_qr_payload_fails(self, client, world):
        cert = issue(client, world)
        url = cert["verify_url"]
        head, _, sig = url.rpartition(".")
        flipped = head + "." + ("A" if sig[0] != "A" else "B") + sig[1:]
        verdict = client.post("/api/v1/verify", json={"url": flipped}).json()
        assert verdict["valid"] is False and oks(verdict)["signature"] is False

    def test_cli_exit_codes(self, client, world, tmp_path):
        cert = issue(client, world)
        keys = tmp_path / "keys.json"
        keys.write_text(json.dumps(client.get("/api/v1/keys").json()))
        ok = CliRunner().invoke(cli, ["verify", cert["verify_url"], "--offline", "--keys", str(keys)])
        assert ok.exit_code == 3, ok.output  # genuine; revocation not checked without --status-list
        forged = copy.deepcopy(cert["credential"])
        forged["credentialSubject"]["creditsEarned"] = 9
        (tmp_path / "forged.json").write_text(json.dumps(forged, ensure_ascii=False))
        bad = CliRunner().invoke(
            cli, ["verify", str(tmp_path / "forged.json"), "--offline", "--keys", str(keys)]
        )
        assert bad.exit_code == 1
        (tmp_path / "junk.bin").write_bytes(b"\x00\x01 not a certificate")
        junk = CliRunner().invoke(
            cli, ["verify", str(tmp_path / "junk.bin"), "--offline", "--keys", str(keys)]
        )
        assert junk.exit_code == 2


class TestPublishedKeys:
    def test_did_document_and_jwks(self, client, world):
        issue(client, world)
        did = client.get("/.well-known/did.json")
        assert did.headers["content-type"].startswith("application/did+json")
        body = did.json()
        assert body["id"] == "did:web:127.0.0.1%3A8000"
        assert body["verificationMethod"][0]["type"] == "Multikey"
        assert body["assertionMethod"] == [body["verificationMethod"][0]["id"]]
        jwks = client.get("/.well-known/jwks.json").json()
        assert jwks["keys"][0]["kty"] == "OKP" and jwks["keys"][0]["crv"] == "Ed25519"
