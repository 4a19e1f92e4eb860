"""Authorization of the statistics routes (``creditbank/api/stats.py``, SPEC §3.9): the district office's
figures and what it enters (population, targets, areas) are the operator's alone. Institutions, learners
and strangers get 403/401 and change nothing. The machinery is in ``tests/api/authz.py``."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.authz import OP, Route, World, eq
from tests.conftest import OPERATOR

PERIOD = {"from": "2026-01-01", "to": "2026-12-31"}


def _figure(name: str):
    return lambda r, w, role: eq(r.json()["figure"], name, "figure")


def _get(path: str, name: str, **params: Any) -> Route:
    return Route("operator", lambda w, role: (path, {"params": PERIOD | params}), _figure(name))


ROWS: dict[tuple[str, str], Route] = {
    ("GET", "/api/v1/stats/participation"): Route(
        "operator",
        lambda w, role: ("/api/v1/stats/participation", {"params": PERIOD | {"group_by": "category"}}),
        # The world's completions (c1, c2: community, 2026-03-01; the operator's walk revokes c2 first).
        lambda r, w, role: eq(
            [(row["key"], row["learners"], row["completions"]) for row in r.json()["rows"]],
            [("community", 1, 1)],
            "participation by category",
        ),
    ),
    ("GET", "/api/v1/stats/participation-rate"): _get(
        "/api/v1/stats/participation-rate", "participation-rate"
    ),
    ("GET", "/api/v1/stats/coverage"): Route(
        "operator", lambda w, role: ("/api/v1/stats/coverage", {}), _figure("coverage")
    ),
    ("GET", "/api/v1/stats/credits"): _get("/api/v1/stats/credits", "credits"),
    ("GET", "/api/v1/stats/conversions"): _get("/api/v1/stats/conversions", "conversions"),
    ("GET", "/api/v1/stats/certificates"): _get("/api/v1/stats/certificates", "certificates"),
    ("GET", "/api/v1/stats/population"): Route(
        "operator", lambda w, role: ("/api/v1/stats/population", {}), lambda r, w, role: None
    ),
    ("PUT", "/api/v1/stats/population"): Route(
        "operator",
        lambda w, role: (
            "/api/v1/stats/population",
            {"json": [{"district": "永川区", "age_band": "60_plus", "residents": 280000}]},
        ),
        lambda r, w, role: eq(r.json()[0]["residents"], 280000, "residents"),
    ),
    ("GET", "/api/v1/stats/targets"): Route(
        "operator",
        lambda w, role: ("/api/v1/stats/targets", {}),
        lambda r, w, role: eq(r.json()["township_coverage"], 80.0, "default target"),
    ),
    ("PUT", "/api/v1/stats/targets"): Route(
        "operator",
        lambda w, role: ("/api/v1/stats/targets", {"json": {"participation": 65}}),
        lambda r, w, role: eq(r.json()["participation"], 65.0, "target"),
    ),
    ("GET", "/api/v1/stats/areas"): Route(
        "operator", lambda w, role: ("/api/v1/stats/areas", {}), lambda r, w, role: None
    ),
    ("PUT", "/api/v1/stats/areas"): Route(
        "operator",
        lambda w, role: ("/api/v1/stats/areas", {"json": [{"district": "永川区", "township": "中山路街道"}]}),
        lambda r, w, role: eq(len(r.json()), 1, "areas"),
    ),
}


def state(client: TestClient, w: World) -> dict[str, Any]:
    get = lambda url: client.get(url, headers=OPERATOR).json()  # noqa: E731
    return {
        "population": get("/api/v1/stats/population"),
        "participation target": get("/api/v1/stats/targets")["participation"],
        "areas": len(get("/api/v1/stats/areas")),
    }


def expected_state(role: str) -> dict[str, Any]:
    if role == OP:
        return {
            "population": [{"district": "永川区", "age_band": "60_plus", "residents": 280000}],
            "participation target": 65.0,
            "areas": 1,
        }
    return {"population": [], "participation target": 60.0, "areas": 0}
