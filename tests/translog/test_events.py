"""Every ledger transaction and every certificate issue and revocation becomes a leaf, in the same
database transaction as the event."""

from __future__ import annotations

import sqlite3

from sqlalchemy import select

from creditbank.certificates.models import Certificate
from creditbank.certificates.service import revocation_digest
from creditbank.db import Database
from creditbank.kit import sealed
from creditbank.ledger.models import LedgerTransaction
from creditbank.migrations import upgrade
from creditbank.translog.models import LeafKind, TranslogHead, TranslogLeaf
from tests.certificates.test_certificates import issue, world  # noqa: F401 - the fixture
from tests.conftest import OPERATOR


def _leaves(db: Database) -> list[TranslogLeaf]:
    with db.reader() as session:
        return list(session.execute(select(TranslogLeaf).order_by(TranslogLeaf.leaf_index)).scalars())


def test_completions_certificates_and_revocations_are_leaves_in_order(client, db, world):  # noqa: F811
    certificate = issue(client, world)
    client.post(
        f"/api/v1/completions/{world['completions'][0]['id']}/revoke",
        json={"reason": "登记错误"},
        headers=world["inst"],
    )
    leaves = _leaves(db)
    assert [leaf.leaf_index for leaf in leaves] == list(range(len(leaves)))
    with db.reader() as session:
        transactions = (
            session.execute(select(LedgerTransaction).order_by(LedgerTransaction.seq)).scalars().all()
        )
        stored = session.get(Certificate, certificate["id"])
        assert session.get(TranslogHead, 1).size == len(leaves)
    ledger_leaves = [leaf for leaf in leaves if leaf.kind == LeafKind.ledger_transaction]
    assert [(leaf.ref, leaf.digest.hex()) for leaf in ledger_leaves] == [(t.id, t.hash) for t in transactions]
    assert len(transactions) == 3  # two deposits and the reversal
    issued = leaves[stored.log_index]
    assert (issued.kind, issued.ref, issued.digest.hex()) == (
        LeafKind.certificate_issued,
        certificate["id"],
        stored.credential_hash,
    )
    revoked = leaves[stored.revoke_log_index]
    assert (revoked.kind, revoked.ref, revoked.digest) == (
        LeafKind.certificate_revoked,
        certificate["id"],
        revocation_digest(stored),
    )
    assert stored.log_index < stored.revoke_log_index


def test_operator_revocation_is_logged_once(client, db, world):  # noqa: F811
    certificate = issue(client, world)
    for _ in range(2):  # repeating a revocation is a no-op, and logs nothing more
        r = client.post(
            f"/api/v1/certificates/{certificate['id']}/revoke", json={"reason": "信息有误"}, headers=OPERATOR
        )
        assert r.status_code == 200
    kinds = [leaf.kind for leaf in _leaves(db)]
    assert kinds.count(LeafKind.certificate_revoked) == 1


def test_the_migration_logs_the_history_written_before_the_log(tmp_path):
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    upgrade(url, "0003")
    raw = sqlite3.connect(path)  # foreign keys off: only the rows the backfill reads
    raw.executemany(
        "INSERT INTO ledger_transaction (id, seq, kind, event_on, recorded_at, prev_hash, hash) "
        "VALUES (?, ?, 'deposit', '2026-03-01', '2026-03-01T00:00:00.000Z', ?, ?)",
        [("txn_b", 2, "a" * 64, "b" * 64), ("txn_a", 1, "0" * 64, "a" * 64)],
    )
    raw.executemany(
        "INSERT INTO certificate (id, kind, learner_id, credential_json, credential_hash, printed_json, "
        "qr_payload, kid, status_list_id, status_index, ledger_seq, issued_by, issued_at, revoked_at, "
        "revoke_reason) VALUES (?, 'achievement', 1, '{}', ?, '{}', '', 'k', 1, ?, 2, 'operator', ?, ?, ?)",
        [
            ("crt_2", "c" * 64, 0, "2026-03-02 08:00:00.000000", "2026-03-03 09:30:00.123456", "错误"),
            ("crt_1", "d" * 64, 1, "2026-03-01 08:00:00.000000", None, None),
        ],
    )
    raw.commit()
    raw.close()
    upgrade(url, secret=b"deployment secret")  # 0005 seals the old certificates with it
    sealed.configure(b"deployment secret")  # as the app does at start, to read them back
    db = Database(url)
    leaves = [(leaf.kind, leaf.ref) for leaf in _leaves(db)]
    assert leaves == [(1, "txn_a"), (1, "txn_b"), (2, "crt_1"), (2, "crt_2"), (3, "crt_2")]
    with db.reader() as session:
        crt_2 = session.get(Certificate, "crt_2")
        assert (crt_2.log_index, crt_2.revoke_log_index) == (3, 4)
        assert _leaves(db)[4].digest == revocation_digest(crt_2)
        assert session.get(TranslogHead, 1).size == 5
    db.dispose()
