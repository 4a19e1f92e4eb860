"""A NUL character in a request is the caller's mistake: 422 ``text_has_nul`` on either database.

PostgreSQL text cannot hold NUL, so such a value reached the driver and came back as a 500 — on
anonymous verification routes too — while SQLite stored it (found by a users' review, 2026-12-03).
"""

from __future__ import annotations

import pytest

from tests.conftest import completion_body, institution, learner, outcome


def _code(r) -> str:
    return r.json()["code"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/verify/crt_%00",
        "/api/v1/certificates/crt_%00",
        "/api/v1/certificates/crt_%00.pdf",
        "/api/v1/stats/participation?district=%00",
    ],
)
def test_a_nul_in_the_address_is_refused_in_words(client, path):
    r = client.get(path)
    assert (r.status_code, _code(r)) == (422, "text_has_nul"), r.text[:300]
    assert "NUL" in r.json()["title"]


def test_a_browser_gets_a_page_saying_so(client):
    r = client.get("/v/crt_%00", headers={"Accept": "text/html"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "空字符" in r.text


def _names_the_field(r, field: str) -> None:
    # A JSON string is refused in the words of a checked text field: which field, which character.
    assert (r.status_code, _code(r)) == (422, "validation_error"), r.text[:300]
    error = r.json()["errors"][0]
    assert (error["field"], error["code"]) == (field, "invalid_text")
    assert "U+0000" in error["message_en"] and "不可见或控制字符" in error["message_zh"]


def test_a_nul_in_a_json_string_is_refused_and_nothing_is_stored(client):
    inst = institution(client)
    outcome(client, inst)
    person = learner(client, inst)
    body = completion_body(person["account_no"]) | {"external_id": "E\u0000x"}
    r = client.post("/api/v1/completions", json=body, headers=inst)
    _names_the_field(r, "external_id")
    balance = client.get(f"/api/v1/learners/{person['account_no']}/balance", headers=inst)
    assert balance.json()["total"] == 0


def test_a_nul_in_a_batch_row_names_the_row(client):
    inst = institution(client)
    outcome(client, inst)
    person = learner(client, inst)
    row = completion_body(person["account_no"]) | {"external_id": "E\u0000x"}
    r = client.post("/api/v1/completions/batch", json={"rows": [row]}, headers=inst)
    _names_the_field(r, "rows.0.external_id")


def test_a_nul_in_a_verify_url_is_refused(client):
    r = client.post("/api/v1/verify", json={"url": "http://testserver/v/crt_\u0000"})
    _names_the_field(r, "url")


def test_an_escaped_backslash_before_u0000_is_text_not_nul(client):
    # The characters \u0000 written as text (an escaped backslash) are not a NUL: no refusal.
    r = client.post("/api/v1/verify", json={"url": "http://testserver/v/crt_\\u0000"})
    assert r.status_code < 500 and r.json().get("code") != "text_has_nul", r.text[:300]
