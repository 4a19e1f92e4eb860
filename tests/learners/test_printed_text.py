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
