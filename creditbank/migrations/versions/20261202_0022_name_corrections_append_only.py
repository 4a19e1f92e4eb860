"""learner_name_correction refuses UPDATE and DELETE: the history of a learner's name is append-only

0021 kept every correction of a learner's name (old, new, reason, who, when), but only the code
(``learners.names.correct``) kept it append-only: an UPDATE or DELETE by hand in the database
rewrote who had been called what, unnoticed. Now the database itself refuses both (and TRUNCATE on
PostgreSQL) with a message naming the table; ``creditbank audit`` reports these triggers missing or
disabled, and a history that no longer chains (each correction's old name is the previous one's new
name, the last new name is the learner's name).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02 21:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

MESSAGE = (
    "learner_name_correction is append-only: a name correction is never changed or deleted "
    "(学习者姓名更正记录只能追加，不能修改或删除)"
)

SQLITE = [
    f"""CREATE TRIGGER learner_name_correction_no_{verb.lower()}
    BEFORE {verb} ON learner_name_correction
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"""
    for verb in ("UPDATE", "DELETE")
]

POSTGRESQL = [
    f"""CREATE FUNCTION learner_name_correction_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
    END
    $$""",
    """CREATE TRIGGER learner_name_correction_append_only
    BEFORE UPDATE OR DELETE ON learner_name_correction
    FOR EACH ROW EXECUTE FUNCTION learner_name_correction_append_only()""",
    """CREATE TRIGGER learner_name_correction_no_truncate
    BEFORE TRUNCATE ON learner_name_correction
    FOR EACH STATEMENT EXECUTE FUNCTION learner_name_correction_append_only()""",
]


def upgrade() -> None:
    statements = POSTGRESQL if op.get_bind().dialect.name == "postgresql" else SQLITE
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER learner_name_correction_no_truncate ON learner_name_correction")
        op.execute("DROP TRIGGER learner_name_correction_append_only ON learner_name_correction")
        op.execute("DROP FUNCTION learner_name_correction_append_only()")
    else:
        op.execute("DROP TRIGGER learner_name_correction_no_delete")
        op.execute("DROP TRIGGER learner_name_correction_no_update")
