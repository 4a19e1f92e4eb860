"""W3C Data Integrity (eddsa-rdfc-2022 / eddsa-jcs-2022) signing layer.

The W3C vectors are in tests/vectors/vc-di-eddsa (see tests/vectors/README.md for the source).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import socket
import statistics
import time
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from creditbank import contexts
from creditbank.kit import jsonld, multikey
from creditbank.kit.dataintegrity import (
    JCS,
    RDFC,
    ProofCheck,
    ProofError,
    UndefinedTermError,
    create_proof,
    sign_proof_set,
    verify_proof,
    verify_proof_set,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
EDDSA = VECTORS / "vc-di-eddsa"
EXAMPLES_V2 = "https://www.w3.org/ns/credentials/examples/v2"

ISSUER = "did:web:example.org"
VM = f"{ISSUER}#key-1"
CREATED = "2024-09-01T08:00:00Z"


def _text(path: str) -> str:
    return (EDDSA / path).read_text(encoding="utf-8")


def _json(path: str) -> Any:
    return json.loads(_text(path))


@pytest.fixture(scope="module")
def vector_loader() -> jsonld.DocumentLoader:
    examples = json.loads((VECTORS / "credentials-examples-v2.jsonld").read_text())
    return jsonld.DocumentLoader({EXAMPLES_V2: examples})


@pytest.fixture(scope="module")
def vector_key() -> Ed25519PrivateKey:
    return multikey.private_key_from_multibase(_json("keyPair.json")["privateKeyMultibase"])


def ob_credential(**subject_overrides: Any) -> dict[str, Any]:
    """A typical creditbank Open Badges 3.0 credential (one course, with credits)."""
    achievement = {
        "id": "urn:uuid:1f6c7b7e-9d7e-4f0a-8a8e-3b1f0f7a6c55",
        "type": ["Achievement"],
        "achievementType": "Course",
        "name": "Python 程序设计",
        "description": "32 学时，含上机实验。",
        "criteria": {"narrative": "期末考试成绩合格（60 分及以上）。"},
        "creditsAvailable": 2.0,
    }
    subject = {
        "id": "did:example:learner-7c1e",
        "type": ["AchievementSubject"],
        "achievement": achievement,
        **subject_overrides,
    }
    return {
        "@context": [contexts.VC_V2, contexts.OB_V3P0],
        "id": "urn:uuid:8c0f6a4e-3d5b-4b8e-9a51-0e7c1f2d9b01",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": "Python 程序设计 — 学分认定",
        "issuer": {"id": ISSUER, "type": ["Profile"], "name": "示例学分银行"},
        "validFrom": "2024-09-01T00:00:00Z",
        "credentialSubject": subject,
    }


@pytest.fixture(scope="module")
def issuer_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def signed(issuer_key: Ed25519PrivateKey) -> dict[str, Any]:
    return sign_proof_set(ob_credential(), issuer_key, verification_method=VM, created=CREATED)


def _resolver(key: Ed25519PrivateKey, vm: str = VM):
    public = key.public_key()
    return lambda url: public if url == vm else None


# ---------------------------------------------------------------------------------------------
# bundled contexts and the offline loader

EXPECTED_CONTEXT_SHA256 = {
    "https://www.w3.org/ns/credentials/v2": "59955ced6697d61e03f2b2556febe5308ab16842846f5b586d7f1f7adec92734",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json": "ef2fa9c7846dce233cc166b43639027278be4ee44f00bb1d45c75de2dd0cd761",
    "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json": "880f1902d4158f2f33ce06af41b90719977cd1ea337a9de2e41edb3ff5e543d6",
    "https://w3id.org/security/data-integrity/v2": "0f77743daf5b4e8fc067fc5ba5b21044283053aa717fc6b0219843bed3b00363",
    "https://w3id.org/security/multikey/v1": "c5f3806f8286920573221938917988a18a4cc5a09e968d29649613c7a1c2b1f6",
    "https://www.w3.org/ns/did/v1": "62c1054bf404d6dd3a4b26b64f830fd72095f6a26edc4469908c94351352ce5f",
}


def test_bundled_contexts_are_the_recorded_files() -> None:
    assert dict(contexts.INDEX).keys() == EXPECTED_CONTEXT_SHA256.keys()
    readme = (Path(contexts.__file__).parent / "README.md").read_text()
    for url, digest in EXPECTED_CONTEXT_SHA256.items():
        assert hashlib.sha256(contexts.context_bytes(url)).hexdigest() == digest, url
        assert digest in readme and url in readme
        assert "@context" in contexts.load(url)


def test_loader_refuses_unbundled_contexts() -> None:
    doc = ob_credential()
    doc["@context"] = [*doc["@context"], "https://w3id.org/vc/status-list/2021/v1"]
    with pytest.raises(contexts.ContextNotBundledError, match=r"status-list/2021/v1.*never fetched"):
        jsonld.canonize(doc)
    with pytest.raises(contexts.ContextNotBundledError):
        jsonld.default_loader()("https://example.org/anything")


def test_canonicalisation_never_touches_the_network(
    monkeypatch: pytest.MonkeyPatch, issuer_key: Ed25519PrivateKey
) -> None:
    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    fresh = jsonld.DocumentLoader()  # nothing cached: every context is loaded through it
    doc = sign_proof_set(
        ob_credential(), issuer_key, verification_method=VM, created=CREATED, document_loader=fresh
    )
    assert all(c.ok for c in verify_proof_set(doc, _resolver(issuer_key), document_loader=fresh))


def test_processed_contexts_are_cached_per_loader() -> None:
    class CountingLoader(jsonld.DocumentLoader):
        def __init__(self) -> None:
            super().__init__()
            self.loads: list[str] = []

        def load(self, url: str) -> Any:
            self.loads.append(url)
            return super().load(url)

    loader = CountingLoader()
    first = jsonld.canonize(ob_credential(), loader=loader)
    for _ in range(5):
        assert jsonld.canonize(ob_credential(), loader=loader) == first
    assert sorted(loader.loads) == sorted({contexts.VC_V2, contexts.OB_V3P0})


def test_test_contexts_do_not_leak_into_the_default_loader(
    vector_loader: jsonld.DocumentLoader,
) -> None:
    unsigned = _json("unsigned.json")
    jsonld.canonize(unsigned, loader=vector_loader)
    with pytest.raises(contexts.ContextNotBundledError):
        jsonld.canonize(unsigned)


# ---------------------------------------------------------------------------------------------
# multikey


def test_multikey_matches_the_spec_key_pair(vector_key: Ed25519PrivateKey) -> None:
    pair = _json("keyPair.json")
    pub = vector_key.public_key()
    assert multikey.public_key_multibase(pub) == pair["publicKeyMultibase"]
    assert multikey.public_key_multibase(pub).startswith("z6Mk")
    assert multikey.private_key_multibase(vector_key) == pair["privateKeyMultibase"]
    again = multikey.public_key_from_multibase(pair["publicKeyMultibase"])
    assert multikey.public_key_bytes(again) == multikey.public_key_bytes(pub)
    assert (
        multikey.did_key_verification_method(pub)
        == _json("eddsa-rdfc-2022/signedDataInt.json")["proof"]["verificationMethod"]
    )


def test_multikey_reads_digital_bazaar_secret_keys_and_writes_jwk() -> None:
    key = Ed25519PrivateKey.generate()
    pub_raw = multikey.public_key_bytes(key.public_key())
    seed = multikey.multibase_decode(multikey.private_key_multibase(key))[2:]
    db_form = multikey.multibase_encode(multikey.ED25519_PRIV_PREFIX + seed + pub_raw)
    assert multikey.public_key_bytes(multikey.private_key_from_multibase(db_form).public_key()) == pub_raw
    bad = multikey.multibase_encode(multikey.ED25519_PRIV_PREFIX + seed + bytes(32))
    with pytest.raises(multikey.MultikeyError):
        multikey.private_key_from_multibase(bad)
    with pytest.raises(multikey.MultikeyError):
        multikey.public_key_from_multibase("u" + "A" * 40)
    with pytest.raises(multikey.MultikeyError):  # a private key is not a public key
        multikey.public_key_from_multibase(multikey.private_key_multibase(key))

    jwk = multikey.jwk(key.public_key(), "did:web:example.org#key-1")
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519"
    assert jwk["kid"] == "did:web:example.org#key-1"
    assert "=" not in jwk["x"] and len(jwk["x"]) == 43
    assert base64.urlsafe_b64decode(jwk["x"] + "=") == pub_raw


# ---------------------------------------------------------------------------------------------
# W3C vc-di-eddsa test vectors


def test_rdfc_vector_canonical_forms(vector_loader: jsonld.DocumentLoader) -> None:
    unsigned = _json("unsigned.json")
    assert jsonld.canonize(unsigned, loader=vector_loader) == _text("eddsa-rdfc-2022/canonDocDataInt.txt")
    config = _json("eddsa-rdfc-2022/proofConfigDataInt.json")
    canonical_config = jsonld.canonize(config, loader=vector_loader)
    assert canonical_config == _text("eddsa-rdfc-2022/proofCanonDataInt.txt")
    combined = (
        hashlib.sha256(canonical_config.encode()).digest()
        + hashlib.sha256(_text("eddsa-rdfc-2022/canonDocDataInt.txt").encode()).digest()
    )
    assert combined.hex() == _text("eddsa-rdfc-2022/combinedHashDataInt.txt").strip()


def test_jcs_vector_canonical_forms() -> None:
    assert rfc8785.dumps(_json("unsigned.json")).decode() == _text("eddsa-jcs-2022/canonDocJCS.txt").strip()
    config = _json("eddsa-jcs-2022/proofConfigJCS.json")
    assert rfc8785.dumps(config).decode() == _text("eddsa-jcs-2022/proofCanonJCS.txt").strip()
    combined = (
        hashlib.sha256(rfc8785.dumps(config)).digest()
        + hashlib.sha256(rfc8785.dumps(_json("unsigned.json"))).digest()
    )
    assert combined.hex() == _text("eddsa-jcs-2022/combinedHashJCS.txt").strip()


@pytest.mark.parametrize(
    ("suite", "signed_file", "signature_file"),
    [
        (RDFC, "eddsa-rdfc-2022/signedDataInt.json", "eddsa-rdfc-2022/sigBTC58DataInt.txt"),
        (JCS, "eddsa-jcs-2022/signedJCS.json", "eddsa-jcs-2022/sigBTC58JCS.txt"),
    ],
)
def test_vector_reproduced_and_verified(
    suite: str,
    signed_file: str,
    signature_file: str,
    vector_key: Ed25519PrivateKey,
    vector_loader: jsonld.DocumentLoader,
) -> None:
    published = _json(signed_file)
    expected = published["proof"]
    proof = create_proof(
        _json("unsigned.json"),
        vector_key,
        verification_method=expected["verificationMethod"],
        cryptosuite=suite,
        created=expected["created"],
        document_loader=vector_loader,
    )
    assert proof == expected  # every member, proofValue included (Ed25519 is deterministic)
    assert list(proof) == list(expected)  # and in the published order
    assert proof["proofValue"] == _text(signature_file).strip()

    check = verify_proof(published, expected, vector_key.public_key(), document_loader=vector_loader)
    assert check == ProofCheck(suite, expected["verificationMethod"], True, None)
    checks = verify_proof_set(
        published, _resolver(vector_key, expected["verificationMethod"]), document_loader=vector_loader
    )
    assert [c.ok for c in checks] == [True]


@pytest.mark.parametrize("suite", [RDFC, JCS])
def test_vector_tampered_fails(
    suite: str, vector_key: Ed25519PrivateKey, vector_loader: jsonld.DocumentLoader
) -> None:
    published = _json(
        "eddsa-rdfc-2022/signedDataInt.json" if suite == RDFC else "eddsa-jcs-2022/signedJCS.json"
    )
    published["credentialSubject"]["alumniOf"] = "The School of Examplez"
    check = verify_proof(
        published, published["proof"], vector_key.public_key(), document_loader=vector_loader
    )
    assert not check.ok and check.reason == "signature does not match"


# ---------------------------------------------------------------------------------------------
# proof sets on a creditbank Open Badges credential


def test_proof_set_shape(signed: dict[str, Any]) -> None:
    original = ob_credential()
    assert {k: v for k, v in signed.items() if k != "proof"} == original
    rdfc, jcs = signed["proof"]
    for proof, suite in ((rdfc, RDFC), (jcs, JCS)):
        assert proof["type"] == "DataIntegrityProof"
        assert proof["cryptosuite"] == suite
        assert proof["created"] == CREATED
        assert proof["verificationMethod"] == VM
        assert proof["proofPurpose"] == "assertionMethod"
        assert proof["proofValue"].startswith("z")
        assert len(multikey.multibase_decode(proof["proofValue"])) == 64
    assert "@context" not in rdfc  # as in the spec's rdfc vector
    assert jcs["@context"] == original["@context"]  # eddsa-jcs-2022 step 2


def test_sign_proof_set_does_not_mutate_its_input(issuer_key: Ed25519PrivateKey) -> None:
    doc = ob_credential()
    before = copy.deepcopy(doc)
    out = sign_proof_set(doc, issuer_key, verification_method=VM, created=CREATED)
    assert doc == before and out is not doc


def test_proof_set_verifies(signed: dict[str, Any], issuer_key: Ed25519PrivateKey) -> None:
    checks = verify_proof_set(signed, _resolver(issuer_key))
    assert checks == [ProofCheck(RDFC, VM, True, None), ProofCheck(JCS, VM, True, None)]


def test_each_proof_is_over_the_bare_document(signed: dict[str, Any], issuer_key: Ed25519PrivateKey) -> None:
    """No chaining: each proof verifies on the document alone, and order does not matter."""
    bare = {k: v for k, v in signed.items() if k != "proof"}
    for proof in signed["proof"]:
        assert verify_proof(bare, proof, issuer_key.public_key()).ok
        assert verify_proof({**bare, "proof": proof}, proof, issuer_key.public_key()).ok
    reversed_set = {**bare, "proof": list(reversed(signed["proof"]))}
    assert all(c.ok for c in verify_proof_set(reversed_set, _resolver(issuer_key)))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d["credentialSubject"]["achievement"].__setitem__("name", "Python 程序设讦"),
        lambda d: d["credentialSubject"].__setitem__("id", "did:example:learner-7c1f"),
        lambda d: d["credentialSubject"]["achievement"].__setitem__("creditsAvailable", 3.0),
        lambda d: d["credentialSubject"]["achievement"]["criteria"].__setitem__(
            "narrative", "期末考试成绩合格（50 分及以上）。"
        ),
    ],
    ids=["achievement-name", "subject-id", "credits", "criteria"],
)
def test_tampered_credential_fails_both_suites(
    tamper: Any, signed: dict[str, Any], issuer_key: Ed25519PrivateKey
) -> None:
    doc = copy.deepcopy(signed)
    tamper(doc)
    checks = verify_proof_set(doc, _resolver(issuer_key))
    assert [(c.cryptosuite, c.ok, c.reason) for c in checks] == [
        (RDFC, False, "signature does not match"),
        (JCS, False, "signature does not match"),
    ]


def test_jcs_signs_every_byte_rdfc_signs_the_graph(
    signed: dict[str, Any], issuer_key: Ed25519PrivateKey
) -> None:
    """rdfc signs the RDF graph, jcs the JSON: 2.0 -> 2 is the same JSON number and the same
    literal (both still verify); re-ordering the ``type`` array is the same graph but other
    JSON (only rdfc still verifies)."""
    doc = copy.deepcopy(signed)
    doc["credentialSubject"]["achievement"]["creditsAvailable"] = 2  # 2.0 == 2 in JSON and RDF
    assert all(c.ok for c in verify_proof_set(doc, _resolver(issuer_key)))
    doc = copy.deepcopy(signed)
    doc["type"] = list(reversed(doc["type"]))  # same RDF, different JSON
    checks = verify_proof_set(doc, _resolver(issuer_key))
    assert [(c.cryptosuite, c.ok) for c in checks] == [(RDFC, True), (JCS, False)]


def test_swapped_proof_fails(signed: dict[str, Any], issuer_key: Ed25519PrivateKey) -> None:
    other = sign_proof_set(
        ob_credential(id="did:example:someone-else"),
        issuer_key,
        verification_method=VM,
        created=CREATED,
    )
    forged = {**signed, "proof": other["proof"]}
    checks = verify_proof_set(forged, _resolver(issuer_key))
    assert [(c.ok, c.reason) for c in checks] == [(False, "signature does not match")] * 2
    for proof in other["proof"]:
        assert not verify_proof(signed, proof, issuer_key.public_key()).ok


def test_unknown_verification_method_fails(signed: dict[str, Any], issuer_key: Ed25519PrivateKey) -> None:
    seen: list[str] = []

    def resolve(url: str) -> None:
        seen.append(url)
        return

    checks = verify_proof_set(signed, resolve)
    assert seen == [VM, VM]
    assert [(c.ok, c.verification_method, c.reason) for c in checks] == [
        (False, VM, "unknown verification method")
    ] * 2


def test_keys_are_never_taken_from_the_document(signed: dict[str, Any]) -> None:
    attacker = Ed25519PrivateKey.generate()
    bare = {k: v for k, v in signed.items() if k != "proof"}
    forged = sign_proof_set(bare, attacker, verification_method=VM, created=CREATED)
    real = Ed25519PrivateKey.generate()
    checks = verify_proof_set(forged, _resolver(real))
    assert [(c.ok, c.reason) for c in checks] == [(False, "signature does not match")] * 2
    # an embedded verification method carrying the attacker's key is not a URL to resolve
    embedded = copy.deepcopy(forged)
    for proof in embedded["proof"]:
        proof["verificationMethod"] = {
            "id": VM,
            "type": "Multikey",
            "controller": ISSUER,
            "publicKeyMultibase": multikey.public_key_multibase(attacker.public_key()),
        }
    checks = verify_proof_set(embedded, lambda url: attacker.public_key())
    assert [(c.ok, c.reason) for c in checks] == [(False, "missing verification method")] * 2


def test_wrong_key_fails(signed: dict[str, Any]) -> None:
    other = Ed25519PrivateKey.generate()
    for proof in signed["proof"]:
        check = verify_proof(signed, proof, other.public_key())
        assert not check.ok and check.reason == "signature does not match"


def test_document_without_proof_is_not_vacuously_valid(issuer_key: Ed25519PrivateKey) -> None:
    checks = verify_proof_set(ob_credential(), _resolver(issuer_key))
    assert len(checks) == 1 and not checks[0].ok and checks[0].reason == "document has no proof"


def test_malformed_proofs_are_reported(signed: dict[str, Any], issuer_key: Ed25519PrivateKey) -> None:
    pub = issuer_key.public_key()
    rdfc = signed["proof"][0]
    cases = {
        "unsupported cryptosuite: 'ecdsa-rdfc-2019'": {**rdfc, "cryptosuite": "ecdsa-rdfc-2019"},
        "unsupported proof type: 'Ed25519Signature2020'": {**rdfc, "type": "Ed25519Signature2020"},
        "malformed proofValue": {**rdfc, "proofValue": "u" + rdfc["proofValue"][1:]},
        "unexpected proof purpose: 'authentication'": {**rdfc, "proofPurpose": "authentication"},
        "invalid created timestamp": {**rdfc, "created": "2024-09-01 08:00"},
        "missing verification method": {k: v for k, v in rdfc.items() if k != "verificationMethod"},
    }
    for reason, proof in cases.items():
        assert verify_proof(signed, proof, pub).reason == reason
    short = {**rdfc, "proofValue": multikey.multibase_encode(bytes(10))}
    assert verify_proof(signed, short, pub).reason == "malformed proofValue"


def test_jcs_proof_context_must_prefix_the_document_context(
    signed: dict[str, Any], issuer_key: Ed25519PrivateKey
) -> None:
    jcs = copy.deepcopy(signed["proof"][1])
    jcs["@context"] = [contexts.OB_V3P0]
    check = verify_proof(signed, jcs, issuer_key.public_key())
    assert not check.ok
    assert check.reason == "document @context does not start with the proof @context"


def test_bad_signing_options_raise(issuer_key: Ed25519PrivateKey) -> None:
    doc = ob_credential()
    with pytest.raises(ProofError, match="unsupported cryptosuite"):
        create_proof(doc, issuer_key, verification_method=VM, cryptosuite="eddsa-2022", created=CREATED)
    for created in ("2024-09-01", "2024-09-01T08:00:00", "2024-13-01T08:00:00Z", "yesterday"):
        with pytest.raises(ProofError, match="created"):
            create_proof(doc, issuer_key, verification_method=VM, cryptosuite=JCS, created=created)
    with pytest.raises(ProofError, match="only once"):
        sign_proof_set(doc, issuer_key, verification_method=VM, created=CREATED, cryptosuites=(RDFC, RDFC))
    no_context = {k: v for k, v in doc.items() if k != "@context"}
    with pytest.raises(ProofError, match="@context"):
        create_proof(no_context, issuer_key, verification_method=VM, cryptosuite=RDFC, created=CREATED)


# ---------------------------------------------------------------------------------------------
# undefined terms are refused


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.__setitem__("foo", "bar"), "foo"),
        (lambda d: d["credentialSubject"].__setitem__("foo", "bar"), "credentialSubject.foo"),
        (
            lambda d: d["credentialSubject"]["achievement"]["criteria"].__setitem__("foo", {"x": 1}),
            "credentialSubject.achievement.criteria.foo",
        ),
        (lambda d: d["issuer"].__setitem__("学校代码", "10001"), "issuer.学校代码"),
        (
            lambda d: d["credentialSubject"]["achievement"]["type"].append("Course"),
            "credentialSubject.achievement.type[Course]",
        ),
    ],
    ids=["top-level", "subject", "nested", "cjk-key", "type-value"],
)
def test_undefined_terms_are_refused_by_rdfc(mutate: Any, path: str, issuer_key: Ed25519PrivateKey) -> None:
    doc = ob_credential()
    mutate(doc)
    with pytest.raises(UndefinedTermError) as caught:
        create_proof(doc, issuer_key, verification_method=VM, cryptosuite=RDFC, created=CREATED)
    assert caught.value.term_path == path
    assert str(caught.value) == f"undefined term: {path}"
    with pytest.raises(UndefinedTermError):
        sign_proof_set(doc, issuer_key, verification_method=VM, created=CREATED)
    with pytest.raises(UndefinedTermError):
        jsonld.canonize(doc)


def test_undefined_term_added_after_signing_fails_verification(
    signed: dict[str, Any], issuer_key: Ed25519PrivateKey
) -> None:
    doc = copy.deepcopy(signed)
    doc["credentialSubject"]["foo"] = "bar"
    checks = verify_proof_set(doc, _resolver(issuer_key))
    assert [(c.cryptosuite, c.ok, c.reason) for c in checks] == [
        (RDFC, False, "undefined term: credentialSubject.foo"),
        (JCS, False, "signature does not match"),
    ]


def test_lax_signature_over_dropped_term_is_refused(issuer_key: Ed25519PrivateKey) -> None:
    """A signer without safe mode (stock PyLD) drops "foo" and signs the rest; its proof is
    cryptographically fine, but "foo" was never signed, so we refuse the document."""
    from pyld import jsonld as pyld_jsonld

    doc = ob_credential(foo="an unsigned claim")
    proof = {
        "type": "DataIntegrityProof",
        "cryptosuite": RDFC,
        "created": CREATED,
        "verificationMethod": VM,
        "proofPurpose": "assertionMethod",
    }
    opts = {
        "algorithm": "URDNA2015",
        "format": "application/n-quads",
        "documentLoader": jsonld.DocumentLoader(),
    }
    lax_doc = pyld_jsonld.normalize(doc, opts)
    lax_config = pyld_jsonld.normalize({**proof, "@context": doc["@context"]}, opts)
    assert "an unsigned claim" not in lax_doc
    hash_data = hashlib.sha256(lax_config.encode()).digest() + hashlib.sha256(lax_doc.encode()).digest()
    lax = {**doc, "proof": {**proof, "proofValue": multikey.multibase_encode(issuer_key.sign(hash_data))}}
    # without "foo" the lax signature is valid: the refusal below is about "foo" alone
    without_foo = copy.deepcopy(lax)
    del without_foo["credentialSubject"]["foo"]
    assert verify_proof_set(without_foo, _resolver(issuer_key))[0].ok
    check = verify_proof_set(lax, _resolver(issuer_key))[0]
    assert not check.ok and check.reason == "undefined term: credentialSubject.foo"


def test_relative_iris_are_refused(issuer_key: Ed25519PrivateKey) -> None:
    doc = ob_credential(id="learner-7c1e")  # not an IRI: RDF would drop the whole subject
    with pytest.raises(UndefinedTermError, match=r"relative IRI .*credentialSubject\.id='learner-7c1e'"):
        create_proof(doc, issuer_key, verification_method=VM, cryptosuite=RDFC, created=CREATED)
    doc = ob_credential()
    doc["issuer"]["id"] = "example-university"
    with pytest.raises(UndefinedTermError, match=r"issuer\.id='example-university'"):
        jsonld.canonize(doc)


def test_undefined_term_in_proof_options_is_refused(
    signed: dict[str, Any], issuer_key: Ed25519PrivateKey
) -> None:
    rdfc = {**signed["proof"][0], "note": "hello"}
    check = verify_proof(signed, rdfc, issuer_key.public_key())
    assert not check.ok and check.reason == "undefined term: proof.note"


def test_inline_context_terms_are_signed(issuer_key: Ed25519PrivateKey) -> None:
    """Terms defined by an inline context are not "undefined": they are in the RDF."""
    doc = ob_credential(courseCode="CS-101")
    doc["@context"] = [*doc["@context"], {"courseCode": "https://creditbank.example/vocab#courseCode"}]
    assert "CS-101" in jsonld.canonize(doc)
    out = sign_proof_set(doc, issuer_key, verification_method=VM, created=CREATED)
    assert all(c.ok for c in verify_proof_set(out, _resolver(issuer_key)))


# ---------------------------------------------------------------------------------------------
# RDFC-1.0 details


def test_rdfc10_escapes_control_characters() -> None:
    doc = ob_credential()
    doc["name"] = 'tab\tbs\bff\fnul\x00del\x7f "q" back\\slash\r\n'
    line = next(l for l in jsonld.canonize(doc).splitlines() if "schema.org/name" in l and "tab" in l)
    assert line.endswith('"tab\\tbs\\bff\\fnul\\u0000del\\u007F \\"q\\" back\\\\slash\\r\\n" .')


def test_unicode_sort_order_ambiguity_is_refused() -> None:
    doc = ob_credential()
    # U+20BB7 (CJK Ext. B) vs U+FF0C (fullwidth comma): code-point and UTF-16 orders disagree
    doc["credentialSubject"]["achievement"]["tag"] = ["\U00020bb7", "\uff0c"]
    with pytest.raises(jsonld.UnicodeOrderError):
        jsonld.canonize(doc)
    doc["credentialSubject"]["achievement"]["tag"] = ["\U00020bb7", "中"]  # both orders agree
    assert "\U00020bb7" in jsonld.canonize(doc)


def test_timings(issuer_key: Ed25519PrivateKey, capsys: pytest.CaptureFixture[str]) -> None:
    """Context processing is cached: a typical OB 3.0 credential signs/verifies in a few ms."""
    doc = ob_credential()
    pub = issuer_key.public_key()
    jsonld.canonize(doc)  # warm

    def median_ms(fn: Any, n: int = 30) -> float:
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - start) * 1000)
        return statistics.median(samples)

    report = {}
    for suite in (RDFC, JCS):
        proof = create_proof(doc, issuer_key, verification_method=VM, cryptosuite=suite, created=CREATED)
        report[suite] = (
            median_ms(
                lambda: create_proof(
                    doc, issuer_key, verification_method=VM, cryptosuite=suite, created=CREATED
                )
            ),
            median_ms(lambda: verify_proof(doc, proof, pub)),
        )
    with capsys.disabled():
        for suite, (sign_ms, verify_ms) in report.items():
            print(f"\n{suite}: sign {sign_ms:.2f} ms, verify {verify_ms:.2f} ms (median)", end="")
    assert report[RDFC][0] < 100 and report[RDFC][1] < 100


def test_a_context_pyld_trips_over_is_invalid_json_ld_not_a_crash(issuer_key: Ed25519PrivateKey) -> None:
    """{"@vocab": null} with no @vocab in force made PyLD raise KeyError — a 500 on POST /api/v1/verify
    (found with the W3C VC 2.0 suite's inputs). It is invalid input: refused, and a proof over it fails."""
    doc = ob_credential()
    doc["@context"] = [*doc["@context"], {"@vocab": None}]
    with pytest.raises(jsonld.JsonLdProcessingError):
        jsonld.canonize(doc)
    proof = sign_proof_set(ob_credential(), issuer_key, verification_method=VM, created=CREATED)["proof"][0]
    check = verify_proof({**doc, "proof": proof}, proof, issuer_key.public_key())
    assert not check.ok and "invalid JSON-LD" in (check.reason or "")


@pytest.mark.parametrize("suite", [RDFC, JCS])
def test_a_chained_proof_signs_the_document_with_the_proofs_it_names(
    issuer_key: Ed25519PrivateKey, suite: str
) -> None:
    """Data Integrity §4: a proof with previousProof covers the document *and* the named proofs."""
    doc = ob_credential()
    first = create_proof(
        doc,
        issuer_key,
        verification_method=VM,
        cryptosuite=suite,
        created=CREATED,
        options={"id": "urn:uuid:p1"},
    )
    second = create_proof(
        doc,
        issuer_key,
        verification_method=VM,
        cryptosuite=suite,
        created=CREATED,
        options={"previousProof": "urn:uuid:p1"},
        previous_proofs=[first],
    )
    chained = {**doc, "proof": [first, second]}
    public = issuer_key.public_key()
    assert verify_proof(chained, first, public).ok
    assert verify_proof(chained, second, public, previous_proofs=[first]).ok
    assert not verify_proof(chained, second, public).ok, "without the first proof it is another document"
    altered = {**first, "created": "2024-09-02T08:00:00Z"}
    assert not verify_proof(chained, second, public, previous_proofs=[altered]).ok
