"""Stopping a share link asks first, as withdrawing a conversion request does: it cannot be undone
and everybody the learner sent the link to loses it. One tap on 立即停用这个链接 only asks; "No"
keeps the link; "Yes" stops it. Works without JavaScript (a link to the question, a form on it)."""

from __future__ import annotations

from tests.web.conftest import check, new_page
from tests.web.test_form_refusals import _activate
from tests.web.world import build


def _share(page) -> str:
    page.goto("/me/certificates/new")
    page.click("#issue-transcript")
    page.wait_for_selector("#done")
    page.click("#share")
    page.fill("#note", "应聘社区服务中心")
    page.click("#create-share")
    page.wait_for_selector("#done")
    return page.input_value("#link-url")


def test_stopping_a_link_asks_first_and_no_keeps_it(live, browser):
    world = build(live.client)
    page = new_page(browser, live.base)
    _activate(page, world)
    url = _share(page)
    page.click("#revoke-share")
    page.wait_for_selector("#confirm-revoke-share")
    assert "要停用这个链接吗" in page.inner_text("h1")
    assert "不能恢复" in page.inner_text("#what-happens") and "应聘社区服务中心" in page.inner_text("#link")
    check(page, "share-revoke-question")
    assert live.client.get(url).status_code == 200  # asking changed nothing
    page.click("#keep-share")
    page.wait_for_selector("#link[data-state=active]")
    assert live.client.get(url).status_code == 200

    page.click("#revoke-share")
    page.click("#confirm-revoke-share")
    page.wait_for_selector("#link[data-state=revoked]")
    assert live.client.get(url).status_code == 410
    page.goto(page.url + "/revoke")  # the question for a stopped link: nothing to stop
    assert page.locator("#not-revocable").count() == 1 and page.locator("#confirm-revoke-share").count() == 0


def test_without_javascript_in_english(live, browser):
    world = build(live.client)
    context = browser.new_context(base_url=live.base, java_script_enabled=False, locale="en-US")
    page = context.new_page()
    page.goto("/lang/en")
    _activate(page, world)
    url = _share(page)
    page.click("#revoke-share")
    assert page.inner_text("h1") == "Stop this link?"
    assert live.client.get(url).status_code == 200
    page.click("#confirm-revoke-share")
    page.wait_for_selector("#link[data-state=revoked]")
    assert live.client.get(url).status_code == 410
    context.close()
