"""Text sealed at rest with a key derived from the deployment secret (AES-256-GCM).

Used for the few stored values that must not be readable from the database alone — today the
signed copies of certificates issued before the masked ID number lost its sequence digits
(migration 0005): re-signing them would break every printed copy, and leaving them readable
would, with the stored birth year, rebuild the ID number; and the console's refused-rows
spreadsheets, whose ``national_id`` column holds ID numbers as the clerk typed them (0016). ``SealedText`` columns unseal
transparently once the process knows the secret (``configure``); new values are stored as given.
"""

from __future__ import annotations

import base64
import os
from typing import TypeGuard

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

PREFIX = "sealed:v1:"
_INFO = b"creditbank sealed text v1"
_key: bytes | None = None


class SealedError(RuntimeError):
    """A sealed value met without the secret, or with another secret."""


def derive_key(secret: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)


def configure(secret: bytes) -> None:
    """Let this process unseal values (called where the app or a command starts)."""
    global _key
    _key = derive_key(secret)


def seal(text: str, secret: bytes) -> str:
    nonce = os.urandom(12)
    box = AESGCM(derive_key(secret)).encrypt(nonce, text.encode(), PREFIX.encode())
    return PREFIX + base64.urlsafe_b64encode(nonce + box).decode()


def is_sealed(value: str | None) -> TypeGuard[str]:
    return value is not None and value.startswith(PREFIX)


def unseal(value: str, key: bytes | None = None) -> str:
    key = key or _key
    if key is None:
        raise SealedError("sealed data needs the deployment secret (CREDITBANK_SECRET / keys/secret.key)")
    raw = base64.urlsafe_b64decode(value[len(PREFIX) :])
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], PREFIX.encode()).decode()
    except Exception as exc:  # cryptography's InvalidTag carries no message
        raise SealedError("sealed data does not open with this deployment secret") from exc


def seal_bytes(data: bytes, secret: bytes) -> bytes:
    """``seal`` for a file kept in a binary column (e.g. a spreadsheet holding ID numbers)."""
    return seal(base64.b64encode(data).decode(), secret).encode()


def is_sealed_bytes(value: bytes | None) -> bool:
    return value is not None and value.startswith(PREFIX.encode())


def unseal_bytes(value: bytes, key: bytes | None = None) -> bytes:
    """The file ``seal_bytes`` sealed; a value that was never sealed is returned as it is."""
    if not is_sealed_bytes(value):
        return value
    return base64.b64decode(unseal(value.decode(), key))


class SealedText(TypeDecorator[str]):
    """A Text column whose sealed values read back as their clear text."""

    impl = Text
    cache_ok = True

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return unseal(value) if is_sealed(value) else value
