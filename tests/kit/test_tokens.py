"""Ids: the ledger's ids sort by the time they were made (so inserts append to their indexes)."""

from __future__ import annotations

import re
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

    def test_plain_ids_stay_random(self):
        assert re.fullmatch(r"crt_[A-Za-z0-9_-]{16}", new_id("crt"))
