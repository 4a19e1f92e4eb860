"""Authorization of the statistics routes (``creditbank/api/stats.py``, SPEC §3.9): the district office's
figures and what it enters (population, targets, areas) are the operator's alone. Institutions, learners
and strangers get 403/401 and change nothing. The machinery is in ``tests/api/authz.py``."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.authz import LRN, OP, Expect, Route, World, eq
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
    # A college-sized world computes its figures for every request: nothing kept, nothing to refresh.
    ("POST", "/api/v1/stats/refresh"): Route(
        "operator",
        lambda w, role: ("/api/v1/stats/refresh", {"params": PERIOD}),
        lambda r, w, role: eq((r.status_code, r.json()["kept"]), (202, False), "refresh of live figures"),
    ),
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
    # Recognition. The world's learner never agreed to be named (until the learner's own walk), so the
    # operator's award is refused by the domain (409), after authorization; the learner's certificate
    # row names an award that does not exist (404). The allowed stories: tests/stats/test_recognition.py.
    ("GET", "/api/v1/stats/recognition"): Route(
        "operator",
        lambda w, role: ("/api/v1/stats/recognition", {"params": PERIOD}),
        lambda r, w, role: eq(r.json(), [], "candidates (nobody agreed to be named)"),
    ),
    ("POST", "/api/v1/awards"): Route(
        "operator",
        lambda w, role: (
            "/api/v1/awards",
            {"json": {"account_no": w.learner["account_no"], "title": "star"}},
        ),
        lambda r, w, role: None,
        overrides={OP: Expect(409, "award_not_consented")},
    ),
    ("GET", "/api/v1/awards"): Route(
        "operator", lambda w, role: ("/api/v1/awards", {}), lambda r, w, role: eq(r.json(), [], "awards")
    ),
    ("GET", "/api/v1/me/awards"): Route(
        "learner", lambda w, role: ("/api/v1/me/awards", {}), lambda r, w, role: eq(r.json(), [], "my awards")
    ),
    ("PUT", "/api/v1/me/recognition-consent"): Route(
        "learner",
        lambda w, role: ("/api/v1/me/recognition-consent", {"json": {"named": True}}),
        lambda r, w, role: eq(r.json()["named"], True, "consent"),
    ),
    ("POST", "/api/v1/me/awards/{award_id}/certificate"): Route(
        "learner",
        lambda w, role: ("/api/v1/me/awards/awd_nonexistent/certificate", {}),
        lambda r, w, role: None,
        overrides={LRN: Expect(404, "award_not_found")},
    ),
}


def state(client: TestClient, w: World) -> dict[str, Any]:
    get = lambda url: client.get(url, headers=OPERATOR).json()  # noqa: E731
    return {
        "population": get("/api/v1/stats/population"),
        "participation target": get("/api/v1/stats/targets")["participation"],
        "areas": len(get("/api/v1/stats/areas")),
        "awards": len(get("/api/v1/awards")),
        # The learner's c1 (2026-03-01) makes them a candidate once they agree to be named.
        "learner agreed to be named": bool(get("/api/v1/stats/recognition?from=2026-01-01&to=2026-12-31")),
    }


def expected_state(role: str) -> dict[str, Any]:
    if role == OP:
        return {
            "population": [{"district": "永川区", "age_band": "60_plus", "residents": 280000}],
            "participation target": 65.0,
            "areas": 1,
            "awards": 0,
            "learner agreed to be named": False,
        }
    return {
        "population": [],
        "participation target": 60.0,
        "areas": 0,
        "awards": 0,
        "learner agreed to be named": role == LRN,
    }
