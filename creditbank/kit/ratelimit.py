"""Token buckets with back-off in a fixed-size table shared by every worker process.

Why a table in a shared file: a per-process dict grows with every distinct key an attacker
tries (~1.1 kB each, without bound) and each of N uvicorn workers keeps its own, so a limit is
really N × limit. Here the state is a memory-mapped file of ``slots`` fixed-size records: the
memory is bounded by construction, every process on the host maps the same pages (``/dev/shm``
when present), and a ``fcntl`` lock makes each take atomic across processes.

A record is a bucket: tokens, when it was last refilled, a block (back-off) deadline, a strike
count, and the time after which it holds nothing worth remembering (full again, not blocked).
Back-off: once a bucket has run dry, every further attempt — refused or let through on a freshly
refilled token — sets a pause that doubles each time, until the key has been left alone, with
a full bucket, for as long as its last pause.
A key hashes to a window of ``PROBE`` records; when all are taken, the record that is forgettable
soonest is evicted — so a flood of new keys pushes out idle, full buckets first and a blocked key
last (when a whole window is blocked keys, the one whose block ends soonest goes).

Each process keeps its own handle; ``configure`` (called where the app is assembled) points the
module's default table at the deployment's file. Without it, an in-process table is used.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mmap
import os
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_RECORD = struct.Struct("<Q d d d d I I")  # key, tokens, updated, blocked_until, forget_at, strikes, pad
Record = tuple[Any, ...]
State = tuple[float, float, float, float, int, int]  # a record without its key
PROBE = 8
DEFAULT_SLOTS = 65_536  # 3 MiB


@dataclass(frozen=True)
class Budget:
    """``capacity`` attempts at once, refilled at ``per_second`` (a token bucket); or, with
    ``window_seconds``, at most ``capacity`` attempts in any ``window_seconds`` (a sliding-window
    counter: this window's count plus the previous window's, weighted by how much of it still
    overlaps). After running dry, each refused attempt doubles a block starting at
    ``backoff_seconds`` (0: no back-off), up to ``max_block_seconds``."""

    capacity: float
    per_second: float = 0.0
    backoff_seconds: float = 0.0
    max_block_seconds: float = 24 * 3600.0
    window_seconds: float | None = None


class SharedTable:
    def __init__(
        self,
        path: Path | None = None,
        *,
        slots: int = DEFAULT_SLOTS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.slots = slots
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        size = slots * _RECORD.size
        if path is None:
            self._fd = None
            self._map = mmap.mmap(-1, size)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            with self._locked():
                if os.fstat(self._fd).st_size != size:
                    os.ftruncate(self._fd, size)  # sparse: pages cost memory only once touched
            self._map = mmap.mmap(self._fd, size)

    def close(self) -> None:
        self._map.close()
        if self._fd is not None:
            os.close(self._fd)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """This process's threads, then every process (flock on the shared file)."""
        with self._lock:
            if self._fd is None:
                yield
                return
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    @staticmethod
    def _hash(key: str) -> int:
        return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") or 1

    def _find(self, h: int, now: float) -> tuple[int, Record | None]:
        """The slot holding key ``h`` (with its record), or the slot to (re)use for it."""
        start = h % self.slots
        victim, victim_forget = start, float("inf")
        for i in range(PROBE):
            slot = (start + i) % self.slots
            record = _RECORD.unpack_from(self._map, slot * _RECORD.size)
            if record[0] == h:
                return slot, record
            forget = 0.0 if record[0] == 0 else record[4]
            if forget < victim_forget:
                victim, victim_forget = slot, forget
        return victim, None

    def take(self, key: str, budget: Budget, cost: float = 1.0) -> float:
        """Spend ``cost`` tokens: 0.0 when allowed, else the seconds to wait (the retry-after)."""
        return self._apply(key, budget, cost, spend=True)

    def wait(self, key: str, budget: Budget) -> float:
        """Seconds until one token is available (0.0 now), spending nothing."""
        return self._apply(key, budget, 1.0, spend=False)

    def _apply(self, key: str, budget: Budget, cost: float, *, spend: bool) -> float:
        h = self._hash(key)
        with self._locked():
            now = self.clock()
            slot, record = self._find(h, now)
            if not spend and record is None:
                return 0.0 if cost <= budget.capacity else float("inf")  # nothing to remember
            step = self._window_step if budget.window_seconds else self._bucket_step
            wait, state = step(budget, record, now, cost, spend)
            _RECORD.pack_into(self._map, slot * _RECORD.size, h, *state)
            return float(wait)

    @staticmethod
    def _refuse(
        budget: Budget, now: float, blocked_until: float, strikes: int, spend: bool
    ) -> tuple[float, int]:
        if spend and budget.backoff_seconds:
            blocked_until = now + min(budget.max_block_seconds, budget.backoff_seconds * 2**strikes)
            strikes += 1
        return blocked_until, strikes

    @staticmethod
    def _last_block(budget: Budget, strikes: int) -> float:
        if not strikes:
            return 0.0
        return float(min(budget.max_block_seconds, budget.backoff_seconds * 2 ** (strikes - 1)))

    def _bucket_step(
        self, budget: Budget, record: Record | None, now: float, cost: float, spend: bool
    ) -> tuple[float, State]:
        if record is None:
            tokens, blocked_until, strikes = budget.capacity, 0.0, 0
        else:
            _, tokens, updated, blocked_until, _, strikes, _ = record
            tokens = min(budget.capacity, tokens + max(0.0, now - updated) * budget.per_second)
            if tokens >= budget.capacity and now >= blocked_until + self._last_block(budget, strikes):
                strikes = 0  # full again, and left alone as long as the last pause: forgiven
        if blocked_until > now:
            wait = max(blocked_until - now, (cost - tokens) / budget.per_second)
        elif tokens >= cost:
            wait = 0.0
            if spend:
                tokens -= cost
                if strikes:  # still under pressure since it last ran dry: each attempt doubles the pause
                    blocked_until, strikes = self._refuse(budget, now, blocked_until, strikes, spend)
        else:
            wait = (cost - tokens) / budget.per_second
            blocked_until, strikes = self._refuse(budget, now, blocked_until, strikes, spend)
            wait = max(wait, blocked_until - now)
        forget_at = max(
            now + (budget.capacity - tokens) / budget.per_second,
            blocked_until + self._last_block(budget, strikes),
        )
        return wait, (tokens, now, blocked_until, forget_at, strikes, 0)

    def _window_step(
        self, budget: Budget, record: Record | None, now: float, cost: float, spend: bool
    ) -> tuple[float, State]:
        window = budget.window_seconds or 1.0
        start = now - now % window
        if record is None:
            count, previous, blocked_until, strikes = 0.0, 0, 0.0, 0
        else:
            _, count, record_start, blocked_until, _, strikes, previous = record
            if record_start < start:  # a new window: the old count becomes "previous" (or ages out)
                previous = int(count) if record_start == start - window else 0
                count = 0.0
                if previous == 0 and blocked_until <= now:
                    strikes = 0
        estimate = previous * (1 - (now - start) / window) + count
        if blocked_until > now:
            wait = blocked_until - now
        elif estimate + cost <= budget.capacity:
            wait = 0.0
            if spend:
                count += cost
        else:
            wait = start + window - now
            blocked_until, strikes = self._refuse(budget, now, blocked_until, strikes, spend)
            wait = max(wait, blocked_until - now)
        forget_at = max(start + 2 * window, blocked_until)
        return wait, (count, start, blocked_until, forget_at, strikes, previous)

    def occupied(self) -> int:
        """How many records hold a key (for tests and monitoring)."""
        with self._locked():
            return sum(
                1 for slot in range(self.slots) if _RECORD.unpack_from(self._map, slot * _RECORD.size)[0] != 0
            )


_default: SharedTable | None = None
_default_lock = threading.Lock()


def default_path(database_url: str) -> Path:
    """One table per deployment (per database) and user, in RAM when ``/dev/shm`` exists."""
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return base / f"creditbank-ratelimit-{os.getuid()}-{digest}"


def configure(path: Path | None, *, slots: int = DEFAULT_SLOTS) -> SharedTable:
    """Point this process's limits at ``path`` (shared with the other workers of the deployment)."""
    global _default
    with _default_lock:
        if _default is not None and _default.path == path and _default.slots == slots and path is not None:
            return _default
        _default = SharedTable(path, slots=slots)
        return _default


def table() -> SharedTable:
    global _default
    with _default_lock:
        if _default is None:
            _default = SharedTable(None, slots=4096)
        return _default


class RateLimiter:
    """``limit`` hits per ``window_seconds`` for each key, on the process's default table; a key
    that runs dry waits one whole window. ``name`` keeps different limits' buckets apart and must
    be the same in every worker process (it is part of the shared key)."""

    def __init__(self, limit: float, window_seconds: float, *, name: str | None = None) -> None:
        self.limit = limit
        self.window = window_seconds
        self.name = name or f"{limit}/{window_seconds}s"

    def retry_after(self, key: str) -> float:
        budget = Budget(
            capacity=self.limit,
            window_seconds=self.window,
            backoff_seconds=self.window,
            max_block_seconds=self.window,
        )
        return table().take(f"{self.name}\x00{key}", budget)

    def allow(self, key: str) -> bool:
        return self.retry_after(key) == 0.0
