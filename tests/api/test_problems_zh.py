"""Validation errors (422 from request models) speak Chinese too (issue 8 item 9)."""

from __future__ import annotations

from tests.conftest import institution


def test_a_validation_error_carries_a_chinese_message_for_each_field(client):
    inst = institution(client)
    response = client.post("/api/v1/learners", json={"national_id": "11010519491231002X"}, headers=inst)
    assert response.status_code == 422
    [error] = [e for e in response.json()["errors"] if e["field"] == "name"]
    assert error["message_zh"] == "缺少必填字段 name" and error["message_en"] == "Field required"
    outcome = client.put(
        "/api/v1/catalogue/X-1",
        json={"title_zh": "课", "category": "community", "level": 99, "credits": 1},
        headers=inst,
    )
    assert outcome.status_code == 422
    assert any("level" in e["message_zh"] and "应不大于" in e["message_zh"] for e in outcome.json()["errors"])
