"""SPEC §3.4: an ``Idempotency-Key`` is honoured on every POST.

Before, several POST routes ignored the header: a retried ``POST /keys/rotate`` rotated the
signing key a second time, a rule rejection with the same key and another reason answered the old
reason with 200. Now each replays its first answer (status and body, ``Idempotent-Replayed``) and
refuses the same key with another body or another route with 409 ``idempotency_key_reused``.
"""

from __future__ import annotations

from tests.conftest import OPERATOR
from tests.conversion.test_conversion import approved, post, rule, world

__all__ = ["world"]  # the fixture, shared with test_conversion.py


def _key(headers: dict[str, str], key: str) -> dict[str, str]:
    return headers | {"Idempotency-Key": key}


class TestKeyRotation:
    def test_a_retried_rotation_rotates_once(self, client):
        before = client.get("/api/v1/keys").json()
        first = client.post("/api/v1/keys/rotate", headers=_key(OPERATOR, "rot1"))
        again = client.post("/api/v1/keys/rotate", headers=_key(OPERATOR, "rot1"))
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        after = client.get("/api/v1/keys").json()
        assert len(after) == len(before) + 1  # one new key, not two
        assert [k["kid"] for k in after if k["status"] == "active"] == [first.json()["kid"]]

    def test_the_rotation_key_used_on_another_route_is_refused(self, client):
        client.post("/api/v1/keys/rotate", headers=_key(OPERATOR, "rot1"))
        other = client.post("/api/v1/stats/refresh", headers=_key(OPERATOR, "rot1"))
        assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"

    def test_without_a_key_each_rotation_rotates(self, client):
        first = client.post("/api/v1/keys/rotate", headers=OPERATOR).json()
        second = client.post("/api/v1/keys/rotate", headers=OPERATOR).json()
        assert first["kid"] != second["kid"]


class TestStatisticsRefresh:
    def test_a_retried_refresh_replays_and_another_period_under_the_key_is_refused(self, client):
        headers = _key(OPERATOR, "refresh-1")
        first = client.post("/api/v1/stats/refresh?start=2026-01-01", headers=headers)
        again = client.post("/api/v1/stats/refresh?start=2026-01-01", headers=headers)
        assert first.status_code == again.status_code == 202
        assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
        other = client.post("/api/v1/stats/refresh?start=2025-01-01", headers=headers)
        assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"


def _reused(response) -> bool:
    return response.status_code == 409 and response.json()["code"] == "idempotency_key_reused"


class TestConversionRules:
    def test_a_rejection_retried_with_another_reason_under_its_key_is_refused(self, client, world):
        rule_id = rule(client, world["ou"]).json()["id"]
        headers = _key(OPERATOR, "reject-1")
        url = f"/api/v1/conversion-rules/{rule_id}/reject"
        first = client.post(url, json={"reason": "学分要求过低"}, headers=headers)
        again = client.post(url, json={"reason": "学分要求过低"}, headers=headers)
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
        assert _reused(client.post(url, json={"reason": "another"}, headers=headers))
        [rejected] = client.get("/api/v1/conversion-rules?state=rejected", headers=OPERATOR).json()
        assert rejected["rejection_reason"] == "学分要求过低"

    def test_approve_and_retire_replay_under_their_keys(self, client, world):
        rule_id = rule(client, world["ou"]).json()["id"]
        approve = f"/api/v1/conversion-rules/{rule_id}/approve"
        first = client.post(approve, headers=_key(OPERATOR, "approve-1"))
        again = client.post(approve, headers=_key(OPERATOR, "approve-1"))
        assert first.status_code == again.status_code == 200 and again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        retire = f"/api/v1/conversion-rules/{rule_id}/retire"
        assert _reused(client.post(retire, headers=_key(OPERATOR, "approve-1")))  # another route
        first = client.post(retire, headers=_key(world["ou"], "retire-1"))
        again = client.post(retire, headers=_key(world["ou"], "retire-1"))
        assert first.status_code == again.status_code == 200 and first.json()["state"] == "retired"
        assert again.headers["Idempotent-Replayed"] == "true"


class TestDecidingAgain:
    def _pending(self, client, world) -> str:
        approved(client, world["ou"])
        for i in range(3):
            post(client, world, f"HC-AGRI-{i}")
        r = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"])
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def test_the_same_decision_again_answers_the_request_as_it_stands(self, client, world):
        cid = self._pending(client, world)
        url = f"/api/v1/conversions/{cid}/decide"
        first = client.post(url, json={"decision": "approve"}, headers=world["ou"])
        again = client.post(url, json={"decision": "approve"}, headers=world["ou"])
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()  # one approval: the same transaction, the same target lot
        assert client.get("/api/v1/me/balance", headers=world["me"]).json()["by_category"]["academic"] == 2
        other = client.post(url, json={"decision": "reject", "reason": "x"}, headers=world["ou"])
        assert other.status_code == 409 and other.json()["code"] == "conversion_already_decided"

    def test_a_rejection_again_keeps_the_first_reason(self, client, world):
        cid = self._pending(client, world)
        url = f"/api/v1/conversions/{cid}/decide"
        client.post(url, json={"decision": "reject", "reason": "材料不全"}, headers=world["ou"])
        again = client.post(url, json={"decision": "reject", "reason": "另一个理由"}, headers=world["ou"])
        assert again.status_code == 200 and again.json()["state"] == "rejected"
        assert "材料不全" in again.text and "另一个理由" not in again.text


class TestAwards:
    def test_a_retried_award_is_recorded_once_and_another_body_under_its_key_refused(self, client):
        from tests.stats.test_recognition import PERIOD, _world

        people = _world(client)
        account, me = people["甲"]
        body = {
            "account_no": account,
            "title": "star",
            "category": "community",
            "reason": "坚持学习",
        } | PERIOD
        headers = _key(OPERATOR, "award-1")
        first = client.post("/api/v1/awards", json=body, headers=headers)
        again = client.post("/api/v1/awards", json=body, headers=headers)
        assert first.status_code == again.status_code == 201 and again.json() == first.json()
        assert [a["id"] for a in client.get("/api/v1/awards", headers=OPERATOR).json()] == [
            first.json()["id"]
        ]
        assert _reused(client.post("/api/v1/awards", json=body | {"title": "outstanding"}, headers=headers))
        url = f"/api/v1/me/awards/{first.json()['id']}/certificate"
        cert = client.post(url, headers=_key(me, "cert-1"))
        assert cert.status_code == 201
        replay = client.post(url, headers=_key(me, "cert-1"))
        assert replay.headers["Idempotent-Replayed"] == "true" and replay.json() == cert.json()


class TestSigningIn:
    def test_a_retried_activation_replays_without_the_token_and_the_password_is_kept_hashed(self, client, db):
        from tests.api.test_idempotency_secrets import _everything
        from tests.conftest import institution, learner

        person = learner(client, institution(client))
        body = {
            "account_no": person["account_no"],
            "activation_code": person["activation_code"],
            "password": "竹林深处2026",
        }
        first = client.post("/api/v1/auth/activate", json=body, headers={"Idempotency-Key": "act-1"})
        again = client.post("/api/v1/auth/activate", json=body, headers={"Idempotency-Key": "act-1"})
        assert first.status_code == again.status_code == 200
        token = first.json()["access_token"]
        assert again.json()["access_token"] is None and again.json()["redacted"] == ["access_token"]
        assert again.headers["Idempotent-Redacted"] == "access_token"
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        other = client.post(
            "/api/v1/auth/activate",
            json=body | {"password": "另一个密码2026"},
            headers={"Idempotency-Key": "act-1"},
        )
        assert _reused(other)
        assert token not in _everything(db)

    def test_a_retried_sign_in_opens_one_session(self, client, db):
        from sqlalchemy import func, select

        from creditbank.learners.models import LearnerSession
        from tests.conftest import institution, learner, signed_in

        person = learner(client, institution(client))
        signed_in(client, person)
        body = {"account_no": person["account_no"], "password": "竹林深处2026"}
        first = client.post("/api/v1/auth/token", json=body, headers={"Idempotency-Key": "in-1"})
        again = client.post("/api/v1/auth/token", json=body, headers={"Idempotency-Key": "in-1"})
        assert first.status_code == again.status_code == 200
        assert again.json()["access_token"] is None and again.headers["Idempotent-Replayed"] == "true"
        with db.reader() as session:
            assert session.execute(select(func.count()).select_from(LearnerSession)).scalar() == 2
        wrong = client.post(
            "/api/v1/auth/token", json=body | {"password": "猜一猜"}, headers={"Idempotency-Key": "in-1"}
        )
        assert _reused(wrong)
