"""Random identifiers and secrets, and how they are stored.

API keys and session tokens carry ≥ 128 random bits, so a plain SHA-256 is a safe at-rest form
(no dictionary to attack) and lets us find the row by its hash in one index lookup. Passwords are
chosen by people and get argon2id instead (see ``learners.service``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from creditbank.kit.checkdigit import mod11_2


def new_id(prefix: str) -> str:
    """Opaque, prefixed, URL-safe id: ``cmp_3k9…`` (prefix tells what it is in logs and support)."""
    return f"{prefix}_{secrets.token_urlsafe(12)}"


def new_secret(prefix: str) -> str:
    """A bearer secret with 192 random bits, e.g. ``cbk_…`` for an institution's API key."""
    return f"{prefix}_{secrets.token_urlsafe(24)}"


def sha256_hex(value: str | bytes) -> str:
    data = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(data).hexdigest()


def hmac_hex(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def new_account_no() -> str:
    """``CB`` + 10 random digits + MOD 11-2 check character (like the ID card's)."""
    digits = f"{secrets.randbelow(10**10):010d}"
    return f"CB{digits}{mod11_2(digits)}"


def is_account_no(value: str) -> bool:
    value = value.strip().upper()
    return (
        len(value) == 13
        and value.startswith("CB")
        and value[2:12].isdigit()
        and mod11_2(value[2:12]) == value[12]
    )


def new_activation_code() -> str:
    """Eight digits: easy to read aloud over the phone to an older learner, and short-lived."""
    return f"{secrets.randbelow(10**8):08d}"
