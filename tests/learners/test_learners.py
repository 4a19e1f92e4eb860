"""Enrolment, privacy of the ID number, activation and sign-in."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, text

from creditbank.kit import idcard, tokens
from creditbank.learners.models import Learner
from tests.conftest import institution, national_id


class TestNationalId:
    def test_known_valid_number(self):
        parsed = idcard.parse("11010519491231002X")
        assert parsed.birth_date == date(1949, 12, 31) and parsed.gender == "female"
        assert parsed.masked == "110105************"

    @pytest.mark.parametrize(
        "number, reason",
        [
            ("110105194912310021", "校验位不正确"),
            ("11010519491331002X", "出生日期不存在"),
            ("99010519491231002X", "地区码不存在"),
            ("1101051949123100", "应为 18 位"),
        ],
    )
    def test_refusals_say_why(self, number, reason):
        with pytest.raises(idcard.InvalidNationalId) as caught:
            idcard.parse(number)
        assert reason in caught.value.zh

    def test_account_numbers_carry_a_check_character(self):
        number = tokens.new_account_no()
        assert tokens.is_account_no(number)
        wrong = number[:-1] + ("0" if number[-1] != "0" else "1")
        assert not tokens.is_account_no(wrong)


class TestEnrolment:
    def test_same_person_twice_gets_same_account(self, client):
        inst = institution(client)
        number = national_id()
        first = client.post("/api/v1/learners", json={"name": "王秀英", "national_id": number}, headers=inst)
        again = client.post(
            "/api/v1/learners", json={"name": "王秀英", "national_id": number.lower()}, headers=inst
        )
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["account_no"] == again.json()["account_no"]
        assert (first.json()["created"], again.json()["created"]) == (True, False)
        assert tokens.is_account_no(first.json()["account_no"])

    def test_same_id_under_another_name_says_so_without_the_name(self, client, db):
        inst = institution(client)
        number = national_id()
        first = client.post("/api/v1/learners", json={"name": "王秀英", "national_id": number}, headers=inst)
        assert first.json()["name_differs"] is False
        spaced = client.post(
            "/api/v1/learners", json={"name": "王 秀英 ", "national_id": number}, headers=inst
        )
        assert (spaced.status_code, spaced.json()["name_differs"]) == (200, False)
        other = client.post("/api/v1/learners", json={"name": "王秀荣", "national_id": number}, headers=inst)
        assert other.status_code == 200 and other.json()["created"] is False
        assert other.json()["account_no"] == first.json()["account_no"]
        assert other.json()["name_differs"] is True and "王秀英" not in other.text
        with db.reader() as session:
            assert session.execute(select(Learner.name)).scalar_one() == "王秀英"  # the record keeps its name

    def test_clear_id_number_is_never_stored(self, client, db):
        inst = institution(client)
        number = national_id(born=date(1950, 1, 2))
        client.post(
            "/api/v1/learners",
            json={"name": "刘建国", "national_id": number, "phone": "13812345678"},
            headers=inst,
        )
        with db.engine.connect() as connection:
            dump = " ".join(str(v) for row in connection.execute(text("SELECT * FROM learner")) for v in row)
        assert number not in dump and number[:14] not in dump
        with db.reader() as session:
            stored = session.execute(select(Learner)).scalar_one()
        assert stored.id_masked == number[:6] + "*" * 12 and stored.birth_year == 1950

    def test_invalid_id_is_422_with_reason(self, client):
        inst = institution(client)
        r = client.post(
            "/api/v1/learners", json={"name": "x", "national_id": "110105194912310021"}, headers=inst
        )
        assert r.status_code == 422 and r.json()["code"] == "invalid_national_id"
        assert "校验位" in r.json()["title"]
        english = client.post(
            "/api/v1/learners",
            json={"name": "x", "national_id": "110105194912310021"},
            headers=inst | {"Accept-Language": "en"},
        ).json()
        assert english["title"].startswith("Invalid national ID number: ")
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in english["title"])  # no Chinese inside


class TestActivation:
    def _enrol(self, client):
        inst = institution(client)
        body = client.post(
            "/api/v1/learners",
            json={
                "name": "陈淑芬",
                "national_id": national_id(),
                "phone": "13912345678",
                "district": "永川区中山路街道",
            },
            headers=inst,
        ).json()
        return inst, body

    def test_activate_then_sign_in_and_see_own_account(self, client):
        _, enrolled = self._enrol(client)
        activated = client.post(
            "/api/v1/auth/activate",
            json={
                "account_no": enrolled["account_no"],
                "activation_code": enrolled["activation_code"],
                "password": "菜园子2026春",
            },
        )
        assert activated.status_code == 200, activated.text
        signed = client.post(
            "/api/v1/auth/token", json={"account_no": enrolled["account_no"], "password": "菜园子2026春"}
        )
        assert signed.status_code == 200
        me = client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {signed.json()['access_token']}"}
        ).json()
        assert me["name"] == "陈淑芬" and me["phone"] == "13912345678" and "*" in me["id_masked"]

    def test_code_works_once_and_wrong_password_is_refused(self, client):
        _, enrolled = self._enrol(client)
        body = {
            "account_no": enrolled["account_no"],
            "activation_code": enrolled["activation_code"],
            "password": "12345678",
        }
        assert client.post("/api/v1/auth/activate", json=body).status_code == 200
        assert client.post("/api/v1/auth/activate", json=body).json()["code"] == "invalid_activation_code"
        wrong = client.post(
            "/api/v1/auth/token", json={"account_no": enrolled["account_no"], "password": "87654321"}
        )
        assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_credentials"

    def test_wrong_code_and_short_password(self, client):
        _, enrolled = self._enrol(client)
        wrong = client.post(
            "/api/v1/auth/activate",
            json={
                "account_no": enrolled["account_no"],
                "activation_code": "0000 0000 0000 0000",
                "password": "12345678",
            },
        )
        assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_activation_code"
        short = client.post(
            "/api/v1/auth/activate",
            json={
                "account_no": enrolled["account_no"],
                "activation_code": enrolled["activation_code"],
                "password": "123",
            },
        )
        assert short.status_code == 422 and short.json()["code"] == "weak_password"

    def test_sign_in_is_rate_limited(self, client):
        _, enrolled = self._enrol(client)
        codes = [
            client.post(
                "/api/v1/auth/token", json={"account_no": enrolled["account_no"], "password": "nope-nope"}
            ).status_code
            for _ in range(12)
        ]
        assert codes[:10] == [401] * 10 and codes[-1] == 429, codes
