"""Fewer garbage collections while a big batch runs (issue 14, goal 2).

CPython collects its youngest generation after every 700 net allocations of container objects
(dicts, lists, tuples, objects), and every tenth and hundredth of those collections walks the
older generations too — a full collection walks every object the process holds: the app's modules,
SQLAlchemy's compiled statements and metadata, ~110 000 objects in a bare import worker and more
in the server. A batch import allocates a dozen containers per row (row dicts, cleaned rows,
result objects) that mostly die by reference counting, yet each 700 of them paid a collection:
20–30 % of a 20 000-row import's CPU went to the collector (bench/ingest.py, SQLite), almost all
of it finding nothing to free.

``fewer_collections`` raises the youngest generation's threshold for the duration of a batch, and
the batch collects at its own pace instead: ``between_chunks``, after each chunk, when the chunk's
rows, dicts and results are gone. A young collection then walks only what outlives the chunk (the
batch's own bookkeeping, a few objects per row, and the chunk's reference cycles), where one falling
in the middle of a chunk walked — and promoted to an older generation — everything the chunk still
held (a 100 000-row SQLite import, bench/ingest.py, 2026-12-02: 0.29 s of CPU in the collector with
a 50 000 threshold, 0.14 s collecting between chunks). Garbage with reference cycles (a session's internals, a few per chunk) still goes,
once per chunk: what waits is bounded by a chunk (and by the threshold, a safety net), not by the
size of the file. The setting is process-wide (CPython has one collector), so overlapping batches —
two imports in two threads of the server — share it: the first to start raises it, the last to
finish puts back what it found.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

BATCH_THRESHOLD = 1_000_000
"""Net container allocations between two young collections while a batch runs (CPython: 700): a
safety net — a chunk allocates far fewer; the batch collects at its chunk boundaries."""
MIDDLE_EVERY = 10
"""Every tenth ``between_chunks`` also collects the middle generation, as CPython's own schedule does
(its second threshold): what survived earlier chunks' young collections as garbage goes too."""

_lock = threading.Lock()
_active = 0
_saved: tuple[int, ...] | None = None
_chunks = 0


@contextmanager
def fewer_collections(threshold: int = BATCH_THRESHOLD) -> Iterator[None]:
    """Collect the youngest generation after ``threshold`` allocations instead of CPython's 700
    while the block runs; a collector switched off (threshold 0) or already less eager stays as is."""
    global _active, _saved
    with _lock:
        if _active == 0:
            current = gc.get_threshold()
            _saved = current if 0 < current[0] < threshold else None
            if _saved is not None:
                gc.set_threshold(threshold, *current[1:])
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _saved is not None:
                if gc.get_threshold()[0] == threshold:  # unless someone else changed it meanwhile
                    gc.set_threshold(*_saved)
                _saved = None


def between_chunks() -> None:
    """Collect the youngest generation now (every ``MIDDLE_EVERY``-th time the middle one too): called by
    a batch after each chunk, when what the chunk allocated is gone. Nothing when the collector is
    off, or when no batch has raised the threshold (the collector's own schedule stands then)."""
    global _chunks
    if not gc.isenabled() or _saved is None:
        return
    _chunks += 1
    gc.collect(1 if _chunks % MIDDLE_EVERY == 0 else 0)
