"""The district office forces the revocation of a record a conversion used, in its pages: it finds the
record (by id, or from the learner's page), reads what will be undone before anything changes — the
record, the conversion, the certificates, the learner's balance before and after — gives a reason and
confirms; a second submit revokes nothing twice; refusals are pages in words, never a 500."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from creditbank.completions.models import Completion
from creditbank.staff.models import StaffAction
from tests.web.conftest import check, new_page
from tests.web.staffworld import (
    STAFF_PASSWORD,
    add_operator,
    add_staff,
    csrf,
    operator_sign_in,
    staff_sign_in,
    totp_code,
)
from tests.web.test_office import error_text
from tests.web.world import PASSWORD, build, completion_id


def converted(client) -> dict:
    """张桂兰 converts 3 community credits (YC-ELEC 1.5 and 1.5 of YC-FARM's 2) into OU-AGRI (2
    credits); it is approved, and she has a transcript and a conversion certificate made. Her
    YC-ELEC record was entered by mistake: only the office can take it back now."""
    world = build(client)
    token = client.post(
        "/api/v1/auth/activate",
        json={"account_no": world.account_no, "activation_code": world.code, "password": PASSWORD},
    ).json()["access_token"]
    me = {"Authorization": f"Bearer {token}"}
    asked = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=me)
    assert asked.status_code == 201, asked.text
    conversion = asked.json()["id"]
    decided = client.post(
        f"/api/v1/conversions/{conversion}/decide", json={"decision": "approve"}, headers=world.ou
    )
    assert decided.status_code == 200, decided.text
    transcript = client.post("/api/v1/me/certificates", json={"kind": "transcript"}, headers=me)
    assert transcript.status_code == 201, transcript.text
    certified = client.post(
        "/api/v1/me/certificates", json={"kind": "conversion", "conversion_id": conversion}, headers=me
    )
    assert certified.status_code == 201, certified.text
    client.cookies.clear()
    return {
        "world": world,
        "me": me,
        "elec": completion_id(client, world.account_no, "YC-ELEC"),
        "wechat": completion_id(client, world.account_no, "YC-WECHAT"),
        "conversion": conversion,
        "certificates": {transcript.json()["id"], certified.json()["id"]},
    }


@pytest.fixture
def bank(client):
    made = converted(client)
    operator_sign_in(client, add_operator(client))
    return made


def _ids(html: str, list_id: str) -> list[tuple[str, str]]:
    """(data-id, data-state or "") of each item of the list ``list_id``."""
    found = re.search(rf'id="{list_id}"[^>]*>(.*?)</ol>', html, re.S)
    assert found, f"no #{list_id}"
    return re.findall(r'<li data-id="([^"]+)"(?: data-state="([^"]+)")?', found.group(1))


def _balance(client, bank) -> float:
    return client.get("/api/v1/me/balance", headers=bank["me"]).json()["total"]


def _state(client, completion_id: str) -> str:
    with client.app.state.db.reader() as session:
        return session.get(Completion, completion_id).state


def _revoke(client, completion_id: str, reason: str, token: str | None = None):
    return client.post(
        f"/operator/completions/{completion_id}/revoke",
        data={
            "csrf_token": token or csrf(client, f"/operator/completions/{completion_id}"),
            "reason": reason,
        },
        follow_redirects=False,
    )


class TestThePreview:
    def test_it_lists_the_conversion_the_certificates_and_the_balance_before_anything_changes(
        self, client, bank
    ):
        page = client.get(f"/operator/completions/{bank['elec']}")
        assert page.status_code == 200
        assert "居民用电安全" in page.text and "张桂兰" in page.text and "永川区社区教育学院" in page.text
        assert _ids(page.text, "undo") == [(bank["conversion"], "approved")]
        undo = re.search(r'id="undo">(.*?)</ol>', page.text, re.S).group(1)
        assert "现代农业技术基础" in undo and "重庆开放大学永川分校" in undo
        listed = {i for i, _ in _ids(page.text, "certificates")}
        # The transcript and its lines for this record and for the converted course (its other lines
        # stay valid), the conversion certificate.
        assert bank["certificates"] < listed and len(listed) == 4
        change = re.search(r'id="balance-change" data-before="(\d+)" data-after="(\d+)">([^<]*)<', page.text)
        assert change.group(3).strip() == "张桂兰：现在 3.5 学分，撤销后 3 学分。"
        assert 'id="force-revoke"' in page.text
        # Reading it changed nothing.
        assert _state(client, bank["elec"]) == "active" and _balance(client, bank) == 3.5

    def test_in_english(self, client, bank):
        client.get("/lang/en")
        page = client.get(f"/operator/completions/{bank['elec']}")
        assert "What the forced revocation undoes" in page.text
        assert "3.5 credits now, 3 credits after the revocation" in page.text


class TestConfirming:
    def test_revokes_the_record_its_conversion_and_certificates_and_the_balance_is_as_foretold(
        self, client, bank
    ):
        preview = client.get(f"/operator/completions/{bank['elec']}").text
        foretold = int(re.search(r'data-after="(\d+)"', preview).group(1))
        done = _revoke(client, bank["elec"], "登记错误：学员未参加该课程")
        assert done.status_code == 303
        assert done.headers["location"] == f"/operator/completions/{bank['elec']}?done=revoked"
        page = client.get(done.headers["location"])
        assert 'id="revoked-notice"' in page.text and "已撤销" in page.text
        assert "登记错误：学员未参加该课程" in page.text and "区学分银行（office）" in page.text
        assert _ids(page.text, "conversions") == [(bank["conversion"], "reversed")]
        listed = {i for i, _ in _ids(page.text, "certificates")}
        assert bank["certificates"] < listed

        assert _state(client, bank["elec"]) == "revoked"
        assert _balance(client, bank) * 100 == foretold == 300
        mine = client.get("/api/v1/me/conversions", headers=bank["me"]).json()
        assert [c["state"] for c in mine] == ["reversed"]
        assert {client.get(f"/api/v1/verify/{c}").json()["verdict"] for c in listed} == {"revoked"}

    def test_the_office_log_records_it_like_its_other_changes(self, client, bank):
        _revoke(client, bank["elec"], "登记错误")
        with client.app.state.db.reader() as session:
            actions = (
                session.execute(select(StaffAction).where(StaffAction.action == "revoke")).scalars().all()
            )
        assert len(actions) == 1 and actions[0].operator_id is not None
        assert actions[0].subject.startswith(f"{bank['elec']} forced")
        assert bank["conversion"] in actions[0].subject and "登记错误" in actions[0].subject
        assert bank["elec"] in client.get("/operator").text

    def test_a_second_submit_revokes_nothing_twice(self, client, bank):
        token = csrf(client, f"/operator/completions/{bank['elec']}")
        first = _revoke(client, bank["elec"], "登记错误", token)
        again = _revoke(client, bank["elec"], "登记错误", token)
        assert first.status_code == again.status_code == 303
        assert first.headers["location"] == again.headers["location"]
        assert _balance(client, bank) == 3
        with client.app.state.db.reader() as session:
            logged = (
                session.execute(select(StaffAction).where(StaffAction.action == "revoke")).scalars().all()
            )
        assert len(logged) == 1


class TestCreditsHeldByAWaitingRequest:
    def test_the_request_is_ended_and_its_credits_released(self, client):
        """Not converted yet, but a request waiting for the open university's decision holds the
        credits (``lot_locked``): forcing ends the request; the balance loses only the record."""
        world = build(client)
        token = client.post(
            "/api/v1/auth/activate",
            json={"account_no": world.account_no, "activation_code": world.code, "password": PASSWORD},
        ).json()["access_token"]
        asked = client.post(
            "/api/v1/me/conversions",
            json={"rule_code": "AGRI-3"},
            headers={"Authorization": f"Bearer {token}"},
        )
        elec = completion_id(client, world.account_no, "YC-ELEC")
        client.cookies.clear()
        operator_sign_in(client, add_operator(client))
        page = client.get(f"/operator/completions/{elec}").text
        assert _ids(page, "undo") == [(asked.json()["id"], "pending")]
        assert "待审核：申请将被结束" in page and 'data-before="450" data-after="300"' in page
        assert _revoke(client, elec, "登记错误").status_code == 303
        ended = client.get("/api/v1/me/conversions", headers={"Authorization": f"Bearer {token}"}).json()
        assert [c["state"] for c in ended] == ["rejected"] and _state(client, elec) == "revoked"


class TestRefusals:
    def test_no_reason_is_said_beside_the_box_and_nothing_changes(self, client, bank):
        token = csrf(client, f"/operator/completions/{bank['elec']}")
        for data in ({"csrf_token": token, "reason": "   "}, {"csrf_token": token}):
            answer = client.post(f"/operator/completions/{bank['elec']}/revoke", data=data)
            assert answer.status_code == 422
            assert 'id="reason-problem"' in answer.text and "撤销原因" in answer.text
            assert 'id="force-revoke"' in answer.text  # the preview and the form again
        assert _state(client, bank["elec"]) == "active"

    def test_without_the_forms_token_nothing_changes(self, client, bank):
        answer = client.post(f"/operator/completions/{bank['elec']}/revoke", data={"reason": "登记错误"})
        assert answer.status_code == 403 and "表单已失效" in answer.text
        assert _state(client, bank["elec"]) == "active"

    def test_a_record_not_found_is_said_on_the_search_page(self, client, bank):
        answer = client.get("/operator/completions/cmp_nosuchrecord")
        assert answer.status_code == 404
        assert error_text(answer) == "✗ 找不到学习成果记录 cmp_nosuchrecord" and 'id="q"' in answer.text
        posted = _revoke(client, "cmp_nosuchrecord", "登记错误", csrf(client, "/operator/completions"))
        assert posted.status_code == 404 and 'id="q"' in posted.text

    def test_a_record_no_conversion_used_is_left_to_its_institution(self, client, bank):
        page = client.get(f"/operator/completions/{bank['wechat']}")
        assert page.status_code == 200 and 'id="force-revoke"' not in page.text
        notice = re.search(r'id="not-converted">([^<]*)<', page.text).group(1)
        assert "没有被学分转换使用" in notice and "永川区社区教育学院" in notice and "审批员" in notice
        refused = _revoke(
            client, bank["wechat"], "登记错误", csrf(client, f"/operator/completions/{bank['elec']}")
        )
        assert refused.status_code == 409 and "没有被学分转换使用" in error_text(refused)
        assert _state(client, bank["wechat"]) == "active"

    def test_a_record_revoked_already_says_by_whom(self, client, bank):
        token = csrf(client, f"/operator/completions/{bank['elec']}")
        revoked = client.post(
            f"/api/v1/completions/{bank['wechat']}/revoke",
            json={"reason": "重复登记"},
            headers=bank["world"].yc,
        )
        assert revoked.status_code == 200
        refused = _revoke(client, bank["wechat"], "登记错误", token)
        assert refused.status_code == 409 and error_text(refused) == "✗ 该记录已撤销"
        assert "永川区社区教育学院（API）" in re.search(r'id="revoked-by">([^<]*)<', refused.text).group(1)
        assert "重复登记" in refused.text

    def test_staff_get_the_403_page(self, client, bank):
        add_staff(client, "YCCEC", "yc-approver", "approver")
        staff_sign_in(client, "yc-approver")
        for path in ("/operator/completions", f"/operator/completions/{bank['elec']}"):
            answer = client.get(path)
            assert answer.status_code == 403 and answer.headers["content-type"].startswith("text/html")


class TestFinding:
    def test_by_record_id_or_account_number(self, client, bank):
        by_id = client.get(f"/operator/completions?q=+{bank['elec']}+", follow_redirects=False)
        assert (
            by_id.status_code == 303 and by_id.headers["location"] == f"/operator/completions/{bank['elec']}"
        )
        account = bank["world"].account_no
        by_account = client.get(f"/operator/completions?q={account.lower()}", follow_redirects=False)
        assert by_account.headers["location"] == f"/operator/learners/{account}#records"

    def test_the_learners_page_lists_every_record_and_says_which_only_the_office_can_revoke(
        self, client, bank
    ):
        page = client.get(f"/operator/learners/{bank['world'].account_no}").text
        assert {i for i, _ in _ids(page, "record-list")} >= {bank["elec"], bank["wechat"]}
        elec = re.search(rf'<li data-id="{bank["elec"]}".*?</li>', page, re.S).group(0)
        assert f'href="/operator/completions/{bank["elec"]}"' in elec and "只有区学分银行可以撤销" in elec
        home = client.get("/operator").text
        assert 'href="/operator/completions"' in home


def test_an_office_clerk_forces_a_revocation_in_chromium(live, browser):
    """From the office's start page to the learner's records, the preview, a reason left out, then
    confirmed — on a phone, checked by axe, nothing scrolling sideways."""
    bank = converted(live.client)
    secret = add_operator(live.client)
    page = new_page(browser, live.base, "phone")
    page.goto("/operator/signin")
    page.fill("#username", "office")
    page.fill("#password", STAFF_PASSWORD)
    page.fill("#code", totp_code(secret))
    page.click("#sign-in")
    page.wait_for_url("**/operator")
    page.click("#go-force-revoke")
    page.wait_for_url("**/operator/completions")
    check(page, "operator-record-find")
    page.fill("#q", bank["world"].account_no)
    page.click("#find")
    page.wait_for_selector("#record-list")
    check(page, "operator-learner-records")
    page.click(f"#open-{bank['elec']}")
    page.wait_for_selector("#undo")
    assert "撤销后 3 学分" in page.inner_text("#balance-change")
    assert bank["conversion"] in page.inner_text("#undo")
    check(page, "operator-record-preview")
    page.click("#force-revoke")  # no reason: the browser sends the form (novalidate), the page says so
    page.wait_for_selector("#reason-problem")
    assert live.client.get("/api/v1/me/balance", headers=bank["me"]).json()["total"] == 3.5
    page.fill("#reason", "登记错误：学员未参加该课程")
    page.click("#force-revoke")
    page.wait_for_selector("#revoked-notice")
    assert "3 学分" in page.inner_text("#revoked-notice")
    assert page.get_attribute("#record", "data-state") == "revoked"
    check(page, "operator-record-revoked")
    assert live.client.get("/api/v1/me/balance", headers=bank["me"]).json()["total"] == 3
