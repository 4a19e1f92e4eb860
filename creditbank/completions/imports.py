"""Staged batch imports: other writers keep moving while a big file goes in (issue 14, goal 7).

The ledger is one hash chain with one writer at a time (``ledger.writer.lock``). A 100 000-row
import in one transaction holds that lock for the whole import — every other institution's post,
every conversion and certificate waits tens of seconds. Here the import holds it one chunk at a
time, and stays all-or-nothing for everybody who reads:

1. **Check** (all-or-nothing mode only): every row is checked in read-only transactions, holding
   no lock — learners, outcomes, external ids, duplicates in the file. Any refusal:
   ``batch_rejected`` with the full report, and nothing was written. The cleaned rows and their
   content hashes are kept, compressed (``_Cleaned``), for step 2: the file is read, cleaned and
   hashed once.
2. **Write in committed chunks**: a ``completion_import`` row (state ``running``, a heartbeat)
   marks the import; each chunk is one unit of work that takes the ledger lock, checks its rows
   again against the ledger as it is now (so nothing is credited twice, whatever happened since
   step 1), appends the ledger transactions and transparency-log leaves (the one sequencer; the
   chain simply interleaves with other writers' transactions), and writes completions and lots as
   **pending**: on the ledger, in the audit's sums, but not shown to the learner (balance,
   statement, completions) and not spendable (conversions and certificates take active lots and
   completions only). The lock is held for one chunk, then every waiting writer gets its turn.
3. **Publish**: one short transaction marks the import ``published`` and releases its
   ``lot_batch`` (with the Idempotency-Key answer, if any): two rows, whatever the import's size.
   From that commit on every pending completion and lot of the import counts as active
   (``models.live``, ``ledger.queries.lot_live``) — the whole batch becomes visible at once. A
   learner's pending conversion request for a course the import gives them ends in the same
   transaction (``superseded``, its credits released), as a single post of the course ends it.
4. **Settle**: the import's rows are turned ``active`` in short chunks (each its own transaction,
   like step 2), then the batch is marked ``settled``. Nothing a reader sees changes; it only
   puts the rows under the partial unique index and keeps readers' "released" set empty. A crash
   here leaves rows that are already visible; the next import (of any institution) settles them.

A failure after step 1 (a database error, a crash, a row that became a conflict meanwhile) leaves
the written rows pending: nothing visible, nothing spendable, the audit passes. The import is
marked ``failed`` (or, after a crash, its heartbeat stops: after ``LEASE`` it counts as dead).
Sending the same file again adopts the pending rows with the same content instead of refusing
them as conflicts, writes the rest and publishes: same file, same answer. Imports of one
institution never overlap (a second one gets ``import_in_progress``), nor do its single posts and
its import (a pending learner × outcome pair is published at the end).
"""

from __future__ import annotations

import contextlib
import marshal
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from itertools import islice
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlmodel import Session, col

from creditbank.catalogue.models import Outcome
from creditbank.completions import rules
from creditbank.completions.models import Completion, CompletionImport, CompletionState, ImportState
from creditbank.completions.service import ABANDONED_BY, BatchReport, Poster, Prepared, import_running
from creditbank.conversion.models import Conversion, ConversionRule, ConversionState
from creditbank.conversion.service import supersede
from creditbank.db import Database, in_values, referenced, table_of
from creditbank.errors import CreditbankError, row_error
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution
from creditbank.kit import clock
from creditbank.kit.gcpace import between_chunks, fewer_collections
from creditbank.kit.tokens import new_id
from creditbank.ledger.models import BatchState, LedgerHead, Lot, LotBatch, LotState
from creditbank.ledger.queries import released
from creditbank.ledger.writer import LedgerWriter, lock

STAGED_CHUNK = 500
"""Rows of the first committed chunk. Later chunks are sized from the time the previous one held
the ledger lock (``LOCK_HOLD``), between ``MIN_CHUNK`` and ``MAX_CHUNK`` rows."""
LOCK_HOLD = 0.25
"""Seconds a chunk may hold the ledger lock while other writers are active (one of them committed
since our previous chunk): what a writer arriving meanwhile waits at most (PostgreSQL queues it; on
SQLite see ``_yield_to_writers``). On a loaded machine the chunks shrink instead of the waits growing."""
IDLE_HOLD = 0.6
"""The same while nobody else writes: bigger chunks, fewer commits. The first writer to arrive
waits for at most one such chunk; from the next chunk on the import holds ``LOCK_HOLD``."""
MIN_CHUNK = 100
MAX_CHUNK = 12000
"""A cap on a chunk's memory; the time it holds the lock (``LOCK_HOLD``, ``IDLE_HOLD``) sizes it. Each
commit writes every page the chunk touched to the WAL, and the checkpoint that follows copies them
into the database — with a big file's scattered keys (external ids, learners, accounts) most leaf
pages of the indexes, however few rows the chunk has: fewer, bigger chunks while nobody else writes
cost less (SQLite, 100 000 rows replayed in chunks: commits 0.55 s of CPU with 4 000-row chunks,
0.35 s with 12 000; 4 000 was the cap until 2026-12-02)."""
CHECK_CHUNK = 2000
"""Rows per read transaction of the check pass (no lock held, so no reason to keep it small)."""
SETTLE_CHUNK = STAGED_CHUNK
"""Rows of the first settling transaction; later ones sized like the import's chunks, up to
``MAX_SETTLE`` (a settle row costs ~10–25 µs of lock, a tenth of an imported row; 100 000 rows in
one transaction held SQLite's write lock ~1 s idle, ~3 s at load 6)."""
MAX_SETTLE = 20000

Rows = Iterable[tuple[int, dict[str, Any]] | tuple[int, str, dict[str, Any]]]
Published = Callable[[Session, BatchReport], None]
"""Called inside the publishing transaction (the API stores the Idempotency-Key answer there)."""


@fewer_collections()  # a dozen short-lived containers per row: rarer collections (kit.gcpace)
def run(
    db: Database,
    *,
    institution_id: int,
    api_key_id: str | None,
    secret: bytes,
    rows: Callable[[], Rows],
    mode: str = "all_or_nothing",
    progress: Callable[[int], object] | None = None,
    on_publish: Published | None = None,
    chunk: int | None = None,
    staff_id: int | None = None,
) -> BatchReport:
    """Import the rows ``rows()`` yields (called once: in all-or-nothing mode the write pass takes the
    rows the check pass cleaned), committing chunk by chunk and publishing at the end.

    All-or-nothing: any refused row raises ``batch_rejected`` and nothing becomes visible.
    Partial: refused rows are reported, the others published together. ``staff_id``: the staff
    account uploading through the console (recorded on each completion). ``chunk``: a fixed chunk
    size (tests); by default it adapts to ``LOCK_HOLD``."""
    # Refused first, before anything is written or settled: a suspended or not accredited
    # institution's upload (even an empty file) must leave no import record behind — a "failed"
    # import with 0 rows would be listed by abandon-import and the console. ``_start`` asks again
    # under the ledger lock, for a suspension that commits meanwhile.
    with db.reader() as session:
        institutions.require_accredited(session, institution_id)
    settle_released(db)  # a crash after some earlier publish left rows to settle: now, not never
    known: dict = {}  # learner refs, shared by both passes: each learner is looked up once
    checked: _Cleaned | None = None
    if mode == "all_or_nothing":
        checked = _check(db, institution_id=institution_id, api_key_id=api_key_id, secret=secret, rows=rows(),
                         chunk=chunk or CHECK_CHUNK, known=known)  # fmt: skip
    report = BatchReport(mode=mode)
    import_id = _start(db, institution_id)
    size = chunk or STAGED_CHUNK
    published = False
    try:
        poster: Poster | None = None
        last_seq: int | None = None  # the chain head after our previous chunk
        iterator: Iterator = iter(checked) if checked is not None else iter(rows())
        while part := list(islice(iterator, size)):
            prepared = None
            if db.sqlite:
                _yield_to_writers(db)
            if poster is not None:
                # Outside the lock: fields, learners, content hashes. On SQLite this is also the gap
                # in which writers waiting on the database lock get their turn between two chunks.
                with db.reader() as reading:
                    poster.read_with(reading)
                    prepared = _prepare(poster, part, cleaned=checked is not None)
            with db.unit_of_work() as session:
                institution = referenced(session, Institution, institution_id)
                if poster is None:
                    poster = Poster(
                        session,
                        institution=institution,
                        api_key_id=api_key_id,
                        secret=secret,
                        import_id=import_id,
                        staff_id=staff_id,
                        known_learners=known,
                    )
                else:
                    poster.rebind(session, institution)
                assert poster.writer is not None
                held = time.monotonic()  # the ledger lock is ours (the writer took it) until the commit
                others = last_seq is not None and poster.writer.seq != last_seq  # someone wrote between
                if prepared is None:  # the first chunk: prepared under the lock
                    prepared = _prepare(poster, part, cleaned=checked is not None)
                written = _post(poster, part, report, prepared, cleaned=checked is not None)
                if mode == "all_or_nothing" and report.errors:
                    # Checked clean in step 1: the ledger changed since (another writer won a race).
                    raise _rejected(report)
                poster.flush()
                _beat(session, import_id, written)
                last_seq = poster.writer.seq
                held = time.monotonic() - held  # the commit follows; the lock is released with it
            count = len(part)
            part, prepared = [], None  # the chunk's rows are garbage now: collect before the next chunk
            between_chunks()
            if chunk is None:
                size = _next_size(size, count, held, LOCK_HOLD if others else IDLE_HOLD)
            if progress is not None:
                progress(count)
        report.errors.sort(key=lambda e: e["line"])
        if db.sqlite:
            _yield_to_writers(db)
        with db.unit_of_work() as session:
            _publish(session, import_id)
            report.committed = True
            if on_publish is not None:
                on_publish(session, report)
        published = True
    except BaseException:
        if not published:
            with contextlib.suppress(
                Exception
            ):  # best effort: a dead import is recognised by its heartbeat too
                _finish(db, import_id, ImportState.failed)
        raise
    # Published: visible to all from here on. Settling only changes how the rows are stored; if it
    # fails (a crash, a database error) the next import finishes it, and the answer stands.
    with contextlib.suppress(Exception):
        settle(db, import_id)
    return report


def _next_size(size: int, rows: int, held: float, target: float, most: int = MAX_CHUNK) -> int:
    """The next chunk's size: as many rows as fit in ``target`` seconds at the last chunk's pace, at
    most twice the last size (one fast chunk is no proof), within ``MIN_CHUNK``–``most``."""
    if rows < size:  # the last, short chunk says nothing about the pace
        return size
    fits = int(rows * target / max(held, 1e-3))
    return max(MIN_CHUNK, min(most, 2 * size, fits))


def _prepare(poster: Poster, part: list, *, cleaned: bool) -> Prepared:
    """``Poster.prepare`` of a chunk: rows of the file, or (``cleaned``) the check pass's rows and
    content hashes."""
    if cleaned:
        return poster.prepare_cleaned([row for row, _ in part], {row.line: digest for row, digest in part})
    return poster.prepare([r for r in part if len(r) == 2])


def _post(
    poster: Poster, part: list, report: BatchReport, prepared: Prepared, *, cleaned: bool = False
) -> int:
    """Post one chunk, ``prepare``d, into ``report``; return how many rows it wrote. ``part``: rows of
    the file — (line, values), or (line, code, params) for a row the reader refused — or, with
    ``cleaned``, the check pass's (``rules.CleanRow``, content hash) pairs."""
    if cleaned:
        lines = [row.line for row, _ in part]
    else:
        lines = []
        for row in part:
            if len(row) == 3:
                report.errors.append(row_error(row[0], row[1], params=row[2]))
            else:
                lines.append(row[0])
    report.total_rows += len(part)
    written = 0
    for line, result in zip(lines, poster.post([], prepared), strict=True):
        if isinstance(result, rules.Problem):
            report.refused(line, result)
        elif result.replayed:
            report.replayed += 1
        else:
            report.accepted += 1
            written += 1
    return written


def _rejected(report: BatchReport) -> CreditbankError:
    report.errors.sort(key=lambda e: e["line"])
    return CreditbankError("batch_rejected", {"rejected": report.rejected}, errors=report.errors)


def _check(
    db: Database,
    *,
    institution_id: int,
    api_key_id: str | None,
    secret: bytes,
    rows: Rows,
    chunk: int,
    known: dict,
) -> _Cleaned:
    """Step 1: every row checked, nothing written, no lock held (one short read per chunk). Returns
    the cleaned rows for step 2 (all of them clean, or this raised)."""
    report = BatchReport(mode="all_or_nothing")
    poster: Poster | None = None
    kept = _Cleaned()
    iterator = iter(rows)
    while part := list(islice(iterator, chunk)):
        with db.reader() as session:
            institution = referenced(session, Institution, institution_id)
            if poster is None:
                poster = Poster(session, institution=institution, api_key_id=api_key_id, secret=secret, write=False,
                                import_id="check", known_learners=known)  # fmt: skip
            else:
                poster.rebind(session, institution)
            prepared = poster.prepare([r for r in part if len(r) == 2])
            _post(poster, part, report, prepared)
        if not report.errors:  # else the file is refused: what step 2 would need is moot
            kept.add(prepared.cleaned, prepared.digests)
        part = []  # the chunk's rows are garbage now: collect before the next chunk
        del prepared
        between_chunks()
    if report.errors:
        raise _rejected(report)
    return kept


class _Cleaned:
    """The rows the check pass cleaned, with their content hashes, kept for the write pass: reading
    the file, cleaning and hashing every row a second time was ~0.7 s of CPU per 100 000 rows
    (bench/ingest.py; longer for XLSX), where keeping and reading them back costs ~0.25 s. Kept in
    memory (a learner's ID number never goes to a file of ours), compact: per chunk, the rows as
    plain tuples in ``marshal`` form, compressed (zlib level 1) — ~65 bytes a row, half of it the
    hash, 6.4 MB for the 100 000 rows an upload may have at most, a fraction of what the rows would
    take as objects; the write pass holds one chunk's objects at a time."""

    def __init__(self) -> None:
        self._frames: list[bytes] = []

    def add(self, rows: list, digests: dict[int, str]) -> None:
        """Keep ``rows`` (``rules.CleanRow``, all of them: the caller checked) and their hashes."""
        self._frames.append(
            zlib.compress(
                marshal.dumps(
                    [(*row[:5], row.completed_on.toordinal(), *row[6:], digests[row.line]) for row in rows]
                ),
                1,
            )
        )

    def __iter__(self) -> Iterator[tuple[rules.CleanRow, str]]:
        dates: dict[int, date] = {}  # a file has a few hundred distinct dates
        make = rules.CleanRow._make
        for frame in self._frames:
            for line, ext_id, account, nid, code, day, score, hours, name, digest in marshal.loads(
                zlib.decompress(frame)
            ):
                on = dates.get(day)
                if on is None:
                    on = dates[day] = date.fromordinal(day)
                yield make((line, ext_id, account, nid, code, on, score, hours, name)), digest


def _start(db: Database, institution_id: int) -> str:
    with db.unit_of_work() as session:
        lock(session)  # one at a time: two imports of one institution must not both start
        institutions.require_accredited(session, institution_id)
        if import_running(session, institution_id=institution_id):
            raise CreditbankError("import_in_progress")
        now = clock.now()
        record = CompletionImport(
            id=new_id("imp"), institution_id=institution_id, started_at=now, heartbeat_at=now
        )
        session.add(record)
        session.add(LotBatch(id=record.id, state=BatchState.held))
        session.flush()
        return record.id


def _beat(session: Session, import_id: str, written: int) -> None:
    session.execute(
        update(CompletionImport)
        .where(col(CompletionImport.id) == import_id)
        .values(heartbeat_at=clock.now(), rows=col(CompletionImport.rows) + written)
    )


_SUPERSEDED = (
    # The learners' pending requests whose target (any version: the code at its institution) this
    # import gives them: request → the completion that ends it. Pending requests are few; each
    # finds its learner's completions by index.
    select(col(Conversion.id), col(Completion.id))
    .join(ConversionRule, col(ConversionRule.id) == col(Conversion.rule_id))
    .join(Outcome, col(Outcome.id) == col(ConversionRule.target_outcome_id))
    .join(
        Completion,
        (col(Completion.learner_id) == col(Conversion.learner_id))
        & (col(Completion.institution_id) == col(Outcome.institution_id))
        & (col(Completion.outcome_code) == col(Outcome.code)),
    )
    .where(
        col(Conversion.state) == ConversionState.pending,
        col(Completion.import_id) == bindparam("import_id"),
        col(Completion.state) == CompletionState.pending,
    )
)


def _publish(session: Session, import_id: str) -> None:
    """Step 3: the whole batch becomes visible at once — by two row updates, whatever its size
    (and the release of the learners' pending conversion requests for courses it gives them).

    The import turns ``published`` and its ``lot_batch`` ``released``: from this commit on, every
    reader counts the pending rows of the import as active (``models.live``,
    ``ledger.queries.lot_live``). Until 2026-12-02 this transaction turned each completion and lot
    ``active`` itself: 2 × rows UPDATEs, on SQLite ~1 s idle and ~3 s at load 6 for 100 000 rows,
    all of it holding the database's one write lock while other institutions' posts waited
    (bench/README.md, goal 7). The ledger lock orders it with every other writer (a conversion
    sees the lots before or after, never halfway)."""
    lock(session)
    session.execute(
        update(LotBatch)
        .where(col(LotBatch.id) == import_id, col(LotBatch.state) == BatchState.held)
        .values(state=BatchState.released)
    )
    session.execute(
        update(CompletionImport)
        .where(col(CompletionImport.id) == import_id)
        .values(state=ImportState.published, finished_at=clock.now())
    )
    # The courses count from this commit on: a request for one of them has nothing left to grant.
    supersede(session, dict(session.execute(_SUPERSEDED, {"import_id": import_id}).all()))


_LOT, _COMPLETION = table_of(Lot), table_of(Completion)
_SETTLE_LOTS = (
    update(_LOT)
    .where(in_values(_LOT.c.completion_id, "ids"), _LOT.c.state == LotState.pending)
    .values(state=LotState.active)
)
_SETTLE_COMPLETIONS = (
    update(_COMPLETION)
    .where(in_values(_COMPLETION.c.id, "ids"), _COMPLETION.c.state == CompletionState.pending)
    .values(state=CompletionState.active)
)


def settle(db: Database, import_id: str, *, chunk: int | None = None) -> int:
    """Step 4: turn a published import's pending rows ``active``, chunk by chunk (each its own
    transaction, sized like the import's chunks by the time it takes; ``chunk``: a fixed size),
    then mark its batch ``settled``; return how many completions
    it turned. Readers see no change (the rows were live already); afterwards they are plain
    active rows under the partial unique index. Repeatable: a crash halfway leaves live rows, and
    the next call goes on where this one stopped."""
    turned = 0
    size = chunk or SETTLE_CHUNK
    last_seq: int | None = None
    completion = table_of(Completion)
    while True:
        if db.sqlite:
            _yield_to_writers(db)
        with db.unit_of_work() as session:
            # No ledger lock (SQLite's write transaction is its own lock): settling changes no figure
            # and no chain, only how live rows are stored, and nobody else writes these rows but a
            # revocation, whose row update PostgreSQL orders with ours (each UPDATE re-checks its
            # ``state = 'pending'`` on the row it waited for). Posts never wait for a settle chunk.
            seq = session.execute(select(col(LedgerHead.seq)).where(col(LedgerHead.id) == 1)).scalar_one()
            held = time.monotonic()
            others = last_seq is not None and seq != last_seq
            last_seq = seq
            state = session.execute(select(col(LotBatch.state)).where(col(LotBatch.id) == import_id)).scalar()
            if state != BatchState.released:
                return turned  # not published (nothing to settle), or settled already
            ids = list(
                session.execute(
                    select(completion.c.id)
                    .where(completion.c.import_id == import_id, completion.c.state == CompletionState.pending)
                    .limit(size)
                ).scalars()
            )
            if not ids:
                session.execute(
                    update(LotBatch).where(col(LotBatch.id) == import_id).values(state=BatchState.settled)
                )
                return turned
            # One set-based statement per table (Core: no ORM session synchronisation), not one per
            # row; each lot in the same transaction as its completion. The ids travel as one list
            # parameter: a chunk of up to MAX_SETTLE ids rendered as as many placeholders cost more
            # than the updates' own work.
            connection = session.connection()
            connection.execute(_SETTLE_LOTS, {"ids": ids})
            connection.execute(_SETTLE_COMPLETIONS, {"ids": ids})
            turned += len(ids)
            held = time.monotonic() - held
        if chunk is None:
            size = _next_size(size, len(ids), held, LOCK_HOLD if others else IDLE_HOLD, most=MAX_SETTLE)


def settle_released(db: Database) -> int:
    """Settle every published import a crash left unsettled (usually none: one cheap query)."""
    with db.reader() as session:
        batches = list(session.execute(released()).scalars())
    return sum(settle(db, batch) for batch in batches)


def _finish(db: Database, import_id: str, state: ImportState) -> None:
    with db.unit_of_work() as session:
        session.execute(
            update(CompletionImport)
            .where(col(CompletionImport.id) == import_id, col(CompletionImport.state) == ImportState.running)
            .values(state=state, finished_at=clock.now())
        )


YIELD_WINDOW = 0.010
YIELD_MAX = 1.0


def _yield_to_writers(db: Database) -> None:
    """SQLite only: before taking the write lock again, let writers that waited during our chunk
    go first — wait until nobody has committed for ``YIELD_WINDOW`` (``PRAGMA data_version`` moves
    when another connection commits), at most ``YIELD_MAX``. Without it the import, polling for
    the lock like everyone else, took it back after a single waiter and the others' waits added
    up chunk after chunk. PostgreSQL queues lock waiters in order: nothing to do there."""
    with db.engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        version = raw.execute("PRAGMA data_version").fetchone()[0]
        deadline = time.monotonic() + YIELD_MAX
        while time.monotonic() < deadline:
            time.sleep(YIELD_WINDOW)
            now = raw.execute("PRAGMA data_version").fetchone()[0]
            if now == version:
                return
            version = now


def abandon(db: Database, *, import_id: str, reason: str | None = None, chunk: int = 500) -> int:
    """Operator: give up an import that nobody will send again, and return how many rows it reversed.

    Its pending rows stay on the ledger as written (the chain never loses a transaction); each
    gets its exact reversal (``LedgerWriter.reverse``), its lot turns ``reversed`` and its
    completion ``revoked`` (``revoked_by`` = ``ABANDONED_BY``) — so the pending credits leave the
    learners' account balances and ``learner_balance`` too, and the audit passes. Chunk by chunk,
    each its own unit of work under the ledger lock, like the import itself, so others keep
    writing. Refused: an unknown import (``import_not_found``), a published one
    (``import_published``: revoke its completions instead), a live one (``import_in_progress``).
    Repeating it (after a crash halfway, say) reverses whatever is still pending. A file sent again
    meanwhile adopts the rows not yet reversed, as it would after a failure."""
    with db.unit_of_work() as session:
        lock(session)
        record = session.get(CompletionImport, import_id)
        if record is None:
            raise CreditbankError("import_not_found", {"id": import_id})
        if record.state == ImportState.published:
            raise CreditbankError("import_published", {"id": import_id})
        if import_running(session, institution_id=record.institution_id):
            raise CreditbankError("import_in_progress")  # it, or a resend of it, is still writing
        record.state = ImportState.abandoned
        record.finished_at = clock.now()
        session.add(record)
    why = reason or "批量导入已放弃 / batch import abandoned"
    reversed_rows = 0
    while True:
        with db.unit_of_work() as session:
            writer = LedgerWriter(session)  # takes the ledger lock
            pending = session.execute(
                select(col(Completion.id), col(Completion.transaction_id))
                .where(
                    col(Completion.import_id) == import_id, col(Completion.state) == CompletionState.pending
                )
                .order_by(col(Completion.id))
                .limit(chunk)
            ).all()
            if not pending:
                return reversed_rows
            reversals = [(completion_id, writer.reverse(tx_id)) for completion_id, tx_id in pending]
            writer.flush()  # the reversals, and their lots marked reversed
            now = clock.now()
            table = table_of(Completion)
            session.connection().execute(
                update(table)
                .where(table.c.id == bindparam("cid"))
                .values(
                    state=CompletionState.revoked,
                    revoked_at=now,
                    revoke_reason=why,
                    revoke_transaction_id=bindparam("rtx"),
                    revoked_by=ABANDONED_BY,
                ),
                [{"cid": cid, "rtx": rtx} for cid, rtx in reversals],
            )
            reversed_rows += len(pending)


def unfinished(db: Database) -> list[CompletionImport]:
    """Imports that did not publish (running, failed, abandoned), newest first — for the operator."""
    with db.reader() as session:
        return list(
            session.execute(
                select(CompletionImport)
                .where(col(CompletionImport.state) != ImportState.published)
                .order_by(col(CompletionImport.started_at).desc())
            ).scalars()
        )
