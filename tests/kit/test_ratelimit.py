"""Issue 9 item 12: the rate limiter's memory is bounded, and its limits hold across processes.

Before: a dict per process, ~1.1 kB per distinct key tried, never shrinking; each uvicorn worker
kept its own, so N workers allowed N × the limit.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from pathlib import Path

from creditbank.kit.ratelimit import Budget, SharedTable

PER_MINUTE = Budget(capacity=10, window_seconds=60, backoff_seconds=60, max_block_seconds=60)
GUESSES = Budget(capacity=5, per_second=5 / 3600, backoff_seconds=60, max_block_seconds=24 * 3600)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _takes(path: str, n: int, queue) -> None:
    table = SharedTable(Path(path), slots=1024)
    queue.put(sum(table.take("ip:10.0.0.7:CB12345678903", PER_MINUTE) == 0 for _ in range(n)))
    table.close()


class TestBoundedMemory:
    def test_item_12_a_flood_of_distinct_keys_keeps_the_table_size_and_the_blocked_key(self, tmp_path):
        clock = FakeClock()
        table = SharedTable(tmp_path / "limits", slots=1024, clock=clock)
        size = os.path.getsize(tmp_path / "limits")
        for _ in range(5):
            table.take("account:CB-victim", GUESSES)
        assert table.take("account:CB-victim", GUESSES) > 0  # blocked
        for i in range(100_000):  # an attacker trying 100 000 different accounts
            table.take(f"account:CB{i:010d}", GUESSES)
            clock.now += 0.001
        assert os.path.getsize(tmp_path / "limits") == size == 1024 * 48
        assert table.occupied() <= 1024
        # Eviction takes idle, forgettable buckets first: the blocked key is still blocked.
        assert table.take("account:CB-victim", GUESSES) > 0

    def test_item_7_back_off_doubles_while_the_guessing_goes_on(self):
        """An attacker who comes back exactly when told, for 30 days, on one account."""
        clock = FakeClock()
        table = SharedTable(None, slots=64, clock=clock)
        end = clock.now + 30 * 86400
        allowed_at = []
        while clock.now < end:
            wait = table.take("activate:account:CB12345678903", GUESSES)
            if wait == 0:
                allowed_at.append(clock.now)
            else:
                clock.now += wait
        gaps = [b - a for a, b in itertools.pairwise(allowed_at)]
        # Without back-off the refill alone allows 5 + 5/h × 720 h = 3 605 guesses in 30 days.
        assert len(allowed_at) < 100, len(allowed_at)
        assert gaps[-1] >= 86400 - 1  # by then one guess a day


class TestAcrossProcesses:
    def test_item_12_four_processes_share_one_limit(self, tmp_path):
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        workers = [
            context.Process(target=_takes, args=(str(tmp_path / "limits"), 10, queue)) for _ in range(4)
        ]
        for worker in workers:
            worker.start()
        allowed = [queue.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        assert sum(allowed) == 10, allowed  # not 4 × 10
