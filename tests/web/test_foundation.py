"""The web foundation without a browser: headers, cookies, CSRF, languages, offline docs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from creditbank.app import create_app
from creditbank.config import Settings
from creditbank.db import Database
from creditbank.web import i18n
from tests.conftest import ADMIN, institution, learner

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "长城长城12345"


def csrf(client: TestClient, path: str = "/signin") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match, path
    return match.group(1)


def activate(client: TestClient) -> dict:
    inst = institution(client)
    person = learner(client, inst)
    response = client.post(
        "/activate",
        data={
            "csrf_token": csrf(client, "/activate"),
            "account_no": person["account_no"],
            "activation_code": person["activation_code"],
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return person | {"cookie": response.headers["set-cookie"]}


class TestSecurityHeaders:
    @pytest.mark.parametrize(
        "path", ["/", "/signin", "/activate", "/healthz", "/api/v1/conversion-rules", "/nope"]
    )
    def test_every_answer_forbids_inline_script_and_framing(self, client, path):
        response = client.get(path, headers={"Accept": "text/html"})
        csp = response.headers["content-security-policy"]
        script = re.search(r"script-src ([^;]*)", csp).group(1)
        assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] in ("same-origin", "no-referrer", "strict-origin")

    def test_no_page_carries_inline_script_or_style(self):
        for template in (ROOT / "templates").rglob("*.j2"):
            text = template.read_text()
            if template.name.startswith("certificate"):
                continue  # the PDF template: WeasyPrint, not a browser
            assert not re.search(r"<script(?![^>]*\b(src|type=\"application/json\"))", text), template
            assert "<style" not in text and " style=" not in text, template

    def test_unknown_page_is_a_404_page_for_a_browser_and_json_for_the_api(self, client):
        page = client.get("/no-such-page", headers={"Accept": "text/html"})
        assert page.status_code == 404 and "找不到这个页面" in page.text
        api = client.get("/api/v1/no-such-thing", headers={"Accept": "text/html"})
        assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"


class TestSessions:
    def test_activating_signs_in_with_a_safe_cookie_and_signing_out_ends_it_server_side(self, client):
        person = activate(client)
        cookie = person["cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        token = re.search(r"cb_session=([^;]+)", cookie).group(1)
        assert client.get("/me").status_code == 200
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        out = client.post("/signout", data={"csrf_token": csrf(client, "/me")}, follow_redirects=False)
        assert out.status_code == 303
        # The token is dead everywhere, even replayed by hand.
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        client.cookies.set("cb_session", token)
        assert client.get("/me", follow_redirects=False).headers["location"].startswith("/signin")

    def test_cookies_are_secure_when_the_bank_is_served_over_https(self, db_url, tmp_path):
        settings = Settings(
            database_url=db_url,
            keys_dir=tmp_path / "keys",
            admin_token=ADMIN,
            secret="s",
            base_url="https://bank.example",
        )
        database = Database(db_url)
        with TestClient(create_app(settings, database), base_url="https://bank.example") as client:
            response = client.get("/signin")
            assert "Secure" in response.headers["set-cookie"]
        database.dispose()

    def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(self, client):
        inst = institution(client)
        person = learner(client, inst)
        client.get("/activate")
        body = {
            "account_no": person["account_no"],
            "activation_code": person["activation_code"],
            "password": PASSWORD,
            "password_again": PASSWORD,
        }
        for token in (None, "0" * 64):
            response = client.post("/activate", data=body | ({"csrf_token": token} if token else {}))
            assert response.status_code == 403 and "表单已失效" in response.text
        # The code still works: nothing was activated by the refused posts.
        ok = client.post(
            "/activate", data=body | {"csrf_token": csrf(client, "/activate")}, follow_redirects=False
        )
        assert ok.status_code == 303

    def test_wrong_password_says_so_in_words_and_same_as_an_unknown_account(self, client):
        person = activate(client)
        client.post("/signout", data={"csrf_token": csrf(client, "/me")})
        wrong = client.post(
            "/signin",
            data={"csrf_token": csrf(client), "account_no": person["account_no"], "password": "nope-nope"},
        )
        unknown = client.post(
            "/signin",
            data={"csrf_token": csrf(client), "account_no": "CB00000000000", "password": "nope-nope"},
        )
        assert wrong.status_code == unknown.status_code == 401
        message = re.compile(r'id="error">(.*?)<')
        assert (
            message.search(wrong.text).group(1) == message.search(unknown.text).group(1) == "✗ 账号或密码错误"
        )
        assert "cb_session" not in wrong.headers.get("set-cookie", "")


class TestLanguages:
    def test_chinese_by_default_english_by_a_remembered_switch(self, client):
        assert '<html lang="zh-CN"' in client.get("/").text and "激活账户" in client.get("/").text
        switch = client.get("/lang/en?next=/signin", follow_redirects=False)
        assert switch.status_code == 303 and switch.headers["location"] == "/signin"
        assert "Max-Age" in switch.headers["set-cookie"]
        page = client.get("/signin")
        assert '<html lang="en"' in page.text and "Account number" in page.text and "中文" in page.text

    @pytest.mark.parametrize(
        ("header", "english"),
        [
            ("en", True), ("en-US,en;q=0.9", True), ("en-GB, zh-CN;q=0.8", True), ("fr, en;q=0.5", True),
            ("zh-CN,zh;q=0.9,en;q=0.8", False), ("zh-TW", False), ("de", False), ("", False),
            ("zh;q=0.5, en;q=0.9", True),
        ],
    )  # fmt: skip
    def test_a_first_visit_reads_the_browsers_language(self, client, header, english):
        page = client.get("/activate", headers={"Accept-Language": header})
        assert page.status_code == 200
        assert ('<html lang="en"' in page.text) is english, page.text[:300]
        assert ("Activate your account" in page.text) is english or ("激活" in page.text) is not english

    def test_the_readers_own_choice_wins_over_the_browsers(self, client):
        client.get("/lang/zh")
        assert '<html lang="zh-CN"' in client.get("/activate", headers={"Accept-Language": "en"}).text
        client.get("/lang/en")
        assert '<html lang="en"' in client.get("/activate", headers={"Accept-Language": "zh-CN"}).text

    def test_refusals_speak_the_readers_language(self, client):
        client.get("/lang/en")
        response = client.post("/signin", data={"account_no": "CB1", "password": "x"})
        assert response.status_code == 403 and "This form is no longer valid" in response.text

    def test_the_switch_never_sends_a_reader_to_another_site(self, client):
        for target in ("https://evil.example/", "//evil.example", "/\\evil.example"):
            response = client.get("/lang/en", params={"next": target}, follow_redirects=False)
            assert response.headers["location"] == "/"

    def test_every_message_has_a_chinese_translation_and_the_catalogue_is_current(self, tmp_path):
        pot = tmp_path / "messages.pot"
        subprocess.run(
            [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_", "-k", "N_",
             "--no-location", "-o", str(pot), "."],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
        wanted = {m.id for m in read_po(pot.open("rb")) if m.id}
        path = i18n.LOCALE_DIR / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
        catalogue = {m.id: m.string for m in read_po(path.open("rb")) if m.id}
        assert wanted - catalogue.keys() == set(), "run pybabel update (docs/web.md)"
        assert [m for m in wanted if not catalogue[m]] == []


class TestOfflineDocs:
    @pytest.mark.parametrize("path", ["/docs", "/redoc"])
    def test_api_docs_load_only_files_the_bank_serves(self, client, path):
        page = client.get(path)
        assert page.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert assets and all(a.startswith("/") for a in assets), assets
        for asset in assets:
            assert client.get(asset).status_code == 200, asset


# Characters shown as emoji by default (Unicode emoji-data, Emoji_Presentation=Yes, and the emoji
# variation selector): on a computer without an emoji font they are an empty box.
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\u231a\u231b\u23e9-\u23ec\u23f0\u23f3\u23f8-\u23fa\u25fd\u25fe\u2614\u2615"
    "\u2648-\u2653\u267f\u2693\u26a1\u26aa\u26ab\u26bd\u26be\u26c4\u26c5\u26ce\u26d4\u26ea\u26f2-\u26f5"
    "\u26fa\u26fd\u2705\u270a\u270b\u2728\u274c\u274e\u2753-\u2755\u2757\u2795-\u2797\u27b0\u27bf"
    "\u2b1b\u2b1c\u2b50\u2b55\ufe0f]"
)


def test_no_page_relies_on_an_emoji_font():
    sources = [*(ROOT / "templates").rglob("*.j2"), *(ROOT / "creditbank" / "web").rglob("*.py")]
    sources += [*(ROOT / "creditbank" / "web" / "locale").rglob("*.po")]
    found = [
        f"{path.relative_to(ROOT)}:{number}: {match.group()!r}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for match in _EMOJI.finditer(line)
    ]
    assert found == []
