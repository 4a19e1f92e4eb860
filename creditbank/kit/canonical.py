"""RFC 8785 (JCS) canonical JSON — the only bytes creditbank ever hashes or signs.

The ``rfc8785`` package is the reference; it is pure Python (~34 µs for a ledger payload). For
the plain shapes the bank hashes — dicts with ASCII keys, strings, safe integers, plain
fractional numbers, booleans, null, lists — ``json.dumps`` with sorted keys and no whitespace
yields the very same bytes in ~8 µs (``tests/test_canonical.py`` holds the two together).
Anything else goes to ``rfc8785``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

_SAFE_INT = 2**53 - 1


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, int):
        return -_SAFE_INT <= value <= _SAFE_INT
    if isinstance(value, float):
        # Shortest round-trip digits in fixed notation in both Python and ECMAScript here; an
        # integral float prints "2.0" in Python but "2" in JCS, so those go to the reference.
        return not value.is_integer() and 1e-4 <= abs(value) < 1e16
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        # JCS orders keys by UTF-16 code units, Python by code points: identical for ASCII keys.
        return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())
    return False


def canonical_bytes(value: Any) -> bytes:
    if _plain(value):
        try:
            return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
                "utf-8"
            )
        except UnicodeEncodeError:  # a lone surrogate: let the reference implementation refuse it
            pass
    return rfc8785.dumps(value)


def digest(value: Any) -> bytes:
    """SHA-256 of the canonical bytes: what a log leaf records."""
    return hashlib.sha256(canonical_bytes(value)).digest()


def digest_hex(value: Any) -> str:
    return hashlib.sha256(canonical_bytes(value)).hexdigest()


def trusted_digest_hex(value: Any) -> str:
    """``digest_hex`` without the shape check, for records whose shape the caller fixes in code:
    dicts with ASCII keys whose values are strings, ``None``, integers within ±(2^53 − 1) and lists
    of such dicts — the ledger's transaction payload and a completion's content (``_plain`` holds for
    them by construction, so the bytes are the very same; ``tests/ledger/test_chain_digest.py``).
    The check costs more than the encoding on the import path (one call per row, twice)."""
    return hashlib.sha256(
        json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    ).hexdigest()
