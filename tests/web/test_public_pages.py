"""Public pages in Chromium: accessible, no sideways scroll, both languages and both sizes."""

from __future__ import annotations

import pytest

from tests.web.conftest import axe_violations, check, new_page

PUBLIC = [("/", "home"), ("/signin", "signin"), ("/activate", "activate"), ("/no-such-page", "not-found")]


def test_the_accessibility_check_catches_a_real_violation(browser):
    """The axe helper is not a test that cannot fail: an image without alt text is reported."""
    page = new_page(browser, "http://127.0.0.1:9")
    page.set_content(
        '<html lang="en"><head><title>t</title></head><body><main><img src="x.png"></main></body></html>'
    )
    assert "image-alt" in {v["id"] for v in axe_violations(page)}
    page.context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_public_pages_are_accessible_at_both_sizes(live_sqlite, browser, lang, size):
    page = new_page(browser, live_sqlite.base, size, lang)
    for path, name in PUBLIC:
        page.goto(path)
        check(page, name)
    page.context.close()


def test_the_larger_text_switch_reaches_30px_and_is_remembered(live_sqlite, browser):
    page = new_page(browser, live_sqlite.base)
    page.goto("/signin")
    sizes = []
    for _ in range(3):
        sizes.append(page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)"))
        page.click("#switch-text")
    assert sizes == [18, 24, 30]
    page.goto("/activate")
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") == 18  # cycled back
    page.click("#switch-text")
    page.click("#switch-text")
    page.goto("/")
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") == 30
    check(page, "home-xl")
    page.context.close()


def test_docs_and_redoc_render_with_no_network_but_the_bank(live_sqlite, browser):
    page = new_page(browser, live_sqlite.base, "desktop")
    outside = []
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(live_sqlite.base)
            else (outside.append(route.request.url), route.abort())
        ),
    )
    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=20000)
    page.goto("/redoc")
    page.wait_for_selector("[role=navigation], .menu-content", timeout=30000)
    # ReDoc's "API docs by Redocly" footer points at its logo on a CDN: the CSP blocks it, and that
    # decorative image is the only thing missing offline.
    blocked = [v for v in page.context.csp_violations if "cdn.redoc.ly/redoc/logo-mini.svg" not in v]
    assert outside == [] and blocked == []
    page.context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_staff_and_the_district_office_find_their_sign_in_from_the_home_page(live_sqlite, browser, lang):
    """Before: /staff/signin and /operator/signin were only printed in the terminal at start."""
    page = new_page(browser, live_sqlite.base, "phone", lang)
    page.goto("/")
    words = {
        "zh": ("机构工作人员登录", "区学分银行管理员登录", "工作人员登录", "区学分银行管理员登录"),
        "en": (
            "Institution staff sign-in",
            "District office sign-in",
            "Staff sign-in",
            "District office sign-in",
        ),
    }[lang]
    page.get_by_role("link", name=words[0]).click()
    page.wait_for_url("**/staff/signin")
    assert page.inner_text("h1") == words[2]
    page.go_back()
    page.get_by_role("link", name=words[1]).click()
    page.wait_for_url("**/operator/signin")
    assert page.inner_text("h1") == words[3]
    page.goto("/")
    check(page, "home-staff-links")
    page.context.close()
