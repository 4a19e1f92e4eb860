"""Verify by id answers a repeated question from the bytes of the last answer — and never an answer
that a revocation, a key's new status or a new log checkpoint has made stale (issue 14, goal 1).

In one process (these tests): a change this process commits shows at the next request. A change
made by another process (a second worker, the CLI) shows within ``verify_recheck_seconds``: here a
separate ``KeyStore`` writes the key file as ``creditbank keys compromised`` would, and the test
polls with the product's 1 s deadline. The real two-process case is
``test_revocation_across_workers.py``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from creditbank import httpio
from creditbank.certificates.keys import KeyStore
from creditbank.kit.ratelimit import RateLimiter
from tests.certificates.test_certificates import issue, world  # noqa: F401
from tests.conftest import OPERATOR

PROMISE_SECONDS = 1.0  # the product's promise: a change is honoured everywhere within 1 s


@pytest.fixture(autouse=True)
def _no_verify_limit(monkeypatch):
    """The tests ask the same certificate many times from one address."""
    monkeypatch.setattr(httpio.verify_limit, "limit", 10**9)


@pytest.fixture
def computed(client, monkeypatch) -> list[str]:
    """The certificate ids the route actually computed a verdict for (cache misses)."""
    verifier = client.app.state.verifier
    calls: list[str] = []
    original = verifier.by_id

    def counting(certificate_id: str):
        calls.append(certificate_id)
        return original(certificate_id)

    monkeypatch.setattr(verifier, "by_id", counting)
    return calls


def verdict(client, certificate_id: str) -> dict:
    response = client.get(f"/api/v1/verify/{certificate_id}")
    assert response.status_code == 200, response.text
    return response.json()


def poll(client, certificate_id: str, done) -> tuple[dict, float]:
    """Ask until ``done(verdict)``; the verdict and the seconds it took, failing past the promise."""
    started = time.monotonic()
    while True:
        answer = verdict(client, certificate_id)
        took = time.monotonic() - started
        if done(answer):
            return answer, took
        assert took < PROMISE_SECONDS, f"still {answer['verdict']} after {took:.2f} s: {answer['checks']}"
        time.sleep(0.02)


def test_a_repeated_verify_gets_the_same_bytes_and_headers_without_recomputing(client, world, computed):  # noqa: F811
    cert = issue(client, world)
    first = client.get(f"/api/v1/verify/{cert['id']}")
    again = [client.get(f"/api/v1/verify/{cert['id']}") for _ in range(3)]
    assert first.json()["verdict"] == "valid"
    for response in again:
        assert response.status_code == first.status_code
        assert response.content == first.content
        assert response.headers == first.headers  # security and CORS headers, no-store
    assert computed == [cert["id"]]


def test_a_question_the_route_refuses_is_never_kept(client, world, computed):  # noqa: F811
    for _ in range(2):
        assert client.get("/api/v1/verify/crt_does_not_exist").status_code == 404
    assert computed == ["crt_does_not_exist"] * 2


def test_the_per_address_limit_still_applies_to_repeated_answers(client, world, monkeypatch):  # noqa: F811
    cert = issue(client, world)
    limiter = RateLimiter(limit=3, window_seconds=60, name=f"verify-cache-test-{cert['id']}")
    monkeypatch.setattr(httpio, "verify_limit", limiter)
    codes = [client.get(f"/api/v1/verify/{cert['id']}").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_revoking_a_certificate_shows_at_the_next_request(client, world):  # noqa: F811
    cert = issue(client, world)
    assert verdict(client, cert["id"])["verdict"] == "valid"
    assert verdict(client, cert["id"])["verdict"] == "valid"  # now served from the cache
    response = client.post(
        f"/api/v1/certificates/{cert['id']}/revoke", json={"reason": "错误签发"}, headers=OPERATOR
    )
    assert response.status_code == 200, response.text
    answer = verdict(client, cert["id"])
    assert answer["verdict"] == "revoked"
    assert answer["certificate"]["revoke_reason"] == "错误签发"


def test_revoking_a_completion_shows_on_every_certificate_resting_on_it(client, world):  # noqa: F811
    achievement = issue(client, world)
    transcript = issue(client, world, "transcript")
    other = issue(client, world, index=1)
    ids = [achievement["id"], transcript["id"], other["id"]]
    for certificate_id in ids * 2:
        assert verdict(client, certificate_id)["verdict"] == "valid"
    completion_id = world["completions"][0]["id"]
    response = client.post(
        f"/api/v1/completions/{completion_id}/revoke", json={"reason": "录入错误"}, headers=world["inst"]
    )
    assert response.status_code == 200, response.text
    assert [verdict(client, i)["verdict"] for i in ids] == ["revoked", "revoked", "valid"]


def test_revoking_one_transcript_line_shows_on_the_transcript_and_the_line(client, world):  # noqa: F811
    transcript = issue(client, world, "transcript")
    line = f"{transcript['id']}-1"
    for certificate_id in (transcript["id"], line, f"{transcript['id']}-2") * 2:
        assert verdict(client, certificate_id)["verdict"] == "valid"
    response = client.post(f"/api/v1/certificates/{line}/revoke", json={"reason": "更正"}, headers=OPERATOR)
    assert response.status_code == 200, response.text
    states = [verdict(client, i)["verdict"] for i in (transcript["id"], line, f"{transcript['id']}-2")]
    assert states == ["revoked", "revoked", "valid"]


def test_rotating_the_key_shows_the_signing_key_as_retired_at_once(client, world):  # noqa: F811
    cert = issue(client, world)
    before = verdict(client, cert["id"])
    assert verdict(client, cert["id"]) == before
    assert client.post("/api/v1/keys/rotate", headers=OPERATOR).status_code == 200
    after = verdict(client, cert["id"])
    assert after["verdict"] == "valid"  # a retired key's signatures stay valid …
    assert "retired" in after["checks"]["issuer_key"]["detail_en"]  # … and the answer says so


def test_a_key_compromised_by_another_process_invalidates_within_the_promise(client, world, settings):  # noqa: F811
    cert = issue(client, world)
    assert verdict(client, cert["id"])["verdict"] == "valid"
    assert verdict(client, cert["id"])["verdict"] == "valid"
    issued = datetime.fromisoformat(cert["credential"]["validFrom"].replace("Z", "+00:00"))
    # What `creditbank keys compromised` does from another process: rewrite the key file.
    KeyStore(settings.keys_dir).mark_compromised(
        cert["credential"]["proof"][0]["verificationMethod"].split("#")[1], issued.astimezone(UTC)
    )
    answer, _ = poll(client, cert["id"], lambda v: v["verdict"] != "valid")
    assert answer["checks"]["issuer_key"]["ok"] is False
    assert answer["verdict"] == "invalid"


def test_a_new_log_checkpoint_refreshes_the_inclusion_check(client, world):  # noqa: F811
    cert = issue(client, world)
    first = verdict(client, cert["id"])["checks"]["log_inclusion"]
    assert first["ok"] is True
    issue(client, world, "transcript")  # the log grows …
    client.app.state.log.checkpoint()  # … and a new checkpoint is signed (as the schedule would)
    answer, _ = poll(client, cert["id"], lambda v: v["checks"]["log_inclusion"] != first)
    assert answer["checks"]["log_inclusion"]["ok"] is True


def test_answers_from_the_cache_are_counted_in_the_verification_statistics(client, world, computed):  # noqa: F811
    from sqlmodel import select

    from creditbank.verification.models import VerificationTally

    cert = issue(client, world)
    for _ in range(3):
        assert verdict(client, cert["id"])["verdict"] == "valid"
    assert computed == [cert["id"]]  # one computed, two from the cache …
    client.app.state.verifier.tally.flush()
    with client.app.state.db.reader() as session:
        rows = session.exec(
            select(VerificationTally).where(VerificationTally.certificate_id == cert["id"])
        ).all()
    assert sum(row.count for row in rows) == 3  # … all three counted
