"""The W3C CCG VC-API for conformance testing: issue with a test-only did:key, verify anyone's.

* **Issue** (``POST /credentials/issue``): the credential must pass the VC 2.0 data model and
  expand in JSON-LD without dropping a term; it is signed by this process's *test* key
  (``did:key:z6Mk…``, kept in ``keys_dir/vc-api-test-only.pem``) — never by the bank's issuer key,
  which would let anyone mint "bank" credentials. The issuer must be that did:key (a missing
  ``issuer.id`` is filled in). One Data Integrity proof per requested cryptosuite
  (``options.cryptosuite``: ``eddsa-rdfc-2022`` and/or ``eddsa-jcs-2022``; both when not given).
* **Verify** (``POST /credentials/verify``, ``POST /presentations/verify``): data model, then every
  proof. Keys come from ``did:key`` (any Ed25519 key, resolved locally) or from the bank's own
  published keys (its did:web, current or former address); nothing is fetched. A presentation's
  proofs must have purpose ``authentication`` and carry the ``challenge``/``domain`` asked for; its
  credentials are verified as credentials. A bank credential's revocation bit is checked.

Every refusal is a :class:`VcApiProblem` naming the VC 2.0 / Data Integrity error type.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from creditbank import contexts
from creditbank.certificates.keys import IssuerKey, valid_at
from creditbank.contexts import ContextNotBundledError
from creditbank.kit import clock, jsonld, multikey
from creditbank.kit.dataintegrity import (
    CRYPTOSUITES,
    JCS,
    RDFC,
    ProofCheck,
    ProofError,
    create_proof,
    verify_proof,
)
from creditbank.kit.jsonld import (
    DocumentLoader,
    JsonLdProcessingError,
    UndefinedTermError,
    WorkBudgetExceeded,
)
from creditbank.vcapi import datamodel
from creditbank.vcapi.datamodel import DataModelError

TEST_KEY_FILE = "vc-api-test-only.pem"
EXAMPLES_V2 = "https://www.w3.org/ns/credentials/examples/v2"
# The W3C examples context: a catch-all @vocab the test suites' credentials use, and the VC 1.1
# context (the Data Integrity suites' own credentials are still VC 1.1). Only the VC-API's loader has
# them; the bank's own credentials are never canonicalised with either.
EXAMPLES_CONTEXT = {"@context": {"@vocab": "https://www.w3.org/ns/credentials/examples#"}}
VC_V1_FILE = Path(__file__).with_name("credentials-v1.jsonld")
"""npm @digitalbazaar/credentials-context@3.2.0 contexts/v1.jsonld (the W3C's file), SHA-256
00d7dd6d3ad8b920e3e550dd3a3d9090bffcac84cdbf943da6924b3e0a5c8bb8."""

# Problem types: VC 2.0 §7.1 and VC Data Integrity §2 (with their integer codes).
VC = "https://www.w3.org/TR/vc-data-model#"
SEC = "https://w3id.org/security#"
PROBLEMS: dict[str, tuple[str, int | None]] = {
    datamodel.PARSING_ERROR: (VC + "PARSING_ERROR", -64),
    datamodel.CRYPTOGRAPHIC_SECURITY_ERROR: (VC + "CRYPTOGRAPHIC_SECURITY_ERROR", -65),
    datamodel.MALFORMED_VALUE_ERROR: (VC + "MALFORMED_VALUE_ERROR", -66),
    datamodel.RANGE_ERROR: (VC + "RANGE_ERROR", -67),
    "PROOF_GENERATION_ERROR": (SEC + "PROOF_GENERATION_ERROR", -16),
    "PROOF_VERIFICATION_ERROR": (SEC + "PROOF_VERIFICATION_ERROR", -17),
    "PROOF_TRANSFORMATION_ERROR": (SEC + "PROOF_TRANSFORMATION_ERROR", -18),
    "INVALID_DOMAIN_ERROR": (SEC + "INVALID_DOMAIN_ERROR", -19),
    "INVALID_CHALLENGE_ERROR": (SEC + "INVALID_CHALLENGE_ERROR", -20),
    "DATA_LOSS_DETECTION_ERROR": (SEC + "DATA_LOSS_DETECTION_ERROR", None),
}


@dataclass
class VcApiProblem(Exception):
    """A refusal: ``problem`` is a key of :data:`PROBLEMS`; ``code`` the bank's stable error code."""

    code: str
    problem: str
    detail: str
    details: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(f"{self.problem}: {self.detail}")

    def problem_details(self) -> list[dict[str, Any]]:
        """VC 2.0 ``ProblemDetails`` objects: this problem first, then the ones behind it."""
        url, number = PROBLEMS[self.problem]
        first: dict[str, Any] = {"type": url, "title": self.problem, "detail": self.detail}
        if number is not None:
            first["code"] = number
        return [first, *self.details]


def _problem(code: str, problem: str, detail: str) -> VcApiProblem:
    return VcApiProblem(code, problem, detail)


def _data_model(error: DataModelError) -> VcApiProblem:
    return _problem("vc_invalid_document", error.problem, str(error))


BankKey = Callable[[str], IssuerKey | None]
"""A verification method of the bank's did:web (current or former) → its published key."""
BankStatus = Callable[[Mapping[str, Any]], bool | None]
"""A ``credentialStatus`` entry → revoked? (None: not one of the bank's lists)."""


# ------------------------------------------------------------------------------------ test key


def load_test_key(keys_dir: Path) -> Ed25519PrivateKey:
    """The VC-API's own signing key, created on first use (mode 0600). Test-only: it signs
    whatever a caller sends, so it is never the bank's issuer key and never in the DID document."""
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = keys_dir / TEST_KEY_FILE
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker won the race: use its key
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def did_key_public(verification_method: str) -> Ed25519PublicKey | None:
    """``did:key:z6Mk…#z6Mk…`` (or without the fragment) → the Ed25519 key it encodes."""
    did, _, fragment = verification_method.partition("#")
    if not did.startswith("did:key:"):
        return None
    encoded = did[len("did:key:") :]
    if fragment and fragment != encoded:
        return None
    try:
        return multikey.public_key_from_multibase(encoded)
    except (multikey.MultikeyError, ValueError):
        return None


# ------------------------------------------------------------------------------------ the API


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _bundled(url: str) -> bytes | None:
    try:
        return contexts.context_bytes(url)
    except ContextNotBundledError:
        return None


@dataclass
class Result:
    checks: list[str]
    warnings: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "verified": True,
            "checks": self.checks,
            "warnings": self.warnings,
            "errors": [],
            "problemDetails": [],
        }


class VcApi:
    def __init__(self, keys_dir: Path, *, bank_key: BankKey, bank_status: BankStatus) -> None:
        self._key = load_test_key(keys_dir)
        public = self._key.public_key()
        self.did = multikey.did_key(public)
        self.verification_method = multikey.did_key_verification_method(public)
        self._bank_key = bank_key
        self._bank_status = bank_status
        self.loader = DocumentLoader(
            extra={EXAMPLES_V2: EXAMPLES_CONTEXT, datamodel.VC_V1: json.loads(VC_V1_FILE.read_bytes())}
        )

    # -- shared -----------------------------------------------------------------------------

    def _expands(self, document: Mapping[str, Any], *, issuing: bool) -> None:
        """JSON-LD must keep every term (safe mode): anything dropped would go unsigned."""
        code, problem = (
            ("vc_cannot_sign", "PROOF_GENERATION_ERROR")
            if issuing
            else ("vc_invalid_document", "DATA_LOSS_DETECTION_ERROR")
        )
        try:
            # the whole canonicalisation, on a time budget: a stranger's document may be built to be slow
            jsonld.canonize(document, loader=self.loader, budget_seconds=jsonld.DEFAULT_TIME_BUDGET_SECONDS)
        except WorkBudgetExceeded as exc:
            raise _problem("vc_too_costly", "PROOF_TRANSFORMATION_ERROR", str(exc)) from None
        except UndefinedTermError as exc:
            raise _problem(code, "DATA_LOSS_DETECTION_ERROR", f"JSON-LD would drop it — {exc}") from None
        except ContextNotBundledError as exc:
            raise _problem(
                "vc_invalid_document", datamodel.PARSING_ERROR, f"unknown @context {exc.url}"
            ) from None
        except JsonLdProcessingError as exc:
            raise _problem(
                code, problem if not issuing else datamodel.PARSING_ERROR, f"JSON-LD: {exc}"
            ) from None

    def _fetch(self, url: str) -> bytes | None:
        return VC_V1_FILE.read_bytes() if url == datamodel.VC_V1 else _bundled(url)

    # -- issue ------------------------------------------------------------------------------

    def issue(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("credential"), dict):
            raise _problem(
                "vc_invalid_request", datamodel.PARSING_ERROR, 'send {"credential": {…}, "options": {…}}'
            )
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise _problem("vc_invalid_request", datamodel.PARSING_ERROR, "options must be an object")
        credential = copy.deepcopy(body["credential"])
        credential.pop("proof", None)
        issuer = credential.get("issuer")
        if issuer is None and "issuer" not in credential:
            credential["issuer"] = self.did
        elif isinstance(issuer, dict) and "id" not in issuer:
            credential["issuer"] = {"id": self.did, **issuer}
        try:
            datamodel.check_credential(credential, fetch=self._fetch)
        except DataModelError as error:
            raise _data_model(error) from None
        issuer_id = (
            credential["issuer"]["id"] if isinstance(credential["issuer"], dict) else credential["issuer"]
        )
        if issuer_id != self.did:
            raise _problem(
                "vc_not_this_issuer",
                datamodel.MALFORMED_VALUE_ERROR,
                f"this test endpoint signs only as {self.did}; the credential names {issuer_id}",
            )
        for unsupported in ("credentialStatus", "mandatoryPointers"):
            if unsupported in options:
                raise _problem(
                    "vc_option_unsupported",
                    "PROOF_GENERATION_ERROR",
                    f"options.{unsupported} is not supported",
                )
        if datamodel.version(credential) == "1.1" and contexts.DATA_INTEGRITY_V2 not in _as_list(
            credential["@context"]
        ):
            # VC 1.1's context does not define DataIntegrityProof: inject the Data Integrity context
            credential["@context"] = [*_as_list(credential["@context"]), contexts.DATA_INTEGRITY_V2]
        self._expands(credential, issuing=True)
        suites = _as_list(options.get("cryptosuite", options.get("cryptosuites", list(CRYPTOSUITES))))
        if not suites or any(s not in CRYPTOSUITES for s in suites) or len(set(suites)) != len(suites):
            raise _problem(
                "vc_option_unsupported",
                "PROOF_GENERATION_ERROR",
                f"cryptosuite must be {RDFC} and/or {JCS}, each once; got {options.get('cryptosuite')!r}",
            )
        created = options.get("created", clock.iso_seconds(clock.now()))
        proofs = []
        for suite in suites:
            try:
                proofs.append(
                    create_proof(
                        credential,
                        self._key,
                        verification_method=self.verification_method,
                        cryptosuite=suite,
                        created=created,
                        document_loader=self.loader,
                    )
                )
            except ProofError as exc:
                raise _problem("vc_cannot_sign", "PROOF_GENERATION_ERROR", str(exc)) from None
            except (UndefinedTermError, JsonLdProcessingError) as exc:
                raise _problem("vc_cannot_sign", "PROOF_GENERATION_ERROR", str(exc)) from None
        return {**credential, "proof": proofs[0] if len(proofs) == 1 else proofs}

    # -- verify -----------------------------------------------------------------------------

    def verify_credential(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or "verifiableCredential" not in body:
            raise _problem(
                "vc_invalid_request", datamodel.PARSING_ERROR, 'send {"verifiableCredential": {…}}'
            )
        options = self._options(body)
        warnings: list[dict[str, Any]] = []
        self._credential(body["verifiableCredential"], options, warnings)
        return Result(["proof", "validity", "status"], warnings).as_dict()

    def verify_presentation(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or "verifiablePresentation" not in body:
            raise _problem(
                "vc_invalid_request", datamodel.PARSING_ERROR, 'send {"verifiablePresentation": {…}}'
            )
        options = self._options(body)
        presentation = body["verifiablePresentation"]
        try:
            datamodel.check_presentation(presentation)
        except DataModelError as error:
            raise _data_model(error) from None
        if "proof" in presentation:
            _proof_shapes(presentation)
        self._expands(presentation, issuing=False)
        warnings: list[dict[str, Any]] = []
        if "proof" in presentation:
            self._proofs(presentation, purpose="authentication", options=options)
        elif options.get("challenge") or options.get("domain"):
            raise _problem(
                "vc_proof_failed",
                "INVALID_CHALLENGE_ERROR",
                "a challenge was asked for but the presentation has no proof",
            )
        else:
            warnings.append(_warning("the presentation carries no proof: only its credentials were verified"))
        credential_options = {k: v for k, v in options.items() if k not in ("challenge", "domain")}
        for n, credential in enumerate(_as_list(presentation.get("verifiableCredential", []))):
            try:
                self._credential(credential, credential_options, warnings)
            except VcApiProblem as problem:
                problem.detail = f"verifiableCredential[{n}]: {problem.detail}"
                raise
        return Result(["proof", "credentials"], warnings).as_dict()

    @staticmethod
    def _options(body: Mapping[str, Any]) -> dict[str, Any]:
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise _problem("vc_invalid_request", datamodel.PARSING_ERROR, "options must be an object")
        return options

    def _credential(
        self, credential: Any, options: Mapping[str, Any], warnings: list[dict[str, Any]]
    ) -> None:
        try:
            datamodel.check_credential(credential, fetch=self._fetch)
        except DataModelError as error:
            raise _data_model(error) from None
        if "proof" not in credential:
            raise _problem("vc_proof_failed", "PROOF_VERIFICATION_ERROR", "the credential has no proof")
        _proof_shapes(credential)
        self._expands(credential, issuing=False)
        self._proofs(credential, purpose="assertionMethod", options=options)
        now = clock.now()
        v1 = datamodel.version(credential) == "1.1"
        valid_from = datamodel.parse_datetime(credential.get("issuanceDate" if v1 else "validFrom"))
        valid_until = datamodel.parse_datetime(credential.get("expirationDate" if v1 else "validUntil"))
        if valid_from is not None and valid_from > now:
            raise _problem(
                "vc_not_valid_now", datamodel.RANGE_ERROR, f"not valid before {credential['validFrom']}"
            )
        if valid_until is not None and valid_until < now:
            raise _problem(
                "vc_not_valid_now", datamodel.RANGE_ERROR, f"expired at {credential['validUntil']}"
            )
        for entry in _as_list(credential.get("credentialStatus", [])):
            revoked = self._bank_status(entry) if isinstance(entry, dict) else None
            if revoked:
                raise _problem(
                    "vc_revoked", "PROOF_VERIFICATION_ERROR", "revoked by its issuer (status list bit set)"
                )
            if revoked is None:
                warnings.append(
                    _warning(
                        f"status {entry.get('type') if isinstance(entry, dict) else entry!r} not checked"
                    )
                )
        for resource in _as_list(credential.get("relatedResource", [])):
            if isinstance(resource, dict) and _bundled(str(resource.get("id"))) is None:
                warnings.append(
                    _warning(f"relatedResource {resource.get('id')} not retrieved: its digest is unchecked")
                )

    def _key_for(self, method: str, created: Any, purpose: str) -> Ed25519PublicKey | str:
        """The key behind a verification method, or why there is none."""
        public = did_key_public(method)
        if public is not None:
            return public
        if method.startswith("did:key:"):
            return f"not an Ed25519 did:key: {method}"
        bank = self._bank_key(method)
        if bank is None:
            return f"unknown verification method {method} (did:key, or this bank's did:web)"
        if purpose != "assertionMethod":
            return f"{method} is a bank issuer key: it signs credentials, not presentations"
        signed_at = datamodel.parse_datetime(created)
        if signed_at is None:
            return "a bank key's proof must say when it was created"
        ok, reason = valid_at(bank, signed_at)
        return bank.public_key if ok else (reason or "compromised key")

    def _proofs(self, document: Mapping[str, Any], *, purpose: str, options: Mapping[str, Any]) -> None:
        proofs = _as_list(document["proof"])
        ids = {p.get("id") for p in proofs if isinstance(p, dict) and p.get("id")}
        for n, proof in enumerate(proofs):
            where = f"proof[{n}]" if isinstance(document["proof"], list) else "proof"
            self._one_proof(document, proof, where, purpose, options, ids, proofs)

    def _verify_proof(
        self,
        document: Mapping[str, Any],
        proof: Mapping[str, Any],
        key: Ed25519PublicKey,
        purpose: str,
        all_proofs: list[Any],
        previous: Any,
    ) -> ProofCheck:
        # A chained proof signs the document together with the proofs it names (Data Integrity
        # §4); Digital Bazaar's libraries sign it without them. Either way the signature covers
        # the whole document, so both are accepted.
        chains: list[Sequence[Any]] = [()]
        if previous is not None:
            chains.append(
                [p for p in all_proofs if isinstance(p, dict) and p.get("id") in _as_list(previous)]
            )
        for chained in chains:
            check = verify_proof(
                dict(document),
                dict(proof),
                key,
                proof_purpose=purpose,
                document_loader=self.loader,
                previous_proofs=chained,
            )
            if check.ok:
                break
        return check

    def _one_proof(
        self,
        document: Mapping[str, Any],
        proof: Mapping[str, Any],
        where: str,
        purpose: str,
        options: Mapping[str, Any],
        ids: set[Any],
        all_proofs: list[Any],
    ) -> None:
        def refuse(problem: str, detail: str) -> VcApiProblem:
            code = {
                "INVALID_CHALLENGE_ERROR": "vc_wrong_challenge",
                "INVALID_DOMAIN_ERROR": "vc_wrong_domain",
            }.get(problem, "vc_proof_failed")
            return _problem(code, problem, f"{where}: {detail}")

        previous = proof.get("previousProof")
        if previous is not None:
            wanted = _as_list(previous)
            if not all(isinstance(p, str) for p in wanted):
                raise refuse(
                    "PROOF_VERIFICATION_ERROR", "previousProof must be a string or a list of strings"
                )
            missing = [p for p in wanted if p not in ids]
            if missing:
                raise refuse(
                    "PROOF_VERIFICATION_ERROR", f"previousProof {missing} names no proof of this document"
                )
        if proof.get("proofPurpose") != purpose:
            raise refuse(
                "PROOF_VERIFICATION_ERROR",
                f"proofPurpose must be {purpose}, not {proof.get('proofPurpose')!r}",
            )
        challenge, domain = options.get("challenge"), options.get("domain")
        if challenge is not None and proof.get("challenge") != challenge:
            raise refuse("INVALID_CHALLENGE_ERROR", "the challenge is not the one asked for")
        if domain is not None and domain not in _as_list(proof.get("domain")):
            raise refuse("INVALID_DOMAIN_ERROR", "the domain is not the one asked for")
        expires = proof.get("expires")
        if expires is not None:
            when = datamodel.parse_datetime(expires)
            if when is None or when < datetime.now(UTC):
                raise refuse("PROOF_VERIFICATION_ERROR", f"expires {expires!r} is invalid or past")
        key = self._key_for(str(proof["verificationMethod"]), proof.get("created"), purpose)
        if isinstance(key, str):
            raise refuse("PROOF_VERIFICATION_ERROR", key)
        try:
            check = self._verify_proof(document, proof, key, purpose, all_proofs, previous)
        except WorkBudgetExceeded as exc:
            # Refused, not judged (as in _expands): a document built to be slow says nothing about its proof.
            raise _problem("vc_too_costly", "PROOF_TRANSFORMATION_ERROR", f"{where}: {exc}") from None
        if not check.ok:
            problem = (
                "DATA_LOSS_DETECTION_ERROR"
                if "undefined term" in (check.reason or "")
                else "PROOF_VERIFICATION_ERROR"
            )
            raise refuse(problem, f"{check.cryptosuite or proof.get('cryptosuite')}: {check.reason}")


def _proof_shapes(document: Mapping[str, Any]) -> None:
    """What every proof must say before any of it is processed (VC Data Integrity §2.1)."""
    proofs = _as_list(document["proof"])
    for n, proof in enumerate(proofs):
        where = f"proof[{n}]" if isinstance(document["proof"], list) else "proof"
        for key in ("type", "verificationMethod", "proofPurpose", "proofValue"):
            if not proof.get(key):
                raise _problem("vc_proof_failed", "PROOF_VERIFICATION_ERROR", f"{where}: {key} is missing")
        if proof["type"] != "DataIntegrityProof":
            raise _problem(
                "vc_proof_failed",
                "PROOF_VERIFICATION_ERROR",
                f"{where}: type {proof['type']!r} is not DataIntegrityProof",
            )
        if proof.get("cryptosuite") not in CRYPTOSUITES:
            raise _problem(
                "vc_proof_failed",
                "PROOF_VERIFICATION_ERROR",
                f"{where}: unsupported cryptosuite {proof.get('cryptosuite')!r}",
            )


def _warning(detail: str) -> dict[str, Any]:
    return {"type": SEC + "PROOF_VERIFICATION_WARNING", "title": "warning", "detail": detail}
