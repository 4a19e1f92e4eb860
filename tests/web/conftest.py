"""Browser fixtures: a live server on 127.0.0.1 and Debian's Chromium driven by Playwright.

- ``browser`` (tests/conftest.py): one Chromium for the whole test session (``/usr/bin/chromium``
  via ``executable_path``; Playwright cannot download browsers here), reused by every test.
- ``live``: the app on a free port of 127.0.0.1, on the test's own SQLite database, with a TestClient
  on the same app for set-up through the API. Browser tests check what the browser shows (journeys,
  axe, layout, CSP); what the database does behind a page is checked on both databases by the page
  tests through the TestClient (``client``) and by the API and domain tests — so a browser test runs
  on SQLite only (``live_sqlite`` is the same fixture under its older name).
- ``live_any_db``: the same on SQLite and on PostgreSQL, for the one browser journey kept on both
  (tests/web/test_journeys.py) as a smoke test of a real browser against a PostgreSQL bank.
- ``phone(browser)`` / ``desktop(browser)``: a fresh context (no cookies) at 390 × 844 or 1280 × 900.
- ``check(page, name)``: axe-core (tests/web/node_modules, installed by scripts/setup-web-tests.sh)
  finds no serious or critical violation (nor a page without h1 or two landmarks of one name),
  nothing scrolls sideways, no CSP violation was reported, and a screenshot is saved as ``build/screenshots/<name>-<lang>-<size>.png``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from creditbank.app import create_app
from creditbank.config import Settings
from creditbank.db import Database
from tests.browser import free_port, need_chromium
from tests.conftest import ADMIN

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
AXE = ROOT / "tests" / "web" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, at the smallest cost (as tests/api does): the journeys activate and sign in."""
    from argon2 import PasswordHasher

    from creditbank.learners import service
    from creditbank.staff import service as staff_service

    monkeypatch.setattr(service, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    monkeypatch.setattr(staff_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture(autouse=True)
def _own_staff_sign_in_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every TestClient call comes from "testclient": each test gets a fresh staff sign-in window."""
    from creditbank.kit.ratelimit import RateLimiter
    from creditbank.web import accounts

    limit = accounts._sign_in_limit
    monkeypatch.setattr(accounts, "_sign_in_limit", RateLimiter(limit.limit, limit.window))


@dataclass
class Live:
    base: str
    client: TestClient
    app: object


def serve(database_url: str, tmp_path: Path) -> Iterator[Live]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=database_url,
        keys_dir=tmp_path / "keys",
        admin_token=ADMIN,
        secret="s",
        base_url=base,
        stats_live_seconds=60.0,  # figures for every request, however loaded the machine (tests/conftest.py)
    )
    db = Database(database_url)
    app = create_app(settings, db)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield Live(base, TestClient(app), app)
    server.should_exit = True
    thread.join(timeout=10)
    db.dispose()


@pytest.fixture
def live(sqlite_url: str, tmp_path: Path) -> Iterator[Live]:
    need_chromium()
    yield from serve(sqlite_url, tmp_path)


@pytest.fixture
def live_sqlite(live: Live) -> Live:
    return live


@pytest.fixture
def live_any_db(db_url: str, tmp_path: Path) -> Iterator[Live]:
    need_chromium()
    yield from serve(db_url, tmp_path)


def _context(browser, viewport: dict, base: str, lang: str):
    context = browser.new_context(
        viewport=viewport, locale="zh-CN" if lang == "zh" else "en-US", base_url=base
    )
    if lang == "en":
        host = base.split("//", 1)[1].split(":")[0]
        context.add_cookies([{"name": "cb_lang", "value": "en", "domain": host, "path": "/"}])
    context.csp_violations = []  # type: ignore[attr-defined]
    return context


def new_page(browser, base: str, size: str = "phone", lang: str = "zh"):
    """A page in a fresh context (signed out, no cookies but the language)."""
    context = _context(browser, PHONE if size == "phone" else DESKTOP, base, lang)
    page = context.new_page()
    page.size = size  # type: ignore[attr-defined]
    page.lang = lang  # type: ignore[attr-defined]

    def on_console(message):
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            context.csp_violations.append(message.text)  # type: ignore[attr-defined]

    page.on("console", on_console)
    return page


MUST_PASS = {"page-has-heading-one", "landmark-unique"}
"""Moderate rules a reader of a screen reader notices at once: a page without a heading to jump to
(the stopped share link had none), two regions of one page with the same name (the dashboard's)."""


def axe_violations(page) -> list[dict]:
    """axe-core's WCAG 2.x A/AA rules (and best practice): serious and critical, and MUST_PASS.

    Evaluated through the DevTools protocol, which the page's CSP does not govern (an injected
    <script> would be blocked, rightly)."""
    if not AXE.is_file():
        pytest.fail("axe-core missing: run scripts/setup-web-tests.sh (scripts/test.sh does)")
    page.evaluate(AXE.read_text() + "\n;void 0")
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, {resultTypes: ['violations'],
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}});
          return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                         nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }"""
    )
    return [v for v in result if v["impact"] in ("serious", "critical") or v["id"] in MUST_PASS]


def sideways_overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def _report(name: str, violations: list[dict]) -> None:
    """One line per checked page in build/screenshots/axe.tsv: page, serious+critical count, rule ids."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with (SCREENSHOTS / "axe.tsv").open("a") as report:
        report.write(f"{name}\t{len(violations)}\t{','.join(v['id'] for v in violations)}\n")


def check(page, name: str) -> None:
    """Accessible, no sideways scroll at phone size, no CSP violation; screenshot saved."""
    page.wait_for_load_state("load")
    violations = axe_violations(page)
    _report(f"{name}-{page.lang}-{page.size}", violations)
    assert violations == [], f"{name}: {violations}"
    if page.size == "phone":
        assert sideways_overflow(page) <= 0, f"{name} scrolls sideways at phone size"
    assert page.context.csp_violations == [], page.context.csp_violations
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{page.lang}-{page.size}.png"), full_page=True)
