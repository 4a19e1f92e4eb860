"""idempotency records keep no secrets: stored answers lose their API keys and activation codes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 23:30:00

Before, a ``POST …/api-keys`` or ``POST /learners`` sent with an ``Idempotency-Key`` stored its
answer whole — the ``cbk_`` key ("shown once") and the activation code in clear — and a replay
showed them again. Stored answers are rewritten as new ones are stored (``api.deps.redact``):
the secret fields null, their names in ``redacted``.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SECRET_FIELDS = ("key", "activation_code")


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT principal, key, response_body FROM idempotency_record")).all()
    update = sa.text("UPDATE idempotency_record SET response_body = :b WHERE principal = :p AND key = :k")
    for principal, key, text in rows:
        try:
            body = json.loads(text)
        except ValueError:
            continue
        if not isinstance(body, dict):
            continue
        gone = [
            name
            for name in SECRET_FIELDS
            if isinstance(body.get(name), str) and (name != "key" or body[name].startswith("cbk_"))
        ]
        if gone:
            body = body | dict.fromkeys(gone) | {"redacted": gone}
            bind.execute(update, {"b": json.dumps(body, ensure_ascii=False), "p": principal, "k": key})


def downgrade() -> None:
    pass  # the secrets are gone by design
