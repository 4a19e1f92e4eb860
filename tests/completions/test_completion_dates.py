"""A completion cannot predate its learner (completions.rules.check_completed_on): one post, the
rows of a batch (both modes), by account number or ID number — refused with
completed_on_before_birth, nothing written."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from creditbank.completions.models import Completion
from creditbank.ledger.models import LedgerTransaction
from tests.conftest import completion_body, institution, learner, national_id, outcome

HEADER = "external_id,account_no,national_id,outcome_code,completed_on"


def _count(db, model) -> int:
    with db.reader() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def _world(client):
    inst = institution(client)
    outcome(client, inst)
    outcome(client, inst, "YC-TEA", title_zh="茶艺入门", credits=1)
    number = national_id(born=date(1949, 10, 1))
    person = learner(client, inst, national_id=number)
    return inst, person, number


class TestSinglePost:
    def test_before_the_birth_year_is_refused_and_writes_nothing(self, client, db):
        inst, person, number = _world(client)
        for body in (
            completion_body(person["account_no"], completed_on="1800-01-01"),
            completion_body(person["account_no"], completed_on="1948-12-31"),
            completion_body(None, national_id=number, completed_on="1800-01-01") | {"account_no": None},
        ):
            r = client.post("/api/v1/completions", json=body, headers=inst)
            assert (r.status_code, r.json()["code"]) == (422, "completed_on_before_birth"), r.text
            assert "1949" in r.json()["title"] and "出生" in r.json()["title"]
        assert _count(db, Completion) == 0 and _count(db, LedgerTransaction) == 0

    def test_within_the_birth_year_and_after_is_accepted(self, client):
        inst, person, _ = _world(client)
        r = client.post(
            "/api/v1/completions",
            json=completion_body(person["account_no"], completed_on="1975-06-01"),
            headers=inst,
        )
        assert r.status_code == 201, r.text


class TestBatch:
    def _send(self, client, inst, rows, mode="all_or_nothing"):
        data = ("\n".join([HEADER, *rows]) + "\n").encode()
        return client.post(
            f"/api/v1/completions/batch?mode={mode}",
            content=data,
            headers=inst | {"Content-Type": "text/csv"},
        )

    def test_all_or_nothing_names_each_row(self, client, db):
        inst, person, number = _world(client)
        acct = person["account_no"]
        r = self._send(client, inst, [f"D1,{acct},,YC-ELEC,2026-01-05", f"D2,,{number},YC-TEA,1800-01-01"])
        assert r.status_code == 422 and r.json()["code"] == "batch_rejected"
        assert [(e["line"], e["code"], e["field"]) for e in r.json()["errors"]] == [
            (3, "completed_on_before_birth", "completed_on")
        ]
        assert _count(db, Completion) == 0

    def test_partial_writes_the_good_rows(self, client, db):
        inst, person, _ = _world(client)
        acct = person["account_no"]
        r = self._send(
            client, inst, [f"E1,{acct},,YC-ELEC,1800-01-01", f"E2,{acct},,YC-TEA,2026-01-05"], mode="partial"
        )
        assert r.status_code == 200, r.text
        assert (r.json()["accepted"], [e["code"] for e in r.json()["errors"]]) == (
            1,
            ["completed_on_before_birth"],
        )
        assert _count(db, Completion) == 1


class TestEnrolmentBirthDate:
    def test_an_impossible_birth_date_is_refused(self, client):
        inst = institution(client)
        for born in ("1800-01-01", "2999-01-01"):
            r = client.post(
                "/api/v1/learners",
                json={"name": "王秀英", "national_id": national_id(), "birth_date": born},
                headers=inst,
            )
            assert (r.status_code, r.json()["code"]) == (422, "invalid_value"), r.text
