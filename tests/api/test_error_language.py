"""A problem's title is in the language the caller's Accept-Language ranks highest by its q weights,
as the pages choose theirs — not whatever tag happens to come first."""

from __future__ import annotations

import pytest


def _title(client, accept_language: str) -> str:
    response = client.get("/api/v1/me", headers={"Accept-Language": accept_language})
    assert response.status_code == 401
    return response.json()["title"]


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("en;q=0.1, zh-CN;q=0.9", "zh"),  # English named first, but weighted far below Chinese
        ("de-DE,de;q=0.9,en;q=0.8", "en"),  # a German reader who also reads English
        ("en;q=0, fr", "zh"),  # q=0: English refused
        ("en-US,en;q=0.9", "en"),
        ("zh-TW", "zh"),
    ],
)
def test_the_title_follows_the_weights(client, header, lang):
    expected = {"zh": _title(client, "zh-CN"), "en": _title(client, "en")}
    assert expected["zh"] != expected["en"]
    assert _title(client, header) == expected[lang]


def test_a_page_and_the_api_choose_the_same_language(client):
    page = client.get("/", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.8"})
    assert '<html lang="en"' in page.text
    assert _title(client, "de-DE,de;q=0.9,en;q=0.8") == _title(client, "en")
