"""The learner's and the employer's journey in Chromium, on SQLite and PostgreSQL (the suite's one
browser smoke test against a PostgreSQL bank), and every page checked with axe-core in both languages
at phone and desktop size on SQLite (screenshots saved)."""

from __future__ import annotations

import pytest

from tests.web.conftest import check, new_page
from tests.web.world import PASSWORD, build


def _activate(page, world) -> None:
    page.goto("/")
    page.click("#go-activate")
    page.fill("#account_no", world.account_no)
    page.fill("#activation_code", world.code)
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD)
    page.click("#activate")
    page.wait_for_url("**/me?welcome=1")


def _sign_in(page, world) -> None:
    page.goto("/signin")
    page.fill("#account_no", world.account_no)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url("**/me")


def _session_token(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "cb_session")


def test_learner_and_employer_journey(live_any_db, browser, tmp_path):
    live = live_any_db
    world = build(live.client)
    page = new_page(browser, live.base)

    # Activate with the slip's account number and code; the balance shown is the API's.
    _activate(page, world)
    check(page, "journey-balance")
    api = live.client.get("/api/v1/me/balance", headers={"Authorization": f"Bearer {_session_token(page)}"})
    assert int(page.get_attribute("#total", "data-units")) / 100 == api.json()["total"]
    assert "4.5 学分" in page.inner_text("#total")

    # Request a conversion: it shows as pending, in words.
    page.click("#go-conversions")
    assert page.get_attribute("[data-rule=AGRI-3]", "data-eligible") == "yes"
    page.click("#request-AGRI-3")
    page.wait_for_url("**/me/conversions/requests?done=1")
    assert page.locator("[data-state=pending]").count() == 1
    assert "等待学校审核" in page.inner_text("#requests")
    check(page, "journey-requests")

    # Asked by mistake: withdraw it, after a question in plain words; the credits come back.
    request_id = page.get_attribute("[data-state=pending]", "id")
    page.click(f"#withdraw-{request_id}")
    assert "学分会马上退回您的账户" in page.inner_text("#what-happens")
    check(page, "journey-withdraw")
    page.click("#confirm-withdraw")
    page.wait_for_url("**/me/conversions/requests?withdrawn=1*")
    assert page.get_attribute(f"[id='{request_id}']", "data-state") == "withdrawn"
    assert "已撤回" in page.inner_text("#requests") and "申请已撤回" in page.inner_text("#withdrawn")
    check(page, "journey-withdrawn")
    page.goto("/me/conversions")
    assert page.get_attribute("[data-rule=AGRI-3]", "data-eligible") == "yes"

    # Issue a transcript and download its PDF.
    page.goto("/me/certificates")
    page.click("#go-new-certificate")
    page.click("#issue-transcript")
    page.wait_for_selector("#done")
    with page.expect_download() as download:
        page.click("#download-pdf")
    pdf = tmp_path / "transcript.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")
    page.click("#show-qr")
    assert page.locator("#qr svg").count() == 1
    page.click("#back")

    # Share it, open the link signed out, revoke it: 已失效.
    page.click("#share")
    page.fill("#note", "应聘社区服务中心")
    page.click("#create-share")
    page.wait_for_selector("#done")
    url = page.input_value("#link-url")
    verifier = new_page(browser, live.base)
    opened = verifier.goto(url)
    assert opened.status == 200
    assert [a.get_attribute("data-verdict") for a in verifier.locator("article.shared").all()] == ["valid"]
    assert "张桂兰" in verifier.inner_text("main") and "应聘社区服务中心" in verifier.inner_text("main")
    assert world.account_no not in verifier.content()  # nothing else about the learner
    check(verifier, "journey-share-public")
    page.reload()
    assert page.get_attribute("#link-opened", "data-count") == "1"
    page.click("#revoke-share")  # asks first: it cannot be undone
    page.click("#confirm-revoke-share")
    page.wait_for_selector("#link[data-state=revoked]")
    gone = verifier.goto(url)
    assert gone.status == 410 and "已失效" in verifier.inner_text("#gone")
    check(verifier, "journey-share-gone")
    verifier.context.close()

    # The employer uploads the downloaded PDF: 有效.
    employer = new_page(browser, live.base, "desktop")
    employer.goto("/verify")
    employer.set_input_files("#file", str(pdf))
    employer.click("#check")
    assert employer.get_attribute("#verdict", "data-verdict") == "valid"
    assert "有效" in employer.inner_text("#verdict")
    check(employer, "journey-upload-result")
    employer.context.close()

    # Sign out ends the session: the old cookie no longer opens the portal.
    token = _session_token(page)
    page.click("#sign-out")
    page.wait_for_url("**/?signed_out=1")
    assert live.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    page.context.close()


def _pages(page, world, live) -> list[tuple[str, str]]:
    """Every portal page with the path that shows it (certificate, link, share made on the way)."""
    if not page.context.cookies() or all(c["name"] != "cb_session" for c in page.context.cookies()):
        _sign_in(page, world)
    return [
        ("/me", "balance"),
        ("/me/statement", "statement"),
        ("/me/conversions", "conversions"),
        ("/me/conversions/requests", "conversion-requests"),
        (f"/me/conversions/requests/{world.request}/withdraw", "conversion-withdraw"),
        ("/me/progress/OU-AGRI-DIP", "progress"),
        ("/me/certificates", "certificates"),
        ("/me/certificates/new", "certificate-new"),
        (f"/me/certificates/{world.cert}", "certificate"),
        (f"/me/certificates/{world.cert}/qr", "certificate-qr"),
        ("/me/share", "share-links"),
        ("/me/share/new", "share-new"),
        (f"/me/share/{world.link}", "share-link"),
        (f"/me/share/{world.link}/revoke", "share-revoke"),
        (f"/me/certificates/{world.other_certificate}", "error-not-yours"),
        (f"/s/{world.link}", "share-public"),
        (f"/s/{world.other_link}", "share-gone"),
        ("/verify", "verify-upload"),
        (f"/v/{world.cert}", "verify-page"),
        ("/v/crt_madeupnumber0", "verify-unknown"),
    ]


def test_every_page_is_accessible_in_both_languages_and_sizes(live_sqlite, browser):
    live = live_sqlite
    world = build(live.client)
    page = new_page(browser, live.base)
    _activate(page, world)
    # Things to show: a pending request, a certificate, a link, and the other learner's revoked link.
    page.goto("/me/conversions")
    page.click("#request-AGRI-3")
    page.wait_for_url("**/me/conversions/requests?done=1")
    world.request = page.get_attribute("[data-state=pending]", "id")
    page.goto("/me/certificates/new")
    page.click("#issue-transcript")
    page.wait_for_selector("#done")
    world.cert = page.url.split("/")[-1].split("?")[0]
    page.click("#share")
    page.click("#create-share")
    page.wait_for_selector("#done")
    world.link = page.url.split("/")[-1].split("?")[0]
    token = live.client.post(
        "/api/v1/auth/token", json={"account_no": world.account_no, "password": PASSWORD}
    ).json()["access_token"]
    assert token
    live.client.cookies.set("cb_session", world.other_token)
    csrf = live.client.get("/me").text.split('name="csrf_token" value="')[1].split('"')[0]
    live.client.post(f"/me/share/{world.other_link}/revoke", data={"csrf_token": csrf})
    live.client.cookies.clear()
    page.context.close()

    for lang in ("zh", "en"):
        for size in ("phone", "desktop"):
            page = new_page(browser, live.base, size, lang)
            for path, name in _pages(page, world, live):
                page.goto(path)
                check(page, name)
            page.context.close()


@pytest.mark.parametrize("size", ["phone"])
def test_the_largest_text_still_fits_a_phone(live_sqlite, browser, size):
    world = build(live_sqlite.client)
    page = new_page(browser, live_sqlite.base, size)
    _activate(page, world)
    page.click("#switch-text")
    page.click("#switch-text")
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") == 30
    for path in ("/me", "/me/statement", "/me/conversions", "/me/progress/OU-AGRI-DIP"):
        page.goto(path)
        check(page, "xl-" + path.strip("/").replace("/", "-"))
    page.context.close()
