"""Issue 9 items 5 and 17: enrolling someone does not take their account over, and neither
enrolment nor activation tells an outsider who exists.

Item 5: codes from different enrolments do not cancel each other; an activated account can never
be activated again by a code; only accredited institutions (and the operator) enrol.
Item 17: activation answers unknown, activated and wrong alike; a pending or suspended
institution's enrolment is refused the same way whether or not the person exists.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from creditbank.kit import tokens
from tests.conftest import OPERATOR, institution, national_id

PASSWORD = "菜园子2026春"


def _enrol(client, headers, number, name="陈淑芬"):
    return client.post("/api/v1/learners", json={"name": name, "national_id": number}, headers=headers)


def _activate(client, account_no, code, password=PASSWORD):
    return client.post(
        "/api/v1/auth/activate",
        json={"account_no": account_no, "activation_code": code, "password": password},
    )


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):
    from argon2 import PasswordHasher

    from creditbank.learners import service

    monkeypatch.setattr(service, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


class TestEnrolmentDoesNotTakeOver:
    def test_item_5_a_second_schools_enrolment_leaves_the_first_slip_working(self, client):
        first_school, second_school = institution(client, "YCCEC"), institution(client, "CQOUYC")
        number = national_id()
        first = _enrol(client, first_school, number).json()
        second = _enrol(client, second_school, number).json()
        assert first["account_no"] == second["account_no"]
        assert first["activation_code"] != second["activation_code"]
        # The learner activates with the first school's slip, although another school enrolled later.
        assert _activate(client, first["account_no"], first["activation_code"]).status_code == 200

    def test_item_5_an_activated_account_can_never_be_activated_again_by_a_code(self, client):
        first_school, second_school = institution(client, "YCCEC"), institution(client, "CQOUYC")
        number = national_id()
        first = _enrol(client, first_school, number).json()
        second = _enrol(client, second_school, number).json()
        assert _activate(client, first["account_no"], first["activation_code"]).status_code == 200
        # The other school's earlier code, and a re-enrolment after activation, give no way in.
        taken = _activate(client, second["account_no"], second["activation_code"], password="attacker-pw-1")
        assert taken.status_code == 401 and taken.json()["code"] == "invalid_activation_code"
        again = _enrol(client, second_school, number).json()
        assert again["activation_code"] is None and again["created"] is False
        signed_in = client.post(
            "/api/v1/auth/token", json={"account_no": first["account_no"], "password": PASSWORD}
        )
        assert signed_in.status_code == 200  # the learner's own password still stands

    @pytest.mark.parametrize("state", ["pending", "suspended"])
    def test_item_5_and_17_only_accredited_institutions_enrol(self, client, state):
        accredited = institution(client, "YCCEC")
        other = institution(client, "ROGUE", accredit=state != "pending")
        if state == "suspended":
            assert client.post("/api/v1/institutions/ROGUE/suspend", headers=OPERATOR).status_code == 200
        known = national_id()
        _enrol(client, accredited, known)
        refused_known = _enrol(client, other, known)
        refused_new = _enrol(client, other, national_id())
        assert refused_known.status_code == refused_new.status_code == 403
        assert refused_known.json() == refused_new.json()  # nothing tells who exists
        expected = {"pending": "institution_not_accredited", "suspended": "institution_suspended"}[state]
        assert refused_known.json()["code"] == expected  # item 6: a suspended one is told so

    def test_item_7_codes_are_16_digits_and_stored_only_as_hmacs(self, client, db):
        school = institution(client)
        enrolled = _enrol(client, school, national_id()).json()
        code = enrolled["activation_code"]
        assert len(tokens.normalize_activation_code(code)) == 16 and code.replace(" ", "").isdigit()
        with db.engine.connect() as connection:
            stored = connection.execute(text("SELECT code_hmac FROM activation_code")).scalars().all()
        assert len(stored) == 1 and tokens.normalize_activation_code(code) not in stored[0]
        assert stored[0] != tokens.sha256_hex(f"{enrolled['account_no']}:{code}")
        # Typed with dashes or without spaces, as people do, it still works.
        assert _activate(client, enrolled["account_no"], code.replace(" ", "-")).status_code == 200


class TestActivationRevealsNobody:
    def test_item_17_unknown_activated_and_wrong_get_the_same_answer(self, client):
        school = institution(client)
        active = _enrol(client, school, national_id()).json()
        assert _activate(client, active["account_no"], active["activation_code"]).status_code == 200
        pending = _enrol(client, school, national_id()).json()
        unknown = tokens.new_account_no()
        answers = [
            _activate(client, unknown, "1234 5678 9012 3456"),
            _activate(client, active["account_no"], active["activation_code"]),  # already activated
            _activate(client, active["account_no"], "1234 5678 9012 3456"),
            _activate(client, pending["account_no"], "1234 5678 9012 3456"),
        ]
        assert {(a.status_code, a.json()["code"], a.json()["title"]) for a in answers} == {
            (401, "invalid_activation_code", answers[0].json()["title"])
        }
