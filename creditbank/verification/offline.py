"""Verification with a key file and nothing else (no network, no database).

The key file is what the bank publishes: ``GET /api/v1/keys`` (keys with their status and
compromise times — the most complete), ``/.well-known/did.json`` (keys missing from
``assertionMethod`` count as compromised from the beginning) or ``/.well-known/jwks.json``
(no status at all: every key is taken as valid). Each also says since when the bank seals every
PDF (``creditbank_pdf_seals_since``); a file saved before that was published says nothing, and an
unsealed PDF is then checked by its printed text (``integrity`` null), never called forged.

Without the network there is no revocation status: a genuine certificate is then the verdict
``unchecked`` ("signature genuine; revocation not checked"), never ``valid`` — unless the caller
gives a saved status list (``GET /api/v1/status-lists/{id}``, the list the credential's
``credentialStatus`` names), whose own signature is checked with the same keys; the answer is
then true as of the list's ``validFrom``.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from creditbank.certificates.keys import (
    IssuerKey,
    KeyStoreError,
    keys_from_metadata,
    published_pdf_seals_since,
    valid_at,
)
from creditbank.errors import CreditbankError
from creditbank.kit import clock, statuslist
from creditbank.kit import signednote as sn
from creditbank.kit.dataintegrity import verify_proof_set
from creditbank.kit.multikey import public_key_from_multibase
from creditbank.kit.units import credits_of_text
from creditbank.verification import inputs, logproof
from creditbank.verification.verify import (
    Check,
    KeyGap,
    StatusAnswer,
    Verdict,
    claims_agree,
    pdf_checks,
    verify_credential,
    verify_payload,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class KeyFile:
    dids: set[str] | None
    """The issuer's DIDs if the file names them (a did.json's ``id`` and ``alsoKnownAs``, the
    addresses the bank had before it moved)."""
    keys: dict[str, IssuerKey]
    pdf_seals_since: datetime | None
    """Since when every PDF the bank makes is sealed; None when the file does not say."""


def load_keys(data: bytes) -> KeyFile:
    """A saved ``GET /api/v1/keys``, did.json or jwks.json (``unusable_input`` if it is none)."""
    try:
        document: Any = json.loads(data)
        dids, keys = _keys_of(document)
        return KeyFile(dids, keys, published_pdf_seals_since(document))
    except (ValueError, KeyError, TypeError, KeyStoreError, RecursionError) as exc:
        raise CreditbankError(
            "unusable_input", {"reason": f"密钥文件无法读取 / unreadable key file ({exc})"}
        ) from None


def _keys_of(document: Any) -> tuple[set[str] | None, dict[str, IssuerKey]]:
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
    raise CreditbankError(
        "unusable_input",
        {"reason": "不是 did.json、jwks.json 或密钥列表 / not a did.json, jwks.json or key list"},
    )


@dataclass(frozen=True)
class SavedStatusList:
    """A status list credential saved earlier, its signature checked: the bits as of ``as_of``."""

    url: str
    bits: bytes
    as_of: str

    def covers(self, list_url: str) -> bool:
        """The same list — by URL, or by its number when the bank has moved to another address
        since (``…/api/v1/status-lists/<n>`` on both sides)."""
        if list_url == self.url:
            return True
        marker = "/api/v1/status-lists/"
        return (
            marker in list_url
            and marker in self.url
            and (list_url.rsplit(marker, 1)[1] == self.url.rsplit(marker, 1)[1])
        )

    def answer(self, entry: dict[str, Any]) -> StatusAnswer | None:
        if not self.covers(str(entry.get("statusListCredential", ""))):
            return None
        try:
            revoked = statuslist.get_bit(self.bits, int(entry.get("statusListIndex", "")))
        except (ValueError, TypeError, IndexError):
            return None
        return StatusAnswer(revoked=revoked, as_of=self.as_of)


def _unusable(reason: str) -> CreditbankError:
    return CreditbankError("unusable_input", {"reason": reason})


def load_status_list(data: bytes, lookup, key_gap: KeyGap | None = None) -> SavedStatusList | Check:
    """A saved ``BitstringStatusListCredential``, trusted only if the bank's keys signed it; signed
    with a key the key file lacks (``key_gap``): the check saying so, for ``status``."""
    document = inputs.json_object(data)
    types = document.get("type", []) if document else []
    if document is None or "BitstringStatusListCredential" not in types:
        raise _unusable(
            "--status-list 不是本行的状态列表（GET /api/v1/status-lists/…） / --status-list is not a "
            "status list credential (GET /api/v1/status-lists/…)"
        )

    def resolve(method: str):
        key = lookup(method)
        return key.public_key if key else None

    proofs = document.get("proof")
    for proof in proofs if isinstance(proofs, list) else [proofs]:
        method = str(proof.get("verificationMethod", "")) if isinstance(proof, dict) else ""
        if key_gap is not None and method and lookup(method) is None:
            gap = key_gap(method)
            return Check(
                None,
                f"未核对撤销状态：状态列表由密钥文件中没有的密钥签名（{gap.zh}）",
                f"revocation not checked: the status list is signed with a key the key file lacks ({gap.en})",
                missing_key=gap.missing_key,
            )
    results = verify_proof_set(document, resolve, budget_seconds=math.inf)
    genuine = bool(results) and all(r.ok for r in results)
    for proof in proofs if isinstance(proofs, list) else [proofs]:
        if not isinstance(proof, dict):
            genuine = False
            continue
        key = lookup(str(proof.get("verificationMethod", "")))
        signed_at = clock.parse_iso(proof.get("created"))
        if key is None or signed_at is None or not valid_at(key, signed_at)[0]:
            genuine = False  # signed by a key compromised by then: not to be trusted either
    if not genuine:
        raise _unusable(
            "状态列表的签名无法用本行公布的密钥核对 / the status list's signature does not verify with "
            "the bank's published keys"
        )
    subject = document.get("credentialSubject") or {}
    try:
        bits = statuslist.decode(subject.get("encodedList"))
    except ValueError as exc:
        raise _unusable(f"状态列表无法解码 / the status list cannot be decoded ({exc})") from None
    as_of = str(document.get("validFrom", "?"))
    return SavedStatusList(url=str(document.get("id", "")), bits=bytes(bits), as_of=as_of[:10])


def load_log_keys(items: Sequence[str | bytes]) -> list[sn.Verifier]:
    """The log's checkpoint keys from verifier keys (``name+id+key``) or a saved ``GET /api/v1/log/keys``
    (its compromised keys are left out: they vouch for nothing)."""
    verifiers: list[sn.Verifier] = []
    for item in items:
        text = item.decode("utf-8", "replace") if isinstance(item, bytes) else item
        try:
            if text.lstrip().startswith("{"):
                document = json.loads(text)
                verifiers += [
                    sn.parse_vkey(k["vkey"])
                    for k in document.get("keys", [])
                    if k.get("status") != "compromised"
                ]
            else:
                verifiers += [sn.parse_vkey(line) for line in text.split() if line]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CreditbankError(
                "unusable_input", {"reason": f"日志公钥无法读取 / unreadable log key ({exc})"}
            ) from None
    return verifiers


def keys_url(submitted: inputs.Submitted) -> str | None:
    """Where the certificate's bank publishes its keys, by the address the certificate itself gives:
    its link's bank (a PDF's or photo's QR), the credential's ``id`` (``<bank>/api/v1/certificates/…``)
    or, failing both, its issuer's did:web (always https)."""
    credential = submitted.credential or {}
    marker = "/api/v1/certificates/"
    credential_id = credential.get("id")
    issuer = credential.get("issuer")
    did = issuer.get("id") if isinstance(issuer, dict) else issuer
    if submitted.bank:
        base = submitted.bank
    elif isinstance(credential_id, str) and "://" in credential_id and marker in credential_id:
        base = credential_id.rsplit(marker, 1)[0]
    elif isinstance(did, str) and did.startswith("did:web:"):
        host, *path = did.removeprefix("did:web:").split(":")
        base = "https://" + "/".join(unquote(part) for part in (host, *path))
    else:
        return None
    return f"{base}/api/v1/keys"


def _key_gap(submitted: inputs.Submitted, key_file_name: str, dids: set[str] | None) -> KeyGap:
    """What to say of a key the key file lacks: not a forgery — the file predates the key (saved
    before the bank rotated it) or is another bank's — and where to download the keys again."""
    where = keys_url(submitted)
    fetch_zh = (
        f"请从 {where} 重新下载发证机构的密钥（地址取自证书本身，请确认是您所知的发证机构）"
        if where
        else ("请重新下载发证机构的密钥")
    )
    fetch_en = (
        f"download the bank's keys again from {where} (the address the certificate itself gives: "
        "check it is the bank you know)"
        if where
        else "download the bank's keys again"
    )

    def gap(ref: str) -> Check:
        method_did, _, kid = ref.rpartition("#")
        kid = kid or ref
        if method_did and dids and method_did not in dids:
            return Check(
                None,
                f"证书由 {method_did} 签发，密钥文件 {key_file_name} 属于另一发证机构（{'、'.join(sorted(dids))}）："
                f"{fetch_zh}",
                f"the certificate is signed by {method_did}; the key file {key_file_name} is another "
                f"issuer's ({', '.join(sorted(dids))}): {fetch_en}",
                missing_key=kid,
            )
        return Check(
            None,
            f"密钥文件 {key_file_name} 中没有签名密钥 {kid}：该文件可能保存于发证机构更换密钥之前。{fetch_zh}",
            f"the key file {key_file_name} does not have the signing key {kid}: it was probably saved "
            f"before the bank rotated its key. {fetch_en.capitalize()}",
            missing_key=kid,
        )

    return gap


def verify(
    submitted: inputs.Submitted,
    key_file: bytes,
    status_list: bytes | None = None,
    *,
    log_keys: list[sn.Verifier] | None = None,
    witnesses: list[sn.Verifier] | None = None,
    quorum: int = 0,
    key_file_name: str = "bank-keys.json",
) -> dict[str, Any]:
    """``log_keys``: the log's public keys, to check the transparency-log proof a PDF (or a JSON
    ``{credential, log_proof}``) carries; ``witnesses`` and ``quorum``: demand cosignatures by at
    least ``quorum`` of them on its checkpoint. A key the key file (``key_file_name``, as the
    verifier named it) lacks leaves what it signed unchecked: verdict ``unknown_key``."""
    key_file_read = load_keys(key_file)
    dids, keys = key_file_read.dids, key_file_read.keys

    def lookup(ref: str) -> IssuerKey | None:
        method_did, _, kid = ref.rpartition("#")
        if method_did and dids and method_did not in dids:
            return None
        return keys.get(kid or ref)

    key_gap = _key_gap(submitted, key_file_name, dids)

    if submitted.credential is None and submitted.payload is None:
        raise _unusable(
            "这个链接没有 #CB1.… 签名片段，离线无法核验：请在线验证（不加 --offline），或使用 PDF、二维码照片 / "
            "this link has no signed #CB1.… fragment, so it cannot be checked offline: verify it online "
            "(without --offline), or use the PDF or a photo of the QR code"
        )
    loaded = load_status_list(status_list, lookup, key_gap) if status_list is not None else None
    saved = loaded if isinstance(loaded, SavedStatusList) else None
    notes: list[str] = []
    verdicts = []
    if submitted.credential is not None:
        entry = submitted.credential.get("credentialStatus")
        if saved is not None and isinstance(entry, dict) and saved.answer(entry) is None:
            notes.append(
                f"所给状态列表 {saved.url} 不包含本证书（它在 {entry.get('statusListCredential')}）/ the "
                f"status list given ({saved.url}) does not cover this certificate (its list: "
                f"{entry.get('statusListCredential')})"
            )
        # The holder checks a file on their own machine: no time budget (a long transcript of the
        # bank's takes longer than a stranger's upload may on the server).
        verdicts.append(
            verify_credential(
                submitted.credential,
                keys=lookup,
                check_proofs=lambda document, resolve: verify_proof_set(
                    document, resolve, budget_seconds=math.inf
                ),
                status=saved.answer if saved is not None else None,
                log_inclusion=logproof.check(
                    submitted.credential,
                    submitted.log_proof,
                    log_keys or [],
                    witnesses=witnesses or [],
                    quorum=quorum,
                )[0],
                key_gap=key_gap,
            )
        )
    elif saved is not None:
        notes.append(
            "只有二维码时无法从状态列表查到本证书（二维码不含状态位置）：请用 PDF 或证书 JSON / a QR code alone "
            "does not say where the certificate's status bit is: give the PDF or the credential JSON"
        )
    if submitted.payload is not None:
        verdicts.append(
            verify_payload(
                submitted.payload,
                keys=lookup,
                url_certificate_id=submitted.certificate_id,
                log_inclusion=logproof.NO_ROOM_IN_QR,
                key_gap=key_gap,
            )
        )
    if submitted.credential is not None and submitted.payload is not None:  # both verdicts made
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
    verdict.notes.extend(notes)
    if submitted.source == "pdf" and verdict.checks["integrity"].ok is not False:
        pdf_checks(
            verdict.checks,
            printed_text=submitted.printed_text,
            credential=submitted.credential,
            claims=verdict.claims,
            seal=submitted.seal,
            seal_damaged=submitted.seal_damaged,
            keys=lookup,
            seals_since=key_file_read.pdf_seals_since,
            key_gap=key_gap,
        )
    if isinstance(loaded, Check) and verdict.checks["status"].ok is not False:
        verdict.checks["status"] = loaded
    claims = verdict.claims or {}
    summary = (
        {
            "id": claims.get("certificate_id"),
            "learner_name": claims.get("learner_name"),
            "total_credits": credits_of_text(
                claims.get("total_credits")
            ),  # signed as text, shown as a number
        }
        if claims
        else None
    )
    missing = (
        {
            "missing_key": {
                "kid": verdict.missing_key,
                "keys_url": keys_url(submitted),
                "key_file": key_file_name,
            }
        }
        if verdict.missing_key
        else {}
    )
    return verdict.as_dict() | {"certificate": summary, "source": submitted.source} | missing
