"""transparency log: a leaf for every outcome version and every approved or retired conversion rule
already in the database

From this revision publishing an outcome version appends a leaf of kind 4 (``outcome_version``),
approving a conversion rule one of kind 5 (``rule_approved``) and retiring one a leaf of kind 6
(``rule_retired``), in the same transaction as the write; ``creditbank audit`` recomputes each from
its row. The rows written before are logged here, once, at the end of the log (it is append-only:
the checkpoints already signed stay prefixes of the new tree): every outcome version by id, then
every rule's approval (state approved, or retired with an ``approved_at``) and retirement by id.
What the rows hold now is what is logged — an edit made before this upgrade cannot be told apart.
Rows some leaf already records are skipped, so running it again appends nothing. No schema change:
``translog_leaf.kind`` is a SMALLINT.

Downgrade leaves the leaves (a log never shrinks); the release before this one names them in
``creditbank audit`` as leaves of an unknown kind.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 05:00:00
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from creditbank.kit.canonical import digest

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

OUTCOME_VERSION, RULE_APPROVED, RULE_RETIRED = 4, 5, 6

OUTCOME = sa.table(
    "outcome",
    sa.column("id", sa.Integer),
    sa.column("institution_id", sa.Integer),
    sa.column("code", sa.String),
    sa.column("version", sa.Integer),
    sa.column("title_zh", sa.String),
    sa.column("title_en", sa.String),
    sa.column("category", sa.String),
    sa.column("level", sa.Integer),
    sa.column("credits_units", sa.Integer),
    sa.column("hours", sa.Float),
    sa.column("credits_from_hours", sa.Boolean),
    sa.column("validity_years", sa.Integer),
    sa.column("min_score", sa.Float),
)
RULE = sa.table(
    "conversion_rule",
    sa.column("id", sa.Integer),
    sa.column("owner_institution_id", sa.Integer),
    sa.column("code", sa.String),
    sa.column("version", sa.Integer),
    sa.column("name_zh", sa.String),
    sa.column("name_en", sa.String),
    sa.column("target_outcome_id", sa.Integer),
    sa.column("credits_units", sa.Integer),
    sa.column("ratio", sa.Float),
    sa.column("source_json", sa.Text),
    sa.column("effective_from", sa.Date),
    sa.column("effective_until", sa.Date),
    sa.column("qualification_id", sa.Integer),
    sa.column("state", sa.String),
    sa.column("approved_at", sa.String),  # only whether it is set
)
LEAF = sa.table(
    "translog_leaf",
    sa.column("leaf_index", sa.BigInteger),
    sa.column("kind", sa.SmallInteger),
    sa.column("ref", sa.String),
    sa.column("digest", sa.LargeBinary),
)


def _outcome_digest(row: Any) -> bytes:
    # catalogue.logged.record as of this revision.
    return digest(
        {
            "institution_id": row.institution_id,
            "code": row.code,
            "version": row.version,
            "title_zh": row.title_zh,
            "title_en": row.title_en,
            "category": row.category,
            "level": row.level,
            "credits_units": row.credits_units,
            "hours": row.hours,
            "credits_from_hours": row.credits_from_hours,
            "validity_years": row.validity_years,
            "min_score": row.min_score,
        }
    )


def _rule_digest(row: Any, event: str) -> bytes:
    # conversion.logged.record as of this revision.
    return digest(
        {
            "owner_institution_id": row.owner_institution_id,
            "code": row.code,
            "version": row.version,
            "name_zh": row.name_zh,
            "name_en": row.name_en,
            "target_outcome_id": row.target_outcome_id,
            "credits_units": row.credits_units,
            "ratio": row.ratio,
            "source": json.loads(row.source_json),
            "effective_from": row.effective_from.isoformat(),
            "effective_until": row.effective_until.isoformat() if row.effective_until else None,
            "qualification_id": row.qualification_id,
            "event": event,
        }
    )


def upgrade() -> None:
    bind = op.get_bind()
    logged = {
        (kind, ref)
        for kind, ref in bind.execute(
            sa.select(LEAF.c.kind, LEAF.c.ref).where(
                LEAF.c.kind.in_([OUTCOME_VERSION, RULE_APPROVED, RULE_RETIRED])
            )
        )
    }
    entries: list[tuple[int, str, bytes]] = []

    def add(kind: int, ref: str, digest: bytes) -> None:
        if (kind, ref) not in logged:
            entries.append((kind, ref, digest))

    for row in bind.execute(sa.select(OUTCOME).order_by(OUTCOME.c.id)):
        add(OUTCOME_VERSION, f"outcome:{row.id}", _outcome_digest(row))
    for row in bind.execute(
        sa.select(RULE).where(RULE.c.state.in_(["approved", "retired"])).order_by(RULE.c.id)
    ):
        if row.state == "approved" or row.approved_at is not None:
            add(RULE_APPROVED, f"rule:{row.id}", _rule_digest(row, "approved"))
        if row.state == "retired":
            add(RULE_RETIRED, f"rule:{row.id}", _rule_digest(row, "retired"))
    if not entries:
        return
    # Moves the sequencer's counter as translog.sequencer.append does, locking its row (PostgreSQL)
    # until the upgrade commits: a writer still running the older release waits, never takes an index.
    size = bind.execute(
        sa.text("UPDATE translog_head SET size = size + :n WHERE id = 1 RETURNING size"), {"n": len(entries)}
    ).scalar_one()
    first = size - len(entries)
    bind.execute(
        LEAF.insert(),
        [
            {"leaf_index": first + i, "kind": kind, "ref": ref, "digest": digest}
            for i, (kind, ref, digest) in enumerate(entries)
        ],
    )


def downgrade() -> None:
    pass
