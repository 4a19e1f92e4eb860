"""Statistics benchmark: each dashboard query at 10⁴, 10⁵ and 10⁶ completions, and the whole dashboard.

    python bench/stats.py [--sizes 10000,100000,1000000] [--repeat 5] [--backend sqlite|postgresql|both]

For each size a fresh database is built from the migrations and filled with bulk inserts (SQLite:
the driver's ``executemany``; PostgreSQL: ``COPY``): 10 completions per learner on average over
the last two years (2 % revoked), 8 districts × 10 乡镇/街道 × 10 村/社区, 10 institutions × 6
categories of outcomes, the population of every district, conversions and certificates at 1 % of
the completions, verification counts. Then, with ``ANALYZE`` done:

* each figure of ``creditbank.stats.queries`` and the recognition candidates, for the default
  period (this year to date — about half of the completions), median of ``--repeat`` runs, in ms;
* the whole dashboard as the district office gets it: ``GET /operator/stats`` through the app
  (every query, every chart drawn as SVG, the page rendered), signed in as an operator, median ms.

Tables (Markdown) go to stdout, progress to stderr. The goal: the dashboard in < 1 s at 10⁶.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DISTRICTS = ["永川区", "临淄区", "珠山区", "昌江区", "新都区", "江北区", "渝中区", "沙坪坝区"]
CATEGORIES = [
    "academic",
    "vocational_training",
    "vocational_certificate",
    "community",
    "senior",
    "culture_leisure",
]
PER_LEARNER = 10
PAGE_COLD = "whole dashboard page, first view (GET /operator/stats: queries, 11 SVG charts drawn, HTML)"
PAGE_WARM = "whole dashboard page, again (queries run again, charts of unchanged figures cached)"


def log(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


# -- building the data -----------------------------------------------------------------------------


def rows(n_completions: int, seed: int = 1) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every table's rows as (columns, tuples), the same for both databases."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(tzinfo=None)
    today = date.today()
    created = now.strftime("%Y-%m-%d %H:%M:%S.%f")
    out: dict[str, tuple[list[str], list[tuple]]] = {}
    institutions = []
    for i in range(10):
        district = DISTRICTS[i % len(DISTRICTS)]
        institutions.append(
            (i + 1, f"I{i:02d}", f"机构{i}", "accredited", created, district, f"{district}街道{i % 10}", None)
        )
    out["institution"] = (
        ["id", "code", "name_zh", "state", "created_at", "district", "township", "village"],
        institutions,
    )
    outcomes = []
    for i in range(10):
        for j, category in enumerate(CATEGORIES):
            oid = i * len(CATEGORIES) + j + 1
            outcomes.append((oid, i + 1, f"C{j}", 1, f"课程{oid}", category, 2, 150, False, created, 24.0))
    out["outcome"] = (
        [
            "id",
            "institution_id",
            "code",
            "version",
            "title_zh",
            "category",
            "level",
            "credits_units",
            "credits_from_hours",
            "created_at",
            "hours",
        ],
        outcomes,
    )
    n_learners = max(1, n_completions // PER_LEARNER)
    learners = []
    for k in range(n_learners):
        district = DISTRICTS[rng.randrange(len(DISTRICTS))]
        learners.append(
            (
                k + 1,
                f"CB{k:011d}",
                f"{k:064x}",
                "500118********0000",
                f"学员{k}",
                rng.choice(["male", "female"]),
                created,
                rng.choice([1940, 1950, 1958, 1962, 1970, 1985, 1995, 2005, 2010, 2015]),
                district,
                f"{district}街道{rng.randrange(10)}",
                created if rng.random() < 0.3 else None,
            )
        )
    out["learner"] = (
        [
            "id",
            "account_no",
            "id_hmac",
            "id_masked",
            "name",
            "gender",
            "created_at",
            "birth_year",
            "district",
            "township",
            "named_consent_at",
        ],
        learners,
    )
    completions = []
    start = today - timedelta(days=730)
    left = n_completions
    for k in range(n_learners):
        take = PER_LEARNER if k < n_learners - 1 else left
        take = min(take, len(outcomes), left)
        left -= take
        for oid in rng.sample(range(1, len(outcomes) + 1), take):
            inst, code = outcomes[oid - 1][1], outcomes[oid - 1][2]
            n = len(completions)
            completions.append(
                (
                    f"cmp_{n}",
                    inst,
                    f"e{n}",
                    k + 1,
                    oid,
                    code,
                    (start + timedelta(days=rng.randrange(731))).isoformat(),
                    150,
                    "0" * 64,
                    f"tx_{n}",
                    "revoked" if rng.random() < 0.02 else "active",
                    created,
                )
            )
    out["completion"] = (
        [
            "id",
            "institution_id",
            "external_id",
            "learner_id",
            "outcome_id",
            "outcome_code",
            "completed_on",
            "credits_units",
            "content_hash",
            "transaction_id",
            "state",
            "created_at",
        ],
        completions,
    )
    out["stats_area"] = (
        ["district", "township", "village"],
        [
            (d, f"{d}街道{t}", f"村{v}" if v >= 0 else "")
            for d in DISTRICTS
            for t in range(10)
            for v in range(-1, 10)
        ],
    )
    out["stats_population"] = (
        ["district", "age_band", "residents", "updated_at"],
        [(d, b, 50_000, created) for d in DISTRICTS for b in ("under_18", "18_59", "60_plus")],
    )
    out["conversion_rule"] = (
        [
            "id",
            "code",
            "version",
            "owner_institution_id",
            "name_zh",
            "target_outcome_id",
            "source_json",
            "effective_from",
            "state",
            "created_at",
        ],
        [(1, "R1", 1, 1, "规则", 1, "{}", "2020-01-01", "approved", created)],
    )
    extra = max(1, n_completions // 100)
    states = ["approved", "rejected", "pending", "expired"]
    out["conversion"] = (
        ["id", "learner_id", "rule_id", "state", "grant_units", "requested_at", "expires_at"],
        [
            (
                f"cnv_{i}",
                rng.randrange(n_learners) + 1,
                1,
                rng.choice(states),
                100,
                (now - timedelta(days=rng.randrange(730))).strftime("%Y-%m-%d %H:%M:%S.%f"),
                created,
            )
            for i in range(extra)
        ],
    )
    out["status_list"] = (
        ["id", "purpose", "bits", "next_index", "version", "updated_at"],
        [(1, "revocation", b"\0" * 16, 0, 0, created)],
    )
    out["certificate"] = (
        [
            "id",
            "kind",
            "learner_id",
            "credential_json",
            "credential_hash",
            "printed_json",
            "qr_payload",
            "kid",
            "status_list_id",
            "status_index",
            "ledger_seq",
            "issued_by",
            "issued_at",
            "log_index",
            "revoked_at",
        ],
        [
            (
                f"crt_{i}",
                rng.choice(["achievement", "transcript"]),
                rng.randrange(n_learners) + 1,
                "{}",
                "0" * 64,
                "{}",
                "",
                "k",
                1,
                i,
                0,
                "bench",
                (now - timedelta(days=rng.randrange(730))).strftime("%Y-%m-%d %H:%M:%S.%f"),
                i,
                created if rng.random() < 0.05 else None,
            )
            for i in range(extra)
        ],
    )
    out["verification_tally"] = (
        ["day", "certificate_id", "count"],
        [((today - timedelta(days=i % 700)).isoformat(), f"crt_{i}", 1 + i % 3) for i in range(extra)],
    )
    return out


ORDER = [
    "institution",
    "outcome",
    "learner",
    "completion",
    "stats_area",
    "stats_population",
    "conversion_rule",
    "conversion",
    "status_list",
    "certificate",
    "verification_tally",
]


def build_sqlite(path: Path, n: int) -> str:
    from creditbank.migrations import upgrade

    url = f"sqlite:///{path}"
    upgrade(url)
    data = rows(n)
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    with connection:
        for table in ORDER:
            columns, values = data[table]
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            connection.executemany(sql, values)
    connection.execute("ANALYZE")
    connection.close()
    return url


def build_postgresql(cluster, name: str, n: int) -> str:
    import psycopg

    from creditbank.migrations import upgrade

    cluster.admin_execute(f"CREATE DATABASE {name}")
    url = cluster.url(name)
    upgrade(url)
    data = rows(n)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as connection:
        with connection.cursor() as cursor:
            for table in ORDER:
                columns, values = data[table]
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in values:
                        copy.write_row(row)
            for table in ("stats_area", "institution", "outcome", "learner", "conversion_rule"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                    if table != "stats_area"
                    else "SELECT 1"
                )
        connection.commit()
        connection.autocommit = True
        connection.execute("ANALYZE")
    return url


# -- measuring -------------------------------------------------------------------------------------


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm: plans, pages in the cache
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def query_timings(url: str, repeat: int) -> dict[str, float]:
    from creditbank.db import Database
    from creditbank.stats import awards, queries

    db = Database(url)
    period = queries.Period.of(None, None)
    out: dict[str, float] = {}

    def run(fn):
        def call():
            with db.reader() as session:
                fn(session)

        return call

    out["learner cells (district, 乡镇/街道, age band, gender: one scan)"] = median_ms(
        run(lambda s: queries.learner_cells(s, period)), repeat
    )
    for group in ("category", "month"):
        out[f"participation by {group}"] = median_ms(
            run(lambda s, g=group: queries.participation(s, period, g)), repeat
        )
    out["participation rate (incl. its learner cells)"] = median_ms(
        run(lambda s: queries.participation_rate(s, period)), repeat
    )
    out["coverage"] = median_ms(run(lambda s: queries.coverage(s)), repeat)
    out["credits per institution and category"] = median_ms(run(lambda s: queries.credits(s, period)), repeat)
    out["conversions"] = median_ms(run(lambda s: queries.conversions(s, period)), repeat)
    out["certificates"] = median_ms(run(lambda s: queries.certificates(s, period)), repeat)
    out["recognition candidates (top 5 per district × category)"] = median_ms(
        run(lambda s: awards.candidates(s, period)), repeat
    )
    out["all figures (queries.dashboard)"] = median_ms(run(lambda s: queries.dashboard(s, period)), repeat)
    db.dispose()
    return out


def page_timing(url: str, repeat: int, keys: Path) -> tuple[float, float]:
    """GET /operator/stats through the app, signed in as an operator (password + TOTP): the first
    request (every query, every chart drawn) and the median of the next ones (the charts of
    unchanged figures come from the per-process cache; every query runs again)."""
    import pyotp
    from fastapi.testclient import TestClient

    from creditbank.app import create_app
    from creditbank.config import Settings
    from creditbank.staff import service as staff

    settings = Settings(
        database_url=url,
        keys_dir=keys,
        secret="bench-secret",
        admin_token="cbo_bench",
        log_checkpoint_interval=0,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        with app.state.db.unit_of_work() as session:
            _, secret = staff.create_operator(
                session,
                username="bench",
                name="bench",
                password="长城长城长城12345",
                secret=settings.id_secret(),
            )
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/operator/signin").text).group(1)
        signed = client.post(
            "/operator/signin",
            data={
                "csrf_token": token,
                "username": "bench",
                "password": "长城长城长城12345",
                "code": pyotp.TOTP(secret).now(),
            },
            follow_redirects=False,
        )
        assert signed.status_code == 303, signed.text

        def get():
            response = client.get("/operator/stats")
            assert response.status_code == 200 and 'id="table-coverage"' in response.text

        t0 = time.perf_counter()
        get()
        first = (time.perf_counter() - t0) * 1000
        return first, median_ms(get, repeat)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    cluster = None
    if "postgresql" in backends:
        from tests import pgcluster

        cluster = pgcluster.start_cluster()
    results: dict[tuple[str, int], dict[str, float]] = {}
    build_seconds: dict[tuple[str, int], float] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for backend in backends:
                for n in sizes:
                    log(f"{backend}: building {n:,} completions …")
                    t0 = time.perf_counter()
                    if backend == "sqlite":
                        url = build_sqlite(Path(tmp) / f"stats{n}.db", n)
                    else:
                        url = build_postgresql(cluster, f"bench_stats_{n}", n)
                    build_seconds[(backend, n)] = time.perf_counter() - t0
                    log(f"  built in {build_seconds[(backend, n)]:.1f} s; timing queries …")
                    timings = query_timings(url, args.repeat)
                    log("  timing the page …")
                    cold, warm = page_timing(url, args.repeat, Path(tmp) / f"keys-{backend}-{n}")
                    timings[PAGE_COLD] = cold
                    timings[PAGE_WARM] = warm
                    results[(backend, n)] = timings
    finally:
        if cluster is not None:
            cluster.stop(remove=True)

    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores, shared)\n")
    for backend in backends:
        print(f"### {backend}: median ms per query (period: this year to date, ~half of the completions)\n")
        print("| query | " + " | ".join(f"{n:,}" for n in sizes) + " |")
        print("|---|" + "---:|" * len(sizes))
        for name in results[(backend, sizes[0])]:
            print(f"| {name} | " + " | ".join(f"{results[(backend, n)][name]:.1f}" for n in sizes) + " |")
        print(
            "| (building the data, s) | "
            + " | ".join(f"{build_seconds[(backend, n)]:.1f}" for n in sizes)
            + " |"
        )
        cold, warm = (results[(backend, sizes[-1])][k] for k in (PAGE_COLD, PAGE_WARM))
        print(
            f"\nWhole dashboard at {sizes[-1]:,} completions: first view {cold:.0f} ms, again {warm:.0f} ms"
            f" — under 1 s: {'yes' if cold < 1000 else 'NO'} / {'yes' if warm < 1000 else 'NO'}\n"
        )


if __name__ == "__main__":
    main()
