"""The catalogue: versions, credits derived from hours."""

from __future__ import annotations

from sqlalchemy import select

from creditbank.audit import audit
from creditbank.catalogue import logged
from creditbank.catalogue.models import Outcome
from creditbank.completions import service as completions_service
from creditbank.institutions.models import Institution
from creditbank.kit import clock
from tests.conftest import completion_body, institution, learner, outcome


class TestCatalogue:
    def test_hours_only_derives_credits_rounded_down_to_half(self, client):
        inst = institution(client)
        body = outcome(client, inst, "XD-LECTURE", title_zh="香城社区讲坛", credits=None, hours=40)
        assert body["credits"] == 2.5 and body["credits_from_hours"] is True  # 40 h / 16 = 2.5

    def test_identical_put_is_a_replay_and_a_change_is_a_new_version(self, client):
        inst = institution(client)
        first = outcome(client, inst)
        same = client.put(
            "/api/v1/catalogue/YC-ELEC",
            headers=inst,
            json={
                "title_zh": "居民用电安全",
                "title_en": "Household electrical safety",
                "category": "community",
                "level": 2,
                "credits": 1.5,
            },
        )
        assert same.status_code == 200 and same.json()["version"] == first["version"] == 1
        changed = outcome(client, inst, credits=2)
        assert changed["version"] == 2
        listing = client.get("/api/v1/catalogue", headers=inst).json()
        assert [(o["code"], o["version"], o["credits"]) for o in listing] == [("YC-ELEC", 2, 2.0)]

    def test_completion_earned_under_old_version_keeps_its_credits(self, client):
        inst = institution(client)
        outcome(client, inst)
        person = learner(client, inst)
        client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst)
        outcome(client, inst, credits=3)
        assert (
            client.get(f"/api/v1/learners/{person['account_no']}/balance", headers=inst).json()["total"]
            == 1.5
        )

    def test_neither_credits_nor_hours_is_refused(self, client):
        inst = institution(client)
        r = client.put(
            "/api/v1/catalogue/X", headers=inst, json={"title_zh": "x", "category": "community", "level": 1}
        )
        assert r.status_code == 422 and r.json()["code"] == "credits_or_hours_required"

    def test_unknown_category_is_a_shape_error(self, client):
        inst = institution(client)
        r = client.put(
            "/api/v1/catalogue/X",
            headers=inst,
            json={"title_zh": "x", "category": "golf", "level": 1, "credits": 1},
        )
        assert r.status_code == 422 and r.json()["code"] == "validation_error"
        assert r.json()["errors"][0]["field"] == "category"


class TestOutcomesWorthNoCredits:
    """An outcome is worth more than 0 credits: a 2-hour lecture published with hours only was 201
    with ``credits: 0.0``, its completions deposited lots of nothing and ``creditbank audit`` failed."""

    def test_too_few_hours_is_refused_naming_the_hours_needed(self, client):
        inst = institution(client)
        for hours in (1, 2, 7.9):
            r = client.put(
                "/api/v1/catalogue/XD-TALK",
                headers=inst,
                json={"title_zh": "香城社区讲坛", "category": "senior", "level": 1, "hours": hours},
            )
            assert r.status_code == 422, r.text
            assert r.json()["code"] == "hours_too_few_for_credit"
            assert r.json()["title"] == "学时不足以折算学分：至少需要 8 学时（每学分 16 学时）"
        en = client.put(
            "/api/v1/catalogue/XD-TALK",
            headers=inst | {"Accept-Language": "en"},
            json={"title_zh": "香城社区讲坛", "category": "senior", "level": 1, "hours": 2},
        )
        assert en.json()["title"].startswith("Too few learning hours to make any credit: at least 8 hours")
        assert client.get("/api/v1/catalogue", headers=inst).json() == []
        # Eight hours make the smallest credit, half of one.
        assert outcome(client, inst, "XD-TALK", credits=None, hours=8)["credits"] == 0.5

    def test_zero_credits_is_refused(self, client):
        inst = institution(client)
        r = client.put(
            "/api/v1/catalogue/T-X4",
            headers=inst,
            json={"title_zh": "x", "category": "senior", "level": 1, "credits": 0, "hours": 40},
        )
        assert r.status_code == 422 and r.json()["code"] == "credits_must_be_positive", r.text

    def test_a_stored_zero_credit_outcome_cannot_be_posted_and_the_audit_passes(self, client, db):
        inst = institution(client)
        outcome(client, inst, "YC-ELEC")
        person = learner(client, inst)
        _zero_credit_outcome(db, "T-X4")
        r = client.post(
            "/api/v1/completions", json=completion_body(person["account_no"], "T-X4"), headers=inst
        )
        assert r.status_code == 422 and r.json()["code"] == "outcome_without_credits", r.text
        assert "T-X4" in r.json()["title"]
        acct = person["account_no"]
        csv = f"external_id,account_no,outcome_code,completed_on\nB1,{acct},YC-ELEC,2026-03-01\nB2,{acct},T-X4,2026-03-01\n"
        batch = client.post(
            "/api/v1/completions/batch?mode=partial",
            content=csv.encode(),
            headers=inst | {"Content-Type": "text/csv"},
        )
        assert batch.status_code == 200, batch.text
        assert (batch.json()["accepted"], batch.json()["rejected"]) == (1, 1)
        assert [(e["line"], e["code"]) for e in batch.json()["errors"]] == [(3, "outcome_without_credits")]
        with db.reader() as session:
            report = audit(session)
        assert report.ok, report.problems

    def test_the_audit_accepts_a_zero_credit_completion_posted_before_they_were_refused(
        self, client, db, monkeypatch
    ):
        inst = institution(client)
        person = learner(client, inst)
        _zero_credit_outcome(db, "T-X4")
        monkeypatch.setattr(completions_service, "worth_nothing", lambda outcome: None)  # the older product
        r = client.post(
            "/api/v1/completions", json=completion_body(person["account_no"], "T-X4"), headers=inst
        )
        assert r.status_code == 201 and r.json()["credits"] == 0, r.text
        with db.reader() as session:
            report = audit(session)
        assert report.ok, report.problems


def _zero_credit_outcome(db, code: str) -> None:
    """An outcome of 0 credits as the catalogue stored them before it refused them (and logged as the
    upgrade to 0025 logs the versions already published)."""
    with db.unit_of_work() as session:
        institution_id = session.execute(
            select(Institution.id).where(Institution.code == "YCCEC")
        ).scalar_one()
        stored = Outcome(
            institution_id=institution_id,
            code=code,
            version=1,
            title_zh="社区讲坛",
            category="senior",
            level=1,
            credits_units=0,
            hours=2,
            credits_from_hours=True,
            created_at=clock.now(),
        )
        session.add(stored)
        session.flush()
        logged.append(session, stored)
