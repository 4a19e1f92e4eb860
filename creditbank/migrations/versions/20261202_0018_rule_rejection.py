"""conversion_rule.rejected_at, rejection_reason: the operator can turn a proposed rule down

Before, a proposed rule the district office would not approve could only wait or be retired
without a word to the institution that proposed it. State ``rejected`` keeps when and why
(POST /api/v1/conversion-rules/{id}/reject, the operator's rules page).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 14:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversion_rule", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rejected_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("rejection_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("conversion_rule", schema=None) as batch_op:
        batch_op.drop_column("rejection_reason")
        batch_op.drop_column("rejected_at")
