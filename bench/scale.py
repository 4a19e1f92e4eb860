"""Scale benchmark: a PostgreSQL ledger of 1 M learners and 20 M postings, built with COPY, and the
product's hot operations timed on it against a small database, in one run (issue 14, goal 5).

    nice -n 10 python bench/scale.py                      # 1 000 000 learners × 10 completions
    python bench/scale.py --scale 0.02                    # 1/50: 20 000 learners, quick
    python bench/scale.py --dir /work/tmp/scale --keep    # keep the cluster (stopped) for --reuse
    python bench/scale.py --reuse --dir /work/tmp/scale   # measure again without building, then remove it
    python bench/scale.py --reuse --keep --round 2 …      # … or keep it for yet another round
    python bench/scale.py --layout learner                # each learner's rows together (CLUSTER's order)

``--reuse`` first upgrades the kept databases to the newest migration (alembic), so a run after a
schema change measures the new code on the old rows; new tables start empty (the statistics kept by
``stats.snapshots`` are computed by the run itself). Without ``--keep`` the cluster is removed at the
end: that is the clean-up (the large one takes ~17 GiB).

What it does:

1. A throwaway cluster (``tests/pgcluster.py``) with its data directory under ``--dir``.
2. Two databases built the same way: **small** (``--small-learners``, default 2 500) and **large**
   (``--learners × --scale``). Each: the schema by the alembic migrations; institutions (50),
   their outcomes (20 each) and API keys through the services; then the indexes and constraints of
   the bulk tables are dropped, every learner, learner account, ``institution_learner`` row,
   completion, lot, ledger transaction, posting, transparency-log leaf and ``learner_balance`` row is
   generated in Python and streamed with ``COPY`` (one connection per table, all open at once), the
   indexes and constraints are created again (timed separately: *load* and *index*), then
   ``VACUUM ANALYZE``.
   The rows are the product's: completion digests by ``completions.rules.content_hash``, the hash
   chain by ``ledger.chain.payload``/``tx_hash`` (every transaction links to the one before, the
   head row holds the tip), running ``balance_after_units``, account balances and versions,
   ``learner_balance`` sums, one log leaf per transaction in ``seq`` order. Row order
   (``--layout``): ``time`` (default) interleaves the learners of each block of 50 000, so that a
   learner's rows lie on pages of their own as credits arriving over years in institutions' imports
   leave them; ``learner`` writes each learner's rows together (the only order before 2026-12-02
   17:00: the best case for a statement page). ``creditbank audit``
   passes on the small database (checked in the run); on the large one the audit would need tens of
   GB of memory (it holds every posting), so the run re-checks the chain where the measured
   operations touch it: a sample of transactions across the whole chain, and the tail — everything
   the timed posts and the import appended — with the product's functions.
3. Through the product (in-process: ``Database``, ``unit_of_work``/``reader``, the service functions
   the routes call): 20 achievement certificates issued and the first checkpoint signed over the
   whole log (``Log.covering``: integrates every leaf into tiles — timed, reported, not in the p99s).
4. Timed on each database, small then large, the same learners' positions in each: balance read
   (``learners.visible_to`` + ``ledger.queries.balance``), statement page (``learners.queries.statement``,
   100 lines, the route's default), verify by id (``OnlineVerifier.by_id(id).as_dict()``), a single
   completion post (``completions.service.post_one`` in a ``unit_of_work``: lock, chain, commit),
   a 10 000-row staged import (``completions.imports.run``, all-or-nothing, for a big institution)
   and every statistics query of the dashboard (``creditbank.stats``), p99 (or median for the slow
   ones, said so) and the ratio large ÷ small. Goal: every ratio ≤ 1.5. Before the timing, the
   statement's SQL is EXPLAINed (ANALYZE, BUFFERS) for 50 learners nothing else touches: pages
   per statement from PostgreSQL's cache and from outside it, per plan node — what locality
   changes, and steadier than a p99 on a shared machine.
5. Sizes: ``pg_database_size``, ``pg_total_relation_size`` per table and ``pg_relation_size`` per
   index, and bytes per completion.

The cluster runs with ``fsync=off`` (tests/pgcluster.py): build times are optimistic against a
durable server, query times are not affected. Exits 3 on timeout (``--timeout``, default 2 h).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import random
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SECRET = b"bench-scale-secret"
N_INSTITUTIONS = 50
N_OUTCOMES = 20
GENERATED_OUTCOMES = 15
"""Outcomes 0–14 of each institution carry the generated completions; 15–19 are left free for the
timed posts and the timed import (a learner earns an outcome once)."""
DISTRICTS = ["永川区", "临淄区", "珠山区", "昌江区", "新都区", "江北区", "渝中区", "沙坪坝区"]
BULK_TABLES = (
    "learner",
    "ledger_account",
    "institution_learner",
    "learner_balance",
    "completion",
    "lot",
    "ledger_transaction",
    "posting",
    "translog_leaf",
)
IMPORT_ROWS = 10_000
EXPLAINED = 50
GOAL = 1.5


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# the cluster
# --------------------------------------------------------------------------------------------


def start(base: Path, reuse: bool):
    """A cluster under ``base``: a fresh one, or (``reuse``) the one a ``--keep`` run left there."""
    from tests import pgcluster

    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o755)
    existing = sorted(base.glob("creditbank-pg-*/data"))
    if not reuse or not existing:
        return pgcluster.start_cluster(base)
    datadir = existing[-1]
    bindir = pgcluster.find_bindir()
    assert bindir is not None
    port = pgcluster._free_port()
    opts = (
        f"-p {port} -k {datadir} -c listen_addresses={pgcluster.HOST} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    res = pgcluster._run(
        [str(bindir / "pg_ctl"), "-D", str(datadir), "-o", opts, "-w", "-l", str(datadir / "log"), "start"],
        cwd=datadir.parent,
        timeout=120,
    )
    if res.returncode != 0:
        raise SystemExit(f"could not start the kept cluster in {datadir}: {res.stderr}")
    cluster = pgcluster.Cluster(
        pgcluster.HOST, port, pgcluster.SUPERUSER, datadir, _bindir=bindir, _tmpdir=datadir.parent
    )
    with pgcluster._live_lock:
        pgcluster._live.add(cluster)
    return cluster


def dsn_of(cluster, name: str) -> str:
    return cluster.dsn(name)


def database_exists(cluster, name: str) -> bool:
    import psycopg

    with psycopg.connect(cluster.dsn("postgres"), autocommit=True) as connection:
        return (
            connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
        )


# --------------------------------------------------------------------------------------------
# building a database
# --------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    id: int
    code: str
    institution_id: int
    institution_code: str
    category: str
    level: int
    credits_units: int
    validity_years: int | None


@dataclass
class Built:
    name: str
    learners: int
    completions: int = 0
    postings: int = 0
    load_seconds: float = 0.0
    index_seconds: float = 0.0
    vacuum_seconds: float = 0.0
    setup_seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)


def setup_services(url: str) -> None:
    """Schema by the migrations; institutions, API keys and outcomes through the services."""
    from sqlalchemy import text

    from creditbank.catalogue import service as catalogue
    from creditbank.catalogue.models import Category
    from creditbank.catalogue.schemas import OutcomeSpec
    from creditbank.db import Database
    from creditbank.institutions import service as institutions
    from creditbank.institutions.models import InstitutionState
    from creditbank.migrations import upgrade

    upgrade(url)
    db = Database(url)
    try:
        with db.unit_of_work() as session:
            for i in range(N_INSTITUTIONS):
                code = f"I{i:03d}"
                district = DISTRICTS[i % len(DISTRICTS)]
                institution, _ = institutions.create(
                    session,
                    code=code,
                    name_zh=f"社区学院{i}",
                    district=district,
                    township=f"{district}街道{i % 10}",
                )
                institutions.set_state(session, code=code, state=InstitutionState.accredited)
                institutions.issue_api_key(session, code=code, label="bench")
                for j in range(N_OUTCOMES):
                    spec = OutcomeSpec(
                        title_zh=f"课程 {i}-{j}",
                        title_en=f"Course {i}-{j}",
                        category=list(Category)[(i + j) % len(Category)],
                        level=1 + j % 5,
                        credits=0.5 * (1 + j % 6),
                        validity_years=(None, 3, 5, 10)[j % 4],
                        min_score=None,
                    )
                    catalogue.upsert(
                        session,
                        institution_id=institution.id,
                        code=f"C{j:02d}",
                        spec=spec,
                        hours_per_credit=16.0,
                    )
        with db.unit_of_work() as session:  # the dashboard's denominators: areas and population
            for d in DISTRICTS:
                for t in range(10):
                    for v in ["", *(f"村{i}" for i in range(8))]:
                        session.execute(
                            text("INSERT INTO stats_area (district, township, village) VALUES (:d, :t, :v)"),
                            {"d": d, "t": f"{d}街道{t}", "v": v},
                        )
                for band in ("under_18", "18_59", "60_plus"):
                    session.execute(
                        text(
                            "INSERT INTO stats_population (district, age_band, residents, updated_at) "
                            "VALUES (:d, :b, 300000, now())"
                        ),
                        {"d": d, "b": band},
                    )
    finally:
        db.dispose()


def read_catalogue(connection) -> tuple[list[Outcome], dict[int, tuple[int, str]], dict[int, str]]:
    """Outcomes, issuance accounts (institution id → (account id, code)) and API key ids."""
    outcomes = [
        Outcome(*row)
        for row in connection.execute(
            "SELECT o.id, o.code, o.institution_id, i.code, o.category, o.level, o.credits_units, o.validity_years "
            "FROM outcome o JOIN institution i ON i.id = o.institution_id ORDER BY o.institution_id, o.code"
        )
    ]
    accounts = {
        inst: (aid, code)
        for aid, code, inst in connection.execute(
            "SELECT id, code, institution_id FROM ledger_account WHERE kind = 'issuance'"
        )
    }
    keys = dict(connection.execute("SELECT institution_id, id FROM api_key").fetchall())
    return outcomes, accounts, keys


@dataclass
class Schema:
    """The bulk tables' indexes and constraints, as PostgreSQL prints them, to drop and re-create."""

    constraints: list[tuple[str, str, str, str]]  # (table, name, contype, definition)
    indexes: list[tuple[str, str, str]]  # (table, name, CREATE INDEX …) — those backing no constraint


def read_schema(connection) -> Schema:
    tables = list(BULK_TABLES)
    constraints = [
        tuple(row)
        for row in connection.execute(
            "SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid) "
            "FROM pg_constraint c WHERE (c.conrelid::regclass::text = ANY(%s) OR c.confrelid::regclass::text = ANY(%s))"
            " AND c.contype IN ('p', 'u', 'f', 'c') ORDER BY c.conname",
            (tables, tables),
        )
    ]
    indexes = [
        tuple(row)
        for row in connection.execute(
            "SELECT i.tablename, i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY(%s) "
            "AND i.indexname NOT IN (SELECT conname FROM pg_constraint) ORDER BY i.indexname",
            (tables,),
        )
    ]
    return Schema(constraints, indexes)  # type: ignore[arg-type]


def drop_schema(connection, schema: Schema) -> None:
    for table, name, _kind, _ in sorted(schema.constraints, key=lambda c: c[2] != "f"):  # foreign keys first
        connection.execute(f'ALTER TABLE {table} DROP CONSTRAINT IF EXISTS "{name}"')
    for _, name, _ in schema.indexes:
        connection.execute(f'DROP INDEX IF EXISTS "{name}"')


def create_schema(dsn: str, schema: Schema) -> None:
    """Primary keys, unique constraints and indexes (two connections at a time: two cores), then
    the checks and foreign keys (validated: the database is what the product's would be)."""
    import psycopg

    statements = [
        (t, f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}')
        for t, n, k, d in schema.constraints
        if k in ("p", "u")
    ] + [(t, d) for t, _, d in schema.indexes]
    # Biggest tables first, so the two workers finish together.
    weight = {"posting": 0, "ledger_transaction": 1, "translog_leaf": 2, "lot": 3, "completion": 4}
    statements.sort(key=lambda s: weight.get(s[0], 9))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute("SET maintenance_work_mem = '512MB'")
            connection.execute("SET max_parallel_maintenance_workers = 0")
            while True:
                with lock:
                    if not statements or errors:
                        return
                    sql = statements.pop(0)[1]
                t0 = time.perf_counter()
                try:
                    connection.execute(sql)
                except BaseException as exc:
                    errors.append(exc)
                    return
                log(f"    {time.perf_counter() - t0:6.1f}s  {sql[:110]}")

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    with psycopg.connect(dsn, autocommit=True) as connection:
        for table, name, kind, definition in schema.constraints:
            if kind in ("c", "f"):
                t0 = time.perf_counter()
                connection.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
                log(f"    {time.perf_counter() - t0:6.1f}s  {table}.{name}")


class Streams:
    """One open COPY per table, each on its own connection; rows buffered as COPY text lines."""

    FLUSH = 4000

    def __init__(self, dsn: str, columns: dict[str, list[str]]) -> None:
        import psycopg

        self._stack: list = []
        self.copies = {}
        self.buffers: dict[str, list[str]] = {}
        self.counts: dict[str, int] = defaultdict(int)
        for table, names in columns.items():
            connection = psycopg.connect(dsn)
            connection.execute("SET synchronous_commit = off")
            cursor = connection.cursor()
            manager = cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN")
            self.copies[table] = manager.__enter__()
            self._stack.append((connection, manager))
            self.buffers[table] = []

    def add(self, table: str, line: str) -> None:
        buffer = self.buffers[table]
        buffer.append(line)
        if len(buffer) >= self.FLUSH:
            self.copies[table].write("".join(buffer).encode())
            self.counts[table] += len(buffer)
            buffer.clear()

    def close(self) -> None:
        for table, buffer in self.buffers.items():
            if buffer:
                self.copies[table].write("".join(buffer).encode())
                self.counts[table] += len(buffer)
                buffer.clear()
        for connection, manager in self._stack:
            manager.__exit__(None, None, None)
            connection.commit()
            connection.close()


COLUMNS = {
    "learner": ["id", "account_no", "id_hmac", "id_masked", "name", "birth_year", "gender", "district",
                "township", "village", "named_consent_at", "enrolled_by_id", "created_at"],
    "ledger_account": ["id", "code", "kind", "learner_id", "balance_units", "version"],
    "institution_learner": ["institution_id", "learner_id"],
    "learner_balance": ["learner_id", "category", "level", "units"],
    "completion": ["id", "institution_id", "external_id", "learner_id", "outcome_id", "outcome_code",
                   "completed_on", "score", "hours", "credits_units", "content_hash", "api_key_id",
                   "transaction_id", "state", "created_at"],
    "lot": ["id", "learner_id", "completion_id", "transaction_id", "institution_id", "outcome_id", "category",
            "level", "earned_on", "expires_on", "amount_units", "consumed_units", "locked_units", "state"],
    "ledger_transaction": ["id", "seq", "kind", "completion_id", "completion_hash", "event_on", "recorded_at",
                           "prev_hash", "hash"],
    "posting": ["id", "transaction_id", "account_id", "amount_units", "lot_id", "balance_after_units", "tx_seq",
                "tx_kind", "tx_event_on", "tx_recorded_at", "tx_completion_id"],
    "translog_leaf": ["leaf_index", "kind", "ref", "digest"],
}  # fmt: skip


def account_no_of(k: int) -> str:
    from creditbank.kit.checkdigit import mod11_2

    digits = f"{(k * 7919 + 1_000_000_007) % 10**10:010d}"  # distinct for k < 10^10/gcd: spread, not sorted
    return f"CB{digits}{mod11_2(digits)}"


@dataclass
class Account:
    """A learner of the block being generated: what their completions are and what they add up to."""

    learner_id: int
    account_id: int
    account_no: str
    outcomes: list[Outcome]
    balance: int = 0
    postings: int = 0
    by_key: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))


LAYOUT_BLOCK = 50_000
"""``--layout time``: learners interleaved per block. A learner's 10 postings then lie ~100 000
postings (~1 000 heap pages) apart, each on a page of its own — as in a bank whose learners' credits
arrive over years in institutions' imports — while the generator keeps only one block in memory."""


def generate(dsn: str, n_learners: int, per_learner: int, seed: int, layout: str = "learner") -> Built:
    """Stream every bulk row; return the counts. Chain, balances and digests as the product makes them."""
    import psycopg

    from creditbank.completions import rules
    from creditbank.kit import clock
    from creditbank.kit.tokens import hmac_hex, new_id
    from creditbank.ledger import chain

    with psycopg.connect(dsn) as connection:
        outcomes, issuance, keys = read_catalogue(connection)
        head_seq, head_hash = connection.execute("SELECT seq, hash FROM ledger_head WHERE id = 1").fetchone()
        first_account = connection.execute("SELECT coalesce(max(id), 0) + 1 FROM ledger_account").fetchone()[
            0
        ]
        log_size = connection.execute("SELECT size FROM translog_head WHERE id = 1").fetchone()[0]
    assert head_seq == 0 and log_size == 0, "the bulk rows start the chain"
    by_institution: dict[int, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        if int(outcome.code[1:]) < GENERATED_OUTCOMES:
            by_institution[outcome.institution_id].append(outcome)
    institution_ids = sorted(by_institution)
    rng = random.Random(seed)
    today = clock.today()
    start = today - timedelta(days=730)
    now = clock.now()
    created = now.strftime("%Y-%m-%d %H:%M:%S.%f+00")
    recorded_at = clock.iso(now)
    issuance_balance = dict.fromkeys(issuance, 0)
    issuance_version = dict.fromkeys(issuance, 0)
    add_years = clock.add_years
    payload, tx_hash = chain.payload, chain.tx_hash
    content_hash = rules.content_hash
    streams = Streams(dsn, COLUMNS)
    add = streams.add
    seq, prev, posting_id, n = 0, head_hash, 0, 0
    block = LAYOUT_BLOCK if layout == "time" else 1
    t0 = time.perf_counter()
    try:
        for first in range(0, n_learners, block):
            ledger: list[Account] = []
            for k in range(first, min(first + block, n_learners)):
                learner_id = k + 1
                account_no = account_no_of(k)
                district = DISTRICTS[rng.randrange(len(DISTRICTS))]
                home = institution_ids[rng.randrange(len(institution_ids))]
                taught = {home}
                while len(taught) < 1 + (k % 3):
                    taught.add(institution_ids[rng.randrange(len(institution_ids))])
                add(
                    "learner",
                    f"{learner_id}\t{account_no}\t{hmac_hex(SECRET, f'id-{k}')}\t500118********{k % 10000:04d}\t"
                    f"学员{k}\t{rng.choice((1940, 1950, 1958, 1962, 1970, 1985, 1995, 2005, 2010))}\t"
                    f"{'male' if k % 2 else 'female'}\t{district}\t{district}街道{rng.randrange(10)}\t\\N\t"
                    f"{created if rng.random() < 0.3 else chr(92) + 'N'}\t{home}\t{created}\n",
                )
                for inst in sorted(taught):
                    add("institution_learner", f"{inst}\t{learner_id}\n")
                choices = [o for inst in sorted(taught) for o in by_institution[inst]]
                picked = rng.sample(choices, min(per_learner, len(choices)))
                ledger.append(Account(learner_id, first_account + k, account_no, picked))
            # "learner": each learner's completions one after the other (block of 1), so a
            # learner's postings share a page or two. "time": round r deposits the r-th
            # completion of every learner of the block, as term-end imports of many learners do.
            for r in range(per_learner):
                for account in ledger:
                    if r >= len(account.outcomes):
                        continue
                    outcome = account.outcomes[r]
                    learner_id, account_id, account_no = (
                        account.learner_id,
                        account.account_id,
                        account.account_no,
                    )
                    code = f"learner:{account_no}"
                    n += 1
                    account.postings += 1
                    seq += 1
                    units = outcome.credits_units
                    completed_on = start + timedelta(days=rng.randrange(731))
                    score = float(60 + n % 41)
                    external_id = f"E{n:010d}"
                    digest = content_hash(
                        external_id=external_id,
                        account_no=account_no,
                        outcome_code=outcome.code,
                        completed_on=completed_on,
                        score=score,
                        hours=None,
                    )
                    completion_id, lot_id, tx_id = new_id("cmp"), new_id("lot"), new_id("txn")
                    issuer_id, issuer_code = issuance[outcome.institution_id]
                    body = payload(
                        seq=seq,
                        tx_id=tx_id,
                        prev_hash=prev,
                        kind="deposit",
                        event_on=completed_on,
                        recorded_at=recorded_at,
                        reverses_id=None,
                        completion_id=completion_id,
                        completion_hash=digest,
                        postings=[(issuer_code, -units, None), (code, units, lot_id)],
                    )
                    tx = tx_hash(body)
                    day = completed_on.isoformat()
                    add(
                        "ledger_transaction",
                        f"{tx_id}\t{seq}\tdeposit\t{completion_id}\t{digest}\t{day}\t{recorded_at}\t{prev}\t{tx}\n",
                    )
                    add("translog_leaf", f"{seq - 1}\t1\t{tx_id}\t\\\\x{tx}\n")
                    prev = tx
                    issuance_balance[outcome.institution_id] -= units
                    issuance_version[outcome.institution_id] += 1
                    account.balance += units
                    posting_id += 2
                    copies = f"{seq}\tdeposit\t{day}\t{recorded_at}\t{completion_id}"  # the transaction's, as the writer copies them
                    add(
                        "posting",
                        f"{posting_id - 1}\t{tx_id}\t{issuer_id}\t{-units}\t\\N\t{issuance_balance[outcome.institution_id]}\t{copies}\n"
                        f"{posting_id}\t{tx_id}\t{account_id}\t{units}\t{lot_id}\t{account.balance}\t{copies}\n",
                    )
                    expires = (
                        "\\N"
                        if outcome.validity_years is None
                        else add_years(completed_on, outcome.validity_years)
                    )
                    add(
                        "lot",
                        f"{lot_id}\t{learner_id}\t{completion_id}\t{tx_id}\t{outcome.institution_id}\t{outcome.id}\t"
                        f"{outcome.category}\t{outcome.level}\t{day}\t{expires}\t{units}\t0\t0\tactive\n",
                    )
                    add(
                        "completion",
                        f"{completion_id}\t{outcome.institution_id}\t{external_id}\t{learner_id}\t{outcome.id}\t"
                        f"{outcome.code}\t{day}\t{score}\t\\N\t{units}\t{digest}\t{keys[outcome.institution_id]}\t"
                        f"{tx_id}\tactive\t{created}\n",
                    )
                    account.by_key[(outcome.category, outcome.level)] += units
            for account in ledger:
                add(
                    "ledger_account",
                    f"{account.account_id}\tlearner:{account.account_no}\tlearner\t{account.learner_id}\t"
                    f"{account.balance}\t{account.postings}\n",
                )
                for (category, level), units in sorted(account.by_key.items()):
                    add("learner_balance", f"{account.learner_id}\t{category}\t{level}\t{units}\n")
            done = first + len(ledger)
            if done // 100_000 != first // 100_000 and done < n_learners:
                rate = n / (time.perf_counter() - t0)
                log(f"  {done:,} learners, {n:,} completions ({rate:,.0f}/s)")
        streams.close()
    except BaseException:
        for connection, _ in streams._stack:
            connection.close()
        raise
    with psycopg.connect(dsn, autocommit=True) as connection:
        for inst, (aid, _) in issuance.items():
            connection.execute(
                "UPDATE ledger_account SET balance_units = %s, version = %s WHERE id = %s",
                (issuance_balance[inst], issuance_version[inst], aid),
            )
        connection.execute("UPDATE ledger_head SET seq = %s, hash = %s WHERE id = 1", (seq, prev))
        connection.execute("UPDATE translog_head SET size = %s WHERE id = 1", (seq,))
        for table, column in (("learner", "id"), ("ledger_account", "id"), ("posting", "id")):
            connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), (SELECT max({column}) FROM {table}))"
            )
    built = Built("", n_learners, completions=n, postings=posting_id)
    built.rows = dict(streams.counts)
    return built


def build(cluster, name: str, n_learners: int, per_learner: int, seed: int, layout: str) -> Built:
    import psycopg

    cluster.admin_execute(f"CREATE DATABASE {name}")
    url, dsn = cluster.url(name), cluster.dsn(name)
    t0 = time.perf_counter()
    setup_services(url)
    setup = time.perf_counter() - t0
    with psycopg.connect(dsn, autocommit=True) as connection:
        schema = read_schema(connection)
        drop_schema(connection, schema)
    log(f"{name}: schema and services {setup:.1f}s; loading {n_learners:,} learners with COPY …")
    t0 = time.perf_counter()
    built = generate(dsn, n_learners, per_learner, seed, layout)
    built.name, built.setup_seconds = name, setup
    built.load_seconds = time.perf_counter() - t0
    log(
        f"{name}: loaded {built.completions:,} completions in {built.load_seconds:.1f}s; indexes and constraints …"
    )
    t0 = time.perf_counter()
    create_schema(dsn, schema)
    built.index_seconds = time.perf_counter() - t0
    log(f"{name}: indexes and constraints {built.index_seconds:.1f}s; VACUUM ANALYZE …")
    t0 = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    built.vacuum_seconds = time.perf_counter() - t0
    log(f"{name}: VACUUM ANALYZE {built.vacuum_seconds:.1f}s")
    return built


def counted(cluster, name: str) -> Built:
    """What a kept database holds (``--reuse``)."""
    import psycopg

    with psycopg.connect(cluster.dsn(name)) as connection:
        learners = connection.execute("SELECT count(*) FROM learner").fetchone()[0]
        completions = connection.execute("SELECT count(*) FROM completion").fetchone()[0]
        postings = connection.execute("SELECT count(*) FROM posting").fetchone()[0]
    return Built(name, learners, completions=completions, postings=postings)


# --------------------------------------------------------------------------------------------
# sizes
# --------------------------------------------------------------------------------------------


def sizes(cluster, name: str) -> dict:
    import psycopg

    with psycopg.connect(cluster.dsn(name)) as connection:
        database = connection.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        tables = connection.execute(
            "SELECT c.relname, pg_relation_size(c.oid), pg_total_relation_size(c.oid), c.reltuples::bigint "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY pg_total_relation_size(c.oid) DESC"
        ).fetchall()
        indexes = connection.execute(
            "SELECT t.relname, i.relname, pg_relation_size(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = 'public' "
            "ORDER BY pg_relation_size(i.oid) DESC"
        ).fetchall()
    return {"database": database, "tables": tables, "indexes": indexes}


# --------------------------------------------------------------------------------------------
# measuring, through the product
# --------------------------------------------------------------------------------------------


@dataclass
class World:
    """What the timed operations use on one database."""

    name: str
    url: str
    db: object
    app: object
    account_nos: list[str]
    certificate_ids: list[str]
    checkpoint_seconds: float = 0.0
    explain_nos: list[str] = field(default_factory=list)
    """Learners whose statement is EXPLAINed (``statement_buffers``): none of them is timed, posted
    to or imported for, so their pages are as cold as the database's."""


def p99(samples: list[float]) -> float:
    """Nearest rank: the smallest sample with at least 99 % of the samples at or below it."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def make_world(cluster, name: str, n_learners: int, workdir: Path) -> World:
    from sqlalchemy import text

    from creditbank.app import create_app
    from creditbank.certificates import service as certificates
    from creditbank.certificates.models import CertificateKind
    from creditbank.config import Settings
    from creditbank.db import Database
    from creditbank.hooks import install
    from creditbank.learners import service as learners

    url = cluster.url(name)
    settings = Settings(
        database_url=url,
        keys_dir=workdir.parent / f"keys-{name}",  # beside the cluster: a --reuse run keeps its log key
        secret="bench-scale-secret-0123456789",
        admin_token="cbo_bench_scale_token_0123456789",
        base_url="https://bank.example",
        log_checkpoint_interval=0,
        # Served statistics are timed without a background recomputation running beside them: the
        # recomputation is timed on its own (``measure``), and the interval does not fall due here.
        stats_refresh_seconds=10**9,
        stats_wait_seconds=3600,
    )
    db = Database(url)
    app = create_app(settings, db)
    install()
    rng = random.Random(7)
    picks = rng.sample(range(n_learners), 2100)  # distinct: the import needs 2 000 different learners
    account_nos = [account_no_of(k) for k in picks]
    issuer = app.state.verifier.issuer
    ids = []
    with db.unit_of_work() as session:
        for account_no in account_nos[:20]:
            learner = learners.by_account_no(session, account_no)
            completion_id = session.execute(
                text("SELECT id FROM completion WHERE learner_id = :l AND state = 'active' LIMIT 1"),
                {"l": learner.id},
            ).scalar_one()
            certificate = certificates.issue(
                session,
                issuer,
                learner=learner,
                kind=CertificateKind.achievement,
                completion_id=completion_id,
                issued_by="bench",
            )
            ids.append(certificate.id)
    taken = set(picks)
    others = [k for k in random.Random(8).sample(range(n_learners), 2200) if k not in taken][:EXPLAINED]
    world = World(name, url, db, app, account_nos, ids, explain_nos=[account_no_of(k) for k in others])
    t0 = time.perf_counter()
    verdict = app.state.verifier.by_id(ids[0]).as_dict()  # signs the first checkpoint: integrates every leaf
    world.checkpoint_seconds = time.perf_counter() - t0
    if verdict["valid"] is not True:
        raise SystemExit(f"{name}: certificate {ids[0]} does not verify: {verdict}")
    return world


def statement_buffers(world: World) -> dict:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the SQL ``learners.queries.statement`` sends, for
    ``EXPLAINED`` learners not touched before in this run: shared buffers per statement (hit = in
    PostgreSQL's cache already, read = fetched from the OS or the disk), split by plan node (each
    node's own, children excluded), and the time spent reading (``track_io_timing``). The pages a
    statement touches are what locality changes; how many of them are hits depends on what ran
    before."""
    from sqlalchemy import event

    from creditbank.learners import queries as learner_queries
    from creditbank.learners import service as learners

    captured: list[tuple[str, dict]] = []

    def grab(_conn, _cursor, statement, parameters, _context, _executemany) -> None:
        captured.append((statement, parameters))

    # The SQL once, for a learner of the timed set (its pages get warm: it is not measured here).
    with world.db.reader() as session:  # type: ignore[attr-defined]
        template = learners.visible_to(session, world.account_nos[0], institution_id=None)
        connection = session.connection()
        event.listen(connection, "before_cursor_execute", grab)
        try:
            learner_queries.statement(session, template, after=None, limit=100)
        finally:
            event.remove(connection, "before_cursor_execute", grab)
    sql, params = captured[-1]
    keys = [k for k, v in params.items() if v == template.id and isinstance(v, int)]
    assert keys and template.id != 100, f"cannot tell the learner's parameters in {params}"

    nodes: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    totals = {"hit": 0.0, "read": 0.0, "io_ms": 0.0, "lines": 0.0, "ms": 0.0}

    def walk(node: dict) -> None:
        children = node.get("Plans", [])
        # A CTE's or subquery's plan is listed under the node it belongs to but its pages are
        # counted where it runs (the CTE Scan, the node testing the subquery): subtract only the
        # ordinary inputs, and give the CTE Scan none of its own.
        inputs = [c for c in children if c.get("Parent Relationship") not in ("InitPlan", "SubPlan")]
        hit = node["Shared Hit Blocks"] - sum(c["Shared Hit Blocks"] for c in inputs)
        read = node["Shared Read Blocks"] - sum(c["Shared Read Blocks"] for c in inputs)
        if node["Node Type"] == "CTE Scan":
            hit = read = 0
        if hit or read:
            where = node.get("Index Name") or node.get("Relation Name") or ""
            key = f"{node['Node Type']} {where}".strip()
            nodes[key][0] += hit
            nodes[key][1] += read
        for child in children:
            walk(child)

    n = len(world.explain_nos)
    for account_no in world.explain_nos:
        with world.db.reader() as session:  # type: ignore[attr-defined]
            learner = learners.visible_to(session, account_no, institution_id=None)
            connection = session.connection()
            connection.exec_driver_sql("SET LOCAL track_io_timing = on")
            plan = connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql,
                {**params, **dict.fromkeys(keys, learner.id)},
            ).scalar_one()[0]
        top = plan["Plan"]
        totals["hit"] += top["Shared Hit Blocks"] / n
        totals["read"] += top["Shared Read Blocks"] / n
        totals["io_ms"] += top.get("I/O Read Time", 0.0) / n
        totals["lines"] += top["Actual Rows"] / n
        totals["ms"] += plan["Execution Time"] / n
        walk(top)
    return {"nodes": {k: (h / n, r / n) for k, (h, r) in nodes.items()}, **totals}


def time_calls(fn, args: list, warm: int = 5) -> list[float]:
    for a in args[:warm]:
        fn(a)
    out = []
    for a in args:
        t0 = time.perf_counter()
        fn(a)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def measure(
    world: World, repeat: int, stats_repeat: int, post_learners: list[str], import_csv: Path, round_: int
) -> dict:
    """name → (samples in ms, how the figure is summarised)."""
    from creditbank.completions import imports
    from creditbank.completions.batchfile import Row, read_rows
    from creditbank.completions.service import post_one
    from creditbank.institutions import service as institutions
    from creditbank.learners import queries as learner_queries
    from creditbank.learners import service as learners
    from creditbank.ledger import queries
    from creditbank.stats import awards
    from creditbank.stats import queries as stats

    db = world.db
    verifier = world.app.state.verifier
    out: dict[str, tuple[list[float], str]] = {}
    accounts = world.account_nos

    def balance(account_no: str) -> None:
        with db.reader() as session:
            learner = learners.visible_to(session, account_no, institution_id=None)
            queries.balance(session, learner)

    def statement(account_no: str) -> None:
        with db.reader() as session:
            learner = learners.visible_to(session, account_no, institution_id=None)
            lines = learner_queries.statement(session, learner, after=None, limit=100)
            assert lines

    def verify(certificate_id: str) -> None:
        assert verifier.by_id(certificate_id).as_dict()["valid"] is True

    out["balance read"] = (
        time_calls(balance, [accounts[i % len(accounts)] for i in range(20, 20 + repeat)]),
        "p99",
    )
    out["statement page (100 lines)"] = (
        time_calls(statement, [accounts[i % len(accounts)] for i in range(20 + repeat, 20 + 2 * repeat)]),
        "p99",
    )
    ids = world.certificate_ids
    out["verify by id"] = (time_calls(verify, [ids[i % len(ids)] for i in range(repeat)]), "p99")

    with db.reader() as session:
        post_institution = institutions.get(session, f"I{2 * round_ + 1:03d}")
    counter = iter(range(10**6))

    def post(account_no: str) -> None:
        i = next(counter)
        with db.unit_of_work() as session:
            post_one(
                session,
                institution=post_institution,
                api_key_id=None,
                secret=SECRET,
                values={
                    "external_id": f"POST-{i:07d}",
                    "account_no": account_no,
                    "outcome_code": f"C{GENERATED_OUTCOMES + i % (N_OUTCOMES - GENERATED_OUTCOMES):02d}",
                    "completed_on": "2026-09-01",
                    "score": "80",
                },
            )

    # Each learner gets the five free outcomes of I001, one post each.
    free = N_OUTCOMES - GENERATED_OUTCOMES
    out["single completion post"] = (
        time_calls(post, [post_learners[i // free] for i in range(free * (len(post_learners)))], warm=0),
        "p99",
    )

    with db.reader() as session:
        import_institution = institutions.get(session, f"I{2 * round_:03d}")

    def run_import(_: object) -> None:
        with open(import_csv, "rb") as handle:

            def rows():
                handle.seek(0)
                return (
                    (r.line, r.values) if isinstance(r, Row) else (r.line, r.code, r.params)
                    for r in read_rows(handle, filename=import_csv.name, max_rows=IMPORT_ROWS)
                )

            report = imports.run(
                db,
                institution_id=import_institution.id,
                api_key_id=None,
                secret=SECRET,
                rows=rows,
                mode="all_or_nothing",
            )
        assert report.accepted == IMPORT_ROWS and report.committed, report

    out[f"batch import, {IMPORT_ROWS:,} rows (staged)"] = (time_calls(run_import, [None], warm=0), "one run")

    period = stats.Period.of(None, None)

    def stat(fn):
        def call(_: object) -> None:
            with db.reader() as session:
                fn(session)

        return call

    figures = {
        "stats: learner cells": lambda s: stats.learner_cells(s, period),
        "stats: participation by category": lambda s: stats.participation(s, period, "category"),
        "stats: participation by month": lambda s: stats.participation(s, period, "month"),
        "stats: participation rate": lambda s: stats.participation_rate(s, period),
        "stats: coverage": lambda s: stats.coverage(s),
        "stats: credits per institution × category": lambda s: stats.credits(s, period),
        "stats: conversions": lambda s: stats.conversions(s, period),
        "stats: certificates": lambda s: stats.certificates(s, period),
        "stats: recognition candidates": lambda s: awards.candidates(s, period),
        "stats: whole dashboard (queries.dashboard)": lambda s: stats.dashboard(s, period),
    }
    for label, fn in figures.items() if stats_repeat else ():
        out[label] = (time_calls(stat(fn), [None] * stats_repeat, warm=1), "median")
    if stats_repeat:
        out.update(served_statistics(world, period, repeat))
    return out


def served_statistics(world: World, period, repeat: int) -> dict:
    """The statistics as the office gets them (``stats.snapshots.Statistics``, what the dashboard,
    ``GET /api/v1/stats/*`` and the recognition page call): computed for each request where that is
    cheap (the small database), served as kept figures where it is not (the large one) — and, apart,
    what one recomputation of the kept figures costs (the background job, or ``creditbank
    stats-refresh``)."""
    from creditbank.stats.snapshots import Key

    statistics = world.app.state.statistics
    out: dict[str, tuple[list[float], str]] = {}
    # One recomputation of each kept row, timed: the dashboard of the year to date and both
    # candidate orderings. They are kept only where they are slow (> stats_live_seconds).
    for kind, label in (
        ("dashboard", "stats recomputed: whole dashboard (background job)"),
        ("recognition-credits", "stats recomputed: recognition candidates (background job)"),
    ):
        key = Key.of(kind, period, None)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        _payload, seconds = statistics._compute_and_keep(key, always=False)
        out[label] = ([(time.perf_counter() - t0) * 1000], "one run")
        kept = "kept" if seconds >= statistics.policy.live_seconds else "computed per request"
        log(f"{world.name}: {label}: {seconds:.1f} s → {kept}")
    served = {
        "stats served: whole dashboard (what /operator/stats shows)": lambda: statistics.dashboard(period),
        "stats served: one figure (GET /api/v1/stats/participation?group_by=category)": lambda: (
            statistics.figure("participation-category", period)
        ),
        "stats served: one figure (GET /api/v1/stats/credits)": lambda: statistics.figure("credits", period),
        "stats served: recognition candidates (top 5)": lambda: statistics.candidates(period),
        "stats served: district filter choices": lambda: statistics.districts(),
    }
    samples = max(5, min(repeat, 30))
    for label, fn in served.items():
        out[label] = (time_calls(lambda _: fn(), [None] * samples, warm=1), "median")
    statistics.drain()
    return out


def import_file(path: Path, account_nos: list[str]) -> None:
    """10 000 rows: 2 000 learners × the 5 free outcomes of the importing institution."""
    free = N_OUTCOMES - GENERATED_OUTCOMES
    with open(path, "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["external_id", "account_no", "outcome_code", "completed_on", "score", "hours"])
        for k in range(IMPORT_ROWS):
            out.writerow(
                [
                    f"IMP-{k:07d}",
                    account_nos[k // free],
                    f"C{GENERATED_OUTCOMES + k % free:02d}",
                    "2026-10-01",
                    "75",
                    "",
                ]
            )


def check_chain(url: str, sample: int, tail_from: int) -> str:
    """Recompute, with the product's functions, the hashes of ``sample`` transactions spread over the
    chain and of every transaction from ``tail_from`` to the head; check each link."""
    import psycopg

    from creditbank.ledger import chain

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as connection:
        head_seq, head_hash = connection.execute("SELECT seq, hash FROM ledger_head").fetchone()
        seqs = sorted(
            set(random.Random(1).sample(range(1, head_seq + 1), min(sample, head_seq)))
            | set(range(max(1, tail_from - 1), head_seq + 1))
        )
        checked, last = 0, None
        for start in range(0, len(seqs), 1000):
            part = seqs[start : start + 1000]
            txs = connection.execute(
                "SELECT seq, id, prev_hash, kind, event_on, recorded_at, reverses_id, completion_id, completion_hash, "
                "hash FROM ledger_transaction WHERE seq = ANY(%s) ORDER BY seq",
                (part,),
            ).fetchall()
            legs = defaultdict(list)
            for tx_id, code, units, lot in connection.execute(
                "SELECT p.transaction_id, a.code, p.amount_units, p.lot_id FROM posting p "
                "JOIN ledger_account a ON a.id = p.account_id WHERE p.transaction_id = ANY(%s) ORDER BY p.id",
                ([t[1] for t in txs],),
            ):
                legs[tx_id].append((code, units, lot))
            prevs = dict(
                connection.execute(
                    "SELECT seq, hash FROM ledger_transaction WHERE seq = ANY(%s)", ([s - 1 for s in part],)
                ).fetchall()
            )
            for seq, tx_id, prev_hash, kind, event_on, recorded_at, reverses_id, cid, chash, stored in txs:
                body = chain.payload(
                    seq=seq,
                    tx_id=tx_id,
                    prev_hash=prev_hash,
                    kind=kind,
                    event_on=event_on,
                    recorded_at=recorded_at,
                    reverses_id=reverses_id,
                    completion_id=cid,
                    completion_hash=chash,
                    postings=legs[tx_id],
                )
                if chain.tx_hash(body) != stored:
                    return f"FAILED: seq {seq} hash mismatch"
                if prev_hash != prevs.get(seq - 1, chain.GENESIS):
                    return f"FAILED: seq {seq} does not link to seq {seq - 1}"
                checked += 1
                last = (seq, stored)
        if last != (head_seq, head_hash):
            return f"FAILED: head {head_seq} is not the last transaction {last}"
    return f"passed ({checked:,} transactions recomputed: {min(sample, head_seq):,} sampled + the tail from seq {tail_from:,})"


def audit_all(url: str) -> str:
    from creditbank.audit import audit
    from creditbank.db import Database

    db = Database(url)
    try:
        with db.reader() as session:
            report = audit(session)
    finally:
        db.dispose()
    return "passed" if report.ok else "FAILED: " + " | ".join(report.problems[:3])


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------


def mib(n: int) -> str:
    return f"{n / 2**20:,.1f}"


def report(built: dict[str, Built], size: dict[str, dict], results: dict[str, dict], extra: dict) -> None:
    small, large = built["scale_small"], built["scale_large"]
    print(f"\n## Scale run {datetime.now():%Y-%m-%d %H:%M}\n")
    print(
        f"host: {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs; "
        f"load average {extra['load_start']:.2f} at start, {extra['load_build']:.2f} after the builds, "
        f"{os.getloadavg()[0]:.2f} at the end; total {extra['wall']:.0f} s\n"
    )
    print(
        "| database | learners | completions | postings | setup s | COPY load s | indexes + constraints s | VACUUM ANALYZE s | size |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for b in (small, large):
        print(
            f"| {b.name} | {b.learners:,} | {b.completions:,} | {b.postings:,} | {b.setup_seconds:.1f} | "
            f"{b.load_seconds:.1f} | {b.index_seconds:.1f} | {b.vacuum_seconds:.1f} | "
            f"{size[b.name]['database'] / 2**30:,.2f} GiB |"
        )
    s = size["scale_large"]
    print(f"\n### Disk, large database ({large.completions:,} completions)\n")
    print("| table | rows | heap MiB | heap + indexes + TOAST MiB | bytes per completion |")
    print("|---|---:|---:|---:|---:|")
    for name, heap, total, rows in s["tables"]:
        if total < 2**20:
            continue
        print(f"| {name} | {rows:,} | {mib(heap)} | {mib(total)} | {total / large.completions:,.0f} |")
    print("\n| index | table | MiB | bytes per completion |")
    print("|---|---|---:|---:|")
    for table, index, n in s["indexes"]:
        if n < 2**20:
            continue
        print(f"| {index} | {table} | {mib(n)} | {n / large.completions:,.0f} |")
    per_completion_tables = (
        "completion",
        "lot",
        "ledger_transaction",
        "posting",
        "translog_leaf",
        "translog_tile",
    )
    ledger_bytes = sum(total for name, _, total, _ in s["tables"] if name in per_completion_tables)
    print(
        f"\nWhole database {s['database'] / 2**30:,.2f} GiB = **{s['database'] / large.completions:,.0f} bytes per "
        f"completion** (learners, accounts and balances included); the six per-completion tables "
        f"({', '.join(per_completion_tables)}) with their indexes: {ledger_bytes / large.completions:,.0f} bytes "
        f"per completion."
    )
    print(
        f"\nFirst checkpoint over the whole log (integrates every leaf into tiles): small "
        f"{extra['checkpoint'].get('scale_small', 0):.1f} s, large {extra['checkpoint'].get('scale_large', 0):.1f} s"
    )
    print("\n### Operations, small vs large (in-process through the product's services)\n")
    print(f"| operation | figure | small ms | large ms | large ÷ small | ≤ {GOAL}× | p50 small / large ms |")
    print("|---|---|---:|---:|---:|---|---:|")
    for label, (samples, how) in results["scale_small"].items():
        big, _ = results["scale_large"][label]
        figure = p99 if how == "p99" else (statistics.median if how == "median" else max)
        a, b = figure(samples), figure(big)
        ratio = b / a if a else float("inf")
        print(
            f"| {label} | {how} of {len(samples)} | {a:,.1f} | {b:,.1f} | {ratio:.2f} | "
            f"{'yes' if ratio <= GOAL else '**no**'} | {statistics.median(samples):,.1f} / {statistics.median(big):,.1f} |"
        )
    print(
        f"\n### Statement page: pages per statement (EXPLAIN ANALYZE BUFFERS, {EXPLAINED} untouched learners)\n"
    )
    print("| database | lines | shared hit | shared read | read time ms | execution ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, b in extra["buffers"].items():
        print(
            f"| {name} | {b['lines']:.1f} | {b['hit']:.1f} | {b['read']:.1f} | {b['io_ms']:.2f} | {b['ms']:.2f} |"
        )
    print("\n| plan node (its own pages) | small hit / read | large hit / read |")
    print("|---|---:|---:|")
    small_nodes, large_nodes = (extra["buffers"][n]["nodes"] for n in ("scale_small", "scale_large"))
    for key in sorted(set(small_nodes) | set(large_nodes), key=lambda k: -sum(large_nodes.get(k, (0, 0)))):
        a, b = small_nodes.get(key, (0, 0)), large_nodes.get(key, (0, 0))
        print(f"| {key} | {a[0]:.1f} / {a[1]:.1f} | {b[0]:.1f} / {b[1]:.1f} |")
    print(
        f"\nAudit: small database `creditbank audit` {extra['audit_small']}; large database chain check "
        f"{extra['chain_large']}."
    )


# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=1_000_000, help="learners of the large database")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies --learners (0.02 = 1/50)")
    parser.add_argument(
        "--per-learner", type=int, default=10, help="completions per learner (2 postings each)"
    )
    parser.add_argument(
        "--layout",
        choices=("time", "learner"),
        default="time",
        help="row order of a build: learners interleaved as their credits arrive over time, or each "
        "learner's rows together (the best case for a statement page, what CLUSTER would give)",
    )
    parser.add_argument("--small-learners", type=int, default=2_500, help="learners of the small database")
    parser.add_argument("--repeat", type=int, default=300, help="samples per fast operation")
    parser.add_argument(
        "--stats-repeat",
        type=int,
        default=3,
        help="samples per statistics query (after one warm-up); 0: none",
    )
    parser.add_argument("--dir", type=Path, default=Path("/work/tmp/scale"), help="where the cluster lives")
    parser.add_argument("--keep", action="store_true", help="keep the cluster's data (stopped) for --reuse")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="use the databases a --keep run left (no build; upgraded to the newest migration)",
    )
    parser.add_argument(
        "--round",
        type=int,
        default=0,
        help="with --reuse: 1, 2, … so that the timed posts and import go to institutions not used before",
    )
    parser.add_argument("--timeout", type=int, default=7200, help="give up after this many seconds (exit 3)")
    args = parser.parse_args()
    n_large = max(2_500, int(args.learners * args.scale))
    if args.small_learners < 2_100:
        parser.error("--small-learners must be ≥ 2 100 (the import uses 2 000 learners, the posts 20 more)")

    def timeout(_signum, _frame):
        raise TimeoutError(f"--timeout {args.timeout}s reached")

    signal.signal(signal.SIGALRM, timeout)
    signal.alarm(args.timeout)
    started, load_start = time.perf_counter(), os.getloadavg()[0]
    cluster = start(args.dir, args.reuse)
    log(f"cluster on port {cluster.port}, data in {cluster.datadir}")
    workdir = Path(tempfile.mkdtemp(prefix="scale-", dir=args.dir))
    worlds: list[World] = []
    code = 0
    try:
        built: dict[str, Built] = {}
        for name, n in (("scale_small", args.small_learners), ("scale_large", n_large)):
            if args.reuse and database_exists(cluster, name):
                from creditbank.migrations import upgrade

                t0 = time.perf_counter()
                upgrade(cluster.url(name))  # a migration newer than the kept database: its tables appear
                built[name] = counted(cluster, name)
                log(
                    f"{name}: reusing {built[name].completions:,} completions (schema upgraded to head in "
                    f"{time.perf_counter() - t0:.1f}s)"
                )
                continue
            built[name] = build(cluster, name, n, args.per_learner, seed=11, layout=args.layout)
        load_build = os.getloadavg()[0]
        size = {name: sizes(cluster, name) for name in built}
        checkpoint: dict[str, float] = {}
        results: dict[str, dict] = {}
        tails: dict[str, int] = {}
        buffers: dict[str, dict] = {}
        for name in built:
            world = make_world(cluster, name, built[name].learners, workdir)
            worlds.append(world)
            checkpoint[name] = world.checkpoint_seconds
            log(f"{name}: certificates issued; first checkpoint {world.checkpoint_seconds:.1f}s")
        for world in worlds:
            with world.db.reader() as session:  # type: ignore[attr-defined]
                from sqlalchemy import text

                tails[world.name] = session.execute(text("SELECT seq FROM ledger_head")).scalar_one() + 1
            csv_path = workdir / f"import-{world.name}.csv"
            # Learners of the import and of the posts: the same positions in both databases' pick lists.
            import_file(csv_path, world.account_nos[100:2100])
            buffers[world.name] = statement_buffers(world)
            log(f"{world.name}: statement EXPLAINed for {EXPLAINED} untouched learners; timing …")
            results[world.name] = measure(
                world, args.repeat, args.stats_repeat, world.account_nos[60:70], csv_path, args.round
            )
        audit_small = audit_all(cluster.url("scale_small"))
        log(f"audit of the small database: {audit_small}")
        chain_large = check_chain(cluster.url("scale_large"), 10_000, tails["scale_large"])
        log(f"chain check of the large database: {chain_large}")
        report(
            built,
            size,
            results,
            {
                "load_start": load_start,
                "load_build": load_build,
                "wall": time.perf_counter() - started,
                "checkpoint": checkpoint,
                "audit_small": audit_small,
                "chain_large": chain_large,
                "buffers": buffers,
            },
        )
        if "FAILED" in audit_small or "FAILED" in chain_large:
            code = 2
    except TimeoutError as exc:
        log(str(exc))
        code = 3
    finally:
        signal.alarm(0)
        for world in worlds:
            world.db.dispose()  # type: ignore[attr-defined]
        cluster.stop(remove=not args.keep)
        shutil.rmtree(workdir, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
