"""The console never leaves its staff on a bare error page with only 回到首页: a learner it cannot
show is said on the search page inside the console; who revokes a mistake is named (or who can make
an approver, when the institution has none); a revocation refused because the credits were already
converted says what to do (the district office can force it)."""

from __future__ import annotations

import pytest

from creditbank.kit import tokens
from creditbank.learners import service as learners
from tests.conftest import completion_body
from tests.web.conftest import check, new_page
from tests.web.consoleworld import build
from tests.web.staffworld import (
    STAFF_PASSWORD,
    add_operator,
    add_staff,
    csrf,
    operator_sign_in,
    staff_sign_in,
)
from tests.web.test_console import error_text


def _mistyped(account_no: str) -> str:
    """The same number with another check character: what a clerk copying it wrongly types."""
    last = account_no[-1]
    return account_no[:-1] + ("1" if last != "1" else "2")


@pytest.fixture
def world(client):
    return build(client)


class TestALearnerNotShown:
    def test_a_mistyped_account_number_is_said_on_the_console_search_page(self, client, world):
        staff_sign_in(client, "yc-clerk")
        wrong = _mistyped(world.people[0])
        page = client.get(f"/console/YCCEC/learners/{wrong.lower()}")
        assert page.status_code == 404
        assert f"找不到学习账户 {wrong.lower()}" in page.text
        assert "校验位" in page.text and 'id="typo"' in page.text
        assert f'name="account_no" value="{wrong}"' in page.text  # the search box, as typed
        assert 'class="staffnav"' in page.text and "回到首页" not in page.text

    def test_another_institutions_learner_is_not_found_and_says_whom_to_ask(self, client, world):
        other = learners_of_ou(client, world)
        staff_sign_in(client, "yc-clerk")
        page = client.get(f"/console/YCCEC/learners/{other}")
        assert page.status_code == 404 and 'id="whose"' in page.text and 'id="typo"' not in page.text
        assert "这里只能打开本机构开户或教过的学习者" in page.text and 'class="staffnav"' in page.text
        nowhere = tokens.new_account_no()
        never = client.get(f"/console/YCCEC/learners/{nowhere}")
        # The same page for an account that exists elsewhere as for one that exists nowhere (no probing).
        assert never.status_code == 404
        assert error_text(never).replace(nowhere, "X") == error_text(page).replace(other, "X")

    def test_a_name_correction_for_a_learner_not_shown_stays_in_the_console(self, client, world):
        staff_sign_in(client, "yc-clerk")
        wrong = _mistyped(world.people[0])
        token = csrf(client, "/console/YCCEC/learners")
        answer = client.post(
            f"/console/YCCEC/learners/{wrong}/name",
            data={"csrf_token": token, "name": "张桂芝", "reason": "错字"},
        )
        assert answer.status_code == 404 and 'class="staffnav"' in answer.text and 'id="typo"' in answer.text

    def test_the_office_likewise(self, client, world):
        operator_sign_in(client, add_operator(client))
        page = client.get(f"/operator/learners/{_mistyped(world.people[0])}")
        assert page.status_code == 404 and 'id="typo"' in page.text and 'class="staffnav"' in page.text
        assert 'id="whose"' not in page.text


def learners_of_ou(client, world) -> str:
    from tests.conftest import learner

    return learner(client, world.ou, name="赵大海")["account_no"]


class TestWhoRevokes:
    def test_a_clerk_of_an_institution_without_an_approver_is_told_who_can_make_one(self, client, world):
        posted = client.post("/api/v1/completions", json=completion_body(world.people[0]), headers=world.yc)
        assert posted.status_code == 201
        with client.app.state.db.unit_of_work() as session:  # YCCEC as in the demo: a clerk only
            from sqlmodel import select

            from creditbank.staff.models import StaffAccount

            for account in session.exec(select(StaffAccount).where(StaffAccount.username == "yc-approver")):
                session.delete(account)
        staff_sign_in(client, "yc-clerk")
        page = client.get("/console/YCCEC/completions")
        assert "本机构还没有审批员：请联系区学分银行为本机构添加审批员账号" in page.text
        client.get("/lang/en")
        page = client.get("/console/YCCEC/completions")
        assert "your institution has none yet: ask the district learning-credit bank office" in page.text

    def test_a_clerk_is_told_the_approvers_names(self, client, world):
        client.post("/api/v1/completions", json=completion_body(world.people[0]), headers=world.yc)
        add_staff(client, "YCCEC", "yc-approver-2", "approver")
        staff_sign_in(client, "yc-clerk")
        page = client.get("/console/YCCEC/completions")
        assert "登记错误的记录由本机构的审批员（yc-approver 老师、yc-approver-2 老师）撤销" in page.text


class TestCreditsAlreadyConverted:
    def _converted(self, client, world) -> str:
        person = world.people[0]
        ids = []
        for code in ("YC-ELEC", "YC-FARM"):
            posted = client.post("/api/v1/completions", json=completion_body(person, code), headers=world.yc)
            ids.append(posted.json()["id"])
        with client.app.state.db.unit_of_work() as session:
            token = learners.open_session(session, learners.by_account_no(session, person))
        asked = client.post(
            "/api/v1/me/conversions",
            json={"rule_id": world.rule_id},
            headers={"Authorization": f"Bearer {token}"},
        )
        conversion_id = asked.json()["id"]
        staff_sign_in(client, "ou-approver")
        token = csrf(client, "/console/CQOUYC/conversions")
        decided = client.post(
            f"/console/CQOUYC/conversions/{conversion_id}",
            data={"csrf_token": token, "decision": "approve"},
            follow_redirects=False,
        )
        assert decided.status_code == 303
        return ids[0]

    def test_the_refusal_says_to_ask_the_office_for_a_forced_revocation(self, client, world):
        completion_id = self._converted(client, world)
        staff_sign_in(client, "yc-approver")
        token = csrf(client, "/console/YCCEC/completions")
        answer = client.post(
            f"/console/YCCEC/completions/{completion_id}/revoke",
            data={"csrf_token": token, "reason": "登记错了", "account_no": world.people[0]},
        )
        assert answer.status_code == 409
        assert error_text(answer).startswith(
            "✗ 该学分已用于学分转换，不能直接撤销。如确需撤销，请联系区学分银行：只有区学分银行可以强制撤销"
        )
        client.get("/lang/en")
        answer = client.post(
            f"/console/YCCEC/completions/{completion_id}/revoke",
            data={"csrf_token": token, "reason": "entered wrongly", "account_no": world.people[0]},
        )
        assert "cannot simply be revoked. If it must be revoked all the same, ask the district" in error_text(
            answer
        )

    def test_what_it_promises_the_office_can_do(self, client, world):
        completion_id = self._converted(client, world)
        from tests.conftest import OPERATOR

        forced = client.post(
            f"/api/v1/completions/{completion_id}/revoke",
            json={"reason": "登记错了", "force": True},
            headers=OPERATOR,
        )
        assert forced.status_code == 200 and forced.json()["state"] == "revoked"


def test_a_mistyped_learner_in_chromium_stays_in_the_console(live, browser):
    world = build(live.client)
    page = new_page(browser, live.base)
    page.goto("/staff/signin?next=/console/YCCEC/learners")
    page.fill("#username", "yc-clerk")
    page.fill("#password", STAFF_PASSWORD)
    page.click("#sign-in")
    page.wait_for_url("**/console/YCCEC/learners")
    page.fill("#account_no", _mistyped(world.people[0]))
    page.click("#find")
    page.wait_for_selector("#typo")
    assert page.locator("nav.staffnav").is_visible() and page.locator("text=回到首页").count() == 0
    check(page, "console-learner-not-found")
    page.fill("#account_no", world.people[0])
    page.click("#find")
    page.wait_for_selector("#learner-name")
