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


class TestStatement:
    def test_a_line_shows_its_lot_and_the_page_reads_only_index_pages_on_postgresql(self, client, db):
        # On a large ledger a learner's lines lie on heap pages of their own, one per line and
        # table: the statement page read them one random page at a time (bench/scale.py). Migrations
        # 0020 and 0023 put the columns a line shows into the indexes by account and by learner, so
        # that PostgreSQL answers from those index pages alone; a column added to the statement and
        # not to the index would bring the heap reads back unnoticed — this test notices.
        from sqlalchemy import event, text

        from creditbank.learners import queries as learner_queries

        inst = institution(client)
        outcome(client, inst)  # community, level 2, 1.5 credits
        person = learner(client, inst)
        other = learner(client, inst, "李建国")
        for who in (person, other):
            body = completion_body(who["account_no"])
            assert client.post("/api/v1/completions", json=body, headers=inst).status_code == 201
        sent: list[tuple[str, object]] = []
        with db.reader() as session:
            holder = learners.by_account_no(session, person["account_no"])
            connection = session.connection()
            event.listen(connection, "before_cursor_execute", lambda *a: sent.append((a[2], a[3])))
            lines = learner_queries.statement(session, holder, after=None, limit=100)
        assert [(line.amount_units, line.category, line.level, line.outcome_code) for line in lines] == [
            (150, "community", 2, "YC-ELEC")
        ]
        if db.sqlite:
            return  # SQLite has no INCLUDE: its indexes stay as they were (migration 0020 says why)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE posting, lot"))  # index-only needs the visibility map
            connection.execute(text("SET enable_seqscan = off"))  # a test's tables fit in a page
            connection.execute(text("SET enable_bitmapscan = off"))
            sql, params = sent[-1]
            plan = "\n".join(connection.exec_driver_sql("EXPLAIN " + sql, params).scalars())
        assert "Index Only Scan using ix_posting_account_seq on posting" in plan, plan
        assert "Index Only Scan using ix_lot_learner_state on lot" in plan, plan
        # Each line's transaction fields come from the posting's copies of them (migration 0023): on a
        # large ledger a transaction row per line was a random heap page per line.
        assert "ledger_transaction" not in plan, plan
