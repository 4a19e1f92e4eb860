"""Verification counts reach the database without the verifying request doing the write."""

from __future__ import annotations

import threading
import time

from sqlmodel import select

from creditbank.verification import tally as tally_module
from creditbank.verification.models import VerificationTally
from creditbank.verification.tally import Tally


def _counted(db, certificate_id: str) -> int:
    with db.reader() as session:
        rows = session.exec(
            select(VerificationTally).where(VerificationTally.certificate_id == certificate_id)
        )
        return sum(r.count for r in rows)


class _Clock:
    """``time`` for the tally module: its ``monotonic`` moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_a_due_flush_is_written_by_another_thread_and_nothing_is_lost(db, monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(tally_module, "time", clock)  # no race with a loaded machine's scheduler
    tally = Tally(db, flush_seconds=60)
    writers: list[str] = []
    real = tally.flush

    def watched() -> None:
        writers.append(threading.current_thread().name)
        real()

    monkeypatch.setattr(tally, "flush", watched)
    for _ in range(3):
        tally.count("cert-a")  # inside the window: kept in memory
    assert writers == [] and _counted(db, "cert-a") == 0
    clock.now += 60
    tally.count("cert-a")  # the window has passed: this one starts the write
    deadline = time.monotonic() + 10
    while _counted(db, "cert-a") < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _counted(db, "cert-a") == 4
    assert writers and threading.current_thread().name not in writers


def test_with_no_window_every_count_is_written_at_once(db):
    tally = Tally(db, flush_seconds=0.0)
    tally.count("cert-b")
    tally.count("cert-b")
    assert _counted(db, "cert-b") == 2
