"""The event loop never waits for the connection pool the thread-pool routes share.

Sync routes run on up to 40 threads; the pool has 30 connections on PostgreSQL (10 + 20 overflow),
15 on SQLite. When thread-pool work holds every one of them, a read on the event loop that checked
out from the same pool would wait for the pool timeout (30 s) with the loop — every request of the
worker, ``/healthz`` included — stopped. Here the test's own threads hold every connection of the
app's pool while an employer verifies certificates by id (one never asked before, one asked
before, one revoked), the monitor asks ``/healthz``, a learner downloads a PDF rendered before and a
browser asks for a page that does not exist: each is answered, correctly, before those connections
are given back. The pool's checkout timeout is cut to a few seconds so that an answer that waited
for it fails the test in seconds (a 500), not minutes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text
from sqlmodel import select

from creditbank import httpio
from creditbank.certificates import service as certificates
from creditbank.certificates.models import CertificateKind
from creditbank.db import Database
from creditbank.learners.models import Learner
from creditbank.verification.online import OffTheLoop
from creditbank.web import security
from tests.certificates.test_certificates import issue, world  # noqa: F401
from tests.conftest import OPERATOR

HELD_SECONDS = 120.0  # far longer than any answer below may take; the test releases them itself


@contextmanager
def every_connection_held(db: Database) -> Iterator[None]:
    """Check out every connection the shared pool can give, each on a thread of its own, and keep
    them until the block ends; asserts that none of the holders gave up before that."""
    pool = db.engine.pool
    capacity = pool.size() + pool._max_overflow  # type: ignore[attr-defined]  # QueuePool
    pool._timeout = 3.0  # type: ignore[attr-defined]  # an answer that waits for it: 500 in 3 s, not 30
    release = threading.Event()
    taken = threading.Semaphore(0)
    released_by_us: list[bool] = []

    def hold() -> None:
        with db.reader() as session:
            session.execute(text("SELECT 1"))
            taken.release()
            released_by_us.append(release.wait(HELD_SECONDS))

    holders = [threading.Thread(target=hold, daemon=True) for _ in range(capacity)]
    for holder in holders:
        holder.start()
    for _ in holders:
        assert taken.acquire(timeout=30), "could not take every connection of the pool"
    assert pool.checkedout() == capacity
    try:
        yield
        assert pool.checkedout() == capacity  # still every one of them held
    finally:
        release.set()
        for holder in holders:
            holder.join(timeout=30)
    assert released_by_us == [True] * capacity  # every answer came while they were held


@pytest.fixture(autouse=True)
def _no_verify_limit(monkeypatch):
    monkeypatch.setattr(httpio.verify_limit, "limit", 10**9)


def test_verify_healthz_and_a_kept_pdf_are_answered_while_threads_hold_every_pooled_connection(
    client,
    world,  # noqa: F811
):
    asked_before, revoked, never_asked = (issue(client, world, index=i % 2)["id"] for i in range(3))
    assert client.get(f"/api/v1/verify/{asked_before}").json()["verdict"] == "valid"
    assert client.get(f"/api/v1/verify/{revoked}").json()["verdict"] == "valid"
    response = client.post(
        f"/api/v1/certificates/{revoked}/revoke", json={"reason": "错误签发"}, headers=OPERATOR
    )
    assert response.status_code == 200, response.text
    pdf = client.get(f"/api/v1/certificates/{asked_before}.pdf")
    assert pdf.status_code == 200, pdf.text

    with every_connection_held(client.app.state.db):
        answers = {i: client.get(f"/api/v1/verify/{i}") for i in (asked_before, revoked, never_asked)}
        health = client.get("/healthz")
        again = client.get(f"/api/v1/certificates/{asked_before}.pdf")
        client.cookies.set(security.SESSION_COOKIE, "cbs_unknown")  # its lookup is a read
        lost = client.get("/no-such-page", headers={"Accept": "text/html"})

    assert {i: (r.status_code, r.json()["verdict"]) for i, r in answers.items()} == {
        asked_before: (200, "valid"),
        revoked: (200, "revoked"),
        never_asked: (200, "valid"),
    }
    assert health.status_code == 200, health.text
    assert health.json()["checks"]["database"] == {"ok": True}
    assert (again.status_code, again.content) == (200, pdf.content)
    assert lost.status_code == 404
    assert "text/html" in lost.headers["content-type"]


def test_a_certificate_no_checkpoint_covers_yet_is_verified_off_the_loop(client, world):  # noqa: F811
    # Issued as the learner's pages issue it: no log proof asked for, so no checkpoint signed. The
    # first verification signs one (a write, with its locks): never on the event loop.
    app = client.app
    with app.state.db.unit_of_work() as session:
        me = session.exec(select(Learner).where(Learner.account_no == world["person"]["account_no"])).one()
        fresh = certificates.issue(
            session,
            app.state.issuer,
            learner=me,
            kind=CertificateKind.achievement,
            completion_id=world["completions"][0]["id"],
            issued_by="test",
        ).id

    async def on_the_loop() -> None:
        app.state.verifier.by_id(fresh)

    raised: list[BaseException] = []

    def run() -> None:  # a thread of its own: this one may run Playwright's loop already
        try:
            asyncio.run(on_the_loop())
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert [type(exc) for exc in raised] == [OffTheLoop]
    answer = client.get(f"/api/v1/verify/{fresh}").json()
    assert answer["verdict"] == "valid"
    assert answer["checks"]["log_inclusion"]["ok"] is True
