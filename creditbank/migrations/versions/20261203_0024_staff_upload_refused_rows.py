"""staff_upload.refused_rows: an upload's refused rows kept as data; the XLSX is built on download

Building the refused-rows XLSX of a 100 000-row file refused whole took ~10 s of openpyxl (13 s of
a 13 s upload at load 4.5), inside the transaction that publishes the upload — the clerk waited
for a spreadsheet they may never download, and every other writer waited for the lock. The rows
are now kept as compressed JSON, sealed like the spreadsheets (``kit.sealed``); the spreadsheet is
built when the clerk downloads it. ``refused_xlsx`` stays for the uploads made before.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_upload", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refused_rows", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_upload", schema=None) as batch_op:
        batch_op.drop_column("refused_rows")
