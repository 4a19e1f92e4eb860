"""The catalogue and the conversion rules on the transparency log: publishing an outcome version,
approving or retiring a rule appends a leaf; ``creditbank audit`` names an outcome or a rule edited
in the database afterwards — what the next certificate would sign, or a conversion grant — by its
code and version. On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from datetime import date

import pytest
import rfc8785
from sqlalchemy import select, text, update

from creditbank.audit import audit
from creditbank.catalogue.models import Outcome
from creditbank.conversion.models import ConversionRule
from creditbank.db import Database
from creditbank.migrations import upgrade
from creditbank.translog.models import LeafKind, TranslogLeaf
from tests.conftest import OPERATOR, institution, outcome


def _leaves(db: Database, ref: str) -> list[TranslogLeaf]:
    with db.reader() as session:
        return list(
            session.execute(
                select(TranslogLeaf).where(TranslogLeaf.ref == ref).order_by(TranslogLeaf.leaf_index)
            ).scalars()
        )


def _outcome(db: Database, code: str, version: int = 1) -> Outcome:
    with db.reader() as session:
        return session.execute(
            select(Outcome).where(Outcome.code == code, Outcome.version == version)
        ).scalar_one()


def _problems(db: Database) -> str:
    with db.reader() as session:
        return "\n".join(audit(session).problems)


def _sha256_jcs(record: dict) -> bytes:
    # The reference RFC 8785 encoder, not the bank's fast path (kit.canonical): an independent check.
    return hashlib.sha256(rfc8785.dumps(record)).digest()


def test_publishing_an_outcome_logs_what_certificates_will_sign(client, db):
    inst = institution(client)
    outcome(client, inst, "YC-ELEC", hours=3.5, min_score=60.5)
    outcome(client, inst, "YC-ELEC", hours=3.5, min_score=60.5)  # the same again: no new version
    row = _outcome(db, "YC-ELEC")
    leaves = _leaves(db, f"outcome:{row.id}")
    assert [(leaf.kind, leaf.digest) for leaf in leaves] == [
        (
            LeafKind.outcome_version,
            _sha256_jcs(
                {
                    "institution_id": row.institution_id,
                    "code": "YC-ELEC",
                    "version": 1,
                    "title_zh": "居民用电安全",
                    "title_en": "Household electrical safety",
                    "category": "community",
                    "level": 2,
                    "credits_units": 150,
                    "hours": 3.5,
                    "credits_from_hours": False,
                    "validity_years": None,
                    "min_score": 60.5,
                }
            ),
        )
    ]
    outcome(client, inst, "YC-ELEC", title_zh="家庭用电安全", hours=3.5, min_score=60.5)  # an edit: version 2
    assert len(_leaves(db, f"outcome:{_outcome(db, 'YC-ELEC', 2).id}")) == 1
    assert _problems(db) == ""
    # Public: the leaf's kind is named where anyone reads the log.
    index = leaves[0].leaf_index
    client.app.state.log.checkpoint()
    assert client.get(f"/api/v1/log/leaves/{index}").json()["kind"] == "outcome_version"


def test_whole_hours_are_logged_as_rfc_8785_prints_them(client, db):
    """4 hours is the float 4.0 in the row; RFC 8785 prints it "4" (JSON in Python prints "4.0")."""
    inst = institution(client)
    outcome(client, inst, "YC-WELD", hours=4, min_score=60)
    row = _outcome(db, "YC-WELD")
    assert [leaf.digest for leaf in _leaves(db, f"outcome:{row.id}")] == [
        _sha256_jcs(
            {
                "institution_id": row.institution_id,
                "code": "YC-WELD",
                "version": 1,
                "title_zh": "居民用电安全",
                "title_en": "Household electrical safety",
                "category": "community",
                "level": 2,
                "credits_units": 150,
                "hours": 4.0,
                "credits_from_hours": False,
                "validity_years": None,
                "min_score": 60.0,
            }
        )
    ]


@pytest.mark.parametrize(
    ("column", "value"),
    [("title_zh", "高级电工"), ("credits_units", 1500), ("level", 6), ("category", "academic")],
)
def test_an_outcome_edited_in_the_database_is_named(client, db, column, value):
    inst = institution(client)
    outcome(client, inst, "YC-ELEC")
    with db.unit_of_work() as session:
        session.execute(update(Outcome).where(Outcome.code == "YC-ELEC").values({column: value}))
    problems = _problems(db)
    assert "学习成果 YCCEC:YC-ELEC v1" in problems and "发布后在数据库中被改动" in problems
    assert "outcome YCCEC:YC-ELEC v1 no longer matches what was logged when it was published" in problems


def test_an_outcome_written_behind_the_service_is_named(client, db):
    inst = institution(client)
    outcome(client, inst, "YC-ELEC")
    row = _outcome(db, "YC-ELEC")
    with db.unit_of_work() as session:
        session.add(Outcome(**(row.model_dump() | {"id": None, "code": "YC-FORGED", "title_zh": "伪造课程"})))
    problems = _problems(db)
    assert (
        "outcome YCCEC:YC-FORGED v1 is in no log leaf — it was written behind the service's back" in problems
    )


def _rule(client, owner: dict[str, str], credits: float = 2) -> int:
    body = {
        "code": "ELEC-UP",
        "name_zh": "用电安全转电工基础",
        "target_outcome_code": "OU-ELEC",
        "credits": credits,
        "source": {"all_of": ["YCCEC:YC-ELEC"]},
        "effective_from": "2026-01-01",
    }
    r = client.post("/api/v1/conversion-rules", json=body, headers=owner)
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture
def rules(client) -> tuple[dict[str, str], int, int]:
    """An approved rule's first version, retired by approving its second: (owner, v1 id, v2 id)."""
    yc = institution(client)
    outcome(client, yc, "YC-ELEC")
    ou = institution(client, "CQOUYC", "重庆开放大学永川分校")
    outcome(client, ou, "OU-ELEC", category="academic", level=5, credits=2)
    first = _rule(client, ou)
    assert client.post(f"/api/v1/conversion-rules/{first}/approve", headers=OPERATOR).status_code == 200
    second = _rule(client, ou, credits=2.5)
    assert client.post(f"/api/v1/conversion-rules/{second}/approve", headers=OPERATOR).status_code == 200
    return ou, first, second


def test_approving_and_retiring_rules_is_logged(client, db, rules):
    ou, first, second = rules
    assert [leaf.kind for leaf in _leaves(db, f"rule:{first}")] == [
        LeafKind.rule_approved,
        LeafKind.rule_retired,
    ]
    assert [leaf.kind for leaf in _leaves(db, f"rule:{second}")] == [LeafKind.rule_approved]
    for _ in range(2):  # retiring twice logs once
        assert client.post(f"/api/v1/conversion-rules/{second}/retire", headers=ou).status_code == 200
    assert [leaf.kind for leaf in _leaves(db, f"rule:{second}")] == [
        LeafKind.rule_approved,
        LeafKind.rule_retired,
    ]
    assert _problems(db) == ""


def test_an_approved_rule_edited_in_the_database_is_named(client, db, rules):
    _, _, second = rules
    with db.unit_of_work() as session:
        session.execute(update(ConversionRule).where(ConversionRule.id == second).values(credits_units=2000))
    problems = _problems(db)
    assert "转换规则 CQOUYC:ELEC-UP v2 的条款与批准时记入透明日志" in problems
    assert "conversion rule CQOUYC:ELEC-UP v2 no longer has the terms logged when it was approved" in problems


def test_a_retired_rule_put_back_in_use_in_the_database_is_named(client, db, rules):
    _, first, _ = rules
    with db.unit_of_work() as session:
        session.execute(
            update(ConversionRule).where(ConversionRule.id == first).values(state="approved", retired_at=None)
        )
    problems = _problems(db)
    assert (
        "conversion rule CQOUYC:ELEC-UP v1 was retired (the log says so), but its row says approved"
        in problems
    )


def test_a_rule_approved_behind_the_service_is_named(client, db):
    yc = institution(client)
    outcome(client, yc, "YC-ELEC")
    ou = institution(client, "CQOUYC", "重庆开放大学永川分校")
    outcome(client, ou, "OU-ELEC", category="academic", level=5, credits=2)
    proposed = _rule(client, ou)
    with db.unit_of_work() as session:
        session.execute(update(ConversionRule).where(ConversionRule.id == proposed).values(state="approved"))
    assert "the approval of conversion rule CQOUYC:ELEC-UP v1 is in no log leaf" in _problems(db)


def test_the_upgrade_logs_the_catalogue_and_rules_written_before(tmp_path):
    """Migration 0025 appends a leaf for every outcome version and every approved or retired rule
    already there, which the audit then recomputes from the rows (an edit after it is named)."""
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    upgrade(url, "0024")
    raw = sqlite3.connect(path)  # foreign keys off: only the rows the upgrade reads
    raw.execute(
        "INSERT INTO institution (id, code, name_zh, state, created_at) "
        "VALUES (1, 'YCCEC', '永川区社区教育学院', 'accredited', '2026-03-01 00:00:00.000000')"
    )
    raw.executemany(
        "INSERT INTO outcome (id, institution_id, code, version, title_zh, title_en, category, level, "
        "credits_units, hours, credits_from_hours, validity_years, min_score, created_at) "
        "VALUES (?, 1, ?, ?, ?, NULL, 'community', 2, ?, ?, ?, NULL, NULL, '2026-03-01 00:00:00.000000')",
        [(1, "YC-ELEC", 1, "居民用电安全", 150, None, 0), (2, "YC-ELEC", 2, "家庭用电安全", 100, 20.0, 1)],
    )
    raw.executemany(
        "INSERT INTO conversion_rule (id, code, version, owner_institution_id, name_zh, target_outcome_id, "
        "credits_units, source_json, effective_from, effective_until, state, created_at, approved_at, "
        "retired_at) VALUES (?, 'R', ?, 1, '规则', 2, 100, ?, '2026-01-01', ?, ?, "
        "'2026-03-01 00:00:00.000000', ?, NULL)",
        [
            (1, 1, '{"all_of": ["YCCEC:YC-ELEC"]}', None, "retired", "2026-03-02 00:00:00.000000"),
            (2, 2, '{"all_of":["YCCEC:YC-ELEC"]}', "2027-12-31", "approved", "2026-03-03 00:00:00.000000"),
            (3, 3, "{}", None, "proposed", None),
        ],
    )
    raw.commit()
    raw.close()
    upgrade(url)
    upgrade(url)  # nothing more to log
    db = Database(url)
    try:
        with db.reader() as session:
            leaves = [
                (leaf.leaf_index, leaf.kind, leaf.ref)
                for leaf in session.execute(select(TranslogLeaf).order_by(TranslogLeaf.leaf_index)).scalars()
            ]
        assert leaves == [
            (0, 4, "outcome:1"),
            (1, 4, "outcome:2"),
            (2, 5, "rule:1"),
            (3, 6, "rule:1"),
            (4, 5, "rule:2"),
        ]
        assert _problems(db) == ""
        with db.unit_of_work() as session:
            session.execute(
                update(ConversionRule).where(ConversionRule.id == 2).values(effective_until=date(2099, 1, 1))
            )
            session.execute(update(Outcome).where(Outcome.id == 2).values(hours=40.0))
        problems = _problems(db)
        assert "outcome YCCEC:YC-ELEC v2 no longer matches" in problems
        assert "conversion rule YCCEC:R v2 no longer has the terms logged when it was approved" in problems
    finally:
        db.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_retirements_at_once_log_one(client, db, rules):
    """The owner and the operator retire a rule at the same moment: the second waits for the first
    and finds it retired — one leaf, and the audit passes (two leaves would read as a forgery)."""
    from creditbank.conversion import service as conversions

    _, _, second = rules
    done: list[BaseException | None] = []
    with db.unit_of_work() as first:
        conversions.retire_rule(first, rule_id=second, institution_id=None)

        def retire() -> None:
            try:
                with db.unit_of_work() as session:
                    conversions.retire_rule(session, rule_id=second, institution_id=None)
                done.append(None)
            except BaseException as exc:  # handed to the test's thread
                done.append(exc)

        thread = threading.Thread(target=retire)
        thread.start()
        with db.engine.connect() as watch:  # until the second waits for the first's row lock
            while not watch.execute(
                text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                    "WHERE NOT l.granted AND a.datname = current_database()"
                )
            ).scalar_one():
                assert thread.is_alive(), done
                time.sleep(0.05)
    thread.join()
    assert done == [None]
    assert [leaf.kind for leaf in _leaves(db, f"rule:{second}")] == [
        LeafKind.rule_approved,
        LeafKind.rule_retired,
    ]
    assert _problems(db) == ""
