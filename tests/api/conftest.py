"""Fixtures for the route tests: cheaper, shared set-up that changes no answer a test looks at."""

from __future__ import annotations

import pytest

from tests.conftest import share_printers


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, at the smallest cost: each walk activates and signs in, and the library's
    recommended parameters (64 MiB, 3 passes) would take most of the run time
    of the matrix tests."""
    from argon2 import PasswordHasher

    from creditbank.learners import service

    monkeypatch.setattr(service, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture(autouse=True)
def _one_pdf_renderer_per_run(monkeypatch: pytest.MonkeyPatch, shared_printers: dict) -> None:
    """Each app builds its own WeasyPrint renderer on the first PDF asked for, loading the CJK font
    (about two seconds); every walk asks for one. Share one printer per base URL across the run —
    the PDFs are still really rendered."""
    share_printers(monkeypatch, shared_printers)


@pytest.fixture(autouse=True)
def _own_verify_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The verify routes share one in-process limiter (per client address, 120 a minute); every
    TestClient call comes from "testclient", so give each test here a fresh window of the same size
    instead of whatever the rest of the suite left in it."""
    from creditbank import httpio
    from creditbank.kit.ratelimit import RateLimiter

    limit = httpio.verify_limit
    monkeypatch.setattr(httpio, "verify_limit", RateLimiter(limit.limit, limit.window))
