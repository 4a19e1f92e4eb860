"""Throwaway PostgreSQL cluster for the test suite.

Usage::

    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found ...")
    cluster = start_cluster()
    cluster.admin_execute("CREATE DATABASE t1")
    engine = create_engine(cluster.url("t1"))
    ...
    cluster.stop()            # or cluster.stop(remove=True) to delete the temp dir

Binaries are looked up in ``$CREDITBANK_PG_BIN``, then the highest
``/usr/lib/postgresql/<ver>/bin``, then ``pg_config --bindir``.

``initdb`` refuses to run as root, so when we are root the server binaries run
as the ``postgres`` OS user via ``runuser`` and the data directory is chowned
to it.  The cluster uses trust auth, listens on 127.0.0.1 on a free port, keeps
its Unix socket in the data directory and has durability switched off (fsync,
synchronous_commit, full_page_writes) because the data is disposable.

``start_standby(primary)`` makes a streaming hot standby of a running cluster
(``pg_basebackup -R``: PostgreSQL 15's defaults — ``wal_level=replica``,
``max_wal_senders=10`` and initdb's ``replication`` lines in pg_hba.conf under
trust auth — are all it needs) and starts it on a port of its own.

An ``atexit`` hook stops (and, when we created it, removes) every cluster that
is still running when the interpreter exits.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Cluster", "find_bindir", "start_cluster", "start_standby"]

HOST = "127.0.0.1"
SUPERUSER = "postgres"
OS_USER = "postgres"
_REQUIRED = ("initdb", "pg_ctl", "postgres")
_UNIX_SOCKET_MAX = 100  # sun_path is 108 bytes; ".s.PGSQL.NNNNN" is appended


# --------------------------------------------------------------------------- #
# binaries
# --------------------------------------------------------------------------- #
def _has_binaries(d: Path) -> bool:
    return all(os.access(d / exe, os.X_OK) for exe in _REQUIRED)


def _version_key(p: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<ver>/bin -> numeric sort of <ver> ("15", "9.6")
    parts = re.findall(r"\d+", p.parent.name)
    return tuple(int(x) for x in parts) or (-1,)


def find_bindir() -> Path | None:
    """Directory holding initdb/pg_ctl/postgres, or None when not installed."""
    env = os.environ.get("CREDITBANK_PG_BIN")
    if env:
        d = Path(env).expanduser()
        # An explicit setting is authoritative: a bad value means "no binaries"
        # rather than silently picking some other installation.
        return d if _has_binaries(d) else None

    candidates = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if _has_binaries(p)),
        key=_version_key,
        reverse=True,
    )
    if candidates:
        return candidates[0]

    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=30, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out and _has_binaries(Path(out)):
            return Path(out)
    return None


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _as_pg_user(argv: list[str]) -> list[str]:
    """Prefix argv with runuser when we are root (initdb refuses to run as root)."""
    if not _is_root():
        return argv
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return [runuser, "-u", OS_USER, "--", *argv]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no server log at {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


def _run(argv: list[str], *, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.setdefault("LC_ALL", "C")
    return subprocess.run(
        _as_pg_user(argv),
        cwd=str(cwd),  # postgres must be able to reach the cwd (root's $HOME is 0700)
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _chown_pg(path: Path) -> None:
    import pwd

    pw = pwd.getpwnam(OS_USER)
    os.chown(path, pw.pw_uid, pw.pw_gid)


# --------------------------------------------------------------------------- #
# cluster
# --------------------------------------------------------------------------- #
_live: set[Cluster] = set()
_live_lock = threading.Lock()


@dataclass(frozen=True)
class Cluster:
    host: str
    port: int
    user: str
    datadir: Path
    # Internal bookkeeping (not part of equality / repr).
    _bindir: Path = field(default=Path("."), repr=False, compare=False)
    _tmpdir: Path | None = field(default=None, repr=False, compare=False)  # created by us
    _remove_at_exit: bool = field(default=False, repr=False, compare=False)
    _state: dict = field(default_factory=dict, repr=False, compare=False, hash=False)

    def __hash__(self) -> int:  # identity semantics for the live-cluster registry
        return id(self)

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        """libpq connection string (for plain psycopg)."""
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def admin_execute(self, sql: str) -> None:
        """Run SQL with autocommit on database "postgres" (e.g. CREATE DATABASE)."""
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    @property
    def log_path(self) -> Path:
        return self.datadir / "log"

    @property
    def running(self) -> bool:
        return not self._state.get("stopped", False)

    def stop(self, *, remove: bool = False) -> None:
        """Stop the server (fast shutdown).  Idempotent.

        With remove=True the temp directory created by start_cluster (the
        parent of datadir) is deleted afterwards.
        """
        with _live_lock:
            already = self._state.get("stopped", False)
            self._state["stopped"] = True
            _live.discard(self)
        if not already and (self.datadir / "postmaster.pid").exists():
            res = _run(
                [
                    str(self._bindir / "pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "60",
                    "stop",
                ],
                cwd=self.datadir.parent,
                timeout=90,
            )
            if res.returncode != 0 and (self.datadir / "postmaster.pid").exists():
                # last resort: immediate shutdown, so we never leak a postmaster
                _run(
                    [str(self._bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"],
                    cwd=self.datadir.parent,
                    timeout=60,
                )
        if remove:
            shutil.rmtree(self._tmpdir or self.datadir, ignore_errors=True)


def _cleanup_at_exit() -> None:
    with _live_lock:
        clusters = list(_live)
    for c in clusters:
        with contextlib.suppress(Exception):
            c.stop(remove=c._remove_at_exit)


atexit.register(_cleanup_at_exit)


def _wait_accepting(host: str, port: int, user: str, deadline: float) -> str | None:
    """Poll until a connection succeeds; return the last error or None."""
    import psycopg

    last = "timed out"
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(
                host=host, port=port, user=user, dbname="postgres", connect_timeout=5
            ) as conn:
                conn.execute("SELECT 1")
            return None
        except psycopg.OperationalError as exc:
            last = str(exc)
            time.sleep(0.05)
    return last


def start_cluster(base: Path | None = None, *, timeout: float = 60.0) -> Cluster:
    """initdb + start a fresh cluster on a free port; return once it accepts connections.

    The cluster lives in a new temp directory (created under ``base`` when
    given, else by ``tempfile.mkdtemp``) with the data directory at
    ``<tmp>/data``.  Raises RuntimeError (with the tail of the server log) on
    failure, after cleaning up.
    """
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(
            "PostgreSQL server binaries not found (set CREDITBANK_PG_BIN, install "
            "the 'postgresql' package, or put pg_config on PATH)"
        )
    root = _is_root()
    if root:
        try:
            import pwd

            pwd.getpwnam(OS_USER)
        except KeyError as exc:
            raise RuntimeError(
                f"running as root but there is no {OS_USER!r} OS user to run initdb as"
            ) from exc

    if base is not None:
        base = Path(base)
        base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="creditbank-pg-", dir=str(base) if base else None))
    # mkdtemp makes 0700 dirs; the postgres user must be able to traverse it.
    os.chmod(tmp, 0o755)
    datadir = tmp / "data"
    datadir.mkdir(mode=0o700)
    if root:
        _chown_pg(datadir)
    if len(str(datadir)) > _UNIX_SOCKET_MAX:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"temp dir path too long for a Unix socket: {datadir}")

    if root:
        probe = _run(["test", "-w", str(datadir)], cwd=tmp, timeout=30)
        if probe.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RuntimeError(
                f"the {OS_USER!r} OS user cannot reach {datadir}; every parent directory "
                f"must be traversable (o+x) by it — pick another base"
            )

    def fail(msg: str, detail: str = "") -> RuntimeError:
        log = _tail(datadir / "log")
        err = RuntimeError(f"{msg}\n{detail.strip()}\n--- server log tail ({datadir}/log) ---\n{log}")
        shutil.rmtree(tmp, ignore_errors=True)
        return err

    t0 = time.monotonic()
    try:
        res = _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-A",
                "trust",
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            cwd=tmp,
            timeout=timeout * 2,
        )
    except subprocess.TimeoutExpired as exc:
        raise fail("initdb timed out", str(exc)) from None
    if res.returncode != 0:
        hint = ""
        if root and "Permission denied" in (res.stderr + res.stdout):
            hint = f"\n(hint: every parent directory of {tmp} must be traversable by the {OS_USER!r} user)"
        raise fail(f"initdb failed (exit {res.returncode}){hint}", res.stdout + res.stderr)

    last_detail = ""
    for _attempt in range(3):  # retry on the (unlikely) free-port race
        port = _free_port()
        opts = (
            f"-p {port} -k {datadir} -c listen_addresses={HOST} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        deadline = time.monotonic() + timeout
        try:
            res = _run(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(datadir),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "-l",
                    str(datadir / "log"),
                    "start",
                ],
                cwd=tmp,
                timeout=timeout + 30,
            )
        except subprocess.TimeoutExpired as exc:
            res = None
            last_detail = str(exc)
        if res is not None and res.returncode == 0:
            cluster = Cluster(
                HOST, port, SUPERUSER, datadir, _bindir=bindir, _tmpdir=tmp, _remove_at_exit=base is None
            )
            with _live_lock:
                _live.add(cluster)
            err = _wait_accepting(HOST, port, SUPERUSER, deadline)
            if err is None:
                cluster._state["startup_seconds"] = time.monotonic() - t0
                return cluster
            cluster.stop()
            raise fail(f"server started but does not accept connections on {HOST}:{port}", err)
        if res is not None:
            last_detail = res.stdout + res.stderr
        # make sure nothing is left half-running before retrying
        if (datadir / "postmaster.pid").exists():
            _run(
                [str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w", "stop"],
                cwd=tmp,
                timeout=60,
            )
        if "Address already in use" not in _tail(datadir / "log", 20):
            break
    raise fail("pg_ctl start failed", last_detail)


def start_standby(primary: Cluster, *, timeout: float = 60.0) -> Cluster:
    """A streaming replica of ``primary``: ``pg_basebackup -R`` (a base backup that writes
    ``standby.signal`` and ``primary_conninfo``), started read-only (hot standby) on a free port.
    Returns once it accepts connections; stop it like any cluster. Raises RuntimeError on failure."""
    bindir = primary._bindir
    tmp = Path(tempfile.mkdtemp(prefix="creditbank-pg-standby-"))
    os.chmod(tmp, 0o755)
    datadir = tmp / "data"  # pg_basebackup creates it (mode 0700, owned by whoever runs it)
    if _is_root():
        _chown_pg(tmp)
    res = _run(
        [str(bindir / "pg_basebackup"), "-h", primary.host, "-p", str(primary.port), "-U", primary.user,
         "-D", str(datadir), "-R", "-X", "stream", "--no-sync", "-c", "fast"],
        cwd=tmp,
        timeout=timeout * 2,
    )  # fmt: skip
    if res.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"pg_basebackup failed (exit {res.returncode})\n{res.stdout}{res.stderr}")
    (datadir / "postmaster.pid").unlink(missing_ok=True)
    port = _free_port()
    opts = f"-p {port} -k {datadir} -c listen_addresses={HOST} -c hot_standby=on -c fsync=off"
    res = _run(
        [str(bindir / "pg_ctl"), "-D", str(datadir), "-o", opts, "-w", "-t", str(int(timeout)),
         "-l", str(datadir / "log"), "start"],
        cwd=tmp,
        timeout=timeout + 30,
    )  # fmt: skip
    standby = Cluster(HOST, port, primary.user, datadir, _bindir=bindir, _tmpdir=tmp, _remove_at_exit=True)
    with _live_lock:
        _live.add(standby)
    err = None if res.returncode == 0 else res.stdout + res.stderr
    err = err or _wait_accepting(HOST, port, primary.user, time.monotonic() + timeout)
    if err is not None:
        log = _tail(datadir / "log")
        standby.stop(remove=True)
        raise RuntimeError(f"the standby did not start: {err}\n--- server log tail ---\n{log}")
    return standby
