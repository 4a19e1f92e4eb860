"""The district office in Chromium (on SQLite: the figures' queries run on both
databases in tests/stats and tests/web/test_stats_pages.py): sign in with password + TOTP, enter a
district's resident population, and the participation-rate chart's and table's numbers equal what the
test computes itself from what it posted; every statistics page at phone and desktop size, both
languages: axe (no serious or critical violation), no sideways scroll, no CSP violation, screenshots."""

from __future__ import annotations

import base64
import re

import pytest

from tests.web.conftest import DESKTOP, PHONE, check, new_page
from tests.web.staffworld import STAFF_PASSWORD, add_operator, totp_code
from tests.web.statsworld import PASSWORD, build

RESIDENTS = {"under_18": "40", "18_59": "120", "60_plus": "25"}


def _sign_in(page, secret: str) -> None:
    page.goto("/operator/stats")
    page.wait_for_url("**/operator/signin?next=/operator/stats")
    page.fill("#username", "office")
    page.fill("#password", STAFF_PASSWORD)
    page.fill("#code", totp_code(secret))
    page.click("#sign-in")
    page.wait_for_url("**/operator/stats")


def _table(page, name: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"#table-{name} tbody tr", "rows => rows.map(r => [...r.children].map(c => c.textContent.trim()))"
    )


def _chart_values(page, name: str) -> list[str]:
    """The numbers printed on the chart's bars, series by series, from the SVG the page shows."""
    src = page.get_attribute(f"#chart-{name}", "src")
    assert src.startswith("data:image/svg+xml;base64,")
    svg = base64.b64decode(src.split(",", 1)[1]).decode()
    return re.findall(r'<text[^>]*class="value[^"]*"[^>]*>([^<]*)</text>', svg)


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_operator_enters_a_population_and_the_rate_chart_and_table_show_the_tests_own_numbers(
    live, browser, size
):
    world = build(live.client)
    secret = add_operator(live.client)
    page = new_page(browser, live.base, size)
    _sign_in(page, secret)

    page.goto("/operator/stats/population")
    check(page, "stats-population")
    fieldset = page.locator("fieldset", has=page.locator("legend", has_text="永川区"))
    for band, residents in RESIDENTS.items():
        fieldset.locator(f"input[name='p|永川区|{band}']").fill(residents)
    page.click("#save-population")
    page.wait_for_url("**/operator/stats/population?saved=1")
    assert page.locator("#saved").is_visible()

    page.goto("/operator/stats")
    check(page, "stats-dashboard")
    rows = _table(page, "participation-rate")
    want = []
    total_learners = sum(world.learners[("永川区", b)] for b in RESIDENTS)
    total_residents = sum(int(n) for n in RESIDENTS.values())
    for band, residents in [("all", total_residents)] + [(b, int(n)) for b, n in RESIDENTS.items()]:
        learners = total_learners if band == "all" else world.learners[("永川区", band)]
        want.append((f"{learners:,}", f"{residents:,}", f"{learners / residents * 100:.1f} %"))
    assert [(r[2], r[3], r[4]) for r in rows] == want
    assert all(r[0] == "永川区" for r in rows)
    # The chart draws the rates (then the targets) and prints the same numbers.
    rates = [w[2].removesuffix(" %") for w in want]
    printed = _chart_values(page, "participation-rate")
    assert [float(v) for v in printed[: len(rates)]] == [float(r) for r in rates]

    # Participation by district: the table and the chart against the test's count.
    district_rows = {
        r[0]: (int(r[1].replace(",", "")), int(r[2].replace(",", "")))
        for r in _table(page, "participation-district")
    }
    assert district_rows == {
        d: (world.district_learners(d), world.completions[d]) for d in ("永川区", "临淄区")
    }
    printed = [int(v) for v in _chart_values(page, "participation-district")]
    assert printed == [v[0] for v in district_rows.values()] + [v[1] for v in district_rows.values()]


def test_every_statistics_page_in_both_languages(live, browser):
    world = build(live.client)
    secret = add_operator(live.client)
    for lang in ("zh", "en"):
        # One sign-in per language (a TOTP code works once), both sizes in it.
        page = new_page(browser, live.base, "phone", lang)
        _sign_in(page, secret)
        learner = new_page(browser, live.base, "phone", lang)
        learner.goto("/signin")
        learner.fill("#account_no", world.first_account)
        learner.fill("#password", PASSWORD)
        learner.click("#sign-in")
        learner.wait_for_url("**/me")
        for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(viewport)
            page.size = size
            for path, name in [
                ("/operator/stats", "stats-dashboard"),
                ("/operator/stats/population", "stats-population"),
                ("/operator/stats/targets", "stats-targets"),
                ("/operator/stats/areas", "stats-areas"),
                ("/operator/stats/recognition", "stats-recognition"),
            ]:
                page.goto(path)
                check(page, name)
            assert page.locator("#candidates").is_visible()  # 学员0 agreed to be named
            # The learner's side: the consent and the awards in the portal.
            learner.set_viewport_size(viewport)
            learner.size = size
            learner.goto("/me")
            learner.click("#go-recognition")
            learner.wait_for_url("**/me/recognition")
            check(learner, "recognition-learner")
        page.context.close()
        learner.context.close()
