"""In-process cost of the load mix's three routes, one request at a time (issue 14, goal 4).

    python bench/hotpath.py [--backend postgresql|sqlite] [--requests 200] [--rounds 3] [--sql]

``bench/load.py mix`` measures latency under load, where the machine's other tenants dominate the
tail. This script measures what one request of each route *costs*, which load does not change:
SQL statements per request (an SQLAlchemy ``before_cursor_execute`` listener on the app's engine),
the time spent in them (driver round trips), the CPU time of this process per request (the test
client's share included — the bare async route through the same client is the reference) and, on
PostgreSQL, the CPU time of the server's processes. Setup: ``bench/load.py``'s ``mix_setup`` (an
institution with 50 outcomes, 300 learners, 4 achievement certificates) on a throwaway cluster.

Per round, each route runs ``--requests`` times in a block: bare route, ``GET /api/v1/verify/{id}``,
``GET /api/v1/learners/{acct}/balance`` (institution key), ``POST /api/v1/completions`` (a new
learner × outcome each). Wall times are the median and p90 over all rounds; CPU and statement
figures are per request. ``--sql`` prints the statements of one balance read and one post.
Markdown to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).parent)]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def server_cpu(datadir: Path | None) -> float:
    """CPU seconds of the PostgreSQL postmaster's children (backends and background workers)."""
    if datadir is None:
        return 0.0
    postmaster = int((datadir / "postmaster.pid").read_text().split()[0])
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:  # ppid
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / tick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--requests", type=int, default=200, help="requests per route per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--learners", type=int, default=300)
    parser.add_argument(
        "--sql", action="store_true", help="print the statements of one balance read and one post"
    )
    parser.add_argument(
        "--only", choices=("verify", "balance", "post"), help="time this route only (for a profiler)"
    )
    args = parser.parse_args()

    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from load import ADMIN, MIX_OUTCOMES, mix_setup
    from sqlalchemy import event

    from creditbank import httpio
    from creditbank.app import create_app
    from creditbank.config import Settings
    from creditbank.db import Database

    work = Path(tempfile.mkdtemp(prefix="creditbank-hotpath-"))
    cluster = None
    load_start = os.getloadavg()
    try:
        if args.backend == "postgresql":
            from tests import pgcluster

            cluster = pgcluster.start_cluster()
            cluster.admin_execute("CREATE DATABASE hot")
            url = cluster.url("hot")
        else:
            url = f"sqlite:///{work / 'hot.db'}"
        log("setup …")
        world = mix_setup(url, work / "keys", args.learners)
        settings = Settings(database_url=url, keys_dir=work / "keys", admin_token=ADMIN, secret="load-id-secret",
                            rate_limit_file=work / "ratelimit")  # fmt: skip
        db = Database(url)
        httpio.verify_limit.limit = 10**12
        app = create_app(settings, db)
        statements: list[str] = []
        sql_time = [0.0]
        started_at: list[float] = []

        @event.listens_for(db.engine, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)
            started_at.append(time.perf_counter())

        by_statement: dict[str, list[float]] = {}

        @event.listens_for(db.engine, "after_cursor_execute")
        def _after(conn, cursor, statement, parameters, context, executemany):
            took = time.perf_counter() - started_at.pop()
            sql_time[0] += took
            by_statement.setdefault(statement, []).append(took)

        bare = FastAPI()

        @bare.get("/bare")
        async def bare_route() -> dict:
            return {"status": "ok", "valid": True}

        key = {"Authorization": f"Bearer {world['key']}"}
        accounts, certs = world["accounts"], world["certs"]
        pairs = iter([(a, f"LD-{o:02d}") for o in range(MIX_OUTCOMES) for a in accounts])
        n_post = [0]

        def post(client: TestClient):
            account, code = next(pairs)
            n_post[0] += 1
            body = {"external_id": f"hot-{n_post[0]}", "account_no": account, "outcome_code": code,
                    "completed_on": "2026-06-01"}  # fmt: skip
            return client.post("/api/v1/completions", headers=key, json=body)

        routes = {
            "bare": lambda client, i: client.get("/bare"),
            "verify": lambda client, i: client.get(f"/api/v1/verify/{certs[i % len(certs)]}"),
            "balance": lambda client, i: client.get(
                f"/api/v1/learners/{accounts[i % len(accounts)]}/balance", headers=key
            ),
            "post": lambda client, i: post(client),
        }
        walls: dict[str, list[float]] = {r: [] for r in routes}
        totals = {r: {"cpu": 0.0, "server": 0.0, "sql": 0.0, "statements": 0, "n": 0} for r in routes}
        datadir = cluster.datadir if cluster is not None else None
        with TestClient(app) as client, TestClient(bare) as bare_client:
            for route, call in routes.items():  # warm-up: caches, pools, imports
                for i in range(20):
                    response = call(bare_client if route == "bare" else client, i)
                    assert response.status_code in (200, 201), (
                        route,
                        response.status_code,
                        response.text[:300],
                    )
            if args.sql:
                for route in ("balance", "post"):
                    del statements[:]
                    routes[route](client, 0)
                    print(f"\n{route}: {len(statements)} statements\n")
                    for s in statements:
                        print("    " + " ".join(s.split())[:300])
            by_statement.clear()
            timed = {r: c for r, c in routes.items() if args.only in (None, r)}
            log(f"timing starts (pid {os.getpid()})")
            if args.only:
                time.sleep(2)  # time for a profiler to attach: py-spy record --pid …
            for round_no in range(args.rounds):
                for route, call in timed.items():
                    target = bare_client if route == "bare" else client
                    del statements[:]
                    sql_time[0] = 0.0
                    cpu0, server0 = time.process_time(), server_cpu(datadir)
                    for i in range(args.requests):
                        t0 = time.perf_counter()
                        response = call(target, i)
                        walls[route].append(time.perf_counter() - t0)
                        if response.status_code not in (200, 201):
                            raise SystemExit(f"{route}: {response.status_code} {response.text[:300]}")
                    t = totals[route]
                    t["cpu"] += time.process_time() - cpu0
                    t["server"] += server_cpu(datadir) - server0
                    t["sql"] += sql_time[0]
                    t["statements"] += len(statements)
                    t["n"] += args.requests
                log(f"round {round_no + 1}/{args.rounds} done, load {os.getloadavg()[0]:.1f}")
        db.dispose()
    finally:
        if cluster is not None:
            cluster.stop(remove=True)
        shutil.rmtree(work, ignore_errors=True)
    load_end = os.getloadavg()

    if args.sql:
        print("\nSlowest statements (median ms over the timed requests):\n")
        for statement, times in sorted(by_statement.items(), key=lambda kv: -statistics.median(kv[1]))[:12]:
            print(
                f"    {statistics.median(times) * 1000:6.2f} ms ×{len(times):5d}  {' '.join(statement.split())[:110]}"
            )
    print(f"\n### In-process cost per request ({args.backend}, bench/hotpath.py)\n")
    print(f"{time.strftime('%Y-%m-%d %H:%M')} · {os.cpu_count()} cores · load average {load_start[0]:.1f} → "
          f"{load_end[0]:.1f} · {args.rounds} rounds × {args.requests} requests per route, one at a time, "
          f"TestClient\n")  # fmt: skip
    bare_cpu = totals["bare"]["cpu"] / max(totals["bare"]["n"], 1) or 1.0
    print(
        "| route | statements | SQL ms | client CPU ms | × bare | server CPU ms | wall p50 ms | wall p90 ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for route, t in totals.items():
        n = t["n"]
        if not n:
            continue
        ws = sorted(walls[route])
        print(f"| {route} | {t['statements'] / n:.1f} | {t['sql'] * 1000 / n:.2f} | {t['cpu'] * 1000 / n:.2f} | "
              f"{t['cpu'] / n / bare_cpu:.1f} | {t['server'] * 1000 / n:.2f} | {statistics.median(ws) * 1000:.2f} | "
              f"{ws[int(len(ws) * 0.9)] * 1000:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
