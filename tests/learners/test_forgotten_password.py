"""A learner who forgot their password gets back in with a new activation slip (both databases).

Before: /signin told them 忘记密码？请到为您登记的学校领取新的激活单, but re-enrolling an activated
account gave no code (``"activation_code": null``) and nothing else could: locked out for good.
Now the enrolling institution (or the operator) issues a new slip; the old password keeps working
until the learner uses the new code, which replaces it and ends every session.
"""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher
from sqlmodel import select

from creditbank.learners.models import ActivationCode, Learner
from creditbank.staff.models import StaffAction
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome, signed_in

OLD, NEW = "竹林深处2026", "新密码-萱花社区"


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, at the smallest cost: these tests activate and sign in many times."""
    from creditbank.learners import service

    monkeypatch.setattr(service, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def _slip(client, account_no: str, headers: dict, **extra):
    return client.post(f"/api/v1/learners/{account_no}/activation-slips", headers=headers, **extra)


def _activate(client, account_no: str, code: str, password: str):
    return client.post(
        "/api/v1/auth/activate",
        json={"account_no": account_no, "activation_code": code, "password": password},
    )


def _sign_in(client, account_no: str, password: str):
    return client.post("/api/v1/auth/token", json={"account_no": account_no, "password": password})


def _me(client, token: str) -> int:
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code


class TestANewActivationSlip:
    def test_the_learner_gets_back_in_and_the_old_password_and_sessions_end_when_the_code_is_used(
        self, client
    ):
        school = institution(client)
        person = learner(client, school, "王秀英")
        account = person["account_no"]
        phone = signed_in(client, person, OLD)["Authorization"].removeprefix("Bearer ")

        # Re-enrolment still gives no code to an activated account (SPEC §4 unchanged).
        again = client.post(
            "/api/v1/learners", json={"name": "王秀英", "national_id": person["national_id"]}, headers=school
        )
        assert again.status_code == 200 and again.json()["activation_code"] is None

        slip = _slip(client, account, school)
        assert slip.status_code == 201, slip.text
        body = slip.json()
        assert body["account_no"] == account and body["had_password"] is True
        assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", body["activation_code"])

        # Until the learner uses it, nothing changes: the old password and session still work.
        assert _sign_in(client, account, OLD).status_code == 200
        laptop = _sign_in(client, account, OLD).json()["access_token"]
        assert _me(client, phone) == 200 and _me(client, laptop) == 200
        # A wrong code is refused as on a first activation, and changes nothing.
        assert _activate(client, account, "1234 5678 9012 3456", NEW).status_code == 401
        assert _sign_in(client, account, OLD).status_code == 200

        used = _activate(client, account, body["activation_code"], NEW)
        assert used.status_code == 200, used.text
        assert _me(client, used.json()["access_token"]) == 200
        # The old password and every session opened with it are dead; the new password works.
        assert _sign_in(client, account, OLD).status_code == 401
        assert _me(client, phone) == 401 and _me(client, laptop) == 401
        assert _sign_in(client, account, NEW).status_code == 200
        # The code was used once: never again.
        assert _activate(client, account, body["activation_code"], "第三个密码abc").status_code == 401

    def test_the_operator_issues_one_too(self, client):
        person = learner(client, institution(client))
        signed_in(client, person, OLD)
        slip = _slip(client, person["account_no"], OPERATOR)
        assert slip.status_code == 201, slip.text
        assert _activate(client, person["account_no"], slip.json()["activation_code"], NEW).status_code == 200
        assert _sign_in(client, person["account_no"], NEW).status_code == 200

    def test_only_the_enrolling_institution_another_that_taught_is_told_who_and_a_stranger_sees_nothing(
        self, client
    ):
        enroller = institution(client, "YCCEC", "永川区社区教育学院")
        person = learner(client, enroller)
        teacher = institution(client, "CQOUYC", "重庆开放大学永川分校")
        outcome(client, teacher, "OU-1")
        taught = client.post(
            "/api/v1/completions", json=completion_body(person["account_no"], "OU-1"), headers=teacher
        )
        assert taught.status_code == 201, taught.text

        refused = _slip(client, person["account_no"], teacher)
        assert refused.status_code == 403 and refused.json()["code"] == "activation_slip_not_allowed"
        assert "永川区社区教育学院" in refused.json()["detail"]
        stranger = _slip(client, person["account_no"], institution(client, "THIRD", "第三机构"))
        assert stranger.status_code == 404 and stranger.json()["code"] == "learner_not_found"

    def test_a_suspended_institution_issues_none(self, client):
        school = institution(client)
        person = learner(client, school)
        assert client.post("/api/v1/institutions/YCCEC/suspend", headers=OPERATOR).status_code == 200
        refused = _slip(client, person["account_no"], school)
        assert refused.status_code == 403 and refused.json()["code"] == "institution_suspended", refused.text

    def test_a_retry_with_the_same_idempotency_key_issues_no_second_code_and_never_shows_it_again(
        self, client, db
    ):
        school = institution(client)
        person = learner(client, school)
        signed_in(client, person, OLD)
        headers = school | {"Idempotency-Key": "slip-1"}
        first = _slip(client, person["account_no"], headers)
        again = _slip(client, person["account_no"], headers)
        assert (first.status_code, again.status_code) == (201, 201)
        assert first.json()["activation_code"] and again.json()["activation_code"] is None
        assert again.json()["redacted"] == ["activation_code"]
        with db.reader() as session:
            learner_id = session.exec(
                select(Learner.id).where(Learner.account_no == person["account_no"])
            ).one()
            live = session.exec(select(ActivationCode).where(ActivationCode.learner_id == learner_id)).all()
        assert len(live) == 1

    def test_the_activity_log_says_who_and_when_never_the_code_nor_the_id_number(self, client, db):
        school = institution(client)
        person = learner(client, school)
        signed_in(client, person, OLD)
        by_school = _slip(client, person["account_no"], school).json()
        by_office = _slip(client, person["account_no"], OPERATOR).json()
        with db.reader() as session:
            rows = session.exec(select(StaffAction).where(StaffAction.action == "new activation slip")).all()
        assert len(rows) == 2 and all(person["account_no"] in r.subject and r.at for r in rows)
        assert any("API key" in r.subject and r.institution_id for r in rows)
        assert any("operator" in r.subject and r.institution_id is None for r in rows)
        for row in rows:
            digits = row.subject.replace(" ", "")
            for code in (by_school["activation_code"], by_office["activation_code"]):
                assert code.replace(" ", "") not in digits
            assert person["national_id"] not in row.subject and person["national_id"][-6:] not in row.subject
