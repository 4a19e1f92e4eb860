"""posting, lot: the statement page's columns in the indexes it reads by account / by learner (PostgreSQL)

A learner's statement page reads the learner's postings by account and each line's lot. On a large
ledger the rows of one learner lie on pages of their own, one per line and table (credits arrive
over years, in other institutions' imports), so a page of lines cost a random heap read per line
and table (bench/scale.py, docs/scale.md). PostgreSQL answers from an index alone when the index
holds every column the query needs (``INCLUDE``, index-only scan); the index is ordered by account /
learner, so one learner's entries share one or two index pages:

- ``ix_posting_account_tx`` (account_id, transaction_id) gains ``amount_units``,
  ``balance_after_units`` and ``lot_id``;
- ``ix_lot_learner_state`` (learner_id, state) gains ``id``, ``batch_id``, ``category``, ``level``,
  ``outcome_id`` and ``institution_id`` (the statement now joins a line's lot among the learner's
  lots, ``learners.queries.statement``).

Same names and keys: every other query reading these indexes reads them as before. SQLite has no
``INCLUDE`` and keeps them as they were: there a plain wider index would be the covering one, but a
college's SQLite ledger sits in the page cache, and each wider entry is paid on every import row
(bench/ingest.py) for nothing.

On PostgreSQL each index is built ``CONCURRENTLY`` under a temporary name (writes go on), the old
one dropped concurrently and the new one renamed (ALTER INDEX … RENAME takes SHARE UPDATE
EXCLUSIVE: writes go on); each step is skipped when already done, so an upgrade stopped halfway
(an INVALID index left by a failed build) is completed by running it again.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

INDEXES = (
    # (table, name, key columns, included columns)
    ("posting", "ix_posting_account_tx", ("account_id", "transaction_id"), ("amount_units", "balance_after_units", "lot_id")),
    ("lot", "ix_lot_learner_state", ("learner_id", "state"), ("id", "batch_id", "category", "level", "outcome_id", "institution_id")),
)  # fmt: skip


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table, name, columns, include in INDEXES:
            _rebuild(table, name, columns, include)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table, name, columns, _ in INDEXES:
            _rebuild(table, name, columns, ())


def _rebuild(table: str, name: str, columns: tuple[str, ...], include: tuple[str, ...]) -> None:
    """``name`` on ``table`` becomes (``columns``) INCLUDE (``include``), built concurrently."""
    new = f"{name}_new"
    with op.get_context().autocommit_block():
        if _state(name) == (True, include):
            return
        if _state(new) is not None and _state(new) != (True, include):
            op.drop_index(new, table_name=table, postgresql_concurrently=True)  # a failed or other build
        if _state(new) is None:
            op.create_index(
                new,
                table,
                list(columns),
                unique=False,
                postgresql_include=list(include),
                postgresql_concurrently=True,
            )
        if _state(name) is not None:
            op.drop_index(name, table_name=table, postgresql_concurrently=True)
        op.execute(sa.text(f'ALTER INDEX "{new}" RENAME TO "{name}"'))


def _state(name: str) -> tuple[bool, tuple[str, ...]] | None:
    """Is the index valid, and which columns does it include (None: no such index; offline ``--sql``:
    always None, the statements are printed as for a fresh build)."""
    if op.get_context().as_sql:
        return None
    row = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT i.indisvalid, ARRAY(SELECT a.attname FROM unnest(i.indkey[i.indnkeyatts:]) "
                "WITH ORDINALITY k(attnum, n) JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = k.attnum ORDER BY k.n) "
                "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace"
            ),
            {"name": name},
        )
        .first()
    )
    return None if row is None else (bool(row[0]), tuple(row[1]))
