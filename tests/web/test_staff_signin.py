"""Signing in to the console and the district office's pages, without a browser: who gets in,
who is sent where, and the refusals a person sees."""

from __future__ import annotations

import re

import pyotp
import pytest

from tests.conftest import institution
from tests.web.staffworld import (
    STAFF_PASSWORD,
    add_operator,
    add_staff,
    csrf,
    operator_sign_in,
    staff_sign_in,
)


def error_text(response) -> str:
    match = re.search(r'id="error"[^>]*>(.*?)<', response.text)
    return match.group(1) if match else ""


@pytest.fixture
def schools(client):
    institution(client, "YCCEC", "永川区社区教育学院")
    institution(client, "CQOUYC", "重庆开放大学永川分校")
    add_staff(client, "YCCEC", "yc-clerk", "clerk")
    add_staff(client, "CQOUYC", "ou-approver", "clerk", "approver")
    return client


def test_signed_out_the_console_sends_a_person_to_the_staff_sign_in(client):
    response = client.get("/console/YCCEC", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/signin?next=/console/YCCEC"


def test_signed_out_the_office_pages_send_a_person_to_the_operator_sign_in(client):
    response = client.get("/operator", follow_redirects=False)
    assert response.headers["location"] == "/operator/signin?next=/operator"


def test_a_clerk_signs_in_and_lands_on_their_own_console(schools):
    client = staff_sign_in(schools, "yc-clerk")
    cookie = client.cookies.get("cb_staff")
    assert cookie and cookie.startswith("cbw_")
    home = client.get("/console")
    assert home.status_code == 200 and "永川区社区教育学院" in home.text
    assert str(home.url).endswith("/console/YCCEC")


def test_the_session_cookie_is_httponly_and_samesite_lax(schools):
    response = schools.post(
        "/staff/signin",
        data={
            "csrf_token": csrf(schools, "/staff/signin"),
            "username": "yc-clerk",
            "password": STAFF_PASSWORD,
        },
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"]
    assert "cb_staff=cbw_" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


@pytest.mark.parametrize("username,password", [("yc-clerk", "wrong password 1"), ("nobody", STAFF_PASSWORD)])
def test_a_wrong_password_or_unknown_name_is_one_sentence_in_chinese(schools, username, password):
    response = schools.post(
        "/staff/signin",
        data={"csrf_token": csrf(schools, "/staff/signin"), "username": username, "password": password},
    )
    assert response.status_code == 401
    assert error_text(response) == "✗ 用户名或密码错误"
    assert "cb_staff" not in response.headers.get("set-cookie", "")


def test_sign_in_without_the_forms_csrf_token_is_refused(schools):
    schools.get("/staff/signin")
    response = schools.post("/staff/signin", data={"username": "yc-clerk", "password": STAFF_PASSWORD})
    assert response.status_code == 403 and "cb_staff" not in response.headers.get("set-cookie", "")


def test_staff_of_one_institution_cannot_open_anothers_console(schools):
    client = staff_sign_in(schools, "yc-clerk")
    response = client.get("/console/CQOUYC")
    assert response.status_code == 403 and response.headers["content-type"].startswith("text/html")
    assert error_text(response) == "✗ 这个页面属于另一个机构，你的账号不能打开"


def test_the_refusal_is_in_english_for_an_english_reader(schools):
    client = staff_sign_in(schools, "yc-clerk")
    client.cookies.set("cb_lang", "en")
    response = client.get("/console/CQOUYC")
    assert error_text(response) == "✗ This page belongs to another institution; your account cannot open it"


def test_staff_cannot_open_the_district_office_pages(schools):
    client = staff_sign_in(schools, "ou-approver")
    response = client.get("/operator")
    assert response.status_code == 403
    assert "区学分银行管理员" in error_text(response)


def test_a_learner_session_opens_no_staff_page(schools, client):
    client.cookies.clear()
    client.cookies.set("cb_session", "cbs_not-a-staff-token")
    assert client.get("/console/YCCEC", follow_redirects=False).status_code == 303


def test_signing_out_ends_the_staff_session_server_side(schools):
    client = staff_sign_in(schools, "yc-clerk")
    token = client.cookies.get("cb_staff")
    out = client.post(
        "/staff/signout", data={"csrf_token": csrf(client, "/console/YCCEC")}, follow_redirects=False
    )
    assert out.status_code == 303 and out.headers["location"] == "/staff/signin"
    client.cookies.clear()
    client.cookies.set("cb_staff", token)
    assert client.get("/console/YCCEC", follow_redirects=False).status_code == 303


class TestOperatorSignIn:
    def test_password_and_code_open_the_office(self, schools):
        secret = add_operator(schools)
        client = operator_sign_in(schools, secret)
        home = client.get("/operator")
        assert home.status_code == 200 and "/operator/institutions" in home.text

    def test_a_wrong_code_is_a_clear_page_and_no_session(self, schools):
        secret = add_operator(schools)
        wrong = "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
        response = schools.post(
            "/operator/signin",
            data={
                "csrf_token": csrf(schools, "/operator/signin"),
                "username": "office",
                "password": STAFF_PASSWORD,
                "code": wrong,
            },
        )
        assert response.status_code == 401
        assert error_text(response).startswith("✗ 用户名、密码或六位动态验证码错误")
        assert "cb_staff" not in response.headers.get("set-cookie", "")
        assert 'value="office"' in response.text  # what was typed is kept, the secrets are not
        assert STAFF_PASSWORD not in response.text

    def test_an_operator_cannot_use_the_staff_console(self, schools):
        client = operator_sign_in(schools, add_operator(schools))
        assert client.get("/console/YCCEC", follow_redirects=False).status_code == 303


def test_guessing_passwords_is_stopped_after_ten_tries_a_minute(schools):
    token = csrf(schools, "/staff/signin")
    statuses = [
        schools.post(
            "/staff/signin", data={"csrf_token": token, "username": "yc-clerk", "password": f"guess {i:04d}"}
        ).status_code
        for i in range(11)
    ]
    assert statuses == [401] * 10 + [429]
