"""The district office in Chromium (on SQLite: the figures' queries run on both
databases in tests/stats and tests/web/test_stats_pages.py): sign in with password + TOTP, enter a
district's resident population, and the participation-rate chart's and table's numbers equal what the
test computes itself from what it posted; every statistics page at phone and desktop size, both
languages: axe (no serious or critical violation), no sideways scroll, no CSP violation, screenshots."""

from __future__ import annotations

import base64
import re
from collections import Counter

import pytest

from creditbank.stats.queries import FIGURES
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
    # Lying bars (long district · age band labels): pygal writes them bottom up, series by series in
    # its own order — every rate is printed (with the targets that rows have).
    assert not Counter(float(r) for r in rates) - Counter(float(v) for v in printed)

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


# Every text of an SVG in SVG units (its own document: the dashboard shows it as an <img>, scaled
# alike): the ones whose boxes overlap another's, and the ones that run past the drawing's edge.
_TEXT_BOXES = """() => {
  const svg = document.documentElement, box = svg.viewBox.baseVal;
  const inverse = svg.getScreenCTM().inverse();
  const at = (x, y) => new DOMPoint(x, y).matrixTransform(inverse);
  const texts = [...svg.querySelectorAll("text")].filter(t => t.textContent.trim());
  const items = texts.map(t => {
    const r = t.getBoundingClientRect(), a = at(r.left, r.top), b = at(r.right, r.bottom);
    return {text: t.textContent.trim(), x1: a.x, y1: a.y, x2: b.x, y2: b.y};
  });
  const overlapping = [];
  items.forEach((a, i) => items.slice(i + 1).forEach(b => {
    if (a.x1 < b.x2 - 0.5 && b.x1 < a.x2 - 0.5 && a.y1 < b.y2 - 0.5 && b.y1 < a.y2 - 0.5)
      overlapping.push([a.text, b.text]);
  }));
  const clipped = items.filter(i => i.x1 < -0.5 || i.y1 < -0.5 || i.x2 > box.width + 0.5 || i.y2 > box.height + 0.5)
    .map(i => i.text);
  return {texts: items.map(i => i.text), overlapping, clipped};
}"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_rate_chart_of_five_districts_reads_without_a_label_on_another(live, browser, lang, tmp_path):
    """学习参与率（对照常住人口） at 1280×900 for the demo's five districts × four rows: its rotated
    district·age-band labels piled up and ran into the legend, 「60 岁及以上」 was cut off at the edge
    and the numbers printed on the bars overlapped."""
    from tests.conftest import OPERATOR

    build(live.client)
    population = [
        {"district": d, "age_band": b, "residents": int(n)}
        for d in ("永川区", "临淄区", "珠山区", "昌江区", "新都区")
        for b, n in RESIDENTS.items()
    ]
    assert live.client.put("/api/v1/stats/population", json=population, headers=OPERATOR).status_code == 200
    secret = add_operator(live.client)
    page = new_page(browser, live.base, "desktop", lang)
    _sign_in(page, secret)
    page.screenshot(path=str(tmp_path / f"stats-dashboard-{lang}.png"), full_page=True)
    for name in ("participation-rate", *(f for f in FIGURES if f != "participation-rate")):
        page.goto(f"/operator/stats/{name}.svg")
        seen = page.evaluate(_TEXT_BOXES)
        assert seen["overlapping"] == [], (name, seen["overlapping"][:5])
        assert seen["clipped"] == [], (name, seen["clipped"])
        if name == "participation-rate":
            band = "60 岁及以上" if lang == "zh" else "60 and over"
            labels = [t for t in seen["texts"] if t.endswith(band)]
            assert len(labels) == 5 and all(" · " in t for t in labels), labels
