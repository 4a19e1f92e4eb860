"""An employer saved the bank's keys (curl /api/v1/keys > bank-keys.json); the bank rotated its key
since, and a certificate signed with the new key is verified offline with the old file. The file
cannot say anything about that signature: the verdict says the key is missing from the file and
where to download the keys again — never "tampered", and an exit code of its own (5)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from creditbank.cli import app as cli
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome, signed_in
from tests.verification.test_what_a_verifier_holds import flat


def run(*args: str):
    return CliRunner().invoke(cli, ["verify", *args])


@pytest.fixture
def after_rotation(client, tmp_path):
    """bank-keys.json saved before a rotation; the learner's transcript PDF (and its credential)
    issued after it."""
    inst = institution(client)
    outcome(client, inst)
    person = learner(client, inst)
    client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst)
    me = signed_in(client, person)
    old = client.post("/api/v1/me/certificates", json={"kind": "transcript"}, headers=me).json()
    (tmp_path / "bank-keys.json").write_bytes(client.get("/api/v1/keys").content)
    rotated = client.post("/api/v1/keys/rotate", headers=OPERATOR)
    assert rotated.status_code == 200, rotated.text
    # Sealed when downloaded: the certificate signed before the rotation, its PDF sealed after.
    old_pdf = client.get(f"/api/v1/certificates/{old['id']}.pdf", headers=me)
    (tmp_path / "old.pdf").write_bytes(old_pdf.content)
    new = client.post("/api/v1/me/certificates", json={"kind": "transcript"}, headers=me)
    assert new.status_code == 201, new.text
    pdf = client.get(f"/api/v1/certificates/{new.json()['id']}.pdf", headers=me)
    assert pdf.status_code == 200
    (tmp_path / "new.pdf").write_bytes(pdf.content)
    (tmp_path / "new.json").write_text(json.dumps(new.json()["credential"], ensure_ascii=False))
    (tmp_path / "fresh-keys.json").write_bytes(client.get("/api/v1/keys").content)
    return tmp_path, new.json(), rotated.json()["kid"]


def test_a_certificate_signed_after_the_keys_were_saved_is_not_called_tampered(after_rotation):
    folder, _, kid = after_rotation
    result = run(str(folder / "new.pdf"), "--offline", "--keys", str(folder / "bank-keys.json"))
    out = flat(result.output)
    assert result.exit_code == 5, result.output
    assert "篡改" not in out and "tampered" not in out and "INVALID" not in out
    assert f"密钥 {kid}" in out and f"key {kid}" in out
    assert "无法核验：密钥文件中没有签名密钥" in out and "THE KEY FILE LACKS THE SIGNING KEY" in out
    assert f"curl -s http://127.0.0.1:8000/api/v1/keys > {folder / 'bank-keys.json'}" in out
    assert "✗" not in out


def test_the_credential_json_alone_says_the_same(after_rotation):
    folder, _, kid = after_rotation
    result = run(str(folder / "new.json"), "--offline", "--keys", str(folder / "bank-keys.json"))
    assert result.exit_code == 5, result.output
    assert f"does not have the signing key {kid}" in flat(result.output)
    assert "篡改" not in result.output


def test_an_old_certificates_pdf_sealed_after_the_rotation_is_not_called_changed(after_rotation):
    """Signed with the saved key, sealed with the new one: the seal cannot be checked either."""
    folder, _, kid = after_rotation
    result = run(str(folder / "old.pdf"), "--offline", "--keys", str(folder / "bank-keys.json"))
    out = flat(result.output)
    assert result.exit_code == 5, result.output
    assert "✓ signature" in out and f"the key file lacks its key {kid}" in out
    assert "changed after the bank issued it" not in out and "INVALID" not in out


def test_with_the_keys_downloaded_again_both_are_genuine(after_rotation):
    folder, _, _ = after_rotation
    for name in ("new.pdf", "old.pdf"):
        result = run(str(folder / name), "--offline", "--keys", str(folder / "fresh-keys.json"))
        assert result.exit_code == 3, result.output
        assert "SIGNATURE GENUINE" in result.output


def test_a_changed_certificate_is_still_invalid_whatever_the_key_file(after_rotation):
    """The attachment and the QR of a PDF disagree: a forgery, key file or not."""
    folder, certificate, _ = after_rotation
    forged = dict(certificate["credential"], id=certificate["credential"]["id"] + "x")
    (folder / "forged.json").write_text(json.dumps(forged, ensure_ascii=False))
    result = run(str(folder / "forged.json"), "--offline", "--keys", str(folder / "fresh-keys.json"))
    assert result.exit_code == 1 and "无效 INVALID" in result.output, result.output


def test_the_exit_code_is_documented_in_help():
    result = CliRunner().invoke(cli, ["verify", "--help"], env={"COLUMNS": "200"})
    assert "5 the --keys file lacks the key that signed" in flat(result.output)


def test_the_bank_says_a_key_it_never_published_is_not_its_own_not_that_bytes_changed(client, after_rotation):
    """Online the bank knows every key it ever had: an unknown key is a failure — worded as what it is."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from creditbank.kit.dataintegrity import sign_proof_set

    _, certificate, _ = after_rotation
    credential = certificate["credential"]
    method = credential["proof"][0]["verificationMethod"]
    forged = sign_proof_set(
        {k: v for k, v in credential.items() if k != "proof"},
        Ed25519PrivateKey.generate(),
        verification_method=method.split("#")[0] + "#key-20260101-abcdef",
        created="2026-11-01T00:00:00Z",
    )
    verdict = client.post("/api/v1/verify", json={"credential": forged}).json()
    assert verdict["verdict"] == "invalid"
    assert verdict["checks"]["signature"]["ok"] is False and verdict["checks"]["issuer_key"]["ok"] is False
    assert "篡改" not in verdict["checks"]["signature"]["detail"]
    assert "a key the bank never published" in verdict["checks"]["signature"]["detail"]
