"""A seal on a file's bytes: an Ed25519 signature over every byte of the file but its own slot.

The idea of a PDF signature's ``/ByteRange``, without its machinery: the PDF is written with a
fixed-length slot (``slot()``, the content of an uncompressed stream), then the slot is
overwritten in place — same length, so no cross-reference offset moves — with

    CBSEAL1 kid=<key id> at=<sealed at, ISO seconds> sig=<base64url Ed25519 signature>

padded with spaces to ``SLOT_BYTES``. The signature covers ``message()``: a domain label, the key
id, the time, where the slot is and how long the file is, and the SHA-256 of the file without the
slot. One byte changed, added or removed anywhere — page text, a font, an attachment, an
incremental update appended after ``%%EOF``, the slot moved — and it no longer verifies.

A re-save by any PDF tool rewrites the bytes, so it breaks the seal too: that is the point, not a
limitation (the file as the bank made it is the only one it vouches for).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MARKER = b"CBSEAL1 "
SLOT_BYTES = 256
_DOMAIN = b"creditbank pdf seal v1\n"
_EMPTY = MARKER + b"-" * (SLOT_BYTES - len(MARKER))
_FILLED = re.compile(rb"CBSEAL1 kid=([A-Za-z0-9._-]{1,64}) at=([0-9TZ:-]{20}) sig=([A-Za-z0-9_-]{86}) *")


class SealError(ValueError):
    """The file has a seal slot, but not one this module could have written (damaged, or several)."""


def slot() -> bytes:
    """What the writer puts where the seal will go (exactly ``SLOT_BYTES``)."""
    return _EMPTY


@dataclass(frozen=True)
class Seal:
    kid: str
    sealed_at: str
    """ISO-8601 to the second, UTC: when the bank sealed the file (checked against the key's
    compromise time like a credential proof's ``created``)."""
    signature: bytes
    at: int
    """Offset of the slot in the file."""
    size: int
    """Length of the whole file."""
    digest: bytes
    """SHA-256 of the file without the slot."""

    def message(self) -> bytes:
        return _message(self.kid, self.sealed_at, self.at, self.size, self.digest)

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(self.signature, self.message())
        except InvalidSignature:
            return False
        return True


def _message(kid: str, sealed_at: str, at: int, size: int, digest: bytes) -> bytes:
    return _DOMAIN + f"{kid}\n{sealed_at}\n{at} {SLOT_BYTES} {size}\n".encode() + digest


def _digest(data: bytes, at: int) -> bytes:
    view = memoryview(data)
    hashed = hashlib.sha256(view[:at])
    hashed.update(view[at + SLOT_BYTES :])
    return hashed.digest()


def seal(data: bytes, *, kid: str, sealed_at: str, sign: Callable[[bytes], bytes]) -> bytes:
    """``data`` (written with exactly one empty ``slot()``) with the slot filled in."""
    at = data.find(MARKER)
    if at < 0 or data[at : at + SLOT_BYTES] != _EMPTY or data.find(MARKER, at + 1) >= 0:
        raise SealError("expected exactly one empty seal slot")
    signature = sign(_message(kid, sealed_at, at, len(data), _digest(data, at)))
    text = f"CBSEAL1 kid={kid} at={sealed_at} sig={base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    filled = text.encode("ascii").ljust(SLOT_BYTES)
    if len(filled) != SLOT_BYTES or not _FILLED.fullmatch(filled):
        raise SealError(f"cannot write a seal for key {kid!r} at {sealed_at!r}")
    return data[:at] + filled + data[at + SLOT_BYTES :]


def find(data: bytes) -> Seal | None:
    """The seal in ``data``; None if there is no slot at all. ``SealError`` if there is more than
    one, or one that is not a filled seal (an empty slot, or damaged)."""
    at = data.find(MARKER)
    if at < 0:
        return None
    if data.find(MARKER, at + 1) >= 0:
        raise SealError("more than one seal")
    filled = _FILLED.fullmatch(data, at, at + SLOT_BYTES)
    if filled is None:
        raise SealError("the seal is empty or damaged")
    kid, sealed_at, signature = (group.decode("ascii") for group in filled.groups())
    return Seal(
        kid=kid,
        sealed_at=sealed_at,
        signature=base64.urlsafe_b64decode(signature + "=="),
        at=at,
        size=len(data),
        digest=_digest(data, at),
    )
