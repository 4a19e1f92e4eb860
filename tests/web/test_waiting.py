"""Rate limits say how long to wait, and a stranger cannot lock a learner's activation.

1. After too many wrong passwords the sign-in page says how long (尝试次数过多，请 1 分钟后再试。)
   from the same wait the API sends as Retry-After, not only 请稍后再试; staff sign-in and activation
   likewise, both languages.
2. Account numbers are public (printed on certificates): a stranger's wrong activation codes spend
   the stranger's own budget (per address and account); the learner at their own address still
   activates with the slip. A per-account ceiling still bounds guessing spread over many addresses,
   and the arithmetic stays infeasible (docs/privacy.md)."""

from __future__ import annotations

import pytest

from creditbank.errors import CreditbankError
from creditbank.kit import tokens
from creditbank.kit.ratelimit import Budget
from creditbank.learners import attempts, service
from tests.web.staffworld import add_staff, csrf
from tests.web.test_portal import error_text
from tests.web.world import PASSWORD, build

YEAR_SECONDS = 365 * 86400


@pytest.fixture
def world(client):
    return build(client)


def _sign_in(client, account_no: str):
    data = {"csrf_token": csrf(client, "/signin"), "account_no": account_no, "password": "wrong-one"}
    return client.post("/signin", data=data)


class TestHowLong:
    def test_sign_in_says_how_many_minutes_in_chinese_then_english(self, client, world):
        answers = [_sign_in(client, world.account_no) for _ in range(11)]
        assert [a.status_code for a in answers] == [401] * 10 + [429]
        blocked = answers[-1]
        assert 1 <= int(blocked.headers["Retry-After"]) <= 60
        assert error_text(blocked) == "✗ 尝试次数过多，请 1 分钟后再试。"
        assert 'value="' + world.account_no + '"' in blocked.text  # still the form
        client.get("/lang/en")
        again = _sign_in(client, world.account_no)
        assert error_text(again) == "✗ Too many attempts. Please try again in 1 minute."

    def test_staff_sign_in_too(self, client, world):
        add_staff(client, "YCCEC", "yc-clerk", "clerk")
        for _ in range(11):
            data = {
                "csrf_token": csrf(client, "/staff/signin"),
                "username": "yc-clerk",
                "password": "wrong-one",
            }
            answer = client.post("/staff/signin", data=data)
        assert answer.status_code == 429 and error_text(answer) == "✗ 尝试次数过多，请 1 分钟后再试。"
        assert 1 <= int(answer.headers["Retry-After"]) <= 60

    def test_a_long_block_is_said_in_hours(self, client):
        from creditbank.web.base import wait_words
        from creditbank.web.i18n import Translator

        assert wait_words(Translator("zh"), 61) == "尝试次数过多，请 2 分钟后再试。"
        assert wait_words(Translator("zh"), 5 * 3600) == "尝试次数过多，请约 5 小时后再试。"
        assert (
            wait_words(Translator("en"), 24 * 3600)
            == "Too many attempts. Please try again in about 24 hours."
        )

    def test_activation_says_how_long(self, client, world):
        for _ in range(6):
            data = {"csrf_token": csrf(client, "/activate"), "account_no": world.account_no,
                    "activation_code": "1111 2222 3333 4444", "password": PASSWORD, "password_again": PASSWORD}  # fmt: skip
            answer = client.post("/activate", data=data)
        assert answer.status_code == 429  # five a try, then one more every 12 minutes (5 an hour)
        assert error_text(answer) == "✗ 尝试次数过多，请 12 分钟后再试。"
        assert 660 < int(answer.headers["Retry-After"]) <= 720


class TestAStrangerCannotLockTheSlip:
    def test_a_strangers_wrong_codes_leave_the_learner_theirs(self, client, world):
        db, secret = client.app.state.db, client.app.state.settings.id_secret()
        guess = {"secret": secret, "account_no": world.account_no, "activation_code": "1111 2222 3333 4444",
                 "password": PASSWORD}  # fmt: skip
        for _ in range(5):
            with pytest.raises(CreditbankError) as wrong:
                service.activate(db, client="203.0.113.9", **guess)
            assert wrong.value.code == "invalid_activation_code"
        with pytest.raises(CreditbankError) as blocked:
            service.activate(db, client="203.0.113.9", **guess)
        assert blocked.value.code == "rate_limited" and blocked.value.params["retry_after"] >= 60
        # The learner, at home: the slip works.
        learner, token = service.activate(
            db, client="198.51.100.7", **guess | {"activation_code": world.code}
        )
        assert learner.account_no == world.account_no and token

    def test_guessing_spread_over_many_addresses_meets_the_accounts_ceiling(self, client, world, monkeypatch):
        # The service-wide budget (60 at once) would refuse first: out of the way, to see the ceiling.
        monkeypatch.setattr(attempts, "ACTIVATION_GLOBAL", Budget(capacity=10_000, per_second=1e6))
        db, secret = client.app.state.db, client.app.state.settings.id_secret()
        guess = {"secret": secret, "account_no": world.account_no, "activation_code": "1111 2222 3333 4444",
                 "password": PASSWORD}  # fmt: skip
        refused = []
        for address in range(60):  # 60 addresses × their 5 guesses would be 300
            for _ in range(5):
                try:
                    service.activate(db, client=f"10.0.{address}.1", **guess)
                except CreditbankError as exc:
                    refused.append(exc.code)
        assert refused.count("invalid_activation_code") == attempts.ACTIVATION_PER_ACCOUNT.capacity == 200
        assert set(refused) == {"invalid_activation_code", "rate_limited"}

    def test_the_arithmetic(self):
        """docs/privacy.md, from the constants the service runs with: a year aimed at one account
        from any number of addresses, and one address's sustained guessing."""
        ceiling = attempts.ACTIVATION_PER_ACCOUNT
        per_year = ceiling.capacity + ceiling.per_second * YEAR_SECONDS
        space = 10**tokens.ACTIVATION_CODE_DIGITS
        assert per_year == pytest.approx(4.4e5, rel=0.01)
        assert per_year * service.MAX_LIVE_CODES / space < 1e-9
        own = attempts.ACTIVATION_PER_CLIENT_ACCOUNT  # the stranger's, as strict as the old per-account one
        assert (own.capacity, own.per_second * 3600, own.max_block_seconds) == (5, 5, 24 * 3600)
        # Keeping the ceiling dry takes more addresses than a stranger has at hand.
        assert round(ceiling.per_second / own.per_second, 6) >= 10
