"""Authorization matrix: who may call which /api/v1 route (SPEC §3.1, §3.2, §4).

Six callers walk every route of the app:

* ``operator``       — the admin token
* ``institution_A``  — accredited; owns the learner, the completions and the catalogue entries
* ``institution_B``  — another accredited institution with its own key, outcomes and learner
* ``learner``        — a session obtained by enrolling via A and activating with a password
* ``anonymous``      — no Authorization header
* ``garbage_token``  — ``Authorization: Bearer <nonsense>``

Each (role, route) cell expects one outcome class: allowed (2xx, plus a check a user would
notice), 401 ``unauthorized``, 403 ``forbidden`` or a 404 with a specific code (B must not even
learn that A's completion or A's learner exists). Every refusal is checked for its problem+json
``code``. One test per role builds one world and walks all routes, collecting every mismatch
into a table, then checks that the refused calls changed nothing.

``test_matrix_covers_every_route`` enumerates the routes from ``client.app.routes``: a new
route without a row in ``MATRIX`` fails it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import OPERATOR, completion_body, institution, learner, national_id, outcome

PASSWORD = "长城长城12345"

OP, A, B, LRN, ANON, JUNK = ROLES = ("operator", "institution_A", "institution_B", "learner", "anonymous",
                                     "garbage_token")


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, at the smallest cost: each walk activates and signs in, and the library's
    recommended parameters (64 MiB, 3 passes) would take most of this file's run time."""
    from argon2 import PasswordHasher

    from creditbank.learners import service

    monkeypatch.setattr(service, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


# -- the world ------------------------------------------------------------------------------------

@dataclass
class World:
    headers: dict[str, dict[str, str]]
    learner: dict            # enrolled by A, activated, one completion (c1) worth 1.5 community credits
    c1: str                  # A's completion for `learner`
    learner2: dict           # enrolled by A; c2 is the completion the revoke route targets
    c2: str
    fresh: dict              # enrolled by A, never activated: the /auth/activate target
    learner_b: dict          # enrolled by B
    spare_key_id: str        # a key of SPARE-ACC: the DELETE api-keys target
    own: dict[str, dict[str, Any]] = field(default_factory=dict)  # per institution role: what it posts with


def build_world(client: TestClient) -> World:
    a = institution(client, "YCCEC", "永川区社区教育学院")
    outcome(client, a, "YC-ELEC")                                  # 1.5 community credits, level 2
    outcome(client, a, "YC-X1", title_zh="玩转智能手机", category="senior", level=1, credits=1)
    outcome(client, a, "YC-X2", title_zh="家庭急救", category="community", level=1, credits=0.5)
    b = institution(client, "CQOU", "重庆开放大学")
    outcome(client, b, "B-X1", title_zh="现代农业技术基础", category="academic", level=4, credits=2)
    outcome(client, b, "B-X2", title_zh="电子商务入门", category="vocational_training", level=3, credits=1)
    institution(client, "SPARE-PEND", "待认证机构", accredit=False)
    institution(client, "SPARE-ACC", "备用机构")
    spare_key = client.post("/api/v1/institutions/SPARE-ACC/api-keys", json={"label": "spare"}, headers=OPERATOR)
    assert spare_key.status_code == 201, spare_key.text

    person = learner(client, a)
    c1 = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=a)
    assert c1.status_code == 201, c1.text
    person2 = learner(client, a, "李建国")
    c2 = client.post("/api/v1/completions", json=completion_body(person2["account_no"]), headers=a)
    assert c2.status_code == 201, c2.text
    fresh = learner(client, a, "王秀英")
    person_b = learner(client, b, "刘德明")

    activated = client.post("/api/v1/auth/activate", json={"account_no": person["account_no"],
                                                           "activation_code": person["activation_code"],
                                                           "password": PASSWORD})
    assert activated.status_code == 200, activated.text
    token = activated.json()["access_token"]

    return World(
        headers={OP: OPERATOR, A: a, B: b, LRN: {"Authorization": f"Bearer {token}"}, ANON: {},
                 JUNK: {"Authorization": "Bearer not-a-token-just-garbage-0123456789"}},
        learner=person, c1=c1.json()["id"], learner2=person2, c2=c2.json()["id"], fresh=fresh, learner_b=person_b,
        spare_key_id=spare_key.json()["id"],
        own={A: {"outcome": "YC-X1", "batch_outcome": "YC-X2", "account_no": person2["account_no"]},
             B: {"outcome": "B-X1", "batch_outcome": "B-X2", "account_no": person_b["account_no"]}},
    )


def _own(w: World, role: str) -> dict[str, Any]:
    """Institutions post with their own outcomes and learners; other roles get A's (they are refused anyway)."""
    return w.own.get(role, w.own[A])


# -- expectations ---------------------------------------------------------------------------------

Check = Callable[[Any, World, str], None]


@dataclass(frozen=True)
class Expect:
    status: int | None        # None: any 2xx
    code: str | None = None   # problem+json code of a refusal

    def __str__(self) -> str:
        return "2xx" if self.status is None else f"{self.status} {self.code}"


ALLOWED = Expect(None)
E401 = Expect(401, "unauthorized")
E403 = Expect(403, "forbidden")


def e404(code: str) -> Expect:
    return Expect(404, code)


# Who a route is for; the rest of the row follows from it.
ACCESS = {
    "operator": {OP: ALLOWED, A: E403, B: E403, LRN: E403, ANON: E401, JUNK: E401},
    "institution": {OP: E403, A: ALLOWED, B: ALLOWED, LRN: E403, ANON: E401, JUNK: E401},
    "institution_or_operator": {OP: ALLOWED, A: ALLOWED, B: ALLOWED, LRN: E403, ANON: E401, JUNK: E401},
    "learner": {OP: E403, A: E403, B: E403, LRN: ALLOWED, ANON: E401, JUNK: E401},
    "public": {role: ALLOWED for role in ROLES},
}


@dataclass(frozen=True)
class Route:
    access: str
    request: Callable[[World, str], tuple[str, dict[str, Any]]]  # -> (url, extra kwargs for client.request)
    check: Check                                                  # on an allowed answer
    overrides: dict[str, Expect] = field(default_factory=dict)

    def expect(self, role: str) -> Expect:
        return self.overrides.get(role, ACCESS[self.access][role])


def _eq(actual: Any, expected: Any, what: str) -> None:
    assert actual == expected, f"{what}: {actual!r} != {expected!r}"


def _check_institution_state(state: str) -> Check:
    return lambda r, w, role: _eq(r.json()["state"], state, "state")


def _check_balance(r, w, role) -> None:
    body = r.json()
    _eq((body["account_no"], body["total"], body["by_category"]), (w.learner["account_no"], 1.5, {"community": 1.5}),
        "balance")


def _check_catalogue(r, w, role) -> None:
    codes = sorted(o["code"] for o in r.json())
    expected = ["B-X1", "B-X2"] if role == B else ["YC-ELEC", "YC-X1", "YC-X2"]
    if role in (A, B):  # an institution's walk may have just published one more
        codes = [c for c in codes if c != "AUTHZ-NEW"]
    _eq(codes, expected, "catalogue codes")


def _check_key_list(r, w, role) -> None:
    keys = r.json()
    assert len(keys) >= 2, keys
    assert all(k["key"] is None for k in keys), "a key list must never show the secrets"


def _check_ledger(r, w, role) -> None:
    items = r.json()["items"]
    _eq([(i["kind"], i["amount"], i["completion_id"]) for i in items], [("deposit", 1.5, w.c1)], "ledger lines")


def _check_completion(r, w, role) -> None:
    body = r.json()
    _eq((body["id"], body["account_no"], body["credits"], body["state"]),
        (w.c1, w.learner["account_no"], 1.5, "active"), "completion")


def _post_completion(w: World, role: str) -> tuple[str, dict]:
    own = _own(w, role)
    return "/api/v1/completions", {"json": completion_body(own["account_no"], own["outcome"])}


def _post_batch(w: World, role: str) -> tuple[str, dict]:
    own = _own(w, role)
    row = completion_body(own["account_no"], own["batch_outcome"])
    return "/api/v1/completions/batch", {"json": {"mode": "all_or_nothing", "rows": [row]}}


def _check_posted(r, w, role) -> None:
    own = _own(w, role)
    _eq((r.status_code, r.json()["account_no"], r.json()["outcome_code"]), (201, own["account_no"], own["outcome"]),
        "posted completion")


MATRIX: dict[tuple[str, str], Route] = {
    # operator -----------------------------------------------------------------------------------
    ("POST", "/api/v1/institutions"): Route(
        "operator", lambda w, role: ("/api/v1/institutions", {"json": {"code": "NEWINST", "name_zh": "新机构"}}),
        lambda r, w, role: _eq((r.status_code, r.json()["code"], r.json()["state"]), (201, "NEWINST", "pending"),
                               "created institution")),
    ("GET", "/api/v1/institutions"): Route(
        "operator", lambda w, role: ("/api/v1/institutions", {}),
        lambda r, w, role: _eq({"YCCEC", "CQOU", "SPARE-PEND", "SPARE-ACC"} - {i["code"] for i in r.json()}, set(),
                               "institutions missing from the list")),
    ("POST", "/api/v1/institutions/{code}/accredit"): Route(
        "operator", lambda w, role: ("/api/v1/institutions/SPARE-PEND/accredit", {}),
        _check_institution_state("accredited")),
    ("POST", "/api/v1/institutions/{code}/suspend"): Route(
        "operator", lambda w, role: ("/api/v1/institutions/SPARE-ACC/suspend", {}),
        _check_institution_state("suspended")),
    ("POST", "/api/v1/institutions/{code}/api-keys"): Route(
        "operator", lambda w, role: ("/api/v1/institutions/SPARE-ACC/api-keys", {"json": {"label": "authz"}}),
        lambda r, w, role: _eq((r.status_code, r.json()["key"][:4]), (201, "cbk_"), "new key")),
    ("GET", "/api/v1/institutions/{code}/api-keys"): Route(
        "operator", lambda w, role: ("/api/v1/institutions/SPARE-ACC/api-keys", {}), _check_key_list),
    ("DELETE", "/api/v1/institutions/{code}/api-keys/{key_id}"): Route(
        "operator", lambda w, role: (f"/api/v1/institutions/SPARE-ACC/api-keys/{w.spare_key_id}", {}),
        lambda r, w, role: _eq((r.json()["id"], r.json()["revoked_at"] is not None), (w.spare_key_id, True),
                               "revoked key")),
    # institution --------------------------------------------------------------------------------
    ("PUT", "/api/v1/catalogue/{outcome_code}"): Route(
        "institution", lambda w, role: ("/api/v1/catalogue/AUTHZ-NEW", {"json": {
            "title_zh": "防范电信诈骗", "category": "community", "level": 1, "credits": 0.5}}),
        lambda r, w, role: _eq((r.status_code, r.json()["code"], r.json()["version"]), (201, "AUTHZ-NEW", 1),
                               "published outcome")),
    ("GET", "/api/v1/catalogue"): Route(
        "institution_or_operator", lambda w, role: ("/api/v1/catalogue", {"params": {"institution": "YCCEC"}}),
        _check_catalogue),
    ("POST", "/api/v1/learners"): Route(
        "institution_or_operator",
        lambda w, role: ("/api/v1/learners", {"json": {"name": "赵大爷", "national_id": national_id()}}),
        lambda r, w, role: _eq((r.status_code, r.json()["created"], bool(r.json()["activation_code"])),
                               (201, True, True), "enrolment")),
    ("POST", "/api/v1/completions"): Route("institution", _post_completion, _check_posted),
    ("POST", "/api/v1/completions/batch"): Route(
        "institution", _post_batch,
        lambda r, w, role: _eq((r.json()["accepted"], r.json()["committed"]), (1, True), "batch report")),
    ("GET", "/api/v1/completions/{completion_id}"): Route(
        "institution_or_operator", lambda w, role: (f"/api/v1/completions/{w.c1}", {}), _check_completion,
        overrides={B: e404("completion_not_found")}),
    ("POST", "/api/v1/completions/{completion_id}/revoke"): Route(
        "institution_or_operator",
        lambda w, role: (f"/api/v1/completions/{w.c2}/revoke", {"json": {"reason": "登记错误"}}),
        lambda r, w, role: _eq((r.json()["id"], r.json()["state"]), (w.c2, "revoked"), "revoked completion"),
        overrides={B: e404("completion_not_found")}),
    ("GET", "/api/v1/learners/{account_no}/balance"): Route(
        "institution_or_operator", lambda w, role: (f"/api/v1/learners/{w.learner['account_no']}/balance", {}),
        _check_balance, overrides={B: e404("learner_not_found")}),
    # learner ------------------------------------------------------------------------------------
    ("POST", "/api/v1/auth/activate"): Route(
        "public", lambda w, role: ("/api/v1/auth/activate", {"json": {
            "account_no": w.fresh["account_no"], "activation_code": w.fresh["activation_code"],
            "password": PASSWORD}}),
        lambda r, w, role: _eq((r.json()["account_no"], r.json()["access_token"][:4]),
                               (w.fresh["account_no"], "cbs_"), "activation")),
    ("POST", "/api/v1/auth/token"): Route(
        "public", lambda w, role: ("/api/v1/auth/token", {"json": {
            "account_no": w.learner["account_no"], "password": PASSWORD}}),
        lambda r, w, role: _eq((r.json()["account_no"], r.json()["access_token"][:4]),
                               (w.learner["account_no"], "cbs_"), "sign-in")),
    ("GET", "/api/v1/me"): Route(
        "learner", lambda w, role: ("/api/v1/me", {}),
        lambda r, w, role: _eq((r.json()["account_no"], r.json()["name"]), (w.learner["account_no"], "张桂兰"), "me")),
    ("GET", "/api/v1/me/balance"): Route("learner", lambda w, role: ("/api/v1/me/balance", {}), _check_balance),
    ("GET", "/api/v1/me/ledger"): Route("learner", lambda w, role: ("/api/v1/me/ledger", {}), _check_ledger),
}

# Cells where the app is known to answer wrongly: (role, method, path) -> reason. They are left out of
# the walk and replayed one by one in ``test_known_bug`` (xfail strict) so the bug stays recorded.
KNOWN_BUGS: dict[tuple[str, str, str], str] = {}


# -- route enumeration ----------------------------------------------------------------------------

def _walk(routes: list, prefix: str = "") -> Iterator[tuple[str, str]]:
    for route in routes:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if path is not None and methods:
            for method in sorted(set(methods) - {"HEAD", "OPTIONS"}):
                yield method, prefix + path
        elif hasattr(route, "original_router"):  # FastAPI ≥ 0.16x keeps included routers as one node
            yield from _walk(route.original_router.routes, prefix + route.include_context.prefix)
        elif hasattr(route, "routes"):           # a Mount
            yield from _walk(route.routes, prefix + (path or ""))


def api_routes(client: TestClient) -> set[tuple[str, str]]:
    return {(m, p) for m, p in _walk(client.app.routes) if p == "/api/v1" or p.startswith("/api/v1/")}


def test_matrix_covers_every_route(client):
    routes = api_routes(client)
    # The walker must see at least what OpenAPI documents, or it is missing a kind of route node.
    documented = {(m.upper(), p) for p, ops in client.app.openapi()["paths"].items() for m in ops
                  if p.startswith("/api/v1/")}
    assert documented <= routes, f"route walker missed: {sorted(documented - routes)}"
    missing = sorted(routes - MATRIX.keys())
    stale = sorted(MATRIX.keys() - routes)
    assert not missing and not stale, (f"routes without an authorization row: {missing}; "
                                       f"rows for routes that no longer exist: {stale}")


# -- the walk -------------------------------------------------------------------------------------

def _call(client: TestClient, w: World, role: str, method: str, template: str):
    url, kwargs = MATRIX[(method, template)].request(w, role)
    return client.request(method, url, headers=w.headers[role] | kwargs.pop("headers", {}), **kwargs)


def _judge(response, expect: Expect, check: Check, w: World, role: str) -> str | None:
    """None when the answer is what the matrix says; otherwise what went wrong, in a few words."""
    status = response.status_code
    if expect.status is None:
        if not 200 <= status < 300:
            return f"got {status} {_code(response)}"
        try:
            check(response, w, role)
        except (AssertionError, KeyError, TypeError, ValueError) as exc:
            return f"{status} but {type(exc).__name__}: {exc}"
        return None
    if status != expect.status or _code(response) != expect.code:
        leak = " (RESPONSE CARRIES DATA)" if 200 <= status < 300 else ""
        return f"got {status} {_code(response)}{leak}"
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return f"{status} {expect.code} but content-type {response.headers.get('content-type')!r}"
    body = response.json()
    if body.get("status") != status:
        return f"problem body status {body.get('status')!r} != {status}"
    extra = set(body) - {"type", "title", "status", "detail", "code", "errors"}
    if extra:
        return f"{status} {expect.code} but the refusal carries {sorted(extra)}"
    return None


def _code(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "<no json>"
    return body.get("code", "<no code>") if isinstance(body, dict) else f"<{type(body).__name__}>"


def _table(rows: list[tuple[str, str, str, str]]) -> str:
    head = ("role", "route", "expected", "actual")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    line = lambda r: " | ".join(c.ljust(wd) for c, wd in zip(r, widths))  # noqa: E731
    return "\n".join([line(head), "-+-".join("-" * wd for wd in widths), *map(line, rows)])


def _operator_view(client: TestClient, w: World) -> dict[str, Any]:
    """The state every walk could touch, read with the operator token."""
    get = lambda url: client.get(url, headers=OPERATOR)  # noqa: E731
    institutions = {i["code"]: i["state"] for i in get("/api/v1/institutions").json()}
    keys = {k["id"]: k["revoked_at"] is not None for k in get("/api/v1/institutions/SPARE-ACC/api-keys").json()}
    return {
        "balance": get(f"/api/v1/learners/{w.learner['account_no']}/balance").json()["total"],
        "c1": get(f"/api/v1/completions/{w.c1}").json()["state"],
        "c2": get(f"/api/v1/completions/{w.c2}").json()["state"],
        "learner2 balance": get(f"/api/v1/learners/{w.learner2['account_no']}/balance").json()["total"],
        "institutions": institutions,
        "spare key revoked": keys[w.spare_key_id],
        "SPARE-ACC keys": len(keys),
        "catalogue A": sorted(o["code"] for o in get("/api/v1/catalogue?institution=YCCEC").json()),
        "catalogue B": sorted(o["code"] for o in get("/api/v1/catalogue?institution=CQOU").json()),
    }


def _expected_after(role: str) -> dict[str, Any]:
    """What the walk of ``role`` must have changed, and nothing else."""
    institutions = {"YCCEC": "accredited", "CQOU": "accredited", "SPARE-PEND": "pending", "SPARE-ACC": "accredited"}
    if role == OP:
        institutions |= {"SPARE-PEND": "accredited", "SPARE-ACC": "suspended", "NEWINST": "pending"}
    # learner2 starts at 1.5 (c2); A's walk revokes c2 (-1.5) and posts YC-X1 (+1) and YC-X2 by batch (+0.5).
    return {
        "balance": 1.5,
        "c1": "active",
        "c2": "revoked" if role in (OP, A) else "active",
        "learner2 balance": {OP: 0.0, A: 1.5}.get(role, 1.5),
        "institutions": institutions,
        "spare key revoked": role == OP,
        "SPARE-ACC keys": 3 if role == OP else 2,
        "catalogue A": ["AUTHZ-NEW", "YC-ELEC", "YC-X1", "YC-X2"] if role == A else ["YC-ELEC", "YC-X1", "YC-X2"],
        "catalogue B": ["AUTHZ-NEW", "B-X1", "B-X2"] if role == B else ["B-X1", "B-X2"],
    }


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
    assert not failures, f"\n{len(failures)} cell(s) of the authorization matrix are wrong:\n{_table(failures)}"

    # Refused calls must not have changed anything; allowed ones exactly what they said.
    after, expected = _operator_view(client, w), _expected_after(role)
    diff = {k: (after[k], expected[k]) for k in expected if after[k] != expected[k]}
    assert not diff, f"state after the {role} walk differs (actual, expected): {diff}"


if KNOWN_BUGS:  # defined only when there is something to record (an empty parametrize would show as a skip)
    @pytest.mark.parametrize("cell", [
        pytest.param(cell, marks=pytest.mark.xfail(strict=True, reason=reason), id=f"{cell[0]}-{cell[1]}-{cell[2]}")
        for cell, reason in KNOWN_BUGS.items()])
    def test_known_bug(client, cell):
        role, method, template = cell
        w = build_world(client)
        route = MATRIX[(method, template)]
        problem = _judge(_call(client, w, role, method, template), route.expect(role), route.check, w, role)
        assert problem is None, f"{role} {method} {template}: expected {route.expect(role)}, {problem}"


def test_teaching_a_learner_opens_the_balance_but_not_the_other_institutions_records(client):
    """SPEC §4: an institution reads the balance of learners it enrolled *or taught* — and only that."""
    w = build_world(client)
    b, account = w.headers[B], w.learner["account_no"]
    assert client.get(f"/api/v1/learners/{account}/balance", headers=b).status_code == 404
    taught = client.post("/api/v1/completions", json=completion_body(account, "B-X1"), headers=b)
    assert taught.status_code == 201, taught.text
    balance = client.get(f"/api/v1/learners/{account}/balance", headers=b)
    assert balance.status_code == 200 and balance.json()["total"] == 3.5, balance.text  # 1.5 from A + 2 from B
    # Teaching the learner does not open A's completion records to B, nor B's to A.
    for headers, completion in [(b, w.c1), (w.headers[A], taught.json()["id"])]:
        r = client.get(f"/api/v1/completions/{completion}", headers=headers)
        assert (r.status_code, _code(r)) == (404, "completion_not_found"), r.text
        r = client.post(f"/api/v1/completions/{completion}/revoke", json={"reason": "x"}, headers=headers)
        assert (r.status_code, _code(r)) == (404, "completion_not_found"), r.text
    # A third institution that never met the learner still gets "no such account".
    r = client.get(f"/api/v1/learners/{account}/balance", headers=institution(client, "THIRD", "第三机构"))
    assert (r.status_code, _code(r)) == (404, "learner_not_found"), r.text
    me = client.get("/api/v1/me/balance", headers=w.headers[LRN]).json()
    assert me["total"] == 3.5 and me["by_category"] == {"academic": 2.0, "community": 1.5}


# -- keys and institution states ------------------------------------------------------------------

def test_revoked_api_key_is_401_and_other_keys_keep_working(client):
    a = institution(client, "YCCEC")
    outcome(client, a)
    keys = client.get("/api/v1/institutions/YCCEC/api-keys", headers=OPERATOR).json()
    assert len(keys) == 1
    second = client.post("/api/v1/institutions/YCCEC/api-keys", json={"label": "rotation"}, headers=OPERATOR).json()
    a2 = {"Authorization": f"Bearer {second['key']}"}
    assert client.get("/api/v1/catalogue", headers=a).status_code == 200

    revoked = client.delete(f"/api/v1/institutions/YCCEC/api-keys/{keys[0]['id']}", headers=OPERATOR)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None, revoked.text

    for method, url, body in [("GET", "/api/v1/catalogue", None),
                              ("POST", "/api/v1/learners", {"name": "赵大爷", "national_id": national_id()}),
                              ("PUT", "/api/v1/catalogue/YC-ELEC", {"title_zh": "改", "category": "community",
                                                                    "level": 2, "credits": 1.5})]:
        r = client.request(method, url, json=body, headers=a)
        assert (r.status_code, _code(r)) == (401, "unauthorized"), f"{method} {url} with a revoked key: {r.text}"
    # Rotation: the institution's other key is untouched.
    r = client.get("/api/v1/catalogue", headers=a2)
    assert r.status_code == 200 and [o["code"] for o in r.json()] == ["YC-ELEC"]
    listed = {k["id"]: k["revoked_at"] for k in client.get("/api/v1/institutions/YCCEC/api-keys",
                                                           headers=OPERATOR).json()}
    assert listed[keys[0]["id"]] is not None and listed[second["id"]] is None


def test_revoking_a_key_through_another_institution_is_404(client):
    a = institution(client, "YCCEC")
    institution(client, "CQOU", "重庆开放大学")
    a_key = client.get("/api/v1/institutions/YCCEC/api-keys", headers=OPERATOR).json()[0]["id"]
    r = client.delete(f"/api/v1/institutions/CQOU/api-keys/{a_key}", headers=OPERATOR)
    assert (r.status_code, _code(r)) == (404, "api_key_not_found"), r.text
    assert client.get("/api/v1/catalogue", headers=a).status_code == 200


@pytest.mark.parametrize("token", ["cbk_" + "0" * 43, "cbs_" + "0" * 43, "cbo_" + "0" * 43, "", "Bearer"])
def test_unknown_tokens_of_every_shape_are_401(client, token):
    r = client.get("/api/v1/catalogue", headers={"Authorization": f"Bearer {token}"})
    assert (r.status_code, _code(r)) == (401, "unauthorized"), r.text
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert (r.status_code, _code(r)) == (401, "unauthorized"), r.text


def test_suspended_institution_authenticates_but_cannot_post(client):
    a = institution(client, "YCCEC")
    outcome(client, a)
    outcome(client, a, "YC-X1", title_zh="玩转智能手机", category="senior", level=1, credits=1)
    person = learner(client, a)
    posted = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=a)
    assert posted.status_code == 201, posted.text
    token = client.post("/api/v1/auth/activate", json={"account_no": person["account_no"],
                        "activation_code": person["activation_code"], "password": PASSWORD}).json()["access_token"]

    suspended = client.post("/api/v1/institutions/YCCEC/suspend", headers=OPERATOR)
    assert suspended.status_code == 200 and suspended.json()["state"] == "suspended", suspended.text

    # Still authenticates: reads work.
    assert client.get("/api/v1/catalogue", headers=a).status_code == 200
    balance = client.get(f"/api/v1/learners/{person['account_no']}/balance", headers=a)
    assert balance.status_code == 200 and balance.json()["total"] == 1.5, balance.text
    got = client.get(f"/api/v1/completions/{posted.json()['id']}", headers=a)
    assert got.status_code == 200 and got.json()["state"] == "active", got.text

    # No new postings, one by one or in a batch.
    r = client.post("/api/v1/completions", json=completion_body(person["account_no"], "YC-X1"), headers=a)
    assert (r.status_code, _code(r)) == (403, "institution_not_accredited"), r.text
    r = client.post("/api/v1/completions/batch", headers=a,
                    json={"rows": [completion_body(person["account_no"], "YC-X1")]})
    assert (r.status_code, _code(r)) == (403, "institution_not_accredited"), r.text

    # Existing credits stay valid, for the learner too.
    me = client.get("/api/v1/me/balance", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["total"] == 1.5, me.text
    assert client.get(f"/api/v1/learners/{person['account_no']}/balance", headers=OPERATOR).json()["total"] == 1.5

    # Re-accreditation restores posting.
    assert client.post("/api/v1/institutions/YCCEC/accredit", headers=OPERATOR).json()["state"] == "accredited"
    r = client.post("/api/v1/completions", json=completion_body(person["account_no"], "YC-X1"), headers=a)
    assert r.status_code == 201, r.text


def test_pending_institution_cannot_post(client):
    p = institution(client, "YCCEC", accredit=False)
    outcome(client, p)
    person = learner(client, p)
    r = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=p)
    assert (r.status_code, _code(r)) == (403, "institution_not_accredited"), r.text
