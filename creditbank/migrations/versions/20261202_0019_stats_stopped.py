"""stats_stopped: statistics computations stopped at the statement timeout

A period whose figures nobody had computed yet was computed in the background after the request had
stopped waiting; when PostgreSQL stopped it at CREDITBANK_STATS_STATEMENT_TIMEOUT_SECONDS nothing
was kept, so the next view said "being computed" again and started it again, for as long, for ever.
The stop is kept here (per key, shared by every worker) and the office is told
(docs/statistics.md, "Figures computed ahead").

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 17:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_stopped",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("stopped_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("limit_seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_stats_stopped")),
    )


def downgrade() -> None:
    op.drop_table("stats_stopped")
