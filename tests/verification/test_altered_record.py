"""A certificate row's printed text edited in the database is never shown as verified.

``printed_json`` (what the verify answer and the /v/ page show) is not signed: the credential, its
digest and its log leaf stay intact when someone with database access changes a course title or
the credits there. Verification compares it with what the bank signed and calls it altered.
"""

from __future__ import annotations

import json

from sqlalchemy import text

from creditbank.db import Database
from tests.conftest import completion_body, institution, learner, outcome, signed_in

FORGED = "高级焊接工程师研修"


def _issued(client) -> dict:
    inst = institution(client)
    outcome(client, inst)
    person = learner(client, inst, name="王秀英")
    done = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst).json()
    headers = signed_in(client, person, "12345678")
    r = client.post(
        "/api/v1/me/certificates", json={"kind": "achievement", "completion_id": done["id"]}, headers=headers
    )
    assert r.status_code in (200, 201), r.text
    return r.json()


def _edit_printed(db: Database, certificate_id: str, **changes: object) -> None:
    with db.engine.begin() as connection:
        stored = connection.execute(
            text("SELECT printed_json FROM certificate WHERE id = :id"), {"id": certificate_id}
        ).scalar_one()
        printed = json.loads(stored)
        lines = changes.pop("lines", None)
        printed |= changes
        if lines is not None:
            printed["lines"][0] |= lines
        connection.execute(
            text("UPDATE certificate SET printed_json = :p WHERE id = :id"),
            {"p": json.dumps(printed, ensure_ascii=False), "id": certificate_id},
        )


def test_an_honest_certificate_verifies_by_id(client):
    certificate = _issued(client)
    answer = client.get(f"/api/v1/verify/{certificate['id']}").json()
    assert answer["valid"] is True
    assert answer["checks"]["integrity"]["ok"] is True


def test_a_course_title_edited_in_the_database_is_reported_altered_not_shown(client, db):
    certificate = _issued(client)
    _edit_printed(db, certificate["id"], lines={"title_zh": FORGED, "credits": "99"}, total_credits="99")
    answer = client.get(f"/api/v1/verify/{certificate['id']}").json()
    assert answer["valid"] is False
    assert answer["verdict"] == "invalid"
    assert answer["checks"]["integrity"]["ok"] is False
    assert "改动" in answer["checks"]["integrity"]["detail_zh"]
    assert "altered" in answer["checks"]["integrity"]["detail_en"]
    shown = json.dumps(answer["certificate"], ensure_ascii=False)
    assert FORGED not in shown and answer["certificate"]["total_credits"] != 99
    page = client.get(f"/v/{certificate['id']}").text
    assert FORGED not in page
    assert "证书内容被改动过" in page


def test_an_edited_learner_name_or_institution_is_reported_altered(client, db):
    certificate = _issued(client)
    _edit_printed(db, certificate["id"], learner_name="李建国")
    answer = client.get(f"/api/v1/verify/{certificate['id']}").json()
    assert answer["valid"] is False and answer["checks"]["integrity"]["ok"] is False
    assert answer["certificate"]["learner_name"] == "王秀英"

    other = client.post(
        "/api/v1/verify", json=client.get(f"/api/v1/certificates/{certificate['id']}").json()["credential"]
    ).json()
    assert other["valid"] is False and other["checks"]["integrity"]["ok"] is False
