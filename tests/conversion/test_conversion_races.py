"""Races on conversions (SPEC §3.5: "a lot is never used twice, even when 100 requests race").

One learner fires 100 conversion requests at once (under five rules, each its own target: a target is
granted once) over lots that allow exactly k of them; then the
target institution approves every pending request at once; then 20 decisions race on one request;
then requests, approvals and revocations all race together; then twenty retries of one request
(and of one decision) share an Idempotency-Key. After each race the database must
show that no lot was over-used: consumed + locked ≤ amount, every lock is held by exactly the
pending requests' conversion_lot rows, every consumed unit by exactly the approved ones — and
``audit`` finds nothing wrong. Runs on SQLite and on the throwaway PostgreSQL cluster.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from creditbank.audit import audit
from creditbank.conversion.models import Conversion, ConversionLot
from creditbank.kit import clock
from creditbank.ledger.models import LedgerTransaction, Lot
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome, signed_in

PROBLEM = "application/problem+json"
_codes = itertools.count(1)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, at the smallest cost (as in tests/api/conftest.py): activation hashes a password."""
    from argon2 import PasswordHasher

    from creditbank.learners import service

    monkeypatch.setattr(service, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def _race(workers: int, calls: list):
    """Run every call at once (as far as ``workers`` threads allow); answers in call order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda call: call(), calls))


def _world(client, *, lots: list[float], amount: float, grant: float = 2.0, rules: int = 1) -> dict:
    """A community centre (A) that issued one learner ``lots`` (community, level 2, one outcome each),
    an open university (B) with ``rules`` rules "≥ amount community credits at level ≥ 2 → grant of
    B:TARGET<i>" — one target each: a learner is granted a target once, so requests that race for
    the same credits ask for different targets."""
    n = next(_codes)
    a_code, b_code = f"RACA{n}", f"RACB{n}"
    a = institution(client, a_code, f"社区学院{n}")
    b = institution(client, b_code, f"开放大学{n}")
    for i, credits in enumerate(lots):
        outcome(
            client, a, f"COM-{i}", title_zh=f"社区课程{i}", category="community", level=2, credits=credits
        )
    rule_ids = []
    for t in range(rules):
        outcome(
            client,
            b,
            f"TARGET{t}",
            title_zh=f"现代农业技术基础{t}",
            category="academic",
            level=5,
            credits=grant,
        )
        r = client.post(
            "/api/v1/conversion-rules",
            headers=b,
            json={
                "code": f"QTY{t}",
                "name_zh": f"社区学分转换{t}",
                "target_outcome_code": f"TARGET{t}",
                "credits": grant,
                "source": {
                    "credits": {"category": "community", "min_level": 2, "amount": amount, "within_years": 5}
                },
                "effective_from": "2020-01-01",
            },
        )
        assert r.status_code == 201, r.text
        rule_ids.append(r.json()["id"])
        assert (
            client.post(f"/api/v1/conversion-rules/{rule_ids[-1]}/approve", headers=OPERATOR).status_code
            == 200
        )
    person = learner(client, a, name="赵大山")
    completions = []
    for i in range(len(lots)):
        r = client.post(
            "/api/v1/completions",
            headers=a,
            json=completion_body(person["account_no"], f"COM-{i}", completed_on=clock.today().isoformat()),
        )
        assert r.status_code == 201, r.text
        completions.append(r.json()["id"])
    return {
        "a": a,
        "b": b,
        "rule_id": rule_ids[0],
        "rule_ids": rule_ids,
        "person": person,
        "me": signed_in(client, person, "长城长城12345"),
        "completions": completions,
        "amount_units": round(amount * 100),
        "grant_units": round(grant * 100),
    }


def _check_lots(db) -> dict[str, Lot]:
    """The lot invariants, straight from the database; returns the lots by id."""
    with db.reader() as session:
        lots = {lot.id: lot for lot in session.execute(select(Lot)).scalars()}
        held = session.execute(
            select(ConversionLot.lot_id, ConversionLot.units, Conversion.state).join(
                Conversion, Conversion.id == ConversionLot.conversion_id
            )
        ).all()
        report = audit(session)
    pending: dict[str, int] = defaultdict(int)
    approved: dict[str, int] = defaultdict(int)
    holders: dict[str, int] = defaultdict(int)
    for lot_id, units, state in held:
        if state == "pending":
            pending[lot_id] += units
            holders[lot_id] += 1
        elif state == "approved":
            approved[lot_id] += units
    for lot in lots.values():
        assert lot.consumed_units >= 0 and lot.locked_units >= 0, lot
        assert lot.consumed_units + lot.locked_units <= lot.amount_units, lot
        assert lot.locked_units == pending[lot.id], (lot, pending[lot.id])
        assert lot.consumed_units == approved[lot.id], (lot, approved[lot.id])
        # Each pending hold takes at least one unit: no lot can be in more holds than it has units.
        assert holders[lot.id] <= lot.amount_units
    assert report.ok, report.problems
    return lots


def _assert_problem(response, status: int, code: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body = response.json()
    assert body["code"] == code and body["status"] == status, body


def _conversion_transactions(db) -> int:
    with db.reader() as session:
        return session.execute(
            select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.kind == "conversion")
        ).scalar_one()


class TestHundredRequestsForTheSameLots:
    def test_exactly_k_succeed_and_approving_them_all_at_once_over_consumes_nothing(self, client, db):
        w = _world(client, lots=[1.0] * 5, amount=1.5, rules=5)
        lots_before = _check_lots(db)
        available = sum(lot.amount_units for lot in lots_before.values())
        k = available // w["amount_units"]  # partial use is allowed: 500 // 150 = 3, 0.5 left over
        assert k == 3

        answers = _race(
            25,
            [
                lambda rule_id=w["rule_ids"][i % 5]: client.post(
                    "/api/v1/me/conversions", json={"rule_id": rule_id}, headers=w["me"]
                )
                for i in range(100)
            ],
        )

        statuses = Counter(r.status_code for r in answers)
        assert statuses[201] == k and statuses[201] + statuses[409] + statuses[422] == 100, (
            statuses,
            [r.text for r in answers if r.status_code >= 500][:3],
        )
        for r in answers:
            if r.status_code == 422:
                _assert_problem(r, 422, "not_eligible")
            elif r.status_code == 409:  # the same target asked for again: one request per target
                _assert_problem(r, 409, "conversion_already_requested")
        created = [r.json() for r in answers if r.status_code == 201]
        assert len({c["rule"]["id"] for c in created}) == k
        assert all(c["state"] == "pending" for c in created)
        assert all(
            sum(round(x["credits"] * 100) for x in c["locked"]) == w["amount_units"] for c in created
        ), created
        assert len({c["id"] for c in created}) == k

        lots = _check_lots(db)
        assert sum(lot.locked_units for lot in lots.values()) == k * w["amount_units"]
        assert sum(lot.consumed_units for lot in lots.values()) == 0
        balance = client.get("/api/v1/me/balance", headers=w["me"]).json()
        assert round(balance["total"] * 100) == available  # a lock is not a balance change
        assert round(balance["convertible"] * 100) == available - k * w["amount_units"]
        options = client.get("/api/v1/me/conversion-options", headers=w["me"]).json()
        assert [o["eligible"] for o in options if o["rule"]["id"] in w["rule_ids"]] == [False] * 5

        # The target institution approves every pending request at once.
        pending = client.get("/api/v1/conversions", headers=w["b"]).json()
        assert sorted(c["id"] for c in pending) == sorted(c["id"] for c in created)
        decisions = _race(
            k,
            [
                lambda cid=c["id"]: client.post(
                    f"/api/v1/conversions/{cid}/decide", json={"decision": "approve"}, headers=w["b"]
                )
                for c in created
            ],
        )
        assert [r.status_code for r in decisions] == [200] * k, [r.text for r in decisions]
        assert all(r.json()["state"] == "approved" and r.json()["transaction_id"] for r in decisions)
        assert len({r.json()["target_lot_id"] for r in decisions}) == k

        lots = _check_lots(db)
        assert (
            sum(lot.consumed_units for lot in lots.values() if lot.conversion_id is None)
            == k * w["amount_units"]
        )
        assert sum(lot.locked_units for lot in lots.values()) == 0
        targets = [lot for lot in lots.values() if lot.conversion_id is not None]
        assert sorted(lot.conversion_id for lot in targets) == sorted(c["id"] for c in created)
        assert all(lot.amount_units == w["grant_units"] and lot.category == "academic" for lot in targets)
        assert _conversion_transactions(db) == k
        balance = client.get("/api/v1/me/balance", headers=w["me"]).json()
        left = available - k * w["amount_units"]
        assert round(balance["total"] * 100) == left + k * w["grant_units"]
        assert round(balance["by_category"]["community"] * 100) == left
        assert round(balance["by_category"]["academic"] * 100) == k * w["grant_units"]

        # Approving again answers the approved request, and nothing moves; rejecting it is refused.
        again = client.post(
            f"/api/v1/conversions/{created[0]['id']}/decide", json={"decision": "approve"}, headers=w["b"]
        )
        assert again.status_code == 200 and again.json()["state"] == "approved", again.text
        other = client.post(
            f"/api/v1/conversions/{created[0]['id']}/decide",
            json={"decision": "reject", "reason": "x"},
            headers=w["b"],
        )
        _assert_problem(other, 409, "conversion_already_decided")
        assert _conversion_transactions(db) == k

    def test_requests_naming_the_same_two_lots_race_for_one_use(self, client, db):
        """With lot_ids the engine may only use the named lots: two lots of 1 credit hold one 1.5."""
        w = _world(client, lots=[1.0] * 4, amount=1.5, rules=4)
        with db.reader() as session:
            named = sorted(
                session.execute(select(Lot.id).where(Lot.completion_id.in_(w["completions"][:2]))).scalars()
            )
        answers = _race(
            20,
            [
                lambda rule_id=w["rule_ids"][i % 4]: client.post(
                    "/api/v1/me/conversions", json={"rule_id": rule_id, "lot_ids": named}, headers=w["me"]
                )
                for i in range(40)
            ],
        )
        statuses = Counter(r.status_code for r in answers)
        assert statuses[201] == 1 and statuses[409] + statuses[422] == 39, (
            statuses,
            [r.text for r in answers if r.status_code >= 500][:3],
        )
        for r in answers:
            if r.status_code == 422:
                _assert_problem(r, 422, "not_eligible")
            elif r.status_code == 409:
                _assert_problem(r, 409, "conversion_already_requested")
        (won,) = [r.json() for r in answers if r.status_code == 201]
        assert {x["lot_id"] for x in won["locked"]} == set(named)
        lots = _check_lots(db)
        assert sum(lots[i].locked_units for i in named) == w["amount_units"]
        # The lots not named are untouched, and still (with the half credit left) make one more request.
        assert all(lot.locked_units == 0 for lot in lots.values() if lot.id not in named)
        other = next(i for i in w["rule_ids"] if i != won["rule"]["id"])
        r = client.post("/api/v1/me/conversions", json={"rule_id": other}, headers=w["me"])
        assert r.status_code == 201, r.text
        _check_lots(db)


class TestTwentyDecisionsOnOneRequest:
    @pytest.mark.parametrize("first", ["approve", "reject"])
    def test_exactly_one_decision_wins(self, client, db, first):
        w = _world(client, lots=[1.0, 1.0], amount=1.5)
        r = client.post("/api/v1/me/conversions", json={"rule_id": w["rule_id"]}, headers=w["me"])
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        other = "reject" if first == "approve" else "approve"
        bodies = [{"decision": first if i % 2 == 0 else other, "reason": "不符合要求"} for i in range(20)]
        answers = _race(
            20,
            [
                lambda b=b: client.post(f"/api/v1/conversions/{cid}/decide", json=b, headers=w["b"])
                for b in bodies
            ],
        )
        statuses = Counter(r.status_code for r in answers)
        # One decision wins; the ten making it answer it (the same decision again), the ten others 409.
        assert statuses == {200: 10, 409: 10}, (
            statuses,
            [r.text for r in answers if r.status_code >= 500][:3],
        )
        for r in answers:
            if r.status_code != 200:
                _assert_problem(r, 409, "conversion_already_decided")
        winners = [(b, r.json()) for b, r in zip(bodies, answers) if r.status_code == 200]
        assert len({b["decision"] for b, _ in winners}) == 1
        assert all(out == winners[0][1] for _, out in winners)
        decision, out = winners[0]
        expected_state = {"approve": "approved", "reject": "rejected"}[decision["decision"]]
        assert out["state"] == expected_state
        lots = _check_lots(db)
        with db.reader() as session:
            assert session.get(Conversion, cid).state == expected_state
        if expected_state == "approved":
            assert _conversion_transactions(db) == 1
            assert sum(lot.consumed_units for lot in lots.values()) == w["amount_units"]
            assert [lot.conversion_id for lot in lots.values() if lot.conversion_id] == [cid]
            assert out["transaction_id"] and out["target_lot_id"]
        else:
            assert _conversion_transactions(db) == 0
            assert sum(lot.consumed_units + lot.locked_units for lot in lots.values()) == 0
            assert out["transaction_id"] is None
        assert sum(lot.locked_units for lot in lots.values()) == 0


class TestEverythingAtOnce:
    def test_requests_decisions_and_revocations_racing_keep_every_lot_exact(self, client, db):
        """Requests, approvals, rejections, institution revocations (refused while a lot is held) and
        forced operator revocations (cascading) all at once: only 2xx or the expected 4xx codes, and
        the lot and ledger invariants hold afterwards."""
        w = _world(client, lots=[1.0] * 8, amount=1.5, rules=8)

        def request(rule_id: int):
            return client.post("/api/v1/me/conversions", json={"rule_id": rule_id}, headers=w["me"])

        first = [request(w["rule_ids"][0]), request(w["rule_ids"][1])]
        assert [r.status_code for r in first] == [201, 201], [r.text for r in first]
        pending = [r.json()["id"] for r in first]
        calls = [lambda rule_id=w["rule_ids"][i % 8]: request(rule_id) for i in range(30)]
        for i, cid in enumerate(pending):
            body = {"decision": "approve"} if i == 0 else {"decision": "reject", "reason": "材料不全"}
            calls.append(
                lambda cid=cid, body=body: client.post(
                    f"/api/v1/conversions/{cid}/decide", json=body, headers=w["b"]
                )
            )
        for cid in w["completions"][:4]:
            calls.append(
                lambda cid=cid: client.post(
                    f"/api/v1/completions/{cid}/revoke", json={"reason": "登记错误"}, headers=w["a"]
                )
            )
        for cid in w["completions"][:2]:
            calls.append(
                lambda cid=cid: client.post(
                    f"/api/v1/completions/{cid}/revoke",
                    json={"reason": "登记错误", "force": True},
                    headers=OPERATOR,
                )
            )
        answers = _race(20, calls)
        allowed = {
            "not_eligible",
            "lot_consumed",
            "lot_locked",
            "conversion_already_decided",
            "conversion_already_requested",
            "conversion_target_held",
        }
        for r in answers:
            assert r.status_code < 500, r.text
            if r.status_code >= 400:
                assert r.status_code in (409, 422), r.text
                assert r.headers["content-type"].startswith(PROBLEM)
                assert r.json()["code"] in allowed, r.text
        # The forced revocations always succeed; their completions are revoked and their lots reversed.
        assert all(r.status_code == 200 and r.json()["state"] == "revoked" for r in answers[-2:]), [
            r.text for r in answers[-2:]
        ]
        lots = _check_lots(db)
        with db.reader() as session:
            revoked_lots = (
                session.execute(select(Lot).where(Lot.completion_id.in_(w["completions"][:2])))
                .scalars()
                .all()
            )
            assert all(
                lot.state == "reversed" and lot.consumed_units == 0 and lot.locked_units == 0
                for lot in revoked_lots
            )
            # An approved conversion resting on a reversed lot would mean credits out of nothing.
            live = (
                session.execute(
                    select(ConversionLot.lot_id)
                    .join(Conversion, Conversion.id == ConversionLot.conversion_id)
                    .where(Conversion.state.in_(("pending", "approved")))
                )
                .scalars()
                .all()
            )
            assert not set(live) & {lot.id for lot in revoked_lots}
        for lot in lots.values():
            if lot.conversion_id is not None:
                with db.reader() as session:
                    state = session.get(Conversion, lot.conversion_id).state
                assert (lot.state == "active") == (state == "approved"), (lot, state)
        # What remains is still usable exactly: ask for every target once; with 8 credits, 8 targets of
        # 1.5 cannot all be had, so some are refused for want of credits — then everything checks out.
        answers = [request(rule_id) for rule_id in w["rule_ids"]]
        codes = Counter(r.json()["code"] for r in answers if r.status_code != 201)
        assert codes["not_eligible"] >= 1, codes
        assert set(codes) <= {"not_eligible", "conversion_already_requested", "conversion_target_held"}, codes
        lots = _check_lots(db)
        free = sum(
            lot.amount_units - lot.consumed_units - lot.locked_units
            for lot in lots.values()
            if lot.state == "active" and lot.conversion_id is None
        )
        assert free < w["amount_units"]


class TestOneIdempotencyKey:
    """SPEC §3.4: an Idempotency-Key is honoured on every POST — retries of one request (here twenty at
    once) all get the very same answer, even when the state they would meet allows only one."""

    def test_twenty_requests_with_one_idempotency_key_make_one_conversion(self, client, db):
        w = _world(client, lots=[1.0, 1.0], amount=1.5)
        headers = w["me"] | {"Idempotency-Key": "convert-once"}
        body = {"rule_id": w["rule_id"]}
        answers = _race(20, [lambda: client.post("/api/v1/me/conversions", json=body, headers=headers)] * 20)
        with db.reader() as session:
            assert session.execute(select(func.count()).select_from(Conversion)).scalar_one() == 1
        _check_lots(db)
        assert [r.status_code for r in answers] == [201] * 20, [
            (r.status_code, r.text) for r in answers if r.status_code != 201
        ][:3]
        assert len({r.json()["id"] for r in answers}) == 1

    def test_twenty_decisions_with_one_idempotency_key_all_get_the_approval(self, client, db):
        w = _world(client, lots=[1.0, 1.0], amount=1.5)
        r = client.post("/api/v1/me/conversions", json={"rule_id": w["rule_id"]}, headers=w["me"])
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        headers = w["b"] | {"Idempotency-Key": "approve-once"}
        answers = _race(
            20,
            [
                lambda: client.post(
                    f"/api/v1/conversions/{cid}/decide", json={"decision": "approve"}, headers=headers
                )
            ]
            * 20,
        )
        assert _conversion_transactions(db) == 1
        _check_lots(db)
        assert [r.status_code for r in answers] == [200] * 20, [
            (r.status_code, r.text) for r in answers if r.status_code != 200
        ][:3]
        assert len({r.json()["transaction_id"] for r in answers}) == 1


def _any_of_world(client) -> dict:
    """A learner who holds both sources of an any_n_of rule (n = 1 of A:IT-1, A:IT-2 → 1.5 credits of
    B:OU-IT-BASICS): either lot alone makes the rule, so without a check the target could be had twice."""
    n = next(_codes)
    a_code, b_code = f"ANYA{n}", f"ANYB{n}"
    a = institution(client, a_code, f"社区学院{n}")
    b = institution(client, b_code, f"开放大学{n}")
    for code in ("IT-1", "IT-2"):
        outcome(client, a, code, title_zh=f"智能手机{code}", category="community", level=2, credits=1.0)
    outcome(client, b, "OU-IT-BASICS", title_zh="计算机应用基础", category="academic", level=5, credits=3)
    r = client.post(
        "/api/v1/conversion-rules",
        headers=b,
        json={
            "code": "IT-ANY",
            "name_zh": "智能手机课程转计算机应用基础",
            "target_outcome_code": "OU-IT-BASICS",
            "credits": 1.5,
            "source": {"any_n_of": {"n": 1, "outcomes": [f"{a_code}:IT-1", f"{a_code}:IT-2"]}},
            "effective_from": "2020-01-01",
        },
    )
    assert r.status_code == 201, r.text
    rule_id = r.json()["id"]
    assert client.post(f"/api/v1/conversion-rules/{rule_id}/approve", headers=OPERATOR).status_code == 200
    person = learner(client, a, name="钱秀英")
    for code in ("IT-1", "IT-2"):
        r = client.post("/api/v1/completions", headers=a, json=completion_body(person["account_no"], code))
        assert r.status_code == 201, r.text
    return {
        "a": a,
        "b": b,
        "rule_id": rule_id,
        "person": person,
        "me": signed_in(client, person, "长城长城12345"),
    }


class TestOneTargetOnce:
    """A conversion never grants a course the learner holds or has asked for already (as a completion
    is never posted twice): the any_n_of rule above gave OU-IT-BASICS twice, one request per lot."""

    def test_asking_again_is_refused_while_pending_and_after_approval(self, client, db):
        w = _any_of_world(client)
        body = {"rule_id": w["rule_id"]}
        first = client.post("/api/v1/me/conversions", json=body, headers=w["me"])
        assert first.status_code == 201, first.text
        again = client.post("/api/v1/me/conversions", json=body, headers=w["me"])
        _assert_problem(again, 409, "conversion_already_requested")
        assert "计算机应用基础" in again.json()["title"] and "等待学校审核" in again.json()["title"]
        (option,) = [
            o
            for o in client.get("/api/v1/me/conversion-options", headers=w["me"]).json()
            if o["rule"]["id"] == w["rule_id"]
        ]
        assert option["eligible"] is False and option["would_use"] == []
        assert option["taken"] == {
            "code": "conversion_already_requested",
            "conversion_id": first.json()["id"],
        }
        r = client.post(
            f"/api/v1/conversions/{first.json()['id']}/decide", json={"decision": "approve"}, headers=w["b"]
        )
        assert r.status_code == 200, r.text
        held = client.post("/api/v1/me/conversions", json=body, headers=w["me"] | {"Accept-Language": "en"})
        _assert_problem(held, 409, "conversion_target_held")
        assert held.json()["title"].startswith("You already hold the credits of")
        assert _conversion_transactions(db) == 1
        balance = client.get("/api/v1/me/balance", headers=w["me"]).json()
        assert balance["by_category"]["academic"] == 1.5
        _check_lots(db)

    def test_a_rejected_request_may_be_asked_again(self, client, db):
        w = _any_of_world(client)
        body = {"rule_id": w["rule_id"]}
        first = client.post("/api/v1/me/conversions", json=body, headers=w["me"]).json()
        r = client.post(
            f"/api/v1/conversions/{first['id']}/decide",
            json={"decision": "reject", "reason": "材料不全"},
            headers=w["b"],
        )
        assert r.status_code == 200, r.text
        assert client.post("/api/v1/me/conversions", json=body, headers=w["me"]).status_code == 201
        _check_lots(db)

    def test_twenty_requests_at_once_make_one(self, client, db):
        w = _any_of_world(client)
        body = {"rule_id": w["rule_id"]}
        answers = _race(20, [lambda: client.post("/api/v1/me/conversions", json=body, headers=w["me"])] * 20)
        statuses = Counter(r.status_code for r in answers)
        assert statuses == {201: 1, 409: 19}, (
            statuses,
            [r.text for r in answers if r.status_code >= 500][:3],
        )
        for r in answers:
            if r.status_code != 201:
                _assert_problem(r, 409, "conversion_already_requested")
        with db.reader() as session:
            assert session.execute(select(func.count()).select_from(Conversion)).scalar_one() == 1
        _check_lots(db)

    def test_a_request_ends_when_the_learner_is_given_the_target_meanwhile(self, client, db):
        # Before, the approval was refused (conversion_target_held) and the credits stayed locked until
        # the school rejected the request; the posting now ends it (tests/conversion/
        # test_course_posted_meanwhile.py has the rest).
        w = _any_of_world(client)
        pending = client.post(
            "/api/v1/me/conversions", json={"rule_id": w["rule_id"]}, headers=w["me"]
        ).json()
        r = client.post(
            "/api/v1/completions",
            headers=w["b"],
            json=completion_body(w["person"]["account_no"], "OU-IT-BASICS"),
        )
        assert r.status_code == 201, r.text
        approve = client.post(
            f"/api/v1/conversions/{pending['id']}/decide", json={"decision": "approve"}, headers=w["b"]
        )
        _assert_problem(approve, 409, "conversion_superseded")
        assert _conversion_transactions(db) == 0
        with db.reader() as session:
            assert session.get(Conversion, pending["id"]).state == "superseded"
        _check_lots(db)


class TestWithdrawalAgainstApproval:
    """A learner withdraws a request while the school approves it: under the ledger lock exactly one of
    the two wins, and the other meets its result — approved (credits converted, the withdrawal 409
    conversion_not_withdrawable) or withdrawn (credits released, the approval 409 conversion_withdrawn)."""

    def test_exactly_one_of_withdraw_and_approve_wins_for_each_request(self, client, db):
        w = _world(client, lots=[1.0] * 8, amount=1.5, rules=5)
        asked = []
        for rule_id in w["rule_ids"]:
            r = client.post("/api/v1/me/conversions", json={"rule_id": rule_id}, headers=w["me"])
            assert r.status_code == 201, r.text
            asked.append(r.json()["id"])
        calls, kinds = [], []
        for cid in asked:
            for i in range(6):
                if i % 2 == 0:
                    kinds.append((cid, "withdraw"))
                    calls.append(
                        lambda cid=cid: client.post(f"/api/v1/me/conversions/{cid}/withdraw", headers=w["me"])
                    )
                else:
                    kinds.append((cid, "approve"))
                    calls.append(
                        lambda cid=cid: client.post(
                            f"/api/v1/conversions/{cid}/decide", json={"decision": "approve"}, headers=w["b"]
                        )
                    )
        answers = _race(15, calls)
        assert all(r.status_code < 500 for r in answers), [r.text for r in answers if r.status_code >= 500][
            :3
        ]
        approved = 0
        for cid in asked:
            mine = [(kind, r) for (c, kind), r in zip(kinds, answers, strict=True) if c == cid]
            withdraws = [r for kind, r in mine if kind == "withdraw"]
            approvals = [r for kind, r in mine if kind == "approve"]
            with db.reader() as session:
                final = session.get(Conversion, cid).state
            if final == "withdrawn":  # every withdrawal answers the withdrawn request, no approval passed
                assert [r.status_code for r in withdraws] == [200] * 3, [r.text for r in withdraws]
                assert all(r.json()["state"] == "withdrawn" for r in withdraws)
                for r in approvals:
                    _assert_problem(r, 409, "conversion_withdrawn")
            else:  # one approval won; the rest of them answer it, every withdrawal meets it
                assert final == "approved", final
                approved += 1
                assert [r.status_code for r in approvals] == [200] * 3, [r.text for r in approvals]
                assert all(r.json()["state"] == "approved" for r in approvals)
                for r in withdraws:
                    _assert_problem(r, 409, "conversion_not_withdrawable")
        lots = _check_lots(db)  # no lock left behind by a withdrawn request, consumption only by approved
        assert sum(lot.locked_units for lot in lots.values()) == 0
        assert _conversion_transactions(db) == approved
        assert len([lot for lot in lots.values() if lot.conversion_id is not None]) == approved
