"""staff_upload.refused_xlsx: seal the refused-rows spreadsheets kept so far

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 08:00:00

The console keeps each upload's refused rows as an XLSX for the clerk to download, fix and send
again. Its ``national_id`` column holds ID numbers exactly as the clerk's file had them, so until
now the database showed them in clear to anyone who unzipped the blob — what SPEC §3.2 forbids.
New spreadsheets are sealed with the deployment secret (``kit.sealed.seal_bytes``); this seals
those written before. No schema change. The secret comes as for 0005
(``creditbank.migrations.upgrade(url, secret=…)``, which ``serve`` and every command pass).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from creditbank.kit import sealed

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    seal_refused_rows(op.get_bind(), context.config.attributes.get("id_secret"))


def seal_refused_rows(bind, secret: bytes | None) -> int:
    """Seal every refused-rows spreadsheet not sealed yet; how many there were."""
    rows = [
        row
        for row in bind.execute(
            sa.text("SELECT id, refused_xlsx FROM staff_upload WHERE refused_xlsx IS NOT NULL")
        )
        if not sealed.is_sealed_bytes(bytes(row.refused_xlsx))
    ]
    if not rows:
        return 0
    if secret is None:
        raise RuntimeError(
            "migration 0016 seals the console's refused-rows files with the deployment secret: run it "
            "through `creditbank serve` or another creditbank command (CREDITBANK_SECRET or keys/secret.key)"
        )
    update = sa.text("UPDATE staff_upload SET refused_xlsx = :data WHERE id = :id")
    for row in rows:
        bind.execute(update, {"id": row.id, "data": sealed.seal_bytes(bytes(row.refused_xlsx), secret)})
    return len(rows)


def downgrade() -> None:
    # The code before this revision serves the stored bytes as the XLSX: give it clear files back.
    bind = op.get_bind()
    secret = context.config.attributes.get("id_secret")
    rows = [
        row
        for row in bind.execute(
            sa.text("SELECT id, refused_xlsx FROM staff_upload WHERE refused_xlsx IS NOT NULL")
        )
        if sealed.is_sealed_bytes(bytes(row.refused_xlsx))
    ]
    if rows and secret is None:
        raise RuntimeError("migration 0016 downgrade opens the refused-rows files: it needs the secret")
    key = sealed.derive_key(secret) if secret is not None else None
    update = sa.text("UPDATE staff_upload SET refused_xlsx = :data WHERE id = :id")
    for row in rows:
        bind.execute(update, {"id": row.id, "data": sealed.unseal_bytes(bytes(row.refused_xlsx), key)})
