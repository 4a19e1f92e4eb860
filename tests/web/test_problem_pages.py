"""A problem's ``type`` (and did.json's vocabulary term) opened in Chromium: the page is there, readable and
accessible at both sizes and in both page languages (its text is Chinese first, English second)."""

from __future__ import annotations

import pytest

from tests.web.conftest import check, new_page


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_a_problems_type_opens_in_the_browser(live_sqlite, browser, lang, size):
    answer = live_sqlite.client.get("/api/v1/me", headers={"Accept-Language": lang}).json()
    assert answer["code"] == "unauthorized"
    # The bank's own address (keys/issuer.json, here the live server's), not the test client's host.
    assert answer["type"] == f"{live_sqlite.base}/problems/unauthorized"
    page = new_page(browser, live_sqlite.base, size, lang)
    response = page.goto(answer["type"])
    assert response is not None and response.status == 200
    assert page.locator("h1").inner_text() == "unauthorized"
    assert page.locator("#status").inner_text() == "401 未认证 · Unauthorized"
    zh, en = page.locator("#zh"), page.locator("#en")
    assert zh.get_attribute("lang") == "zh-CN" and en.get_attribute("lang") == "en"
    assert "需要登录或有效的令牌" in zh.inner_text() and "A valid token is required" in en.inner_text()
    assert "POST /api/v1/auth/token" in zh.inner_text()
    # Chinese above English on the screen too.
    assert zh.bounding_box()["y"] < en.bounding_box()["y"]  # type: ignore[index]
    check(page, "problem")
    page.click("#all-codes")
    assert page.locator("#code-unauthorized td").nth(1).inner_text() == "401"
    check(page, "problems")
    page.context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_vocabulary_term_did_json_names_opens_in_the_browser(live_sqlite, browser, lang):
    did = live_sqlite.client.get("/.well-known/did.json").json()
    iri = did["@context"][-1]["creditbank_pdf_seals_since"]["@id"]
    assert iri == f"{live_sqlite.base}/ns#pdfSealsSince"
    page = new_page(browser, live_sqlite.base, "phone", lang)
    response = page.goto(iri)
    assert response is not None and response.status == 200
    term = page.locator("#pdfSealsSince")
    assert "PDF 封印起始时间" in term.inner_text() and "PDFs sealed since" in term.inner_text()
    check(page, "vocabulary")
    page.context.close()
