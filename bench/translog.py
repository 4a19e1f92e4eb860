"""Transparency-log benchmark: what the log costs the import, how proofs scale, how fast tiles serve.

    python bench/translog.py [--rows 20000] [--repeat 3] [--backend sqlite|postgresql|both]
                             [--sizes 1000,10000,100000,1000000] [--proofs 200]
                             [--duration 5] [--connections 32]

1. Ingest, log on vs off (goal: the log costs ≤ 10 % of import throughput). The product path of
   ``bench/ingest.py`` (CSV file → ``completions.import_rows`` in one unit of work, commit included,
   in a child process) on copies of one setup database, ``--repeat`` times each, alternating
   on/off. "off" is the same code with ``translog.sequencer.append`` replaced by a no-op in that
   child — the only difference is the leaf rows and the head update. Reported: median completions
   per second (wall clock and CPU), the overhead, and the deferred work the leaves cause later: the
   checkpoint that integrates them into tiles and signs (timed on the "on" database).
2. Proofs at 10³…10⁶ leaves (goal: flat in log n). One SQLite log grown to each size (leaves
   written raw, then integrated and checkpointed by ``translog.service``); at each size ``--proofs``
   inclusion proofs for random leaves and consistency proofs from random older sizes, each from a
   fresh ``TileStore`` (a cold request: its own tile reads, nothing memoised), and their
   verification. Reported: median µs, tiles read per proof.
3. Serving tiles vs a bare static file route (same uvicorn config as ``bench/verify.py``: one
   worker, uvloop, httptools; load by its asyncio keep-alive client, ``--connections`` in
   flight): ``GET /log/tile/0/<N>`` (8 KiB, rotating over 64 full tiles) and
   ``/log/tile/entries/<N>`` from ``creditbank.app``, against Starlette ``StaticFiles`` serving the
   very same bytes from files, and a bare ``async def`` route returning them from memory.

Tables (Markdown) go to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import ingest  # noqa: E402 - bench/ingest.py, the import path and its setup
import verify as http_bench  # noqa: E402 - bench/verify.py, the uvicorn config and load client

log = ingest.log
TILES_SERVED = 64


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


# --------------------------------------------------------------------------------------------
# 1. ingest, log on vs off
# --------------------------------------------------------------------------------------------


def product_child(url: str, csv_path: str, key_id: str, log_on: bool) -> dict:
    from creditbank.translog import sequencer

    spent = {"append_seconds": 0.0, "append_cpu_seconds": 0.0}
    if not log_on:
        sequencer.append = lambda session, entries: 0  # the benchmark's switch: nothing else changes
    else:
        real = sequencer.append

        def timed(session, entries):  # how long the import spends inside the log (its direct cost)
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return real(session, entries)
            finally:
                spent["append_seconds"] += time.perf_counter() - t0
                spent["append_cpu_seconds"] += time.process_time() - c0

        sequencer.append = timed
    return ingest.product_worker(url, csv_path, key_id, 1_000_000, False) | spent


def checkpoint_child(url: str, keys_dir: str) -> dict:
    from creditbank.app import log_service
    from creditbank.config import Settings
    from creditbank.db import Database
    from creditbank.translog.service import head

    db = Database(url)
    settings = Settings(database_url=url, keys_dir=Path(keys_dir), secret="bench")
    log_ = log_service(settings, db)
    with db.reader() as session:
        size = head(session).size
    t0, c0 = time.perf_counter(), time.process_time()
    row = log_.checkpoint()
    result = {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, "leaves": size}
    assert row.size == size
    db.dispose()
    return result


def bench_ingest(args, work: Path, cluster) -> list[dict]:
    results = []
    for backend in args.backends:
        folder = work / f"ingest-{backend}"
        folder.mkdir()
        if backend == "sqlite":
            setup_url = f"sqlite:///{folder / 'setup.db'}"
        else:
            cluster.admin_execute("CREATE DATABASE tl_setup")
            setup_url = cluster.url("tl_setup")
        n_learners = -(-args.rows // ingest.N_OUTCOMES)
        child = spawn("--worker", "setup", "--url", setup_url, "--n", str(n_learners))
        setup = collect(child, f"{backend} setup")
        ingest.write_csv(folder / "completions.csv", args.rows, setup)
        runs: dict[bool, list[dict]] = {True: [], False: []}
        last_on_url = None
        for r in range(args.repeat):
            for log_on in (True, False) if r % 2 == 0 else (False, True):
                name = f"{'on' if log_on else 'off'}{r}"
                if backend == "sqlite":
                    shutil.copyfile(folder / "setup.db", folder / f"{name}.db")
                    url = f"sqlite:///{folder / f'{name}.db'}"
                else:
                    cluster.admin_execute(f"CREATE DATABASE tl_{name} TEMPLATE tl_setup")
                    url = cluster.url(f"tl_{name}")
                result = collect(
                    spawn(
                        "--worker",
                        "product",
                        "--url",
                        url,
                        "--csv",
                        str(folder / "completions.csv"),
                        "--key-id",
                        str(setup["key_id"]),
                        "--log",
                        "on" if log_on else "off",
                    ),
                    f"{backend} product {name}",
                )
                assert result["accepted"] == args.rows, result
                runs[log_on].append(result)
                if log_on:
                    last_on_url = url
                log(
                    f"{backend}: log {'on ' if log_on else 'off'} run {r}: {args.rows / result['seconds']:,.0f} c/s "
                    f"({result['seconds']:.2f}s wall, {result['cpu_seconds']:.2f}s CPU)"
                )
        checkpoint = collect(
            spawn("--worker", "checkpoint", "--url", last_on_url, "--keys", str(folder / "keys")),
            "checkpoint",
        )
        log(f"{backend}: checkpoint of {checkpoint['leaves']:,} new leaves {checkpoint['seconds']:.2f}s")
        results.append({"backend": backend, "rows": args.rows, "runs": runs, "checkpoint": checkpoint})
    return results


# --------------------------------------------------------------------------------------------
# 2. proofs at growing sizes
# --------------------------------------------------------------------------------------------


def proofs_child(url: str, keys_dir: str, sizes: list[int], proofs: int) -> list[dict]:
    import hashlib

    from creditbank.app import log_service
    from creditbank.config import Settings
    from creditbank.db import Database
    from creditbank.kit import merkle
    from creditbank.migrations import upgrade
    from creditbank.translog import tiles
    from creditbank.translog.sequencer import entry_hash

    upgrade(url)
    path = url.removeprefix("sqlite:///")
    db = Database(url)
    log_ = log_service(Settings(database_url=url, keys_dir=Path(keys_dir), secret="bench"), db)
    rng = random.Random(7)
    out = []
    size = 0
    for target in sizes:
        raw = sqlite3.connect(path)  # the leaves themselves, raw: this part measures proofs
        raw.execute("BEGIN")
        for start in range(size, target, 50_000):
            end = min(target, start + 50_000)
            raw.executemany(
                "INSERT INTO translog_leaf (leaf_index, kind, ref, digest) VALUES (?, 1, ?, ?)",
                [(i, f"txn_{i}", hashlib.sha256(i.to_bytes(8, "big")).digest()) for i in range(start, end)],
            )
        raw.execute("UPDATE translog_head SET size = ?", (target,))
        raw.commit()
        raw.close()
        t0 = time.perf_counter()
        checkpoint = log_.checkpoint()
        integrate_s = time.perf_counter() - t0
        old_size, size = size, target
        incl, incl_reads, verify_us, cons, cons_reads = [], [], [], [], []
        with db.reader() as session:
            for _ in range(proofs):
                index = rng.randrange(size)
                t0 = time.perf_counter()
                store = tiles.TileStore(session, size)
                proof = store.inclusion_proof(index)
                incl.append((time.perf_counter() - t0) * 1e6)
                incl_reads.append(store.reads)
                leaf = entry_hash(1, hashlib.sha256(index.to_bytes(8, "big")).digest())
                t0 = time.perf_counter()
                assert merkle.verify_inclusion(leaf, index, size, proof, checkpoint.root)
                verify_us.append((time.perf_counter() - t0) * 1e6)
                first = rng.randrange(1, size) if size > 1 else 1
                t0 = time.perf_counter()
                store = tiles.TileStore(session, size)
                store.consistency_proof(first)
                cons.append((time.perf_counter() - t0) * 1e6)
                cons_reads.append(store.reads)
        out.append(
            {
                "size": size,
                "integrate_s": integrate_s,
                "new_leaves": size - old_size,
                "inclusion_us": statistics.median(incl),
                "inclusion_p90_us": sorted(incl)[int(0.9 * len(incl))],
                "inclusion_reads": statistics.median(incl_reads),
                "path_len": len(proof),
                "verify_us": statistics.median(verify_us),
                "consistency_us": statistics.median(cons),
                "consistency_reads": statistics.median(cons_reads),
            }
        )
        log(
            f"proofs at {size:,}: inclusion {out[-1]['inclusion_us']:.0f} µs, consistency {out[-1]['consistency_us']:.0f} µs"
        )
    db.dispose()
    return out


# --------------------------------------------------------------------------------------------
# 3. serving
# --------------------------------------------------------------------------------------------


def serve_child(kind: str, port: int, url: str, keys_dir: str, static_dir: str) -> None:
    import uvicorn
    from fastapi import FastAPI, Response

    if kind == "app":
        from creditbank.app import create_app
        from creditbank.config import Settings
        from creditbank.db import Database

        settings = Settings(
            database_url=url,
            keys_dir=Path(keys_dir),
            secret="bench",
            log_checkpoint_interval=0,
            admin_token="cbo_x",
        )
        app = create_app(settings, Database(url))
    else:
        from starlette.staticfiles import StaticFiles

        app = FastAPI()
        blobs = {p.name: p.read_bytes() for p in Path(static_dir).iterdir()}

        @app.get("/memory/{name}")
        async def memory(name: str) -> Response:
            return Response(blobs[name], media_type="application/octet-stream")

        app.mount("/static", StaticFiles(directory=static_dir), name="static")
    uvicorn.Server(http_bench.uvicorn_config(app, port)).run()


class Server(http_bench.Server):
    def __init__(self, kind: str, workdir: Path, url: str, keys_dir: str, static_dir: str) -> None:
        self.kind = kind
        self.port = http_bench.free_port()
        self.log_path = workdir / f"server-{kind}.log"
        args = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            "serve",
            "--kind",
            kind,
            "--port",
            str(self.port),
            "--url",
            url,
            "--keys",
            keys_dir,
            "--static",
            static_dir,
        ]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)


def bench_serving(args, work: Path, url: str, keys_dir: str) -> list[dict]:
    from creditbank.translog import tiles

    static = work / "static"
    static.mkdir()
    db_path = url.removeprefix("sqlite:///")
    raw = sqlite3.connect(db_path)
    for index, hashes in raw.execute(
        "SELECT tile_index, hashes FROM translog_tile WHERE level = 0 ORDER BY tile_index LIMIT ?",
        (TILES_SERVED,),
    ):
        (static / f"t{index}").write_bytes(hashes)
    raw.close()
    names = sorted(p.name for p in static.iterdir())
    tile_paths = [f"/log/{tiles.tile_path(0, int(n[1:]))}" for n in names]
    entry_paths = [f"/log/{tiles.tile_path('entries', int(n[1:]))}" for n in names]
    rows = []
    for kind, label, paths in (
        ("bare", "bare StaticFiles (same bytes from files)", [f"/static/{n}" for n in names]),
        ("bare", "bare async route (same bytes from memory)", [f"/memory/{n}" for n in names]),
        ("app", "creditbank /log/tile/0/N", tile_paths),
        ("app", "creditbank /log/tile/entries/N", entry_paths),
    ):
        server = Server(kind, work, url, keys_dir, str(static))
        try:
            server.wait_ready(paths[0])
            http_bench.load_asyncio(
                server.base, paths, 1.0, args.connections, work
            )  # warm up (and fill caches)
            result = http_bench.load_asyncio(server.base, paths, args.duration, args.connections, work)
        finally:
            server.stop()
        if result["bad"] or result["errors"]:
            raise SystemExit(f"{label}: {result['bad']} bad answers, {result['errors']} errors")
        rows.append({"label": label, **result})
        log(f"serving {label}: {result['rps']:,.0f} req/s")
    return rows


# --------------------------------------------------------------------------------------------


def collect(child: subprocess.Popen, what: str):
    out, _ = child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"{what} failed (exit {child.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def report(
    ingest_results: list[dict], proof_rows: list[dict], serving: list[dict], loads, wall: float
) -> None:
    print("## 1. Ingest with the log on vs off\n")
    print(
        "| backend | rows | log on c/s | log off c/s | overhead (wall) | overhead (CPU) | inside the log | checkpoint of those leaves |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in ingest_results:
        on = statistics.median(x["seconds"] for x in r["runs"][True])
        off = statistics.median(x["seconds"] for x in r["runs"][False])
        on_cpu = statistics.median(x["cpu_seconds"] for x in r["runs"][True])
        off_cpu = statistics.median(x["cpu_seconds"] for x in r["runs"][False])
        inside = statistics.median(x["append_seconds"] / x["seconds"] for x in r["runs"][True])
        c = r["checkpoint"]
        print(
            f"| {r['backend']} | {r['rows']:,} | {r['rows'] / on:,.0f} | {r['rows'] / off:,.0f} | "
            f"{(on - off) / off:+.1%} | {(on_cpu - off_cpu) / off_cpu:+.1%} | {inside:.1%} | {c['seconds']:.2f} s "
            f"({c['leaves'] / c['seconds']:,.0f} leaves/s) |"
        )
    print(
        "\nOverhead = extra time per import with the log (median of the runs; positive = slower): an A/B of two "
        "processes, as noisy as the machine. 'Inside the log' = wall time spent in translog.sequencer.append (the "
        "leaf rows and the head update) over the import's wall time, measured in the log-on runs: the direct cost, "
        "without the extra commit bytes. The checkpoint integrates the import's leaves into tiles and signs, once, "
        "later (serve's schedule)."
    )
    print("\n## 2. Proof generation against the stored tiles\n")
    print(
        "| leaves | inclusion µs (p50 / p90) | tiles read | path | verify µs | consistency µs | tiles read | integrate+sign new leaves |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p in proof_rows:
        print(
            f"| {p['size']:,} | {p['inclusion_us']:,.0f} / {p['inclusion_p90_us']:,.0f} | {p['inclusion_reads']:.0f} | "
            f"{p['path_len']} | {p['verify_us']:.0f} | {p['consistency_us']:,.0f} | {p['consistency_reads']:.0f} | "
            f"{p['integrate_s']:.2f} s for {p['new_leaves']:,} |"
        )
    print("\n## 3. Serving tiles vs a bare static route\n")
    print("| route | req/s | p50 ms | p99 ms | vs bare StaticFiles |")
    print("|---|---:|---:|---:|---:|")
    base = serving[0]["rps"] if serving else 1
    for s in serving:
        print(
            f"| {s['label']} | {s['rps']:,.0f} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | {s['rps'] / base:.0%} |"
        )
    print(
        f"\nhost: {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"sqlite {sqlite3.sqlite_version}; load average {loads[0]:.2f} at start, {loads[1]:.2f} at end; "
        f"total wall time {wall:.0f}s; {datetime.now():%Y-%m-%d %H:%M}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--proofs", type=int, default=200)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--skip", default="", help="comma list of parts to skip: ingest,proofs,serving")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    for name in ("--url", "--csv", "--key-id", "--log", "--keys", "--kind", "--static", "--n", "--port"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        if args.worker == "serve":
            serve_child(args.kind, int(args.port), args.url, args.keys, args.static)
            return
        if args.worker == "setup":
            result = ingest.setup_worker(args.url, int(args.n))
        elif args.worker == "product":
            result = product_child(args.url, args.csv, args.key_id, args.log == "on")
        elif args.worker == "checkpoint":
            result = checkpoint_child(args.url, args.keys)
        else:
            result = proofs_child(args.url, args.keys, [int(s) for s in args.sizes.split(",")], args.proofs)
        print(json.dumps(result))
        return

    args.backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    skip = set(filter(None, args.skip.split(",")))
    started, load_start = time.perf_counter(), os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="creditbank-translog-bench-"))
    cluster = None
    try:
        if "postgresql" in args.backends:
            from tests import pgcluster

            cluster = pgcluster.start_cluster()
        ingest_results = [] if "ingest" in skip else bench_ingest(args, work, cluster)
        proof_url = f"sqlite:///{work / 'proofs.db'}"
        proof_rows = []
        if "proofs" not in skip or "serving" not in skip:
            proof_rows = collect(
                spawn(
                    "--worker",
                    "proofs",
                    "--url",
                    proof_url,
                    "--keys",
                    str(work / "proof-keys"),
                    "--sizes",
                    args.sizes,
                    "--proofs",
                    str(args.proofs),
                ),
                "proofs",
            )
        serving = [] if "serving" in skip else bench_serving(args, work, proof_url, str(work / "proof-keys"))
        report(
            ingest_results,
            [] if "proofs" in skip else proof_rows,
            serving,
            (load_start, os.getloadavg()[0]),
            time.perf_counter() - started,
        )
    finally:
        if cluster is not None:
            cluster.stop(remove=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
