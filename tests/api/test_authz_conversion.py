"""Authorization of the conversion routes (``creditbank/api/conversion.py``, SPEC §3.5–§3.6).

A owns a qualification and the conversion rules the learner's credits can feed; the approved rules and
the qualifications are public. The learner's c1 lot (1.5 community credits) funds three requests of 0.5,
each under its own rule of A's, since a learner gets each target course once (a second request for a
target already asked for answers 409 conversion_already_requested): two made by the world — one for A
to decide (AUTHZ-CONV), one for the operator (AUTHZ-CONV-OP), since a decided request answers 409 —
and one by the learner's own walk (AUTHZ-CONV-NEW). B owns no request, so it must not learn that
A's exist (404, as for completions). Rules and qualifications are written only for what the institution
owns.

The machinery is in ``tests/api/authz.py``; ``test_authz_matrix.py`` walks these rows with every role.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.authz import (
    LRN,
    OP,
    PASSWORD,
    QUALIFICATION,
    A,
    B,
    Check,
    Expect,
    Route,
    World,
    build_world,
    e404,
    eq,
    owned_by,
    problem_code,
    qualification_body,
    rule_body,
)
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome, signed_in


def _institution_code(role: str) -> str:
    return "CQOU" if role == B else "YCCEC"


def _post_rule(w: World, role: str) -> tuple[str, dict]:
    return "/api/v1/conversion-rules", {"json": rule_body("AUTHZ-RULE", owned_by(w, role)["rule_target"])}


def _check_proposed_rule(r, w, role) -> None:
    body = r.json()
    owner = _institution_code(role)
    eq(
        (r.status_code, body["code"], body["state"], body["owner"], body["target_outcome"]),
        (201, "AUTHZ-RULE", "proposed", owner, f"{owner}:{owned_by(w, role)['rule_target']}"),
        "proposed rule",
    )


def _check_public_rules(r, w, role) -> None:
    """Approved rules only: neither B's proposed AUTHZ-APPROVE nor a rule just proposed in this walk."""
    eq(
        [(x["owner"], x["code"], x["state"]) for x in r.json()],
        [
            ("YCCEC", "AUTHZ-CONV", "approved"),
            ("YCCEC", "AUTHZ-CONV-OP", "approved"),
            ("YCCEC", "AUTHZ-CONV-NEW", "approved"),
            ("YCCEC", "AUTHZ-RETIRE", "approved"),
        ],
        "listed rules",
    )


def _check_rule_state(code: str, state: str) -> Check:
    return lambda r, w, role: eq(
        (r.json()["id"], r.json()["state"]), (w.rules[code]["id"], state), f"rule {code}"
    )


def _check_qualification(r, w, role) -> None:
    body = r.json()  # the PUT row of A's walk may already have made a version 2 (a new name, nothing else)
    eq(
        (body["code"], body["owner"], body["total_credits"], body["requirements"]),
        (QUALIFICATION, "YCCEC", 3.0, [{"category": "community", "min_credits": 1.5}]),
        "qualification",
    )


def _check_options(r, w, role) -> None:
    """The rule the learner's walk applies for is open; the world's two, already asked for, are not."""
    options = {o["rule"]["id"]: o for o in r.json()}
    option = options[w.rules["AUTHZ-CONV-NEW"]["id"]]
    eq(
        (option["eligible"], option["grant"], [u["credits"] for u in option["would_use"]], option["missing"]),
        (True, 1.0, [0.5], []),
        "conversion option",
    )
    for decider, code in ((A, "AUTHZ-CONV"), (OP, "AUTHZ-CONV-OP")):
        option = options[w.rules[code]["id"]]
        eq(
            (option["eligible"], option["taken"]),
            (False, {"code": "conversion_already_requested", "conversion_id": w.conversions[decider]}),
            f"conversion option {code}",
        )


def _check_requested(r, w, role) -> None:
    body = r.json()
    eq(
        (r.status_code, body["state"], body["rule"]["id"], [x["credits"] for x in body["locked"]]),
        (201, "pending", w.rules["AUTHZ-CONV-NEW"]["id"], [0.5]),
        "conversion request",
    )
    assert body["id"] not in w.conversions.values(), "a request must be a new one"


def _check_my_conversions(r, w, role) -> None:
    mine = {c["id"]: (c["state"], [x["credits"] for x in c["locked"]]) for c in r.json()}
    eq(
        {i: mine.get(i) for i in w.conversions.values()},
        {i: ("pending", [0.5]) for i in w.conversions.values()},
        "the world's requests",
    )


def _check_withdrawn(r, w, role) -> None:
    body = r.json()
    eq(
        (body["id"], body["state"], body["transaction_id"], [x["credits"] for x in body["locked"]]),
        (w.conversions[A], "withdrawn", None, [0.5]),
        "withdrawn request",
    )


def _check_pending(r, w, role) -> None:
    """A sees the learner's requests under its rules; B, which owns no rule with requests, sees none."""
    expected = sorted(w.conversions.values()) if role == A else []
    eq(sorted(c["id"] for c in r.json()), expected, "pending requests")
    assert all(c["state"] == "pending" for c in r.json()), r.json()


def _decide(w: World, role: str) -> tuple[str, dict]:
    """Each allowed role decides its own pending request; the others aim at A's."""
    return f"/api/v1/conversions/{w.conversions.get(role, w.conversions[A])}/decide", {
        "json": {"decision": "approve"}
    }


def _check_decided(r, w, role) -> None:
    body = r.json()
    eq(
        (body["id"], body["state"], bool(body["transaction_id"]), body["grant"]),
        (w.conversions[role], "approved", True, 1.0),
        "decided request",
    )


ROWS: dict[tuple[str, str], Route] = {
    ("POST", "/api/v1/conversion-rules"): Route("institution", _post_rule, _check_proposed_rule),
    # Before approve/retire on purpose: the list is the world's, in every walk.
    ("GET", "/api/v1/conversion-rules"): Route(
        "public", lambda w, role: ("/api/v1/conversion-rules", {}), _check_public_rules
    ),
    ("POST", "/api/v1/conversion-rules/{rule_id}/approve"): Route(
        "operator",
        lambda w, role: (f"/api/v1/conversion-rules/{w.rules['AUTHZ-APPROVE']['id']}/approve", {}),
        _check_rule_state("AUTHZ-APPROVE", "approved"),
    ),
    ("POST", "/api/v1/conversion-rules/{rule_id}/reject"): Route(
        "operator",
        lambda w, role: (
            f"/api/v1/conversion-rules/{w.rules['AUTHZ-REJECT']['id']}/reject",
            {"json": {"reason": "来源课程与目标课程内容不对应"}},
        ),
        _check_rule_state("AUTHZ-REJECT", "rejected"),
    ),
    ("POST", "/api/v1/conversion-rules/{rule_id}/retire"): Route(
        "institution_or_operator",
        lambda w, role: (f"/api/v1/conversion-rules/{w.rules['AUTHZ-RETIRE']['id']}/retire", {}),
        _check_rule_state("AUTHZ-RETIRE", "retired"),
        overrides={B: e404("rule_not_found")},
    ),
    ("GET", "/api/v1/qualifications/{code}"): Route(
        "public", lambda w, role: (f"/api/v1/qualifications/{QUALIFICATION}", {}), _check_qualification
    ),
    ("GET", "/api/v1/qualifications/{code}/versions/{version}"): Route(
        "public",
        lambda w, role: (f"/api/v1/qualifications/{QUALIFICATION}/versions/1", {}),
        lambda r, w, role: eq(
            (r.json()["type"], r.json()["humanCode"], r.json()["name"]),
            (["Achievement"], QUALIFICATION, "社区学习证书"),
            "qualification version 1 as an Achievement",
        ),
    ),
    ("PUT", "/api/v1/qualifications/{code}"): Route(
        "institution",
        lambda w, role: (
            f"/api/v1/qualifications/{QUALIFICATION}",
            {"json": qualification_body(name_zh="社区学习证书（修订）")},
        ),
        lambda r, w, role: eq(
            (r.status_code, r.json()["code"], r.json()["version"], r.json()["owner"], r.json()["name_zh"]),
            (201, QUALIFICATION, 2, "YCCEC", "社区学习证书（修订）"),
            "edited qualification",
        ),
        overrides={B: Expect(403, "qualification_owned_by_other")},
    ),
    # Options before the request: the learner's walk then spends the last 0.5 of c1's lot.
    ("GET", "/api/v1/me/conversion-options"): Route(
        "learner", lambda w, role: ("/api/v1/me/conversion-options", {}), _check_options
    ),
    ("POST", "/api/v1/me/conversions"): Route(
        "learner",
        lambda w, role: ("/api/v1/me/conversions", {"json": {"rule_id": w.rules["AUTHZ-CONV-NEW"]["id"]}}),
        _check_requested,
    ),
    ("GET", "/api/v1/me/conversions"): Route(
        "learner", lambda w, role: ("/api/v1/me/conversions", {}), _check_my_conversions
    ),
    # After the list above (which expects the world's requests pending): the learner withdraws the one
    # A would decide; A's own walk lists and decides it (the learner's withdrawal is refused there).
    ("POST", "/api/v1/me/conversions/{conversion_id}/withdraw"): Route(
        "learner",
        lambda w, role: (f"/api/v1/me/conversions/{w.conversions[A]}/withdraw", {}),
        _check_withdrawn,
    ),
    ("GET", "/api/v1/me/progress/{qualification_code}"): Route(
        "learner",
        lambda w, role: (f"/api/v1/me/progress/{QUALIFICATION}", {}),
        lambda r, w, role: eq(
            (
                r.json()["qualification"]["code"],
                r.json()["qualification"]["owner"],
                r.json()["total"]["required"],
            ),
            (QUALIFICATION, "YCCEC", 3.0),
            "progress",
        ),
    ),
    # Before decide on purpose: A lists both of the world's requests still pending.
    ("GET", "/api/v1/conversions"): Route(
        "institution", lambda w, role: ("/api/v1/conversions", {}), _check_pending
    ),
    ("POST", "/api/v1/conversions/{conversion_id}/decide"): Route(
        "institution_or_operator", _decide, _check_decided, overrides={B: e404("conversion_not_found")}
    ),
}


def _rules(client: TestClient) -> dict[str, list[str]]:
    """Every rule by state (the public list shows approved ones only), as OWNER:CODE."""
    from sqlalchemy import select

    from creditbank.conversion.models import ConversionRule
    from creditbank.institutions.models import Institution

    by_state: dict[str, list[str]] = {}
    with client.app.state.db.reader() as session:
        for owner, code, rule_state in session.execute(
            select(Institution.code, ConversionRule.code, ConversionRule.state)
            .join(Institution, Institution.id == ConversionRule.owner_institution_id)
            .order_by(Institution.code, ConversionRule.code)
        ):
            by_state.setdefault(rule_state, []).append(f"{owner}:{code}")
    return by_state


def _conversions(client: TestClient, w: World) -> dict[str, str]:
    """Every conversion request's state: the world's by the role meant to decide it, any other as "new"."""
    from sqlalchemy import select

    from creditbank.conversion.models import Conversion

    names = {cid: f"for {role}" for role, cid in w.conversions.items()}
    with client.app.state.db.reader() as session:
        rows = session.execute(select(Conversion.id, Conversion.state).order_by(Conversion.id)).all()
    states: dict[str, str] = {}
    for cid, request_state in rows:
        name = names.get(cid, "new")
        assert name not in states, f"more than one {name} conversion request: {rows}"
        states[name] = request_state
    return states


def state(client: TestClient, w: World) -> dict[str, Any]:
    """The learner's balance (conversions move it), the rules, A's qualification and the requests."""
    get = lambda url: client.get(url, headers=OPERATOR)  # noqa: E731
    balance = get(f"/api/v1/learners/{w.learner['account_no']}/balance").json()
    qualification = get(f"/api/v1/qualifications/{QUALIFICATION}").json()
    return {
        "balance": balance["total"],
        "by_category": balance["by_category"],
        "convertible": balance["convertible"],
        "rules": _rules(client),
        "qualification": (qualification["version"], qualification["owner"], qualification["name_zh"]),
        "conversions": _conversions(client, w),
    }


def expected_state(role: str) -> dict[str, Any]:
    # The learner's c1 lot (1.5 community) has 0.5 locked by each of the world's two requests; the learner's walk
    # locks the last 0.5; deciding one consumes its 0.5 and deposits 1 senior credit (A: YC-X1, operator: YC-X3).
    decided = role in (OP, A)
    conv = ["YCCEC:AUTHZ-CONV", "YCCEC:AUTHZ-CONV-NEW", "YCCEC:AUTHZ-CONV-OP"]
    rules = {
        "approved": [*conv, "YCCEC:AUTHZ-RETIRE"],
        "proposed": ["CQOU:AUTHZ-APPROVE", "CQOU:AUTHZ-REJECT"],
    }
    if role == OP:
        rules = {
            "approved": ["CQOU:AUTHZ-APPROVE", *conv],
            "rejected": ["CQOU:AUTHZ-REJECT"],
            "retired": ["YCCEC:AUTHZ-RETIRE"],
        }
    elif role == A:
        rules = {
            "approved": conv,
            "proposed": ["CQOU:AUTHZ-APPROVE", "CQOU:AUTHZ-REJECT", "YCCEC:AUTHZ-RULE"],
            "retired": ["YCCEC:AUTHZ-RETIRE"],
        }
    elif role == B:
        rules["proposed"] = ["CQOU:AUTHZ-APPROVE", "CQOU:AUTHZ-REJECT", "CQOU:AUTHZ-RULE"]
    conversions = {f"for {OP}": "pending", f"for {A}": "pending"}
    if decided:
        conversions[f"for {role}"] = "approved"
    if role == LRN:  # the learner's walk asks for a new one and withdraws A's (its 0.5 comes back)
        conversions["new"] = "pending"
        conversions[f"for {A}"] = "withdrawn"
    return {
        "balance": 2.0 if decided else 1.5,
        "by_category": {"community": 1.0, "senior": 1.0} if decided else {"community": 1.5},
        "convertible": {OP: 1.5, A: 1.5}.get(role, 0.5),
        "rules": rules,
        "qualification": (2, "YCCEC", "社区学习证书（修订）") if role == A else (1, "YCCEC", "社区学习证书"),
        "conversions": conversions,
    }


def _two_institutions(client: TestClient) -> tuple[dict[str, str], dict[str, str]]:
    a = institution(client, "YCCEC", "永川区社区教育学院")
    outcome(client, a, "YC-X1", title_zh="玩转智能手机", category="senior", level=1, credits=1)
    b = institution(client, "CQOU", "重庆开放大学")
    outcome(client, b, "B-X1", title_zh="现代农业技术基础", category="academic", level=4, credits=2)
    return a, b


def test_rules_and_qualifications_are_written_only_for_what_the_institution_owns(client):
    """SPEC §3.5: a rule targets an outcome of the institution proposing it; a qualification is edited, and
    rules are bound to it, by its owner only. No refusal writes anything."""
    a, b = _two_institutions(client)
    r = client.post("/api/v1/conversion-rules", json=rule_body("B-STEAL", "YCCEC:YC-X1"), headers=b)
    assert (r.status_code, problem_code(r)) == (403, "rule_target_not_owned"), r.text
    # The same prefixed form naming the proposer itself is fine: the refusal is about the owner, not the syntax.
    own = client.post("/api/v1/conversion-rules", json=rule_body("A-OWN", "YCCEC:YC-X1"), headers=a)
    assert own.status_code == 201 and own.json()["owner"] == "YCCEC", own.text

    for owner, other, code in [(a, b, "YC-QUAL"), (b, a, "B-QUAL")]:
        made = client.put(f"/api/v1/qualifications/{code}", json=qualification_body(), headers=owner)
        assert made.status_code == 201, made.text
        r = client.put(
            f"/api/v1/qualifications/{code}", json=qualification_body(name_zh="改名"), headers=other
        )
        assert (r.status_code, problem_code(r)) == (403, "qualification_owned_by_other"), r.text
    r = client.post(
        "/api/v1/conversion-rules", headers=b, json=rule_body("B-BIND", "B-X1", qualification_code="YC-QUAL")
    )
    assert (r.status_code, problem_code(r)) == (403, "qualification_owned_by_other"), r.text

    assert _rules(client) == {"proposed": ["YCCEC:A-OWN"]}
    for code, owner in [("YC-QUAL", "YCCEC"), ("B-QUAL", "CQOU")]:
        q = client.get(f"/api/v1/qualifications/{code}").json()
        assert (q["version"], q["owner"], q["name_zh"]) == (1, owner, "社区学习证书"), q


def test_a_rule_cannot_target_another_institutions_outcome_behind_its_own_prefix(client):
    _a, b = _two_institutions(client)
    for target in ("CQOU:YCCEC:YC-X1", "cqou:yccec:YC-X1"):
        r = client.post("/api/v1/conversion-rules", json=rule_body("B-STEAL", target), headers=b)
        # rule_target_not_owned is the contract; a fix that rejects the ref as malformed is a refusal too
        assert (r.status_code, problem_code(r)) in {
            (403, "rule_target_not_owned"),
            (422, "invalid_outcome_ref"),
        }, r.text
    assert _rules(client) == {}


def test_suspended_institution_cannot_grant_credits_by_approving_a_conversion(client):
    a = institution(client, "YCCEC", "永川区社区教育学院")
    outcome(client, a, "YC-ELEC")  # 1.5 community credits, level 2
    outcome(client, a, "YC-X1", title_zh="玩转智能手机", category="senior", level=1, credits=1)
    person = learner(client, a)
    assert (
        client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=a).status_code
        == 201
    )
    me = signed_in(client, person, PASSWORD)
    rule = client.post("/api/v1/conversion-rules", json=rule_body("AUTHZ-CONV", "YC-X1"), headers=a).json()
    assert client.post(f"/api/v1/conversion-rules/{rule['id']}/approve", headers=OPERATOR).status_code == 200
    requested = client.post("/api/v1/me/conversions", json={"rule_id": rule["id"]}, headers=me)
    assert requested.status_code == 201, requested.text
    assert client.post("/api/v1/institutions/YCCEC/suspend", headers=OPERATOR).status_code == 200

    r = client.post(
        f"/api/v1/conversions/{requested.json()['id']}/decide", json={"decision": "approve"}, headers=a
    )
    assert (r.status_code, problem_code(r)) == (403, "institution_suspended"), r.text
    balance = client.get(f"/api/v1/learners/{person['account_no']}/balance", headers=OPERATOR).json()
    assert (balance["total"], balance["by_category"]) == (1.5, {"community": 1.5}), balance


def test_a_learner_cannot_withdraw_another_learners_request(client):
    """A request is withdrawn only by the learner who asked: another learner's session gets 404, as if the
    request did not exist (as certificates and share links do), and the request stays pending."""
    w = build_world(client)
    other = signed_in(client, w.learner2, PASSWORD)
    r = client.post(f"/api/v1/me/conversions/{w.conversions[A]}/withdraw", headers=other)
    assert (r.status_code, problem_code(r)) == (404, "conversion_not_found"), r.text
    assert _conversions(client, w) == {f"for {OP}": "pending", f"for {A}": "pending"}
    balance = client.get(f"/api/v1/learners/{w.learner['account_no']}/balance", headers=OPERATOR).json()
    assert balance["convertible"] == 0.5  # still 1.0 locked by the world's two requests
