"""statistics and recognition: areas, population, targets, awards, verification counts

Learners and institutions gain 乡镇/街道 (township) and 村/社区 (village) beside their district, so
participation can be counted per 乡镇/街道 and coverage per 乡镇/街道 and 村/社区; the learner's
consent to be named for recognition (named_consent_at). New tables: stats_area (the district's
乡镇/街道 and 村/社区, the denominators of coverage), stats_population (residents per district and age
band), stats_target, award, verification_tally (verifications per certificate and day).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 00:23:32
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_area",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("township", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("village", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("district", "township", "village"),
    )
    op.create_table(
        "stats_population",
        sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("age_band", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("residents", sa.Integer(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("district", "age_band"),
    )
    op.create_table(
        "stats_target",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "verification_tally",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("certificate_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "certificate_id"),
    )
    op.create_table(
        "award",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("title_zh", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("title_en", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("credits_units", sa.Integer(), nullable=False),
        sa.Column("hours", sa.Float(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("awarded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("certificate_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificate.id"],
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"],
            ["learner.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("award", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_award_learner_id"), ["learner_id"], unique=False)

    with op.batch_alter_table("institution", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("township", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True)
        )
        batch_op.add_column(sa.Column("village", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))

    with op.batch_alter_table("learner", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("township", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True)
        )
        batch_op.add_column(sa.Column("village", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column("named_consent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("learner", schema=None) as batch_op:
        batch_op.drop_column("named_consent_at")
        batch_op.drop_column("village")
        batch_op.drop_column("township")

    with op.batch_alter_table("institution", schema=None) as batch_op:
        batch_op.drop_column("village")
        batch_op.drop_column("township")

    with op.batch_alter_table("award", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_award_learner_id"))

    op.drop_table("award")
    op.drop_table("verification_tally")
    op.drop_table("stats_target")
    op.drop_table("stats_population")
    op.drop_table("stats_area")
