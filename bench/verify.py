"""Verification benchmark: online, offline (QR) and full-credential verification, in one run.

    python bench/verify.py [--duration 10] [--warmup 2] [--connections 32]
                           [--client auto|wrk|asyncio|httpx] [--offline-seconds 4] [--profile]

1. HTTP (goal: verify ≥ 70 % of bare). Real uvicorn servers on 127.0.0.1 (``uvicorn[standard]``:
   uvloop + httptools, one worker each, access log off), all started first and loaded one at a
   time, in ``--rounds`` interleaved rounds that share ``--duration`` (so a change in what else the
   machine does hits every row alike), with the same ``uvicorn.Config``:

   * ``bare``      — a minimal FastAPI app with one ``async def`` route returning a small JSON dict;
   * ``bare-sync`` — the same with a plain ``def`` route (context: FastAPI's thread pool);
   * ``app``       — ``creditbank.app.create_app(settings, db)`` on a fresh SQLite database built by
     ``creditbank.migrations.upgrade`` and filled through the API (TestClient, untimed): an
     accredited institution, 10 outcomes, a learner with 10 completions, an activated account,
     4 achievement certificates and one 10-line transcript (``POST /api/v1/me/certificates``).
     ``GET /api/v1/verify/{id}`` is loaded over the 4 achievements (round robin) and, separately,
     on the transcript. Repeated answers come from the answer cache (``api/verifycache.py``,
     docs/verification-cache.md), as in production;
   * ``app-uncached`` — the same app with the answer cache switched off in that process (nothing
     is kept, every request computes its verdict): what the route itself costs, the figure before
     the cache, measured in the same run.

   In the ``app`` server process ``creditbank.httpio.verify_limit.limit`` is raised to
   10**12: the per-IP limiter (120/min) still runs on every request but never refuses. The app
   code is not changed. Load: ``wrk`` (1 thread, 32 keep-alive connections, a Lua script that
   rotates the paths and reports errors), else a minimal HTTP/1.1 keep-alive client on asyncio
   streams with the same number of connections (as fast as wrk on the bare endpoint here;
   ``--client httpx`` exists for comparison but httpx is client-bound at ~1,200 req/s here
   and compresses the ratios). Each measurement: ``--warmup`` s (not counted) then
   ``--duration`` s. Every response must be 2xx; the verdicts are checked once beforehand.

2. Offline QR (goal: ≥ 50 % of bare Ed25519; SPEC's longer-term bar 80 %). Over N payloads (the
   5 issued through the API plus payloads re-signed with the issuer key by
   ``kit.qrpayload.encode`` from their claims with other ids and names; achievement-shaped (1
   line) and transcript-shaped (10 lines) measured separately): ``kit.qrpayload.verify(payload,
   resolve)`` vs ``Ed25519PublicKey.verify`` of exactly the same signatures and signed bytes
   (``DOMAIN + text before the last dot``, prepared in advance). ``verification.verify.verify_payload``
   (the whole offline verdict, keys from the published ``/api/v1/keys`` file as
   ``verification.offline`` loads them) is timed too. Rounds interleave product and bare; the
   median rate over rounds is reported.

3. Full credential (no target): ``kit.dataintegrity.verify_proof_set`` (eddsa-rdfc-2022 +
   eddsa-jcs-2022) on the achievement credential and on the 10-line transcript, per second; each
   proof alone (``verify_proof``) too.

Progress goes to stderr, the result tables (Markdown) to stdout. ``--profile`` adds, after the
measured runs, one more verify load with ``py-spy`` attached to the server (not counted) and
cProfile runs of the offline paths; their top entries go to stderr. Exit status 2 if a
verification that must succeed does not (a wrong verdict, a non-2xx response).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import io
import json
import os
import platform
import pstats
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HTTP_GOAL = 0.70
QR_GOAL = 0.50
QR_SPEC_GOAL = 0.80
ADMIN = "cbo_bench-operator-token"
OPERATOR = {"Authorization": f"Bearer {ADMIN}"}
SECRET = "bench-id-secret"
BASE_URL = "https://creditbank.example"  # only names the issuer (did:web); nothing is fetched from it
BENCH_VERIFY_LIMIT = 10**12
N_OUTCOMES = 10
N_ACHIEVEMENTS = 4
CATEGORIES = (
    "academic",
    "vocational_training",
    "vocational_certificate",
    "community",
    "senior",
    "culture_leisure",
)
BARE_BODY = {"status": "ok", "valid": True}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class BenchFailure(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------
# server child process: --serve app|bare|bare-sync
# --------------------------------------------------------------------------------------------


def uvicorn_config(app, port: int):
    import uvicorn

    return uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        workers=1,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
    )


def serve(kind: str, port: int, db_url: str | None, keys_dir: str | None) -> None:
    import uvicorn
    from fastapi import FastAPI

    if kind in ("app", "app-uncached"):
        from creditbank import httpio
        from creditbank.app import create_app
        from creditbank.config import Settings
        from creditbank.db import Database

        httpio.verify_limit.limit = BENCH_VERIFY_LIMIT  # benchmark only: the limiter still runs
        settings = Settings(
            database_url=db_url, keys_dir=Path(keys_dir), admin_token=ADMIN, secret=SECRET, base_url=BASE_URL
        )
        app = create_app(settings, Database(db_url))
        if kind == "app-uncached":  # benchmark only: every request computes its verdict (the route alone)
            app.state.verifier.answers.put = lambda *args, **kwargs: None
    elif kind == "bare":
        app = FastAPI()

        @app.get("/bare")
        async def bare() -> dict:
            return dict(BARE_BODY)
    else:
        app = FastAPI()

        @app.get("/bare")
        def bare_sync() -> dict:
            return dict(BARE_BODY)

    uvicorn.Server(uvicorn_config(app, port)).run()


# --------------------------------------------------------------------------------------------
# setup: database, keys and certificates through the API (not timed)
# --------------------------------------------------------------------------------------------


def setup(workdir: Path) -> dict:
    from fastapi.testclient import TestClient

    from creditbank.app import create_app
    from creditbank.certificates.keys import KeyStore
    from creditbank.config import Settings
    from creditbank.db import Database
    from creditbank.kit import idcard
    from creditbank.migrations import upgrade

    db_path = workdir / "creditbank.db"
    url = f"sqlite:///{db_path}"
    keys_dir = workdir / "keys"
    upgrade(url)
    settings = Settings(
        database_url=url, keys_dir=keys_dir, admin_token=ADMIN, secret=SECRET, base_url=BASE_URL
    )
    db = Database(url)

    def ok(response, *codes: int) -> dict:
        if response.status_code not in (codes or (200, 201)):
            raise BenchFailure(
                f"setup: {response.request.method} {response.request.url.path} → "
                f"{response.status_code} {response.text[:300]}"
            )
        return response.json()

    try:
        with TestClient(create_app(settings, db)) as client:
            code = "BENCH"
            ok(
                client.post(
                    "/api/v1/institutions",
                    json={"code": code, "name_zh": "基准测试社区学院"},
                    headers=OPERATOR,
                )
            )
            ok(client.post(f"/api/v1/institutions/{code}/accredit", headers=OPERATOR))
            key = ok(client.post(f"/api/v1/institutions/{code}/api-keys", json={}, headers=OPERATOR))["key"]
            inst = {"Authorization": f"Bearer {key}"}
            outcomes = []
            for i in range(N_OUTCOMES):
                body = {
                    "title_zh": f"社区课程{i + 1}：居民用电安全与应急",
                    "title_en": f"Community course {i + 1}",
                    "category": CATEGORIES[i % len(CATEGORIES)],
                    "level": 1 + i % 5,
                    "credits": 0.5 * (1 + i % 4),
                }
                ok(client.put(f"/api/v1/catalogue/BN-{i:02d}", json=body, headers=inst))
                outcomes.append(f"BN-{i:02d}")
            person = ok(
                client.post(
                    "/api/v1/learners",
                    headers=inst,
                    json={"name": "张桂兰", "national_id": idcard.make("500118", date(1958, 5, 17), 7)},
                )
            )
            completions = [
                ok(
                    client.post(
                        "/api/v1/completions",
                        headers=inst,
                        json={
                            "external_id": f"bench-{i}",
                            "account_no": person["account_no"],
                            "outcome_code": outcome,
                            "completed_on": f"2026-03-{i + 1:02d}",
                        },
                    )
                )["id"]
                for i, outcome in enumerate(outcomes)
            ]
            token = ok(
                client.post(
                    "/api/v1/auth/activate",
                    json={
                        "account_no": person["account_no"],
                        "activation_code": person["activation_code"],
                        "password": "竹林深处2026",
                    },
                )
            )["access_token"]
            me = {"Authorization": f"Bearer {token}"}
            certs = [
                ok(
                    client.post(
                        "/api/v1/me/certificates",
                        headers=me,
                        json={"kind": "achievement", "completion_id": completion_id},
                    ),
                    201,
                )
                for completion_id in completions[:N_ACHIEVEMENTS]
            ]
            transcript = ok(
                client.post("/api/v1/me/certificates", headers=me, json={"kind": "transcript"}), 201
            )
            key_file = client.get("/api/v1/keys").content
            for cert in [*certs, transcript]:  # the verdicts the load will ask for must be valid
                verdict = ok(client.get(f"/api/v1/verify/{cert['id']}"))
                if verdict["valid"] is not True:
                    raise BenchFailure(f"setup: {cert['id']} does not verify: {verdict}")
        lines = len(transcript["credential"]["credentialSubject"]["verifiableCredential"])
        if lines != N_OUTCOMES:
            raise BenchFailure(f"setup: transcript has {lines} lines, expected {N_OUTCOMES}")
        store = KeyStore(keys_dir)
        kid = store.active().kid
        with db.engine.connect() as connection:  # fold the WAL into the file before the server opens it
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.dispose()
    return {
        "url": url,
        "keys_dir": str(keys_dir),
        "kid": kid,
        "private_key": store.private_key(kid),
        "achievements": certs,
        "transcript": transcript,
        "key_file": key_file,
    }


# --------------------------------------------------------------------------------------------
# part 1: HTTP
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, kind: str, workdir: Path, world: dict) -> None:
        self.kind = kind
        self.port = free_port()
        self.log_path = workdir / f"server-{kind}.log"
        args = [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--port", str(self.port)]
        if kind.startswith("app"):
            args += ["--db", world["url"], "--keys", world["keys_dir"]]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(self.base + path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise BenchFailure(
            f"server {self.kind} did not come up:\n{self.log_path.read_text(errors='replace')[-3000:]}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


LUA = """
local paths = {%(paths)s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, ' ..
    '"write": %%d, "status": %%d, "timeout": %%d, "p50_us": %%d, "p99_us": %%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def load_wrk(base: str, paths: list[str], seconds: float, connections: int, workdir: Path) -> dict:
    script = workdir / "rotate.lua"
    script.write_text(LUA % {"paths": ", ".join(json.dumps(p) for p in paths)})
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    match = re.search(r"^WRKJSON (.*)$", out.stdout, re.M)
    if out.returncode != 0 or not match:
        raise BenchFailure(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    r = json.loads(match.group(1))
    errors = r["connect"] + r["read"] + r["write"] + r["timeout"]
    return {
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "requests": r["requests"],
        "bad": r["status"],
        "errors": errors,
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
    }


def load_asyncio(base: str, paths: list[str], seconds: float, connections: int, workdir: Path) -> dict:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams (uvloop when installed): one
    request in flight per connection, Content-Length bodies only (what uvicorn sends here)."""
    host, _, port = base.removeprefix("http://").partition(":")
    requests = [f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode() for p in paths]

    async def run() -> dict:
        latencies: list[float] = []
        counts = collections.Counter()
        start = time.perf_counter()
        deadline = start + seconds

        async def worker(offset: int) -> None:
            i = offset
            writer = None
            while time.perf_counter() < deadline:
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection(host, int(port))
                    t0 = time.perf_counter()
                    writer.write(requests[i % len(requests)])
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                    length = next(
                        (
                            int(v)
                            for k, _, v in (line.partition(b":") for line in head.split(b"\r\n")[1:])
                            if k.strip().lower() == b"content-length"
                        ),
                        None,
                    )
                    if length is None:
                        raise BenchFailure(f"response without Content-Length: {head[:200]!r}")
                    await asyncio.wait_for(reader.readexactly(length), 10)
                    counts["ok" if head[9:10] in (b"2", b"3") else "bad"] += 1
                    latencies.append(time.perf_counter() - t0)
                except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    counts["errors"] += 1
                    if writer is not None:
                        writer.close()
                    writer = None
                i += 1
            if writer is not None:
                writer.close()

        await asyncio.gather(*(worker(n) for n in range(connections)))
        return _load_result(counts, latencies, time.perf_counter() - start)

    try:
        import uvloop
    except ImportError:
        return asyncio.run(run())
    return uvloop.run(run())


def _load_result(counts: collections.Counter, latencies: list[float], elapsed: float) -> dict:
    latencies.sort()
    total = counts["ok"] + counts["bad"]

    def pick(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0

    return {
        "rps": total / elapsed,
        "requests": total,
        "bad": counts["bad"],
        "errors": counts["errors"],
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
    }


def load_httpx(base: str, paths: list[str], seconds: float, connections: int, workdir: Path) -> dict:
    """httpx.AsyncClient, one client (one keep-alive connection) per concurrent worker — a shared
    pool is ~3x slower still. Client-bound (~1,200 req/s on 2 cores, where wrk does 7,000+), so ratios come
    out compressed towards 100 %: kept for comparison only, never the automatic choice."""
    import httpx

    async def run() -> dict:
        latencies: list[float] = []
        counts = collections.Counter()
        start = time.perf_counter()
        deadline = start + seconds

        async def worker(offset: int) -> None:
            i = offset
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:
                while time.perf_counter() < deadline:
                    t0 = time.perf_counter()
                    try:
                        response = await client.get(paths[i % len(paths)])
                        counts["ok" if 200 <= response.status_code < 400 else "bad"] += 1
                        latencies.append(time.perf_counter() - t0)
                    except httpx.HTTPError:
                        counts["errors"] += 1
                    i += 1

        await asyncio.gather(*(worker(n) for n in range(connections)))
        return _load_result(counts, latencies, time.perf_counter() - start)

    return asyncio.run(run())


def http_part(args: argparse.Namespace, world: dict, workdir: Path) -> tuple[list[dict], dict]:
    """Every server is started first (an idle one costs nothing); then ``--rounds`` rounds each load
    every row for ``--duration / --rounds`` seconds in turn, so a change in what else the machine is
    doing hits all rows alike. A row's rate is its requests over its seconds in all rounds; the
    ratios are also given per round (median)."""
    load = {"wrk": load_wrk, "asyncio": load_asyncio, "httpx": load_httpx}[args.client]
    achievements = [f"/api/v1/verify/{c['id']}" for c in world["achievements"]]
    transcript = [f"/api/v1/verify/{world['transcript']['id']}"]
    plan = [
        ("bare", "bare async def → small JSON dict", ["/bare"]),
        ("bare-sync", "bare sync def (FastAPI thread pool)", ["/bare"]),
        ("app", f"GET /api/v1/verify/{{id}}, {len(achievements)} achievements", achievements),
        ("app", "GET /api/v1/verify/{id}, transcript (10 lines)", transcript),
        (
            "app-uncached",
            f"same, answer cache off (every request computes), {len(achievements)} achievements",
            achievements,
        ),
        ("app-uncached", "same, answer cache off, transcript", transcript),
    ]
    servers: dict[str, Server] = {}
    profile: dict = {}
    rounds = max(1, args.rounds)
    per_round = args.duration / rounds
    results: list[list[dict]] = [[] for _ in plan]
    try:
        for kind, _, _paths in plan:
            if kind not in servers:
                servers[kind] = Server(kind, workdir, world)
        for kind, _, paths in plan:
            servers[kind].wait_ready(paths[0])
        for kind, label, paths in plan:
            if args.warmup > 0:
                log(f"http: {label}: warm-up {args.warmup:g}s")
                load(servers[kind].base, paths, args.warmup, args.connections, workdir)
        for n in range(rounds):
            for i, (kind, label, paths) in enumerate(plan):
                result = load(servers[kind].base, paths, per_round, args.connections, workdir)
                results[i].append(result)
                log(
                    f"http: round {n + 1}/{rounds} {label}: {result['rps']:,.0f} req/s, "
                    f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
                    f"non-2xx {result['bad']}, socket errors {result['errors']}"
                )
        if args.profile:
            profile = profile_server(servers["app"], achievements, args, workdir, load)
    finally:
        for server in servers.values():
            server.stop()
    rows: list[dict] = []
    for (kind, label, _), runs in zip(plan, results, strict=True):
        seconds = sum(r["requests"] / r["rps"] for r in runs if r["rps"])
        rows.append(
            {
                "label": label,
                "kind": kind,
                "requests": sum(r["requests"] for r in runs),
                "rps": sum(r["requests"] for r in runs) / seconds if seconds else 0.0,
                "bad": sum(r["bad"] for r in runs),
                "errors": sum(r["errors"] for r in runs),
                "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                "round_rps": [r["rps"] for r in runs],
            }
        )
    return rows, profile


def profile_server(server: Server, paths: list[str], args: argparse.Namespace, workdir: Path, load) -> dict:
    """One more verify load with py-spy sampling the server (not counted in the table)."""
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        log("profile: py-spy not installed, no server profile")
        return {}
    out = workdir / "server.pyspy.txt"
    seconds = max(4, round(args.duration))
    spy = subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(server.process.pid),
            "--duration",
            str(seconds + 1),
            "--rate",
            "250",
            "--gil",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(0.5)
    log(f"profile: py-spy on the verify server for {seconds}s (not counted)")
    result = load(server.base, paths, seconds, args.connections, workdir)
    _, err = spy.communicate(timeout=60)
    if spy.returncode != 0 or not out.exists():
        log(f"profile: py-spy failed: {err.decode(errors='replace')[-500:]}")
        return {}
    return {"rps_under_profiler": result["rps"], "stacks": out.read_text()}


_FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def summarise_pyspy(raw: str, top: int = 25) -> str:
    """py-spy raw (collapsed) stacks → self and inclusive sample shares per function."""
    self_counts: collections.Counter = collections.Counter()
    total_counts: collections.Counter = collections.Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = []
        for frame in stack.split(";"):
            m = _FRAME.match(frame)
            name = f"{m['fn']} ({_short(m['file'])})" if m else frame
            frames.append(name)
        if frames:
            self_counts[frames[-1]] += n
            for name in set(frames):
                total_counts[name] += n
    if not samples:
        return "(no samples)"
    lines = [f"{samples} samples of the thread holding the GIL (py-spy --gil)", "", "top by self time:"]
    lines += [f"  {100 * n / samples:5.1f} %  {name}" for name, n in self_counts.most_common(top)]
    lines += ["", "top by inclusive time:"]
    lines += [f"  {100 * n / samples:5.1f} %  {name}" for name, n in total_counts.most_common(top)]
    return "\n".join(lines)


def _short(path: str) -> str:
    for marker in ("site-packages/", "/creditbank/", "lib/python3"):
        if marker in path:
            return path[path.index(marker) + (0 if marker == "/creditbank/" else len(marker)) :].lstrip("/")
    return path


def by_id_part(args: argparse.Namespace, world: dict) -> tuple[list[dict], str]:
    """What the verify route does per request, in this process on one thread, without HTTP:
    ``OnlineVerifier.by_id(id).as_dict()`` on the same database (proof cache warm)."""
    from creditbank.app import create_app
    from creditbank.config import Settings
    from creditbank.db import Database

    settings = Settings(
        database_url=world["url"],
        keys_dir=Path(world["keys_dir"]),
        admin_token=ADMIN,
        secret=SECRET,
        base_url=BASE_URL,
    )
    db = Database(world["url"])
    try:
        verifier = create_app(settings, db).state.verifier
        groups = {
            "achievements": [c["id"] for c in world["achievements"]],
            "transcript": [world["transcript"]["id"]],
        }
        for ids in groups.values():
            for cid in ids:
                if verifier.by_id(cid).as_dict()["valid"] is not True:
                    raise BenchFailure(f"by_id: {cid} is not valid")
        log(f"in-process: OnlineVerifier.by_id(id).as_dict(), {args.credential_seconds:g}s")
        result = interleaved(
            {name: (lambda cid: verifier.by_id(cid).as_dict(), ids) for name, ids in groups.items()},
            args.credential_seconds,
        )
        log("            " + ", ".join(f"{k} {v['rate']:,.0f}/s" for k, v in result.items()))
        profile_text = ""
        if args.profile:
            profile_text += by_id_steps(verifier, groups)
            for name, ids in groups.items():
                profile_text += (
                    f"\n--- cProfile: OnlineVerifier.by_id(id).as_dict(), {name} ---\n"
                    + cprofile_top(lambda cid: verifier.by_id(cid).as_dict(), ids)
                )
    finally:
        db.dispose()
    return [{"label": name} | value for name, value in result.items()], profile_text


def by_id_steps(verifier, groups: dict[str, list[str]]) -> str:
    """The pieces of ``OnlineVerifier.by_id`` timed one by one (no profiler overhead)."""
    from creditbank.certificates.models import Certificate, StatusList
    from creditbank.kit.canonical import digest_hex

    def per_call(fn, seconds: float = 0.4) -> float:
        best = float("inf")
        for _ in range(3):
            n, t0 = 0, time.perf_counter()
            while (dt := time.perf_counter() - t0) < seconds / 3:
                fn()
                n += 1
            best = min(best, dt / n)
        return best * 1e6

    out = ["", "--- OnlineVerifier.by_id steps, timed one at a time (µs per call, best of 3) ---"]
    for name, ids in groups.items():
        cid = ids[0]
        with verifier.db.reader() as session:
            certificate = session.get(Certificate, cid)
            session.expunge_all()
        credential = json.loads(certificate.credential_json)
        verdict = verifier.by_id(cid)
        methods = [p["verificationMethod"] for p in credential["proof"]]

        def database() -> None:
            with verifier.db.reader() as session:
                row = session.get(Certificate, cid)
                session.get(StatusList, row.status_list_id)

        steps = {
            "whole by_id(id).as_dict()": lambda: verifier.by_id(cid).as_dict(),
            "read session: get Certificate + get StatusList": database,
            "json.loads(credential_json)": lambda: json.loads(certificate.credential_json),
            "digest_hex(credential) (RFC 8785 + SHA-256; by_id does it twice)": lambda: digest_hex(
                credential
            ),
            "summary(certificate) (printed_of: json.loads + dataclasses)": lambda: verifier.summary(
                certificate
            ),
            f"key lookups x{len(methods)} (KeyStore.get: os.stat + scan)": lambda: [
                verifier.key(m) for m in methods
            ],
            "verdict.as_dict()": verdict.as_dict,
        }
        out.append(f"{name} ({cid}, credential {len(certificate.credential_json.encode()):,} bytes):")
        for label, fn in steps.items():
            out.append(f"  {per_call(fn):8.1f}  {label}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# timing helpers for the in-process parts
# --------------------------------------------------------------------------------------------


def interleaved(contenders: dict[str, tuple], seconds: float, min_rounds: int = 5) -> dict[str, dict]:
    """contenders: name → (function of one item, items). Each round runs every contender over its
    items (repeated so a round takes ≈ 0.15 s); rounds alternate until ``seconds`` have passed.
    Returns name → {"rate": median items/s over rounds, "rounds": n, "spread": (min, max)}."""
    reps = {}
    for name, (fn, items) in contenders.items():
        for item in items[:8]:  # warm-up (caches, imports)
            fn(item)
        t0 = time.perf_counter()
        for item in items:
            fn(item)
        dt = max(time.perf_counter() - t0, 1e-6)
        reps[name] = max(1, round(0.15 / dt))
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(next(iter(rates.values()))) < min_rounds:
        for name, (fn, items) in contenders.items():
            work = items * reps[name]
            t0 = time.perf_counter()
            for item in work:
                fn(item)
            rates[name].append(len(work) / (time.perf_counter() - t0))
    return {
        name: {"rate": statistics.median(r), "rounds": len(r), "spread": (min(r), max(r))}
        for name, r in rates.items()
    }


def cprofile_top(fn, items: list, seconds: float = 2.0, top: int = 20) -> str:
    """cProfile over ``items`` again and again for about ``seconds``; top entries by own time."""
    profiler = cProfile.Profile()
    deadline = time.perf_counter() + seconds
    calls = 0
    while time.perf_counter() < deadline:
        profiler.enable()
        for item in items:
            fn(item)
        profiler.disable()
        calls += len(items)
    out = io.StringIO()
    out.write(f"{calls} calls under cProfile (its overhead inflates pure-Python frames)\n")
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# part 2: offline QR payloads
# --------------------------------------------------------------------------------------------


def make_payloads(world: dict, n: int) -> dict[str, list[str]]:
    """The issued payloads plus re-signed variants (other ids and learner names), by shape."""
    from creditbank.kit import qrpayload

    def payload_of(cert: dict) -> str:
        return cert["verify_url"].split("#", 1)[1]

    shapes = {
        "achievement (1 line)": [payload_of(c) for c in world["achievements"]],
        "transcript (10 lines)": [payload_of(world["transcript"])],
    }
    names = ("张桂兰", "李建国", "王秀英", "陈志强", "刘淑芬", "赵德明", "黄丽娟", "周国华")
    for payloads in shapes.values():
        templates = [qrpayload.decode(p)[1] for p in payloads]
        i = 0
        while len(payloads) < n:
            claims = dict(templates[i % len(templates)])
            claims["certificate_id"] = f"crt_bench{i:011d}"
            claims["learner_name"] = names[i % len(names)]
            payloads.append(qrpayload.encode(claims, kid=world["kid"], private_key=world["private_key"]))
            i += 1
    return shapes


def offline_part(args: argparse.Namespace, world: dict) -> tuple[list[dict], str]:
    from creditbank.kit import qrpayload
    from creditbank.verification.offline import load_keys
    from creditbank.verification.verify import verify_payload

    did, keys = load_keys(world["key_file"])  # the published key file, as `creditbank verify --keys` reads it
    public = {kid: key.public_key for kid, key in keys.items()}

    def lookup(ref: str):
        method_did, _, kid = ref.rpartition("#")
        if method_did and did and method_did != did:
            return None
        return keys.get(kid or ref)

    resolve = public.get
    rows = []
    profile_text = ""
    for shape, payloads in make_payloads(world, args.payloads).items():
        bare_items = []
        for payload in payloads:
            ok, _claims, reason = qrpayload.verify(payload, resolve)
            if not ok:
                raise BenchFailure(f"offline: payload does not verify: {reason}")
            verdict = verify_payload(payload, keys=lookup)
            if verdict.checks["signature"].ok is not True or verdict.checks["issuer_key"].ok is not True:
                raise BenchFailure(f"offline: verify_payload refuses a payload: {verdict.as_dict()}")
            kid, _, signed, signature = qrpayload.decode(payload)
            public[kid].verify(signature, qrpayload.DOMAIN + signed)
            bare_items.append((public[kid], signature, qrpayload.DOMAIN + signed))
        log(f"offline: {shape}: {len(payloads)} payloads, {args.offline_seconds:g}s of interleaved rounds")
        result = interleaved(
            {
                "bare": (lambda item: item[0].verify(item[1], item[2]), bare_items),
                "qrpayload.verify": (lambda p: qrpayload.verify(p, resolve), payloads),
                "verify_payload": (lambda p: verify_payload(p, keys=lookup), payloads),
            },
            args.offline_seconds,
        )
        size = statistics.mean(len(p) for p in payloads)
        rows.append({"shape": shape, "n": len(payloads), "chars": size} | dict(result.items()))
        log("         " + ", ".join(f"{k} {v['rate']:,.0f}/s" for k, v in result.items()))
        if args.profile:
            profile_text += f"\n--- cProfile: qrpayload.verify, {shape} ---\n" + cprofile_top(
                lambda p: qrpayload.verify(p, resolve), payloads
            )
            profile_text += f"\n--- cProfile: verify_payload, {shape} ---\n" + cprofile_top(
                lambda p: verify_payload(p, keys=lookup), payloads
            )
    return rows, profile_text


# --------------------------------------------------------------------------------------------
# part 3: full credentials
# --------------------------------------------------------------------------------------------


def credential_part(args: argparse.Namespace, world: dict) -> tuple[list[dict], str]:
    from creditbank.kit.dataintegrity import verify_proof, verify_proof_set
    from creditbank.verification.offline import load_keys

    did, keys = load_keys(world["key_file"])

    def resolve(method: str):
        method_did, _, kid = method.partition("#")
        key = keys.get(kid) if method_did == did or did is None else None
        return key.public_key if key else None

    rows = []
    profile_text = ""
    documents = {
        "achievement credential": world["achievements"][0]["credential"],
        "transcript, 10 lines": world["transcript"]["credential"],
    }
    for label, credential in documents.items():
        checks = verify_proof_set(credential, resolve)
        if len(checks) != 2 or not all(c.ok for c in checks):
            raise BenchFailure(f"credential: {label} does not verify: {checks}")
        proofs = {p["cryptosuite"]: p for p in credential["proof"]}
        key = resolve(credential["proof"][0]["verificationMethod"])
        log(
            f"credential: {label} ({len(json.dumps(credential, ensure_ascii=False).encode()):,} bytes of JSON), "
            f"{args.credential_seconds:g}s"
        )
        contenders = {
            "both proofs (verify_proof_set)": (lambda d: verify_proof_set(d, resolve), [credential])
        }
        for suite, proof in sorted(proofs.items()):
            contenders[f"{suite} only (verify_proof)"] = (
                lambda d, proof=proof: verify_proof(d, proof, key),
                [credential],
            )
        result = interleaved(contenders, args.credential_seconds, min_rounds=3)
        rows.append(
            {
                "label": label,
                "bytes": len(json.dumps(credential, ensure_ascii=False).encode()),
                "result": result,
            }
        )
        log("           " + ", ".join(f"{k} {v['rate']:,.1f}/s" for k, v in result.items()))
        if args.profile:
            profile_text += f"\n--- cProfile: verify_proof_set, {label} ---\n" + cprofile_top(
                lambda d: verify_proof_set(d, resolve), [credential], seconds=4.0
            )
    return rows, profile_text


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def verdict_text(ratio: float, goal: float) -> str:
    return f"{'met' if ratio >= goal else 'NOT met'} (goal ≥ {goal:.0%})"


def print_report(
    args: argparse.Namespace,
    http_rows: list[dict],
    by_id_rows: list[dict],
    offline_rows: list[dict],
    credential_rows: list[dict],
    wall: float,
    loads: tuple[float, float],
) -> list[str]:
    import cryptography
    import fastapi
    import uvicorn

    failures = []
    print(f"# creditbank verification benchmark — {datetime.now():%Y-%m-%d %H:%M}")
    print()
    print(
        f"host: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.python_implementation()} {platform.python_version()}, FastAPI {fastapi.__version__}, "
        f"uvicorn {uvicorn.__version__} (uvloop, httptools, 1 worker), cryptography {cryptography.__version__}; "
        f"load average {loads[0]:.2f} at start, {loads[1]:.2f} at end; total wall time {wall:.0f}s"
    )
    if http_rows:
        client = {
            "wrk": f"wrk -t1 -c{args.connections}",
            "asyncio": f"raw asyncio HTTP/1.1 client, {args.connections} keep-alive connections",
            "httpx": f"httpx.AsyncClient, {args.connections} keep-alive connections",
        }[args.client]
        print()
        print(
            f"## 1. HTTP — {client}, {args.duration:g}s per row in {args.rounds} interleaved rounds "
            f"after {args.warmup:g}s warm-up, 127.0.0.1"
        )
        print()
        print(
            "| endpoint | requests/s | p50 ms | p99 ms | non-2xx | socket errors | vs bare async "
            "| vs bare, median of rounds |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        bare = http_rows[0]["rps"]

        def per_round(row: dict) -> float:
            return statistics.median(
                r / b for r, b in zip(row["round_rps"], http_rows[0]["round_rps"], strict=True) if b
            )

        for row in http_rows:
            print(
                f"| {row['label']} | {row['rps']:,.0f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['bad']} "
                f"| {row['errors']} | {row['rps'] / bare:.0%} | {per_round(row):.0%} |"
            )
            if row["bad"] or row["errors"]:
                failures.append(
                    f"{row['label']}: {row['bad']} non-2xx responses, {row['errors']} socket errors"
                )
        ratio = http_rows[2]["rps"] / bare
        print()
        if args.client == "httpx":
            print(
                "**Warning: httpx is the bottleneck here (it cannot load even the bare endpoint), so every ratio "
                "is compressed towards 100 % — do not read the goal verdict below; use wrk or --client asyncio.**"
            )
            print()
        print(
            f"verify (achievements) ÷ bare async = **{ratio:.1%}** — {verdict_text(ratio, HTTP_GOAL)} "
            f"(median of rounds {per_round(http_rows[2]):.1%}); "
            f"transcript ÷ bare async = {http_rows[3]['rps'] / bare:.1%}; "
            f"verify (achievements) ÷ bare sync = {http_rows[2]['rps'] / http_rows[1]['rps']:.1%}. "
            f"With the answer cache off (what the route computes per request): achievements "
            f"{http_rows[4]['rps'] / bare:.1%}, transcript {http_rows[5]['rps'] / bare:.1%} of bare async."
        )
        print(
            f"The verify server ran with `creditbank.httpio.verify_limit.limit = {BENCH_VERIFY_LIMIT:.0e}` "
            "(set in the server process; the limiter still runs on every request, it just never refuses). "
            "Its proof cache (`OnlineVerifier._proofs`) is warm after the warm-up, as in production."
        )
    if by_id_rows:
        print()
        print(
            "In-process, one thread, no HTTP — what the verify route runs per request "
            f"(`OnlineVerifier.by_id(id).as_dict()`, same database, proof cache warm; median over "
            f"{args.credential_seconds:g}s):"
        )
        print()
        print(
            "| certificates | calls/s | ms per call |"
            + (" HTTP ms per request, cache off (1/rate) | of which over bare async |" if http_rows else "")
        )
        print("|---|---:|---:|" + ("---:|---:|" if http_rows else ""))
        for row, http in zip(by_id_rows, http_rows[4:6] if http_rows else [None, None], strict=True):
            extra = ""
            if http:
                extra = f" {1000 / http['rps']:.2f} | {1000 / http['rps'] - 1000 / http_rows[0]['rps']:.2f} |"
            print(f"| {row['label']} | {row['rate']:,.0f} | {1000 / row['rate']:.2f} |{extra}")
    if offline_rows:
        print()
        print(
            f"## 2. Offline QR payloads — median of interleaved rounds over {args.offline_seconds:g}s per shape"
        )
        print()
        print(
            "| payloads | N | chars | bare Ed25519 verify/s | qrpayload.verify/s | ratio | verify_payload/s | ratio |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for row in offline_rows:
            bare = row["bare"]["rate"]
            q, v = row["qrpayload.verify"]["rate"], row["verify_payload"]["rate"]
            print(
                f"| {row['shape']} | {row['n']} | {row['chars']:.0f} | {bare:,.0f} | {q:,.0f} | {q / bare:.0%} "
                f"| {v:,.0f} | {v / bare:.0%} |"
            )
        print()
        for row in offline_rows:
            bare = row["bare"]["rate"]
            for name in ("qrpayload.verify", "verify_payload"):
                ratio = row[name]["rate"] / bare
                print(
                    f"- {row['shape']}, {name}: **{ratio:.1%}** of bare — {verdict_text(ratio, QR_GOAL)}; "
                    f"SPEC bar {verdict_text(ratio, QR_SPEC_GOAL)}"
                )
    if credential_rows:
        print()
        print(
            f"## 3. Full credential — `verify_proof_set` (eddsa-rdfc-2022 + eddsa-jcs-2022), "
            f"median of interleaved rounds over {args.credential_seconds:g}s (no target)"
        )
        print()
        print(
            "| credential | JSON bytes | both proofs /s | ms each | eddsa-rdfc-2022 only /s | eddsa-jcs-2022 only /s |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for row in credential_rows:
            r = row["result"]
            both = r["both proofs (verify_proof_set)"]["rate"]
            print(
                f"| {row['label']} | {row['bytes']:,} | {both:,.1f} | {1000 / both:.2f} "
                f"| {r['eddsa-rdfc-2022 only (verify_proof)']['rate']:,.1f} "
                f"| {r['eddsa-jcs-2022 only (verify_proof)']['rate']:,.1f} |"
            )
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds per HTTP measurement (default 10)"
    )
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="unmeasured seconds before each (default 2)"
    )
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections (default 32)")
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds sharing --duration (default 5)"
    )
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "asyncio", "httpx"),
        default="auto",
        help="load generator (auto: wrk if installed, else a raw asyncio keep-alive client; "
        "httpx is client-bound, for comparison only)",
    )
    parser.add_argument("--payloads", type=int, default=128, help="QR payloads per shape (default 128)")
    parser.add_argument("--offline-seconds", type=float, default=4.0, help="per payload shape (default 4)")
    parser.add_argument("--credential-seconds", type=float, default=3.0, help="per credential (default 3)")
    parser.add_argument("--skip-http", action="store_true", help="only the in-process parts 2 and 3")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after measuring: py-spy on the verify server, cProfile of parts 2 and 3 (stderr)",
    )
    parser.add_argument(
        "--serve", choices=("app", "app-uncached", "bare", "bare-sync"), help=argparse.SUPPRESS
    )
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--keys", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.db, args.keys)
        return
    if args.client == "auto":
        args.client = "wrk" if shutil.which("wrk") else "asyncio"
    if args.duration <= 0 or args.connections < 1 or args.payloads < 8:
        parser.error("--duration > 0, --connections ≥ 1, --payloads ≥ 8")

    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="creditbank-bench-verify-"))
    profiles: list[str] = []
    try:
        log(
            f"setup: migrations, institution, {N_OUTCOMES} outcomes, learner, {N_OUTCOMES} completions, "
            f"{N_ACHIEVEMENTS} achievement certificates and a transcript through the API (in {workdir})"
        )
        t0 = time.perf_counter()
        world = setup(workdir)
        log(f"setup: {time.perf_counter() - t0:.1f}s")
        http_rows: list[dict] = []
        if not args.skip_http:
            log(f"http: load generator {args.client}")
            http_rows, server_profile = http_part(args, world, workdir)
            if server_profile:
                profiles.append(
                    f"--- py-spy: verify server under load ({server_profile['rps_under_profiler']:,.0f} "
                    f"req/s while sampled) ---\n" + summarise_pyspy(server_profile["stacks"])
                )
        by_id_rows, text = by_id_part(args, world)
        profiles.append(text)
        offline_rows, text = offline_part(args, world)
        profiles.append(text)
        credential_rows, text = credential_part(args, world)
        profiles.append(text)
        failures = print_report(
            args,
            http_rows,
            by_id_rows,
            offline_rows,
            credential_rows,
            time.perf_counter() - started,
            (load_start, os.getloadavg()[0]),
        )
    except BenchFailure as exc:
        log(f"FAILED: {exc}")
        sys.exit(2)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for text in profiles:
        if text:
            log(text)
    if failures:
        log("FAILED: " + "; ".join(failures))
        sys.exit(2)


if __name__ == "__main__":
    main()
