"""Words a learner or an employer acts on: two transcripts of one day told apart, a photo without a
QR code answered with how to take it again, and what stopping a share link does (and does not)."""

from __future__ import annotations

import io
import re

from PIL import Image

from tests.web.world import PASSWORD, build


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _learner(client):
    world = build(client)
    token = client.post(
        "/api/v1/auth/activate",
        json={"account_no": world.account_no, "activation_code": world.code, "password": PASSWORD},
    ).json()["access_token"]
    return world, {"Authorization": f"Bearer {token}"}, token


def test_two_transcripts_of_one_day_are_told_apart(client):
    _, me, token = _learner(client)
    first = client.post("/api/v1/me/certificates", json={"kind": "transcript"}, headers=me).json()["id"]
    second = client.post("/api/v1/me/certificates", json={"kind": "transcript"}, headers=me).json()["id"]
    client.cookies.set("cb_session", token)
    html = client.get("/me/certificates").text
    hints = {
        c: _text(re.search(rf'data-certificate="{c}">.*?class="hint">(.*?)</span>', html, re.S).group(1))
        for c in (first, second)
    }
    for hint in hints.values():  # when, to the minute, and what it holds
        assert re.search(r"签发于 \d{4}-\d\d-\d\d \d\d:\d\d（北京时间）", hint) and "4.5 学分" in hint, hint
    share = _text(client.get("/me/share/new").text)
    assert share.count("（北京时间） · 4.5 学分") == 2, share


def test_a_photo_without_a_qr_code_says_how_to_take_it_again(client):
    blank = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(blank, "PNG")
    page = client.get("/verify").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    refused = client.post(
        "/verify", data={"csrf_token": token}, files={"file": ("照片.png", blank.getvalue(), "image/png")}
    )
    assert refused.status_code == 422
    words = _text(refused.text)
    assert (
        "图片中没有找到二维码。请重新拍一张" in words and "光线要充足" in words and "no QR code" not in words
    )


def test_the_share_page_says_what_stopping_the_link_does(client):
    _, me, token = _learner(client)
    client.cookies.set("cb_session", token)
    certificate = client.post("/api/v1/me/certificates", json={"kind": "transcript"}, headers=me).json()["id"]
    token_field = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/me/share/new").text).group(1)
    made = client.post(
        "/me/share",
        data={"csrf_token": token_field, "certificate_id": certificate, "days": "30"},
        follow_redirects=False,
    )
    page = _text(client.get(made.headers["location"]).text)
    assert "停用链接后，任何人都打不开这个分享网页了。但对方已经下载或保存的证书仍然可以验证" in page, page
