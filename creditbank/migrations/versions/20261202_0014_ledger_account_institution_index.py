"""ledger_account: index the issuance accounts by institution

Every completion post and import chunk looks up its institution's issuance account
(``ledger_account.institution_id``), and conversions look up several. Without an index that was a
scan of every learner's account: 75 ms of a 100 ms post at 1 M learners (bench/scale.py). Only
issuance accounts have an institution, so the index is partial and stays a few pages.

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

WHERE = sa.text("institution_id IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_ledger_account_institution_id",
        "ledger_account",
        ["institution_id"],
        unique=False,
        postgresql_where=WHERE,
        sqlite_where=WHERE,
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_account_institution_id", table_name="ledger_account")
