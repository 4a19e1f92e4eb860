"""Authorization of the transparency log's JSON routes (``creditbank/api/translog.py``, SPEC §3.8, §4).

All public: the log exists so that anyone, signed in or not, can check what the bank wrote. They never
read the Authorization header (a garbage token is ignored, 200), answer only kinds and digests — never
whose event a leaf records — and change nothing. The tile routes outside /api/v1 (``/log/…``) are
tested in ``tests/translog/test_serving.py``.
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi.testclient import TestClient

from creditbank.kit import merkle
from creditbank.kit import signednote as sn
from tests.api.authz import ROLES, Expect, Route, World, eq


def _check_checkpoint(r, w, role) -> None:
    body = r.json()
    assert body["tree_size"] >= 4, body  # the world's two completions and two certificates
    assert body["note"].startswith(f"{body['origin']}\n{body['tree_size']}\n{body['root_hash']}\n\n— ")


def _check_inclusion(r, w, role) -> None:
    body = r.json()
    eq((body["leaf_index"], len(body["inclusion_path"]) > 0), (0, True), "inclusion proof")


def _check_consistency(r, w, role) -> None:
    eq(r.json()["first"], 1, "consistency proof from size 1")


def _check_leaf(r, w, role) -> None:
    body = r.json()
    # The world's first write publishes an outcome: since a9a0015 its version is the log's leaf 0.
    eq((body["kind"], body["checkpointed"], "ref" in body), ("outcome_version", True, False), "leaf 0")
    assert merkle.leaf_hash(base64.b64decode(body["entry"])) == base64.b64decode(body["leaf_hash"])


def _check_keys(r, w, role) -> None:
    body = r.json()
    assert [sn.parse_vkey(k["vkey"]).name for k in body["keys"]] == [body["origin"]], body


ROWS: dict[tuple[str, str], Route] = {
    ("GET", "/api/v1/log/checkpoint"): Route(
        "public", lambda w, role: ("/api/v1/log/checkpoint", {}), _check_checkpoint
    ),
    ("GET", "/api/v1/log/proof/inclusion"): Route(
        "public",
        lambda w, role: ("/api/v1/log/proof/inclusion", {"params": {"leaf_index": 0}}),
        _check_inclusion,
    ),
    ("GET", "/api/v1/log/proof/consistency"): Route(
        "public",
        lambda w, role: ("/api/v1/log/proof/consistency", {"params": {"first": 1}}),
        _check_consistency,
    ),
    ("GET", "/api/v1/log/leaves/{leaf_index}"): Route(
        "public", lambda w, role: ("/api/v1/log/leaves/0", {}), _check_leaf
    ),
    ("GET", "/api/v1/log/keys"): Route("public", lambda w, role: ("/api/v1/log/keys", {}), _check_keys),
    # Open to anyone, but only a cosignature by a witness the bank publishes is accepted: the world's bank
    # publishes none, so every role's note is refused — the token never matters.
    ("POST", "/api/v1/log/cosignatures"): Route(
        "public",
        lambda w, role: (
            "/api/v1/log/cosignatures",
            {
                "content": "127.0.0.1:8000/log\n1\n" + "A" * 43 + "=\n\n— w AAAAAAA=\n",
                "headers": {"Content-Type": "text/plain"},
            },
        ),
        lambda r, w, role: None,
        overrides=dict.fromkeys(ROLES, Expect(403, "cosignature_refused")),
    ),
}


def state(client: TestClient, w: World) -> dict[str, Any]:
    """Nothing: every row is a GET that reads (other routers' rows append leaves, so the log's size
    is theirs to account for)."""
    return {}


def expected_state(role: str) -> dict[str, Any]:
    return {}
