"""A course posted while a conversion into it waits: the request ends, the credits come back, never twice.

A learner asks rule AGRI-3 for OU-AGRI (3 community credits locked, pending); meanwhile the open
university posts a real completion of OU-AGRI for the same learner — by hand, in a batch, or in a
staged import that is still running when the school approves the request. Before, the request stayed
pending with the credits locked until the school rejected it or 30 days passed (the approval was
refused with ``conversion_target_held``), and an approval between two chunks of the school's own
import gave the learner OU-AGRI twice (the conversion's lot and the imported completion). Now the
posting supersedes the request (state ``superseded``, credits released, the learner told), the
approval of a superseded request is 409 ``conversion_superseded``, one during the school's running
import of that course is 409 ``conversion_target_importing``, and an import row meeting a conversion
approved since the import began is refused row by row (``outcome_held_by_conversion``).
Both databases.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from creditbank.audit import audit
from creditbank.completions import imports
from creditbank.conversion.models import Conversion, ConversionLot
from creditbank.errors import CreditbankError
from creditbank.institutions.models import Institution
from creditbank.ledger.models import LedgerTransaction, Lot
from tests.conftest import completion_body, learner
from tests.conversion.test_conversion import _locked, _problem, _state, approved, balance, post, world

__all__ = ["world"]  # the fixture, shared with test_conversion.py


def _ask(client, world) -> str:
    approved(client, world["ou"])
    for i in range(2):
        post(client, world, f"HC-AGRI-{i}")
    r = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"])
    assert r.status_code == 201, r.text
    assert balance(client, world)["convertible"] == 0  # 3 held, 3 locked
    return r.json()["id"]


def _decide(client, world, cid: str, decision: str = "approve", **headers: str):
    body = {"decision": decision} | ({"reason": "材料不全"} if decision == "reject" else {})
    return client.post(f"/api/v1/conversions/{cid}/decide", json=body, headers=world["ou"] | headers)


def _conversion_transactions(db) -> int:
    with db.reader() as session:
        return session.execute(
            select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.kind == "conversion")
        ).scalar_one()


def _ou_agri_lots(db) -> int:
    """The learner's lots of OU-AGRI that count: one, or none — never two."""
    with db.reader() as session:
        from creditbank.catalogue.models import Outcome
        from creditbank.ledger.queries import lot_live

        return session.execute(
            select(func.count())
            .select_from(Lot)
            .join(Outcome, Outcome.id == Lot.outcome_id)
            .where(Outcome.code == "OU-AGRI", lot_live())
        ).scalar_one()


def _audit_ok(db) -> None:
    with db.reader() as session:
        report = audit(session)
        assert report.ok, report


def _superseded_and_released(client, world, db, cid: str, academic: float = 2.0) -> None:
    assert _state(db, cid) == "superseded"
    assert _locked(db) == 0
    assert balance(client, world)["convertible"] == 3.0 + academic  # the community credits are back
    assert balance(client, world)["by_category"] == {"community": 3.0, "academic": academic}
    (mine,) = [c for c in client.get("/api/v1/me/conversions", headers=world["me"]).json() if c["id"] == cid]
    assert mine["state"] == "superseded" and mine["transaction_id"] is None
    assert _conversion_transactions(db) == 0 and _ou_agri_lots(db) == 1
    # The school's approval now says what happened, in both languages; nothing changes.
    zh = _problem(_decide(client, world, cid), 409, "conversion_superseded")
    assert "已直接为学习者登记了这门课程" in zh["title"] and "自动结束" in zh["title"], zh
    en = _problem(_decide(client, world, cid, **{"Accept-Language": "en"}), 409, "conversion_superseded")
    assert en["title"].startswith("The school posted this course"), en
    _problem(_decide(client, world, cid, "reject"), 409, "conversion_superseded")
    # The learner cannot withdraw what already ended; the words say how it stands.
    body = _problem(
        client.post(f"/api/v1/me/conversions/{cid}/withdraw", headers=world["me"]),
        409,
        "conversion_not_withdrawable",
    )
    assert "直接登记" in body["title"], body
    assert _state(db, cid) == "superseded" and _locked(db) == 0
    _audit_ok(db)


class TestPostedWhileTheRequestWaits:
    def test_a_completion_posted_by_hand_ends_the_request_and_gives_the_credits_back(self, client, world, db):
        cid = _ask(client, world)
        r = client.post(
            "/api/v1/completions",
            json=completion_body(world["person"]["account_no"], "OU-AGRI"),
            headers=world["ou"],
        )
        assert r.status_code == 201, r.text
        _superseded_and_released(client, world, db, cid)
        # The learner may use the released credits again, for another rule.
        assert client.get("/api/v1/me/conversions", headers=world["me"]).status_code == 200

    @pytest.mark.parametrize("mode", ["partial", "all_or_nothing"])
    def test_a_batch_with_the_course_ends_the_request_when_it_is_published(self, client, world, db, mode):
        cid = _ask(client, world)
        rows = [
            "external_id,account_no,outcome_code,completed_on,score,hours",
            f"OU-1,{world['person']['account_no']},OU-AGRI,2026-03-01,,",
        ]
        r = client.post(
            f"/api/v1/completions/batch?mode={mode}",
            content=("\n".join(rows) + "\n").encode(),
            headers=world["ou"] | {"Content-Type": "text/csv"},
        )
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        _superseded_and_released(client, world, db, cid)

    def test_a_rejected_batch_leaves_the_request_waiting(self, client, world, db):
        cid = _ask(client, world)
        rows = [
            "external_id,account_no,outcome_code,completed_on,score,hours",
            f"OU-1,{world['person']['account_no']},OU-AGRI,2026-03-01,,",
            "OU-2,CB00000000000,OU-AGRI,2026-03-01,,",
        ]
        r = client.post(
            "/api/v1/completions/batch",
            content=("\n".join(rows) + "\n").encode(),
            headers=world["ou"] | {"Content-Type": "text/csv"},
        )
        assert r.status_code == 422, r.text
        assert _state(db, cid) == "pending" and _locked(db) == 300
        approve = _decide(client, world, cid)
        assert approve.status_code == 200 and approve.json()["state"] == "approved", approve.text
        assert _ou_agri_lots(db) == 1
        _audit_ok(db)

    def test_another_course_of_the_school_leaves_the_request_waiting(self, client, world, db):
        cid = _ask(client, world)
        r = client.post(
            "/api/v1/completions",
            json=completion_body(world["person"]["account_no"], "OU-PRESCHOOL"),
            headers=world["ou"],
        )
        assert r.status_code == 201, r.text
        assert _state(db, cid) == "pending" and _locked(db) == 300

    def test_the_learner_is_told_on_the_portal(self, client, world, db):
        cid = _ask(client, world)
        r = client.post(
            "/api/v1/completions",
            json=completion_body(world["person"]["account_no"], "OU-AGRI"),
            headers=world["ou"],
        )
        assert r.status_code == 201, r.text
        client.cookies.set("cb_session", world["me"]["Authorization"].removeprefix("Bearer "))
        me = client.get("/me")
        assert me.status_code == 200, me.text
        assert 'id="superseded"' in me.text and "现代农业技术基础" in me.text and "自动结束" in me.text
        requests = client.get("/me/conversions/requests")
        assert 'data-state="superseded"' in requests.text, requests.text
        assert "学校已直接登记这门课程" in requests.text
        assert f"/me/conversions/requests/{cid}/withdraw" not in requests.text
        client.cookies.set("cb_lang", "en")
        english = client.get("/me").text
        assert "for you directly" in english and "ended by itself" in english, english

    def test_a_request_left_waiting_beside_a_course_posted_before_is_ended_when_decided(
        self, client, world, db
    ):
        """Data from before requests were superseded on posting: the course posted, the request still
        pending with its credits locked. Deciding it ends it as the posting would have (the approval
        was 409 conversion_target_held, and the credits stayed locked until a rejection)."""
        cid = _ask(client, world)
        r = client.post(
            "/api/v1/completions",
            json=completion_body(world["person"]["account_no"], "OU-AGRI"),
            headers=world["ou"],
        )
        assert r.status_code == 201, r.text
        with db.engine.begin() as connection:  # back to how such a request was left
            connection.execute(
                update(Conversion)
                .where(Conversion.id == cid)
                .values(state="pending", decided_at=None, decided_by=None, reason=None)
            )
            for lot_id, units in connection.execute(
                select(ConversionLot.lot_id, ConversionLot.units).where(ConversionLot.conversion_id == cid)
            ).all():
                connection.execute(update(Lot).where(Lot.id == lot_id).values(locked_units=units))
        assert _locked(db) == 300
        _problem(_decide(client, world, cid), 409, "conversion_superseded")
        _superseded_and_released(client, world, db, cid)


# -- the school approves while its own staged import of the course runs ----------------------------

CHUNK = 3


def _import(client, world, db, settings, rows, *, mode, progress):
    with db.reader() as session:
        ou = session.execute(select(Institution.id).where(Institution.code == "CQOUYC")).scalar_one()
    return imports.run(
        db,
        institution_id=ou,
        api_key_id=None,
        secret=settings.id_secret(),
        rows=lambda: rows,
        mode=mode,
        chunk=CHUNK,
        progress=progress,
    )


def _file(client, world, *, at: int) -> list:
    """Ten rows: the learner's OU-PRESCHOOL first, then OU-PRESCHOOL for eight others, with the
    learner's OU-AGRI as row ``at`` (0-based; chunks of three) — the import meets the learner in its
    first chunk, before the approval."""
    others = [world["person"]] + [learner(client, world["ou"], name=f"学员{n}") for n in range(8)]
    rows = [
        {"external_id": f"P{n}", "account_no": p["account_no"], "outcome_code": "OU-PRESCHOOL"}
        for n, p in enumerate(others)
    ]
    rows.insert(
        at, {"external_id": "AGRI", "account_no": world["person"]["account_no"], "outcome_code": "OU-AGRI"}
    )
    return [
        (line, r | {"national_id": None, "completed_on": "2026-06-01", "score": None, "hours": None})
        for line, r in enumerate(rows, start=2)
    ]


class TestApprovedWhileTheSchoolsImportRuns:
    def test_an_approval_after_the_course_was_written_is_refused_and_the_import_ends_the_request(
        self, client, world, db, settings
    ):
        cid = _ask(client, world)
        answers = []

        def approve_after_first_chunk(_n: int) -> None:
            if not answers:
                answers.append(_decide(client, world, cid))

        report = _import(client, world, db, settings, _file(client, world, at=1), mode="all_or_nothing",
                         progress=approve_after_first_chunk)  # fmt: skip
        assert (report.accepted, report.rejected) == (10, 0)
        body = _problem(answers[0], 409, "conversion_target_importing")
        assert "批量导入" in body["title"] and "尚未发布" in body["title"] and "OU-AGRI" in body["title"], (
            body
        )
        _superseded_and_released(client, world, db, cid, academic=5.0)  # OU-AGRI once, OU-PRESCHOOL

    @pytest.mark.parametrize("mode", ["partial", "all_or_nothing"])
    def test_an_approval_before_the_course_was_written_refuses_that_row(
        self, client, world, db, settings, mode
    ):
        cid = _ask(client, world)
        answers = []

        def approve_after_first_chunk(_n: int) -> None:
            if not answers:
                answers.append(_decide(client, world, cid))

        rows = _file(client, world, at=9)
        if mode == "partial":
            report = _import(client, world, db, settings, rows, mode=mode, progress=approve_after_first_chunk)
            assert (report.accepted, report.rejected) == (9, 1)
            (error,) = report.errors
        else:
            with pytest.raises(CreditbankError) as refused:
                _import(client, world, db, settings, rows, mode=mode, progress=approve_after_first_chunk)
            assert refused.value.code == "batch_rejected"
            (error,) = refused.value.errors
        assert (error["line"], error["code"]) == (11, "outcome_held_by_conversion"), error
        assert cid in error["message_zh"]
        assert answers[0].status_code == 200 and answers[0].json()["state"] == "approved", answers[0].text
        assert _state(db, cid) == "approved" and _locked(db) == 0
        assert _conversion_transactions(db) == 1 and _ou_agri_lots(db) == 1
        academic = 2.0 + (3.0 if mode == "partial" else 0)  # OU-PRESCHOOL's 3 is published in partial
        assert balance(client, world)["by_category"] == {"academic": academic}
        _audit_ok(db)

    def test_the_state_filter_lists_superseded_requests_to_the_school(self, client, world, db):
        cid = _ask(client, world)
        client.post(
            "/api/v1/completions",
            json=completion_body(world["person"]["account_no"], "OU-AGRI"),
            headers=world["ou"],
        )
        listed = client.get("/api/v1/conversions?state=superseded", headers=world["ou"])
        assert listed.status_code == 200 and [c["id"] for c in listed.json()] == [cid], listed.text
        with db.reader() as session:
            assert session.get(Conversion, cid).decided_by.startswith("completion:")
