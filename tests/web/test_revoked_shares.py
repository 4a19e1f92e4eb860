"""A share link whose certificate was revoked since does not tell its learner ✓ 有效: the reader it
was sent to sees 已撤销 on /s/{id}, so /me/share and the link's own page say so too, and
/me/certificates says why a certificate was revoked, in the reader's language."""

from __future__ import annotations

import re

from sqlmodel import select

from creditbank.completions.models import Completion
from creditbank.learners import service as learners
from tests.web.conftest import check, new_page
from tests.web.world import PASSWORD, build


def _learner_with_a_revoked_shared_certificate(client):
    """The world's learner shares one achievement certificate, and it with another; the school then
    revokes the completion the first rests on (登记错误): it is revoked in both links."""
    world = build(client)
    token = client.post(
        "/api/v1/auth/activate",
        json={"account_no": world.account_no, "activation_code": world.code, "password": PASSWORD},
    ).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    completion, other = _completions(client, world.account_no)[:2]
    shared = client.post(
        "/api/v1/me/certificates", json={"kind": "achievement", "completion_id": completion}, headers=bearer
    ).json()["id"]
    kept = client.post(
        "/api/v1/me/certificates",
        json={"kind": "achievement", "completion_id": other},
        headers=bearer,
    ).json()["id"]
    client.cookies.set("cb_session", token)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/me/share/new").text).group(1)
    links = []
    for ids in ([shared], [shared, kept]):
        made = client.post(
            "/me/share",
            data={"csrf_token": csrf, "certificate_id": ids, "days": "30"},
            follow_redirects=False,
        )
        assert made.status_code == 303, made.text
        links.append(made.headers["location"].split("/")[3].split("?")[0])
    revoked = client.post(
        f"/api/v1/completions/{completion}/revoke", json={"reason": "登记错误"}, headers=world.yc
    )
    assert revoked.status_code == 200, revoked.text
    return token, links


def _completions(client, account_no: str) -> list[str]:
    with client.app.state.db.reader() as session:
        learner = learners.by_account_no(session, account_no)
        return sorted(session.exec(select(Completion.id).where(Completion.learner_id == learner.id)).all())


def test_the_share_list_and_link_say_the_shared_certificate_is_revoked(client):
    _, (alone, mixed) = _learner_with_a_revoked_shared_certificate(client)
    listed = client.get("/me/share").text
    row = re.search(rf'<a href="/me/share/{alone}".*?</a>', listed, re.S).group(0)
    assert "✓ 有效" not in row and "✗ 链接仍可打开，但所分享的证书已撤销" in row, row
    both = re.search(rf'<a href="/me/share/{mixed}".*?</a>', listed, re.S).group(0)
    assert "⚠ 链接仍可打开，但所分享的部分证书已撤销" in both and both.count("✗ 已撤销") == 1, both
    page = client.get(f"/me/share/{alone}").text
    assert "✓ 有效" not in page and "原因：所依据的学习成果记录已撤销：登记错误" in page, page
    client.cookies.clear()
    assert 'data-verdict="revoked"' in client.get(f"/s/{alone}").text  # what the reader sees


def test_my_certificates_say_why_one_was_revoked_in_my_language(client):
    _learner_with_a_revoked_shared_certificate(client)
    page = client.get("/me/certificates").text
    assert "✗ 已撤销 · 原因：所依据的学习成果记录已撤销：登记错误" in page and "the completion" not in page
    client.cookies.set("cb_lang", "en")
    page = client.get("/me/certificates").text
    # The bank's words in English around the revoker's own words, as typed (kit.reasons).
    assert "The learning record it rests on was revoked: 登记错误" in page and "所依据" not in page


def test_the_share_list_with_a_revoked_certificate_in_chromium(live, browser):
    token, _ = _learner_with_a_revoked_shared_certificate(live.client)
    page = new_page(browser, live.base)
    host = live.base.split("//", 1)[1].split(":")[0]
    page.context.add_cookies([{"name": "cb_session", "value": token, "domain": host, "path": "/"}])
    page.goto("/me/share")
    assert "链接仍可打开，但所分享的证书已撤销" in page.inner_text("#share-links")
    check(page, "share-links-revoked")
