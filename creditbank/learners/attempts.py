"""How many guesses anyone gets: activation codes and passwords (issue 9 items 7 and 12).

Budgets are token buckets in the deployment's shared table (``kit.ratelimit``): every worker
process draws on the same buckets, and the table's memory is fixed whatever keys are tried.

Activation codes are 16 random digits (10^16). Every attempt — right or wrong — spends from
three buckets, and the first one that is dry refuses with 429 and a Retry-After:

* per (client address, account): 5 at once, 5 more per hour; running dry blocks that address's
  activation of that account for 1 minute, doubling with each further refusal up to a day;
* per account, whoever tries: 200 at once, 50 more per hour; running dry blocks the account's
  activation for 1 minute, doubling up to an hour;
* for the whole deployment: 60 at once, then 1 a second; running dry pauses every activation
  for 10 s, doubling up to 15 minutes.

Why two per-account budgets: account numbers are public (printed on every certificate), so a limit
per account alone let any stranger keep a learner's new slip unusable for a day with six wrong
guesses. The strict budget is now the stranger's own (their address), and the learner at theirs
still has five tries. The per-account ceiling stops guessing spread over many addresses: to keep it
dry takes more than 50 guesses an hour, over ten addresses each at their own limit of 5 an hour,
and it lets go an hour after they stop.

A year therefore holds at most 60 + 365 × 86 400 ≈ 3.2 × 10^7 guesses for the whole service, and
200 + 50 × 8 760 ≈ 4.4 × 10^5 for one account from any number of addresses. A guess names one
account, and an account has at most ``MAX_LIVE_CODES`` = 8 live codes, so a guess hits with
probability ≤ 8 / 10^16; a year of the global budget finds a code with probability
≤ 3.2 × 10^7 × 8 / 10^16 ≈ 2.5 × 10^-8, and a year aimed at one account ≤ 3.5 × 10^-10
(docs/privacy.md).
"""

from __future__ import annotations

import math

from creditbank.errors import CreditbankError
from creditbank.kit import ratelimit
from creditbank.kit.ratelimit import Budget

ACTIVATION_PER_CLIENT_ACCOUNT = Budget(
    capacity=5, per_second=5 / 3600, backoff_seconds=60, max_block_seconds=24 * 3600
)
ACTIVATION_PER_ACCOUNT = Budget(
    capacity=200, per_second=50 / 3600, backoff_seconds=60, max_block_seconds=3600
)
ACTIVATION_GLOBAL = Budget(capacity=60, per_second=1.0, backoff_seconds=10, max_block_seconds=15 * 60)
PER_CLIENT_ACCOUNT = Budget(capacity=10, window_seconds=60, backoff_seconds=60, max_block_seconds=60)


def _spend(*buckets: tuple[str, Budget]) -> None:
    table = ratelimit.table()
    for key, budget in buckets:
        wait = table.take(key, budget)
        if wait > 0:
            raise CreditbankError("rate_limited", {"retry_after": max(1, math.ceil(wait))})


def activation_attempt(account_no: str, client: str | None) -> None:
    """Spend one activation attempt, or refuse (429) when a budget is dry. The caller's own budget
    first: a stranger whose budget is dry spends nothing of the account's or the service's."""
    _spend(
        (f"activate:client-account:{client or '?'}:{account_no}", ACTIVATION_PER_CLIENT_ACCOUNT),
        (f"activate:account:{account_no}", ACTIVATION_PER_ACCOUNT),
        ("activate:all", ACTIVATION_GLOBAL),
    )


def sign_in_attempt(account_no: str, client: str | None) -> None:
    """Spend one sign-in attempt for this (client, account), or refuse (429)."""
    _spend((f"sign-in:client:{client or '?'}:{account_no}", PER_CLIENT_ACCOUNT))
