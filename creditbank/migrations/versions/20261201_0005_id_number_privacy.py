"""ID number privacy: birth year only, region-only masked form, legacy certificates sealed

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:00:00

Before: ``learner.id_masked`` kept digits 1–6 and 15–18 and ``learner.birth_date`` digits 7–14,
so every ID number could be rebuilt with one SELECT. After: ``birth_year`` only, and
``id_masked`` keeps the region code (digits 1–6) alone (docs/privacy.md).

Certificates issued before this migration carry the old masked form inside their *signed*
credential and QR payload; re-signing would make every printed copy fail verification. Their
three stored copies are sealed with a key derived from the deployment secret instead
(``kit.sealed``), so the database alone no longer shows the sequence digits. The secret is
passed in by ``creditbank.migrations.upgrade(url, secret=…)`` (``serve`` and every command do).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from creditbank.kit import sealed

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    legacy = _legacy_certificates(bind)  # first: refuse before any change if the secret is missing
    with op.batch_alter_table("learner", schema=None) as batch_op:
        batch_op.add_column(sa.Column("birth_year", sa.Integer(), nullable=True))
    if bind.dialect.name == "postgresql":
        op.execute("UPDATE learner SET birth_year = CAST(EXTRACT(YEAR FROM birth_date) AS INTEGER)")
    else:
        op.execute("UPDATE learner SET birth_year = CAST(substr(birth_date, 1, 4) AS INTEGER)")
    op.execute("UPDATE learner SET id_masked = substr(id_masked, 1, 6) || '************'")
    with op.batch_alter_table("learner", schema=None) as batch_op:
        batch_op.alter_column("birth_year", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("birth_date")
    _seal(bind, *legacy)


def _legacy_certificates(bind) -> tuple[list, bytes | None]:
    rows = bind.execute(
        sa.text("SELECT id, credential_json, printed_json, qr_payload FROM certificate")
    ).all()
    rows = [row for row in rows if not sealed.is_sealed(row.printed_json)]
    secret = context.config.attributes.get("id_secret")
    if rows and secret is None:
        raise RuntimeError(
            "migration 0005 seals existing certificates with the deployment secret: run it through "
            "`creditbank serve` or another creditbank command (CREDITBANK_SECRET or keys/secret.key)"
        )
    return rows, secret


def _seal(bind, rows: list, secret: bytes | None) -> None:
    if not rows:
        return
    if secret is None:  # _legacy_certificates refused this already
        raise RuntimeError("migration 0005: no deployment secret to seal certificates with")
    update = sa.text(
        "UPDATE certificate SET credential_json = :c, printed_json = :p, qr_payload = :q WHERE id = :id"
    )
    for row in rows:
        bind.execute(
            update,
            {
                "id": row.id,
                "c": sealed.seal(row.credential_json, secret),
                "p": sealed.seal(row.printed_json, secret),
                "q": sealed.seal(row.qr_payload, secret),
            },
        )


def downgrade() -> None:
    raise NotImplementedError("the full birth dates and the digits 15–18 are gone by design")
