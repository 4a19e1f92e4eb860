"""A form sent with a required field left empty comes back as the same form (422), never the dead-end
``form_incomplete`` page: the notice above it, at each empty field words naming that field, what was
typed kept (never a password, never an ID number). The forms have ``novalidate``, so the browser sends
empty fields, which FastAPI refuses before the route runs; ``web.base.refills`` turns that into the
form again. Without a browser here; tests/web/test_form_refusals.py shows it in Chromium."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from sqlmodel import select

from creditbank import web
from creditbank.completions.models import Completion
from creditbank.learners.models import Learner
from tests.conftest import completion_body, national_id
from tests.web.consoleworld import build
from tests.web.staffworld import add_operator, csrf, operator_sign_in, staff_sign_in

INCOMPLETE_ZH = "表单还没有填完整，请看下面标出的各项。"
INCOMPLETE_EN = "The form is not complete yet: please see the fields marked below."


def problems(response) -> dict[str, str]:
    return dict(re.findall(r'class="field-problem" id="([a-z_]+)-problem">✗ ([^<]*)<', response.text))


def notice(response) -> str:
    match = re.search(r'id="error"[^>]*>✗ ([^<]*)<', response.text)
    return match.group(1) if match else ""


def refilled(answer, expected: dict[str, str], lang: str = "zh") -> None:
    assert answer.status_code == 422, answer.text[:300]
    assert problems(answer) == expected
    assert notice(answer) == (INCOMPLETE_ZH if lang == "zh" else INCOMPLETE_EN)
    assert "回到首页" not in answer.text and "Back to the start" not in answer.text
    for name in expected:  # the field is marked for assistive technology too
        assert f'aria-describedby="{name}-problem"' in answer.text


@pytest.fixture
def world(client):
    return build(client)


class TestLearnerForms:
    def test_activation_with_empty_fields_keeps_the_account_and_code_but_no_password(self, client):
        token = csrf(client, "/activate")
        sent = {"csrf_token": token, "account_no": "cb12345678901", "activation_code": "",
                "password": "长城长城长城12345", "password_again": ""}  # fmt: skip
        answer = client.post("/activate", data=sent)
        refilled(
            answer, {"activation_code": "请填写“激活码”。", "password_again": "请填写“再输入一次密码”。"}
        )
        assert 'value="CB12345678901"' in answer.text and "长城长城" not in answer.text

    def test_activation_in_english(self, client):
        client.get("/lang/en")
        token = csrf(client, "/activate")
        sent = {
            "csrf_token": token,
            "account_no": "",
            "activation_code": "1234",
            "password": "",
            "password_again": "",
        }
        answer = client.post("/activate", data=sent)
        refilled(
            answer,
            {
                "account_no": "Fill in “Account number”.",
                "password": "Fill in “New password”.",
                "password_again": "Fill in “The same password again”.",
            },
            lang="en",
        )
        assert 'value="1234"' in answer.text

    def test_sign_in_without_a_password_keeps_the_account_number_and_where_to_go(self, client):
        token = csrf(client, "/signin?next=/me/progress")
        sent = {"csrf_token": token, "account_no": "CB12345678901", "password": "", "next": "/me/progress"}
        answer = client.post("/signin", data=sent)
        refilled(answer, {"password": "请填写“密码”。"})
        assert 'value="CB12345678901"' in answer.text and 'value="/me/progress"' in answer.text

    def test_a_form_without_its_csrf_token_is_still_refused(self, client):
        csrf(client, "/signin")
        answer = client.post("/signin", data={"account_no": "CB12345678901", "password": ""})
        assert answer.status_code == 403 and "field-problem" not in answer.text

    def test_a_value_too_long_is_said_at_its_field(self, client):
        token = csrf(client, "/signin")
        answer = client.post("/signin", data={"csrf_token": token, "account_no": "C" * 201, "password": "x"})
        assert answer.status_code == 422
        assert problems(answer) == {"account_no": "“学习账号”太长了，最多 200 个字符。"}


class TestStaffForms:
    def test_staff_sign_in_without_a_password(self, client, world):
        token = csrf(client, "/staff/signin")
        answer = client.post(
            "/staff/signin", data={"csrf_token": token, "username": "yc-clerk", "password": ""}
        )
        refilled(answer, {"password": "请填写“密码”。"})
        assert 'value="yc-clerk"' in answer.text

    def test_operator_sign_in_without_the_code(self, client, world):
        add_operator(client)
        token = csrf(client, "/operator/signin")
        sent = {"csrf_token": token, "username": "office", "password": "secret-typed", "code": ""}
        answer = client.post("/operator/signin", data=sent)
        refilled(answer, {"code": "请填写“六位动态验证码”。"})
        assert 'value="office"' in answer.text and "secret-typed" not in answer.text

    def test_enrolment_with_only_the_id_number_names_the_name_and_enrols_nobody(self, client, world):
        staff_sign_in(client, "yc-clerk")
        token = csrf(client, "/console/YCCEC/enrol")
        number = national_id()
        answer = client.post(
            "/console/YCCEC/enrol",
            data={"csrf_token": token, "name": "", "national_id": number, "phone": "13800000000"},
        )
        refilled(answer, {"name": "请填写“姓名”。"})
        assert 'value="13800000000"' in answer.text and number not in answer.text
        assert 'id="enrol"' in answer.text  # the form, with the console's menu around it
        assert 'class="staffnav"' in answer.text
        with client.app.state.db.reader() as session:
            assert len(session.exec(select(Learner)).all()) == 3

    def test_name_correction_without_a_reason_keeps_the_new_name(self, client, world):
        staff_sign_in(client, "yc-clerk")
        person = world.people[0]
        token = csrf(client, f"/console/YCCEC/learners/{person}")
        answer = client.post(
            f"/console/YCCEC/learners/{person}/name",
            data={"csrf_token": token, "name": "张桂芝", "reason": ""},
        )
        refilled(answer, {"reason": "请填写“更正理由（学习者会看到）”。"})
        assert 'value="张桂芝"' in answer.text and person in answer.text

    def test_operator_name_correction_and_new_institution(self, client, world):
        secret = add_operator(client)
        operator_sign_in(client, secret)
        person = world.people[0]
        token = csrf(client, f"/operator/learners/{person}")
        answer = client.post(
            f"/operator/learners/{person}/name",
            data={"csrf_token": token, "name": "", "reason": "身份证为准"},
        )
        refilled(answer, {"name": "请填写“正确的姓名（与身份证一致）”。"})
        assert 'value="身份证为准"' in answer.text
        answer = client.post(
            "/operator/institutions", data={"csrf_token": token, "code": "HCZCEC", "name_zh": ""}
        )
        refilled(answer, {"name_zh": "请填写“中文名称”。"})
        assert 'value="HCZCEC"' in answer.text
        answer = client.post(
            "/operator/institutions/YCCEC/staff",
            data={"csrf_token": token, "username": "yc-new", "name": "", "password": "typed-secret-1"},
        )
        refilled(answer, {"name": "请填写“姓名”。"})
        assert 'value="yc-new"' in answer.text and "typed-secret-1" not in answer.text

    def test_a_revocation_with_an_empty_reason_stays_beside_the_record(self, client, world):
        posted = client.post(
            "/api/v1/completions", json=completion_body(world.people[0], "YC-ELEC"), headers=world.yc
        )
        completion_id = posted.json()["id"]
        staff_sign_in(client, "yc-approver")
        token = csrf(client, "/console/YCCEC/completions")
        answer = client.post(
            f"/console/YCCEC/completions/{completion_id}/revoke",
            data={"csrf_token": token, "reason": "", "account_no": world.people[0]},
        )
        assert answer.status_code == 422
        assert notice(answer) == "撤销时请在框中写明理由，学习者会看到。"
        assert f'id="reason-{completion_id}"' in answer.text and "回到首页" not in answer.text
        with client.app.state.db.reader() as session:
            assert session.exec(select(Completion)).one().state == "active"


class TestOneCompletion:
    def test_no_course_is_chosen_for_the_clerk(self, client, world):
        staff_sign_in(client, "yc-clerk")
        form = client.get("/console/YCCEC/completions/new").text
        options = re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)<', form)
        assert options[0] == ("", " selected", "请选择学习成果")
        assert [o for o in options if o[1]] == [options[0]]
        assert "已预先填上今天" in form

    def test_only_an_account_number_posts_nothing_and_asks_for_the_course(self, client, world):
        staff_sign_in(client, "yc-clerk")
        person = world.people[0]
        token = csrf(client, "/console/YCCEC/completions/new")
        sent = {
            "csrf_token": token,
            "account_no": person.lower(),
            "outcome_code": "",
            "completed_on": "2026-11-30",
        }
        answer = client.post("/console/YCCEC/completions", data=sent)
        refilled(answer, {"outcome_code": "请选择“学习成果”。"})
        assert f'value="{person}"' in answer.text and 'value="2026-11-30"' in answer.text
        with client.app.state.db.reader() as session:
            assert session.exec(select(Completion)).all() == []


# Required fields a reader cannot leave empty: hidden inputs, buttons, a select or radio group with
# one always chosen, a file input (its empty part still arrives). Every other required field's form
# must come back refilled.
NOT_TYPED = {
    "/console/{code}/conversions/{conversion_id}": {"decision"},
    "/operator/institutions/{code}/state": {"state"},
    "/me/conversions": {"rule_id"},
    "/me/certificates": {"kind"},
    "/me/share": {"days"},
    "/operator/stats/population.csv": {"file"},
    "/operator/stats/areas.csv": {"file"},
    "/me/recognition/consent": {"named"},
    "/operator/stats/recognition": {"account_no", "title", "from", "to"},
}


def _page_routes() -> list[APIRoute]:
    """Every route of the pages' routers (``creditbank.web.*``): the app itself keeps included
    routers whole, so its own route list does not show them."""
    found: list[APIRoute] = []
    for module in pkgutil.iter_modules(web.__path__):
        for value in vars(importlib.import_module(f"creditbank.web.{module.name}")).values():
            if isinstance(value, APIRouter):
                found += [r for r in value.routes if isinstance(r, APIRoute) and r not in found]
    return found


def test_every_form_with_a_field_to_type_comes_back_refilled():
    posts = [r for r in _page_routes() if "POST" in r.methods]
    assert len(posts) > 30  # the check looks at the real routes
    lacking = []
    for route in posts:
        required = {f.alias for f in route.dependant.body_params if f.field_info.is_required()}
        if required - NOT_TYPED.get(route.path, set()) and not hasattr(route.endpoint, "refill"):
            lacking.append(route.path)
    assert lacking == []
