"""``creditbank audit`` and the transparency log: each kind of tampering behind the service's back —
an edited, deleted, inserted or reordered row — is named, even when whoever did it also rewrote the
ledger's hash chain so that the chain alone looks intact. Raw SQL, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import delete, select, text, update
from sqlmodel import Session

from creditbank.audit import audit
from creditbank.certificates.models import Certificate, CertificateSource
from creditbank.db import Database
from creditbank.ledger import chain
from creditbank.ledger.models import LedgerAccount, LedgerHead, LedgerTransaction, Posting
from creditbank.translog.models import TranslogCheckpoint, TranslogHead, TranslogLeaf
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome

OUTCOMES = 5
"""The world's five outcome versions are the log's first leaves (published before anything is posted)."""


@dataclass
class World:
    certificate: dict
    revoked: dict


@pytest.fixture
def world(client, db) -> World:
    """Three deposits, two certificates (one revoked), two checkpoints, more history after them."""
    inst = institution(client)
    for n in range(5):
        outcome(client, inst, f"YC-{n}")
    person = learner(client, inst)

    def post(n: int) -> str:
        body = completion_body(person["account_no"], f"YC-{n}")
        response = client.post("/api/v1/completions", json=body, headers=inst)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    ids = [post(n) for n in range(3)]
    issued = [
        client.post(
            "/api/v1/certificates/batch",
            json={"items": [{"account_no": person["account_no"], "kind": "achievement", "completion_id": i}]},
            headers=OPERATOR,
        ).json()[0]
        for i in ids[:2]
    ]
    client.post(f"/api/v1/certificates/{issued[1]['id']}/revoke", json={"reason": "错误"}, headers=OPERATOR)
    post(3)
    client.app.state.log.checkpoint()
    post(4)
    return World(issued[0], issued[1])


def _audit(client, db: Database):
    with db.reader() as session:
        return audit(session, log_verifiers=client.app.state.log.verifiers())


def _tamper(db: Database, *statements) -> None:
    with db.unit_of_work() as session:
        for statement in statements:
            session.execute(statement)


def _rewrite_chain(session: Session, from_seq: int) -> None:
    """What a careful forger does after editing a transaction: recompute every hash and link from
    there on, and the head, so the chain checks out again."""
    codes = dict(session.execute(select(LedgerAccount.id, LedgerAccount.code)).all())
    prev = chain.GENESIS
    for tx in session.execute(select(LedgerTransaction).order_by(LedgerTransaction.seq)).scalars().all():
        if tx.seq >= from_seq:
            legs = session.execute(
                select(Posting.account_id, Posting.amount_units, Posting.lot_id)
                .where(Posting.transaction_id == tx.id)
                .order_by(Posting.id)
            ).all()
            body = chain.payload(
                seq=tx.seq,
                tx_id=tx.id,
                prev_hash=prev,
                kind=tx.kind,
                event_on=tx.event_on,
                recorded_at=tx.recorded_at,
                reverses_id=tx.reverses_id,
                completion_id=tx.completion_id,
                completion_hash=tx.completion_hash,
                postings=[(codes[a], u, lot) for a, u, lot in legs],
            )
            tx.prev_hash, tx.hash = prev, chain.tx_hash(body)
            session.add(tx)
        prev = tx.hash
    session.flush()
    session.execute(update(LedgerHead).values(hash=prev))


def _problems(report) -> str:
    return "\n".join(report.problems)


def _only_log_problems(report) -> None:
    assert report.problems and all(
        p.startswith(("log ", "ledger transaction", "certificate", "the revocation")) for p in report.problems
    ), _problems(report)


class TestHonest:
    def test_the_audit_passes_with_every_leaf_tile_and_checkpoint_checked(self, client, db, world):
        report = _audit(client, db)
        assert report.ok, _problems(report)
        # 5 outcome versions, 5 deposits, 2 issues, 1 revocation
        assert report.log_leaves == OUTCOMES + 8 and report.log_checkpoints_signed


class TestEdited:
    def test_an_edited_transaction_with_a_rewritten_chain_is_named(self, client, db, world):
        with db.unit_of_work() as session:
            session.execute(
                update(LedgerTransaction)
                .where(LedgerTransaction.seq == 2)
                .values(recorded_at="2020-01-01T00:00:00.000Z")
            )
            # A thorough forger also edits the postings' copies (migration 0023), or the audit's copy
            # check names the edit before the log does.
            session.execute(
                update(Posting).where(Posting.tx_seq == 2).values(tx_recorded_at="2020-01-01T00:00:00.000Z")
            )
            _rewrite_chain(session, 2)
        report = _audit(client, db)
        _only_log_problems(report)  # the chain itself checks out
        assert (
            "ledger transaction seq=2" in report.problems[0]
            and "edited after it was written" in report.problems[0]
        )

    def test_an_edited_credential_is_named(self, client, db, world):
        with db.unit_of_work() as session:
            certificate = session.get(Certificate, world.certificate["id"])
            certificate.credential_json = certificate.credential_json.replace("张桂兰", "张桂芳")
            session.add(certificate)
        report = _audit(client, db)
        assert f"certificate {world.certificate['id']} no longer matches" in _problems(report)

    def test_an_edited_revocation_is_named(self, client, db, world):
        _tamper(
            db,
            update(Certificate)
            .where(Certificate.id == world.revoked["id"])
            .values(revoke_reason="另一个理由"),
        )
        assert f"the revocation of {world.revoked['id']} was edited" in _problems(_audit(client, db))

    def test_an_edited_leaf_is_named_by_its_tile(self, client, db, world):
        _tamper(
            db, update(TranslogLeaf).where(TranslogLeaf.leaf_index == OUTCOMES + 1).values(digest=bytes(32))
        )
        problems = _problems(_audit(client, db))
        assert f"log leaf {OUTCOMES + 1}: ledger transaction seq=2" in problems
        assert (
            f"log checkpoint {OUTCOMES + 7} (signed) does not match the tree rebuilt from the leaves"
            in problems
        )

    def test_an_edited_checkpoint_fails_its_signature(self, client, db, world):
        _tamper(
            db,
            update(TranslogCheckpoint)
            .where(TranslogCheckpoint.size == OUTCOMES + 7)
            .values(note=text(f"replace(note, '\n{OUTCOMES + 7}\n', '\n{OUTCOMES + 6}\n')")),
        )
        assert f"log checkpoint {OUTCOMES + 7}: its signature does not verify" in _problems(
            _audit(client, db)
        )


class TestDeleted:
    def test_a_deleted_certificate_is_named(self, client, db, world):
        _tamper(
            db,
            delete(CertificateSource).where(CertificateSource.certificate_id == world.certificate["id"]),
            delete(Certificate).where(Certificate.id == world.certificate["id"]),
        )
        assert f"records certificate {world.certificate['id']}, which is gone" in _problems(
            _audit(client, db)
        )

    def test_a_deleted_leaf_is_named(self, client, db, world):
        _tamper(db, delete(TranslogLeaf).where(TranslogLeaf.leaf_index == OUTCOMES + 4))
        problems = _problems(_audit(client, db))
        assert f"log leaf {OUTCOMES + 4} is missing" in problems

    def test_deleting_the_newest_leaf_and_its_count_is_caught_by_the_checkpoint(self, client, db, world):
        _tamper(
            db,
            delete(TranslogLeaf).where(TranslogLeaf.leaf_index == OUTCOMES + 7),
            update(TranslogHead).values(size=OUTCOMES + 7),
        )
        problems = _problems(_audit(client, db))
        assert "is in no log leaf" in problems  # the transaction it recorded


class TestInserted:
    def test_a_transaction_written_behind_the_services_back_is_named(self, client, db, world):
        with db.unit_of_work() as session:  # a perfectly chained, balanced, zero-amount transaction
            head = session.get(LedgerHead, 1)
            accounts = (
                session.execute(select(LedgerAccount).order_by(LedgerAccount.id).limit(2)).scalars().all()
            )
            legs = [(a.code, 0, None) for a in accounts]
            body = chain.payload(
                seq=head.seq + 1,
                tx_id="txn_forged",
                prev_hash=head.hash,
                kind="deposit",
                event_on=__import__("datetime").date(2026, 3, 1),
                recorded_at="2026-03-01T00:00:00.000Z",
                reverses_id=None,
                completion_id=None,
                completion_hash=None,
                postings=legs,
            )
            session.add(
                LedgerTransaction(
                    id="txn_forged",
                    seq=head.seq + 1,
                    kind="deposit",
                    event_on=__import__("datetime").date(2026, 3, 1),
                    recorded_at="2026-03-01T00:00:00.000Z",
                    prev_hash=head.hash,
                    hash=chain.tx_hash(body),
                )
            )
            session.flush()
            for account in accounts:
                session.add(
                    Posting(
                        transaction_id="txn_forged",
                        account_id=account.id,
                        amount_units=0,
                        balance_after_units=account.balance_units,
                        tx_seq=head.seq + 1,
                        tx_kind="deposit",
                        tx_event_on=__import__("datetime").date(2026, 3, 1),
                        tx_recorded_at="2026-03-01T00:00:00.000Z",
                    )
                )
                account.version += 1
                session.add(account)
            head.seq, head.hash = head.seq + 1, chain.tx_hash(body)
            session.add(head)
        report = _audit(client, db)
        _only_log_problems(report)
        assert "id=txn_forged is in no log leaf — it was written behind the service's back" in _problems(
            report
        )

    def test_an_inserted_leaf_is_named(self, client, db, world):
        _tamper(
            db,
            text(
                f"INSERT INTO translog_leaf (leaf_index, kind, ref, digest) SELECT {OUTCOMES + 8}, kind, ref, "
                f"digest FROM translog_leaf WHERE leaf_index = {OUTCOMES}"
            ),
        )
        problems = _problems(_audit(client, db))
        assert (
            f"log leaf {OUTCOMES + 8} records ledger transaction" in problems and "a second time" in problems
        )


class TestReordered:
    def test_swapped_leaves_are_named(self, client, db, world):
        _tamper(
            db,
            update(TranslogLeaf).where(TranslogLeaf.leaf_index == OUTCOMES).values(leaf_index=-1),
            update(TranslogLeaf).where(TranslogLeaf.leaf_index == OUTCOMES + 1).values(leaf_index=OUTCOMES),
            update(TranslogLeaf).where(TranslogLeaf.leaf_index == -1).values(leaf_index=OUTCOMES + 1),
        )
        problems = _problems(_audit(client, db))
        assert (
            f"log leaf {OUTCOMES + 1} records ledger seq 1 after seq 2 — transactions were reordered"
            in problems
        )

    def test_swapped_transactions_with_a_rewritten_chain_are_named(self, client, db, world):
        with db.unit_of_work() as session:
            session.execute(update(LedgerTransaction).where(LedgerTransaction.seq == 1).values(seq=-1))
            session.execute(update(LedgerTransaction).where(LedgerTransaction.seq == 3).values(seq=1))
            session.execute(update(LedgerTransaction).where(LedgerTransaction.seq == -1).values(seq=3))
            _rewrite_chain(session, 1)
        report = _audit(client, db)
        assert "transactions were reordered" in _problems(report)


def test_the_command_line_exits_1_naming_the_row(client, db, world, settings, monkeypatch):
    from typer.testing import CliRunner

    from creditbank.cli import app
    from creditbank.config import get_settings

    _tamper(db, update(TranslogLeaf).where(TranslogLeaf.leaf_index == OUTCOMES + 2).values(digest=bytes(32)))
    monkeypatch.setenv("CREDITBANK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(settings.keys_dir))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["audit"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert f"log leaf {OUTCOMES + 2}" in " ".join(result.output.split())
