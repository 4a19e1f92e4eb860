"""stats_snapshot: the district office's statistics computed ahead

At 10 M completions every dashboard figure scans the period's completions (49.7 s for the whole
dashboard, bench/scale.py). Figures that took longer than ``CREDITBANK_STATS_LIVE_SECONDS`` to
compute are kept here, stamped with the ledger position and the time they were computed, served to
every worker and recomputed in the background (docs/statistics.md, "Figures computed ahead").

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_snapshot",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("payload", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("compute_seconds", sa.Float(), nullable=False),
        sa.Column("claimed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("requested_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_stats_snapshot")),
    )


def downgrade() -> None:
    op.drop_table("stats_snapshot")
