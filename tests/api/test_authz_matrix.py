"""The authorization matrix, walked: every role calls every /api/v1 route in one world and gets what the
row says (SPEC §3.1, §3.2, §3.7, §4).

The rows live next to the stories of their router, one file per router module of ``creditbank/api/``
(``test_authz_operator.py``, ``test_authz_institution.py``, …); the shared world and row types in
``authz.py``. One test per role builds one world and walks all rows, collecting every mismatch into a
table, then checks that the refused calls changed nothing and the allowed ones exactly what they said
(each router file's ``state``/``expected_state``).

``test_matrix_covers_every_route`` enumerates the routes from ``client.app.routes``: a new route without
a row fails it, and its message names the file to add the row to.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api import (
    test_authz_certificates,
    test_authz_conversion,
    test_authz_institution,
    test_authz_learner,
    test_authz_operator,
    test_authz_stats,
    test_authz_translog,
)
from tests.api.authz import ROLES, Check, Expect, Route, World, build_world, problem_code

# The walk runs the rows of these files in this order, in one world. Order matters where a row changes
# what a later one reads: the operator rotates the issuer key before the certificate reads, and the
# conversion rows, which move the learner's balance, come after the rows that read it.
ROUTERS = (
    test_authz_operator,
    test_authz_institution,
    test_authz_learner,
    test_authz_certificates,
    test_authz_conversion,
    test_authz_translog,
    test_authz_stats,
)


def _matrix() -> dict[tuple[str, str], Route]:
    matrix: dict[tuple[str, str], Route] = {}
    for router in ROUTERS:
        twice = matrix.keys() & router.ROWS.keys()
        assert not twice, f"{router.__name__} repeats rows of an earlier router file: {sorted(twice)}"
        matrix |= router.ROWS
    return matrix


MATRIX = _matrix()

# Cells where the app is known to answer wrongly: (role, method, path) -> reason. They are left out of
# the walk and replayed one by one in ``test_known_bug`` (xfail strict) so the bug stays recorded.
KNOWN_BUGS: dict[tuple[str, str, str], str] = {}


# -- route enumeration ----------------------------------------------------------------------------


def _walk(routes: list, prefix: str = "") -> Iterator[tuple[str, str, Any]]:
    """(method, path, route node) for every route, through included routers and mounts."""
    for route in routes:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if path is not None and methods:
            for method in sorted(set(methods) - {"HEAD", "OPTIONS"}):
                yield method, prefix + path, route
        elif hasattr(route, "original_router"):  # FastAPI ≥ 0.16x keeps included routers as one node
            yield from _walk(route.original_router.routes, prefix + route.include_context.prefix)
        elif hasattr(route, "routes"):  # a Mount
            yield from _walk(route.routes, prefix + (path or ""))


def api_routes(client: TestClient) -> dict[tuple[str, str], str]:
    """(method, path) -> the module of the function that answers it, for every /api/v1 route."""
    return {
        (m, p): getattr(getattr(node, "endpoint", None), "__module__", "?")
        for m, p, node in _walk(client.app.routes)
        if p == "/api/v1" or p.startswith("/api/v1/")
    }


def _row_file(module: str) -> str:
    """Where a route answered by ``creditbank.api.<router>`` keeps its row."""
    return f"tests/api/test_authz_{module.rsplit('.', 1)[-1]}.py"


def test_matrix_covers_every_route(client):
    routes = api_routes(client)
    # The walker must see at least what OpenAPI documents, or it is missing a kind of route node.
    documented = {
        (m.upper(), p)
        for p, ops in client.app.openapi()["paths"].items()
        for m in ops
        if p.startswith("/api/v1/")
    }
    assert documented <= routes.keys(), f"route walker missed: {sorted(documented - routes.keys())}"
    missing = sorted(routes.keys() - MATRIX.keys())
    stale = sorted(MATRIX.keys() - routes.keys())
    assert not missing, (
        "routes without an authorization row — add a Route to ROWS in the file named:\n"
        + "\n".join(f"  {m} {p}  ->  {_row_file(routes[m, p])}" for m, p in missing)
        + (
            "\n(a new router module gets a new file like the others, listed in ROUTERS in "
            "tests/api/test_authz_matrix.py)"
        )
    )
    assert not stale, f"rows for routes that no longer exist (delete them): {stale}"


# -- the walk -------------------------------------------------------------------------------------


def _call(client: TestClient, w: World, role: str, method: str, template: str):
    url, kwargs = MATRIX[(method, template)].request(w, role)
    return client.request(method, url, headers=w.headers[role] | kwargs.pop("headers", {}), **kwargs)


def _judge(response, expect: Expect, check: Check, w: World, role: str) -> str | None:
    """None when the answer is what the matrix says; otherwise what went wrong, in a few words."""
    status = response.status_code
    if expect.status is None:
        if not 200 <= status < 300:
            return f"got {status} {problem_code(response)}"
        try:
            check(response, w, role)
        except (AssertionError, KeyError, TypeError, ValueError) as exc:
            return f"{status} but {type(exc).__name__}: {exc}"
        return None
    if status != expect.status or problem_code(response) != expect.code:
        leak = " (RESPONSE CARRIES DATA)" if 200 <= status < 300 else ""
        return f"got {status} {problem_code(response)}{leak}"
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return f"{status} {expect.code} but content-type {response.headers.get('content-type')!r}"
    body = response.json()
    if body.get("status") != status:
        return f"problem body status {body.get('status')!r} != {status}"
    extra = set(body) - {"type", "title", "status", "detail", "code", "errors"}
    if extra:
        return f"{status} {expect.code} but the refusal carries {sorted(extra)}"
    return None


def _table(rows: list[tuple[str, str, str, str]]) -> str:
    head = ("role", "route", "expected", "actual")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    line = lambda r: " | ".join(c.ljust(wd) for c, wd in zip(r, widths))  # noqa: E731
    return "\n".join([line(head), "-+-".join("-" * wd for wd in widths), *map(line, rows)])


def _merged(parts: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        twice = merged.keys() & part.keys()
        assert not twice, f"two router files claim the same state: {sorted(twice)}"
        merged |= part
    return merged


def _state(client: TestClient, w: World) -> dict[str, Any]:
    """Everything a walk could change, read with the operator token."""
    return _merged([router.state(client, w) for router in ROUTERS])


def _expected_state(role: str) -> dict[str, Any]:
    """What the walk of ``role`` must have changed, and nothing else."""
    return _merged([router.expected_state(role) for router in ROUTERS])


@pytest.mark.parametrize("role", ROLES)
def test_authorization_matrix(client, role):
    w = build_world(client)
    failures = []
    for (method, template), route in MATRIX.items():
        if (role, method, template) in KNOWN_BUGS:
            continue
        expect = route.expect(role)
        problem = _judge(_call(client, w, role, method, template), expect, route.check, w, role)
        if problem:
            failures.append((role, f"{method} {template}", str(expect), problem))
    assert not failures, (
        f"\n{len(failures)} cell(s) of the authorization matrix are wrong:\n{_table(failures)}"
    )

    # Refused calls must not have changed anything; allowed ones exactly what they said.
    after, expected = _state(client, w), _expected_state(role)
    diff = {k: (after[k], expected[k]) for k in expected if after[k] != expected[k]}
    assert not diff, f"state after the {role} walk differs (actual, expected): {diff}"


if KNOWN_BUGS:  # defined only when there is something to record (an empty parametrize would show as a skip)

    @pytest.mark.parametrize(
        "cell",
        [
            pytest.param(
                cell, marks=pytest.mark.xfail(strict=True, reason=reason), id=f"{cell[0]}-{cell[1]}-{cell[2]}"
            )
            for cell, reason in KNOWN_BUGS.items()
        ],
    )
    def test_known_bug(client, cell):
        role, method, template = cell
        w = build_world(client)
        route = MATRIX[(method, template)]
        problem = _judge(_call(client, w, role, method, template), route.expect(role), route.check, w, role)
        assert problem is None, f"{role} {method} {template}: expected {route.expect(role)}, {problem}"


@pytest.mark.parametrize("token", ["cbk_" + "0" * 43, "cbs_" + "0" * 43, "cbo_" + "0" * 43, "", "Bearer"])
def test_unknown_tokens_of_every_shape_are_401(client, token):
    r = client.get("/api/v1/catalogue", headers={"Authorization": f"Bearer {token}"})
    assert (r.status_code, problem_code(r)) == (401, "unauthorized"), r.text
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert (r.status_code, problem_code(r)) == (401, "unauthorized"), r.text
