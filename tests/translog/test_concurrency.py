"""20 concurrent writers on PostgreSQL — completions and certificates, with checkpoints signed meanwhile —
leave one log: every event in exactly one leaf, no index twice, no hole, every checkpoint consistent
with the tree the audit rebuilds."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from creditbank.app import create_app
from creditbank.audit import audit
from creditbank.config import Settings
from creditbank.db import Database
from tests.conftest import ADMIN, OPERATOR, _fresh_database, completion_body, institution, learner, outcome

WRITERS, PER_WRITER = 20, 4


@pytest.mark.postgres
def test_twenty_writers_leave_one_consistent_tree(request, tmp_path):
    url = _fresh_database("postgresql", request, tmp_path)
    settings = Settings(database_url=url, keys_dir=tmp_path / "keys", admin_token=ADMIN, secret="s")
    db = Database(url)
    with TestClient(create_app(settings, db)) as client:
        inst = institution(client)
        for n in range(PER_WRITER):
            outcome(client, inst, f"YC-{n}")
        people = [learner(client, inst, f"学员{i}") for i in range(WRITERS)]
        errors: list[str] = []
        start = threading.Barrier(WRITERS + 1)

        def writer(i: int) -> None:
            start.wait()
            for n in range(PER_WRITER):
                posted = client.post(
                    "/api/v1/completions",
                    json=completion_body(people[i]["account_no"], f"YC-{n}"),
                    headers=inst,
                )
                if posted.status_code != 201:
                    errors.append(posted.text)
                    continue
                if i % 2 == 0:  # half the writers also have a certificate issued for it
                    issued = client.post(
                        "/api/v1/certificates/batch",
                        json={
                            "items": [
                                {
                                    "account_no": people[i]["account_no"],
                                    "kind": "achievement",
                                    "completion_id": posted.json()["id"],
                                }
                            ]
                        },
                        headers=OPERATOR,
                    )
                    if issued.status_code != 201:
                        errors.append(issued.text)

        def checkpointer() -> None:
            start.wait()
            for _ in range(15):
                try:
                    client.app.state.log.checkpoint()
                except Exception as exc:
                    errors.append(repr(exc))

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
        threads.append(threading.Thread(target=checkpointer))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        client.app.state.log.checkpoint()
        verifiers = client.app.state.log.verifiers()
    with db.reader() as session:
        report = audit(session, log_verifiers=verifiers)
    assert report.ok, "\n".join(report.problems)
    events = PER_WRITER + WRITERS * PER_WRITER + (WRITERS // 2) * PER_WRITER  # the outcomes, then posts
    assert report.log_leaves == events
    db.dispose()
