"""Ids: the ledger's ids sort by the time they were made (so inserts append to their indexes)."""

from __future__ import annotations

import multiprocessing
import re
import threading
import time

from creditbank.kit.tokens import new_id, new_ordered_id


class TestOrderedIds:
    def test_a_later_id_sorts_after_an_earlier_one(self):
        earlier = [new_ordered_id("txn") for _ in range(50)]
        time.sleep(0.002)
        later = [new_ordered_id("txn") for _ in range(50)]
        assert max(earlier) < min(later)

    def test_ids_are_prefixed_url_safe_unique_and_fit_the_id_columns(self):
        ids = {new_ordered_id("cmp") for _ in range(10_000)}
        assert len(ids) == 10_000
        for value in list(ids)[:100]:
            assert re.fullmatch(r"cmp_[0-9A-Z]{9}[A-Za-z0-9_-]{11}", value) and len(value) <= 40

    def test_threads_and_a_forked_child_never_hand_out_the_same_id(self):
        # Random parts come from a per-thread pool drawn in bulk: two threads, or a parent and the
        # child it forked (uvicorn/gunicorn workers), must not share one.
        new_ordered_id("cmp")  # the pool of this thread is filled before the fork
        context = multiprocessing.get_context("fork")
        with context.Pool(1) as pool:
            from_child = set(pool.apply(_ids, (2_000,)))
        per_thread: list[list[str]] = [[] for _ in range(4)]
        threads = [threading.Thread(target=lambda out=out: out.extend(_ids(2_000))) for out in per_thread]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        here = set(_ids(2_000))
        everything = [*from_child, *here, *(i for ids in per_thread for i in ids)]
        assert len(set(everything)) == len(everything) == 12_000
        # Random parts alone: no clash either (the stamp may differ between parent and child).
        assert not {i[-11:] for i in from_child} & {i[-11:] for i in here}

    def test_plain_ids_stay_random(self):
        assert re.fullmatch(r"crt_[A-Za-z0-9_-]{16}", new_id("crt"))


def _ids(n: int) -> list[str]:
    return [new_ordered_id("cmp") for _ in range(n)]
