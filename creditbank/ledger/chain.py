"""The hash chain over ledger transactions (pure: no database).

Each transaction's hash is SHA-256 over the RFC 8785 canonical JSON of what it says —
sequence, previous hash, kind, dates, the completion digest and every posting — so editing,
deleting or reordering any of them breaks every later link. The transparency log will use the
same transactions, in ``seq`` order, as its leaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from creditbank.kit.canonical import trusted_digest_hex

GENESIS = "0" * 64


def payload(
    *,
    seq: int,
    tx_id: str,
    prev_hash: str,
    kind: str,
    event_on: date,
    recorded_at: str,
    reverses_id: str | None,
    completion_id: str | None,
    completion_hash: str | None,
    postings: Sequence[tuple[str, int, str | None]],
) -> dict[str, Any]:
    """``postings``: (account code, signed units, lot id) in the order they were written."""
    return {
        "v": 1,
        "seq": seq,
        "id": tx_id,
        "prev": prev_hash,
        "kind": kind,
        "event_on": event_on.isoformat(),
        "recorded_at": recorded_at,
        "reverses": reverses_id,
        "completion": completion_id,
        "completion_hash": completion_hash,
        "postings": [{"account": a, "units": u, "lot": lot} for a, u, lot in postings],
    }


def tx_hash(body: dict[str, Any]) -> str:
    # ``payload`` builds only ASCII keys, strings, None and integers: RFC 8785 is plain json.dumps.
    return trusted_digest_hex(body)
