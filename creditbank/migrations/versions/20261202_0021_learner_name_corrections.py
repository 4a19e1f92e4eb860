"""learner_name_correction: a learner's stored name can be corrected, and every correction is kept

Before, a name enrolled with a typo (张小明 for 张晓明), or stored before kit.text with characters a
certificate now refuses (409 certificate_data_invalid), could not be changed at all. Each
correction is a row here — old name, new name, reason, who, when — and never changes afterwards.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learner_name_correction",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("old_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("new_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("corrected_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("corrected_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["institution_id"], ["institution.id"]),
        sa.ForeignKeyConstraint(["learner_id"], ["learner.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("learner_name_correction", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_learner_name_correction_learner_id"), ["learner_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("learner_name_correction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learner_name_correction_learner_id"))
    op.drop_table("learner_name_correction")
