"""Reading the ledger for people: a learner's balance."""

from __future__ import annotations

from creditbank.learners import service as learners
from creditbank.ledger import queries
from tests.conftest import completion_body, counting, institution, learner, outcome


class TestBalance:
    def test_the_figures_agree_and_are_read_in_one_statement(self, client, db):
        # One statement is one round trip and one snapshot: four separate reads (account,
        # category × level, pending lots, convertible lots) could each see a different set of
        # commits on PostgreSQL and add up to a balance that never existed.
        inst = institution(client)
        outcome(client, inst)  # community, level 2, 1.5 credits
        outcome(client, inst, "YC-OLD", category="senior", level=1, credits=1, validity_years=1)
        person = learner(client, inst)
        for body in (
            completion_body(person["account_no"]),
            completion_body(person["account_no"], "YC-OLD", completed_on="2020-01-01"),  # expired
        ):
            assert client.post("/api/v1/completions", json=body, headers=inst).status_code == 201
        with db.reader() as session:
            holder = learners.by_account_no(session, person["account_no"])
            with counting(db) as statements:
                balance = queries.balance(session, holder)
        assert len(statements) == 1
        assert balance.total_units == 250
        assert balance.by_category == {"community": 150, "senior": 100}
        assert balance.by_level == {2: 150, 1: 100}
        assert balance.convertible_units == 150  # the expired credits count, but cannot be converted
