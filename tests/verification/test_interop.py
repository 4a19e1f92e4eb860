"""Interoperability with Digital Bazaar's JavaScript Verifiable Credentials stack.

tests/interop is a small Node project pinned by package-lock.json: @digitalbazaar/vc,
@digitalbazaar/data-integrity, @digitalbazaar/eddsa-rdfc-2022-cryptosuite,
@digitalbazaar/eddsa-jcs-2022-cryptosuite and @digitalbazaar/ed25519-multikey, with an offline
document loader that serves the same creditbank/contexts files and the issuer's DID document.

* credentials signed here (both proofs) verify with Digital Bazaar's verifier;
* credentials signed by Digital Bazaar (both proofs) verify here.

Needs `node` and tests/interop/node_modules; the latter is installed on demand by
scripts/setup-interop.sh (`npm ci`, idempotent). Skipped, loudly, only if that is impossible.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from creditbank import contexts
from creditbank.kit import multikey
from creditbank.kit.dataintegrity import JCS, RDFC, sign_proof_set, verify_proof_set
from tests.kit.test_dataintegrity import CREATED, ISSUER, VM, ob_credential

ROOT = Path(__file__).resolve().parents[2]
INTEROP = ROOT / "tests" / "interop"
SETUP = ROOT / "scripts" / "setup-interop.sh"


@pytest.fixture(scope="module")
def node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("INTEROP NOT TESTED: `node` is not installed (Digital Bazaar checks need Node 20+)")
    setup = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=600, check=False)
    if not (INTEROP / "node_modules" / "@digitalbazaar" / "vc").is_dir():
        pytest.skip(
            "INTEROP NOT TESTED: tests/interop/node_modules is missing and "
            f"scripts/setup-interop.sh could not install it:\n{setup.stdout}{setup.stderr}"
        )
    return node


def did_document(public: Ed25519PublicKey) -> dict[str, Any]:
    method = multikey.multikey_document(public, id=VM, controller=ISSUER)
    return {
        "@context": [contexts.DID_V1, contexts.MULTIKEY_V1],
        "id": ISSUER,
        "verificationMethod": [method],
        "assertionMethod": [VM],
    }


def resolver_from(did_doc: dict[str, Any]):
    """Trusted keys from a DID document we were handed (as a did:web resolver would)."""
    keys = {
        m["id"]: multikey.public_key_from_multibase(m["publicKeyMultibase"])
        for m in did_doc["verificationMethod"]
        if m["id"] in did_doc.get("assertionMethod", [])
    }
    return keys.get


def db_verify(node: str, tmp_path: Path, credential: dict, did_doc: dict) -> tuple[int, dict]:
    cred_file = tmp_path / "credential.json"
    did_file = tmp_path / "did.json"
    cred_file.write_text(json.dumps(credential, ensure_ascii=False), encoding="utf-8")
    did_file.write_text(json.dumps(did_doc), encoding="utf-8")
    run = subprocess.run(
        [node, str(INTEROP / "verify.mjs"), str(cred_file), str(did_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=INTEROP,
    )
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"verify.mjs printed no JSON:\n{run.stdout}\n{run.stderr}") from None
    return run.returncode, report


def db_sign(node: str, tmp_path: Path, unsigned: dict) -> subprocess.CompletedProcess[str]:
    (tmp_path / "unsigned.json").write_text(json.dumps(unsigned, ensure_ascii=False), encoding="utf-8")
    return subprocess.run(
        [
            node,
            str(INTEROP / "sign.mjs"),
            str(tmp_path / "unsigned.json"),
            str(tmp_path / "signed.json"),
            str(tmp_path / "signed.did.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=INTEROP,
    )


def clr_credential(key: Ed25519PrivateKey) -> dict[str, Any]:
    """A CLR 2.0 credential embedding a signed Open Badge (named graphs for the inner proofs)."""
    badge = sign_proof_set(ob_credential(), key, verification_method=VM, created=CREATED)
    achievement = badge["credentialSubject"]["achievement"]
    return {
        "@context": [contexts.VC_V2, contexts.CLR_V2P0, contexts.OB_V3P0],
        "id": "urn:uuid:0b6f1c0e-6a3e-4f7a-b0c5-0f0e7a3c9d11",
        "type": ["VerifiableCredential", "ClrCredential"],
        "name": "学习成果档案",
        "issuer": {"id": ISSUER, "type": ["Profile"], "name": "示例学分银行"},
        "validFrom": "2024-09-01T00:00:00Z",
        "credentialSubject": {
            "id": "did:example:learner-7c1e",
            "type": ["ClrSubject"],
            "achievement": [achievement],
            "verifiableCredential": [badge],
        },
    }


def _special_characters() -> dict[str, Any]:
    doc = ob_credential()
    achievement = doc["credentialSubject"]["achievement"]
    achievement["description"] = 'tab\tbs\bff\f\x01\x7f "quoted" back\\slash 🎓 𠮷 ，中文\r\n'
    achievement["creditsAvailable"] = 0.5
    achievement["tag"] = ["𠮷", "中文", "emoji 🎓"]
    del doc["id"]  # the credential itself becomes a blank node
    return doc


CASES = {
    "open-badge": lambda key: ob_credential(),
    "special-characters": lambda key: _special_characters(),
    "clr-embedding-a-badge": clr_credential,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_python_signed_credential_verifies_with_digital_bazaar(case: str, node: str, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    signed = sign_proof_set(CASES[case](key), key, verification_method=VM, created=CREATED)
    assert all(c.ok for c in verify_proof_set(signed, resolver_from(did_document(key.public_key()))))

    status, report = db_verify(node, tmp_path, signed, did_document(key.public_key()))
    per_suite = {p["cryptosuite"]: (p["verified"], p["error"]) for p in report["proofs"]}
    assert per_suite == {RDFC: (True, None), JCS: (True, None)}, report
    assert status == 0 and report["verified"] is True


def test_digital_bazaar_rejects_a_tampered_python_credential(node: str, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    signed = sign_proof_set(ob_credential(), key, verification_method=VM, created=CREATED)
    signed["credentialSubject"]["achievement"]["name"] = "Python 程序设讦"
    status, report = db_verify(node, tmp_path, signed, did_document(key.public_key()))
    assert status == 1 and report["verified"] is False
    assert [p["verified"] for p in report["proofs"]] == [False, False]


def test_digital_bazaar_signed_credential_verifies_with_ours(node: str, tmp_path: Path) -> None:
    run = db_sign(node, tmp_path, ob_credential())
    assert run.returncode == 0, run.stderr
    signed = json.loads((tmp_path / "signed.json").read_text(encoding="utf-8"))
    did_doc = json.loads((tmp_path / "signed.did.json").read_text(encoding="utf-8"))
    assert [p["cryptosuite"] for p in signed["proof"]] == [RDFC, JCS]

    checks = verify_proof_set(signed, resolver_from(did_doc))
    assert [(c.cryptosuite, c.verification_method, c.ok, c.reason) for c in checks] == [
        (RDFC, VM, True, None),
        (JCS, VM, True, None),
    ]
    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["achievement"]["creditsAvailable"] = 20.0
    assert [c.ok for c in verify_proof_set(tampered, resolver_from(did_doc))] == [False, False]


def test_both_sides_refuse_undefined_terms(node: str, tmp_path: Path) -> None:
    run = db_sign(node, tmp_path, ob_credential(foo="not in any context"))
    assert run.returncode != 0
    assert "safe mode" in run.stderr.lower() or "invalid property" in run.stderr.lower(), run.stderr
