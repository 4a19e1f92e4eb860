"""Random identifiers and secrets, and how they are stored.

API keys and session tokens carry ≥ 128 random bits, so a plain SHA-256 is a safe at-rest form
(no dictionary to attack) and lets us find the row by its hash in one index lookup. Passwords are
chosen by people and get argon2id instead (see ``learners.service``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time

from creditbank.kit.checkdigit import mod11_2
from creditbank.kit.halfwidth import fold


def new_id(prefix: str) -> str:
    """Opaque, prefixed, URL-safe id: ``cmp_3k9…`` (prefix tells what it is in logs and support)."""
    return f"{prefix}_{secrets.token_urlsafe(12)}"


_TIME_DIGITS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32, in ASCII order


def new_ordered_id(prefix: str) -> str:
    """Like ``new_id`` but ordered by creation time: milliseconds since 1970 in 9 base-32 digits,
    then 66 random bits. For the ledger's append-only rows (transactions, lots, completions): new
    keys land on the last pages of their indexes instead of anywhere in them, so inserting into a
    10 M-row ledger touches a few hot pages, not a random page of each of a dozen big indexes
    (bench/scale.py)."""
    ms = time.time_ns() // 1_000_000
    state = _ids
    if state.ms != ms:
        state.ms = ms
        state.stamp = "".join(_TIME_DIGITS[(ms >> shift) & 31] for shift in range(40, -5, -5))
    if not state.random:
        # 512 random parts from one read of the OS generator: a batch import takes three ids a
        # row, and an os.urandom call and a new stamp per id cost ~23 µs an id on the loaded test
        # machine, ~5 µs this way (bench/ingest.py). 11 URL-safe characters, 66 random bits.
        text = base64.urlsafe_b64encode(os.urandom(9 * 512)).decode("ascii")
        state.random = [text[i : i + 11] for i in range(0, len(text), 12)]
    return f"{prefix}_{state.stamp}{state.random.pop()}"


class _IdState(threading.local):
    """Per thread (no two threads share a random part): the last millisecond's stamp and unused
    random parts. Reset in a forked child, which must not hand out its parent's parts."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.ms = -1
        self.stamp = ""
        self.random: list[str] = []


_ids = _IdState()
os.register_at_fork(after_in_child=_ids.reset)


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


def normalize_account_no(value: str) -> str:
    """An account number as typed, in the form it is stored: full-width ``ＣＢ６１８…`` folded
    (``kit.halfwidth``), spaces out, upper case."""
    return fold(value).strip().replace(" ", "").upper()


def is_account_no(value: str) -> bool:
    value = value.strip().upper()
    return (
        len(value) == 13
        and value.startswith("CB")
        and value[2:12].isascii()  # isdigit() alone takes "²" and other scripts' digits
        and value[2:12].isdigit()
        and mod11_2(value[2:12]) == value[12]
    )


ACTIVATION_CODE_DIGITS = 16


def new_activation_code() -> str:
    """16 random digits in groups of four, like a bank card: ``4821 0937 5512 8830``.

    Digits, because an older learner types them on a phone's number pad or hears them read aloud;
    sixteen, because a year of the service's whole activation budget (≈ 3.2 × 10^7 guesses, see
    ``learners.attempts``) then finds a live code with probability ≈ 2.5 × 10^-8."""
    digits = f"{secrets.randbelow(10**ACTIVATION_CODE_DIGITS):0{ACTIVATION_CODE_DIGITS}d}"
    return " ".join(digits[i : i + 4] for i in range(0, ACTIVATION_CODE_DIGITS, 4))


def normalize_activation_code(raw: str) -> str:
    """What the learner typed, without the spaces or dashes between the groups."""
    return "".join(c for c in raw if c not in " -\t\u3000")
