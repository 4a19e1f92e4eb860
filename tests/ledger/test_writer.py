"""``LedgerWriter.reverse``: the one way a transaction is undone (revoked completions, cascades)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from creditbank.audit import audit
from creditbank.db import Database
from creditbank.ledger.models import LearnerBalance, LedgerTransaction, Lot, LotState, Posting, TxKind
from creditbank.ledger.writer import LedgerWriter
from tests.conftest import completion_body, institution, learner, outcome


@pytest.fixture
def deposit(client) -> dict:
    inst = institution(client)
    outcome(client, inst, "YC-ELEC", category="community", level=2, credits=1.5)
    person = learner(client, inst)
    response = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst)
    assert response.status_code == 201, response.text
    return response.json()


def _postings(session, tx_id: str) -> list[tuple[int, int, str | None]]:
    return [
        tuple(row)
        for row in session.execute(
            select(Posting.account_id, Posting.amount_units, Posting.lot_id)
            .where(Posting.transaction_id == tx_id)
            .order_by(Posting.id)
        )
    ]


class TestReverse:
    def test_negates_every_posting_and_keeps_the_completion_facts(self, deposit: dict, db: Database) -> None:
        with db.unit_of_work() as session:
            writer = LedgerWriter(session)
            reversal_id = writer.reverse(deposit["transaction_id"])
            writer.flush()
        with db.reader() as session:
            original = session.get(LedgerTransaction, deposit["transaction_id"])
            reversal = session.get(LedgerTransaction, reversal_id)
            assert reversal.kind == TxKind.reversal
            assert reversal.reverses_id == original.id
            assert (reversal.completion_id, reversal.completion_hash) == (
                original.completion_id,
                original.completion_hash,
            )
            assert _postings(session, reversal_id) == [
                (account, -units, lot) for account, units, lot in _postings(session, original.id)
            ]
            assert session.execute(select(Lot.state)).scalar_one() == LotState.reversed
            assert session.execute(select(LearnerBalance.units)).scalar_one() == 0
            assert audit(session).problems == [
                f"completion {deposit['id']}: state active disagrees with the ledger (reversal {reversal_id})"
            ]  # the writer undoes the ledger only; the completion row is completions' to change

    def test_a_transaction_is_reversed_at_most_once(self, deposit: dict, db: Database) -> None:
        with db.unit_of_work() as session:
            writer = LedgerWriter(session)
            writer.reverse(deposit["transaction_id"])
            writer.flush()
        with pytest.raises(IntegrityError), db.unit_of_work() as session:
            writer = LedgerWriter(session)
            writer.reverse(deposit["transaction_id"])
            writer.flush()
