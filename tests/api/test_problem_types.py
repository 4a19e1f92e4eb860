"""A problem's ``type`` opens on the bank itself: ``<base_url>/problems/<code>`` (RFC 9457 §3.1.1),
the base URL of keys/issuer.json as certificates' verify links use it. It was
``https://creditbank.example/problems/<code>``, a reserved domain nobody can open. ``/problems``
lists every code, generated from ``errors.CODES``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import creditbank
from creditbank.app import create_app
from creditbank.db import Database
from creditbank.errors import ADVICE, CODES, STATUS_ADVICE
from tests.conftest import institution

BANK = "https://credits.yongchuan.example"

# Calls that answer a code, and where the code is among their arguments.
_CODE_ARGUMENT = {
    "CreditbankError": 0,
    "problem": 1,
    "error_page": 1,
    "html_page": 1,
    "status_page": 1,
    "row_error": 1,
    "render": 0,
    "_problem": 0,
    "Problem": 0,
    "RowProblem": 1,
    "Taken": 0,
    "VcApiProblem": 0,
}
_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def codes_in_source() -> dict[str, str]:
    """Every code written where the bank raises or answers one: code → where (file:line)."""
    found: dict[str, str] = {}
    root = Path(creditbank.__file__).parent
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in _CODE_ARGUMENT:
                continue
            position = _CODE_ARGUMENT[name]
            candidates = [kw.value for kw in node.keywords if kw.arg == "code"]
            if len(node.args) > position:
                candidates.append(node.args[position])
            for candidate in candidates:
                for value in _constants(candidate):
                    found.setdefault(value, f"{path.relative_to(root)}:{node.lineno}")
    return found


def _constants(expr: ast.expr) -> list[str]:
    """The codes an argument can be: a string, either branch of ``a if test else b``, ``a or b``."""
    if isinstance(expr, ast.Constant):
        return [expr.value] if isinstance(expr.value, str) and _SNAKE.match(expr.value) else []
    if isinstance(expr, ast.IfExp):
        return _constants(expr.body) + _constants(expr.orelse)
    if isinstance(expr, ast.BoolOp):
        return [c for value in expr.values for c in _constants(value)]
    return []


@pytest.fixture
def bank(settings, db: Database):
    """The bank set up under its public address; the test client still calls it as testserver."""
    with TestClient(create_app(settings.model_copy(update={"base_url": BANK}), db)) as client:
        yield client


class TestTheTypeOpens:
    def test_the_type_is_the_banks_own_address_not_the_requests_host(self, bank):
        response = bank.get("/api/v1/no-such-thing", headers={"Host": "127.0.0.1:9999"})
        assert response.json()["type"] == f"{BANK}/problems/not_found"

    @pytest.mark.parametrize(("lang", "first"), [("zh", "找不到学习成果记录"), ("en", "Completion")])
    def test_a_problems_type_opens_as_a_page_in_chinese_then_english(self, bank, lang, first):
        inst = institution(bank)
        answer = bank.post(
            "/api/v1/completions/cmp_nothing/revoke",
            json={"reason": "错了"},
            headers=inst | {"Accept-Language": lang},
        ).json()
        assert answer["code"] == "completion_not_found" and answer["title"].startswith(first)
        assert answer["type"] == f"{BANK}/problems/completion_not_found"
        page = bank.get(answer["type"].removeprefix(BANK), headers={"Accept": "text/html"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        text = page.text
        # Chinese first, English second, whatever the reader's language; the status; what to do.
        zh, en = text.index("这个错误表示"), text.index("What it means")
        assert zh < en
        assert "找不到学习成果记录 <var>id</var>" in text and "Completion <var>id</var> not found" in text
        assert "404" in text and "请核对地址中的编号或代码" in text and "check the id or code" in text
        assert f"{BANK}/problems/completion_not_found" in text

    def test_a_json_client_gets_the_entry(self, bank):
        entry = bank.get("/problems/idempotency_key_reused", headers={"Accept": "application/json"}).json()
        assert entry == {
            "type": f"{BANK}/problems/idempotency_key_reused",
            "code": "idempotency_key_reused",
            "status": 409,
            "status_zh": "与当前状态冲突",
            "status_en": "Conflict",
            "message_zh": CODES["idempotency_key_reused"][1],
            "message_en": CODES["idempotency_key_reused"][2],
            "next_steps_zh": [ADVICE["idempotency_key_reused"][0], STATUS_ADVICE[409][0]],
            "next_steps_en": [ADVICE["idempotency_key_reused"][1], STATUS_ADVICE[409][1]],
        }

    def test_an_unknown_code_is_404(self, bank):
        assert bank.get("/problems/no_such_code", headers={"Accept": "text/html"}).status_code == 404
        api = bank.get("/problems/no_such_code", headers={"Accept": "application/json"})
        assert api.status_code == 404 and api.json()["code"] == "not_found"


class TestEveryCodeIsDocumented:
    def test_the_list_names_every_code_of_the_registry_and_each_page_opens(self, bank):
        listed = bank.get("/problems", headers={"Accept": "application/json"}).json()["problems"]
        assert [e["code"] for e in listed] == list(CODES)
        assert all(e["type"] == f"{BANK}/problems/{e['code']}" for e in listed)
        page = bank.get("/problems", headers={"Accept": "text/html"}).text
        for code in CODES:
            assert f'href="/problems/{code}"' in page
            assert bank.get(f"/problems/{code}", headers={"Accept": "text/html"}).status_code == 200, code

    def test_every_code_the_source_answers_is_in_the_registry(self):
        """A code raised or answered somewhere but missing from errors.CODES would have no page
        (and ``problem()`` or ``CreditbankError`` would fail on it at run time: a 500)."""
        found = codes_in_source()
        assert len(found) > 100
        assert {code: where for code, where in found.items() if code not in CODES} == {}

    def test_every_status_has_next_steps(self):
        assert {status for status, _, _ in CODES.values()} <= set(STATUS_ADVICE)
        assert set(ADVICE) <= set(CODES)

    def test_the_openapi_document_lists_the_pages_and_says_what_type_is(self, bank):
        spec = bank.get("/openapi.json").json()
        assert "/problems" in spec["paths"] and "/problems/{code}" in spec["paths"]
        assert (
            "/problems/{code}"
            in spec["components"]["schemas"]["Problem"]["properties"]["type"]["description"]
        )
