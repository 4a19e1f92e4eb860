"""The verifier (pure: no database, no web).

Every check is reported on its own — ``signature``, ``issuer_key``, ``integrity``, ``status``,
``log_inclusion`` — as ``ok: True | False | None`` with a reason in Chinese and English. ``None``
means the check could not apply (e.g. no network for the status list, no transparency log yet)
and is never counted as a pass for that check; ``valid`` needs signature, issuer_key and status
to pass and no check to fail. A genuine signature whose revocation status could not be checked
(offline without a saved status list) is the verdict ``unchecked`` — never ``valid``.

Keys come from the caller's ``KeyLookup`` (the issuer's published documents or a local key
file), never from the document being verified.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from creditbank.certificates.keys import IssuerKey, valid_at
from creditbank.errors import CreditbankError, in_language
from creditbank.kit import clock, pdfseal, qrpayload, reasons
from creditbank.kit.canonical import digest_hex
from creditbank.kit.dataintegrity import (
    JCS,
    RDFC,
    UNKNOWN_METHOD,
    ProofCheck,
    UndefinedTermError,
    verify_proof_set,
)
from creditbank.kit.jsonld import WorkBudgetExceeded

CHECKS = ("signature", "issuer_key", "integrity", "status", "log_inclusion")


@dataclass(frozen=True)
class Check:
    ok: bool | None
    zh: str
    en: str
    reason: str | None = None
    """A stored revocation reason (``kit.reasons``): each detail gets it in its own language."""
    missing_key: str | None = None
    """Not checked because the verifier's key file lacks this key (its kid): ``KeyGap``."""

    def as_dict(self) -> dict[str, Any]:
        if self.reason is not None:
            zh = reasons.text(self.reason, "zh") or "未说明"
            en = reasons.text(self.reason, "en") or "no reason given"
            return {
                "ok": self.ok,
                "detail": f"{self.zh}：{zh} / {self.en}: {en}",
                "detail_zh": f"{self.zh}：{zh}",
                "detail_en": f"{self.en}: {en}",
            }
        return {"ok": self.ok, "detail": f"{self.zh} / {self.en}", "detail_zh": self.zh, "detail_en": self.en}


@dataclass(frozen=True)
class StatusAnswer:
    revoked: bool
    reason: str | None = None
    as_of: str | None = None
    """Set when the answer comes from a saved status list (offline): the list's ``validFrom``."""


@dataclass
class Verdict:
    checks: dict[str, Check]
    certificate: dict[str, Any] | None = None
    claims: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def missing_key(self) -> str | None:
        """The key a check needed and the verifier's key file does not have (offline)."""
        return next((c.missing_key for c in self.checks.values() if c.missing_key), None)

    @property
    def genuine(self) -> bool:
        """The signature and the signing key pass and no check fails (status may be unknown)."""
        if self.checks["signature"].ok is not True or self.checks["issuer_key"].ok is not True:
            return False
        return all(check.ok is not False for check in self.checks.values())

    @property
    def valid(self) -> bool:
        """Genuine and known not to be revoked: nothing that could not be checked counts as a pass."""
        return self.genuine and self.checks["status"].ok is True and self.missing_key is None

    @property
    def verdict(self) -> str:
        """有效 valid / 已撤销 revoked / 无效 invalid / ``unchecked`` (签名真实，未检查撤销状态:
        genuine, but the revocation status could not be checked) / ``unknown_key`` (offline: the key
        file lacks a key the certificate names, so nothing it signed could be judged — a key file
        saved before the bank rotated its key; never called forged) — what the verifier shows."""
        if self.missing_key is not None and all(c.ok is not False for c in self.checks.values()):
            return "unknown_key"
        if self.valid:
            return "valid"
        if self.genuine:
            return "unchecked"
        revoked = self.checks["status"].ok is False
        others_ok = all(c.ok is not False for name, c in self.checks.items() if name != "status")
        return "revoked" if revoked and others_ok else "invalid"

    def as_dict(self) -> dict[str, Any]:
        answer = {
            "valid": self.valid,
            "verdict": self.verdict,
            "checks": {name: self.checks[name].as_dict() for name in CHECKS},
            "certificate": self.certificate,
        }
        return answer | ({"notes": list(self.notes)} if self.notes else {})


KeyLookup = Callable[[str], IssuerKey | None]  # verification method or kid → our published key
KeyGap = Callable[[str], Check]
"""Offline: a verification method or kid the ``KeyLookup`` lacks → the check saying so (``ok``
None, ``missing_key`` set). The bank's own verifier has none: it knows every key it ever had, so
a key it lacks is not its own and the signature fails."""
StatusLookup = Callable[
    [dict[str, Any]], StatusAnswer | None
]  # credentialStatus entry → answer (None: unknown)

NOT_LOGGED = Check(None, "未核对透明日志", "transparency-log inclusion not checked")


def _key_check(key: IssuerKey | None, signed_at: datetime | None) -> Check:
    if key is None:
        return Check(False, "签名密钥不是本行公布的密钥", "the signing key is not one the bank published")
    if signed_at is None:
        return Check(False, "缺少签名时间", "signature time missing")
    ok, reason = valid_at(key, signed_at)
    if not ok:
        # valid_at says it in both languages ("中文 / English"): each detail takes its own half.
        return Check(
            False,
            in_language(reason, "zh") if reason else "签名密钥已泄露",
            in_language(reason, "en") if reason else "key compromised",
        )
    if key.status == "retired":
        return Check(
            True,
            f"密钥 {key.kid} 已轮换停用，但签发时有效",
            f"key {key.kid} is retired but was valid when it signed",
        )
    return Check(True, f"密钥 {key.kid} 有效", f"key {key.kid} is valid")


def _status_check(answer: StatusAnswer | None) -> Check:
    if answer is None:
        return Check(None, "未检查撤销状态（离线）", "revocation status not checked (offline)")
    if answer.as_of is not None:  # a status list saved earlier: true as of its date
        if answer.revoked:
            return Check(
                False,
                f"证书已撤销（据 {answer.as_of} 的状态列表）",
                f"revoked (status list of {answer.as_of})",
            )
        return Check(
            True, f"未撤销（据 {answer.as_of} 的状态列表）", f"not revoked (status list of {answer.as_of})"
        )
    if answer.revoked:
        return Check(False, "证书已撤销", "revoked", reason=answer.reason or "")
    return Check(True, "未撤销", "not revoked")


def verify_credential(
    credential: dict[str, Any],
    *,
    keys: KeyLookup,
    status: StatusLookup | None = None,
    recorded_hash: str | None = None,
    summary: dict[str, Any] | None = None,
    check_proofs: Callable[..., list[ProofCheck]] = verify_proof_set,
    log_inclusion: Check | None = None,
    key_gap: KeyGap | None = None,
) -> Verdict:
    """A full credential (from the API, a JSON upload or a PDF attachment). ``log_inclusion``: the
    caller's transparency-log check (``verification.logproof``), since only it knows the log.
    ``key_gap``: offline, a signing key the key file lacks leaves the signature unchecked."""
    proofs = credential.get("proof")
    proof_list = proofs if isinstance(proofs, list) else [proofs] if isinstance(proofs, dict) else []
    checks: dict[str, Check] = {}
    methods = [str(p.get("verificationMethod", "")) for p in proof_list if isinstance(p, dict)]
    gap = next((key_gap(m) for m in methods if key_gap is not None and keys(m) is None), None)
    if gap is not None:
        checks["signature"] = Check(
            None,
            "未核对签名：密钥文件中没有签名所用的密钥",
            "signature not checked: the key file lacks the key that signed it",
            missing_key=gap.missing_key,
        )
        checks["issuer_key"] = gap
        proof_list = []

    def resolve(method: str) -> Ed25519PublicKey | None:
        key = keys(method)
        return key.public_key if key else None

    try:
        results = check_proofs(credential, resolve) if proof_list else []
    except UndefinedTermError as exc:
        results = []
        checks["signature"] = Check(False, f"含有未定义的字段 {exc}", f"undefined term {exc}")
    except WorkBudgetExceeded as exc:
        # Refused, not judged: a document built to be slow says nothing about its signature.
        raise CreditbankError("credential_too_complex", {"seconds": f"{exc.seconds:g}"}) from None
    if "signature" not in checks:
        suites = {r.cryptosuite for r in results if r.ok}
        failed = [r for r in results if not r.ok]
        if not proof_list:
            checks["signature"] = Check(False, "没有签名", "no proof")
        elif failed and all(r.reason == UNKNOWN_METHOD for r in failed):
            # Not a changed byte: a key that is not the bank's (the issuer_key check names it).
            checks["signature"] = Check(
                False,
                "签名所用的密钥不是本行公布的密钥，不能证明由本行签发",
                "signed with a key the bank never published: not shown to be the bank's",
            )
        elif failed:
            why = "; ".join(f"{r.cryptosuite}: {r.reason}" for r in failed)
            checks["signature"] = Check(
                False, f"签名不符，内容可能被篡改（{why}）", f"signature does not match ({why})"
            )
        elif not {RDFC, JCS} <= suites:
            checks["signature"] = Check(
                False,
                "缺少 eddsa-rdfc-2022 或 eddsa-jcs-2022 签名",
                "an eddsa-rdfc-2022 or eddsa-jcs-2022 proof is missing",
            )
        else:
            checks["signature"] = Check(
                True, "两个签名（RDFC 与 JCS）均正确", "both proofs (RDFC and JCS) verify"
            )
    if "issuer_key" not in checks:
        key_checks = [
            _key_check(keys(str(p.get("verificationMethod", ""))), clock.parse_iso(p.get("created")))
            for p in proof_list
            if isinstance(p, dict)
        ]
        bad_key = next((c for c in key_checks if c.ok is not True), None)
        checks["issuer_key"] = bad_key or (
            key_checks[0] if key_checks else Check(False, "没有签名密钥", "no signing key named")
        )
    if recorded_hash is None:
        checks["integrity"] = Check(
            None, "没有可比对的存档副本（离线）", "no recorded copy to compare (offline)"
        )
    elif digest_hex(credential) == recorded_hash:
        checks["integrity"] = Check(True, "与本行存档完全一致", "identical to the bank's record")
    else:
        checks["integrity"] = Check(False, "与本行存档不一致", "differs from the bank's record")
    entry = credential.get("credentialStatus")
    checks["status"] = _status_check(status(entry) if status and isinstance(entry, dict) else None)
    checks["log_inclusion"] = log_inclusion or NOT_LOGGED
    return Verdict(checks=checks, certificate=summary)


def verify_payload(
    payload: str,
    *,
    keys: KeyLookup,
    status: Callable[[str], StatusAnswer | None] | None = None,
    recorded_claims: dict[str, Any] | None = None,
    summary: dict[str, Any] | None = None,
    url_certificate_id: str | None = None,
    log_inclusion: Check | None = None,
    key_gap: KeyGap | None = None,
) -> Verdict:
    """The QR payload alone: every printed claim, checked with the issuer's public key.

    ``url_certificate_id``: the id in the path of the scanned ``…/v/<id>#<payload>`` URL, when
    there was one; it must be the certificate the payload signs (a genuine payload of A behind
    B's address is a forgery of B)."""
    checks: dict[str, Check] = {}
    try:
        kid, claims, _, _ = qrpayload.decode(payload)
    except qrpayload.PayloadError as exc:
        bad = Check(False, f"二维码内容无法识别：{exc}", f"unreadable QR payload: {exc}")
        return Verdict(
            checks={
                "signature": bad,
                "issuer_key": bad,
                "integrity": Check(None, "—", "—"),
                "status": Check(None, "—", "—"),
                "log_inclusion": NOT_LOGGED,
            },
            certificate=summary,
        )
    key = keys(kid)
    if key is None and key_gap is not None:
        gap = key_gap(kid)
        checks["signature"] = Check(
            None,
            "未核对二维码签名：密钥文件中没有签名所用的密钥",
            "QR signature not checked: the key file lacks the key that signed it",
            missing_key=gap.missing_key,
        )
        checks["issuer_key"] = gap
    else:
        ok, _, reason = qrpayload.verify(payload, lambda k: key.public_key if key and k == key.kid else None)
        checks["signature"] = (
            Check(True, "二维码签名正确", "QR signature verifies")
            if ok
            else Check(
                False,
                "二维码签名所用的密钥不是本行公布的密钥",
                "the QR is signed with a key the bank never published",
            )
            if key is None
            else Check(
                False,
                f"二维码签名不符，内容可能被篡改（{in_language(reason or '', 'zh')}）",
                f"QR signature does not match ({in_language(reason or '', 'en')})",
            )
        )
        checks["issuer_key"] = _key_check(key, qrpayload.signed_at(claims))
    if recorded_claims is None:
        checks["integrity"] = Check(
            None, "没有可比对的存档副本（离线）", "no recorded copy to compare (offline)"
        )
    elif claims_match(recorded_claims, claims):
        checks["integrity"] = Check(True, "二维码内容与存档一致", "QR claims match the record")
    else:
        checks["integrity"] = Check(False, "二维码内容与存档不一致", "QR claims differ from the record")
    certificate_id = qrpayload.certificate_id(claims)
    if url_certificate_id is not None and url_certificate_id != certificate_id:
        checks["integrity"] = Check(
            False,
            f"网址中的证书编号 {url_certificate_id} 与签名内容（{certificate_id}）不符",
            f"the certificate id in the URL ({url_certificate_id}) differs from the signed one ({certificate_id})",
        )
    checks["status"] = _status_check(status(certificate_id) if status and certificate_id else None)
    checks["log_inclusion"] = log_inclusion or NOT_LOGGED
    return Verdict(checks=checks, certificate=summary, claims=claims)


def claims_match(recorded: dict[str, Any], decoded: dict[str, Any]) -> bool:
    """Do the QR's signed claims say what the bank recorded? (A long transcript's QR covers its
    first lines plus a digest of all of them.)"""
    shown = {
        k: v for k, v in decoded.items() if k not in ("signed_at", "lines", "lines_total", "lines_sha256")
    }
    expected = {k: v for k, v in recorded.items() if k != "lines"}
    if shown != expected:
        return False
    all_lines = recorded.get("lines", [])
    lines = decoded.get("lines", [])
    if lines != all_lines[: len(lines)]:
        return False
    if decoded.get("lines_sha256"):  # the QR covers only the first lines
        return decoded.get("lines_total") == len(all_lines) and decoded[
            "lines_sha256"
        ] == qrpayload.lines_digest(all_lines)
    return len(lines) == len(all_lines)


def credential_facts(credential: dict[str, Any]) -> dict[str, Any]:
    """What a credential says that a QR also prints: id, learner, masked ID, account, total credits."""
    subject = credential.get("credentialSubject") or {}
    identities = {
        i.get("identityType"): i.get("identityHash")
        for i in subject.get("identifier", [])
        if isinstance(i, dict)
    }
    if "verifiableCredential" in subject:
        total = sum(
            float((c.get("credentialSubject") or {}).get("creditsEarned", 0))
            for c in subject["verifiableCredential"]
            if isinstance(c, dict)
        )
    else:
        total = float(subject.get("creditsEarned", 0))
    return {
        "certificate_id": str(credential.get("id", "")).rsplit("/", 1)[-1],
        "learner_name": identities.get("name"),
        "id_masked": identities.get("nationalIdentityNumber"),
        "account_no": identities.get("accountId"),
        "total_credits": round(total, 2),
    }


PRINTED_TEXT_DIFFERS = Check(
    False,
    "PDF 页面上印的内容与签名的证书数据不符",
    "printed text differs from the signed credential",
)
NO_VALID_ATTACHMENT = Check(
    False,
    "PDF 没有附带有效的已签名证书数据（credential.json），不能只凭二维码认定",
    "the PDF carries no valid signed credential (credential.json); the QR alone does not vouch for it",
)

_CHANGED_ZH = "此 PDF 在本行签发后被改动过"
_CHANGED_EN = "This PDF was changed after the bank issued it"


def _changed(why_zh: str, why_en: str) -> Check:
    return Check(False, f"{_CHANGED_ZH}（{why_zh}）", f"{_CHANGED_EN} ({why_en})")


def seal_check(
    seal: pdfseal.Seal | None, damaged: str | None, keys: KeyLookup, key_gap: KeyGap | None = None
) -> Check | None:
    """The PDF's seal, checked with the bank's published keys (retired keys too; a compromised
    key vouches only for what it sealed before ``compromised_at``). None: the PDF has no seal.
    ``key_gap``: offline, a seal key the key file lacks leaves the seal unchecked (a PDF is sealed
    when downloaded: an old certificate's PDF carries the newest key's seal)."""
    if damaged is not None:
        return _changed(f"页面封印损坏：{damaged}", f"its seal is damaged: {damaged}")
    if seal is None:
        return None
    key = keys(seal.kid)
    if key is None and key_gap is not None:
        return Check(
            None,
            f"未核对 PDF 的封印：密钥文件中没有封印密钥 {seal.kid}",
            f"the PDF's seal not checked: the key file lacks its key {seal.kid}",
            missing_key=key_gap(seal.kid).missing_key,
        )
    if key is None:
        return Check(
            False,
            f"PDF 的封印密钥 {seal.kid} 不是本行公布的密钥",
            f"the PDF's seal key {seal.kid} is not one the bank published",
        )
    if not seal.verify(key.public_key):
        return _changed("文件的字节与本行的封印不符", "its bytes do not match the bank's seal")
    sealed_at = clock.parse_iso(seal.sealed_at)
    if sealed_at is None:
        return _changed("封印时间无法识别", "the seal's time is unreadable")
    ok, reason = valid_at(key, sealed_at)
    if not ok:
        return Check(
            False,
            f"PDF 的封印不可信：{in_language(reason or '', 'zh')}",
            f"the PDF's seal cannot be trusted: {in_language(reason or '', 'en')}",
        )
    return Check(
        True,
        f"PDF 封印完好：本行生成此文件后未改动任何字节（密钥 {seal.kid}，封于 {seal.sealed_at}）",
        f"the PDF's seal verifies: not a byte changed since the bank made it "
        f"(key {seal.kid}, sealed {seal.sealed_at})",
    )


def issued_at(credential: dict[str, Any]) -> datetime | None:
    issued = clock.parse_iso(credential.get("validFrom"))
    return issued if issued is None or issued.tzinfo else issued.replace(tzinfo=UTC)


_INVISIBLE = {"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp", "Zs"}


def printable(text: str) -> str:
    """``text`` as the comparison of printed and signed text sees it: NFKC, without whitespace and
    without what prints nothing (zero-width and direction marks, control characters such as NUL,
    PDF text extraction's U+FFFE for a hyphenated line break). The same on both sides: a genuine
    name with U+200B or U+202E in it is the name that was printed."""
    return "".join(
        c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) not in _INVISIBLE
    )


_NUMBER_LINE = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def printed_text_matches(text: str, claims: dict[str, Any] | None) -> bool:
    """Does a PDF's page text show what the signed claims say, in the places the bank's template
    prints them? Compared by whole lines and whole words, never by substring:

    * the learner's name, the issue date and the total credits are each whole lines (a long name
      may wrap over several),
    * each line's title is whole lines after its number (``3 秋季…``, wrapping allowed), and its
      credits and date are two adjacent words (``1.5 2025-02-20``),
    * no line is a number other than the total: a number drawn over the page (a white box and a
      "9") adds such a line, since the text it covers stays in the file.

    For PDFs without a seal only (see ``pdf_checks``); a seal proves every byte instead."""
    if not claims:
        return False
    lines = [printable(line) for line in text.splitlines()]
    lines = [line for line in lines if line]
    words = [printable(word) for word in text.split()]
    words = [word for word in words if word]

    def whole_lines(value: Any) -> bool:
        wanted = printable(str(value or ""))
        if not wanted:
            return False
        for first in range(len(lines)):
            joined = ""
            for line in lines[first:]:
                joined += line
                if joined == wanted:
                    return True
                if not wanted.startswith(joined):
                    break
        return False

    def adjacent(*values: Any) -> bool:
        wanted = [printable(str(v or "")) for v in values]
        if not all(wanted):
            return False
        return any(words[i : i + len(wanted)] == wanted for i in range(len(words)))

    total = printable(str(claims.get("total_credits") or ""))
    if not (whole_lines(claims.get("learner_name")) and whole_lines(total)):
        return False
    if "issued_on" in claims and not whole_lines(claims.get("issued_on")):
        return False
    for number, line in enumerate(claims.get("lines") or [], start=1):
        if not isinstance(line, dict):
            return False
        if not whole_lines(f"{number}{line.get('title_zh') or ''}"):
            return False
        if not adjacent(line.get("credits"), line.get("completed_on")):
            return False
    return all(line == total for line in lines if _NUMBER_LINE.fullmatch(line))


def pdf_checks(
    checks: dict[str, Check],
    *,
    printed_text: str | None,
    credential: dict[str, Any] | None,
    claims: dict[str, Any] | None,
    seal: pdfseal.Seal | None = None,
    seal_damaged: str | None = None,
    keys: KeyLookup | None = None,
    seals_since: datetime | None = None,
    key_gap: KeyGap | None = None,
) -> None:
    """A PDF is genuine only if its attachment is the signed credential and its bytes are the ones
    the bank made: its seal (``seal_check``) proves that for every byte — the page, the fonts, the
    attachments. A PDF without a seal is judged by its issue date against ``seals_since``, the time
    this bank first ran with seals (``keys.Identity.pdf_seals_since``; offline, what the key file
    publishes): a certificate issued since never had an unsealed PDF, since a PDF is rendered and
    sealed when downloaded (changed after issue); an older one may have one — and so may any, when
    the time is not known (None: an older key file) —, whose printed text is compared with what is
    signed (the QR's claims; without a readable QR, the credential's name and total) and whose
    integrity is then null — the page itself could not be checked — never silently true. Failures
    go into ``integrity`` (the other checks stay as they are); an integrity failure found before
    is kept."""
    if credential is None:
        checks["integrity"] = NO_VALID_ATTACHMENT
        return
    before = checks["integrity"]
    if before.ok is False:
        return
    sealed = seal_check(seal, seal_damaged, keys or (lambda _kid: None), key_gap)
    if sealed is not None:
        if sealed.ok is not True:
            checks["integrity"] = sealed
        elif before.ok is True:
            checks["integrity"] = Check(True, f"{before.zh}；{sealed.zh}", f"{before.en}; {sealed.en}")
        else:
            checks["integrity"] = sealed
        return
    issued = issued_at(credential)
    since = clock.iso_seconds(seals_since) if seals_since is not None else None
    if seals_since is not None and (issued is None or issued >= seals_since):
        checks["integrity"] = _changed(
            f"本行自 {since} 起签发的证书，其 PDF 都带本行的封印，此文件没有",
            f"PDFs of certificates the bank issued since {since} carry its seal; this one has none",
        )
        return
    maybe_zh = f"{since} 前签发的证书的 PDF 可能没有" if since else "较早的 PDF 可能没有"
    maybe_en = f"PDFs of certificates issued before {since} may not" if since else "older PDFs may not"
    if claims is None:
        facts = credential_facts(credential)
        claims = {"learner_name": facts["learner_name"], "total_credits": f"{facts['total_credits']:g}"}
    if printed_text is not None and not printed_text_matches(printed_text, claims):
        checks["integrity"] = PRINTED_TEXT_DIFFERS
        return
    checked_zh = f"{before.zh}；" if before.ok is True else ""
    checked_en = f"{before.en}; " if before.ok is True else ""
    checks["integrity"] = Check(
        None,
        f"{checked_zh}此 PDF 没有本行的封印（{maybe_zh}）：页面上的主要内容与签名数据相符，"
        "但页面本身无法逐字节核对，请以此处显示的核验结果为准",
        f"{checked_en}this PDF has no seal from the bank ({maybe_en}): the main printed values match the "
        "signed data, but the page itself could not be checked byte for byte — rely on the result shown "
        "here, not on the printout",
    )


def claims_agree(credential: dict[str, Any], claims: dict[str, Any] | None) -> bool:
    if claims is None:
        return False
    facts = credential_facts(credential)
    try:
        total = round(float(claims.get("total_credits", "nan")), 2)
    except ValueError:
        return False
    return bool(
        facts["certificate_id"] == claims.get("certificate_id")
        and facts["learner_name"] == claims.get("learner_name")
        and facts["id_masked"] == claims.get("id_masked")
        and facts["account_no"] == claims.get("account_no")
        and facts["total_credits"] == total
    )
