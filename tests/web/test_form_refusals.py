"""A refused form comes back as the same form in Chromium: why, beside the field it is about, and what
was chosen and typed still there (as the activation, enrolment and completion forms do) — never a
dead-end page with only 回到首页. On SQLite (the database changes nothing here: each refusal stores
nothing, which tests/web/test_portal.py and test_console.py check on both databases)."""

from __future__ import annotations

import io

from PIL import Image

from creditbank.learners import service as learners
from tests.conftest import completion_body
from tests.web import consoleworld
from tests.web.conftest import check, new_page
from tests.web.staffworld import STAFF_PASSWORD
from tests.web.world import PASSWORD, build


def _activate(page, world) -> str:
    page.goto("/activate")
    page.fill("#account_no", world.account_no)
    page.fill("#activation_code", world.code)
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD)
    page.click("#activate")
    page.wait_for_url("**/me?welcome=1")
    return next(c["value"] for c in page.context.cookies() if c["name"] == "cb_session")


def test_a_share_link_without_a_certificate_keeps_the_lifetime_and_the_note(live, browser):
    world = build(live.client)
    page = new_page(browser, live.base)
    token = _activate(page, world)
    issued = live.client.post(
        "/api/v1/me/certificates", json={"kind": "transcript"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert issued.status_code == 201, issued.text
    page.goto("/me/share/new")
    page.uncheck("input[name=certificate_id]")
    page.check("input[name=days][value='90']")
    page.fill("#note", "应聘社区服务中心")
    with page.expect_response("**/me/share") as answer:
        page.click("#create-share")
    assert answer.value.status == 422
    error = page.locator("fieldset:has(input[name=certificate_id]) #error")
    assert error.inner_text() == "✗ 请至少选择一份证书"
    assert page.is_checked("input[name=days][value='90']") and page.input_value("#note") == "应聘社区服务中心"
    assert page.locator("text=回到首页").count() == 0
    check(page, "share-new-refused")

    page.check("input[name=certificate_id]")
    page.click("#create-share")
    page.wait_for_selector("#done")
    assert "应聘社区服务中心" in page.content()


def test_a_rejection_without_a_reason_stays_on_the_queue_beside_that_request(live, browser):
    world = consoleworld.build(live.client)
    person = world.people[0]
    for code in ("YC-ELEC", "YC-FARM"):
        posted = live.client.post("/api/v1/completions", json=completion_body(person, code), headers=world.yc)
        assert posted.status_code == 201, posted.text
    with live.app.state.db.unit_of_work() as session:
        token = learners.open_session(session, learners.by_account_no(session, person))
    asked = live.client.post(
        "/api/v1/me/conversions",
        json={"rule_id": world.rule_id},
        headers={"Authorization": f"Bearer {token}"},
    )
    conversion_id = asked.json()["id"]

    page = new_page(browser, live.base)
    page.goto("/staff/signin?next=/console/CQOUYC/conversions")
    page.fill("#username", "ou-approver")
    page.fill("#password", STAFF_PASSWORD)
    page.click("#sign-in")
    page.wait_for_url("**/console/CQOUYC/conversions")
    page.fill(f"#reason-{conversion_id}", "   ")
    with page.expect_response(f"**/conversions/{conversion_id}") as answer:
        page.click(f"#reject-{conversion_id}")
    assert answer.value.status == 422
    section = page.locator(f"[data-conversion='{conversion_id}']")
    error = section.locator("#error")
    assert error.inner_text() == "✗ 拒绝时请在框中写明理由，申请人会看到。"
    assert "reason" not in error.inner_text() and page.locator("text=回到首页").count() == 0
    check(page, "console-conversions-refused")

    page.fill(f"#reason-{conversion_id}", "证书未在有效期内")
    page.click(f"#reject-{conversion_id}")
    page.wait_for_selector("#decided")
    mine = live.client.get("/api/v1/me/conversions", headers={"Authorization": f"Bearer {token}"}).json()
    assert [(c["id"], c["state"]) for c in mine] == [(conversion_id, "rejected")]


def test_a_photo_without_a_qr_code_is_said_on_the_upload_form(live, browser):
    blank = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(blank, "PNG")
    page = new_page(browser, live.base)
    page.goto("/verify")
    page.set_input_files(
        "#file", files=[{"name": "照片.png", "mimeType": "image/png", "buffer": blank.getvalue()}]
    )
    with page.expect_response("**/verify") as answer:
        page.click("#check")
    assert answer.value.status == 422
    error = page.locator("form #error")
    assert "图片中没有找到二维码" in error.inner_text()
    assert page.locator("#file").count() == 1 and page.locator("text=回到首页").count() == 0
    check(page, "verify-refused")
