"""Layout a reader notices at phone size (390 × 844) in Chromium: a list that is also a card
(``<ol class="rows card">``: the statement, the requests, the console's lists) keeps the card's
inner space — its rows do not touch the card's border."""

from __future__ import annotations

from tests.conftest import completion_body
from tests.web import consoleworld
from tests.web.conftest import check, new_page
from tests.web.staffworld import STAFF_PASSWORD
from tests.web.world import PASSWORD, build

INSETS = """() => [...document.querySelectorAll('.card')].map(card => {
  const box = card.getBoundingClientRect(), first = card.firstElementChild;
  const inner = first ? first.getBoundingClientRect() : box;
  return {id: card.id || card.className, left: inner.left - box.left, right: box.right - inner.right};
})"""


def _insets(page) -> list[dict]:
    found = page.evaluate(INSETS)
    assert found, "no card on the page"
    return found


def test_the_statements_rows_keep_the_cards_inner_space_on_a_phone(live, browser):
    world = build(live.client)
    page = new_page(browser, live.base, "phone")
    page.goto("/activate")
    page.fill("#account_no", world.account_no)
    page.fill("#activation_code", world.code)
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD)
    page.click("#activate")
    page.wait_for_url("**/me?welcome=1")
    page.goto("/me/statement")
    for card in _insets(page):
        assert card["left"] >= 16 and card["right"] >= 16, card
    check(page, "statement-inset")


def test_the_consoles_lists_keep_the_cards_inner_space_on_a_phone(live, browser):
    world = consoleworld.build(live.client)
    for person in world.people:
        posted = live.client.post(
            "/api/v1/completions", json=completion_body(person, "YC-ELEC"), headers=world.yc
        )
        assert posted.status_code == 201, posted.text
    page = new_page(browser, live.base, "phone")
    page.goto("/staff/signin?next=/console/YCCEC/completions")
    page.fill("#username", "yc-clerk")
    page.fill("#password", STAFF_PASSWORD)
    page.click("#sign-in")
    page.wait_for_url("**/console/YCCEC/completions")
    cards = _insets(page)
    assert any(c["id"] == "completions" for c in cards), cards
    for card in cards:
        assert card["left"] >= 16 and card["right"] >= 16, card
