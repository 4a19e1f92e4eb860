"""Does a completion row say what its ledger transaction says?

The hash chain covers a deposit's transaction — its postings (the learner's account code, the
units, the lot) and ``completion_hash``, the digest of the completion's identity (external id,
account number, outcome code, date, score, hours; ``rules.content_hash``). It does not cover the
completion row's other columns: ``credits_units``, ``learner_id`` and ``outcome_id`` can be edited
in the database and every hash still checks. Whatever reads them to sign something (an
achievement certificate) or to audit the bank compares them with the transaction first.
"""

from __future__ import annotations

from collections.abc import Sequence

from creditbank.completions import rules
from creditbank.completions.models import Completion

LEARNER_PREFIX = "learner:"


def disagreements(
    completion: Completion,
    *,
    account_no: str,
    outcome_code: str | None,
    tx_completion_id: str | None,
    tx_completion_hash: str | None,
    postings: Sequence[tuple[str, int, str | None]],
) -> list[str]:
    """What of ``completion`` its deposit transaction does not vouch for (empty: all of it).
    ``account_no``: its learner's (by ``learner_id``); ``outcome_code``: the code of the outcome row
    it names (``outcome_id``); ``postings``: (account code, units, lot) of its transaction."""
    wrong: list[str] = []
    if tx_completion_id != completion.id:
        wrong.append("transaction_id")
    digest = rules.content_hash(
        external_id=completion.external_id,
        account_no=account_no,
        outcome_code=completion.outcome_code,
        completed_on=completion.completed_on,
        score=completion.score,
        hours=completion.hours,
    )
    if digest != tx_completion_hash:
        wrong.append("content")  # its learner, outcome code, date, score or hours
    if outcome_code != completion.outcome_code:
        wrong.append("outcome_id")
    credited = [(code, units) for code, units, lot in postings if lot is not None]  # the learner's leg
    if len(credited) != 1 or credited[0][0] != f"{LEARNER_PREFIX}{account_no}":
        wrong.append("learner_id")
    elif credited[0][1] != completion.credits_units:
        wrong.append("credits_units")
    return wrong
