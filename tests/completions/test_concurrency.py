"""Races: many requests at once must still give one completion, one account, one answer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from creditbank.audit import audit
from creditbank.completions.models import Completion
from creditbank.learners.models import Learner
from tests.conftest import completion_body, institution, learner, national_id, outcome


def _race(n: int, call):
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda _: call(), range(n)))


class TestConcurrentPosts:
    def test_twenty_posts_of_one_external_id_make_one_completion(self, client, db):
        inst = institution(client)
        outcome(client, inst)
        person = learner(client, inst)
        body = completion_body(person["account_no"], external_id="RACE-1")
        responses = _race(20, lambda: client.post("/api/v1/completions", json=body, headers=inst))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 19 + [201], [r.text for r in responses if r.status_code >= 300]
        assert len({r.json()["id"] for r in responses}) == 1
        with db.reader() as session:
            assert session.execute(select(func.count()).select_from(Completion)).scalar_one() == 1
            assert audit(session).ok
        assert (
            client.get(f"/api/v1/learners/{person['account_no']}/balance", headers=inst).json()["total"]
            == 1.5
        )

    def test_twenty_posts_with_one_idempotency_key(self, client, db):
        inst = institution(client)
        outcome(client, inst)
        person = learner(client, inst)
        body = completion_body(person["account_no"], external_id="RACE-2")
        headers = inst | {"Idempotency-Key": "same-key"}
        responses = _race(20, lambda: client.post("/api/v1/completions", json=body, headers=headers))
        assert {r.status_code for r in responses} == {201}
        assert len({r.json()["id"] for r in responses}) == 1

    def test_parallel_distinct_posts_keep_the_chain_and_balances_exact(self, client, db):
        inst = institution(client)
        codes = [f"C{i}" for i in range(10)]
        for code in codes:
            outcome(client, inst, code, credits=0.5)
        person = learner(client, inst)
        bodies = iter(
            [completion_body(person["account_no"], code, external_id=f"D-{code}") for code in codes]
        )
        responses = _race(10, lambda: client.post("/api/v1/completions", json=next(bodies), headers=inst))
        assert [r.status_code for r in responses] == [201] * 10
        assert (
            client.get(f"/api/v1/learners/{person['account_no']}/balance", headers=inst).json()["total"]
            == 5.0
        )
        with db.reader() as session:
            assert audit(session).ok

    def test_same_person_enrolled_concurrently_gets_one_account(self, client, db):
        inst = institution(client)
        number = national_id()
        responses = _race(
            10,
            lambda: client.post(
                "/api/v1/learners", json={"name": "李明", "national_id": number}, headers=inst
            ),
        )
        assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
        assert len({r.json()["account_no"] for r in responses}) == 1
        assert sum(r.json()["created"] for r in responses) == 1
        with db.reader() as session:
            assert session.execute(select(func.count()).select_from(Learner)).scalar_one() == 1
