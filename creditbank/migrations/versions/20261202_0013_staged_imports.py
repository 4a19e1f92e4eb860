"""staged batch imports: completion_import, completion.import_id

A batch import commits its rows in chunks as ``pending`` (invisible, not spendable) and publishes
them together (issue 14, goal 7), so other institutions' writes are not stalled for the import's
whole duration.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "completion_import",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_completion_import_institution_id_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_completion_import")),
    )
    op.create_index(
        "ix_completion_import_institution_state",
        "completion_import",
        ["institution_id", "state"],
        unique=False,
    )
    with op.batch_alter_table("completion", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("import_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_completion_import_id"), ["import_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("completion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_completion_import_id"))
        batch_op.drop_column("import_id")
    op.drop_index("ix_completion_import_institution_state", table_name="completion_import")
    op.drop_table("completion_import")
