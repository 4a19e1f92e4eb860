"""PostgreSQL stopped under a running app: every route answers 503 ``database_unavailable`` (a page
for a browser), ``/healthz`` says the database is down, and the bank recovers the moment PostgreSQL
is back. A cluster of its own: stopping the suite's shared one would fail everybody's tests."""

from __future__ import annotations

import concurrent.futures
import logging
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from creditbank import db as db_module
from creditbank.app import create_app
from creditbank.db import Database, connection_failed
from creditbank.migrations import upgrade
from tests import pgcluster
from tests.conftest import _settings, institution, learner

pytestmark = pytest.mark.postgres
R = TypeVar("R")


@pytest.fixture(scope="module")
def cluster() -> Iterator[pgcluster.Cluster]:
    if pgcluster.find_bindir() is None:
        pytest.skip("PostgreSQL binaries absent")
    own = pgcluster.start_cluster()
    own.admin_execute("CREATE DATABASE bank")
    upgrade(own.url("bank"))
    yield own
    own.stop(remove=True)


def _pg_ctl(cluster: pgcluster.Cluster, *args: str) -> None:
    res = pgcluster._run(
        [str(cluster._bindir / "pg_ctl"), "-D", str(cluster.datadir), "-w", "-t", "60", *args],
        cwd=cluster.datadir.parent,
        timeout=90,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def _stop(cluster: pgcluster.Cluster) -> None:
    _pg_ctl(cluster, "-m", "fast", "stop")


def _start(cluster: pgcluster.Cluster) -> None:
    opts = (
        f"-p {cluster.port} -k {cluster.datadir} -c listen_addresses={cluster.host} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    _pg_ctl(cluster, "-o", opts, "-l", str(cluster.log_path), "start")


@pytest.fixture
def app_client(cluster: pgcluster.Cluster, tmp_path) -> Iterator[TestClient]:
    settings = _settings(cluster.url("bank"), tmp_path)
    db = Database(settings.database_url)
    # As uvicorn does: an exception no handler answers becomes a 500, it is not raised into the test.
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as client:
        yield client
    db.dispose()


def test_with_postgresql_stopped_every_route_answers_503_and_the_bank_recovers_when_it_is_back(
    cluster: pgcluster.Cluster, app_client: TestClient, caplog: pytest.LogCaptureFixture
):
    client = app_client
    school = institution(client, code="OUTAGE1")
    person = learner(client, school)
    balance = f"/api/v1/learners/{person['account_no']}/balance"
    assert client.get(balance, headers=school).status_code == 200

    _stop(cluster)
    try:
        caplog.clear()
        answer = client.get(balance, headers=school)
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert int(answer.headers["Retry-After"]) > 0
        problem = answer.json()
        assert problem["code"] == "database_unavailable"
        assert "一分钟后再试" in problem["title"]
        assert "try again in a minute" in problem["detail"]
        english = client.get(balance, headers=school | {"Accept-Language": "en"}).json()
        assert "briefly unavailable" in english["title"]

        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["status"] == "down"
        assert health.json()["checks"]["database"]["ok"] is False
        assert health.json()["checks"]["database"]["detail"]

        verify = client.get("/api/v1/verify/cert_doesnotmatter")
        assert (verify.status_code, verify.json()["code"]) == (503, "database_unavailable")

        page = client.get("/v/cert_doesnotmatter", headers={"Accept": "text/html"})
        assert page.status_code == 503
        assert page.headers["content-type"].startswith("text/html")
        assert "服务暂时无法使用" in page.text and "一分钟后再试" in page.text
        assert "Retry-After" in page.headers
        client.cookies.set("cb_session", "cbs_someone")  # a signed-in learner: nobody is looked up
        signed_in_page = client.get("/me", headers={"Accept": "text/html"})
        client.cookies.clear()
        assert signed_in_page.status_code == 503, signed_in_page.text[:300]

        # One line per request, no traceback: an outage must not bury the log.
        outage_lines = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert outage_lines
        assert all(r.exc_info is None for r in outage_lines), [r.getMessage() for r in outage_lines]
        assert all("database unavailable" in r.getMessage() for r in outage_lines)
    finally:
        _start(cluster)

    assert client.get("/healthz").status_code == 200
    assert client.get("/healthz").json()["checks"]["database"] == {"ok": True}
    assert client.get(balance, headers=school).status_code == 200


def _server_processes(cluster: pgcluster.Cluster) -> list[int]:
    """The postmaster and every process it started (backends, checkpointer, …)."""
    postmaster = int((cluster.datadir / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            children.append(int(stat.parent.name))
    return [postmaster, *children]


def _within(seconds: float, call: Callable[[], R]) -> R:
    """``call()``, or a failure if it is still waiting after ``seconds`` (a hang, not a slow answer)."""
    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(call)
    try:
        return future.result(timeout=seconds)
    except concurrent.futures.TimeoutError:
        pytest.fail(f"still waiting after {seconds} s: the request hangs")
    finally:
        pool.shutdown(wait=False)  # a hung call ends once the server is resumed


def test_a_postgresql_that_stopped_answering_costs_a_503_not_a_request_that_never_ends(
    cluster: pgcluster.Cluster, app_client: TestClient, monkeypatch: pytest.MonkeyPatch
):
    """SIGSTOP: the server's kernel still acknowledges every packet, so only the bank's own limits
    (the ping's and connect_timeout) can end the wait."""
    client = app_client
    school = institution(client, code="OUTAGE2")
    person = learner(client, school)
    balance = f"/api/v1/learners/{person['account_no']}/balance"
    assert client.get(balance, headers=school).status_code == 200
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE", 0.0)  # as after a rest: every checkout pings

    frozen = _server_processes(cluster)
    try:
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        answer = _within(60, lambda: client.get(balance, headers=school))
        assert (answer.status_code, answer.json()["code"]) == (503, "database_unavailable")
        health = _within(60, lambda: client.get("/healthz"))
        assert health.status_code == 503 and health.json()["checks"]["database"]["ok"] is False
        page = _within(60, lambda: client.get("/v/cert_x", headers={"Accept": "text/html"}))
        assert page.status_code == 503 and "服务暂时无法使用" in page.text
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)

    assert client.get(balance, headers=school).status_code == 200
    assert client.get("/healthz").status_code == 200


def test_a_statement_in_flight_when_postgresql_stopped_answering_ends_as_a_lost_connection(
    cluster: pgcluster.Cluster, monkeypatch: pytest.MonkeyPatch
):
    """The statement was sent (and acknowledged by the server's kernel) before the freeze: no ping
    and no connect_timeout bounds it — the watchdog does, once a new connection gets no answer."""
    monkeypatch.setattr(db_module, "STALL_SECONDS", 0.0)  # stalled from its second look on
    monkeypatch.setattr(db_module, "WATCH_EVERY", 0.2)
    db = Database(cluster.url("bank"))
    admin = psycopg.connect(cluster.dsn(), autocommit=True)

    def read() -> BaseException | None:
        try:
            with db.reader() as session:
                session.execute(text("SELECT pg_sleep(60)"))
        except Exception as exc:
            return exc
        return None

    frozen: list[int] = []
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            reading = pool.submit(read)
            while admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'"
            ).fetchone() != (1,):
                assert not reading.done(), reading.result()
            frozen = _server_processes(cluster)
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)
            error = _within(60, reading.result)
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
            admin.close()
    assert error is not None and connection_failed(error), error  # answered 503 database_unavailable
    with db.reader() as session:
        assert session.execute(text("SELECT 1")).scalar_one() == 1
    db.dispose()
