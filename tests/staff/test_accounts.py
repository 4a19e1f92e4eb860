"""Staff and operator accounts: who can sign in, with what, and what a session is worth."""

from __future__ import annotations

import time

import pyotp
import pytest
from sqlmodel import select

from creditbank.errors import CreditbankError
from creditbank.institutions import service as institutions
from creditbank.kit import sealed
from creditbank.staff import service as staff
from creditbank.staff.models import OperatorAccount

PASSWORD = "长城长城长城12345"
SECRET = b"test-secret"


@pytest.fixture
def school(db):
    with db.unit_of_work() as session:
        institutions.create(session, code="YCCEC", name_zh="永川区社区教育学院")
        institutions.create(session, code="CQOUYC", name_zh="重庆开放大学永川分校")
        staff.create_staff(
            session,
            institution_code="YCCEC",
            username="Wang",
            name="王老师",
            password=PASSWORD,
            roles=["clerk"],
        )
    return db


def test_a_clerk_signs_in_with_username_and_password_and_the_session_names_their_school(school):
    with school.unit_of_work() as session:
        user, token = staff.sign_in_staff(session, username=" WANG ", password=PASSWORD)
    assert token.startswith("cbw_")
    with school.reader() as session:
        seen = staff.by_session_token(session, token)
    assert seen == user
    assert (seen.kind, seen.institution_code, seen.has("clerk"), seen.has("approver")) == (
        "staff",
        "YCCEC",
        True,
        False,
    )
    assert seen.actor == f"staff:{seen.id}"


def test_a_wrong_password_and_an_unknown_username_get_the_same_answer(school):
    answers = []
    for username, password in (("wang", "wrong password!"), ("nobody", PASSWORD)):
        with pytest.raises(CreditbankError) as refused, school.unit_of_work() as session:
            staff.sign_in_staff(session, username=username, password=password)
        answers.append(refused.value.code)
    assert answers == ["staff_sign_in_failed", "staff_sign_in_failed"]


def test_passwords_are_stored_as_argon2id_hashes(school):
    with school.reader() as session:
        account = staff.list_staff(session, institution_id=institutions.get(session, "YCCEC").id)[0]
    assert account.password_hash.startswith("$argon2id$") and PASSWORD not in account.password_hash


def test_a_username_is_taken_once_across_staff_and_operators(school):
    with pytest.raises(CreditbankError) as refused, school.unit_of_work() as session:
        staff.create_operator(session, username="wang", name="", password=PASSWORD, secret=SECRET)
    assert refused.value.code == "username_taken"


@pytest.mark.parametrize("roles", [[], ["admin"], ["clerk", "boss"]])
def test_only_clerk_and_approver_are_roles(school, roles):
    with pytest.raises(CreditbankError) as refused, school.unit_of_work() as session:
        staff.create_staff(
            session, institution_code="YCCEC", username="li", name="李", password=PASSWORD, roles=roles
        )
    assert refused.value.code == "invalid_value"


def test_signing_out_ends_the_session_and_disabling_ends_all_of_them(school):
    with school.unit_of_work() as session:
        _, first = staff.sign_in_staff(session, username="wang", password=PASSWORD)
        user, second = staff.sign_in_staff(session, username="wang", password=PASSWORD)
    with school.unit_of_work() as session:
        staff.end_session(session, first)
        assert staff.by_session_token(session, first) is None
        assert staff.by_session_token(session, second) is not None
        staff.disable_staff(session, institution_id=user.institution_id, staff_id=user.id)
        assert staff.by_session_token(session, second) is None
    with pytest.raises(CreditbankError), school.unit_of_work() as session:
        staff.sign_in_staff(session, username="wang", password=PASSWORD)


class TestOperatorSecondFactor:
    @pytest.fixture
    def operator(self, school, monkeypatch):
        monkeypatch.setattr(sealed, "_key", sealed.derive_key(SECRET))  # as the app and CLI do at start
        with school.unit_of_work() as session:
            _, totp_secret = staff.create_operator(
                session, username="office", name="区社区教育办公室", password=PASSWORD, secret=SECRET
            )
        return totp_secret

    def test_the_totp_secret_is_sealed_at_rest(self, school, operator):
        with school.reader() as session:
            stored = session.connection().exec_driver_sql("SELECT totp_secret FROM operator_account").scalar()
        assert stored.startswith("sealed:v1:") and operator not in stored

    def test_the_provisioning_uri_names_the_bank_and_the_account(self, operator):
        uri = staff.provisioning_uri("office", operator)
        assert uri.startswith("otpauth://totp/") and f"secret={operator}" in uri and "office" in uri

    def test_password_and_the_current_code_sign_in(self, school, operator):
        with school.unit_of_work() as session:
            user, token = staff.sign_in_operator(
                session, username="office", password=PASSWORD, code=pyotp.TOTP(operator).now()
            )
        assert user.is_operator and user.actor == f"operator:{user.id}"
        with school.reader() as session:
            assert staff.by_session_token(session, token) == user

    @pytest.mark.parametrize("code", ["000000", "12345", "", "abcdef"])
    def test_a_wrong_code_is_refused_with_the_password_right(self, school, operator, code):
        right = pyotp.TOTP(operator).now()
        code = code if code != right else "999999"
        with pytest.raises(CreditbankError) as refused, school.unit_of_work() as session:
            staff.sign_in_operator(session, username="office", password=PASSWORD, code=code)
        assert refused.value.code == "operator_sign_in_failed"

    def test_the_right_code_with_a_wrong_password_is_refused_alike(self, school, operator):
        with pytest.raises(CreditbankError) as refused, school.unit_of_work() as session:
            staff.sign_in_operator(
                session, username="office", password="not the password", code=pyotp.TOTP(operator).now()
            )
        assert refused.value.code == "operator_sign_in_failed"

    def test_a_code_works_once(self, school, operator):
        code = pyotp.TOTP(operator).now()
        with school.unit_of_work() as session:
            staff.sign_in_operator(session, username="office", password=PASSWORD, code=code)
        with pytest.raises(CreditbankError) as refused, school.unit_of_work() as session:
            staff.sign_in_operator(session, username="office", password=PASSWORD, code=code)
        assert refused.value.code == "operator_sign_in_failed"
        # The next step's code (clock drift allowance) still works.
        with school.unit_of_work() as session:
            staff.sign_in_operator(
                session, username="office", password=PASSWORD, code=pyotp.TOTP(operator).at(time.time() + 30)
            )
        with school.reader() as session:
            assert session.exec(select(OperatorAccount)).one().totp_last_step is not None


def test_every_change_is_recorded_with_who_made_it(school):
    with school.unit_of_work() as session:
        user, _ = staff.sign_in_staff(session, username="wang", password=PASSWORD)
        staff.record(session, user, "enrol", "CB…")
    with school.reader() as session:
        (line,) = staff.actions(session, institution_id=user.institution_id)
    assert (line.staff_id, line.operator_id, line.action) == (user.id, None, "enrol")
