"""Verification with a key file and nothing else (no network, no database).

The key file is what the bank publishes: ``GET /api/v1/keys`` (keys with their status and
compromise times — the most complete), ``/.well-known/did.json`` (keys missing from
``assertionMethod`` count as compromised from the beginning) or ``/.well-known/jwks.json``
(no status at all: every key is taken as valid).
"""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from creditbank.certificates.keys import IssuerKey, KeyStoreError, keys_from_metadata
from creditbank.errors import CreditbankError
from creditbank.kit.dataintegrity import verify_proof_set
from creditbank.kit.multikey import public_key_from_multibase
from creditbank.verification import inputs
from creditbank.verification.verify import Check, Verdict, claims_agree, verify_credential, verify_payload

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def load_keys(data: bytes) -> tuple[set[str] | None, dict[str, IssuerKey]]:
    """(the issuer's DIDs if the file names them — a did.json's ``id`` and ``alsoKnownAs``, the
    addresses the bank had before it moved —, keys by kid)."""
    try:
        document: Any = json.loads(data)
        if isinstance(document, list):
            return None, {k.kid: k for k in keys_from_metadata(document)}
        if isinstance(document, dict) and "verificationMethod" in document:
            dids = {document.get("id"), *document.get("alsoKnownAs", [])} - {None}
            trusted = set(document.get("assertionMethod", []))
            keys: dict[str, IssuerKey] = {}
            for method in document["verificationMethod"]:
                method_did, _, kid = method["id"].partition("#")
                if method_did not in dids or (kid in keys and keys[kid].status != "compromised"):
                    continue
                compromised = method["id"] not in trusted
                keys[kid] = IssuerKey(
                    kid=kid,
                    public_key=public_key_from_multibase(method["publicKeyMultibase"]),
                    created_at=_EPOCH,
                    status="compromised" if compromised else "active",
                    retired_at=None,
                    compromised_at=_EPOCH if compromised else None,
                )
            return dids, keys
        if isinstance(document, dict) and isinstance(document.get("keys"), list):
            keys = {}
            for jwk in document["keys"]:
                raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
                keys[jwk["kid"]] = IssuerKey(
                    kid=jwk["kid"],
                    public_key=Ed25519PublicKey.from_public_bytes(raw),
                    created_at=_EPOCH,
                    status="active",
                    retired_at=None,
                    compromised_at=None,
                )
            return None, keys
    except (ValueError, KeyError, TypeError, KeyStoreError, RecursionError) as exc:
        raise CreditbankError(
            "unusable_input", {"reason": f"密钥文件无法读取 / unreadable key file ({exc})"}
        ) from None
    raise CreditbankError(
        "unusable_input",
        {"reason": "不是 did.json、jwks.json 或密钥列表 / not a did.json, jwks.json or key list"},
    )


def verify(submitted: inputs.Submitted, key_file: bytes) -> dict[str, Any]:
    dids, keys = load_keys(key_file)

    def lookup(ref: str) -> IssuerKey | None:
        method_did, _, kid = ref.rpartition("#")
        if method_did and dids and method_did not in dids:
            return None
        return keys.get(kid or ref)

    verdicts = []
    if submitted.credential is not None:
        # The holder checks a file on their own machine: no time budget (a long transcript of the
        # bank's takes longer than a stranger's upload may on the server).
        verdicts.append(
            verify_credential(
                submitted.credential,
                keys=lookup,
                check_proofs=lambda document, resolve: verify_proof_set(
                    document, resolve, budget_seconds=math.inf
                ),
            )
        )
    if submitted.payload is not None:
        verdicts.append(
            verify_payload(submitted.payload, keys=lookup, url_certificate_id=submitted.certificate_id)
        )
    if len(verdicts) == 2:
        credential_verdict, payload_verdict = verdicts
        checks = {
            name: (
                c
                if c.ok is False
                else payload_verdict.checks[name]
                if payload_verdict.checks[name].ok is False
                else c
            )
            for name, c in credential_verdict.checks.items()
        }
        if payload_verdict.checks["integrity"].ok is False:  # e.g. the QR URL names another certificate
            checks["integrity"] = payload_verdict.checks["integrity"]
        elif claims_agree(submitted.credential, payload_verdict.claims):
            checks["integrity"] = Check(
                True, "PDF 附带的证书数据与二维码内容一致", "the PDF's attached credential and its QR agree"
            )
        else:
            checks["integrity"] = Check(
                False,
                "PDF 附带的证书数据与二维码内容不一致",
                "the PDF's attached credential and its QR disagree",
            )
        verdict = Verdict(checks=checks, claims=payload_verdict.claims)
    else:
        verdict = verdicts[0]
    claims = verdict.claims or {}
    summary = (
        {
            "id": claims.get("certificate_id"),
            "learner_name": claims.get("learner_name"),
            "total_credits": claims.get("total_credits"),
        }
        if claims
        else None
    )
    return verdict.as_dict() | {"certificate": summary, "source": submitted.source}
