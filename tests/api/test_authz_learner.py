"""Authorization of the learners' routes (``creditbank/api/learner.py``): activation, sign-in and the
learner's own account. The machinery is in ``tests/api/authz.py``; ``test_authz_matrix.py`` walks these
rows with every role."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.authz import PASSWORD, Route, World, check_balance, eq


def _check_ledger(r, w, role) -> None:
    items = r.json()["items"]
    eq(
        [(i["kind"], i["amount"], i["completion_id"]) for i in items],
        [("deposit", 1.5, w.c1)],
        "ledger lines",
    )


ROWS: dict[tuple[str, str], Route] = {
    ("POST", "/api/v1/auth/activate"): Route(
        "public",
        lambda w, role: (
            "/api/v1/auth/activate",
            {
                "json": {
                    "account_no": w.fresh["account_no"],
                    "activation_code": w.fresh["activation_code"],
                    "password": PASSWORD,
                }
            },
        ),
        lambda r, w, role: eq(
            (r.json()["account_no"], r.json()["access_token"][:4]),
            (w.fresh["account_no"], "cbs_"),
            "activation",
        ),
    ),
    ("POST", "/api/v1/auth/token"): Route(
        "public",
        lambda w, role: (
            "/api/v1/auth/token",
            {"json": {"account_no": w.learner["account_no"], "password": PASSWORD}},
        ),
        lambda r, w, role: eq(
            (r.json()["account_no"], r.json()["access_token"][:4]),
            (w.learner["account_no"], "cbs_"),
            "sign-in",
        ),
    ),
    ("GET", "/api/v1/me"): Route(
        "learner",
        lambda w, role: ("/api/v1/me", {}),
        lambda r, w, role: eq(
            (r.json()["account_no"], r.json()["name"]), (w.learner["account_no"], "张桂兰"), "me"
        ),
    ),
    ("GET", "/api/v1/me/balance"): Route(
        "learner", lambda w, role: ("/api/v1/me/balance", {}), check_balance
    ),
    ("GET", "/api/v1/me/ledger"): Route("learner", lambda w, role: ("/api/v1/me/ledger", {}), _check_ledger),
    ("GET", "/api/v1/me/name-corrections"): Route(
        "learner",
        lambda w, role: ("/api/v1/me/name-corrections", {}),
        lambda r, w, role: eq((r.json()["name"], r.json()["corrections"]), ("张桂兰", []), "my name history"),
    ),
}


def state(client: TestClient, w: World) -> dict[str, Any]:
    """Nothing of its own: activating ``w.fresh`` and signing in change nothing another walk reads, and the
    learner's balance is watched by the conversion file (conversions are what move it)."""
    return {}


def expected_state(role: str) -> dict[str, Any]:
    return {}
