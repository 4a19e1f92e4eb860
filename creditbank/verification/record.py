"""Does a certificate row's printed summary say what the bank signed?

``printed_json`` is what the verify answer, the /v/ page and the PDF show, but nothing signs that
column: someone with database access could change a course title or the credits there and the
credential (whose digest, signatures and log leaf are all intact) would still verify. So before
the bank shows its record as verified it is compared with the two documents the bank signed at
issue: the credential (learner, masked ID, account, total credits, issuer, institutions) and the
QR payload, whose claims cover every line's title, credits, date and institution (a long
transcript's through their digest). Not covered: a line's English title, which neither carries
as printed (a transcript adds "(1.5 converted)" to it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from creditbank.certificates.credentials import Line, Printed, line_role, qr_claims
from creditbank.certificates.keys import IssuerKey
from creditbank.kit import qrpayload
from creditbank.kit.units import credits_of_text
from creditbank.verification.verify import claims_match, credential_facts


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _printed(printed_json: str) -> Printed | None:
    try:
        data = json.loads(printed_json)
        data["lines"] = tuple(Line(**line) for line in data["lines"])
        return Printed(**data)
    except (ValueError, TypeError, KeyError):
        return None


def _qr_claims(
    payload: str, key: Callable[[str], IssuerKey | None] | None
) -> tuple[bool, dict[str, Any] | None]:
    if key is None:
        try:
            return True, qrpayload.decode(payload)[1]
        except qrpayload.PayloadError:
            return False, None
    ok, claims, _ = qrpayload.verify(
        payload, lambda kid: found.public_key if (found := key(kid)) is not None else None
    )
    return ok, claims


def differences(
    certificate_id: str,
    printed_json: str,
    credential: dict[str, Any],
    qr_payload: str,
    key: Callable[[str], IssuerKey | None] | None,
) -> list[str]:
    """What in ``printed_json`` the signed documents do not vouch for (empty: it agrees). ``key``
    finds the bank's key by kid; ``None`` (an audit without the keys folder) compares the QR's
    claims unverified. The credential's own signature is the caller's check."""
    printed = _printed(printed_json)
    if printed is None:
        return ["printed_json"]
    wrong: list[str] = []
    ok, claims = _qr_claims(qr_payload, key)
    if not ok or claims is None or qrpayload.certificate_id(claims) != certificate_id:
        wrong.append("qr_payload")
    elif not claims_match(qr_claims(printed), claims):
        wrong.append("lines")
    facts = credential_facts(credential)
    for name in ("certificate_id", "learner_name", "id_masked", "account_no"):
        if facts[name] != getattr(printed, name):
            wrong.append(name)
    issuer = credential.get("issuer") or {}
    if (issuer.get("id"), issuer.get("name"), issuer.get("description")) != (
        printed.issuer_did,
        printed.issuer_name_zh,
        printed.issuer_name_en,
    ):
        wrong.append("issuer")
    signed = list(_strings(credential))
    if any(not any(line.institution_name in text for text in signed) for line in printed.lines):
        wrong.append("institution")
    return wrong


ALTERED_ZH = "本行存档中的证书内容被改动过，与签名数据不符"
ALTERED_EN = "the bank's stored copy of this certificate was altered: it differs from the signed credential"


def signed_summary(
    summary: dict[str, Any],
    credential: dict[str, Any],
    qr_payload: str,
    key: Callable[[str], IssuerKey | None],
) -> dict[str, Any]:
    """An altered record's summary with what the signed documents say in place of the record's
    text: the learner from the credential, the lines from the QR claims when their signature holds
    (a line's English title and institution name are not in them: the institution's code instead)."""
    facts = credential_facts(credential)
    ok, claims = _qr_claims(qr_payload, key)
    signed = claims if ok and claims is not None else {}
    signed_lines = [line for line in signed.get("lines", []) if isinstance(line, dict)]
    return summary | {
        "learner_name": facts["learner_name"],
        "id_masked": facts["id_masked"],
        "account_no": facts["account_no"],
        "total_credits": credits_of_text(signed["total_credits"]) if signed else facts["total_credits"],
        "lines": [
            {
                "title_zh": line.get("title_zh"),
                "title_en": None,
                "credits": credits_of_text(str(line.get("credits", "0"))),
                "completed_on": line.get("completed_on"),
                "institution": line.get("institution_code"),
                "role": line_role(str(signed.get("kind")), n),  # the signed kind, not the record's
            }
            for n, line in enumerate(signed_lines)
        ],
    }
