"""RFC 8785 (JCS) canonical JSON — the only bytes creditbank ever hashes or signs."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785


def canonical_bytes(value: Any) -> bytes:
    return rfc8785.dumps(value)


def digest_hex(value: Any) -> str:
    return hashlib.sha256(rfc8785.dumps(value)).hexdigest()
