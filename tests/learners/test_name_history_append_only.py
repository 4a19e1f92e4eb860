"""The history of a learner's name is append-only in the database, and the audit checks it.

Before (migration 0021), only ``learners.names.correct`` kept ``learner_name_correction``
append-only: an UPDATE or DELETE by hand went through and ``creditbank audit`` said nothing. Now the
database refuses both (migration 0022's triggers), and the audit reports the triggers missing or
disabled, a history that no longer chains and a name changed without a correction. Both databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from creditbank.audit import NAME_TRIGGERS, audit
from creditbank.learners.models import Learner, NameCorrection
from tests.conftest import OPERATOR, institution, learner, outcome


@pytest.fixture
def history(client, db) -> dict:
    """张小明 → 张晓明 → 张晓明明 → 张晓明: three corrections of one learner (and none of another)."""
    school = institution(client, "YCCEC", "永川区社区教育学院")
    outcome(client, school)
    person = learner(client, school, name="张小明")
    learner(client, school, name="李秀英")
    for name in ("张晓明", "张晓明明", "张晓明"):
        r = client.post(
            f"/api/v1/learners/{person['account_no']}/name-corrections",
            json={"name": name, "reason": "核对身份证后更正"},
            headers=OPERATOR,
        )
        assert r.status_code == 201 and r.json()["changed"], r.text
    with db.reader() as session:
        ids = list(
            session.execute(
                select(NameCorrection.id).order_by(NameCorrection.corrected_at, NameCorrection.id)
            ).scalars()
        )
        assert audit(session).ok
    return {"account_no": person["account_no"], "ids": ids}


def _problems(db) -> list[str]:
    with db.reader() as session:
        return audit(session).problems


def _rows(db) -> list[tuple[str, str, str]]:
    with db.reader() as session:
        return [
            tuple(r)
            for r in session.execute(
                select(NameCorrection.id, NameCorrection.old_name, NameCorrection.new_name).order_by(
                    NameCorrection.id
                )
            )
        ]


@contextmanager
def behind_the_triggers(db) -> Iterator:
    """A connection on which the triggers do not fire, as someone with the database's owner rights
    could arrange: PostgreSQL's replica role, SQLite's triggers dropped and made again afterwards."""
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            yield connection
            return
        saved = list(
            connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
                {"t": "learner_name_correction"},
            )
        )
        for name, _ in saved:
            connection.execute(text(f"DROP TRIGGER {name}"))
        yield connection
        for _, sql in saved:
            connection.execute(text(sql))


class TestTheDatabaseRefuses:
    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE learner_name_correction SET new_name = '王五' WHERE id = :id",
            "UPDATE learner_name_correction SET reason = '' WHERE id = :id",
            "DELETE FROM learner_name_correction WHERE id = :id",
            "DELETE FROM learner_name_correction",
        ],
    )
    def test_a_correction_is_never_changed_or_deleted(self, db, history, statement):
        before = _rows(db)
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
            connection.execute(text(statement), {"id": history["ids"][1]})
        assert _rows(db) == before
        assert _problems(db) == []

    def test_truncate_is_refused_on_postgresql(self, db, history):
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has no TRUNCATE; DELETE without WHERE is refused row by row")
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
            connection.execute(text("TRUNCATE learner_name_correction"))
        assert len(_rows(db)) == 3

    def test_corrections_are_still_added(self, client, db, history):
        r = client.post(
            f"/api/v1/learners/{history['account_no']}/name-corrections",
            json={"name": "张晓明明", "reason": "再次核对"},
            headers=OPERATOR,
        )
        assert r.status_code == 201 and r.json()["changed"], r.text
        assert len(_rows(db)) == 4 and _problems(db) == []


class TestTheAuditReports:
    def test_a_deleted_correction_breaks_the_chain(self, db, history):
        with behind_the_triggers(db) as connection:
            connection.execute(
                text("DELETE FROM learner_name_correction WHERE id = :id"), {"id": history["ids"][1]}
            )
        (found,) = _problems(db)
        assert history["ids"][2] in found and history["account_no"] in found, found
        assert "a correction was edited or deleted" in found
        assert "张" not in found  # names are personal data: ids and account numbers only

    def test_an_edited_last_correction_disagrees_with_the_name(self, db, history):
        with behind_the_triggers(db) as connection:
            connection.execute(
                text("UPDATE learner_name_correction SET new_name = '张小明' WHERE id = :id"),
                {"id": history["ids"][2]},
            )
        (found,) = _problems(db)
        assert f"learner {history['account_no']}" in found and history["ids"][2] in found, found

    def test_an_edited_old_name_breaks_the_chain(self, db, history):
        with behind_the_triggers(db) as connection:
            connection.execute(
                text("UPDATE learner_name_correction SET old_name = '王五' WHERE id = :id"),
                {"id": history["ids"][1]},
            )
        (found,) = _problems(db)
        assert found.startswith(f"name correction {history['ids'][1]} of learner {history['account_no']}")

    def test_a_name_changed_without_a_correction(self, db, history):
        with db.engine.begin() as connection:  # the learner table has no trigger: the audit sees it
            connection.execute(
                text("UPDATE learner SET name = '王五' WHERE account_no = :a"), {"a": history["account_no"]}
            )
        (found,) = _problems(db)
        assert "changed without a correction" in found and history["account_no"] in found, found

    def test_the_triggers_removed_or_disabled(self, db, history):
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text(
                        "ALTER TABLE learner_name_correction DISABLE TRIGGER learner_name_correction_append_only"
                    )
                )
            else:
                connection.execute(text("DROP TRIGGER learner_name_correction_no_delete"))
        missing = {
            "postgresql": "learner_name_correction_append_only",
            "sqlite": "learner_name_correction_no_delete",
        }[db.engine.dialect.name]
        assert missing in NAME_TRIGGERS[db.engine.dialect.name]
        (found,) = _problems(db)
        assert f"trigger {missing} is missing or disabled" in found, found

    def test_a_learner_never_corrected_is_not_reported(self, db, history):
        with db.reader() as session:
            never = session.execute(select(Learner).where(Learner.name == "李秀英")).scalar_one()
        assert never.account_no not in " ".join(_problems(db))
