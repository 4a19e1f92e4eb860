"""``creditbank audit`` finds a course held twice: a learner credited for one course (an institution's
outcome, any version) by its own completion and by a conversion into it.

The live code never writes that (a completion of a course held through a conversion is refused
``outcome_held_by_conversion``, a conversion into a course held is refused ``conversion_target_held``,
a completion ends a waiting request: ``superseded``), so the forgeries below hide one record from the
live check while the other is written — what a database edited by hand, or a race the guards missed,
leaves behind (a race between a staged import and an approval did, before 91fe6b0, and the audit
passed). Every other check still passes on such a ledger: the chain, the log and the balances are
those the service wrote. A legitimate history with the same course in it twice — the earlier record
ended — is not reported. Raw SQL, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import select, update

from creditbank.audit import audit
from creditbank.conversion.models import Conversion
from creditbank.ledger.models import Lot
from tests.conftest import OPERATOR, completion_body
from tests.conversion.test_conversion import approved, post, world

__all__ = ["world"]  # the fixture, shared with test_conversion.py


def _convert(client, world, *, approve: bool = True) -> str:
    """The learner asks AGRI-3 (3 community credits) for CQOUYC's OU-AGRI; approved unless told."""
    approved(client, world["ou"])
    for i in range(2):
        post(client, world, f"HC-AGRI-{i}")
    r = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"])
    assert r.status_code == 201, r.text
    if approve:
        _decide(client, world, r.json()["id"])
    return r.json()["id"]


def _decide(client, world, conversion_id: str) -> None:
    r = client.post(
        f"/api/v1/conversions/{conversion_id}/decide", json={"decision": "approve"}, headers=world["ou"]
    )
    assert r.status_code == 200 and r.json()["state"] == "approved", r.text


def _post_ou_agri(client, world, external_id: str = "OU-AGRI-1"):
    return client.post(
        "/api/v1/completions",
        json=completion_body(world["person"]["account_no"], "OU-AGRI", external_id=external_id),
        headers=world["ou"],
    )


def _audit(db):
    with db.reader() as session:
        return audit(session)


def _twice(report) -> list[str]:
    return [p for p in report.problems if "CQOUYC:OU-AGRI" in p]


class TestForged:
    def test_a_completion_written_beside_an_approved_conversion_is_named(self, client, world, db):
        cid = _convert(client, world)
        refused = _post_ou_agri(client, world)
        assert refused.status_code == 409 and refused.json()["code"] == "outcome_held_by_conversion"
        # The conversion hidden from the completion's check while the school posts the course.
        with db.engine.begin() as connection:
            connection.execute(update(Conversion).where(Conversion.id == cid).values(state="rejected"))
        posted = _post_ou_agri(client, world)
        assert posted.status_code == 201, posted.text
        with db.engine.begin() as connection:
            connection.execute(update(Conversion).where(Conversion.id == cid).values(state="approved"))

        report = _audit(db)
        assert _twice(report) == report.problems, report.problems  # nothing else is wrong
        (finding,) = report.problems
        completion = posted.json()["id"]
        account_no = world["person"]["account_no"]
        # Chinese first, then English; the learner by account number, the course, both records in
        # the order they were written (the conversion first: the completion broke the rule).
        zh, en = finding.split(" — ", 1)
        assert f"学习者 {account_no}" in zh and "课程 CQOUYC:OU-AGRI「现代农业技术基础」" in zh, finding
        assert f"学分转换 {cid}" in zh and f"完成记录 {completion}" in zh, finding
        assert zh.index(cid) < zh.index(completion), finding
        assert (
            f"learner {account_no}" in en and "course CQOUYC:OU-AGRI “Modern agricultural technology”" in en
        )
        assert f"conversion {cid}" in en and f"completion {completion}" in en, finding

    def test_a_conversion_approved_beside_a_completion_is_named(self, client, world, db):
        posted = _post_ou_agri(client, world)
        assert posted.status_code == 201, posted.text
        # The completion's lot hidden from the conversion's checks while it is asked for and approved.
        with db.engine.begin() as connection:
            connection.execute(
                update(Lot).where(Lot.completion_id == posted.json()["id"]).values(state="reversed")
            )
        cid = _convert(client, world)
        with db.engine.begin() as connection:
            connection.execute(
                update(Lot).where(Lot.completion_id == posted.json()["id"]).values(state="active")
            )

        report = _audit(db)
        assert _twice(report) == report.problems and len(report.problems) == 1, report.problems
        finding = report.problems[0]
        assert posted.json()["id"] in finding and cid in finding, finding
        assert finding.index(posted.json()["id"]) < finding.index(cid), finding  # the completion first

    def test_the_command_line_exits_1_with_the_finding(self, client, world, db, settings, monkeypatch):
        from typer.testing import CliRunner

        from creditbank.cli import app
        from creditbank.config import get_settings

        cid = _convert(client, world)
        with db.engine.begin() as connection:
            connection.execute(update(Conversion).where(Conversion.id == cid).values(state="rejected"))
        assert _post_ou_agri(client, world).status_code == 201
        with db.engine.begin() as connection:
            connection.execute(update(Conversion).where(Conversion.id == cid).values(state="approved"))
        monkeypatch.setenv("CREDITBANK_DATABASE_URL", settings.database_url)
        monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(settings.keys_dir))
        monkeypatch.setenv("CREDITBANK_SECRET", "test-secret")  # the one the test app enrolled with
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(app, ["audit"])
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 1, result.output
        printed = " ".join(result.output.split())
        assert "CQOUYC:OU-AGRI" in printed and "两次" in printed and "twice" in printed, printed


class TestLegitimateHistories:
    """The same course appears twice in the learner's history, but only one record holds it."""

    def test_a_request_superseded_by_a_later_completion(self, client, world, db):
        cid = _convert(client, world, approve=False)
        assert _post_ou_agri(client, world).status_code == 201
        with db.reader() as session:
            assert session.get(Conversion, cid).state == "superseded"
        report = _audit(db)
        assert report.ok, report.problems

    def test_a_revoked_completion_followed_by_a_conversion(self, client, world, db):
        posted = _post_ou_agri(client, world)
        assert posted.status_code == 201, posted.text
        revoked = client.post(
            f"/api/v1/completions/{posted.json()['id']}/revoke",
            json={"reason": "登记错误"},
            headers=world["ou"],
        )
        assert revoked.status_code == 200, revoked.text
        _convert(client, world)
        report = _audit(db)
        assert report.ok, report.problems

    def test_a_withdrawn_request_followed_by_a_completion(self, client, world, db):
        cid = _convert(client, world, approve=False)
        r = client.post(f"/api/v1/me/conversions/{cid}/withdraw", headers=world["me"])
        assert r.status_code == 200 and r.json()["state"] == "withdrawn", r.text
        assert _post_ou_agri(client, world).status_code == 201
        report = _audit(db)
        assert report.ok, report.problems

    def test_a_conversion_reversed_by_a_forced_revocation_followed_by_a_completion(self, client, world, db):
        cid = _convert(client, world)
        with db.reader() as session:
            source = (
                session.execute(
                    select(Lot.completion_id).where(Lot.completion_id.is_not(None), Lot.consumed_units > 0)
                )
                .scalars()
                .first()
            )
        forced = client.post(
            f"/api/v1/completions/{source}/revoke",
            json={"reason": "登记错误", "force": True},
            headers=OPERATOR,
        )
        assert forced.status_code == 200, forced.text
        with db.reader() as session:
            assert session.get(Conversion, cid).state == "reversed"
        assert _post_ou_agri(client, world).status_code == 201
        report = _audit(db)
        assert report.ok, report.problems
