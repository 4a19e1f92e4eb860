"""The learner portal and the employer pages without a browser: who may see what, bad input."""

from __future__ import annotations

import re

import pytest

from tests.conftest import OPERATOR, outcome
from tests.web.world import PASSWORD, build


def csrf(client, path: str = "/") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def error_text(response) -> str:
    match = re.search(r'id="error"[^>]*>(.*?)<', response.text)
    return match.group(1) if match else ""


@pytest.fixture
def world(client):
    return build(client)


@pytest.fixture
def signed_in(client, world):
    response = client.post(
        "/activate",
        data={
            "csrf_token": csrf(client, "/activate"),
            "account_no": world.account_no,
            "activation_code": world.code,
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    return client


class TestLearnerSeesOnlyTheirOwn:
    def test_the_balance_page_shows_the_apis_figures(self, signed_in, world):
        token = signed_in.cookies.get("cb_session")
        api = signed_in.get("/api/v1/me/balance", headers={"Authorization": f"Bearer {token}"}).json()
        units = int(re.search(r'id="total" data-units="(\d+)"', signed_in.get("/me").text).group(1))
        assert units / 100 == api["total"] == 4.5

    @pytest.mark.parametrize(
        "path",
        [
            "/me/certificates/{cert}",
            "/me/certificates/{cert}/pdf",
            "/me/certificates/{cert}/qr",
            "/me/share/{link}",
        ],
    )
    def test_another_learners_certificate_or_link_is_not_found(self, signed_in, world, path):
        response = signed_in.get(path.format(cert=world.other_certificate, link=world.other_link))
        assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
        assert error_text(response).startswith("✗ 找不到")

    def test_revoking_another_learners_link_is_refused_and_the_link_still_works(
        self, signed_in, world, client
    ):
        response = signed_in.post(
            f"/me/share/{world.other_link}/revoke", data={"csrf_token": csrf(signed_in, "/me")}
        )
        assert response.status_code == 404
        signed_in.cookies.clear()
        assert client.get(f"/s/{world.other_link}").status_code == 200

    def test_sharing_another_learners_certificate_is_refused(self, signed_in, world):
        response = signed_in.post(
            "/me/share",
            data={
                "csrf_token": csrf(signed_in, "/me"),
                "certificate_id": world.other_certificate,
                "days": "30",
            },
        )
        assert response.status_code == 404 and "找不到证书" in error_text(response)

    def test_a_lifetime_outside_30_to_180_days_is_refused_in_words(self, signed_in, world):
        signed_in.post("/me/certificates", data={"csrf_token": csrf(signed_in, "/me"), "kind": "transcript"})
        response = signed_in.get("/me/share/new")
        cert = re.search(r'name="certificate_id" value="([^"]+)"', response.text).group(1)
        response = signed_in.post(
            "/me/share", data={"csrf_token": csrf(signed_in, "/me"), "certificate_id": cert, "days": "365"}
        )
        assert response.status_code == 422 and "有效天数" in error_text(
            response
        )  # the field in words, not "days"
        assert "shr_" not in signed_in.get("/me/share").text

    def test_progress_warns_of_credits_expiring_within_90_days(self, signed_in):
        page = signed_in.get("/me/progress", follow_redirects=True)
        assert page.status_code == 200 and "现代农业专科" in page.text
        assert "即将过期" in page.text and "玩转微信享受智慧生活" in page.text
        assert "还差 4 个学历教育学分" in page.text

    def test_the_statement_pages_through_every_line_with_its_origin(self, signed_in, monkeypatch):
        from creditbank.web import learner as pages

        monkeypatch.setattr(pages, "STATEMENT_PAGE", 2)
        first = signed_in.get("/me/statement").text
        assert first.count("<li>") == 2 and "永川区社区教育学院" in first
        after = re.search(r'href="/me/statement\?after=(\d+)"', first).group(1)
        second = signed_in.get(f"/me/statement?after={after}").text
        assert second.count("<li>") == 1 and 'id="next-page"' not in second
        titles = re.findall(r"<strong>(.*?)</strong>", first + second)
        assert sorted(titles) == sorted(["居民用电安全", "春季蔬菜田间管理", "玩转微信享受智慧生活"])

    def test_signed_out_pages_send_the_reader_to_sign_in(self, client):
        response = client.get("/me/certificates", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/signin?next=/me/certificates"


class TestForms:
    def test_a_conversion_request_without_its_csrf_token_changes_nothing(self, signed_in, world):
        page = signed_in.get("/me/conversions").text
        rule_id = re.search(r'name="rule_id" value="(\d+)"', page).group(1)
        refused = signed_in.post("/me/conversions", data={"rule_id": rule_id})
        assert refused.status_code == 403
        assert 'data-state="pending"' not in signed_in.get("/me/conversions/requests").text
        done = signed_in.post(
            "/me/conversions", data={"rule_id": rule_id, "csrf_token": csrf(signed_in, "/me")}
        )
        assert done.status_code == 200 and 'data-state="pending"' in done.text

    def test_wrong_activation_code_says_so_and_the_right_one_still_works(self, client, world):
        body = {"account_no": world.account_no, "password": PASSWORD, "password_again": PASSWORD}
        wrong = client.post(
            "/activate",
            data=body | {"csrf_token": csrf(client, "/activate"), "activation_code": "0000 0000 0000 0000"},
        )
        assert wrong.status_code == 401
        assert error_text(wrong) == "✗ 账号或激活码不对，或激活码已过期、已用过（已激活的账户请直接登录）"
        assert 'value="' + world.account_no + '"' in wrong.text  # what was typed is kept
        right = client.post(
            "/activate",
            data=body | {"csrf_token": csrf(client, "/activate"), "activation_code": world.code},
            follow_redirects=False,
        )
        assert right.status_code == 303

    def test_passwords_that_differ_are_refused_before_anything_changes(self, client, world):
        response = client.post(
            "/activate",
            data={"csrf_token": csrf(client, "/activate"), "account_no": world.account_no,
                  "activation_code": world.code, "password": PASSWORD, "password_again": PASSWORD + "x"},
        )  # fmt: skip
        assert response.status_code == 422 and "两次输入的密码不一样" in error_text(response)

    def test_sign_in_attempts_are_rate_limited_with_a_page(self, client, world):
        statuses = set()
        for _ in range(12):
            response = client.post(
                "/signin",
                data={
                    "csrf_token": csrf(client, "/signin"),
                    "account_no": world.account_no,
                    "password": "wrong-one",
                },
            )
            statuses.add(response.status_code)
        assert statuses == {401, 429}
        assert "尝试次数过多" in error_text(response)


class TestEmployerPages:
    def test_unknown_certificate_is_a_404_page_saying_it_may_be_forged(self, client):
        response = client.get("/v/crt_madeupnumber0")
        assert (
            response.status_code == 404
            and 'data-verdict="invalid"' in response.text
            and "伪造" in response.text
        )

    def test_upload_of_a_non_pdf_non_image_is_refused_in_words(self, client):
        response = client.post(
            "/verify",
            data={"csrf_token": csrf(client, "/verify")},
            files={"file": ("a.txt", b"hello", "text/plain")},
        )
        assert response.status_code == 415 and "PDF" in error_text(response)

    def test_upload_over_the_limit_is_refused_before_it_is_read(self, client):
        limit = client.app.state.settings.max_upload_bytes
        response = client.post(
            "/verify",
            data={"csrf_token": csrf(client, "/verify")},
            files={"file": ("big.pdf", b"%PDF" + b"0" * (limit + 100_000), "application/pdf")},
        )
        assert response.status_code == 413 and "MB" in error_text(response)

    def test_upload_without_csrf_token_is_refused(self, client):
        client.get("/verify")
        response = client.post("/verify", files={"file": ("a.pdf", b"%PDF-1.7", "application/pdf")})
        assert response.status_code == 403

    def test_english_readers_get_english_refusals(self, client):
        client.get("/lang/en")
        response = client.post(
            "/verify",
            data={"csrf_token": csrf(client, "/verify")},
            files={"file": ("a.txt", b"hi", "text/plain")},
        )
        assert response.status_code == 415 and "Upload the certificate" in error_text(response)


class TestActivationForm:
    def test_every_password_problem_shows_at_once_and_the_code_stays(self, client, world):
        response = client.post(
            "/activate",
            data={"csrf_token": csrf(client, "/activate"), "account_no": world.account_no,
                  "activation_code": world.code, "password": "short", "password_again": "shorter"},
        )  # fmt: skip
        assert response.status_code == 422
        alert = re.search(r'id="error"[^>]*>(.*?)</p>', response.text, re.S).group(1)
        assert "密码至少需要 8 位" in alert and "两次输入的密码不一样" in alert
        assert f'name="activation_code" value="{world.code}"' in response.text
        assert 'value="short' not in response.text  # the passwords are typed again
        nothing_changed = client.post(
            "/activate",
            data={"csrf_token": csrf(client, "/activate"), "account_no": world.account_no,
                  "activation_code": world.code, "password": PASSWORD, "password_again": PASSWORD},
            follow_redirects=False,
        )  # fmt: skip
        assert nothing_changed.status_code == 303  # the code was not used up by the refusal


def test_a_pending_request_is_marked_with_a_character_every_font_has(signed_in):
    """⏳ was an empty box in Debian's chromium (no emoji font)."""
    page = signed_in.get("/me/conversions").text
    rule_id = re.search(r'name="rule_id" value="(\d+)"', page).group(1)
    done = signed_in.post("/me/conversions", data={"rule_id": rule_id, "csrf_token": csrf(signed_in, "/me")})
    tag = re.search(r'<span class="tag info">([^<]*)</span>', done.text).group(1)
    assert tag == "○ 等待学校审核"


def test_english_pages_name_the_target_course_in_english(signed_in):
    signed_in.cookies.set("cb_lang", "en")
    page = signed_in.get("/me/conversions").text
    assert "credits of “Modern agricultural technology”" in page
    assert "“现代农业技术基础”" not in page
    signed_in.cookies.set("cb_lang", "zh")
    assert "「现代农业技术基础」" in signed_in.get("/me/conversions").text


class TestConversionOptionsAfterApplying:
    """Right after 申请这项转换 the rule showed ✗ 还不满足 还差 … 学分 (its credits were locked by the
    request): a senior would think the request failed. The option says the request waits instead."""

    def test_the_option_says_the_request_waits_and_leads_to_it(self, signed_in, world):
        page = signed_in.get("/me/conversions").text
        rule_id = re.search(r'name="rule_id" value="(\d+)"', page).group(1)
        done = signed_in.post(
            "/me/conversions", data={"rule_id": rule_id, "csrf_token": csrf(signed_in, "/me")}
        )
        request_id = re.search(r'<li id="(cnv_[^"]+)" data-state="pending"', done.text).group(1)
        section = _option(signed_in.get("/me/conversions").text, "AGRI-3")
        assert 'data-taken="requested"' in section and 'data-eligible="no"' in section
        assert "已申请，等待审核" in section
        assert "还不满足" not in section and "还差" not in section
        assert f'href="/me/conversions/requests#{request_id}"' in section
        assert 'name="rule_id"' not in section  # nothing to apply for twice
        signed_in.cookies.set("cb_lang", "en")
        english = _option(signed_in.get("/me/conversions").text, "AGRI-3")
        assert "Requested, waiting for the school&#39;s decision" in english and "Not yet" not in english


def _option(page: str, rule_code: str) -> str:
    return re.search(rf'<section[^>]*data-rule="{rule_code}".*?</section>', page, re.S).group(0)


def test_a_capped_option_says_before_applying_that_it_uses_more_than_it_gives(client, signed_in, world):
    """A cap (2 credits of the diploma at most 50%) lets the rule grant 1 of its 2 credits, for the 3
    community credits it uses: the page says 将使用 3 学分，换得 1 学分 above the button, not in a note."""
    outcome(client, world.ou, "OU-SMALL", title_zh="农业概论", category="academic", level=5, credits=2)
    put = client.put(
        "/api/v1/qualifications/OU-SMALL-DIP",
        headers=world.ou,
        json={"name_zh": "农业短期课程", "total_credits": 2, "max_transfer_ratio": 0.5, "requirements": []},
    )
    assert put.status_code in (200, 201), put.text
    rule = client.post(
        "/api/v1/conversion-rules",
        headers=world.ou,
        json={
            "code": "AGRI-CAP",
            "name_zh": "社区农业学分转农业概论",
            "target_outcome_code": "OU-SMALL",
            "credits": 2,
            "source": {"credits": {"category": "community", "min_level": 2, "amount": 3}},
            "effective_from": "2020-01-01",
            "qualification_code": "OU-SMALL-DIP",
        },
    )
    assert rule.status_code == 201, rule.text
    assert (
        client.post(f"/api/v1/conversion-rules/{rule.json()['id']}/approve", headers=OPERATOR).status_code
        == 200
    )
    section = _option(signed_in.get("/me/conversions").text, "AGRI-CAP")
    exchange = re.search(r'id="exchange-AGRI-CAP">([^<]*)<', section).group(1)
    assert exchange.startswith("⚠ 将使用 3 学分，换得 1 学分：本资历的转换比例上限只允许换得这些")
    assert section.index("exchange-AGRI-CAP") < section.index('type="submit"')
    plain = _option(signed_in.get("/me/conversions").text, "AGRI-3")
    assert re.search(r'id="exchange-AGRI-3">将使用 3 学分，换得 2 学分<', plain)


class TestWithdrawingARequest:
    """A learner who asked by mistake, or changed their mind, takes the request back: asked first in
    plain words (what happens to the credits), then the credits come back and the option is open again.
    Before, the credits stayed locked until the school decided."""

    def _apply(self, signed_in) -> str:
        page = signed_in.get("/me/conversions").text
        rule_id = re.search(r'name="rule_id" value="(\d+)"', page).group(1)
        done = signed_in.post(
            "/me/conversions", data={"rule_id": rule_id, "csrf_token": csrf(signed_in, "/me")}
        )
        return re.search(r'<li id="(cnv_[^"]+)" data-state="pending"', done.text).group(1)

    def test_the_learner_is_asked_first_then_the_credits_come_back(self, signed_in, world):
        request_id = self._apply(signed_in)
        listed = signed_in.get("/me/conversions/requests").text
        ask = f'href="/me/conversions/requests/{request_id}/withdraw" id="withdraw-{request_id}"'
        assert ask in listed and "撤回这项申请" in listed
        confirm = signed_in.get(f"/me/conversions/requests/{request_id}/withdraw")
        assert confirm.status_code == 200
        assert "要撤回这项申请吗？" in confirm.text and "社区农业学分转现代农业技术基础" in confirm.text
        assert "它占用的 3 学分会马上退回您的账户" in confirm.text and "还可以重新申请" in confirm.text
        assert 'id="confirm-withdraw">确定撤回<' in confirm.text and "不撤回，保留申请" in confirm.text
        signed_in.cookies.set("cb_lang", "en")
        english = signed_in.get(f"/me/conversions/requests/{request_id}/withdraw").text
        assert "Withdraw this request?" in english and "come back to your account at once" in english
        signed_in.cookies.set("cb_lang", "zh")
        # Opening the question changes nothing; nor does a form without its CSRF token.
        assert 'data-state="pending"' in signed_in.get("/me/conversions/requests").text
        refused = signed_in.post(f"/me/conversions/requests/{request_id}/withdraw", data={})
        assert refused.status_code == 403
        assert 'data-state="pending"' in signed_in.get("/me/conversions/requests").text

        done = signed_in.post(
            f"/me/conversions/requests/{request_id}/withdraw",
            data={"csrf_token": csrf(signed_in, f"/me/conversions/requests/{request_id}/withdraw")},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert done.headers["location"] == f"/me/conversions/requests?withdrawn=1#{request_id}"
        page = signed_in.get(done.headers["location"]).text
        assert 'id="withdrawn"' in page and "申请已撤回" in page
        assert f'<li id="{request_id}" data-state="withdrawn"' in page
        assert "← 已撤回：学分已退回您的账户" in page and f'id="withdraw-{request_id}"' not in page
        option = _option(signed_in.get("/me/conversions").text, "AGRI-3")
        assert 'data-eligible="yes"' in option and 'name="rule_id"' in option
        # Coming back to the question: nothing left to withdraw, said so.
        again = signed_in.get(f"/me/conversions/requests/{request_id}/withdraw").text
        assert 'id="not-withdrawable"' in again and 'id="confirm-withdraw"' not in again

    def test_another_learners_request_is_not_found(self, signed_in, world):
        request_id = self._apply(signed_in)
        own_cookie = signed_in.cookies.get("cb_session")
        signed_in.cookies.set("cb_session", world.other_token)
        assert signed_in.get(f"/me/conversions/requests/{request_id}/withdraw").status_code == 404
        token = csrf(signed_in, "/me")
        refused = signed_in.post(
            f"/me/conversions/requests/{request_id}/withdraw", data={"csrf_token": token}
        )
        assert refused.status_code == 404
        signed_in.cookies.set("cb_session", own_cookie)
        assert f'<li id="{request_id}" data-state="pending"' in signed_in.get("/me/conversions/requests").text
