"""lot_batch: a staged import publishes by one row, not by a row update per completion and lot

A staged import's lots and completions are written ``pending``. Publishing used to turn every one
of them ``active`` in one transaction — on SQLite 200 000 row updates that held the database's one
write lock ~3 s for a 100 000-row import, while other institutions' posts waited (issue 14,
goal 7). Now the lots carry their batch (``lot.batch_id``, the import's id) and publishing
releases the batch: pending lots and completions of a released batch count as active at once;
they are turned ``active`` afterwards in short chunks. ``ix_completion_import_state`` finds the
rows still pending without walking the ones already settled.

Existing data: every import gets its batch (``settled`` when published, else ``held``) and the
pending lots their batch.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 07:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lot_batch",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lot_batch")),
    )
    op.create_index(op.f("ix_lot_batch_state"), "lot_batch", ["state"], unique=False)
    with op.batch_alter_table("lot", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
    with op.batch_alter_table("completion", schema=None) as batch_op:
        batch_op.drop_index("ix_completion_import_id")
        batch_op.create_index("ix_completion_import_state", ["import_id", "state"], unique=False)
    op.execute(
        "INSERT INTO lot_batch (id, state) SELECT id, CASE WHEN state = 'published' THEN 'settled' "
        "ELSE 'held' END FROM completion_import"
    )
    op.execute(
        "UPDATE lot SET batch_id = (SELECT completion.import_id FROM completion "
        "WHERE completion.id = lot.completion_id) WHERE state = 'pending'"
    )


def downgrade() -> None:
    with op.batch_alter_table("completion", schema=None) as batch_op:
        batch_op.drop_index("ix_completion_import_state")
        batch_op.create_index("ix_completion_import_id", ["import_id"], unique=False)
    with op.batch_alter_table("lot", schema=None) as batch_op:
        batch_op.drop_column("batch_id")
    op.drop_index(op.f("ix_lot_batch_state"), table_name="lot_batch")
    op.drop_table("lot_batch")
