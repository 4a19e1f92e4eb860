"""W3C Bitstring Status List v1.0 (https://www.w3.org/TR/vc-bitstring-status-list/).

A status list is a bitstring of at least 131 072 bits (16 KiB); a certificate owns one index,
and bit ``index`` set to 1 means "revoked" (or "suspended", per the list's purpose). Index 0 is
the left-most (most significant) bit of the first byte, index ``len*8 - 1`` the right-most bit
of the last byte — the spec's layout, which a big-endian bit numbering gives directly.

The published form, ``encodedList``, is multibase base64url (no padding, prefix ``u``) of the
GZIP (RFC 1952) of the bitstring. An all-zero list compresses to ~50 bytes. We write the GZIP
header with mtime 0 so the same bits always give the same text (stable ETags and signatures).

Everything here is pure: bytes in, bytes/dicts out. Signing the list credential is the caller's.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re
import zlib
from typing import Any

SIZE = 131072
"""Bits per list: the spec's minimum (16 KiB), which is also the group-privacy floor."""

MIN_BYTES = SIZE // 8
MAX_BYTES = 16 * 1024 * 1024
"""Largest bitstring :func:`decode` accepts (128 M entries); bounds a decompression bomb."""

PURPOSES = ("revocation", "suspension", "refresh")
"""Single-bit purposes. ``message`` needs ``statusSize``/``statusMessage`` and is not supported."""

VC_V2 = "https://www.w3.org/ns/credentials/v2"

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def new_bitstring() -> bytearray:
    """A fresh list: ``SIZE`` bits, all 0 (nothing revoked)."""
    return bytearray(SIZE // 8)


def _locate(bits: bytes | bytearray, index: int) -> tuple[int, int]:
    if isinstance(index, bool) or not isinstance(index, int):
        raise TypeError(f"status list index must be an int, not {type(index).__name__}")
    if not 0 <= index < len(bits) * 8:
        raise IndexError(f"status list index {index} outside 0..{len(bits) * 8 - 1}")
    return index >> 3, 0x80 >> (index & 7)


def set_bit(bits: bytearray, index: int, value: bool) -> None:
    byte, mask = _locate(bits, index)
    if value:
        bits[byte] |= mask
    else:
        bits[byte] &= ~mask & 0xFF


def get_bit(bits: bytes | bytearray, index: int) -> bool:
    byte, mask = _locate(bits, index)
    return bool(bits[byte] & mask)


def encode(bits: bytes | bytearray) -> str:
    """``encodedList``: ``'u'`` + base64url-without-padding(GZIP(bits))."""
    if len(bits) < MIN_BYTES:
        raise ValueError(f"a status list must hold at least {SIZE} bits (16 KiB); got {len(bits) * 8}")
    compressed = gzip.compress(bytes(bits), compresslevel=9, mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")


def decode(encoded: object) -> bytearray:
    """The bitstring behind an ``encodedList``. ``ValueError`` for anything but a well-formed list
    of 16 KiB … 16 MiB (wrong multibase prefix, padding, bad base64url, not GZIP, too small/large)."""
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise ValueError("encodedList must be multibase base64url (prefix 'u')")
    body = encoded[1:]
    if not _B64URL.fullmatch(body) or len(body) % 4 == 1:
        raise ValueError("encodedList is not base64url without padding")
    try:
        compressed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"encodedList is not base64url: {exc}") from None
    # wbits 16+15: GZIP container only. Decompress in a bounded way: never more than MAX_BYTES.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        bits = inflater.decompress(compressed, MAX_BYTES + 1)
    except zlib.error as exc:
        raise ValueError(f"encodedList is not GZIP data: {exc}") from None
    if len(bits) > MAX_BYTES:
        raise ValueError(f"status list larger than {MAX_BYTES} bytes")
    if not inflater.eof or inflater.unused_data:
        raise ValueError("encodedList GZIP stream is truncated or has trailing data")
    if len(bits) < MIN_BYTES:
        raise ValueError(f"status list has {len(bits) * 8} bits; the minimum is {SIZE}")
    return bytearray(bits)


def _purpose(purpose: str) -> str:
    if purpose not in PURPOSES:
        raise ValueError(f"statusPurpose must be one of {', '.join(PURPOSES)}; got {purpose!r}")
    return purpose


def status_list_credential(
    *, list_url: str, issuer: str, encoded: str, valid_from: str, purpose: str = "revocation"
) -> dict[str, Any]:
    """The unsigned ``BitstringStatusListCredential`` (VC 2.0) published at ``list_url``."""
    return {
        "@context": [VC_V2],
        "id": list_url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": valid_from,
        "credentialSubject": {
            "id": f"{list_url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": _purpose(purpose),
            "encodedList": encoded,
        },
    }


def status_entry(list_url: str, index: int, purpose: str = "revocation") -> dict[str, Any]:
    """A certificate's ``credentialStatus``: a ``BitstringStatusListEntry`` pointing at one bit."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < SIZE:
        raise ValueError(f"statusListIndex must be an int in 0..{SIZE - 1}; got {index!r}")
    return {
        "id": f"{list_url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": _purpose(purpose),
        "statusListIndex": str(index),
        "statusListCredential": list_url,
    }
