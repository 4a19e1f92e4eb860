"""Load benchmarks: other writers during a big import (issue 14 goal 7), and a mixed HTTP load (goal 4).

    python bench/load.py import [--rows 100000] [--backend sqlite|postgresql|both] [--rate 10]
                                [--single-transaction]
    python bench/load.py mix    [--workers 2] [--start-rate 100] [--step 100] [--step-seconds 10]
                                [--max-seconds 240] [--replica] [--bare-step 100]
                                [--patience 2]

``import``: per backend, a database of ``rows/20`` learners and an institution BENCH with 20
outcomes (``bench/ingest.py``'s setup), plus a second institution OTHER with 20 outcomes of its
own. A child process imports the ``rows``-row CSV file of BENCH through ``completions.imports.run``
(what ``POST /completions/batch`` and ``creditbank import`` run); meanwhile another child posts
OTHER's single completions (``completions.post_one`` in its own unit of work, exactly the use case
behind ``POST /completions``, without HTTP) at a fixed arrival rate, 8 threads, each latency
counted from the moment the post was *due* (no coordinated omission). It reports the import's
duration and the single posts' p50/p99/max during it. ``--single-transaction`` also runs the
same import in one transaction (``completions.import_rows``, the path before 2026-12-02) into a
copy of the same database, for the before/after in one run. Goal: p99 ≤ 1 s.

``mix``: see the docstring of ``mix_main``.

Everything happens in a temporary directory and a throwaway PostgreSQL cluster; loopback only;
every phase is bounded in time. Progress to stderr, Markdown tables to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ingest  # noqa: E402 — bench/ingest.py: setup, CSV and spawning helpers

OTHER = "OTHER"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


# --------------------------------------------------------------------------------------------
# import: child processes
# --------------------------------------------------------------------------------------------


def other_setup_worker(url: str) -> dict:
    """A second accredited institution with 20 outcomes of its own (the single posts' source)."""
    import creditbank.models  # noqa: F401 — every table, for the foreign keys
    from creditbank.catalogue import service as catalogue
    from creditbank.catalogue.schemas import OutcomeSpec
    from creditbank.db import Database
    from creditbank.institutions import service as institutions
    from creditbank.institutions.models import InstitutionState

    db = Database(url)
    try:
        with db.unit_of_work() as session:
            institutions.create(session, code=OTHER, name_zh="另一所学院")
            institutions.set_state(session, code=OTHER, state=InstitutionState.accredited)
            codes = []
            for i in range(ingest.N_OUTCOMES):
                spec = OutcomeSpec(title_zh=f"另一课程 {i}", category="community", level=1, credits=1.0)
                outcome, _ = catalogue.upsert(
                    session,
                    institution_id=institutions.get(session, OTHER).id,
                    code=f"OT-{i:03d}",
                    spec=spec,
                    hours_per_credit=16.0,
                )
                codes.append(outcome.code)
        if db.sqlite:
            with db.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.dispose()
    return {"outcomes": codes}


def importer_worker(url: str, csv_path: str, key_id: str, how: str, start_flag: str, done_flag: str) -> dict:
    from sqlalchemy import text

    import creditbank.models  # noqa: F401
    from creditbank.completions import imports
    from creditbank.completions.batchfile import Row, read_rows
    from creditbank.completions.service import import_rows
    from creditbank.db import Database
    from creditbank.institutions import service as institutions

    db = Database(url)
    with db.reader() as session:
        session.execute(text("SELECT 1"))
        institution_id = institutions.get(session, ingest.INSTITUTION).id
    Path(start_flag).touch()
    time.sleep(2.0)  # the poster's baseline: two seconds of posts before the import starts
    sizes: list[int] = []  # rows per committed chunk (the staged import adapts them)
    marks: list[float] = []  # when each chunk had committed: after the last one comes the publish

    def chunk_done(n: int) -> None:
        sizes.append(n)
        marks.append(time.perf_counter())

    settling: list[float] = []  # start and end of the settle step (after the publishing commit)
    settle = imports.settle

    def timed_settle(*args, **kwargs):
        settling.append(time.perf_counter())
        try:
            return settle(*args, **kwargs)
        finally:
            settling.append(time.perf_counter())

    imports.settle = timed_settle  # type: ignore[assignment]

    t0, c0 = time.perf_counter(), time.process_time()
    try:
        with open(csv_path, "rb") as handle:

            def rows():
                return (
                    (r.line, r.values) if isinstance(r, Row) else (r.line, r.code, r.params)
                    for r in read_rows(handle, max_rows=1_000_000)
                )

            if how == "staged":
                report = imports.run(
                    db, institution_id=institution_id, api_key_id=key_id, secret=ingest.SECRET, rows=rows,
                    progress=chunk_done,
                )  # fmt: skip
            else:
                with db.unit_of_work() as session:
                    report = import_rows(
                        session,
                        institution=institutions.get(session, ingest.INSTITUTION),
                        api_key_id=key_id,
                        secret=ingest.SECRET,
                        rows=rows(),
                    )
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        Path(done_flag).touch()
        db.dispose()
    return {"seconds": elapsed, "cpu": cpu, "accepted": report.accepted, "t0": time.time() - elapsed,
            "chunks": len(sizes), "chunk_median": statistics.median(sizes) if sizes else 0,
            # publish: from the last chunk's commit to the publishing commit; settle: what follows it
            "publish_s": (settling[-2] if len(settling) >= 2 else t0 + elapsed) - marks[-1] if marks else 0.0,
            "settle_s": settling[-1] - settling[-2] if len(settling) >= 2 else 0.0,
            # when the chunks ended (wall clock): posts due after it met the publish and the settle
            "chunks_end": time.time() - elapsed + (marks[-1] - t0) if marks else None}  # fmt: skip


def poster_worker(url: str, accounts: list[str], outcomes: list[str], rate: float, start_flag: str,
                  done_flag: str, limit: float) -> dict:  # fmt: skip
    """Single posts of OTHER at a fixed arrival rate until the import is done (+1 s), bounded."""
    import creditbank.models  # noqa: F401
    from creditbank.completions import service as completions
    from creditbank.db import Database
    from creditbank.institutions import service as institutions

    db = Database(url)
    with db.reader() as session:
        other = institutions.get(session, OTHER)
    while not Path(start_flag).exists():
        time.sleep(0.01)
    results: list[tuple[float, float, str, float]] = []  # (due wall time, latency s, outcome, in the call s)
    lock = threading.Lock()
    pairs = ((a, o) for a in accounts for o in outcomes)

    def post(due: float, account: str, code: str, n: int) -> None:
        started = time.time()  # before: queued for one of the 8 threads
        try:
            with db.unit_of_work() as session:
                completions.post_one(
                    session,
                    institution=institutions.get(session, OTHER),
                    api_key_id=None,
                    secret=ingest.SECRET,
                    values={"external_id": f"OTHER-{n}", "account_no": account, "outcome_code": code,
                            "completed_on": "2026-06-01"},
                )  # fmt: skip
            outcome = "ok"
        except Exception as exc:
            outcome = type(exc).__name__
        done = time.time()
        with lock:
            results.append((due, done - due, outcome, done - started))

    del other
    start = time.time()
    interval = 1.0 / rate
    n = 0
    done_at = None
    with ThreadPoolExecutor(max_workers=8) as pool:
        while time.time() - start < limit:
            due = start + n * interval
            now = time.time()
            if due > now:
                time.sleep(due - now)
            if done_at is None and Path(done_flag).exists():
                done_at = time.time()
            if done_at is not None and time.time() - done_at > 1.0:
                break
            account, code = next(pairs)
            pool.submit(post, due, account, code, n)
            n += 1
    db.dispose()
    return {"results": results, "done_at": done_at}


# --------------------------------------------------------------------------------------------
# import: the run
# --------------------------------------------------------------------------------------------


def spawn(*args: str) -> subprocess.Popen:
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def collect(child: subprocess.Popen, what: str) -> dict:
    out, _ = child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"{what} failed (exit {child.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def one_import(url: str, work: Path, setup: dict, other: dict, how: str, rate: float, limit: float) -> dict:
    start_flag, done_flag = work / f"start-{how}", work / f"done-{how}"
    for flag in (start_flag, done_flag):
        flag.unlink(missing_ok=True)
    accounts = setup["account_nos"][:500]
    poster = spawn("--worker", "poster", "--url", url, "--json", json.dumps(
        {"accounts": accounts, "outcomes": other["outcomes"], "rate": rate, "start": str(start_flag),
         "done": str(done_flag), "limit": limit}))  # fmt: skip
    importer = spawn("--worker", "importer", "--url", url, "--json", json.dumps(
        {"csv": str(work / "completions.csv"), "key_id": setup["key_id"], "how": how, "start": str(start_flag),
         "done": str(done_flag)}))  # fmt: skip
    imported = collect(importer, f"{how} import")
    posted = collect(poster, "poster")
    t0, t1 = imported["t0"], imported["t0"] + imported["seconds"]
    during = [lat for due, lat, _, _ in posted["results"] if t0 <= due <= t1]
    in_call = [call for due, _, _, call in posted["results"] if t0 <= due <= t1]
    before = [lat for due, lat, _, _ in posted["results"] if due < t0]
    errors = sum(1 for _, _, outcome, _ in posted["results"] if outcome != "ok")
    split = imported.get("chunks_end") or t1
    in_chunks = [lat for due, lat, _, _ in posted["results"] if t0 <= due <= split]
    at_end = [lat for due, lat, _, _ in posted["results"] if split < due <= t1]
    return {
        "how": how,
        "import_s": imported["seconds"],
        "import_cpu": imported["cpu"],
        "chunks": imported["chunks"],
        "publish_s": imported.get("publish_s", 0.0),
        "settle_s": imported.get("settle_s", 0.0),
        "chunks_p99": pct(in_chunks, 0.99),
        "end_p99": pct(at_end, 0.99),
        "end_posts": len(at_end),
        "chunk_median": imported["chunk_median"],
        "call_p50": pct(in_call, 0.50),
        "call_p99": pct(in_call, 0.99),
        "accepted": imported["accepted"],
        "posts": len(during),
        "p50": pct(during, 0.50),
        "p99": pct(during, 0.99),
        "max": max(during, default=float("nan")),
        "idle_p50": pct(before, 0.50),
        "idle_p99": pct(before, 0.99),
        "errors": errors,
        "mean": statistics.fmean(during) if during else float("nan"),
    }


def audit(url: str) -> dict:
    return collect(spawn("--worker", "audit", "--url", url), "audit")


def audit_worker(url: str) -> dict:
    return ingest.audit_worker(url)


def import_main(args: argparse.Namespace) -> None:
    from tests import pgcluster

    has_pg = pgcluster.find_bindir() is not None
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and not has_pg:
        if args.backend == "both":
            backends.remove("postgresql")
            log("PostgreSQL server binaries not found: SQLite only")
        else:
            raise SystemExit("PostgreSQL server binaries not found")
    work = Path(tempfile.mkdtemp(prefix="creditbank-load-"))
    cluster = None
    rows: list[dict] = []
    load_start = os.getloadavg()
    started = time.perf_counter()
    try:
        for backend in backends:
            (work / backend).mkdir()
            if backend == "sqlite":
                setup_url = f"sqlite:///{work / backend / 'setup.db'}"
            else:
                cluster = pgcluster.start_cluster()
                cluster.admin_execute("CREATE DATABASE load_setup")
                setup_url = cluster.url("load_setup")
            setup = collect(spawn("--worker", "setup", "--url", setup_url, "--rows", str(args.rows)), "setup")
            other = collect(spawn("--worker", "other", "--url", setup_url), "other setup")
            log(f"{backend}: setup {setup['seconds']:.1f}s")
            ingest.write_csv(work / backend / "completions.csv", args.rows, setup)
            kinds = ["staged"] + (["single"] if args.single_transaction else [])
            for how in kinds:
                if backend == "sqlite":
                    target = work / backend / f"{how}.db"
                    shutil.copyfile(work / backend / "setup.db", target)
                    url = f"sqlite:///{target}"
                else:
                    cluster.admin_execute(f"CREATE DATABASE load_{how} TEMPLATE load_setup")
                    url = cluster.url(f"load_{how}")
                result = one_import(url, work / backend, setup, other, how, args.rate, args.max_seconds)
                result["backend"] = backend
                result["audit"] = audit(url)["ok"]
                log(
                    f"{backend} {how}: import {result['import_s']:.1f}s, posts p99 {result['p99'] * 1000:.0f} ms"
                )
                rows.append(result)
            if cluster is not None:
                cluster.stop(remove=True)
                cluster = None
    finally:
        if cluster is not None:
            cluster.stop(remove=True)
        shutil.rmtree(work, ignore_errors=True)
    load_end = os.getloadavg()
    print(f"\n### Other writers during a {args.rows:,}-row import (bench/load.py import)\n")
    print(
        f"{time.strftime('%Y-%m-%d %H:%M')} · {os.cpu_count()} cores · load average {load_start[0]:.1f} → "
        f"{load_end[0]:.1f} · single posts of another institution at {args.rate:g}/s, 8 threads · "
        f"whole run {time.perf_counter() - started:.0f} s\n"
    )
    print("| backend | import | import s | import CPU s | rows/s | chunks (median rows) | publish s | settle s | posts during | p50 ms | "
          "p99 ms | max ms | in-call p50/p99 ms | p99 ms: chunks / publish+settle (posts) | idle p99 ms | errors | audit | "
          "goal p99 ≤ 1 s |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        met = "met" if r["p99"] <= 1.0 and r["errors"] == 0 else "NOT met"
        chunks = f"{r['chunks']} ({r['chunk_median']:.0f})" if r["chunks"] else "1"
        print(
            f"| {r['backend']} | {r['how']} | {r['import_s']:.1f} | {r['import_cpu']:.1f} | "
            f"{r['accepted'] / r['import_s']:,.0f} | {chunks} | {r['publish_s']:.2f} | {r['settle_s']:.1f} | {r['posts']} | {r['p50'] * 1000:.0f} | "
            f"{r['p99'] * 1000:.0f} | {r['max'] * 1000:.0f} | {r['call_p50'] * 1000:.0f}/{r['call_p99'] * 1000:.0f} | "
            f"{r['chunks_p99'] * 1000:.0f} / {r['end_p99'] * 1000:.0f} ({r['end_posts']}) | "
            f"{r['idle_p99'] * 1000:.0f} | {r['errors']} | {'passed' if r['audit'] else 'FAILED'} | {met} |"
        )
    print(
        "\nlatency = from the moment the post was due to its commit; in-call = from when a thread started it "
        "(the difference is the wait for one of the 8 threads, i.e. earlier posts still waiting)."
    )
    if not all(r["audit"] for r in rows):
        sys.exit(2)


# --------------------------------------------------------------------------------------------
# mix (goal 4): 2 workers on PostgreSQL, verify 70 % / balance 20 % / completion posts 10 %
# --------------------------------------------------------------------------------------------

ADMIN = "cbo_load-operator-token"
MIX = (("verify", 0.70), ("balance", 0.20), ("post", 0.10))
MIX_OUTCOMES = 50


def app_factory():
    """The product app for ``uvicorn --factory`` workers, configured from CREDITBANK_* variables.
    The anonymous verify limiter (120/min per address) would refuse a load from one address: it is
    raised here, and still runs on every request (as in bench/verify.py)."""
    from creditbank import httpio
    from creditbank.app import create_app

    httpio.verify_limit.limit = 10**12
    return create_app()


def bare_factory():
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/bare")
    async def bare() -> dict:
        return {"status": "ok", "valid": True}

    return app


def mix_setup(url: str, keys_dir: Path, n_learners: int) -> dict:
    """Through the API (TestClient): an institution, outcomes, learners, 4 achievement certificates."""
    from datetime import date

    from fastapi.testclient import TestClient

    from creditbank.app import create_app
    from creditbank.config import Settings
    from creditbank.db import Database
    from creditbank.kit import idcard
    from creditbank.migrations import upgrade

    upgrade(url)
    settings = Settings(database_url=url, keys_dir=keys_dir, admin_token=ADMIN, secret="load-id-secret")
    db = Database(url)
    operator = {"Authorization": f"Bearer {ADMIN}"}

    def ok(response) -> dict:
        if response.status_code not in (200, 201):
            raise SystemExit(
                f"setup: {response.request.url.path} → {response.status_code} {response.text[:300]}"
            )
        return response.json()

    try:
        with TestClient(create_app(settings, db)) as client:
            ok(
                client.post(
                    "/api/v1/institutions", json={"code": "LOAD", "name_zh": "压测学院"}, headers=operator
                )
            )
            ok(client.post("/api/v1/institutions/LOAD/accredit", headers=operator))
            key = ok(client.post("/api/v1/institutions/LOAD/api-keys", json={}, headers=operator))["key"]
            inst = {"Authorization": f"Bearer {key}"}
            for i in range(MIX_OUTCOMES):
                ok(client.put(f"/api/v1/catalogue/LD-{i:02d}", headers=inst, json={
                    "title_zh": f"课程{i}", "category": "community", "level": 1 + i % 5, "credits": 1.0}))  # fmt: skip
            accounts = []
            for i in range(n_learners):
                person = ok(client.post("/api/v1/learners", headers=inst, json={
                    "name": f"学员{i}", "national_id": idcard.make("500118", date(1960, 1, 1), i)}))  # fmt: skip
                accounts.append(person)
            first = accounts[0]
            completions = []
            for i in range(4):
                seed = {"external_id": f"seed-{i}", "account_no": first["account_no"], "outcome_code": f"LD-{i:02d}",
                        "completed_on": "2026-03-01"}  # fmt: skip
                completions.append(ok(client.post("/api/v1/completions", headers=inst, json=seed))["id"])
            token = ok(client.post("/api/v1/auth/activate", json={
                "account_no": first["account_no"], "activation_code": first["activation_code"],
                "password": "竹林深处2026"}))["access_token"]  # fmt: skip
            me = {"Authorization": f"Bearer {token}"}
            certs = []
            for c in completions:
                body = {"kind": "achievement", "completion_id": c}
                certs.append(ok(client.post("/api/v1/me/certificates", headers=me, json=body))["id"])
            for cert in certs:
                assert ok(client.get(f"/api/v1/verify/{cert}"))["valid"] is True
    finally:
        db.dispose()
    return {"key": key, "accounts": [a["account_no"] for a in accounts[1:]], "certs": certs}


class MixServer:
    def __init__(self, factory: str, workers: int, env: dict, log_path: Path) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.log = open(log_path, "w")  # noqa: SIM115 — closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", factory, "--app-dir", str(Path(__file__).parent),
             "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers), "--loop", "uvloop",
             "--http", "httptools", "--no-access-log", "--log-level", "warning"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
        )  # fmt: skip
        import urllib.request

        deadline = time.time() + 60
        path = "/bare" if "bare" in factory else "/healthz"
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2).read()
                break
            except OSError:
                if time.time() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise SystemExit(f"server {factory} did not start; see {log_path}") from None
                time.sleep(0.3)

    def stop(self) -> None:
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def open_loop(port: int, rate: float, seconds: float, make_request, connections: int = 64) -> list[tuple]:
    """Requests at a fixed arrival rate for ``seconds`` (open loop): request i is due at i / rate and
    its latency counts from then, so a slow server cannot slow the arrivals down. Keep-alive
    HTTP/1.1 on asyncio streams, ``connections`` at most; returns (route, latency s, status) each."""
    import asyncio

    async def run() -> list[tuple]:
        results: list[tuple] = []
        # Last in, first out: at a low rate the same few connections are reused and stay inside the
        # server's keep-alive timeout (uvicorn: 5 s); a FIFO pool of 64 reused each one every 6.4 s at
        # 10/s and the server had closed it.
        pool: asyncio.LifoQueue = asyncio.LifoQueue()
        for _ in range(connections):
            pool.put_nowait(None)

        async def exchange(conn, raw: bytes) -> int:
            reader, writer = conn
            writer.write(raw)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await asyncio.wait_for(reader.readexactly(length), 10)
            return int(head[9:12])

        async def one(due: float, route: str, raw: bytes) -> None:
            conn = await pool.get()
            try:
                reused = conn is not None
                if conn is None:
                    conn = await asyncio.open_connection("127.0.0.1", port)
                try:
                    status = await exchange(conn, raw)
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    # A kept-alive connection the server closed while idle, before any byte of an
                    # answer: open a new one and send again, as HTTP clients do.
                    if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                        raise
                    conn[1].close()
                    conn = await asyncio.open_connection("127.0.0.1", port)
                    status = await exchange(conn, raw)
            except (
                TimeoutError,
                OSError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                ValueError,
            ):
                status, conn = -1, None
            finally:
                pool.put_nowait(conn)
            results.append((route, time.perf_counter() - due, status))

        start = time.perf_counter() + 0.05
        tasks = []
        n = 0
        while True:
            due = start + n / rate
            if due - start >= seconds:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            route, raw = make_request(n)
            tasks.append(asyncio.create_task(one(due, route, raw)))
            n += 1
        await asyncio.wait_for(asyncio.gather(*tasks), seconds + 30)
        return results

    import uvloop

    return uvloop.run(run())


def step_up(
    name: str, port: int, make_request, args: argparse.Namespace, deadline: float, step: float | None = None
) -> list[dict]:
    # Warm-up, not counted: connections, the pool, per-process caches (the verify cache is one).
    open_loop(port, args.start_rate, 3.0, make_request)
    steps = []
    rate = args.start_rate
    while time.time() + args.step_seconds < deadline:
        results = open_loop(port, rate, args.step_seconds, make_request)
        row = {"rate": rate, "n": len(results), "errors": sum(1 for _, _, s in results if not 200 <= s < 300)}
        everything = [lat for _, lat, _ in results]
        row["p50"], row["p99"] = pct(everything, 0.5), pct(everything, 0.99)
        for route in sorted({r for r, _, _ in results}):
            lat = [lt for r, lt, _ in results if r == route]
            row[route] = (len(lat), pct(lat, 0.5), pct(lat, 0.99))
        log(
            f"{name} {rate:g}/s: p50 {row['p50'] * 1000:.1f} ms p99 {row['p99'] * 1000:.1f} ms errors {row['errors']}"
        )
        steps.append(row)
        # On a shared machine one step can miss by another tenant's burst: stop after --patience
        # failing steps in a row (1: at the first).
        failing = [s["p99"] > 0.100 or s["errors"] for s in steps[-args.patience :]]
        if len(failing) == args.patience and all(failing):
            break
        rate += step or args.step
    return steps


def transactions(primary, standby) -> dict[str, int]:
    """Transactions each server has run in database ``mix`` so far (read-only ones end in ROLLBACK)."""
    import psycopg

    counts = {}
    for name, cluster in (("primary", primary), ("replica", standby)):
        if cluster is None:
            counts[name] = 0
            continue
        with psycopg.connect(cluster.dsn("mix"), autocommit=True) as conn:
            row = conn.execute(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'mix'"
            ).fetchone()
            counts[name] = int(row[0]) if row else 0
    return counts


def mix_main(args: argparse.Namespace) -> None:
    """``mix``: a throwaway PostgreSQL cluster; the app under ``uvicorn --workers 2`` (uvloop,
    httptools, no access log); requests at a fixed arrival rate, stepped up from ``--start-rate`` by
    ``--step`` every ``--step-seconds`` until p99 > 100 ms or an error in ``--patience`` steps in a row
    (default 1), or the time bound (⅔ of
    ``--max-seconds`` for the app, ⅓ for the bare route, counted once each server is up):
    70 % ``GET /api/v1/verify/{id}`` (4 achievements), 20 % ``GET /api/v1/learners/{acct}/balance``
    (institution key), 10 % ``POST /api/v1/completions`` (a new learner × outcome each). Then the
    same steps against a bare async FastAPI route under the same uvicorn command, as the reference.

    ``--replica``: a streaming standby of the cluster (``pg_basebackup -R``, tests/pgcluster.py) on
    the same machine, and the same mix once more with ``CREDITBANK_DATABASE_REPLICA_URL`` pointing
    at it, between the app and the bare route (the time bound is then split ⅖ · ⅖ · ⅕). Per app
    phase the transactions each server ran (``pg_stat_database``) say how much the replica took.
    """
    from tests import pgcluster

    work = Path(tempfile.mkdtemp(prefix="creditbank-mix-"))
    cluster = pgcluster.start_cluster()
    standby = None
    load_start = os.getloadavg()
    started = time.time()
    server = None
    try:
        cluster.admin_execute("CREATE DATABASE mix")
        url = cluster.url("mix")
        world = mix_setup(url, work / "keys", args.learners)
        if args.replica:
            standby = pgcluster.start_standby(cluster)
        log(f"mix: setup {time.time() - started:.0f}s")
        env = dict(os.environ, CREDITBANK_DATABASE_URL=url, CREDITBANK_KEYS_DIR=str(work / "keys"),
                   CREDITBANK_ADMIN_TOKEN=ADMIN, CREDITBANK_SECRET="load-id-secret",
                   CREDITBANK_RATE_LIMIT_FILE=str(work / "ratelimit"),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))  # fmt: skip
        key = world["key"]
        pairs = [(a, f"LD-{o:02d}") for o in range(MIX_OUTCOMES) for a in world["accounts"]]
        head = "Host: 127.0.0.1\r\n"
        verify = [f"GET /api/v1/verify/{c} HTTP/1.1\r\n{head}\r\n".encode() for c in world["certs"]]
        balance = [
            f"GET /api/v1/learners/{a}/balance HTTP/1.1\r\n{head}Authorization: Bearer {key}\r\n\r\n".encode()
            for a in world["accounts"]
        ]
        posted = iter(range(len(pairs)))

        def mixed(n: int) -> tuple[str, bytes]:
            pick = (n * 7919) % 100  # a fixed, well-spread sequence: 70 / 20 / 10
            if pick < 70:
                return "verify", verify[n % len(verify)]
            if pick < 90:
                return "balance", balance[n % len(balance)]
            i = next(posted)
            account, code = pairs[i]
            body = json.dumps({"external_id": f"load-{i}", "account_no": account, "outcome_code": code,
                               "completed_on": "2026-06-01"}).encode()  # fmt: skip
            return "post", (
                f"POST /api/v1/completions HTTP/1.1\r\n{head}Authorization: Bearer {key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body

        share = (2 / 5, 2 / 5, 1 / 5) if standby is not None else (2 / 3, 0.0, 1 / 3)
        phases: list[tuple[str, list[dict], dict]] = []

        def app_phase(name: str, server_env: dict) -> None:
            nonlocal server
            server = MixServer("load:app_factory", args.workers, server_env, work / f"{name}.log")
            before = transactions(cluster, standby)
            steps = step_up(
                name, server.port, mixed, args, time.time() + args.max_seconds * share[len(phases)]
            )
            server.stop()
            server = None
            after = transactions(cluster, standby)
            phases.append((name, steps, {k: after[k] - before[k] for k in after}))

        app_phase("app", env)
        if standby is not None:
            app_phase("app+replica", env | {"CREDITBANK_DATABASE_REPLICA_URL": standby.url("mix")})
        server = MixServer("load:bare_factory", args.workers, env, work / "bare.log")
        bare_raw = f"GET /bare HTTP/1.1\r\n{head}\r\n".encode()
        bare_steps = step_up(
            "bare",
            server.port,
            lambda n: ("bare", bare_raw),
            args,
            time.time() + args.max_seconds * share[2],
            step=args.bare_step,
        )
        server.stop()
        server = None
    finally:
        if server is not None:
            server.stop()
        if standby is not None:
            standby.stop(remove=True)
        cluster.stop(remove=True)
        shutil.rmtree(work, ignore_errors=True)
    load_end = os.getloadavg()

    def reached(steps: list[dict]) -> float:
        good = [s["rate"] for s in steps if s["p99"] <= 0.100 and not s["errors"]]
        return max(good, default=0.0)

    replica = " + a streaming replica" if args.replica else ""
    print(f"\n### Mixed load, {args.workers} workers on PostgreSQL{replica} (bench/load.py mix)\n")
    print(
        f"{time.strftime('%Y-%m-%d %H:%M')} · {os.cpu_count()} cores · load average {load_start[0]:.1f} → "
        f"{load_end[0]:.1f} · uvicorn --workers {args.workers} (uvloop, httptools) · open loop, "
        f"{args.step_seconds:g} s per step from {args.start_rate:g}/s by {args.step:g}/s "
        f"(bare by {args.bare_step or args.step:g}/s), stop after {args.patience} failing step(s) in a row · "
        f"whole run {time.time() - started:.0f} s\n"
    )
    reached_apps = ", ".join(f"**{name} {reached(steps):g} req/s**" for name, steps, _ in phases)
    print(f"Rate reached with p99 ≤ 100 ms and no error: {reached_apps}, "
          f"bare async route {reached(bare_steps):g} req/s.\n")  # fmt: skip
    if args.replica:
        print("Database transactions during each app phase (pg_stat_database, commits + rollbacks): "
              + "; ".join(f"{name}: primary {t['primary']:,}, replica {t['replica']:,}" for name, _, t in phases)
              + ".\n")  # fmt: skip
    print("| server | offered req/s | requests | errors | p50 ms | p99 ms | verify p50/p99 | balance p50/p99 | "
          "post p50/p99 |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---|---|---|")
    for name, steps in [(name, steps) for name, steps, _ in phases] + [("bare", bare_steps)]:
        for s in steps:
            cells = []
            for route in ("verify", "balance", "post"):
                if route in s:
                    n, p50, p99 = s[route]
                    cells.append(f"{p50 * 1000:.1f} / {p99 * 1000:.1f} ({n})")
                else:
                    cells.append("—")
            print(f"| {name} | {s['rate']:g} | {s['n']} | {s['errors']} | {s['p50'] * 1000:.1f} | "
                  f"{s['p99'] * 1000:.1f} | {' | '.join(cells)} |")  # fmt: skip


# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    imp = sub.add_parser("import", help="single posts of another institution during a big import")
    imp.add_argument("--rows", type=int, default=100_000)
    imp.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    imp.add_argument("--rate", type=float, default=10.0, help="single posts per second (default 10)")
    imp.add_argument("--single-transaction", action="store_true", help="also the one-transaction import")
    imp.add_argument("--max-seconds", type=float, default=900.0, help="bound on each import phase")
    mix = sub.add_parser("mix", help="verify / balance / posts on 2 workers, PostgreSQL, stepped rate")
    mix.add_argument("--workers", type=int, default=2)
    mix.add_argument("--learners", type=int, default=300)
    mix.add_argument("--start-rate", type=float, default=100.0)
    mix.add_argument("--step", type=float, default=100.0)
    mix.add_argument("--step-seconds", type=float, default=10.0)
    mix.add_argument("--max-seconds", type=float, default=300.0, help="bound on the whole run after setup")
    mix.add_argument("--replica", action="store_true", help="also run the mix with a streaming read replica")
    mix.add_argument("--bare-step", type=float, help="the bare route's step (default: --step)")
    mix.add_argument("--patience", type=int, default=1, help="stop after this many failing steps in a row")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=100_000, help=argparse.SUPPRESS)
    args, _unknown = parser.parse_known_args()
    if args.worker:
        spec = json.loads(args.json) if args.json else {}
        if args.worker == "setup":
            result = ingest.setup_worker(args.url, -(-args.rows // ingest.N_OUTCOMES))
        elif args.worker == "other":
            result = other_setup_worker(args.url)
        elif args.worker == "importer":
            result = importer_worker(
                args.url, spec["csv"], spec["key_id"], spec["how"], spec["start"], spec["done"]
            )
        elif args.worker == "poster":
            result = poster_worker(args.url, spec["accounts"], spec["outcomes"], spec["rate"], spec["start"],
                                   spec["done"], spec["limit"])  # fmt: skip
        else:
            result = audit_worker(args.url)
        print(json.dumps(result))
        return
    args = parser.parse_args()
    if args.command == "import":
        import_main(args)
    elif args.command == "mix":
        mix_main(args)
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
