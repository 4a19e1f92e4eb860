"""ledger_account: index the issuance accounts by institution

Every completion post and import chunk looks up its institution's issuance account
(``ledger_account.institution_id``), and conversions look up several. Without an index that was a
scan of every learner's account: 75 ms of a 100 ms post at 1 M learners (bench/scale.py). Only
issuance accounts have an institution, so the index is partial and stays a few pages.

On PostgreSQL it is built ``CONCURRENTLY`` (writes to the ledger go on while it builds; see
``upgrade``); SQLite has one writer anyway and builds it in the migration's transaction.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 04:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

NAME = "ix_ledger_account_institution_id"
WHERE = sa.text("institution_id IS NOT NULL")


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        op.create_index(NAME, "ledger_account", ["institution_id"], unique=False, sqlite_where=WHERE)
        return
    # CONCURRENTLY: a plain CREATE INDEX holds a SHARE lock on ledger_account while it reads the
    # whole table (one row per learner and institution: minutes at 10 M learners), and every
    # enrolment, post and conversion waits for it. Built concurrently it takes SHARE UPDATE
    # EXCLUSIVE (writes go on), at the price of running outside a transaction: the migrations
    # before this one are committed first (alembic's autocommit_block).
    with op.get_context().autocommit_block():
        # A concurrent build that failed or was cancelled leaves an INVALID index under the name
        # (and 0013 still stamped): drop it, so that running the upgrade again builds it afresh.
        valid = _valid()
        if valid is False:
            op.drop_index(NAME, table_name="ledger_account", postgresql_concurrently=True)
        if not valid:
            op.create_index(
                NAME,
                "ledger_account",
                ["institution_id"],
                unique=False,
                postgresql_where=WHERE,
                postgresql_concurrently=True,
            )


def _valid() -> bool | None:
    """PostgreSQL: is the index there and valid (None: absent, or offline ``--sql``, nothing to ask)."""
    if op.get_context().as_sql:
        return None
    query = sa.text(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace"
    )
    return op.get_bind().execute(query, {"name": NAME}).scalar()


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        op.drop_index(NAME, table_name="ledger_account")
        return
    with op.get_context().autocommit_block():  # DROP INDEX takes ACCESS EXCLUSIVE; concurrently, not
        op.drop_index(NAME, table_name="ledger_account", postgresql_concurrently=True)
