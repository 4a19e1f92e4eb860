"""Issue 9 item 7: activation codes cannot be sprayed across accounts.

Before: the only limit was per (client address, account), so one client made 457 guesses a second
over 200 accounts, at 10^8 possible codes. Now every guess also spends from a per-account and a
service-wide budget (with back-off), and codes are 16 digits.
"""

from __future__ import annotations

import time

import pytest

from creditbank.kit import tokens
from creditbank.learners import attempts, service
from tests.conftest import institution, learner

YEAR_SECONDS = 365 * 86400


def _guess(client, account_no, code="1111 2222 3333 4444"):
    return client.post(
        "/api/v1/auth/activate",
        json={"account_no": account_no, "activation_code": code, "password": "菜园子2026春"},
    )


class TestActivationBudgets:
    def test_item_7_spraying_many_accounts_runs_into_the_service_wide_budget(self, client):
        accounts = [tokens.new_account_no() for _ in range(200)]
        started = time.monotonic()
        answers = []
        for account in accounts:  # one guess per account: the per-account budgets never bind
            answers.append(_guess(client, account).status_code)
            if answers[-1] == 429:
                break
        elapsed = time.monotonic() - started
        # 60 at once, then 1 a second for the whole service.
        assert answers[:60] == [401] * 60 and answers[-1] == 429
        assert len(answers) <= 61 + elapsed
        # ... and then a pause (back-off) for everyone, whatever account is tried next.
        after = [_guess(client, account) for account in accounts[-10:]]
        assert {a.status_code for a in after} == {429}
        assert int(after[0].headers["Retry-After"]) >= 1

    def test_item_7_one_account_gets_five_guesses_then_even_the_right_code_waits(self, client):
        inst = institution(client)
        person = learner(client, inst)
        assert [_guess(client, person["account_no"]).status_code for _ in range(5)] == [401] * 5
        blocked = _guess(client, person["account_no"], person["activation_code"])
        assert blocked.status_code == 429 and blocked.json()["code"] == "rate_limited"
        assert int(blocked.headers["Retry-After"]) >= 60

    def test_item_7_a_year_of_the_whole_budget_cannot_find_a_code(self):
        """The arithmetic of docs/privacy.md, from the constants the service runs with."""
        budget = attempts.ACTIVATION_GLOBAL
        guesses_per_year = budget.capacity + budget.per_second * YEAR_SECONDS
        space = 10**tokens.ACTIVATION_CODE_DIGITS
        chance = guesses_per_year * service.MAX_LIVE_CODES / space
        assert guesses_per_year == pytest.approx(3.15e7, rel=0.01)
        assert chance < 1e-7, chance
        # The old 8-digit codes: the same year would have found one with near certainty.
        assert guesses_per_year * service.MAX_LIVE_CODES / 10**8 > 1
