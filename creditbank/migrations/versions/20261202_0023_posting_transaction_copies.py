"""posting: the transaction fields a statement line shows, copied onto each posting; the statement's
index by account ordered by ``tx_seq``

After 0020 a statement of 10 lines on a 10 M-completion ledger still read ~25 pages for the lines'
``ledger_transaction`` rows — one random heap page (and index leaf) per line: a learner's
transactions are spread over the whole chain (bench/scale.py, docs/scale.md). Each posting now
carries its transaction's ``seq``, ``kind``, ``event_on``, ``recorded_at`` and ``completion_id``
(``tx_seq``, ``tx_kind``, ``tx_event_on``, ``tx_recorded_at``, ``tx_completion_id``), written by
``ledger.writer`` with the posting and compared with the transaction by ``creditbank audit``; the
statement reads postings and the learner's lots only. ``ix_posting_account_seq`` (account_id,
tx_seq, id) replaces ``ix_posting_account_tx`` (account_id, transaction_id): a page is one range
of it in the statement's order (``after`` included); on PostgreSQL it holds every column a line
shows (``INCLUDE``), so the page is read from index pages alone.

PostgreSQL, for a ledger of tens of millions of postings, without a long lock: the columns are added
(an instant), every existing posting is filled in committed batches of ``BATCH`` rows by ``id``
(each batch locks its own rows only; posts and imports go on), then ``NOT NULL`` is proven by a
check constraint added ``NOT VALID`` and validated (a scan under SHARE UPDATE EXCLUSIVE: writes go
on) so that ``SET NOT NULL`` is an instant; the new index is built ``CONCURRENTLY``, the old one
dropped concurrently, and ``VACUUM ANALYZE posting`` marks the rewritten pages visible again (the
statement's index-only scan needs the visibility map). Every step is skipped or resumed when
already done: an upgrade stopped halfway is finished by running it again. Postings written by a
release before 0023 while it runs are filled by the batches that follow them; once the check is in
place, such a release's posts are refused — stop it before this upgrade (``creditbank serve``
upgrades before it starts). SQLite (a college's file): one UPDATE and a table copy for NOT NULL,
inside the upgrade's transaction.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

COPIES = (
    # (posting column, transaction column, type, required)
    ("tx_seq", "seq", sa.BigInteger(), True),
    ("tx_kind", "kind", sqlmodel.sql.sqltypes.AutoString(length=16), True),
    ("tx_event_on", "event_on", sa.Date(), True),
    ("tx_recorded_at", "recorded_at", sqlmodel.sql.sqltypes.AutoString(length=24), True),
    ("tx_completion_id", "completion_id", sqlmodel.sql.sqltypes.AutoString(length=40), False),
)
BATCH = 50_000
"""Postings filled per committed batch on PostgreSQL (~1 s each on the 2-core test machine)."""
CHECK = "ck_posting_tx_copies_present"
OLD = (
    "ix_posting_account_tx",
    ("account_id", "transaction_id"),
    ("amount_units", "balance_after_units", "lot_id"),
)
NEW = (
    "ix_posting_account_seq",
    ("account_id", "tx_seq", "id"),
    ("transaction_id", "amount_units", "balance_after_units", "lot_id", "tx_kind", "tx_event_on",
     "tx_recorded_at", "tx_completion_id"),
)  # fmt: skip
_SET = ", ".join(f"{c} = t.{t}" for c, t, _, _ in COPIES)


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        _upgrade_postgresql()
        return
    for column, _, type_, _ in COPIES:
        op.add_column("posting", sa.Column(column, type_, nullable=True))
    targets = ", ".join(c for c, _, _, _ in COPIES)
    sources = ", ".join(f"t.{t}" for _, t, _, _ in COPIES)
    op.execute(
        f"UPDATE posting SET ({targets}) = "
        f"(SELECT {sources} FROM ledger_transaction t WHERE t.id = posting.transaction_id)"
    )
    op.drop_index(OLD[0], table_name="posting")
    with op.batch_alter_table("posting") as batch:
        for column, _, type_, required in COPIES:
            if required:
                batch.alter_column(column, existing_type=type_, nullable=False)
    op.create_index(NEW[0], "posting", list(NEW[1]), unique=False)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            _build(*OLD)
            op.drop_index(NEW[0], table_name="posting", postgresql_concurrently=True, if_exists=True)
        for column, _, _, _ in COPIES:
            op.drop_column("posting", column)
        return
    op.drop_index(NEW[0], table_name="posting")
    with op.batch_alter_table("posting") as batch:
        for column, _, _, _ in COPIES:
            batch.drop_column(column)
    op.create_index(OLD[0], "posting", list(OLD[1]), unique=False)


def _upgrade_postgresql() -> None:
    adds = ", ".join(f"ADD COLUMN IF NOT EXISTS {c} {_sql_type(t)}" for c, _, t, _ in COPIES)
    op.execute(f"ALTER TABLE posting {adds}")
    with op.get_context().autocommit_block():
        last = _fill(None)
        if _constraint_valid(CHECK) is None:
            present = " AND ".join(f"{c} IS NOT NULL" for c, _, _, required in COPIES if required)
            op.execute(f"ALTER TABLE posting ADD CONSTRAINT {CHECK} CHECK ({present}) NOT VALID")
        _fill(last)  # postings committed while the first pass ran, behind its cursor
        if _constraint_valid(CHECK) is False:
            op.execute(f"ALTER TABLE posting VALIDATE CONSTRAINT {CHECK}")
        required = ", ".join(f"ALTER COLUMN {c} SET NOT NULL" for c, _, _, r in COPIES if r)
        op.execute(f"ALTER TABLE posting {required}")  # an instant: the valid check proves it
        op.execute(f"ALTER TABLE posting DROP CONSTRAINT IF EXISTS {CHECK}")
        _build(*NEW)
        op.drop_index(OLD[0], table_name="posting", postgresql_concurrently=True, if_exists=True)
        op.execute("VACUUM ANALYZE posting")


def _fill(after: int | None) -> int | None:
    """Fill the copies of every posting still without them, ``BATCH`` postings by ``id`` per
    committed statement, from the first unfilled one (``after``: from there on, a second pass);
    returns the last id passed. Each batch joins its postings' transactions by primary key — a nested
    loop over an index, not a hash of the whole transaction table per batch."""
    if op.get_context().as_sql:
        op.execute(
            f"UPDATE posting p SET {_SET} FROM ledger_transaction t "
            "WHERE t.id = p.transaction_id AND p.tx_seq IS NULL"
        )
        return None
    bind = op.get_bind()
    if after is None:
        after = bind.execute(sa.text("SELECT min(id) - 1 FROM posting WHERE tx_seq IS NULL")).scalar()
        if after is None:
            return bind.execute(sa.text("SELECT max(id) FROM posting")).scalar()
    bind.execute(sa.text("SET enable_hashjoin = off"))
    bind.execute(sa.text("SET enable_mergejoin = off"))
    try:
        while True:
            upto = bind.execute(
                sa.text("SELECT max(id) FROM (SELECT id FROM posting WHERE id > :a ORDER BY id LIMIT :n) b"),
                {"a": after, "n": BATCH},
            ).scalar()
            if upto is None:
                return after
            bind.execute(
                sa.text(
                    f"UPDATE posting p SET {_SET} FROM ledger_transaction t WHERE p.id > :a AND p.id <= :b "
                    "AND t.id = p.transaction_id AND p.tx_seq IS NULL"
                ),
                {"a": after, "b": upto},
            )
            after = upto
    finally:
        bind.execute(sa.text("RESET enable_hashjoin"))
        bind.execute(sa.text("RESET enable_mergejoin"))


def _build(name: str, columns: tuple[str, ...], include: tuple[str, ...]) -> None:
    """``name`` on posting (``columns``) INCLUDE (``include``), built concurrently unless a valid one
    is there (a build that failed leaves an invalid index: dropped and built again)."""
    state = _index_valid(name)
    if state:
        return
    if state is False:
        op.drop_index(name, table_name="posting", postgresql_concurrently=True)
    op.create_index(
        name,
        "posting",
        list(columns),
        unique=False,
        postgresql_include=list(include),
        postgresql_concurrently=True,
    )


def _sql_type(type_: sa.types.TypeEngine) -> str:
    return type_.compile(dialect=op.get_context().dialect)


def _index_valid(name: str) -> bool | None:
    """None: no such index (offline ``--sql``: always None)."""
    if op.get_context().as_sql:
        return None
    found = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace"
            ),
            {"name": name},
        )
        .first()
    )
    return None if found is None else bool(found[0])


def _constraint_valid(name: str) -> bool | None:
    """None: no such constraint (offline: always None)."""
    if op.get_context().as_sql:
        return None
    found = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT convalidated FROM pg_constraint WHERE conname = :name AND conrelid = 'posting'::regclass"
            ),
            {"name": name},
        )
        .first()
    )
    return None if found is None else bool(found[0])
