"""One completion makes one conversion (SPEC §3.5: partial consumption is for credit-quantity rules).

A learner holds one lot of SR-A, 2.5 credits. SR-R10 (≥ 2 community credits → SR-E) takes 2.0 of
it; SR-R2 (all of SR-A, ratio 0.5 → SR-C) named the course itself and used to take the 0.5 left —
the one completion counted for two conversions. An outcome rule needs the whole lot, unused.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from creditbank.conversion import rules as engine
from creditbank.ledger.models import LedgerTransaction
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome, signed_in
from tests.conversion.test_conversion_races import _assert_problem, _check_lots


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher

    from creditbank.learners import service

    monkeypatch.setattr(service, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def _rule(client, headers, body: dict) -> int:
    r = client.post("/api/v1/conversion-rules", headers=headers, json=body | {"effective_from": "2020-01-01"})
    assert r.status_code == 201, r.text
    assert (
        client.post(f"/api/v1/conversion-rules/{r.json()['id']}/approve", headers=OPERATOR).status_code == 200
    )
    return r.json()["id"]


@pytest.fixture
def world(client) -> dict:
    src = institution(client, "SRTEST", "石柱社区学校")
    ou = institution(client, "SROU", "开放大学石柱分校")
    outcome(client, src, "SR-A", title_zh="茶园管理", category="community", level=2, credits=2.5)
    for code, title in (("SR-E", "农业经济"), ("SR-C", "茶叶加工")):
        outcome(client, ou, code, title_zh=title, category="academic", level=5, credits=2)
    r10 = _rule(
        client,
        ou,
        {
            "code": "SR-R10",
            "name_zh": "社区学分转农业经济",
            "name_en": "Community credits to farm economics",
            "target_outcome_code": "SR-E",
            "ratio": 0.25,
            "source": {"credits": {"category": "community", "min_level": 2, "amount": 2.0}},
        },
    )
    r2 = _rule(
        client,
        ou,
        {
            "code": "SR-R2",
            "name_zh": "茶园管理转茶叶加工",
            "target_outcome_code": "SR-C",
            "ratio": 0.5,
            "source": {"all_of": ["SRTEST:SR-A"]},
        },
    )
    person = learner(client, src, name="冉桂芳")
    r = client.post("/api/v1/completions", headers=src, json=completion_body(person["account_no"], "SR-A"))
    assert r.status_code == 201, r.text
    return {"ou": ou, "r10": r10, "r2": r2, "me": signed_in(client, person, "长城长城12345")}


def _option(client, world, rule_id: int) -> dict:
    (option,) = [
        o
        for o in client.get("/api/v1/me/conversion-options", headers=world["me"]).json()
        if o["rule"]["id"] == rule_id
    ]
    return option


def _ask(client, world, rule_id: int):
    return client.post("/api/v1/me/conversions", json={"rule_id": rule_id}, headers=world["me"])


def _decide(client, world, conversion_id: str, decision: str = "approve"):
    body = {"decision": decision} | ({"reason": "课程学分已用于其他转换"} if decision == "reject" else {})
    return client.post(f"/api/v1/conversions/{conversion_id}/decide", json=body, headers=world["ou"])


def _conversion_transactions(db) -> int:
    with db.reader() as session:
        return session.execute(
            select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.kind == "conversion")
        ).scalar_one()


class TestACourseCountsOnce:
    def test_a_course_partly_used_by_a_credits_rule_no_longer_counts_as_the_course(self, client, db, world):
        first = _ask(client, world, world["r10"])
        assert first.status_code == 201, first.text
        option = _option(client, world, world["r2"])
        assert option["eligible"] is False and option["would_use"] == []
        (why,) = option["missing"]
        assert why["zh"].startswith("「茶园管理」已有 2 学分用于转换「社区学分转农业经济」")
        assert "全部学分" in why["zh"] and "Community credits to farm economics" in why["en"]
        _assert_problem(_ask(client, world, world["r2"]), 422, "not_eligible")
        assert _decide(client, world, first.json()["id"]).status_code == 200
        assert _option(client, world, world["r2"])["eligible"] is False
        _assert_problem(_ask(client, world, world["r2"]), 422, "not_eligible")
        assert _conversion_transactions(db) == 1
        _check_lots(db)

    def test_a_course_taken_by_an_outcome_rule_leaves_nothing_for_a_credits_rule(self, client, db, world):
        first = _ask(client, world, world["r2"])
        assert first.status_code == 201, first.text
        assert _option(client, world, world["r10"])["eligible"] is False
        _assert_problem(_ask(client, world, world["r10"]), 422, "not_eligible")
        _check_lots(db)

    def test_the_two_rules_asked_at_once_make_one_request(self, client, db, world):
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(
                pool.map(lambda rule_id: _ask(client, world, rule_id), [world["r10"], world["r2"]])
            )
        assert Counter(r.status_code for r in answers) == {201: 1, 422: 1}, [r.text for r in answers]
        _check_lots(db)

    def test_a_request_left_holding_the_rest_of_a_course_is_not_approved(
        self, client, db, world, monkeypatch
    ):
        """Requests made before the fix may hold the rest of a partly used course: approving it is
        refused under the lot's row lock, whichever of the two approvals comes first."""
        credits_request = _ask(client, world, world["r10"])
        with monkeypatch.context() as m:  # the engine as it was: any lot of the course counted
            m.setattr(engine.LotView, "whole", property(lambda lot: True))
            course_request = _ask(client, world, world["r2"])
        assert credits_request.status_code == 201 and course_request.status_code == 201, course_request.text
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(
                pool.map(lambda r: _decide(client, world, r.json()["id"]), [course_request, credits_request])
            )
        assert answers[1].status_code == 200, answers[1].text
        _assert_problem(answers[0], 409, "conversion_lot_partly_used")
        assert "「茶园管理」的学分已有部分用于其他转换" in answers[0].json()["title"]
        assert _conversion_transactions(db) == 1
        assert _decide(client, world, course_request.json()["id"], "reject").status_code == 200
        _check_lots(db)
