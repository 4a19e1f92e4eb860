"""SPEC §3.2: an enrolment's birth date (and gender) come from the 身份证号. One given that differs
is refused, not stored — statistics counted a man born 1990 among the women over 60."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from creditbank.learners.models import Learner
from tests.conftest import institution, national_id

BORN = date(1990, 5, 17)


def _enrol(client, inst, **fields):
    body = {"name": "周建国", "national_id": national_id(BORN, gender="male")} | fields
    return client.post("/api/v1/learners", json=body, headers=inst | {"Accept-Language": "zh-CN"})


def test_a_birth_date_and_gender_contradicting_the_id_are_refused_by_field(client):
    inst = institution(client)
    r = _enrol(client, inst, birth_date="1960-03-01", gender="female")
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "birth_date_mismatch"
    assert "1960-03-01" in body["title"] and "1990-05-17" in body["title"]
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("birth_date", "birth_date_mismatch"),
        ("gender", "gender_mismatch"),
    ]
    assert "性别（女）与身份证号中的性别（男）不一致" in body["errors"][1]["message_zh"]
    only_gender = _enrol(client, inst, gender="female")
    assert (only_gender.status_code, only_gender.json()["code"]) == (422, "gender_mismatch")


def test_what_agrees_with_the_id_or_is_left_out_is_taken_from_it(client, db):
    inst = institution(client)
    agreeing = _enrol(client, inst, birth_date=BORN.isoformat(), gender="male")
    assert agreeing.status_code == 201, agreeing.text
    left_out = _enrol(client, inst, name="李秀兰")
    assert left_out.status_code == 201, left_out.text
    with db.reader() as session:
        rows = session.execute(select(Learner.birth_year, Learner.gender)).all()
    assert sorted(tuple(r) for r in rows) == [(1990, "male"), (1990, "male")]
