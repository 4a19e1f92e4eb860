"""Names and titles that end up printed and signed on certificates (kit.text): blank or
invisible text is refused where it comes in, and a certificate over stored bad data is a clear
refusal, never a 500."""

from __future__ import annotations

from sqlalchemy import func, select, update

from creditbank.catalogue.models import Outcome
from creditbank.learners.models import Learner
from tests.conftest import completion_body, institution, learner, outcome, signed_in


def _learners(db) -> int:
    with db.reader() as session:
        return session.execute(select(func.count()).select_from(Learner)).scalar_one()


class TestBlankName:
    def test_a_name_of_spaces_is_refused_and_nothing_is_created(self, client, db):
        inst = institution(client)
        for blank in ("   ", "\u3000\t", ""):
            r = client.post(
                "/api/v1/learners", json={"name": blank, "national_id": "110105195501010035"}, headers=inst
            )
            assert r.status_code == 422, r.text
            assert r.json()["errors"][0]["field"] == "name"
        assert _learners(db) == 0

    def test_a_name_is_stored_without_its_surrounding_spaces(self, client, db):
        inst = institution(client)
        person = learner(client, inst, name="  张桂兰 ")
        me = client.get("/api/v1/me", headers=signed_in(client, person)).json()
        assert me["name"] == "张桂兰"


class TestStoredBadData:
    """Rows written before the rules (or by hand): the certificate is refused with a code saying
    what to correct, not a 500 from the credential's schema check."""

    def _world(self, client):
        inst = institution(client)
        outcome(client, inst)
        person = learner(client, inst)
        assert (
            client.post(
                "/api/v1/completions", json=completion_body(person["account_no"]), headers=inst
            ).status_code
            == 201
        )
        return signed_in(client, person)

    def test_blank_stored_name(self, client, db):
        me = self._world(client)
        with db.unit_of_work() as session:
            session.execute(update(Learner).values(name=""))
        for kind in ("transcript", "achievement"):
            body = {"kind": kind}
            if kind == "achievement":
                body["completion_id"] = client.get("/api/v1/me/ledger", headers=me).json()["items"][0][
                    "completion_id"
                ]
            r = client.post("/api/v1/me/certificates", json=body, headers=me)
            assert r.status_code == 409, r.text
            assert r.json()["code"] == "certificate_data_invalid"
            assert "姓名" in r.json()["title"]

    def test_stored_title_with_a_control_character(self, client, db):
        me = self._world(client)
        with db.unit_of_work() as session:
            session.execute(update(Outcome).values(title_zh="居民\u202e用电"))
        r = client.post("/api/v1/me/certificates", json={"kind": "transcript"}, headers=me)
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "certificate_data_invalid"


class TestInvisibleCharacters:
    """Copy-paste from Excel or WeChat brings zero-width spaces along (removed); controls and
    bidi overrides make a printed name read otherwise than the signed one (refused)."""

    def test_zero_width_and_bom_are_removed_and_the_name_is_nfc(self, client):
        inst = institution(client)
        person = learner(client, inst, name="\ufeff李\u200b梅\u200d", district="永川区\u200b")
        me = client.get("/api/v1/me", headers=signed_in(client, person)).json()
        assert (me["name"], me["district"]) == ("李梅", "永川区")
        nfd = learner(client, inst, name="Rene\u0301 Dupont")
        nfd_me = client.get("/api/v1/me", headers=signed_in(client, nfd)).json()
        assert nfd_me["name"] == "Ren\u00e9 Dupont"

    def test_controls_and_bidi_overrides_are_refused_and_nothing_is_created(self, client, db):
        inst = institution(client)
        for name, char in (("李\u0000梅", "U+0000"), ("李\u202e梅", "U+202E"), ("李\u2066梅", "U+2066")):
            r = client.post(
                "/api/v1/learners",
                json={"name": name, "national_id": "110105195501010035"},
                headers=inst | {"Accept-Language": "en"},
            )
            assert r.status_code == 422, r.text
            error = r.json()["errors"][0]
            assert (error["field"], error["code"]) == ("name", "invalid_text")
            assert char in error["message_en"] and "不可见或控制字符" in error["message_zh"]
        assert _learners(db) == 0

    def test_institution_outcome_and_qualification_names(self, client):
        from tests.conftest import OPERATOR

        r = client.post("/api/v1/institutions", json={"code": "BAD", "name_zh": "a\u0000b"}, headers=OPERATOR)
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "invalid_text"
        assert "BAD" not in {i["code"] for i in client.get("/api/v1/institutions", headers=OPERATOR).json()}
        r = client.post(
            "/api/v1/institutions", json={"code": "BLANK", "name_zh": " \u200b "}, headers=OPERATOR
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name_zh"
        inst = institution(client)
        bad_outcome = {"title_zh": "居民\u202e用电", "category": "community", "level": 2, "credits": 1}
        r = client.put("/api/v1/catalogue/YC-X", json=bad_outcome, headers=inst)
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "invalid_text"
        assert "YC-X" not in {o["code"] for o in client.get("/api/v1/catalogue", headers=inst).json()}
        cleaned = outcome(client, inst, code="YC-Y", title_zh="居民\u200b用电", title_en="  ")
        assert (cleaned["title_zh"], cleaned["title_en"]) == ("居民用电", None)
        r = client.put(
            "/api/v1/qualifications/Q1",
            json={"name_zh": "\u0007", "total_credits": 10, "requirements": []},
            headers=inst,
        )
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "invalid_text"


class TestServices:
    """The rule holds below the API too: the CLI, the demo and the console call the services."""

    def test_enrol_and_create_normalise_or_refuse(self, db, settings):
        import pytest

        from creditbank.errors import CreditbankError
        from creditbank.institutions import service as institutions
        from creditbank.learners import service as learners
        from tests.conftest import national_id

        with db.unit_of_work() as session:
            made, _ = institutions.create(session, code="T1", name_zh="永川\u200b学院 ", district=" ")
            assert (made.name_zh, made.district) == ("永川学院", None)
            _again, created = institutions.create(session, code="T1", name_zh="永川学院")
            assert not created  # the same institution, however it was typed
            enrolled = learners.enroll(
                session, secret=settings.id_secret(), name=" 李\u200b梅", national_id=national_id()
            )
            assert enrolled.learner.name == "李梅"
        for call in (
            lambda s: learners.enroll(
                s, secret=settings.id_secret(), name="\u202e", national_id=national_id()
            ),
            lambda s: institutions.create(s, code="T2", name_zh="a\u0000b"),
        ):
            with pytest.raises(CreditbankError) as caught, db.unit_of_work() as session:
                call(session)
            assert caught.value.code == "invalid_text"
