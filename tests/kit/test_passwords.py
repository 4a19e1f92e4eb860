"""Issue 9 item 11: every password hash in the process shares one bound (learners, staff, operators)."""

from __future__ import annotations

import threading

import pytest
from argon2 import PasswordHasher

from creditbank.errors import CreditbankError
from creditbank.kit import passwords
from creditbank.kit.passwords import BoundedHasher, PasswordWork


def test_item_11_staff_hashing_waits_for_the_bound_learners_use(monkeypatch):
    monkeypatch.setattr(passwords, "HASHING", PasswordWork(concurrent=1, waiting=0))
    staff_hasher = BoundedHasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    inside, release = threading.Event(), threading.Event()
    # A learner's sign-in holds the one slot ...
    learner = threading.Thread(target=passwords.HASHING.run, args=(lambda: (inside.set(), release.wait(30)),))
    learner.start()
    assert inside.wait(30)
    try:
        # ... so a staff or operator sign-in is told "busy" at once instead of hashing beside it.
        with pytest.raises(CreditbankError) as refused:
            staff_hasher.hash("staff-password-1")
        assert refused.value.code == "busy"
    finally:
        release.set()
        learner.join(30)
    stored = staff_hasher.hash("staff-password-1")
    assert staff_hasher.verify(stored, "staff-password-1")


def test_item_11_staff_and_operator_accounts_hash_through_the_bound():
    from creditbank.learners import service as learners
    from creditbank.staff import service as staff

    assert isinstance(staff._hasher, BoundedHasher)
    assert learners._work is passwords.HASHING
