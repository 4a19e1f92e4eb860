"""The signed compact payload carried in a certificate's QR code (format: ``docs/qr-format.md``).

The QR holds ``<base_url>/v/<certificate_id>#<payload>``. A phone that opens the URL gets the
live status from the server; the fragment is never sent there. With the fragment alone and the
issuer's public key an offline verifier checks every claim printed on the certificate::

    payload = "CB1." kid "." body "." sig
    body    = base64url(raw DEFLATE(RFC 8785 JSON of the claims, short keys))
    sig     = base64url(Ed25519(b"creditbank/qr/v1\\0" + ASCII of "CB1." kid "." body))

base64url is without padding. The signature covers the text before the last dot, so it is
checked *before* anything is inflated or parsed, and any changed character fails it.

Claims (readable name ↔ key in the signed JSON); all values are the printed text:

=================  ===  =====================================================
certificate_id     i    ``crt_…``; must equal the id in the URL path
kind               k    achievement | transcript | conversion | qualification
issued_on          d    ``YYYY-MM-DD`` as printed (China date)
signed_at          t    Unix seconds (int) when the payload was signed; shown as ISO ``…Z``
issuer_name        n    the issuer's printed name (Chinese)
issuer_did         u    ``did:web:…``
learner_name       p    the learner's name
id_masked          m    ``110101************`` (region code only, docs/privacy.md)
account_no         a    optional: learning-account number ``CB…``
total_credits      c    printed text, e.g. ``"38.5"``
lines              l    ``[[title_zh, credits, completed_on, institution_code], …]`` (shown as dicts)
lines_total        lc   only when the QR covers fewer lines than the certificate
lines_sha256       lh   with ``lc``: SHA-256 hex of the RFC 8785 JSON of *all* lines (the ``l`` form)
=================  ===  =====================================================

A long transcript does not fit: :func:`encode` keeps the first N lines that fit ``max_chars`` and
adds the total M and a digest of all M lines, so a verifier can say "the QR covers N of M lines;
check the rest against the PDF attachment" (:func:`lines_digest` recomputes that digest).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from creditbank.kit import clock

PREFIX = "CB1"
DOMAIN = b"creditbank/qr/v1\x00"
"""Prepended to the signed text: the same Ed25519 key also signs credentials and log checkpoints."""

MAX_VERSION = 25
ERROR = "m"
BYTE_CAPACITY_V25_M = 997
"""Bytes a version-25 QR code holds at error correction M in byte mode (what segno picks for a URL)."""

DEFAULT_MAX_CHARS = 900
"""Payload budget when the caller does not give one: leaves 97 characters for ``<base_url>/v/<id>#``,
i.e. a base URL of up to 72 characters with a 20-character certificate id, within version 25."""

MAX_CLAIMS_BYTES = 64 * 1024
"""Inflated claims larger than this are refused (a valid payload is < 4 KiB once inflated)."""

SIG_CHARS = 86  # base64url of 64 bytes, no padding

KINDS = ("achievement", "transcript", "conversion", "qualification", "award")

_KID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_HEX64 = re.compile(r"[0-9a-f]{64}")

# readable name → short key; value checker
_SCALARS: dict[str, str] = {
    "certificate_id": "i",
    "kind": "k",
    "issued_on": "d",
    "issuer_name": "n",
    "issuer_did": "u",
    "learner_name": "p",
    "id_masked": "m",
    "account_no": "a",
    "total_credits": "c",
}
_OPTIONAL = {"account_no"}
_LINE_FIELDS = ("title_zh", "credits", "completed_on", "institution_code")
_SHORT = set(_SCALARS.values()) | {"t", "l", "lc", "lh"}


class PayloadError(ValueError):
    """A payload (or claims to encode) that is not well formed; ``str(exc)`` is the reason."""


# --------------------------------------------------------------------------------------- helpers


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str, what: str) -> bytes:
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise PayloadError(f"{what}: not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise PayloadError(f"{what}: not base64url") from None
    if _b64e(data) != text:  # non-zero trailing bits: one payload, one spelling
        raise PayloadError(f"{what}: non-canonical base64url")
    return data


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    return compressor.compress(data) + compressor.flush()


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(data, MAX_CLAIMS_BYTES + 1)
    except zlib.error as exc:
        raise PayloadError(f"body: not DEFLATE data ({exc})") from None
    if len(out) > MAX_CLAIMS_BYTES:
        raise PayloadError("body: claims too large")
    if not inflater.eof or inflater.unused_data:
        raise PayloadError("body: truncated or trailing DEFLATE data")
    return out


def _text(value: Any, name: str) -> str:
    if type(value) is not str or not value:
        raise PayloadError(f"{name}: must be a non-empty string")
    return value


def _line_list(line: Any, where: int) -> list[str]:
    """A line as the signed 4-string list, from either a list (compact) or a dict (readable).
    On the verify path (lists from JSON): plain checks first, error text only on failure."""
    if (type(line) is list and len(line) == 4) or (isinstance(line, tuple) and len(line) == 4):
        title, credits, day, code = line
    elif isinstance(line, Mapping):
        if len(line) != len(_LINE_FIELDS) or any(f not in line for f in _LINE_FIELDS):
            raise PayloadError(f"lines[{where}]: must have exactly {', '.join(_LINE_FIELDS)}")
        title, credits, day, code = (line[f] for f in _LINE_FIELDS)
    else:
        raise PayloadError(f"lines[{where}]: must be [title_zh, credits, completed_on, institution_code]")
    if not (
        type(title) is str
        and type(credits) is str
        and type(day) is str
        and type(code) is str
        and title
        and credits
        and code
        and _DATE.fullmatch(day)
    ):
        for value, field in zip((title, credits, day, code), _LINE_FIELDS, strict=True):
            _text(value, f"lines[{where}].{field}")
        raise PayloadError(f"lines[{where}].completed_on: must be YYYY-MM-DD")
    return [title, credits, day, code]


def lines_digest(lines: Sequence[Mapping[str, str] | Sequence[str]]) -> str:
    """SHA-256 (hex) over the RFC 8785 JSON of all lines in compact form — what ``lh`` holds.
    Recompute it from the full certificate (PDF attachment / VC) to check lines the QR left out."""
    compact = [_line_list(line, n) for n, line in enumerate(lines)]
    return hashlib.sha256(rfc8785.dumps(compact)).hexdigest()


def _unix(value: Any) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise PayloadError("signed_at: must be timezone-aware")
        return int(value.timestamp())
    if isinstance(value, str):
        try:
            return _unix(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            raise PayloadError("signed_at: not an ISO-8601 time") from None
    raise PayloadError("signed_at: must be a datetime or ISO-8601 text")


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()[:19] + "Z"


# --------------------------------------------------------------------------------------- claims


def signed_at(claims: Mapping[str, Any] | None) -> datetime | None:
    """When the payload was signed (aware UTC), for the key-compromise check; None if absent."""
    return clock.parse_iso((claims or {}).get("signed_at"))


def certificate_id(claims: Mapping[str, Any] | None) -> str | None:
    value = (claims or {}).get("certificate_id")
    return value if isinstance(value, str) else None


def _compact(claims: Mapping[str, Any], now: datetime | None) -> tuple[dict[str, Any], list[list[str]]]:
    """Readable claims → (short-key dict without lines, all lines in compact form). Strict."""
    allowed = set(_SCALARS) | {"signed_at", "lines", "lines_total", "lines_sha256"}
    unknown = set(claims) - allowed
    if unknown:
        raise PayloadError(f"unknown claims {sorted(unknown)}")
    head: dict[str, Any] = {}
    for name, key in _SCALARS.items():
        value = claims.get(name)
        if value is None and name in _OPTIONAL:
            continue
        head[key] = _text(value, name)
    if head["k"] not in KINDS:
        raise PayloadError(f"kind: must be one of {', '.join(KINDS)}")
    if not _DATE.fullmatch(head["d"]):
        raise PayloadError("issued_on: must be YYYY-MM-DD")
    stamp = claims.get("signed_at") or now or datetime.now(UTC)
    head["t"] = _unix(stamp)
    lines = claims.get("lines")
    if not isinstance(lines, (list, tuple)):
        raise PayloadError("lines: must be a list")
    compact = [_line_list(line, n) for n, line in enumerate(lines)]
    # Decoded claims may be re-encoded, but only when they covered every line.
    if claims.get("lines_sha256") is not None or claims.get("lines_total", len(compact)) != len(compact):
        raise PayloadError("claims cover only part of the lines: encode from the full list")
    return head, compact


def _expand(short: Mapping[str, Any]) -> dict[str, Any]:
    """Signed short-key claims → readable claims, validating every field."""
    unknown = set(short) - _SHORT
    if unknown:
        raise PayloadError(f"unknown claim keys {sorted(unknown)}")
    claims: dict[str, Any] = {}
    for name, key in _SCALARS.items():
        if key not in short and name in _OPTIONAL:
            continue
        claims[name] = _text(short.get(key), name)
    if claims["kind"] not in KINDS:
        raise PayloadError("kind: unknown")
    if not _DATE.fullmatch(claims["issued_on"]):
        raise PayloadError("issued_on: must be YYYY-MM-DD")
    t = short.get("t")
    if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < 2**40:
        raise PayloadError("signed_at: must be Unix seconds")
    claims["signed_at"] = _iso(t)
    lines = short.get("l")
    if not isinstance(lines, list):
        raise PayloadError("lines: must be a list")
    claims["lines"] = [dict(zip(_LINE_FIELDS, _line_list(line, n))) for n, line in enumerate(lines)]
    total, digest = short.get("lc"), short.get("lh")
    if total is None and digest is None:
        claims["lines_total"], claims["lines_sha256"] = len(lines), None
    else:
        if isinstance(total, bool) or not isinstance(total, int) or total <= len(lines):
            raise PayloadError("lc: must be an int above the number of lines carried")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise PayloadError("lh: must be 64 lowercase hex digits")
        claims["lines_total"], claims["lines_sha256"] = total, digest
    return claims


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise PayloadError(f"duplicate claim key {key!r}")
        out[key] = value
    return out


# --------------------------------------------------------------------------------------- encode/decode


def _assemble(kid: str, body: bytes) -> str:
    return f"{PREFIX}.{kid}.{_b64e(body)}"


def _length(kid: str, body: bytes) -> int:
    return len(PREFIX) + 1 + len(kid) + 1 + (len(body) * 4 + 2) // 3 + 1 + SIG_CHARS


def encode(
    claims: Mapping[str, Any],
    *,
    kid: str,
    private_key: Ed25519PrivateKey,
    max_chars: int = DEFAULT_MAX_CHARS,
    now: datetime | None = None,
) -> str:
    """Sign ``claims`` (readable names, see the module docstring) into a ``CB1.…`` payload.

    ``signed_at`` defaults to ``now`` (or the current time). When all lines do not fit in
    ``max_chars`` (see :func:`budget_for`), the first lines that fit are kept and
    ``lines_total``/``lines_sha256`` are added. ``PayloadError`` for invalid claims, or when the
    claims do not fit even without lines.
    """
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise PayloadError("kid: 1–64 characters of [A-Za-z0-9_-]")
    head, lines = _compact(claims, now)

    def body(n: int) -> bytes:
        short = dict(head, l=lines[:n])
        if n < len(lines):
            short["lc"] = len(lines)
            short["lh"] = hashlib.sha256(rfc8785.dumps(lines)).hexdigest()
        return _deflate(rfc8785.dumps(short))

    best = body(len(lines))
    if _length(kid, best) > max_chars:
        lo, hi = -1, len(lines) - 1  # largest n in [0, len-1] that fits; -1 = none does
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if _length(kid, body(mid)) <= max_chars:
                lo = mid
            else:
                hi = mid - 1
        if lo < 0:
            raise PayloadError(f"claims do not fit in {max_chars} characters even without lines")
        best = body(lo)
    signed = _assemble(kid, best)
    signature = private_key.sign(DOMAIN + signed.encode("ascii"))
    return f"{signed}.{_b64e(signature)}"


def _split(payload: str) -> tuple[str, str, bytes, bytes]:
    """(kid, body text, signed bytes, signature) — structure only, nothing inflated."""
    if not isinstance(payload, str):
        raise PayloadError("payload must be text")
    if not payload.isascii():
        raise PayloadError("payload must be ASCII")
    parts = payload.split(".")
    if len(parts) != 4:
        raise PayloadError(f"expected 4 dot-separated parts, got {len(parts)}")
    prefix, kid, body, sig = parts
    if prefix != PREFIX:
        raise PayloadError(f"unknown format {prefix[:8]!r} (expected {PREFIX})")
    if not _KID.fullmatch(kid):
        raise PayloadError("kid: malformed")
    if len(sig) != SIG_CHARS:
        raise PayloadError("signature: wrong length")
    signature = _b64d(sig, "signature")
    if not body:
        raise PayloadError("body: empty")
    return kid, body, payload[: -len(sig) - 1].encode("ascii"), signature


def _claims_of(body: str) -> dict[str, Any]:
    raw = _inflate(_b64d(body, "body"))
    try:
        short = json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise PayloadError("body: not UTF-8 JSON") from None
    if not isinstance(short, dict):
        raise PayloadError("body: claims must be a JSON object")
    return _expand(short)


def decode(payload: str) -> tuple[str, dict[str, Any], bytes, bytes]:
    """(kid, claims, signed_bytes, signature) — parsed and validated, NOT verified.
    ``signed_bytes`` is the ASCII text before the last dot (sign/verify ``DOMAIN + signed_bytes``)."""
    kid, body, signed, signature = _split(payload)
    return kid, _claims_of(body), signed, signature


def verify(
    payload: str,
    resolve: Callable[[str], Ed25519PublicKey | None],
    *,
    check_key: Callable[[str, datetime | None], tuple[bool, str | None]] | None = None,
) -> tuple[bool, dict[str, Any] | None, str | None]:
    """(ok, claims, reason). The signature is checked before the body is inflated.

    ``resolve(kid)`` gives the issuer's public key (None: unknown). ``check_key(kid, signed_at)``,
    if given, applies the key's status (e.g. ``keys.valid_at``); without it the caller must.
    Claims are returned only when ok. Reasons are short, in Chinese and English.
    """
    try:
        kid, body, signed, signature = _split(payload)
    except PayloadError as exc:
        return False, None, f"二维码数据格式错误 / malformed QR payload: {exc}"
    key = resolve(kid)
    if key is None:
        return False, None, f"未知的签名密钥 {kid} / unknown signing key {kid}"
    try:
        key.verify(signature, DOMAIN + signed)
    except InvalidSignature:
        return (
            False,
            None,
            "签名不符：内容被改动或非本行签发 / signature invalid: altered, or not issued by this bank",
        )
    try:
        claims = _claims_of(body)
    except PayloadError as exc:  # signed but unreadable: only a buggy issuer produces this
        return False, None, f"二维码数据格式错误 / malformed QR payload: {exc}"
    if check_key is not None:
        ok, reason = check_key(kid, signed_at(claims))
        if not ok:
            return False, None, reason or "签名密钥不可用 / signing key not valid"
    return True, claims, None


# --------------------------------------------------------------------------------------- URL and QR


def qr_url(base_url: str, certificate_id: str, payload: str) -> str:
    """``<base_url>/v/<certificate_id>#<payload>`` — what the QR code holds."""
    return f"{base_url.rstrip('/')}/v/{quote(certificate_id, safe='')}#{payload}"


def parse_url(url: str) -> tuple[str, str, str]:
    """(base_url, certificate_id, payload) from a scanned URL; ``PayloadError`` if it is not one."""
    parts = urlsplit(url.strip())
    head, sep, cid = parts.path.rpartition("/v/")
    if not parts.scheme or not parts.netloc or not sep or not cid or "/" in cid or not parts.fragment:
        raise PayloadError("not a certificate URL <base_url>/v/<id>#<payload>")
    return f"{parts.scheme}://{parts.netloc}{head}", unquote(cid), parts.fragment


def verify_url(
    url: str,
    resolve: Callable[[str], Ed25519PublicKey | None],
    *,
    check_key: Callable[[str, datetime | None], tuple[bool, str | None]] | None = None,
) -> tuple[bool, dict[str, Any] | None, str | None]:
    """:func:`verify` on a scanned URL, plus the check that the path names the signed certificate."""
    try:
        _, cid, payload = parse_url(url)
    except PayloadError as exc:
        return False, None, f"二维码网址格式错误 / malformed QR URL: {exc}"
    ok, claims, reason = verify(payload, resolve, check_key=check_key)
    if ok and claims is not None and claims["certificate_id"] != cid:
        return (
            False,
            None,
            "网址中的证书编号与签名内容不符 / certificate id in the URL differs from the signed one",
        )
    return ok, claims, reason


def budget_for(base_url: str, certificate_id: str, max_version: int = MAX_VERSION) -> int:
    """The largest payload (characters) that keeps the whole URL within version 25 at level M."""
    if max_version != MAX_VERSION:
        raise ValueError("only the SPEC's version-25 budget is tabulated")
    return BYTE_CAPACITY_V25_M - len(qr_url(base_url, certificate_id, ""))


def fits(url: str) -> tuple[bool, int]:
    """(version ≤ 25, version) of the QR code segno makes for ``url`` at level M without boost."""
    import segno

    version = int(segno.make_qr(url, error=ERROR, boost_error=False).version)
    return version <= MAX_VERSION, version
