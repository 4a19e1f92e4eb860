"""A refusal names the field to fix: a certificate of a kind without the id that kind needs, a
rejection without its reason, a rule ending before it starts — each a 422 whose ``errors[].field``
is that field (was: a 404 looking the id up as None, or an empty ``field``). And POST /verify
with valid JSON that is not an object says what it expected, not "malformed JSON"."""

from __future__ import annotations

import pytest

from creditbank.api.problems import VALIDATOR_ZH
from creditbank.certificates.schemas import NEEDED
from tests.conftest import OPERATOR, institution, learner, outcome, signed_in


@pytest.fixture
def me(client):
    inst = institution(client)
    outcome(client, inst)
    return signed_in(client, learner(client, inst))


def fields(response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    return [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("conversion", "conversion_id"),
        ("qualification", "qualification_code"),
        ("achievement", "completion_id"),
    ],
)
def test_a_certificate_without_the_id_its_kind_needs_names_the_field(client, me, kind, field):
    response = client.post("/api/v1/me/certificates", json={"kind": kind}, headers=me)
    assert fields(response) == [field]
    error = response.json()["errors"][0]
    assert "None" not in error["message_zh"] and field in error["message_zh"]
    assert error["message_en"] == NEEDED[kind][1]
    blank = client.post("/api/v1/me/certificates", json={"kind": kind, field: " "}, headers=me)
    assert fields(blank) == [field]
    english = client.post(
        "/api/v1/me/certificates", json={"kind": kind}, headers=me | {"Accept-Language": "en"}
    )
    assert "None" not in english.json()["title"]


def test_a_batch_item_without_its_id_names_the_item_and_the_field(client, me):
    response = client.post(
        "/api/v1/certificates/batch",
        json={
            "items": [{"kind": "transcript", "account_no": "x"}, {"kind": "conversion", "account_no": "x"}]
        },
        headers=OPERATOR,
    )
    assert fields(response) == ["items.1.conversion_id"]


def test_other_model_checks_name_their_field(client, me):
    inst = institution(client)
    rule = {
        "code": "R-1",
        "name_zh": "家政育婴师转学前教育",
        "target_outcome_code": "YC-ELEC",
        "credits": 1,
        "source": {"all_of": ["YCCEC:YC-WECHAT"]},
        "effective_from": "2026-01-01",
        "effective_until": "2025-12-31",
    }
    assert fields(client.post("/api/v1/conversion-rules", json=rule, headers=inst)) == ["effective_until"]
    assert fields(client.post("/api/v1/me/conversions", json={}, headers=me)) == ["rule_id"]


def test_no_model_check_leaves_the_field_empty(client, me):
    """The sweep, as a caller meets it: every 422 above names a field."""
    inst = institution(client)
    responses = [
        client.post("/api/v1/me/certificates", json={"kind": "conversion"}, headers=me),
        client.post("/api/v1/conversions/cnv_x/decide", json={"decision": "maybe"}, headers=inst),
        client.post("/api/v1/me/conversions", json={"rule_id": 1, "rule_code": "R"}, headers=me),
    ]
    for response in responses:
        assert all(e["field"] for e in response.json()["errors"]), response.text


def test_every_kinds_message_has_its_chinese():
    assert {message for _, message in NEEDED.values()} <= set(VALIDATOR_ZH)


@pytest.mark.parametrize(
    ("body", "got"), [("[]", "got an array"), ('"CB1.x"', "got a string"), ("42", "got a number or null")]
)
def test_verify_with_json_that_is_not_an_object_says_what_it_expected(client, body, got):
    response = client.post(
        "/api/v1/verify",
        content=body,
        headers={"Content-Type": "application/json", "Accept-Language": "en"},
    )
    assert response.status_code == 422, response.text
    title = response.json()["title"]
    assert "malformed" not in title and got in title
    assert '{"credential": …}' in title and "PDF" in title
    chinese = client.post("/api/v1/verify", content=body, headers={"Content-Type": "application/json"})
    assert "JSON 格式错误" not in chinese.json()["title"] and "应为 JSON 对象" in chinese.json()["title"]


def test_verify_with_broken_json_still_says_malformed(client):
    response = client.post("/api/v1/verify", content="{", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["title"] == "无法识别：JSON 格式错误"
