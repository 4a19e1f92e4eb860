"""activation codes: one per enrolment, HMAC'd with the deployment secret, 16 digits

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 22:30:00

Before: one code per learner (``learner.activation_hash``, SHA-256 of 8 digits — found offline in
seconds from a copy of the database), replaced by every enrolment, so a second institution's
enrolment voided the first one's slip and could take the account over. After: a row per
enrolment in ``activation_code``; all of an account's codes die when it is activated.

Codes issued before this migration are dropped, not carried over: they were 8 digits, which a
year of guessing could find and a database copy gives away. A learner who had not activated yet
is enrolled again (same ID number → same account) and gets a new 16-digit code.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activation_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("code_hmac", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["institution_id"], ["institution.id"]),
        sa.ForeignKeyConstraint(["learner_id"], ["learner.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("activation_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activation_code_learner_id"), ["learner_id"], unique=False)
    with op.batch_alter_table("learner", schema=None) as batch_op:
        batch_op.drop_column("activation_hash")
        batch_op.drop_column("activation_expires_at")


def downgrade() -> None:
    with op.batch_alter_table("learner", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("activation_expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("activation_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
    op.drop_table("activation_code")
