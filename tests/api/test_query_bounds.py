"""An integer parameter beyond what the database stores (64-bit) is the caller's mistake, named as
such (422 ``invalid_parameter``) — not a 500 from the driver's OverflowError."""

from __future__ import annotations

from tests.conftest import institution, learner, signed_in


def test_a_ledger_cursor_past_the_largest_integer_is_refused_by_name(client):
    me = signed_in(client, learner(client, institution(client)))
    response = client.get("/api/v1/me/ledger?after=9223372036854775808", headers=me)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_parameter"
    [error] = body["errors"]
    assert error["field"] == "after" and error["in"] == "query"


def test_the_largest_integer_is_still_a_cursor(client):
    me = signed_in(client, learner(client, institution(client)))
    response = client.get("/api/v1/me/ledger?after=9223372036854775807", headers=me)
    assert response.status_code == 200
    assert response.json()["items"] == []
