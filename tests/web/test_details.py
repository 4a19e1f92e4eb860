"""Small things a reader notices: credits written one way on every page (2, not 2.0), every verdict
in both languages, an icon in the browser's tab (no 404 for /favicon.ico), and the API docs'
summaries Chinese first like the rest of the bank's bilingual text."""

from __future__ import annotations

import re

from tests.web.conftest import new_page
from tests.web.test_portal import csrf
from tests.web.world import PASSWORD, build

CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


def test_progress_writes_credits_as_every_other_page_does(client):
    world = build(client)
    client.post(
        "/activate",
        data={
            "csrf_token": csrf(client, "/activate"),
            "account_no": world.account_no,
            "activation_code": world.code,
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
    )
    page = client.get("/me/progress/OU-AGRI-DIP").text
    main = page.split('<main id="main">', 1)[1].split("</main>", 1)[0]
    assert '<p class="figure">0 / 10</p>' in main and "0 / 4" in main, main
    assert not re.search(r"\d\.0\b", main), main


def test_an_unknown_certificate_says_invalid_in_both_languages(client):
    zh = client.get("/v/crt_doesnotexist000")
    assert zh.status_code == 404
    assert '<div class="big">✗ 无效</div><div class="en" lang="en">INVALID</div>' in zh.text
    client.cookies.set("cb_lang", "en")
    en = client.get("/v/crt_doesnotexist000").text
    assert '<div class="big">✗ INVALID</div><div class="en" lang="zh-CN">无效</div>' in en


def test_the_icon_is_served_and_linked(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    page = client.get("/").text
    for href in re.findall(r'<link rel="icon" href="([^"]+)"', page):
        assert client.get(href).status_code == 200, href
    assert 'href="/static/favicon.svg"' in page


def test_no_page_asks_for_a_missing_file_in_chromium(live, browser):
    page = new_page(browser, live.base)
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    for path in ("/", "/verify", "/signin"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
    assert missing == []
    assert page.evaluate("fetch('/favicon.ico').then(r => r.status)") == 200


def test_api_summaries_are_chinese_first(client):
    """Every operation's summary is "中文 · English", as the bank writes its bilingual text."""
    spec = client.get("/openapi.json").json()
    wrong = [
        f"{method.upper()} {path}: {op.get('summary')}"
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict)
        and "summary" in op
        and not (CJK.match(op["summary"]) and " · " in op["summary"])
    ]
    assert wrong == []
