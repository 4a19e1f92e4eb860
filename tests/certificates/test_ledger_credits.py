"""An achievement certificate signs the credits the ledger holds, not the completion row's.

A completion's ``credits_units`` (and its learner and outcome) are not covered by the hash chain;
its deposit transaction is. Someone with database access who edits the row must not get a signed
certificate for credits the ledger never held.
"""

from __future__ import annotations

import json

from sqlalchemy import text

from creditbank.db import Database
from tests.conftest import completion_body, institution, learner, outcome, signed_in


def _posted(client) -> tuple[dict, dict[str, str]]:
    inst = institution(client)
    outcome(client, inst, credits=1.5)
    person = learner(client, inst, name="王秀英")
    done = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst).json()
    return done, signed_in(client, person, "12345678")


def _issue(client, headers: dict[str, str], completion_id: str):
    return client.post(
        "/api/v1/me/certificates",
        json={"kind": "achievement", "completion_id": completion_id},
        headers=headers,
    )


def test_an_honest_completion_is_certified_for_its_credits(client):
    done, headers = _posted(client)
    r = _issue(client, headers, done["id"])
    assert r.status_code == 201, r.text
    assert r.json()["credential"]["credentialSubject"]["creditsEarned"] == 1.5


def test_credits_edited_on_the_completion_row_are_refused_not_signed(client, db: Database, caplog):
    done, headers = _posted(client)
    with db.engine.begin() as connection:
        connection.execute(
            text("UPDATE completion SET credits_units = 9900 WHERE id = :id"), {"id": done["id"]}
        )
    r = _issue(client, headers, done["id"])
    assert r.status_code == 409, r.text
    error = r.json()
    assert error["code"] == "completion_disagrees_with_ledger"
    assert "账本" in json.dumps(error, ensure_ascii=False), error
    assert "credits_units" in json.dumps(error)
    assert any("disagrees with its ledger" in m for m in caplog.messages)
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM certificate")).scalar_one() == 0


def test_a_completion_moved_to_another_learner_is_refused(client, db: Database):
    inst = institution(client)
    outcome(client, inst, credits=1.5)
    owner = learner(client, inst, name="王秀英")
    done = client.post("/api/v1/completions", json=completion_body(owner["account_no"]), headers=inst).json()
    other = learner(client, inst, name="李建国")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE completion SET learner_id = (SELECT id FROM learner WHERE account_no = :a) WHERE id = :id"
            ),
            {"a": other["account_no"], "id": done["id"]},
        )
    r = _issue(client, signed_in(client, other, "12345678"), done["id"])
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "completion_disagrees_with_ledger"
