"""transcript lines are certificates: certificate.parent_id

Each Open Badge embedded in a CLR transcript becomes a certificate row of its own (id
``<transcript>-<n>``, its own status-list entry), pointing at its transcript. Transcripts issued
before this revision keep their embedded badges without a status entry (a signed document cannot
change); their ids still resolve, from the transcript.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 21:34:17
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("parent_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_certificate_parent_id"), ["parent_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_certificate_parent_id_certificate"), "certificate", ["parent_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_certificate_parent_id_certificate"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_certificate_parent_id"))
        batch_op.drop_column("parent_id")
