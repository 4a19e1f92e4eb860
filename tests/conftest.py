"""Fixtures: the same tests on SQLite and on a real, throwaway PostgreSQL cluster.

Schemas are built by running the alembic migrations (never ``create_all``), once per backend
into a template; each test gets its own copy (a file copy on SQLite, ``CREATE DATABASE …
TEMPLATE`` on PostgreSQL), so tests can commit for real — concurrency tests need that.
"""

from __future__ import annotations

import itertools
import os
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from creditbank.app import create_app
from creditbank.certificates.printing import Printer
from creditbank.config import Settings
from creditbank.db import Database
from creditbank.kit import idcard
from creditbank.migrations import upgrade
from tests import pgcluster

ADMIN = "cbo_test-operator-token"
OPERATOR = {"Authorization": f"Bearer {ADMIN}"}
_counter = itertools.count(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with browser tests first (the longest files): run in worker processes
    (scripts/test.sh), whole files are handed out in this order, and a long file handed out last
    would keep one worker busy while the other has finished."""
    browser_files = {item.path for item in items if "browser" in getattr(item, "fixturenames", ())}
    items.sort(key=lambda item: item.path not in browser_files)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pgcluster.Cluster | None]:
    if pgcluster.find_bindir() is None:
        message = (
            "PostgreSQL server binaries not found (initdb/pg_ctl): the PostgreSQL half of the suite is "
            "SKIPPED. Run scripts/setup-system.sh to install them."
        )
        if os.environ.get("CI"):
            pytest.fail(message + " CI must run it.")
        warnings.warn(message, stacklevel=1)
        yield None
        return
    cluster = pgcluster.start_cluster()
    cluster.admin_execute("CREATE DATABASE creditbank_template")
    upgrade(cluster.url("creditbank_template"))
    yield cluster
    cluster.stop(remove=True)


def _fresh_database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        path = tmp_path / "creditbank.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    cluster = request.getfixturevalue("pg_cluster")
    if cluster is None:
        pytest.skip("PostgreSQL binaries absent — see the warning above")
    name = f"t{os.getpid()}_{next(_counter)}"
    cluster.admin_execute(f"CREATE DATABASE {name} TEMPLATE creditbank_template")
    return cluster.url(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _fresh_database(request.param, request, tmp_path)


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """For tests about SQLite-only behaviour or too slow to double."""
    return _fresh_database("sqlite", request, tmp_path)


def _settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        keys_dir=tmp_path / "keys",
        admin_token=ADMIN,
        secret="test-secret",
        rate_limit_file=tmp_path / "ratelimit",
        # The figures are computed for every request whatever the machine's load: a test's statistics
        # never turn into kept ones because one computation was slow (tests/stats/test_snapshots.py
        # sets 0 to test those).
        stats_live_seconds=60.0,
    )


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return _settings(db_url, tmp_path)


@pytest.fixture
def sqlite_settings(sqlite_url: str, tmp_path: Path) -> Settings:
    """``settings`` on SQLite only (with ``sqlite_url``)."""
    return _settings(sqlite_url, tmp_path)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url)
    yield database
    database.dispose()


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db)) as test_client:
        yield test_client


class _SharedPrinter(Printer):
    """A printer many apps use in turn (``shared_printers``): an app's shutdown leaves it open."""

    def close(self) -> None:
        pass


@pytest.fixture(scope="session")
def shared_printers() -> Iterator[dict[str, Printer]]:
    """One printer per base URL for the whole run, closed at its end (WeasyPrint's temporary copies
    of the fonts go with it)."""
    printers: dict[str, Printer] = {}
    yield printers
    for printer in printers.values():
        Printer.close(printer)


def share_printers(monkeypatch: pytest.MonkeyPatch, printers: dict[str, Printer]) -> None:
    """Apps created from now on take their printer from ``printers``: each app would otherwise
    start its own WeasyPrint renderer on its first PDF, loading the CJK font (about a second)."""
    from creditbank import app

    def printer(base_url: str, font_cache_dir: Path | None = None) -> Printer:
        return printers.setdefault(base_url, _SharedPrinter(base_url, font_cache_dir))

    monkeypatch.setattr(app, "Printer", printer)


# -- factories: plain functions over the public API ----------------------------------------------

_ids = itertools.count(1)


def national_id(born: date = date(1958, 5, 17), region: str = "500118", gender: str | None = None) -> str:
    """A valid, never-real ID number (the sequence part is ours; odd for a man, even for a woman)."""
    count = next(_ids)
    sequence = count % 1000 if gender is None else max(2 * count % 1000, 2) + (gender == "male")
    return idcard.make(region, born, sequence)


def institution(
    client: TestClient, code: str = "YCCEC", name_zh: str = "永川区社区教育学院", accredit: bool = True
) -> dict[str, str]:
    """Create (and accredit) an institution; returns headers carrying a fresh API key."""
    response = client.post("/api/v1/institutions", json={"code": code, "name_zh": name_zh}, headers=OPERATOR)
    assert response.status_code in (200, 201), response.text
    if accredit:
        assert client.post(f"/api/v1/institutions/{code}/accredit", headers=OPERATOR).status_code == 200
    key = client.post(f"/api/v1/institutions/{code}/api-keys", json={}, headers=OPERATOR).json()["key"]
    return {"Authorization": f"Bearer {key}"}


def outcome(client: TestClient, headers: dict[str, str], code: str = "YC-ELEC", **fields: object) -> dict:
    body = {
        "title_zh": "居民用电安全",
        "title_en": "Household electrical safety",
        "category": "community",
        "level": 2,
        "credits": 1.5,
    } | fields
    response = client.put(f"/api/v1/catalogue/{code}", json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def learner(client: TestClient, headers: dict[str, str], name: str = "张桂兰", **fields: object) -> dict:
    body = {"name": name, "national_id": national_id()} | fields
    response = client.post("/api/v1/learners", json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json() | {"national_id": body["national_id"]}


def signed_in(client: TestClient, person: dict, password: str = "竹林深处2026") -> dict[str, str]:
    """The learner ``person`` (as ``learner`` returns it) activates their account: their bearer header."""
    response = client.post(
        "/api/v1/auth/activate",
        json={
            "account_no": person["account_no"],
            "activation_code": person["activation_code"],
            "password": password,
        },
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def completion_body(
    account_no: str, outcome_code: str = "YC-ELEC", external_id: str | None = None, **fields: object
) -> dict:
    return {
        "external_id": external_id or f"ext-{next(_ids)}",
        "account_no": account_no,
        "outcome_code": outcome_code,
        "completed_on": "2026-03-01",
    } | fields


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium (Debian's, via executable_path) for every browser test of the session."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, FLAGS, need_chromium

    need_chromium()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest-xdist's workers export COLUMNS=80 before creditbank.cli is imported, which fixes the
    command line's console at 80 columns whatever a test's CliRunner env says; the CLI tests read
    whole lines and table rows (a real terminal or a cron mail gets its own width)."""
    from creditbank.cli import console

    monkeypatch.setattr(console, "width", 300)


@contextmanager
def counting(db: Database) -> Iterator[list[str]]:
    """The SQL statements ``db`` runs inside the block (SQLite's BEGIN aside), on either engine: a
    test's own thread reads through ``db.loop_engine`` when an event loop is left running on it
    (a pytest-xdist worker that ran a Playwright test first), through ``db.engine`` otherwise."""
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if not statement.startswith("BEGIN"):
            statements.append(statement)

    engines = {id(e): e for e in (db.engine, db.loop_engine)}.values()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)
