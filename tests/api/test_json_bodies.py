"""A JSON body the bank cannot read is a §4 problem on every route that takes JSON: 422
``validation_error`` with one ``json_invalid`` entry saying why, in both languages — never FastAPI's
bare 400 "There was an error parsing the body", never a 500, never NaN let through."""

from __future__ import annotations

import re

import pytest
from fastapi.params import Form
from fastapi.routing import APIRoute

from creditbank.httpio import JsonRoute
from tests.api.test_authz_matrix import _walk
from tests.conftest import institution, learner, signed_in

JSON = {"Content-Type": "application/json"}
NOT_UTF8 = b"\xff\xfe{"  # what a Windows tool saving "Unicode" sends
OUTCOME = b'{"title_zh": "x", "category": "community", "level": 1, "credits": %s}'


@pytest.fixture
def callers(client):
    inst = institution(client)
    me = signed_in(client, learner(client, inst))
    return {"institution": inst, "learner": me}


def _refusal(response) -> dict:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation_error"
    [entry] = body["errors"]
    assert entry["field"] == ""
    return entry


class TestNotUtf8:
    @pytest.mark.parametrize(
        ("method", "path", "who"),
        [
            ("POST", "/api/v1/auth/token", None),
            ("POST", "/api/v1/learners", "institution"),
            ("POST", "/api/v1/me/conversions", "learner"),
            ("POST", "/api/v1/completions/batch", "institution"),
        ],
    )
    def test_a_body_that_is_not_utf8_says_so_in_both_languages(self, client, callers, method, path, who):
        """Was a bare 400 (FastAPI's "error parsing the body", no errors) on the JSON routes."""
        headers = JSON | (callers[who] if who else {})
        zh = _refusal(client.request(method, path, content=NOT_UTF8, headers=headers))
        assert zh["code"] == "json_invalid"
        assert zh["message_zh"].startswith("请求内容应为 UTF-8 编码的 JSON（第 1 个字节不是 UTF-8）")
        assert zh["message_en"].startswith("The body must be JSON encoded in UTF-8 (byte 1 is not UTF-8)")
        en = client.request(method, path, content=NOT_UTF8, headers=headers | {"Accept-Language": "en"})
        assert en.json()["title"] == "The request body is not valid"
        assert en.json()["detail"] == "请求内容格式不正确"

    def test_gbk_text_inside_a_string_is_located_by_byte(self, client, callers):
        body = '{"name": "张桂兰", "national_id": "x"}'.encode("gbk")
        entry = _refusal(client.post("/api/v1/learners", content=body, headers=JSON | callers["institution"]))
        assert "第 11 个字节不是 UTF-8" in entry["message_zh"]

    def test_utf16_is_refused_too(self, client):
        """Python's json reads UTF-16 and UTF-32 (RFC 8259: JSON between systems is UTF-8)."""
        body = '{"account_no": "1", "password": "x"}'.encode("utf-16")
        entry = _refusal(client.post("/api/v1/auth/token", content=body, headers=JSON))
        assert entry["code"] == "json_invalid" and "UTF-8" in entry["message_zh"]

    def test_a_utf8_byte_order_mark_is_ignored(self, client):
        body = b'\xef\xbb\xbf{"account_no": "YC00000000000", "password": "long enough 1"}'
        response = client.post("/api/v1/auth/token", content=body, headers=JSON)
        assert response.status_code == 401 and response.json()["code"] == "invalid_credentials"

    def test_every_route_that_takes_json_reads_it_strictly(self, client):
        """Each route with a JSON body (FastAPI reads it before any dependency, so no caller is
        needed) answers the same problem — a router added without ``JsonRoute`` fails here."""
        checked = []
        for method, template, route in _walk(client.app.routes):
            if not isinstance(route, APIRoute) or route.body_field is None:
                continue
            assert isinstance(route, JsonRoute), template
            if isinstance(route.body_field.field_info, Form):
                continue
            path = re.sub(r"\{[^}]+\}", "X1", template)
            entry = _refusal(client.request(method, path, content=NOT_UTF8, headers=JSON))
            assert entry["code"] == "json_invalid", (method, template)
            checked.append(template)
        assert len(checked) > 20


class TestValuesJsonDoesNotHave:
    ROUTES = (("PUT", "/api/v1/catalogue/X-9"), ("POST", "/api/v1/completions/batch"))

    def _send(self, client, callers, method, path, number: bytes):
        if path.endswith("/batch"):
            body = b'{"rows": [{"external_id": "e1", "account_no": "x", "outcome_code": "X", "score": %s}]}'
            return client.request(method, path, content=body % number, headers=JSON | callers["institution"])
        return client.request(method, path, content=OUTCOME % number, headers=JSON | callers["institution"])

    @pytest.mark.parametrize(("method", "path"), ROUTES)
    @pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
    def test_nan_and_infinity_are_not_json(self, client, callers, method, path, constant):
        """Python's json takes them; NaN then passed `le=1000` checks' wording ("应不大于 1000")."""
        entry = _refusal(self._send(client, callers, method, path, constant))
        name = constant.decode()
        assert entry["code"] == "json_invalid"
        assert entry["message_zh"] == f"JSON 中没有 {name} 这样的值：请写成有限的数字或 null"
        assert entry["message_en"] == f"{name} is not a JSON value; send a finite number or null"

    @pytest.mark.parametrize(("method", "path"), ROUTES)
    def test_a_number_beyond_a_float_is_out_of_range(self, client, callers, method, path):
        entry = _refusal(self._send(client, callers, method, path, b"1e400"))
        assert entry["message_zh"].startswith("数字 1e400 超出范围")
        assert entry["message_en"].startswith("The number 1e400 is out of range")

    @pytest.mark.parametrize(("method", "path"), ROUTES)
    def test_a_number_of_5000_digits_is_refused_not_a_500(self, client, callers, method, path):
        """The batch route answered 500 (int() refuses more than 4300 digits)."""
        entry = _refusal(self._send(client, callers, method, path, b"1" + b"0" * 5000))
        assert "位数过多" in entry["message_zh"] and "too many digits" in entry["message_en"]

    @pytest.mark.parametrize(("method", "path"), ROUTES)
    def test_deep_nesting_is_refused_not_a_500(self, client, callers, method, path):
        """The batch route answered 500 (RecursionError), the others a bare 400."""
        response = client.request(
            method, path, content=b"[" * 5000 + b"]" * 5000, headers=JSON | callers["institution"]
        )
        entry = _refusal(response)
        assert entry["message_zh"] == "JSON 嵌套层数过多"
        assert entry["message_en"] == "The JSON is nested too deeply"

    @pytest.mark.parametrize("credential", [b'{"a": NaN}', b'{"a": 1e400}'])
    def test_verify_refuses_a_credential_holding_a_non_finite_number(self, client, credential):
        """POST /api/v1/verify answered 500: RFC 8785 cannot canonicalise NaN or inf."""
        body = b'{"credential": %s}' % credential
        response = client.post("/api/v1/verify", content=body, headers=JSON | {"Accept-Language": "en"})
        assert response.status_code == 422
        assert response.json()["code"] == "unusable_input"
        assert response.json()["title"] == "Cannot read this input: malformed JSON"


class TestBodiesOfTheWrongShape:
    @pytest.mark.parametrize("path", ["/api/v1/auth/token", "/api/v1/completions/batch"])
    def test_an_empty_body_says_it_is_empty(self, client, callers, path):
        """Was "缺少必填字段 请求内容 / Field required" (the batch route: "JSON 格式错误（第 1 行第 1 列附近）")."""
        entry = _refusal(client.post(path, content=b"", headers=JSON | callers["institution"]))
        assert entry["message_zh"] == "请求内容为空：请发送一个 JSON 对象"
        assert entry["message_en"] == "The request body is empty; send a JSON object"

    @pytest.mark.parametrize("body", [b"[1, 2]", b'"abc"', b"null", b"3"])
    @pytest.mark.parametrize("path", ["/api/v1/learners", "/api/v1/completions/batch"])
    def test_a_value_that_is_not_an_object_says_an_object_is_wanted(self, client, callers, body, path):
        """pydantic said "Input should be a valid dictionary or object to extract fields from"."""
        entry = _refusal(client.post(path, content=body, headers=JSON | callers["institution"]))
        assert entry["message_zh"] == "请求内容应为一个 JSON 对象（{…}），不能是列表、文字、数字或 null"
        assert entry["message_en"].startswith("The request body must be a JSON object")

    @pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
    @pytest.mark.parametrize("path", ["/api/v1/auth/token", "/api/v1/learners"])
    def test_a_body_not_declared_json_is_415(self, client, callers, path, content_type):
        headers = callers["institution"] | ({"Content-Type": content_type} if content_type else {})
        response = client.post(path, content=b'{"name": "x"}', headers=headers | {"Accept-Language": "en"})
        assert response.status_code == 415
        assert response.json()["code"] == "unsupported_media_type"
        assert response.json()["title"].startswith("The request body must be JSON")

    @pytest.mark.parametrize("path", ["/api/v1/auth/token", "/api/v1/learners"])
    def test_a_body_over_the_limit_is_413(self, client, callers, path):
        body = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
        response = client.post(path, content=body, headers=JSON | callers["institution"])
        assert response.status_code == 413
        assert response.json()["code"] == "body_too_large"
        assert response.json()["title"] == "请求内容超过 1024 KB 上限"


class TestUploadsThatAreNotMultipart:
    @pytest.mark.parametrize(
        ("path", "who"), [("/api/v1/verify", None), ("/api/v1/completions/batch", "institution")]
    )
    @pytest.mark.parametrize("content_type", ["multipart/form-data; boundary=zzz", "multipart/form-data"])
    def test_a_body_declared_multipart_that_is_not_is_a_problem_with_a_code(
        self, client, callers, path, who, content_type
    ):
        """Was Starlette's 400 passed through as "validation_error" with status 400 and no errors."""
        headers = {"Content-Type": content_type} | (callers[who] if who else {})
        entry = _refusal(client.post(path, content=b"garbage", headers=headers | {"Accept-Language": "en"}))
        assert entry["code"] == "multipart_invalid"
        assert entry["message_zh"].startswith("上传内容不是有效的 multipart/form-data")
        assert entry["message_en"].startswith("The upload is not valid multipart/form-data (")
