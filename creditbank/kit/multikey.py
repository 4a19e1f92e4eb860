"""Ed25519 keys as Multikey (multibase base58btc + multicodec) and as JWK.

* public key:  ``z`` + base58btc(0xed 0x01 || 32-byte key)            -> ``z6Mk…``
* private key: ``z`` + base58btc(0x80 0x26 || 32-byte seed)           -> ``z3u2…``
  (Digital Bazaar's ``secretKeyMultibase`` appends the 32-byte public key: 64 bytes after the
  prefix; both forms are read, the 32-byte seed form is written, as in the W3C test vectors.)
"""

from __future__ import annotations

import base64

import base58
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519_PUB_PREFIX = b"\xed\x01"
ED25519_PRIV_PREFIX = b"\x80\x26"
BASE58BTC = "z"


class MultikeyError(ValueError):
    """A malformed or non-Ed25519 multibase key."""


def multibase_encode(data: bytes) -> str:
    return BASE58BTC + base58.b58encode(data).decode("ascii")


def multibase_decode(value: object) -> bytes:
    if not isinstance(value, str) or not value.startswith(BASE58BTC):
        raise MultikeyError("only multibase base58btc ('z…') values are supported")
    try:
        return base58.b58decode(value[1:])
    except ValueError as exc:
        raise MultikeyError(f"not base58btc: {exc}") from None


def public_key_bytes(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_multibase(pub: Ed25519PublicKey) -> str:
    """``z6Mk…`` (multicodec ed25519-pub 0xed01)."""
    return multibase_encode(ED25519_PUB_PREFIX + public_key_bytes(pub))


def public_key_from_multibase(value: str) -> Ed25519PublicKey:
    raw = multibase_decode(value)
    if len(raw) != 34 or raw[:2] != ED25519_PUB_PREFIX:
        raise MultikeyError("not an Ed25519 Multikey public key (expected 0xed01 + 32 bytes)")
    return Ed25519PublicKey.from_public_bytes(raw[2:])


def private_key_multibase(priv: Ed25519PrivateKey) -> str:
    """``z3u2…`` (multicodec ed25519-priv 0x1300 as varint 0x8026, then the 32-byte seed)."""
    seed = priv.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return multibase_encode(ED25519_PRIV_PREFIX + seed)


def private_key_from_multibase(value: str) -> Ed25519PrivateKey:
    raw = multibase_decode(value)
    if raw[:2] != ED25519_PRIV_PREFIX or len(raw) not in (34, 66):
        raise MultikeyError("not an Ed25519 Multikey secret key (expected 0x8026 + 32 or 64 bytes)")
    priv = Ed25519PrivateKey.from_private_bytes(raw[2:34])
    if len(raw) == 66 and raw[34:] != public_key_bytes(priv.public_key()):
        raise MultikeyError("secret key's appended public key does not match its seed")
    return priv


def did_key(pub: Ed25519PublicKey) -> str:
    """``did:key:z6Mk…`` for an Ed25519 key."""
    return "did:key:" + public_key_multibase(pub)


def did_key_verification_method(pub: Ed25519PublicKey) -> str:
    """``did:key:z6Mk…#z6Mk…`` — the verification method id of a did:key."""
    mb = public_key_multibase(pub)
    return f"did:key:{mb}#{mb}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk(pub: Ed25519PublicKey, kid: str | None = None) -> dict[str, str]:
    """RFC 8037 OKP/Ed25519 public JWK."""
    key = {"kty": "OKP", "crv": "Ed25519", "x": _b64url(public_key_bytes(pub))}
    if kid is not None:
        key["kid"] = kid
    return key


def multikey_document(pub: Ed25519PublicKey, *, id: str, controller: str) -> dict[str, str]:
    """A ``Multikey`` verification method (as placed in a DID document)."""
    return {
        "id": id,
        "type": "Multikey",
        "controller": controller,
        "publicKeyMultibase": public_key_multibase(pub),
    }
