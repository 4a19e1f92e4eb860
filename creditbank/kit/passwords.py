"""Password hashing with bounded concurrency, one bound for the whole process (issue 9 item 11).

One argon2id hash costs 64 MiB and ~0.2 s of CPU. Forty sign-ins at once used to occupy every
thread of the server's pool for seconds, and ``/healthz`` waited behind them (median 4.5 s).
Now at most ``concurrent`` hashes run at once (one core is left to everything else), at most
``waiting`` callers queue for up to ``wait_seconds``, and anyone beyond is answered at once with
503 ``busy`` and a Retry-After — so the threads are free for other routes.

Every argon2 hash in the process goes through ``HASHING``: learners' activation and sign-in
(``learners.service``) and staff and operator accounts (``staff.service``, via ``BoundedHasher``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher

from creditbank.errors import CreditbankError

T = TypeVar("T")


class PasswordWork:
    def __init__(self, concurrent: int | None = None, waiting: int | None = None, wait_seconds: float = 2.0):
        self.concurrent = concurrent or max(1, (os.cpu_count() or 2) - 1)
        self.waiting = self.concurrent * 2 if waiting is None else waiting
        self.wait_seconds = wait_seconds
        self._slots = threading.BoundedSemaphore(self.concurrent)
        self._admitted = 0
        self._lock = threading.Lock()

    def run(self, work: Callable[[], T]) -> T:
        with self._lock:
            if self._admitted >= self.concurrent + self.waiting:
                raise CreditbankError("busy", {"retry_after": 1})
            self._admitted += 1
        try:
            if not self._slots.acquire(timeout=self.wait_seconds):
                raise CreditbankError("busy", {"retry_after": 1})
            try:
                return work()
            finally:
                self._slots.release()
        finally:
            with self._lock:
                self._admitted -= 1


HASHING = PasswordWork()
"""The process-wide bound every password hash goes through."""


class BoundedHasher:
    """An argon2id ``PasswordHasher`` whose ``hash`` and ``verify`` wait for ``HASHING``."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()  # the library's recommended parameters

    def hash(self, password: str) -> str:
        return HASHING.run(lambda: self.hasher.hash(password))

    def verify(self, stored: str, password: str) -> bool:
        return HASHING.run(lambda: self.hasher.verify(stored, password))
