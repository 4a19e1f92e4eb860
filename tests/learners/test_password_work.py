"""Issue 9 item 11: password hashing is bounded; beyond the bound the answer is at once 503 + Retry-After.

Deterministic (no clock): a hash is held inside its slot by an event, so "full" is a state the
test sets up, not a race it hopes to win. The latency under a real flood is measured in
``test_sign_in_flood.py``.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from creditbank.errors import CreditbankError
from creditbank.kit import tokens
from creditbank.kit.passwords import PasswordWork
from creditbank.learners import service
from tests.conftest import institution, learner


class _HeldHasher:
    """Hashes for real (cheaply) but waits, inside its slot, until the test lets it go."""

    def __init__(self) -> None:
        from argon2 import PasswordHasher

        self.inside, self.release = threading.Event(), threading.Event()
        self._real = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

    def _hold(self) -> None:
        self.inside.set()
        assert self.release.wait(30)

    def hash(self, password: str) -> str:
        self._hold()
        return self._real.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        self._hold()
        return self._real.verify(stored, password)


class TestPasswordWork:
    def test_item_11_beyond_the_slots_and_the_queue_a_caller_is_refused_at_once(self):
        work = PasswordWork(concurrent=1, waiting=0, wait_seconds=30)
        inside, release = threading.Event(), threading.Event()
        holder = threading.Thread(target=work.run, args=(lambda: (inside.set(), release.wait(30)),))
        holder.start()
        assert inside.wait(30)
        try:
            with pytest.raises(CreditbankError) as refused:
                work.run(lambda: "never runs")
            assert refused.value.code == "busy" and refused.value.params["retry_after"] >= 1
        finally:
            release.set()
            holder.join(30)
        assert work.run(lambda: "free again") == "free again"

    def test_item_11_a_queued_caller_runs_when_the_slot_frees(self):
        work = PasswordWork(concurrent=1, waiting=1, wait_seconds=30)
        inside, release = threading.Event(), threading.Event()
        holder = threading.Thread(target=work.run, args=(lambda: (inside.set(), release.wait(30)),))
        holder.start()
        assert inside.wait(30)
        results: list[str] = []
        queued = threading.Thread(target=lambda: results.append(work.run(lambda: "ran")))
        queued.start()
        with pytest.raises(CreditbankError):  # the queue (1) is full too
            work.run(lambda: "never runs")
        release.set()
        holder.join(30)
        queued.join(30)
        assert results == ["ran"]


class TestSignInFlood:
    @pytest.fixture
    def held(self, monkeypatch):
        hasher = _HeldHasher()
        monkeypatch.setattr(service, "_hasher", hasher)
        monkeypatch.setattr(service, "_work", PasswordWork(concurrent=1, waiting=0))
        yield hasher
        hasher.release.set()

    def test_item_11_a_sign_in_beyond_the_bound_gets_503_busy_with_retry_after(self, client, held):
        first = threading.Thread(
            target=client.post,
            args=("/api/v1/auth/token",),
            kwargs={"json": {"account_no": tokens.new_account_no(), "password": "wrong-password"}},
        )
        first.start()
        assert held.inside.wait(30)  # one sign-in is hashing
        refused = client.post(
            "/api/v1/auth/token", json={"account_no": tokens.new_account_no(), "password": "wrong-password"}
        )
        assert refused.status_code == 503
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "busy" and int(refused.headers["Retry-After"]) >= 1
        # The rest of the service answers meanwhile.
        assert client.get("/healthz").status_code == 200
        held.release.set()
        first.join(30)

    def test_item_11_hashing_holds_no_database_write_lock(self, client, db, held):
        """Before, the hash ran inside the writing transaction: on SQLite every other writer (an
        enrolment, a posting) waited behind each sign-in's 0.2 s of argon2."""
        school = institution(client)
        person = learner(client, school)
        activation = threading.Thread(
            target=client.post,
            args=("/api/v1/auth/activate",),
            kwargs={
                "json": {
                    "account_no": person["account_no"],
                    "activation_code": person["activation_code"],
                    "password": "菜园子2026春",
                }
            },
        )
        activation.start()
        assert held.inside.wait(30)  # the password is being hashed now
        # A writer gets in at once, even to the learner's own row (SQLite: BEGIN IMMEDIATE; PostgreSQL:
        # the row lock). Before, it waited until the hash was done.
        with db.unit_of_work() as session:
            session.execute(
                text("UPDATE learner SET phone = phone WHERE account_no = :a"), {"a": person["account_no"]}
            )
        held.release.set()
        activation.join(30)
        signed_in = client.post(
            "/api/v1/auth/token", json={"account_no": person["account_no"], "password": "菜园子2026春"}
        )
        assert signed_in.status_code == 200
