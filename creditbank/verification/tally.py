"""Counting verifications without slowing them down.

A verification is a read on the hot path (``GET /v/{id}``, ``GET /api/v1/verify/{id}``); writing a
row for each would cost it a write transaction. Counts are kept in the process and added to the
``verification_tally`` rows at most every ``flush_seconds`` (one upsert per certificate and day),
by a short-lived thread started by whichever verification comes after that (so the write never
runs on the request's thread or the event loop); the app flushes what is left when it stops. A process
killed between flushes loses at most that window's counts: the figure is a count of use, not a
ledger. ``flush_seconds=0`` writes at once (tests).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import date

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from creditbank.db import Database, table_of
from creditbank.kit import clock
from creditbank.verification.models import VerificationTally

log = logging.getLogger("creditbank.verification")


class Tally:
    def __init__(self, db: Database, flush_seconds: float = 10.0) -> None:
        self.db = db
        self.flush_seconds = flush_seconds
        self._counts: Counter[tuple[date, str]] = Counter()
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self._flushing = False

    def count(self, certificate_id: str) -> None:
        with self._lock:
            self._counts[(clock.now().date(), certificate_id)] += 1
            due = time.monotonic() - self._last >= self.flush_seconds and not self._flushing
            if due and self.flush_seconds > 0:
                self._flushing = True
        if not due:
            return
        if self.flush_seconds == 0:
            self.flush()
            return
        # Counted from the event loop too (the verify answer cache): the write — which on SQLite may
        # wait for another writer's lock — runs on a thread of its own, never on the caller's.
        threading.Thread(target=self._flush_in_background, name="verification-tally", daemon=True).start()

    def _flush_in_background(self) -> None:
        try:
            self.flush()
        finally:
            with self._lock:
                self._flushing = False

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, Counter()
            self._last = time.monotonic()
        if not counts:
            return
        table = table_of(VerificationTally)
        rows = [{"day": day, "certificate_id": cid, "count": n} for (day, cid), n in counts.items()]
        dialect = postgresql if not self.db.sqlite else sqlite
        statement = dialect.insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=[col(VerificationTally.day), col(VerificationTally.certificate_id)],
            set_={"count": table.c["count"] + statement.excluded["count"]},
        )
        try:
            with self.db.unit_of_work() as session:
                session.connection().execute(statement, rows)
        except Exception:  # a lost count must never turn a verification into an error
            log.exception("could not record %d verification counts", len(rows))
