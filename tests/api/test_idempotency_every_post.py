"""SPEC §3.4: an ``Idempotency-Key`` is honoured on every POST.

Before, several POST routes ignored the header: a retried ``POST /keys/rotate`` rotated the
signing key a second time, a rule rejection with the same key and another reason answered the old
reason with 200. Now each replays its first answer (status and body, ``Idempotent-Replayed``) and
refuses the same key with another body or another route with 409 ``idempotency_key_reused``.
"""

from __future__ import annotations

from tests.conftest import OPERATOR


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
