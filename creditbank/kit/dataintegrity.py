"""W3C Data Integrity proofs with Ed25519: ``eddsa-rdfc-2022`` and ``eddsa-jcs-2022``.

Follows W3C "Data Integrity EdDSA Cryptosuites v1.0" (vc-di-eddsa):

* proof options: ``type`` ``DataIntegrityProof``, ``cryptosuite``, ``created``,
  ``verificationMethod``, ``proofPurpose``;
* proof configuration = the options plus the document's ``@context``;
* hashData = SHA-256(canonical proof configuration) || SHA-256(canonical document);
* ``proofValue`` = multibase base58btc (``z…``) of the Ed25519 signature over hashData.

``eddsa-rdfc-2022`` canonicalises with RDFC-1.0 (what Open Badges 3.0 verifiers and wallets
check) and refuses documents with terms their contexts do not define — a dropped term would be
an unsigned term. ``eddsa-jcs-2022`` canonicalises with RFC 8785 (JCS) and so signs every byte;
its proof carries the document's ``@context`` (as the spec says and Digital Bazaar does), the
rdfc proof does not (as in the spec's test vectors).

A proof set (:func:`sign_proof_set`) holds independent proofs, each over the document without
any ``proof`` property (no chaining). Verification never takes keys from the document: the
caller resolves ``verificationMethod`` to a key it trusts.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from creditbank.contexts import ContextNotBundledError
from creditbank.kit import jsonld
from creditbank.kit.jsonld import DocumentLoader, JsonLdProcessingError, UndefinedTermError
from creditbank.kit.multikey import MultikeyError, multibase_decode, multibase_encode

__all__ = [
    "JCS",
    "PROOF_TYPE",
    "RDFC",
    "ProofCheck",
    "ProofError",
    "UndefinedTermError",
    "create_proof",
    "sign_proof_set",
    "verify_proof",
    "verify_proof_set",
]

RDFC = "eddsa-rdfc-2022"
JCS = "eddsa-jcs-2022"
CRYPTOSUITES = (RDFC, JCS)
PROOF_TYPE = "DataIntegrityProof"

# XML Schema dateTimeStamp (a dateTime with a time zone), as Data Integrity requires for created
_DATETIME = re.compile(r"^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$")


class ProofError(ValueError):
    """Bad input for creating a proof (unknown cryptosuite, invalid ``created``, …)."""


@dataclass(frozen=True)
class ProofCheck:
    cryptosuite: str
    verification_method: str | None
    ok: bool
    reason: str | None  # short English text when not ok


# ---------------------------------------------------------------------------------------------
# helpers


def _valid_datetime(value: Any) -> bool:
    if not isinstance(value, str) or not _DATETIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _unsecured(document: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(document, Mapping):
        raise ProofError("the document must be a JSON object")
    doc = copy.deepcopy(dict(document))
    doc.pop("proof", None)
    return doc


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _rdfc_hash(
    unsecured: dict[str, Any],
    options: dict[str, Any],
    loader: DocumentLoader | None,
    budget_seconds: float | None = None,
) -> bytes:
    if "@context" not in unsecured:
        raise ProofError(f"{RDFC} needs a JSON-LD document with an @context")
    config = {**options, "@context": unsecured["@context"]}
    try:
        canonical_config = jsonld.canonize(config, loader=loader, budget_seconds=budget_seconds)
    except UndefinedTermError as exc:
        raise UndefinedTermError(
            f"proof.{exc.term_path}",
            detail=exc.detail,
            problems=tuple(p.replace(": ", ": proof.", 1) for p in exc.problems),
        ) from None
    canonical_document = jsonld.canonize(unsecured, loader=loader, budget_seconds=budget_seconds)
    return (
        hashlib.sha256(canonical_config.encode("utf-8")).digest()
        + hashlib.sha256(canonical_document.encode("utf-8")).digest()
    )


def _jcs_hash(unsecured: dict[str, Any], config: dict[str, Any]) -> bytes:
    return hashlib.sha256(rfc8785.dumps(config)).digest() + hashlib.sha256(rfc8785.dumps(unsecured)).digest()


# ---------------------------------------------------------------------------------------------
# create


def create_proof(
    document: Mapping[str, Any],
    private_key: Ed25519PrivateKey,
    *,
    verification_method: str,
    cryptosuite: str,
    created: str,
    proof_purpose: str = "assertionMethod",
    document_loader: DocumentLoader | None = None,
    options: Mapping[str, Any] | None = None,
    previous_proofs: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """One Data Integrity proof over ``document`` (any ``proof`` already in it is ignored).

    ``options``: more proof options (``id``, ``previousProof``, ``challenge``, ``domain``…);
    ``previous_proofs``: the proofs a chained proof names, signed with the document (§4).

    Raises :class:`UndefinedTermError` (rdfc) if the document uses terms its contexts do not
    define, :class:`ProofError` for bad options.
    """
    if cryptosuite not in CRYPTOSUITES:
        raise ProofError(f"unsupported cryptosuite: {cryptosuite!r}")
    if not _valid_datetime(created):
        raise ProofError(f"created must be an XML Schema dateTimeStamp, got {created!r}")
    if not isinstance(verification_method, str) or not verification_method:
        raise ProofError("verification_method must be a non-empty string (a URL)")
    if not isinstance(private_key, Ed25519PrivateKey):
        raise ProofError("private_key must be an Ed25519 private key")
    unsecured = _unsecured(document)
    proof: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": cryptosuite,
        "created": created,
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
        **copy.deepcopy(dict(options or {})),
    }
    if previous_proofs:
        unsecured["proof"] = [copy.deepcopy(dict(p)) for p in previous_proofs]
    if cryptosuite == RDFC:
        # The bank signs only what it built itself: no time budget (a long transcript may take
        # longer than a stranger's document is allowed to).
        hash_data = _rdfc_hash(unsecured, proof, document_loader, math.inf)
    else:
        if "@context" in unsecured:
            proof["@context"] = copy.deepcopy(unsecured["@context"])
        hash_data = _jcs_hash(unsecured, proof)
    proof["proofValue"] = multibase_encode(private_key.sign(hash_data))
    return proof


def sign_proof_set(
    document: Mapping[str, Any],
    private_key: Ed25519PrivateKey,
    *,
    verification_method: str,
    created: str,
    cryptosuites: tuple[str, ...] = (RDFC, JCS),
    proof_purpose: str = "assertionMethod",
    document_loader: DocumentLoader | None = None,
) -> dict[str, Any]:
    """A new document whose ``proof`` is a list: any proofs it already had, then one proof per
    cryptosuite, each made independently over the document without ``proof``."""
    if not cryptosuites:
        raise ProofError("at least one cryptosuite is needed")
    if len(set(cryptosuites)) != len(cryptosuites):
        raise ProofError("each cryptosuite may appear only once in a proof set")
    unsecured = _unsecured(document)
    existing = document.get("proof")
    proofs = [] if existing is None else copy.deepcopy(_as_list(existing))
    for suite in cryptosuites:
        proofs.append(
            create_proof(
                unsecured,
                private_key,
                verification_method=verification_method,
                cryptosuite=suite,
                created=created,
                proof_purpose=proof_purpose,
                document_loader=document_loader,
            )
        )
    return {**unsecured, "proof": proofs}


# ---------------------------------------------------------------------------------------------
# verify


def _vm_of(proof: Any) -> str | None:
    if isinstance(proof, Mapping):
        vm = proof.get("verificationMethod")
        if isinstance(vm, str):
            return vm
    return None


def verify_proof(
    document: Mapping[str, Any],
    proof: Mapping[str, Any],
    public_key: Ed25519PublicKey,
    *,
    proof_purpose: str | None = "assertionMethod",
    document_loader: DocumentLoader | None = None,
    budget_seconds: float | None = None,
    previous_proofs: Sequence[Mapping[str, Any]] = (),
) -> ProofCheck:
    """Check one proof over ``document`` (its ``proof`` property, if any, is removed first).

    ``proof_purpose``: the purpose the caller expects (None: accept any).
    ``previous_proofs``: for a proof in a chain (``previousProof``), the proofs it names — Data
    Integrity §4 signs the document with those as its ``proof``.
    Never raises for a bad document or proof: the result says what is wrong. Canonicalisation
    past ``budget_seconds`` (default :data:`jsonld.DEFAULT_TIME_BUDGET_SECONDS`) raises
    :class:`jsonld.WorkBudgetExceeded`: nothing is known about such a proof.
    """
    suite = proof.get("cryptosuite") if isinstance(proof, Mapping) else None
    vm = _vm_of(proof)

    def fail(reason: str) -> ProofCheck:
        return ProofCheck(str(suite) if suite is not None else "", vm, False, reason)

    if not isinstance(proof, Mapping):
        return fail("malformed proof")
    if proof.get("type") != PROOF_TYPE:
        return fail(f"unsupported proof type: {proof.get('type')!r}")
    if suite not in CRYPTOSUITES:
        return fail(f"unsupported cryptosuite: {suite!r}")
    if vm is None:
        return fail("missing verification method")
    if proof_purpose is not None and proof.get("proofPurpose") != proof_purpose:
        return fail(f"unexpected proof purpose: {proof.get('proofPurpose')!r}")
    for field in ("created", "expires"):
        if field in proof and not _valid_datetime(proof[field]):
            return fail(f"invalid {field} timestamp")
    if not isinstance(public_key, Ed25519PublicKey):
        return fail("verification method is not an Ed25519 key")
    try:
        signature = multibase_decode(proof.get("proofValue"))
    except MultikeyError:
        return fail("malformed proofValue")
    if len(signature) != 64:
        return fail("malformed proofValue")
    if not isinstance(document, Mapping):
        return fail("malformed document")

    unsecured = _unsecured(document)
    if previous_proofs:
        unsecured["proof"] = [copy.deepcopy(dict(p)) for p in previous_proofs]
    options = {k: copy.deepcopy(v) for k, v in proof.items() if k != "proofValue"}
    try:
        if suite == RDFC:
            options.pop("@context", None)  # the configuration takes the document's @context
            hash_data = _rdfc_hash(unsecured, options, document_loader, budget_seconds)
        else:
            if "@context" in options:
                expected = _as_list(options["@context"])
                actual = _as_list(unsecured.get("@context"))
                if actual[: len(expected)] != expected:
                    return fail("document @context does not start with the proof @context")
                unsecured["@context"] = options["@context"]
            hash_data = _jcs_hash(unsecured, options)
    except UndefinedTermError as exc:
        return fail(str(exc))
    except ContextNotBundledError as exc:
        return fail(f"context not bundled: {exc.url}")
    except (JsonLdProcessingError, ProofError) as exc:
        return fail(f"cannot canonicalise: {exc}")
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        return fail(f"cannot canonicalise: {exc}")
    try:
        public_key.verify(signature, hash_data)
    except InvalidSignature:
        return fail("signature does not match")
    return ProofCheck(str(suite), vm, True, None)


UNKNOWN_METHOD = "unknown verification method"
"""A proof's reason when ``resolve`` knows no key for its verification method."""


def verify_proof_set(
    document: Mapping[str, Any],
    resolve: Callable[[str], Ed25519PublicKey | None],
    *,
    proof_purpose: str | None = "assertionMethod",
    document_loader: DocumentLoader | None = None,
    budget_seconds: float | None = None,
) -> list[ProofCheck]:
    """Check every proof in ``document["proof"]`` (one object or a list).

    ``resolve(verificationMethod)`` returns the trusted key or None; keys are never taken
    from the document. A document without proofs yields one failed check, so
    ``all(c.ok for c in checks)`` is never vacuously true.
    """
    if not isinstance(document, Mapping):
        return [ProofCheck("", None, False, "malformed document")]
    raw = document.get("proof")
    if raw is None or raw == []:
        return [ProofCheck("", None, False, "document has no proof")]
    checks: list[ProofCheck] = []
    for proof in _as_list(raw):
        if not isinstance(proof, Mapping):
            checks.append(ProofCheck("", None, False, "malformed proof"))
            continue
        vm = _vm_of(proof)
        suite = str(proof.get("cryptosuite", ""))
        if vm is None:
            checks.append(ProofCheck(suite, None, False, "missing verification method"))
            continue
        key = resolve(vm)
        if key is None:
            checks.append(ProofCheck(suite, vm, False, UNKNOWN_METHOD))
            continue
        checks.append(
            verify_proof(
                document,
                proof,
                key,
                proof_purpose=proof_purpose,
                document_loader=document_loader,
                budget_seconds=budget_seconds,
            )
        )
    return checks
