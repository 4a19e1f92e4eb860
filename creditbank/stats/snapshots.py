"""Statistics computed ahead: the district office's figures at province size (issue 14, goal 5).

Distinct learners do not add up across days or districts, so the exact figures need a pass over the
period's completions: 0.2 s for the whole dashboard at 25 000 completions, 50 s at 10 M (bench/scale.py).
So each (figures, period, district) a request asks for is handled by how long it took to compute
last time:

* **cheap** (under ``Policy.live_seconds``, 1 s by default; every college-sized bank): computed for
  every request, exactly as before — always current, nothing stored;
* **expensive**: the figures are kept in ``stats_snapshot`` with the ledger position and the time
  they were computed, every worker serves them from there (one row read), and when they are older
  than ``Policy.refresh_seconds`` — or the office asked for fresh ones, or changed its targets,
  population or area list — one worker claims the row and recomputes it in the background (on the
  read replica when there is one: ``Database.read`` of a ``@may_lag`` function) while the kept ones
  are still served, stamped "数据截至 … / figures as of …".

A period and district nobody has computed yet is computed while the request waits up to
``Policy.wait_seconds``; past that the request answers ``stats_computing`` (503, Retry-After), the
computation goes on and is kept, and the next request gets it. The figures served are the exact
figures of ``stats.queries`` and ``stats.awards`` — as of a stated moment, never estimated.
docs/statistics.md ("Figures computed ahead") is the user's side of this.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, or_, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col

from creditbank.db import Database, may_lag
from creditbank.errors import CreditbankError
from creditbank.kit import clock
from creditbank.ledger.models import LedgerHead
from creditbank.stats import awards, queries
from creditbank.stats import service as office
from creditbank.stats.figures import Chart, Column, Figure
from creditbank.stats.models import Snapshot, StoppedComputation

logger = logging.getLogger(__name__)

TOP = 100
"""Candidates kept per district and category: the most the API lets anyone ask for."""
Kind = Literal["dashboard", "recognition-credits", "recognition-hours"]


@dataclass(frozen=True)
class Policy:
    live_seconds: float = 1.0
    """Figures that took less to compute are computed on every request."""
    refresh_seconds: float = 600.0
    """Kept figures are recomputed at most this often (unless asked for, or their inputs changed)."""
    wait_seconds: float = 30.0
    """How long a request waits for figures nobody computed yet before it answers ``stats_computing``."""
    statement_timeout_seconds: float = 300.0
    """PostgreSQL: the longest a statement of a computation may run; past it the computation stops
    with ``stats_timeout`` (0: no limit)."""

    def claim_void_after(self, compute_seconds: float) -> timedelta:
        """A claim this old belongs to a worker that died: another may recompute."""
        return timedelta(seconds=max(600.0, 3 * compute_seconds))


@dataclass(frozen=True)
class Key:
    """What a kept row holds: which figures, for which period and district."""

    kind: Kind
    start: date
    end: date | None
    """None: to date — the period ends on the day the figures are computed (the default period)."""
    district: str | None

    @classmethod
    def of(cls, kind: Kind, period: queries.Period, district: str | None) -> Key:
        return cls(kind, period.start, None if period.end >= clock.today() else period.end, district or None)

    @classmethod
    def parse(cls, text: str) -> Key:
        kind, start, end, district = text.split("|", 3)
        return cls(
            kind,  # type: ignore[arg-type]
            date.fromisoformat(start),
            None if end == "to-date" else date.fromisoformat(end),
            district or None,
        )

    def text(self) -> str:
        end = self.end.isoformat() if self.end else "to-date"
        return f"{self.kind}|{self.start.isoformat()}|{end}|{self.district or ''}"

    def period(self) -> queries.Period:
        return queries.Period(self.start, self.end or max(self.start, clock.today()))


@dataclass(frozen=True)
class Stamp:
    """Where figures come from."""

    ledger_seq: int
    """Every ledger transaction up to this position is counted."""
    as_of: datetime | None = None
    """When kept figures were computed; None: computed for this answer."""
    refreshing: bool = False
    """Newer figures are being computed (kept figures only)."""
    compute_seconds: float | None = None
    """How long the computation took."""
    stopped_at: datetime | None = None
    """The last recomputation of kept figures stopped at the statement timeout then (they are not
    recomputed by themselves for ``Policy.refresh_seconds`` after it)."""
    stopped_limit: float | None = None
    """The statement timeout that recomputation ran into, in seconds."""


@dataclass(frozen=True)
class Dashboard:
    figures: list[Figure]
    districts: list[str]
    stamp: Stamp


# -- pure decisions --------------------------------------------------------------------------------


def kept(compute_seconds: float | None, policy: Policy) -> bool:
    """Serve kept figures (True) or compute them for this request (False)?"""
    return compute_seconds is not None and compute_seconds >= policy.live_seconds


def due(
    *,
    computed_at: datetime,
    requested_at: datetime | None,
    claimed_at: datetime | None,
    compute_seconds: float,
    now: datetime,
    policy: Policy,
) -> bool:
    """Should kept figures be recomputed now? When they are older than the interval or someone asked
    for fresh ones — and nobody is recomputing them already."""
    if claimed_at is not None and now - claimed_at < policy.claim_void_after(compute_seconds):
        return False
    return requested_at is not None or (now - computed_at).total_seconds() >= policy.refresh_seconds


def claimed(claimed_at: datetime | None, compute_seconds: float, now: datetime, policy: Policy) -> bool:
    return claimed_at is not None and now - claimed_at < policy.claim_void_after(compute_seconds)


# -- figures as kept JSON (exact: no rounding) -----------------------------------------------------


def figure_to_dict(figure: Figure) -> dict[str, Any]:
    return {
        "name": figure.name,
        "zh": figure.zh,
        "en": figure.en,
        "columns": [[c.key, c.zh, c.en, c.kind] for c in figure.columns],
        "rows": figure.rows,
        "chart": [list(figure.chart.series), figure.chart.kind, figure.chart.target],
        "start": figure.start.isoformat() if figure.start else None,
        "end": figure.end.isoformat() if figure.end else None,
        "notes": [list(n) for n in figure.notes],
    }


def figure_from_dict(data: dict[str, Any], stamp: Stamp | None = None) -> Figure:
    series, kind, target = data["chart"]
    return Figure(
        data["name"],
        data["zh"],
        data["en"],
        tuple(Column(*c) for c in data["columns"]),
        data["rows"],
        Chart(tuple(series), kind, target),
        date.fromisoformat(data["start"]) if data["start"] else None,
        date.fromisoformat(data["end"]) if data["end"] else None,
        [(zh, en) for zh, en in data["notes"]],
        as_of=stamp.as_of if stamp else None,
        ledger_seq=stamp.ledger_seq if stamp else None,
    )


# -- the computations (each in one session: on the replica when there is one) --------------------


def ledger_seq(session: Session) -> int:
    return int(session.execute(select(col(LedgerHead.seq))).scalar_one_or_none() or 0)


def _bounded(session: Session, timeout: float) -> None:
    """PostgreSQL: no statement of this computation runs longer than ``timeout`` seconds (0: no
    limit). ``SET LOCAL``: for this transaction only — the pooled connection goes back unchanged."""
    if timeout > 0 and session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL statement_timeout = {max(1, round(timeout * 1000))}"))


def timed_out(error: BaseException) -> bool:
    """Was ``error`` PostgreSQL cancelling a statement at its ``statement_timeout`` (SQLSTATE 57014)?"""
    return isinstance(error, OperationalError) and getattr(error.orig, "sqlstate", None) == "57014"


@may_lag()
def compute_dashboard(
    session: Session, period: queries.Period, district: str | None, *, timeout: float = 0
) -> dict[str, Any]:
    """Every figure of the dashboard and the district filter's choices, as kept JSON."""
    _bounded(session, timeout)
    seq = ledger_seq(session)  # first: whatever the figures read includes at least this position
    figures = queries.dashboard(session, period, district=district)
    return {
        "ledger_seq": seq,
        "figures": [figure_to_dict(f) for f in figures],
        "districts": office.districts(session),
    }


@may_lag()
def compute_candidates(
    session: Session,
    period: queries.Period,
    district: str | None,
    by: Literal["credits", "hours"],
    *,
    timeout: float = 0,
) -> dict[str, Any]:
    """The top ``TOP`` per district and category: any narrower question is a filter of it."""
    _bounded(session, timeout)
    seq = ledger_seq(session)
    found = awards.candidates(session, period, district=district, by=by, top=TOP)
    return {"ledger_seq": seq, "candidates": [asdict(c) for c in found]}


@may_lag()
def live_figure(
    session: Session, name: str, period: queries.Period, district: str | None, *, timeout: float = 0
) -> tuple[int, Figure]:
    _bounded(session, timeout)
    return ledger_seq(session), queries.figure(session, name, period, district=district)


@may_lag()
def live_candidates(
    session: Session,
    period: queries.Period,
    district: str | None,
    category: str | None,
    by: Literal["credits", "hours"],
    top: int,
    *,
    timeout: float = 0,
) -> tuple[int, list[awards.Candidate]]:
    _bounded(session, timeout)
    found = awards.candidates(session, period, district=district, category=category, by=by, top=top)
    return ledger_seq(session), found


# -- the service every worker runs -----------------------------------------------------------------


@dataclass
class _Job:
    future: Future
    started: float


class Statistics:
    """The office's figures as requests get them: computed for the request, or kept and refreshed in
    the background. One per process (``app.state.statistics``); the command line makes its own."""

    def __init__(self, db: Database, policy: Policy | None = None, workers: int = 4) -> None:
        self.db = db
        self.policy = policy or Policy()
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.RLock()  # _submit holds it while _pool may build the pool

    # -- what pages and routes call ------------------------------------------------------------

    def dashboard(self, period: queries.Period, district: str | None = None) -> Dashboard:
        payload, stamp = self._get(Key.of("dashboard", period, district))
        return Dashboard(
            [figure_from_dict(f, stamp) for f in payload["figures"]], list(payload["districts"]), stamp
        )

    def figure(self, name: str, period: queries.Period, district: str | None = None) -> Figure:
        if name not in queries.FIGURES:
            raise CreditbankError(
                "stats_figure_unknown", {"figure": name, "allowed": ", ".join(queries.FIGURES)}
            )
        key = Key.of("dashboard", period, district)
        row = self._load(key)
        if row is not None and kept(row.compute_seconds, self.policy):
            payload, stamp = self._serve(key, row)
            return next(figure_from_dict(f, stamp) for f in payload["figures"] if f["name"] == name)
        seq, figure = self._live(key, lambda: self._read(live_figure, name, period, district))
        return replace(figure, ledger_seq=seq)

    def candidates(
        self,
        period: queries.Period,
        *,
        district: str | None = None,
        category: str | None = None,
        by: Literal["credits", "hours"] = "credits",
        top: int = 5,
    ) -> tuple[list[awards.Candidate], Stamp]:
        key = Key.of(f"recognition-{by}", period, district)  # type: ignore[arg-type]
        row = self._load(key)
        if row is not None and top <= TOP and kept(row.compute_seconds, self.policy):
            payload, stamp = self._serve(key, row)
            listed = [c for c in payload["candidates"] if category is None or c["category"] == category]
            # Consent is honoured from the moment it is withdrawn, not from the next recomputation:
            # whoever withdrew since is left out (read now, on the primary) and the others move up.
            withdrawn = self.db.read(awards.withdrawn, [c["account_no"] for c in listed])
            found: list[awards.Candidate] = []
            ranks: dict[tuple[str | None, str], int] = {}
            for c in listed:
                if c["account_no"] in withdrawn:
                    continue
                group = (c["district"], c["category"])
                ranks[group] = ranks.get(group, 0) + 1
                if ranks[group] <= top:
                    found.append(awards.Candidate(**(c | {"rank": ranks[group]})))
            return found, stamp
        seq, found = self._live(key, lambda: self._read(live_candidates, period, district, category, by, top))
        return found, Stamp(seq)

    def districts(self) -> list[str]:
        """The district filter's choices: from the kept default dashboard when the figures are kept
        (a scan of every learner otherwise), else read now."""
        row = self._load(Key.of("dashboard", queries.Period.of(None, None), None))
        if row is not None and kept(row.compute_seconds, self.policy):
            return list(json.loads(row.payload)["districts"])
        return self.db.read(office.districts)

    def refresh_now(self, period: queries.Period, district: str | None = None) -> Stamp | None:
        """立即更新: recompute the kept dashboard of this period and district in the background now,
        whatever the interval. None when its figures are not kept (they are computed per request)."""
        key = Key.of("dashboard", period, district)
        with self.db.unit_of_work() as session:
            session.execute(
                update(Snapshot).where(col(Snapshot.key) == key.text()).values(requested_at=clock.now())
            )
        row = self._load(key)
        if row is None or not kept(row.compute_seconds, self.policy):
            return None
        return self._serve(key, row)[1]

    def refresh_all(self, *, default: bool = True) -> list[tuple[str, float, int | CreditbankError]]:
        """Recompute every kept row now, in this thread (``creditbank stats-refresh``, for a cron job),
        and the default dashboard (the year to date, all districts) even when nobody asked for it yet.
        Returns (key, seconds, ledger position) of each — or the ``stats_timeout`` error of one
        stopped at the statement timeout (the others are still recomputed)."""
        with self.db.reader() as session:
            keys = [Key.parse(k) for k in session.execute(select(col(Snapshot.key))).scalars()]
        if default:
            first = Key.of("dashboard", queries.Period.of(None, None), None)
            keys = [first, *[k for k in keys if k != first]]
        done: list[tuple[str, float, int | CreditbankError]] = []
        for key in keys:
            t0 = time.perf_counter()
            try:
                payload, seconds = self._compute_and_keep(key, always=True)
            except CreditbankError as error:
                done.append((key.text(), time.perf_counter() - t0, error))
                continue
            done.append((key.text(), seconds, int(payload["ledger_seq"])))
        return done

    def drain(self, timeout: float | None = None) -> None:
        """Wait for the computations under way in this process (tests, the command line)."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            with contextlib.suppress(Exception):  # logged by the job; the caller only waits
                job.future.result(timeout=timeout)

    def close(self) -> None:
        """At the app's shutdown. The app may start again (a second lifespan on the same app: test
        clients, servers that reload): the next computation then gets a new pool."""
        with self._lock:
            executor, self._executor = self._executor, None
            self._jobs.clear()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    @property
    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="stats")
            return self._executor

    # -- the machinery -------------------------------------------------------------------------

    def _load(self, key: Key) -> Snapshot | None:
        with self.db.reader() as session:
            return session.get(Snapshot, key.text())

    def _get(self, key: Key) -> tuple[dict[str, Any], Stamp]:
        """A kind that keeps what it computes (the dashboard, candidates): served or computed."""
        row = self._load(key)
        if row is not None and kept(row.compute_seconds, self.policy):
            return self._serve(key, row)
        self._refuse_if_stopped(key)
        payload, seconds = self._wait(
            self._submit(key, lambda: self._compute_and_keep(key, always=False, known=row is not None))
        )
        return payload, Stamp(int(payload["ledger_seq"]), compute_seconds=seconds)

    def _live(self, key: Key, compute: Callable[[], Any]) -> Any:
        """One figure (or one list of candidates) for this request; when that was slow, the kept
        computation of its whole dashboard starts in the background, for the next request."""

        def timed() -> tuple[Any, float]:
            t0 = time.perf_counter()
            answer = compute()
            return answer, time.perf_counter() - t0

        self._refuse_if_stopped(key)
        try:
            if self.policy.wait_seconds <= 0:
                raise FutureTimeout
            answer, seconds = self._pool.submit(timed).result(timeout=self.policy.wait_seconds)
        except FutureTimeout:
            self._start(key)
            raise CreditbankError("stats_computing", {"retry_after": self._retry_after()}) from None
        if seconds >= self.policy.live_seconds:
            self._start(key)
        return answer

    def _start(self, key: Key) -> None:
        """Compute ``key`` in the background and keep it (once per process at a time) — unless it
        stopped at the statement timeout a short while ago."""
        if self._stopped(key, clock.now()) is None:
            self._submit(key, lambda: self._compute_and_keep(key, always=True))

    # A kept computation (a dashboard, candidates) stopped at the statement timeout is kept in mind
    # (stats_stopped, every worker): started again by the next view, it would only run as long and
    # stop again, while the office — whose request had stopped waiting — was told "being computed"
    # for ever. Until the refresh interval has passed the period (and its single figures) answers
    # stats_timeout, kept figures are served with the stop beside them; 立即更新 (or a change of
    # targets…) and creditbank stats-refresh try at once. A figure computed for a request that
    # stopped is said to that request and not kept in mind (a lock held a moment is not a period).

    def _stopped(self, key: Key, now: datetime) -> StoppedComputation | None:
        """The stop of ``key``'s computation within the refresh interval, if any."""
        with self.db.reader() as session:
            stop = session.get(StoppedComputation, key.text())
        if stop is None or (now - stop.stopped_at).total_seconds() >= self.policy.refresh_seconds:
            return None
        return stop

    def _refuse_if_stopped(self, key: Key) -> None:
        now = clock.now()
        stop = self._stopped(key, now)
        if stop is not None:
            retry = self.policy.refresh_seconds - (now - stop.stopped_at).total_seconds()
            raise CreditbankError(
                "stats_timeout", {"seconds": f"{stop.limit_seconds:g}", "retry_after": max(1, round(retry))}
            )

    def _record_stop(self, key: Key, limit: float) -> None:
        for attempt in (1, 2):
            try:
                with self.db.unit_of_work() as session:
                    stop = session.get(StoppedComputation, key.text(), with_for_update=True)
                    if stop is None:
                        stop = StoppedComputation(key=key.text(), stopped_at=clock.now(), limit_seconds=limit)
                    stop.stopped_at, stop.limit_seconds = clock.now(), limit
                    session.add(stop)
                return
            except IntegrityError:  # another worker's computation of the same key stopped too
                if attempt == 2:
                    raise

    def _submit(self, key: Key, work: Callable[[], tuple[dict[str, Any], float]]) -> Future:
        """Run ``work`` in the pool. A computation of the same key already under way for longer than
        ``live_seconds`` is joined instead (a slow one: another would be as slow and no newer); a
        quick one is not, so a request never gets figures computed before its own earlier write."""
        text = key.text()
        with self._lock:
            job = self._jobs.get(text)
            slow = job is not None and time.perf_counter() - job.started >= self.policy.live_seconds
            if job is not None and slow and not job.future.done():
                return job.future
            future = self._pool.submit(work)
            self._jobs[text] = _Job(future, time.perf_counter())
            future.add_done_callback(functools.partial(self._forget, text))
            return future

    def _forget(self, text: str, future: Future) -> None:
        with self._lock:
            job = self._jobs.get(text)
            if job is not None and job.future is future:
                del self._jobs[text]

    def _result(self, future: Future) -> Any:
        if self.policy.wait_seconds <= 0:  # never wait: everything is computed in the background
            raise FutureTimeout
        return future.result(timeout=self.policy.wait_seconds)

    def _wait(self, future: Future) -> tuple[dict[str, Any], float]:
        try:
            return self._result(future)
        except FutureTimeout:
            raise CreditbankError("stats_computing", {"retry_after": self._retry_after()}) from None

    def _retry_after(self) -> int:
        return max(5, min(300, round(self.policy.wait_seconds)))

    def _serve(self, key: Key, row: Snapshot) -> tuple[dict[str, Any], Stamp]:
        now = clock.now()
        refreshing = claimed(row.claimed_at, row.compute_seconds, now, self.policy)
        stop = None
        is_due = due(
            computed_at=row.computed_at,
            requested_at=row.requested_at,
            claimed_at=row.claimed_at,
            compute_seconds=row.compute_seconds,
            now=now,
            policy=self.policy,
        )
        if is_due or not refreshing:
            stop = self._stopped(key, now)
            if stop is not None and stop.stopped_at < row.computed_at:
                stop = None  # kept since: the stop is history
        if is_due and stop is not None and (row.requested_at is None or row.requested_at <= stop.stopped_at):
            is_due = False  # stopped a short while ago and not asked for since: not again by itself
        if is_due:
            job = self._refresh(key, row, now)
            refreshing = True
            if (
                job is not None
                and row.requested_at is not None
                and row.compute_seconds < self.policy.wait_seconds
            ):
                # The office changed what the figures show (or asked for fresh ones) and they take
                # less than a request may wait: show the new ones now rather than the kept ones
                # (a recomputation stopped at the statement timeout leaves the kept ones).
                with contextlib.suppress(FutureTimeout, CreditbankError):
                    self._result(job)
                    fresh = self._load(key)
                    if fresh is not None:
                        row, refreshing = fresh, False
        stamp = Stamp(row.ledger_seq, row.computed_at, refreshing, row.compute_seconds)
        if stop is not None and not refreshing:
            stamp = replace(stamp, stopped_at=stop.stopped_at, stopped_limit=stop.limit_seconds)
        return json.loads(row.payload), stamp

    def _refresh(self, key: Key, row: Snapshot, now: datetime) -> Future | None:
        """Claim the row (one worker of all recomputes it) and recompute it in the background."""
        void = now - self.policy.claim_void_after(row.compute_seconds)
        with self.db.unit_of_work() as session:
            won = session.execute(  # type: ignore[attr-defined]  # an UPDATE's CursorResult
                update(Snapshot)
                .where(
                    col(Snapshot.key) == key.text(),
                    or_(col(Snapshot.claimed_at).is_(None), col(Snapshot.claimed_at) < void),
                )
                .values(claimed_at=now)
            ).rowcount
        if won != 1:
            return None  # another worker has just claimed it
        return self._submit(key, lambda: self._compute_and_keep(key, always=True, claimed_at=now))

    def _compute(self, key: Key) -> dict[str, Any]:
        period = key.period()
        if key.kind == "dashboard":
            return self._read(compute_dashboard, period, key.district)
        by: Literal["credits", "hours"] = "hours" if key.kind == "recognition-hours" else "credits"
        return self._read(compute_candidates, period, key.district, by)

    def _read(self, compute: Callable[..., Any], *args: Any) -> Any:
        """``compute`` bounded by ``statement_timeout_seconds``; a computation stopped there is
        ``stats_timeout`` (503, in words), never a 500 — asking again would only run as long."""
        limit = self.policy.statement_timeout_seconds
        try:
            return self.db.read(compute, *args, timeout=limit)
        except OperationalError as error:
            if timed_out(error):
                raise CreditbankError("stats_timeout", {"seconds": f"{limit:g}"}) from error
            raise

    def _compute_and_keep(
        self, key: Key, *, always: bool, known: bool = False, claimed_at: datetime | None = None
    ) -> tuple[dict[str, Any], float]:
        """Compute; keep the result when it was slow or ``always``; a kept row (``known``) that turned
        out cheap is dropped, so the figures are computed per request again. A claim is released
        whatever happens."""
        started = clock.now()
        t0 = time.perf_counter()
        try:
            payload = self._compute(key)
        except CreditbankError as error:  # stopped at the statement timeout: said, no stack trace
            logger.warning("statistics %s: %s", key.text(), error)
            if error.code == "stats_timeout":  # kept in mind: not started again by the next view
                self._record_stop(key, self.policy.statement_timeout_seconds)
            if claimed_at is not None:
                self._release(key, claimed_at)
            raise
        except Exception:
            logger.exception("statistics %s could not be computed", key.text())
            if claimed_at is not None:
                self._release(key, claimed_at)
            raise
        seconds = time.perf_counter() - t0
        if always or seconds >= self.policy.live_seconds:
            self._keep(key, payload, started, seconds)
        elif known:  # kept once (a slow moment), cheap now: computed per request again, no row to write
            with self.db.unit_of_work() as session:
                session.execute(delete(Snapshot).where(col(Snapshot.key) == key.text()))
        return payload, seconds

    def _release(self, key: Key, claimed_at: datetime) -> None:
        with self.db.unit_of_work() as session:
            session.execute(
                update(Snapshot)
                .where(col(Snapshot.key) == key.text(), col(Snapshot.claimed_at) == claimed_at)
                .values(claimed_at=None)
            )

    def _keep(self, key: Key, payload: dict[str, Any], started: datetime, seconds: float) -> None:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        period_to = key.period().end
        for attempt in (1, 2):
            try:
                with self.db.unit_of_work() as session:
                    row = session.get(Snapshot, key.text(), with_for_update=True)
                    if row is None:
                        session.add(
                            Snapshot(
                                key=key.text(),
                                payload=text,
                                period_to=period_to,
                                ledger_seq=int(payload["ledger_seq"]),
                                computed_at=started,
                                compute_seconds=seconds,
                            )
                        )
                        session.execute(
                            delete(StoppedComputation).where(col(StoppedComputation.key) == key.text())
                        )
                        return
                    if row.computed_at > started:
                        return  # a computation that started later was kept meanwhile
                    row.payload, row.period_to = text, period_to
                    row.ledger_seq, row.computed_at, row.compute_seconds = (
                        int(payload["ledger_seq"]),
                        started,
                        seconds,
                    )
                    row.claimed_at = None
                    if row.requested_at is not None and row.requested_at <= started:
                        row.requested_at = None  # asked for before this computation began: answered
                    session.add(row)
                    session.execute(
                        delete(StoppedComputation).where(col(StoppedComputation.key) == key.text())
                    )
                return
            except IntegrityError:  # another worker inserted the same key at the same moment
                if attempt == 2:
                    raise
