"""``creditbank audit`` (SPEC §3.4): passes on an honest ledger, names every kind of tampering.

The ledger is built through the API; each tampering is done afterwards with raw SQL, the way
someone with database access (and no respect for the application) would do it. Every test then
runs the real command line and checks both the exit code and that the *right* detector fired.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import Connection, Date, bindparam, select, text
from typer.testing import CliRunner

from creditbank.audit import audit
from creditbank.cli import app
from creditbank.config import get_settings
from creditbank.db import Database
from creditbank.ledger.models import LedgerAccount, LedgerTransaction, Posting
from tests.conftest import completion_body, institution, learner, outcome

runner = CliRunner()


@dataclass
class Ledger:
    """What the API built: completions c1..c5 (c2 revoked), transactions by seq 1..6."""

    completions: list[dict]
    tx: dict[int, LedgerTransaction]  # seq -> transaction
    postings: dict[int, list[Posting]]  # seq -> its postings, in id order
    codes: dict[int, str]  # ledger account id -> code


@pytest.fixture
def cli_env() -> Iterator[None]:
    # The CLI reads its settings once per process (lru_cache): make it read ours, and forget them after.
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run_audit(db_url: str) -> tuple[int, str]:
    # The secret the test app enrolled with (tests/conftest.py): audit checks it too.
    env = {"CREDITBANK_DATABASE_URL": db_url, "CREDITBANK_SECRET": "test-secret"}
    result = runner.invoke(app, ["audit"], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    # Rich wraps long lines at the terminal width: compare with whitespace normalised.
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture
def ledger(client, db: Database) -> Ledger:
    """seq 1-4: deposits c1..c4; seq 5: reversal of c2 (seq 2); seq 6: deposit c5."""
    inst = institution(client, code="AUDIT", name_zh="审计测试学院")
    outcome(client, inst, "AU-ELEC", category="community", level=2, credits=1.5)
    outcome(client, inst, "AU-WELD", category="vocational_training", level=4, credits=2.25, min_score=60)
    ann, bob = learner(client, inst, "王秀英"), learner(client, inst, "李建国")
    posts = [(ann, "AU-ELEC", None), (ann, "AU-WELD", 88), (bob, "AU-ELEC", None), (bob, "AU-WELD", 75.5)]
    completions = []
    for person, code, score in posts:
        r = client.post(
            "/api/v1/completions", json=completion_body(person["account_no"], code, score=score), headers=inst
        )
        assert r.status_code == 201, r.text
        completions.append(r.json())
    r = client.post(
        f"/api/v1/completions/{completions[1]['id']}/revoke", json={"reason": "登记错误"}, headers=inst
    )
    assert r.status_code == 200, r.text
    r = client.post(
        "/api/v1/completions", json=completion_body(ann["account_no"], "AU-WELD", score=91), headers=inst
    )
    assert r.status_code == 201, r.text
    completions.append(r.json())
    with db.reader() as session:
        txs = {t.seq: t for t in session.execute(select(LedgerTransaction)).scalars()}
        postings: dict[int, list[Posting]] = {}
        by_id = {t.id: seq for seq, t in txs.items()}
        for p in session.execute(select(Posting).order_by(Posting.id)).scalars():
            postings.setdefault(by_id[p.transaction_id], []).append(p)
        codes = dict(session.execute(select(LedgerAccount.id, LedgerAccount.code)).all())
    assert sorted(txs) == [1, 2, 3, 4, 5, 6]
    assert [txs[s].kind for s in range(1, 7)] == ["deposit"] * 4 + ["reversal", "deposit"]
    assert txs[5].reverses_id == txs[2].id
    return Ledger(completions, txs, postings, codes)


def learner_leg(ledger: Ledger, seq: int) -> Posting:
    return next(
        p
        for p in ledger.postings[seq]
        if p.lot_id is not None and ledger.codes[p.account_id].startswith("learner:")
    )


def issuance_leg(ledger: Ledger, seq: int) -> Posting:
    return next(p for p in ledger.postings[seq] if ledger.codes[p.account_id].startswith("issuance:"))


# -- the honest ledger ---------------------------------------------------------------------------


def test_audit_passes_on_a_ledger_built_through_the_api(ledger, db, db_url, cli_env):
    code, output = run_audit(db_url)
    assert code == 0, output
    assert "audit passed" in output
    assert "6 transactions, 12 postings" in output
    with db.reader() as session:
        report = audit(session)
    assert report.ok, report.problems
    assert (report.transactions, report.postings) == (6, 12)


# -- tampering -----------------------------------------------------------------------------------


def edit_posting_amount(conn: Connection, ledger: Ledger) -> None:
    leg = learner_leg(ledger, 3)
    conn.execute(text("UPDATE posting SET amount_units = amount_units + 100 WHERE id = :id"), {"id": leg.id})


def edit_posting_amount_and_every_cache(conn: Connection, ledger: Ledger) -> None:
    """Both legs moved by 1 credit, and every figure derived from them moved to match: only the hash can tell."""
    delta = 100
    with_lot = learner_leg(ledger, 3)
    for leg, change in ((with_lot, delta), (issuance_leg(ledger, 3), -delta)):
        conn.execute(
            text("UPDATE posting SET amount_units = amount_units + :d WHERE id = :id"),
            {"d": change, "id": leg.id},
        )
        conn.execute(
            text(
                "UPDATE posting SET balance_after_units = balance_after_units + :d "
                "WHERE account_id = :a AND id >= :id"
            ),
            {"d": change, "a": leg.account_id, "id": leg.id},
        )
        conn.execute(
            text("UPDATE ledger_account SET balance_units = balance_units + :d WHERE id = :a"),
            {"d": change, "a": leg.account_id},
        )
    lot = conn.execute(
        text("SELECT learner_id, category, level FROM lot WHERE id = :id"), {"id": with_lot.lot_id}
    ).one()
    conn.execute(
        text(
            "UPDATE learner_balance SET units = units + :d "
            "WHERE learner_id = :l AND category = :c AND level = :v"
        ),
        {"d": delta, "l": lot.learner_id, "c": lot.category, "v": lot.level},
    )
    conn.execute(
        text("UPDATE lot SET amount_units = amount_units + :d WHERE id = :id"),
        {"d": delta, "id": with_lot.lot_id},
    )


def delete_middle_transaction(conn: Connection, ledger: Ledger) -> None:
    tx_id = ledger.tx[3].id
    conn.execute(text("DELETE FROM posting WHERE transaction_id = :t"), {"t": tx_id})
    conn.execute(
        text("DELETE FROM lot WHERE transaction_id = :t"), {"t": tx_id}
    )  # lot.transaction_id is a foreign key
    conn.execute(text("DELETE FROM ledger_transaction WHERE id = :t"), {"t": tx_id})


def delete_last_transaction(conn: Connection, ledger: Ledger) -> None:
    tx_id = ledger.tx[6].id
    conn.execute(text("DELETE FROM posting WHERE transaction_id = :t"), {"t": tx_id})
    conn.execute(text("DELETE FROM lot WHERE transaction_id = :t"), {"t": tx_id})
    conn.execute(text("DELETE FROM ledger_transaction WHERE id = :t"), {"t": tx_id})


def swap_seq(conn: Connection, ledger: Ledger) -> None:
    a, b = ledger.tx[3].id, ledger.tx[4].id
    conn.execute(text("UPDATE ledger_transaction SET seq = -1 WHERE id = :id"), {"id": a})  # seq is unique
    conn.execute(text("UPDATE ledger_transaction SET seq = 3 WHERE id = :id"), {"id": b})
    conn.execute(text("UPDATE ledger_transaction SET seq = 4 WHERE id = :id"), {"id": a})


def edit_learner_balance(conn: Connection, ledger: Ledger) -> None:
    lot = conn.execute(
        text("SELECT learner_id, category, level FROM lot WHERE id = :id"),
        {"id": learner_leg(ledger, 1).lot_id},
    ).one()
    changed = conn.execute(
        text(
            "UPDATE learner_balance SET units = units + 50 "
            "WHERE learner_id = :l AND category = :c AND level = :v"
        ),
        {"l": lot.learner_id, "c": lot.category, "v": lot.level},
    )
    assert changed.rowcount == 1


def edit_account_balance(conn: Connection, ledger: Ledger) -> None:
    account = learner_leg(ledger, 1).account_id
    conn.execute(
        text("UPDATE ledger_account SET balance_units = balance_units + 1000 WHERE id = :a"), {"a": account}
    )


def edit_completion_score(conn: Connection, ledger: Ledger) -> None:
    changed = conn.execute(
        text("UPDATE completion SET score = 98 WHERE id = :id"), {"id": ledger.completions[3]["id"]}
    )
    assert changed.rowcount == 1


def edit_completion_date(conn: Connection, ledger: Ledger) -> None:
    statement = text("UPDATE completion SET completed_on = :d WHERE id = :id").bindparams(
        bindparam("d", type_=Date)
    )
    changed = conn.execute(statement, {"d": date(2025, 12, 24), "id": ledger.completions[0]["id"]})
    assert changed.rowcount == 1


def edit_posting_copy_of_the_date(conn: Connection, ledger: Ledger) -> None:
    """The learner's statement line of c3 shows another date than the chain's: only the copy moved."""
    statement = text("UPDATE posting SET tx_event_on = :d WHERE id = :id").bindparams(
        bindparam("d", type_=Date)
    )
    changed = conn.execute(statement, {"d": date(2020, 1, 2), "id": learner_leg(ledger, 3).id})
    assert changed.rowcount == 1


def edit_posting_copy_of_the_order(conn: Connection, ledger: Ledger) -> None:
    """c1's learner line moved after every other line of the statement (its copy of seq)."""
    changed = conn.execute(
        text("UPDATE posting SET tx_seq = 99 WHERE id = :id"), {"id": learner_leg(ledger, 1).id}
    )
    assert changed.rowcount == 1


def problems_for(ledger: Ledger, name: str) -> list[str]:
    """Fragments that must appear in the output, proving which detector fired."""
    tx = ledger.tx
    return {
        "posting_amount": [
            f"seq={tx[3].seq} id={tx[3].id}: hash mismatch",
            "postings do not balance",
            "balance_after",
            "sum of postings",
        ],
        "posting_amount_and_every_cache": [f"seq=3 id={tx[3].id}: hash mismatch"],
        "delete_middle_transaction": [
            f"seq=4 id={tx[4].id}: expected seq 3 — a transaction is missing or reordered",
            f"seq=4 id={tx[4].id}: prev_hash does not link to seq 3",
        ],
        "delete_last_transaction": ["ledger head does not match the last transaction", "sum of postings"],
        "swap_seq": [
            f"seq=3 id={tx[4].id}: prev_hash does not link",
            f"seq=3 id={tx[4].id}: hash mismatch",
            f"seq=4 id={tx[3].id}: prev_hash does not link",
        ],
        "learner_balance": ["learner_balance", "≠ sum of lot postings"],
        "account_balance": [
            f"account {ledger.codes[learner_leg(ledger, 1).account_id]}: balance",
            "≠ sum of postings",
        ],
        "completion_score": [
            f"seq=4 id={tx[4].id}: completion {ledger.completions[3]['id']} was edited after it was posted"
        ],
        "completion_date": [
            f"seq=1 id={tx[1].id}: completion {ledger.completions[0]['id']} was edited after it was posted"
        ],
        "posting_copy_of_the_date": [
            f"posting id={learner_leg(ledger, 3).id} of transaction {tx[3].id}: its copy of the transaction's "
            f"event_on (2020-01-02) ≠ {tx[3].event_on.isoformat()}"
        ],
        "posting_copy_of_the_order": [
            f"posting id={learner_leg(ledger, 1).id} of transaction {tx[1].id}: its copy of the transaction's "
            "seq (99) ≠ 1"
        ],
    }[name]


TAMPERING: dict[str, Callable[[Connection, Ledger], None]] = {
    "posting_amount": edit_posting_amount,
    "posting_amount_and_every_cache": edit_posting_amount_and_every_cache,
    "delete_middle_transaction": delete_middle_transaction,
    "delete_last_transaction": delete_last_transaction,
    "swap_seq": swap_seq,
    "learner_balance": edit_learner_balance,
    "account_balance": edit_account_balance,
    "completion_score": edit_completion_score,
    "completion_date": edit_completion_date,
    "posting_copy_of_the_date": edit_posting_copy_of_the_date,
    "posting_copy_of_the_order": edit_posting_copy_of_the_order,
}
# Tamperings that exactly one detector must catch (nothing else is out of line).
ONLY_ONE_PROBLEM = {
    "posting_amount_and_every_cache",
    "learner_balance",
    "account_balance",
    "completion_score",
    "completion_date",
    "posting_copy_of_the_date",
    "posting_copy_of_the_order",
}


@pytest.mark.parametrize("name", list(TAMPERING))
def test_audit_names_the_tampering(name, ledger, db, db_url, cli_env):
    assert run_audit(db_url)[0] == 0
    with db.engine.begin() as conn:
        TAMPERING[name](conn, ledger)
    code, output = run_audit(db_url)
    assert code == 1, output
    assert "audit passed" not in output
    for fragment in problems_for(ledger, name):
        assert fragment in output, (fragment, output)
    with db.reader() as session:
        report = audit(session)
    assert not report.ok
    if name in ONLY_ONE_PROBLEM:  # (the transparency log may name the same row too: it is checked apart)
        assert len([p for p in report.problems if not p.startswith("log ")]) == 1, report.problems


# -- tamperings the audit does not see (bugs: see the reasons) -----------------------------------


def inflate_lot(conn: Connection, ledger: Ledger) -> None:
    conn.execute(
        text("UPDATE lot SET amount_units = amount_units + 5000 WHERE id = :id"),
        {"id": learner_leg(ledger, 1).lot_id},
    )


def revive_reversed_lot(conn: Connection, ledger: Ledger) -> None:
    changed = conn.execute(
        text("UPDATE lot SET state = 'active' WHERE id = :id AND state = 'reversed'"),
        {"id": learner_leg(ledger, 2).lot_id},
    )
    assert changed.rowcount == 1


def truncate_and_cover_up(conn: Connection, ledger: Ledger) -> None:
    """Delete the newest transaction and rewind every cache and the head to before it."""
    last, tx_id = ledger.postings[6], ledger.tx[6].id
    lot = conn.execute(
        text("SELECT learner_id, category, level, amount_units FROM lot WHERE transaction_id = :t"),
        {"t": tx_id},
    ).one()
    conn.execute(text("DELETE FROM posting WHERE transaction_id = :t"), {"t": tx_id})
    conn.execute(text("DELETE FROM lot WHERE transaction_id = :t"), {"t": tx_id})
    conn.execute(text("DELETE FROM ledger_transaction WHERE id = :t"), {"t": tx_id})
    for leg in last:
        conn.execute(
            text(
                "UPDATE ledger_account SET balance_units = balance_units - :u, version = version - 1 "
                "WHERE id = :a"
            ),
            {"u": leg.amount_units, "a": leg.account_id},
        )
    conn.execute(
        text(
            "UPDATE learner_balance SET units = units - :u WHERE learner_id = :l AND category = :c "
            "AND level = :v"
        ),
        {"u": lot.amount_units, "l": lot.learner_id, "c": lot.category, "v": lot.level},
    )
    conn.execute(text("UPDATE ledger_head SET seq = 5, hash = :h WHERE id = 1"), {"h": ledger.tx[5].hash})


# Edits the hash chain does not cover; the audit's cross-checks of lots and completions must see them.
UNSEEN = {
    "inflated_lot": (inflate_lot, "lot"),
    "revived_reversed_lot": (revive_reversed_lot, "lot"),
    "truncated_and_covered_up": (truncate_and_cover_up, "completion"),
}


@pytest.mark.parametrize("name", list(UNSEEN))
def test_audit_sees_tampering_of_what_the_chain_does_not_cover(name, ledger, db, db_url, cli_env):
    tamper, fragment = UNSEEN[name]
    with db.engine.begin() as conn:
        tamper(conn, ledger)
    code, output = run_audit(db_url)
    assert code == 1, output
    assert fragment in output.split("accounts", 1)[1], output
