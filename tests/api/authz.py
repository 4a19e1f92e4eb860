"""The machinery of the authorization matrix (SPEC §3.1, §3.2, §3.7, §4): who may call which /api/v1 route.

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
``code``.

Where things are:

* this module — the shared world every walk starts from (``build_world``), the access classes
  (``ACCESS``) and the ``Route`` row type;
* ``test_authz_<router>.py`` — one per router module of ``creditbank/api/`` (operator, institution,
  learner, certificates, conversion): its ``ROWS`` (one ``Route`` per route), the part of the world's
  state its routes can change (``state``) and what that part must be after each role's walk
  (``expected_state``), and the authorization stories that need more than one call;
* ``test_authz_matrix.py`` — walks all rows for each role in one world, checks that the refused
  calls changed nothing, and fails when a route has no row.

A new route: add a ``Route`` to ``ROWS`` of the file named after its router module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import OPERATOR, completion_body, institution, learner, outcome, signed_in

PASSWORD = "长城长城12345"

OP, A, B, LRN, ANON, JUNK = ROLES = (
    "operator",
    "institution_A",
    "institution_B",
    "learner",
    "anonymous",
    "garbage_token",
)


# -- the world ------------------------------------------------------------------------------------


@dataclass
class World:
    headers: dict[str, dict[str, str]]
    learner: dict  # enrolled by A, activated, one completion (c1) worth 1.5 community credits,
    #                          1.0 of them locked by the two pending conversion requests below
    c1: str  # A's completion for `learner`
    learner2: dict  # enrolled by A; c2 is the completion the revoke route targets
    c2: str
    fresh: dict  # enrolled by A, never activated: the /auth/activate target
    learner_b: dict  # enrolled by B
    spare_key_id: str  # a key of SPARE-ACC: the DELETE api-keys target
    cert: dict  # the learner's achievement certificate for c1: stays valid through every walk
    cert_revoke: dict  # the learner's transcript (rests on c1, so on A): the certificate-revoke target
    # Conversion rules by code. A's, approved, one target each (a learner gets each target course once, so
    # a second pending request for the same target is refused): AUTHZ-CONV (-> YC-X1: the request A decides),
    # AUTHZ-CONV-OP (-> YC-X3: the request the operator decides), AUTHZ-CONV-NEW (-> YC-X4: the one the
    # learner's walk applies for), AUTHZ-RETIRE (-> YC-X2: the retire target). B's, proposed: AUTHZ-APPROVE
    # (the approve target), AUTHZ-REJECT (the reject target).
    rules: dict[str, dict]
    conversions: dict[str, str]  # role -> the learner's pending request that this role decides (OP, A)
    own: dict[str, dict[str, Any]] = field(default_factory=dict)  # per institution role: what it posts with


def build_world(client: TestClient) -> World:
    a = institution(client, "YCCEC", "永川区社区教育学院")
    outcome(client, a, "YC-ELEC")  # 1.5 community credits, level 2
    outcome(client, a, "YC-X1", title_zh="玩转智能手机", category="senior", level=1, credits=1)
    outcome(client, a, "YC-X2", title_zh="家庭急救", category="community", level=1, credits=0.5)
    # Targets of the other conversion rules: like YC-X1, so deciding either request grants the same.
    outcome(client, a, "YC-X3", title_zh="网上办事入门", category="senior", level=1, credits=1)
    outcome(client, a, "YC-X4", title_zh="老年人防诈骗", category="senior", level=1, credits=1)
    b = institution(client, "CQOU", "重庆开放大学")
    outcome(client, b, "B-X1", title_zh="现代农业技术基础", category="academic", level=4, credits=2)
    outcome(client, b, "B-X2", title_zh="电子商务入门", category="vocational_training", level=3, credits=1)
    institution(client, "SPARE-PEND", "待认证机构", accredit=False)
    institution(client, "SPARE-ACC", "备用机构")
    spare_key = client.post(
        "/api/v1/institutions/SPARE-ACC/api-keys", json={"label": "spare"}, headers=OPERATOR
    )
    assert spare_key.status_code == 201, spare_key.text

    person = learner(client, a)
    c1 = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=a)
    assert c1.status_code == 201, c1.text
    person2 = learner(client, a, "李建国")
    c2 = client.post("/api/v1/completions", json=completion_body(person2["account_no"]), headers=a)
    assert c2.status_code == 201, c2.text
    fresh = learner(client, a, "王秀英")
    person_b = learner(client, b, "刘德明")

    session = signed_in(client, person, PASSWORD)
    certs = []
    for body in ({"kind": "achievement", "completion_id": c1.json()["id"]}, {"kind": "transcript"}):
        issued = client.post("/api/v1/me/certificates", json=body, headers=session)
        assert issued.status_code == 201, issued.text
        certs.append(issued.json())

    qualification = client.put(
        f"/api/v1/qualifications/{QUALIFICATION}", json=qualification_body(), headers=a
    )
    assert qualification.status_code == 201, qualification.text
    rules = {}
    for owner, code, target, approve in [
        (a, "AUTHZ-CONV", "YC-X1", True),
        (a, "AUTHZ-CONV-OP", "YC-X3", True),
        (a, "AUTHZ-CONV-NEW", "YC-X4", True),
        (a, "AUTHZ-RETIRE", "YC-X2", True),
        (b, "AUTHZ-APPROVE", "B-X2", False),
        (b, "AUTHZ-REJECT", "B-X1", False),
    ]:
        proposed = client.post("/api/v1/conversion-rules", json=rule_body(code, target), headers=owner)
        assert proposed.status_code == 201, proposed.text
        rules[code] = proposed.json()
        if approve:
            approved = client.post(
                f"/api/v1/conversion-rules/{proposed.json()['id']}/approve", headers=OPERATOR
            )
            assert approved.status_code == 200, approved.text
            rules[code] = approved.json()
    conversions = {}
    for role, code in ((A, "AUTHZ-CONV"), (OP, "AUTHZ-CONV-OP")):
        requested = client.post(
            "/api/v1/me/conversions", json={"rule_id": rules[code]["id"]}, headers=session
        )
        assert requested.status_code == 201, requested.text
        conversions[role] = requested.json()["id"]

    # The transparency log's rows read a signed checkpoint that covers the whole world.
    client.app.state.log.checkpoint()
    client.app.state.log.latest_view(fresh=True)
    return World(
        headers={
            OP: OPERATOR,
            A: a,
            B: b,
            LRN: session,
            ANON: {},
            JUNK: {"Authorization": "Bearer not-a-token-just-garbage-0123456789"},
        },
        learner=person,
        c1=c1.json()["id"],
        learner2=person2,
        c2=c2.json()["id"],
        fresh=fresh,
        learner_b=person_b,
        spare_key_id=spare_key.json()["id"],
        cert=certs[0],
        cert_revoke=certs[1],
        rules=rules,
        conversions=conversions,
        own={
            A: {
                "outcome": "YC-X1",
                "batch_outcome": "YC-X2",
                "account_no": person2["account_no"],
                "rule_target": "YC-X2",
            },
            B: {
                "outcome": "B-X1",
                "batch_outcome": "B-X2",
                "account_no": person_b["account_no"],
                "rule_target": "B-X2",
            },
        },
    )


QUALIFICATION = "YC-QUAL"  # A's


def qualification_body(**fields: Any) -> dict:
    return {
        "name_zh": "社区学习证书",
        "total_credits": 3,
        "requirements": [{"category": "community", "min_credits": 1.5}],
    } | fields


def rule_body(code: str, target: str, **fields: Any) -> dict:
    """0.5 community credits (level ≥ 2) → 1 credit of ``target``: c1's lot of 1.5 pays for three of them."""
    return {
        "code": code,
        "name_zh": "社区教育学分转换",
        "target_outcome_code": target,
        "credits": 1,
        "source": {"credits": {"category": "community", "min_level": 2, "amount": 0.5}},
        "effective_from": "2026-01-01",
    } | fields


def owned_by(w: World, role: str) -> dict[str, Any]:
    """Institutions post with their own outcomes and learners; other roles get A's (they are refused anyway)."""
    return w.own.get(role, w.own[A])


# -- expectations ---------------------------------------------------------------------------------

Check = Callable[[Any, World, str], None]


@dataclass(frozen=True)
class Expect:
    status: int | None  # None: any 2xx
    code: str | None = None  # problem+json code of a refusal

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
    "public": dict.fromkeys(ROLES, ALLOWED),
}


@dataclass(frozen=True)
class Route:
    access: str
    request: Callable[[World, str], tuple[str, dict[str, Any]]]  # -> (url, extra kwargs for client.request)
    check: Check  # on an allowed answer
    overrides: dict[str, Expect] = field(default_factory=dict)

    def expect(self, role: str) -> Expect:
        return self.overrides.get(role, ACCESS[self.access][role])


def eq(actual: Any, expected: Any, what: str) -> None:
    assert actual == expected, f"{what}: {actual!r} != {expected!r}"


def check_balance(r, w, role) -> None:
    body = r.json()
    eq(
        (body["account_no"], body["total"], body["by_category"]),
        (w.learner["account_no"], 1.5, {"community": 1.5}),
        "balance",
    )


def kid_of(certificate: dict) -> str:
    return certificate["credential"]["proof"][0]["verificationMethod"].rsplit("#", 1)[1]


def problem_code(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "<no json>"
    return body.get("code", "<no code>") if isinstance(body, dict) else f"<{type(body).__name__}>"
