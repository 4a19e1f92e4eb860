"""Every pooled connection of the worker taken (slow requests, more at once than the pool holds):
a request that waits for one in vain answers 503 ``busy`` with a short Retry-After — the database
is fine, so it is never ``database_unavailable`` (30 s, "the database cannot be reached"), the
log says the worker is saturated and how full its pools are, and ``/healthz`` does not say down."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import TimeoutError as PoolTimeout

from creditbank import db as dbmodule
from creditbank.api import problems
from creditbank.app import create_app
from creditbank.db import Database
from tests.conftest import _settings, institution, learner


@pytest.fixture
def bank(db_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    # A checkout gives up at once instead of after 30 s; the pools are the ones a worker has.
    monkeypatch.setattr(dbmodule, "POOL_TIMEOUT", 0.1)
    kept, overflow, _ = dbmodule.LOOP_POOL
    monkeypatch.setattr(dbmodule, "LOOP_POOL", (kept, overflow, 0.1))
    settings = _settings(db_url, tmp_path)
    database = Database(settings.database_url)
    with TestClient(create_app(settings, database), raise_server_exceptions=False) as client:
        yield client
    database.dispose()


@pytest.fixture
def busy_log(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    monkeypatch.setattr(problems, "_busy_log", problems._Every())  # no line held back by another test
    caplog.set_level(logging.WARNING, logger="creditbank")
    return caplog


def _take_every_connection(engine: Engine) -> list[Connection]:
    """Check out connections until the pool has none left to give (the next checkout timed out)."""
    held = []
    while True:
        try:
            held.append(engine.connect())
        except PoolTimeout:
            return held


def _give_back(held: list[Connection]) -> None:
    for connection in held:
        connection.close()


def _database(client: TestClient) -> Database:
    return client.app.state.db  # type: ignore[attr-defined]


class TestEveryPooledConnectionTaken:
    def test_an_api_request_answers_busy_with_a_short_retry_after_not_database_unavailable(self, bank):
        school = institution(bank, code="BUSY1")
        person = learner(bank, school)
        balance = f"/api/v1/learners/{person['account_no']}/balance"
        held = _take_every_connection(_database(bank).engine)
        try:
            answer = bank.get(balance, headers=school)
            english = bank.get(balance, headers=school | {"Accept-Language": "en"})
        finally:
            _give_back(held)
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert problem["code"] == "busy"
        assert problem["type"].endswith("/problems/busy")
        assert "正忙" in problem["title"] and "数据库" not in problem["title"]
        assert 1 <= int(answer.headers["Retry-After"]) <= 5
        assert english.json()["title"] == "The server is busy; try again in a moment"
        # What the problem type's page tells whoever opens it: wait, and nothing is down.
        entry = bank.get(problem["type"], headers={"Accept": "application/json"}).json()
        assert (
            "数据库也正常" in entry["next_steps_zh"][0] and "不要为此重启数据库" in entry["next_steps_zh"][0]
        )
        assert "Do not restart the database" in entry["next_steps_en"][0]
        # The connections came back: the next request is served as usual.
        assert bank.get(balance, headers=school).status_code == 200

    def test_a_page_says_the_server_is_busy_not_that_the_database_is_down(self, bank):
        held = _take_every_connection(_database(bank).engine)
        try:
            bank.cookies.set("cb_session", "cbs_someone")  # a signed-in learner's page looks the session up
            page = bank.get("/", headers={"Accept": "text/html"})
            bank.cookies.clear()
        finally:
            _give_back(held)
        assert page.status_code == 503, page.text[:300]
        assert page.headers["content-type"].startswith("text/html")
        assert 'data-code="busy"' in page.text
        assert "服务器正忙，请稍等片刻再试" in page.text
        assert "服务暂时无法使用" not in page.text and "数据库" not in page.text
        assert 1 <= int(page.headers["Retry-After"]) <= 5

    def test_the_log_says_the_worker_is_saturated_with_the_pools_figures_once_for_a_burst(
        self, bank, busy_log, monkeypatch
    ):
        school = institution(bank, code="BUSY2")
        person = learner(bank, school)
        balance = f"/api/v1/learners/{person['account_no']}/balance"
        monkeypatch.setattr(problems, "BUSY_LOG_SECONDS", 3600.0)  # however slow this machine is
        held = _take_every_connection(_database(bank).engine)
        try:
            busy_log.clear()
            answers = [bank.get(balance, headers=school) for _ in range(3)]
        finally:
            _give_back(held)
        assert [a.json()["code"] for a in answers] == ["busy"] * 3
        lines = [r for r in busy_log.records if r.levelno >= logging.WARNING]
        assert len(lines) == 1, [r.getMessage() for r in lines]
        line = lines[0].getMessage()
        assert "server busy on GET /api/v1/learners/" in line
        assert "saturated" in line and "database unavailable" not in line
        assert f"checked out {len(held)}" in line
        assert "size " in line and "overflow " in line
        assert lines[0].exc_info is None

        # Once the quiet period is over, the next line counts the refusals it held back.
        monkeypatch.setattr(problems, "BUSY_LOG_SECONDS", 0.0)
        held = _take_every_connection(_database(bank).engine)
        try:
            busy_log.clear()
            bank.get(balance, headers=school)
        finally:
            _give_back(held)
        (line,) = [r.getMessage() for r in busy_log.records if r.levelno >= logging.WARNING]
        assert "2 more refused so since the last such line" in line

    def test_healthz_does_not_say_the_database_is_down_when_its_own_pool_is_full(self, bank):
        database = _database(bank)
        held = _take_every_connection(database.engine)
        if database.loop_engine is not database.engine:
            held += _take_every_connection(database.loop_engine)
        try:
            health = bank.get("/healthz")
        finally:
            _give_back(held)
        assert health.status_code == 200, health.text
        body = health.json()
        assert body["status"] == "degraded"
        assert body["checks"]["database"]["ok"] is True
        assert body["checks"]["database"]["busy"] is True
        assert "busy" not in bank.get("/healthz").json()["checks"]["database"]
