"""Validation errors (422 from request models) speak Chinese too (issue 8 item 9), with the same
reason as the English message — a clerk reading only the Chinese must learn what to fix."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import creditbank
from creditbank.api.problems import VALIDATOR_ZH
from tests.conftest import OPERATOR, institution, learner, outcome, signed_in

RULE = {
    "code": "R-1",
    "name_zh": "家政育婴师转学前教育",
    "target_outcome_code": "YC-ELEC",
    "credits": 1,
    "source": {"all_of": ["YCCEC:YC-WECHAT"]},
    "effective_from": "2026-01-01",
}


def test_a_validation_error_carries_a_chinese_message_for_each_field(client):
    inst = institution(client)
    response = client.post("/api/v1/learners", json={"national_id": "11010519491231002X"}, headers=inst)
    assert response.status_code == 422
    [error] = [e for e in response.json()["errors"] if e["field"] == "name"]
    assert (
        error["message_zh"] == "缺少必填字段 姓名（name）" and error["message_en"] == "name: Field required"
    )
    outcome = client.put(
        "/api/v1/catalogue/X-1",
        json={"title_zh": "课", "category": "community", "level": 99, "credits": 1},
        headers=inst,
    )
    assert outcome.status_code == 422
    assert any("level" in e["message_zh"] and "应不大于" in e["message_zh"] for e in outcome.json()["errors"])


class TestValidatorReasons:
    def test_a_rule_whose_any_n_of_is_larger_than_its_list_says_so_in_chinese(self, client):
        inst = institution(client)
        body = RULE | {"source": {"any_n_of": {"n": 3, "outcomes": ["YCCEC:A", "YCCEC:B"]}}}
        [error] = client.post("/api/v1/conversion-rules", json=body, headers=inst).json()["errors"]
        assert error["field"] == "source"
        assert error["message_zh"] == "来源条件（source）：任选项数 any_n_of.n 大于所列成果的个数"
        assert error["message_en"] == "source: any_n_of.n is larger than the list"

    def test_a_rule_that_ends_before_it_starts_says_so_in_chinese(self, client):
        inst = institution(client)
        body = RULE | {"effective_until": "2025-12-31"}
        [error] = client.post("/api/v1/conversion-rules", json=body, headers=inst).json()["errors"]
        assert error["message_zh"] == "失效日期 effective_until 早于生效日期 effective_from"
        assert "请求内容" not in error["message_zh"]

    def test_an_empty_conversion_request_says_which_fields_to_give(self, client):
        inst = institution(client)
        outcome(client, inst)
        me = signed_in(client, learner(client, inst))
        response = client.post("/api/v1/me/conversions", json={}, headers=me)
        assert response.status_code == 422
        [error] = response.json()["errors"]
        assert "rule_id" in error["message_zh"] and "rule_code" in error["message_zh"]
        assert error["message_en"] == "give exactly one of rule_id or rule_code"

    def test_every_validator_message_has_its_chinese(self):
        """A new ``raise ValueError("…")`` in a request model without a translation would bring
        back "请求内容 的值无效"."""
        messages = set()
        for path in Path(creditbank.__file__).parent.rglob("schemas.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Raise)
                    and isinstance(node.exc, ast.Call)
                    and getattr(node.exc.func, "id", None) == "ValueError"
                    and node.exc.args
                    and isinstance(node.exc.args[0], ast.Constant)
                ):
                    messages.add(node.exc.args[0].value)
                if (  # fielderror.at("field", "…"): a model's check reported at one field
                    isinstance(node, ast.Call)
                    and getattr(node.func, "attr", None) == "at"
                    and len(node.args) >= 2
                    and isinstance(node.args[1], ast.Constant)
                ):
                    messages.add(node.args[1].value)
        assert messages and messages <= set(VALIDATOR_ZH)


def test_a_json_batch_whose_rows_are_not_a_list_is_refused_in_both_languages(client):
    inst = institution(client)
    response = client.post("/api/v1/completions/batch", json={"rows": "abc"}, headers=inst)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "rows"
    assert error["message_zh"] == "数据行（rows）应为列表"
    assert error["message_en"]


class TestRequestShape:
    """Refusals about how the request was sent, not what it said."""

    def test_a_method_the_route_does_not_take_is_405_with_allow(self, client):
        inst = institution(client)
        response = client.get("/api/v1/completions", headers=inst)
        assert response.status_code == 405
        assert response.headers["Allow"] == "POST"
        body = response.json()
        assert body["code"] == "method_not_allowed"
        assert body["title"] == "这个地址不接受 GET 请求，只接受 POST"
        assert "GET is not allowed here" in body["detail"]

    def test_a_body_not_sent_as_json_is_415(self, client):
        inst = institution(client)
        response = client.post(
            "/api/v1/learners", content=b'{"name": "x"}', headers=inst | {"Content-Type": "text/plain"}
        )
        assert response.status_code == 415
        body = response.json()
        assert body["code"] == "unsupported_media_type"
        assert "text/plain" in body["title"] and "application/json" in body["title"]
        # the batch route answers an unreadable upload with the same status
        png = client.post(
            "/api/v1/completions/batch",
            content=b"\x89PNG\r\n\x1a\n",
            headers=inst | {"Content-Type": "image/png"},
        )
        assert png.status_code == 415

    @pytest.mark.parametrize(
        ("body", "line", "column"),
        [
            (b'{"name": "x",,}', 1, 14),
            # Characters, not bytes (胡淑英 is 9 bytes), and lines as an editor counts them.
            ('{\n  "rows": [\n    "胡淑英",,\n  ]\n}'.encode(), 3, 11),
            (b'{"rows": [', 1, 11),
        ],
    )
    def test_malformed_json_says_where_as_a_person_counts_the_same_on_every_route(
        self, client, body, line, column
    ):
        """The JSON routes said "near character 14", the batch route "near line 1, column 11" (and
        counted bytes): one format now, line and column in characters, in both languages."""
        inst = institution(client)
        for path in ("/api/v1/learners", "/api/v1/completions/batch"):
            response = client.post(path, content=body, headers=inst | {"Content-Type": "application/json"})
            assert response.status_code == 422, (path, response.text)
            assert response.json()["code"] == "validation_error"
            [error] = response.json()["errors"]
            assert error["field"] == "" and error["code"] == "json_invalid"
            assert error["message_zh"] == f"JSON 格式错误（第 {line} 行第 {column} 列附近）", path
            assert error["message_en"].startswith(f"Malformed JSON near line {line}, column {column}: ")

    def test_a_bad_query_parameter_is_named(self, client):
        inst = institution(client)
        me = signed_in(client, learner(client, inst))
        response = client.get("/api/v1/me/ledger?limit=abc", headers=me | {"Accept-Language": "en"})
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "invalid_parameter"
        assert body["title"] == "The value of parameter limit is not valid"
        assert body["detail"] == "参数 limit 的值不正确"
        [error] = body["errors"]
        assert error["field"] == "limit" and error["in"] == "query"
        assert error["message_zh"] == "查询参数 条数（limit）应为整数"


class TestEachLanguageItsOwn:
    def test_an_older_bilingual_reason_is_split_between_the_two_messages(self, client):
        body = client.get("/api/v1/catalogue", headers=OPERATOR | {"Accept-Language": "en"}).json()
        assert body["title"] == "Invalid value for institution: required"
        assert body["detail"] == "institution 的值无效：必填"

    def test_a_reason_that_is_not_such_a_pair_is_left_whole(self):
        from creditbank.errors import render

        assert render("invalid_value", {"field": "roles", "reason": "clerk / approver"}, "zh").endswith(
            "clerk / approver"
        )
        assert render("stats_file_invalid", {"reason": "UTF-8 / GB18030"}, "en").startswith(
            "Cannot read this CSV file: UTF-8 / GB18030"
        )
