"""A new activation slip from the console and the district office's pages (a forgotten password).

Before: re-enrolling an activated learner at /console/YCCEC/enrol showed 这个账户已激活 with no code
and no page could issue one, while /signin sent the learner to the school for a new slip. The page
tests run on both databases (TestClient); the journey runs in Chromium (SQLite).
"""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from creditbank.staff.models import StaffAction
from tests.conftest import completion_body, learner, signed_in
from tests.web.conftest import check, new_page
from tests.web.consoleworld import build
from tests.web.staffworld import STAFF_PASSWORD, add_operator, csrf, operator_sign_in, staff_sign_in

OLD, NEW = "竹林深处2026", "新密码-萱花社区"
CODE = re.compile(r'id="slip-code">([\d ]+)<')


@pytest.fixture
def world(client):
    return build(client)


def _activated(client, world) -> dict:
    """A learner YCCEC enrolled, activated with the old password: account, ID number, bearer header."""
    person = learner(client, world.yc, "赵淑华")
    return person | {"headers": signed_in(client, person, OLD)}


def _issue(client, base: str, account: str, **form):
    path = f"{base}/learners/{account}/activation-slip"
    return client.post(path, data={"csrf_token": csrf(client, path)} | form)


class TestTheConsolesNewSlip:
    def test_a_clerk_confirms_prints_the_slip_and_the_log_names_them_never_the_code(self, client, world):
        person = _activated(client, world)
        staff_sign_in(client, "yc-clerk")
        form = client.get(f"/console/YCCEC/learners/{person['account_no']}/activation-slip")
        assert form.status_code == 200 and 'id="issue-new-slip"' in form.text
        unticked = _issue(client, "/console/YCCEC", person["account_no"])
        assert unticked.status_code == 422 and "身份证" in unticked.text and not CODE.search(unticked.text)

        issued = _issue(client, "/console/YCCEC", person["account_no"], checked="yes")
        assert issued.status_code == 201, issued.text
        code = CODE.search(issued.text).group(1)
        assert 'id="old-password"' in issued.text
        # The old session still works until the code is used; then it ends.
        assert client.get("/api/v1/me", headers=person["headers"]).status_code == 200
        used = client.post(
            "/api/v1/auth/activate",
            json={"account_no": person["account_no"], "activation_code": code, "password": NEW},
        )
        assert used.status_code == 200, used.text
        assert client.get("/api/v1/me", headers=person["headers"]).status_code == 401
        with client.app.state.db.reader() as session:
            rows = session.exec(select(StaffAction).where(StaffAction.action == "new activation slip")).all()
        assert [(r.subject, r.staff_id is not None) for r in rows] == [(person["account_no"], True)]
        assert code.replace(" ", "") not in rows[0].subject.replace(" ", "")

    def test_an_approver_who_is_not_a_clerk_another_school_and_a_stranger_are_refused(self, client, world):
        person = _activated(client, world)
        staff_sign_in(client, "yc-approver")
        assert (
            client.get(f"/console/YCCEC/learners/{person['account_no']}/activation-slip").status_code == 403
        )
        # CQOUYC taught the learner (so it sees the account) but did not enrol them: told who can.
        taught = client.post(
            "/api/v1/completions", json=completion_body(person["account_no"], "OU-AGRI"), headers=world.ou
        )
        assert taught.status_code == 201, taught.text
        staff_sign_in(client, "ou-clerk")
        page = client.get(f"/console/CQOUYC/learners/{person['account_no']}/activation-slip")
        assert page.status_code == 403 and "永川区社区教育学院" in page.text
        assert 'id="issue-new-slip"' not in page.text
        refused = _issue(client, "/console/CQOUYC", person["account_no"], checked="yes")
        assert refused.status_code == 403 and not CODE.search(refused.text)
        # Another school's console page for this school: the usual 403.
        assert (
            client.get(f"/console/YCCEC/learners/{person['account_no']}/activation-slip").status_code == 403
        )
        with client.app.state.db.reader() as session:
            assert (
                session.exec(select(StaffAction).where(StaffAction.action == "new activation slip")).all()
                == []
            )

    def test_re_enrolling_an_activated_learner_offers_the_new_slip(self, client, world):
        person = _activated(client, world)
        staff_sign_in(client, "yc-clerk")
        again = client.post(
            "/console/YCCEC/enrol",
            data={
                "csrf_token": csrf(client, "/console/YCCEC/enrol"),
                "name": "赵淑华",
                "national_id": person["national_id"],
            },
        )
        assert again.status_code == 200 and 'id="slip-activated"' in again.text
        assert f'href="/console/YCCEC/learners/{person["account_no"]}/activation-slip"' in again.text

    def test_the_district_office_issues_one_for_any_learner(self, client, world):
        person = _activated(client, world)
        operator_sign_in(client, add_operator(client))
        issued = _issue(client, "/operator", person["account_no"], checked="yes")
        assert issued.status_code == 201, issued.text
        assert CODE.search(issued.text)
        with client.app.state.db.reader() as session:
            row = session.exec(select(StaffAction).where(StaffAction.action == "new activation slip")).one()
        assert row.operator_id is not None and row.subject == person["account_no"]


class TestTheLearnerIsTold:
    """A slip the learner did not ask for must not go unnoticed: /me names who issued it, and when,
    until its code is used (then the notice goes), never the code."""

    @staticmethod
    def _me(client, token: str, lang: str = "zh") -> str:
        client.cookies.set("cb_session", token)
        client.cookies.set("cb_lang", lang)
        page = client.get("/me")
        assert page.status_code == 200, page.text
        return page.text

    def test_me_names_the_institution_until_the_new_code_is_used(self, client, world):
        person = _activated(client, world)
        token = person["headers"]["Authorization"].removeprefix("Bearer ")
        assert 'id="new-slips"' not in self._me(client, token)
        staff_sign_in(client, "yc-clerk")
        issued = _issue(client, "/console/YCCEC", person["account_no"], checked="yes")
        assert issued.status_code == 201, issued.text
        code = CODE.search(issued.text).group(1)

        page = self._me(client, token)
        assert "永川区社区教育学院 于 " in page and "（北京时间） 为您发放了新的激活单" in page
        assert "如果不是您本人申请，请联系该机构或区学分银行" in page
        assert code not in page and code.replace(" ", "") not in page
        english = self._me(client, token, "en")
        assert "永川区社区教育学院 issued you a new activation slip on " in english
        assert "(Beijing time)" in english and "please contact that institution" in english

        used = client.post(
            "/api/v1/auth/activate",
            json={"account_no": person["account_no"], "activation_code": code, "password": NEW},
        )
        assert used.status_code == 200, used.text
        page = self._me(client, used.json()["access_token"])
        assert 'id="new-slips"' not in page and "激活单" not in page

    def test_a_slip_from_the_district_office_names_the_district_office(self, client, world):
        person = _activated(client, world)
        token = person["headers"]["Authorization"].removeprefix("Bearer ")
        operator_sign_in(client, add_operator(client))
        assert _issue(client, "/operator", person["account_no"], checked="yes").status_code == 201
        page = self._me(client, token)
        assert "区学分银行 于 " in page and "为您发放了新的激活单" in page


def test_the_clerk_issues_a_new_slip_and_the_learner_gets_back_in_with_a_new_password(live, browser):
    """The reviewer's case in Chromium: the clerk re-enrols the learner who forgot their password,
    follows 忘记密码？重新发放激活单, confirms, and prints the slip; the learner activates with it, and
    the phone still signed in with the old password is signed out."""
    world = build(live.client)
    person = _activated(live.client, world)
    learner_phone = new_page(browser, live.base, "phone")
    learner_phone.goto("/signin")
    learner_phone.fill("#account_no", person["account_no"])
    learner_phone.fill("#password", OLD)
    learner_phone.click("#sign-in")
    learner_phone.wait_for_url("**/me")

    desk = new_page(browser, live.base, "desktop")
    desk.goto("/staff/signin")
    desk.fill("#username", "yc-clerk")
    desk.fill("#password", STAFF_PASSWORD)
    desk.click("#sign-in")
    desk.wait_for_url("**/console/*")
    desk.goto("/console/YCCEC/enrol")
    desk.fill("#name", "赵淑华")
    desk.fill("#national_id", person["national_id"])
    desk.click("button[type=submit]")
    desk.wait_for_selector("#slip-activated")
    desk.click("#go-new-slip")
    desk.wait_for_selector("#issue-new-slip")
    check(desk, "console-new-slip-confirm")
    desk.click("#issue-new-slip")  # not ticked: the browser would submit it; the bank refuses
    desk.wait_for_selector("#error")
    assert "身份证" in desk.inner_text("#error")
    desk.check("#checked-id")
    desk.click("#issue-new-slip")
    desk.wait_for_selector("#slip-code")
    check(desk, "console-new-slip")
    code = desk.inner_text("#slip-code")
    assert desk.inner_text("#slip-account") == person["account_no"]

    fresh = new_page(browser, live.base, "phone")
    fresh.goto("/activate")
    fresh.fill("#account_no", person["account_no"])
    fresh.fill("#activation_code", code)
    fresh.fill("#password", NEW)
    fresh.fill("#password_again", NEW)
    fresh.click("#activate")
    fresh.wait_for_url("**/me?welcome=1")

    learner_phone.goto("/me")
    learner_phone.wait_for_url("**/signin**")  # the old session ended
    learner_phone.fill("#account_no", person["account_no"])
    learner_phone.fill("#password", OLD)
    learner_phone.click("#sign-in")
    learner_phone.wait_for_selector("#error")
    for page in (learner_phone, desk, fresh):
        page.context.close()
