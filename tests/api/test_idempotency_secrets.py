"""Issue 9 item 8: idempotency records keep no secrets.

Before: with an ``Idempotency-Key``, the stored answer of ``POST …/api-keys`` held the ``cbk_`` key
("shown once": a replay showed it again) and enrolment's stored answer held the activation code.
Now the stored answer has them as null, says which (``redacted`` + ``Idempotent-Redacted``), and
no stored row anywhere holds a secret in clear.
"""

from __future__ import annotations

from sqlalchemy import inspect, text

from creditbank.kit import tokens
from tests.conftest import OPERATOR, institution, national_id


def _everything(db) -> str:
    with db.engine.connect() as connection:
        return " ".join(
            str(value)
            for table in inspect(connection).get_table_names()
            for row in connection.execute(text(f"SELECT * FROM {table}"))
            for value in row
        )


class TestIdempotencyKeepsNoSecrets:
    def test_item_8_a_replayed_api_key_creation_does_not_show_the_key_again(self, client, db):
        client.post(
            "/api/v1/institutions", json={"code": "YCCEC", "name_zh": "永川区社区教育学院"}, headers=OPERATOR
        )
        headers = OPERATOR | {"Idempotency-Key": "key-1"}
        first = client.post("/api/v1/institutions/YCCEC/api-keys", json={"label": "LMS"}, headers=headers)
        again = client.post("/api/v1/institutions/YCCEC/api-keys", json={"label": "LMS"}, headers=headers)
        assert first.status_code == again.status_code == 201
        key = first.json()["key"]
        assert key.startswith("cbk_")
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["key"] is None and again.json()["redacted"] == ["key"]
        assert again.headers["Idempotent-Redacted"] == "key"
        assert again.json()["id"] == first.json()["id"]  # the same key was made once
        assert key not in _everything(db)
        # The key itself works: it was shown once, to the first answer.
        assert client.get("/api/v1/catalogue", headers={"Authorization": f"Bearer {key}"}).status_code == 200

    def test_item_8_a_replayed_enrolment_does_not_show_the_activation_code_again(self, client, db):
        school = institution(client)
        body = {"name": "张桂兰", "national_id": national_id()}
        headers = school | {"Idempotency-Key": "enrol-1"}
        first = client.post("/api/v1/learners", json=body, headers=headers)
        again = client.post("/api/v1/learners", json=body, headers=headers)
        assert first.status_code == again.status_code == 201
        code = first.json()["activation_code"]
        assert again.json()["activation_code"] is None and again.json()["redacted"] == ["activation_code"]
        assert again.headers["Idempotent-Redacted"] == "activation_code"
        stored = _everything(db)
        assert tokens.normalize_activation_code(code) not in stored.replace(" ", "") and code not in stored


def test_item_8_the_migration_redacts_answers_stored_before(tmp_path):
    import json

    from sqlalchemy import create_engine

    from creditbank.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0009")
    engine = create_engine(url)
    with engine.begin() as connection:
        insert = text(
            "INSERT INTO idempotency_record (principal, key, request_hash, status_code, response_body, created_at)"
            " VALUES (:p, :k, 'h', 201, :b, '2026-11-30 00:00:00')"
        )
        connection.execute(
            insert, {"p": "operator", "k": "a", "b": json.dumps({"id": "key_1", "key": "cbk_secret"})}
        )
        connection.execute(
            insert,
            {"p": "inst:1", "k": "b", "b": json.dumps({"account_no": "CB1", "activation_code": "12345678"})},
        )
        connection.execute(
            insert, {"p": "inst:1", "k": "c", "b": json.dumps({"id": "cmp_1", "credits": 1.5})}
        )
    upgrade(url)
    with engine.connect() as connection:
        bodies = dict(connection.execute(text("SELECT key, response_body FROM idempotency_record")).all())
    engine.dispose()
    assert json.loads(bodies["a"]) == {"id": "key_1", "key": None, "redacted": ["key"]}
    assert json.loads(bodies["b"]) == {
        "account_no": "CB1",
        "activation_code": None,
        "redacted": ["activation_code"],
    }
    assert json.loads(bodies["c"]) == {"id": "cmp_1", "credits": 1.5}
