"""Correcting a learner's stored name (creditbank/learners/names.py, docs/api.md "Correcting a
name"): who may, what is kept, what the learner sees, and what happens to certificates already
issued — on SQLite and PostgreSQL, through the API a school's system uses."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from creditbank.learners.models import Learner
from tests.certificates.test_pdf import pdf_pages, squeeze
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome, signed_in

REASON = "开户时把“晓”录成了“小”，已核对身份证"


@pytest.fixture
def school(client) -> dict[str, str]:
    headers = institution(client, "YCCEC", "永川区社区教育学院")
    outcome(client, headers)
    return headers


def _correct(client, headers, account_no: str, name: str = "张晓明", reason: str = REASON, **kw):
    return client.post(
        f"/api/v1/learners/{account_no}/name-corrections",
        json={"name": name, "reason": reason},
        headers=headers | kw.pop("extra", {}),
        **kw,
    )


def _name(client, account_no: str) -> str:
    return client.get(f"/api/v1/learners/{account_no}/name-corrections", headers=OPERATOR).json()["name"]


def _code(response) -> str:
    body = response.json()
    return body["errors"][0]["code"] if body.get("errors") else body["code"]


class TestCorrectName:
    def test_the_enrolling_school_corrects_and_the_history_keeps_old_new_reason_who(self, client, school):
        person = learner(client, school, name="张小明")
        done = _correct(client, school, person["account_no"])
        assert done.status_code == 201, done.text
        body = done.json()
        assert (body["name"], body["changed"]) == ("张晓明", True)
        correction = body["correction"]
        assert (correction["old_name"], correction["new_name"], correction["reason"]) == (
            "张小明",
            "张晓明",
            REASON,
        )
        assert (correction["institution_code"], correction["institution_name"]) == (
            "YCCEC",
            "永川区社区教育学院",
        )
        history = client.get(
            f"/api/v1/learners/{person['account_no']}/name-corrections", headers=school
        ).json()
        assert history["name"] == "张晓明" and history["corrections"] == [correction]

        # The learner sees the new name and the whole story on their own account.
        me = signed_in(client, person)
        assert client.get("/api/v1/me", headers=me).json()["name"] == "张晓明"
        mine = client.get("/api/v1/me/name-corrections", headers=me).json()
        assert mine["corrections"] == [correction]

        # The ID number is untouched: enrolling it again under the right name is the same account,
        # and its name no longer "differs".
        again = client.post(
            "/api/v1/learners", json={"name": "张晓明", "national_id": person["national_id"]}, headers=school
        ).json()
        assert (again["account_no"], again["created"], again["name_differs"]) == (
            person["account_no"],
            False,
            False,
        )

    def test_a_second_correction_adds_to_the_history_newest_first(self, client, school):
        person = learner(client, school, name="张小明")
        assert _correct(client, school, person["account_no"], "张晓民").status_code == 201
        assert (
            _correct(client, school, person["account_no"], "张晓明", "第一次更正又打错了一个字").status_code
            == 201
        )
        history = client.get(
            f"/api/v1/learners/{person['account_no']}/name-corrections", headers=school
        ).json()
        assert [(c["old_name"], c["new_name"]) for c in history["corrections"]] == [
            ("张晓民", "张晓明"),
            ("张小明", "张晓民"),
        ]

    def test_the_operator_corrects_any_learner(self, client, school):
        person = learner(client, school, name="张小明")
        done = _correct(client, OPERATOR, person["account_no"])
        assert done.status_code == 201, done.text
        assert (
            done.json()["correction"]["institution_code"],
            done.json()["correction"]["institution_name"],
        ) == (
            None,
            "区学分银行",
        )
        assert _name(client, person["account_no"]) == "张晓明"


class TestRepeatedCorrection:
    def test_the_same_correction_twice_changes_nothing_more_and_answers_the_same_correction(
        self, client, school
    ):
        person = learner(client, school, name="张小明")
        first = _correct(client, school, person["account_no"])
        second = _correct(client, school, person["account_no"])
        assert (first.status_code, second.status_code) == (201, 200)
        assert second.json()["changed"] is False
        assert second.json()["correction"] == first.json()["correction"]
        history = client.get(
            f"/api/v1/learners/{person['account_no']}/name-corrections", headers=school
        ).json()
        assert len(history["corrections"]) == 1

    def test_an_idempotency_key_replays_the_first_answer(self, client, school):
        person = learner(client, school, name="张小明")
        first = _correct(client, school, person["account_no"], extra={"Idempotency-Key": "fix-1"})
        replay = _correct(client, school, person["account_no"], extra={"Idempotency-Key": "fix-1"})
        assert (first.status_code, replay.status_code) == (201, 201)
        assert replay.json() == first.json() and replay.headers["Idempotent-Replayed"] == "true"
        other = _correct(client, school, person["account_no"], "张晓民", extra={"Idempotency-Key": "fix-1"})
        assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
        assert _name(client, person["account_no"]) == "张晓明"

    def test_the_name_already_on_record_records_nothing(self, client, school):
        person = learner(client, school, name="张晓明")
        same = _correct(client, school, person["account_no"])
        assert (same.status_code, same.json()["changed"], same.json()["correction"]) == (200, False, None)


class TestWhoMayCorrect:
    def test_another_institution_cannot(self, client, school):
        person = learner(client, school, name="张小明")
        other = institution(client, "CQOU", "重庆开放大学")
        outcome(client, other, "B-X1")
        # Never enrolled nor taught them: as if the account did not exist.
        refused = _correct(client, other, person["account_no"])
        assert (refused.status_code, refused.json()["code"]) == (404, "learner_not_found")
        history = client.get(f"/api/v1/learners/{person['account_no']}/name-corrections", headers=other)
        assert (history.status_code, history.json()["code"]) == (404, "learner_not_found")
        # Taught them: it knows them, and is told who can correct the name.
        taught = client.post(
            "/api/v1/completions", json=completion_body(person["account_no"], "B-X1"), headers=other
        )
        assert taught.status_code == 201, taught.text
        refused = _correct(client, other, person["account_no"], extra={"Accept-Language": "zh-CN"})
        assert (refused.status_code, refused.json()["code"]) == (403, "name_correction_not_allowed")
        assert "永川区社区教育学院" in refused.json()["title"]
        # Enrolling the same ID number again does not make it the owner of the name either.
        client.post(
            "/api/v1/learners", json={"name": "张晓明", "national_id": person["national_id"]}, headers=other
        )
        assert _correct(client, other, person["account_no"]).status_code == 403
        assert _name(client, person["account_no"]) == "张小明"

    def test_the_learner_and_strangers_cannot(self, client, school):
        person = learner(client, school, name="张小明")
        me = signed_in(client, person)
        assert _correct(client, me, person["account_no"]).json()["code"] == "forbidden"
        assert _correct(client, {}, person["account_no"]).status_code == 401
        assert _name(client, person["account_no"]) == "张小明"

    def test_a_suspended_school_cannot(self, client, school):
        person = learner(client, school, name="张小明")
        assert client.post("/api/v1/institutions/YCCEC/suspend", headers=OPERATOR).status_code == 200
        refused = _correct(client, school, person["account_no"])
        assert (refused.status_code, refused.json()["code"]) == (403, "institution_suspended")

    def test_an_unknown_account(self, client, school):
        assert _correct(client, OPERATOR, "CB00000000000").json()["code"] == "learner_not_found"


class TestBadNames:
    @pytest.mark.parametrize(
        ("name", "reason", "code"),
        [
            ("   ", REASON, "blank_text"),
            ("\u200b", REASON, "blank_text"),
            ("", REASON, "string_too_short"),
            ("张\u202e晓明", REASON, "invalid_text"),
            ("张\x00晓明", REASON, "invalid_text"),
            ("张晓明", "　", "blank_text"),
            ("张" * 101, REASON, "string_too_long"),
        ],
    )
    def test_refused_like_at_enrolment_and_nothing_changes(self, client, school, name, reason, code):
        person = learner(client, school, name="张小明")
        refused = _correct(client, school, person["account_no"], name, reason)
        assert (refused.status_code, _code(refused)) == (422, code)
        assert _name(client, person["account_no"]) == "张小明"
        history = client.get(f"/api/v1/learners/{person['account_no']}/name-corrections", headers=school)
        assert history.json()["corrections"] == []

    def test_a_reason_is_required(self, client, school):
        person = learner(client, school, name="张小明")
        refused = client.post(
            f"/api/v1/learners/{person['account_no']}/name-corrections",
            json={"name": "张晓明"},
            headers=school,
        )
        assert refused.status_code == 422 and _name(client, person["account_no"]) == "张小明"

    def test_pasted_invisible_characters_are_removed_as_at_enrolment(self, client, school):
        person = learner(client, school, name="张小明")
        done = _correct(client, school, person["account_no"], "  张\u200b晓明\u3000")
        assert done.json()["name"] == "张晓明"


def _issue(client, me, body) -> dict:
    issued = client.post("/api/v1/me/certificates", json=body, headers=me)
    assert issued.status_code == 201, issued.text
    return issued.json()


def _subject_name(credential: dict) -> str:
    identifiers = credential["credentialSubject"]["identifier"]
    return next(i["identityHash"] for i in identifiers if i["identityType"] == "name")


class TestCertificates:
    def test_an_old_certificate_stays_genuine_with_its_name_and_a_new_one_has_the_new_name(
        self, client, school
    ):
        person = learner(client, school, name="张小明")
        done = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=school)
        me = signed_in(client, person)
        old = _issue(client, me, {"kind": "achievement", "completion_id": done.json()["id"]})
        before = client.get(f"/api/v1/verify/{old['id']}").json()  # the answer is cached from here
        assert before["valid"] is True and before["certificate"]["learner_name"] == "张小明"

        assert _correct(client, school, person["account_no"]).status_code == 201

        after = client.get(f"/api/v1/verify/{old['id']}").json()
        assert after["valid"] is True and after["checks"] == before["checks"]
        assert after["certificate"]["learner_name"] == "张小明"  # what the paper says, as signed
        posted = client.post("/api/v1/verify", json=old["credential"]).json()
        assert posted["valid"] is True, posted["checks"]
        assert all(check["ok"] is not False for check in posted["checks"].values())

        new = _issue(client, me, {"kind": "achievement", "completion_id": done.json()["id"]})
        assert _subject_name(new["credential"]) == "张晓明"
        verdict = client.get(f"/api/v1/verify/{new['id']}").json()
        assert verdict["valid"] is True and verdict["certificate"]["learner_name"] == "张晓明"

    def test_the_old_pdf_still_prints_and_verifies_its_name_and_a_new_pdf_prints_the_new_one(
        self, client, school
    ):
        person = learner(client, school, name="张小明")
        done = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=school)
        me = signed_in(client, person)
        old = _issue(client, me, {"kind": "achievement", "completion_id": done.json()["id"]})
        assert client.get(f"/api/v1/certificates/{old['id']}.pdf").status_code == 200  # rendered and kept

        assert _correct(client, school, person["account_no"]).status_code == 201

        old_pdf = client.get(f"/api/v1/certificates/{old['id']}.pdf").content
        assert "张小明" in squeeze(pdf_pages(old_pdf)[0][2])
        verdict = client.post(
            "/api/v1/verify", content=old_pdf, headers={"Content-Type": "application/pdf"}
        ).json()
        assert verdict["valid"] is True, verdict["checks"]
        assert verdict["checks"]["integrity"]["ok"] is True
        new = _issue(client, me, {"kind": "achievement", "completion_id": done.json()["id"]})
        new_pdf = client.get(f"/api/v1/certificates/{new['id']}.pdf").content
        assert "张晓明" in squeeze(pdf_pages(new_pdf)[0][2]) and "张小明" not in squeeze(
            pdf_pages(new_pdf)[0][2]
        )

    def test_a_name_stored_before_the_text_rules_is_corrected_and_certificates_work_again(
        self, client, school
    ):
        person = learner(client, school, name="张小明")
        client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=school)
        with client.app.state.db.unit_of_work() as session:  # a row from before kit.text
            session.execute(
                update(Learner).where(Learner.account_no == person["account_no"]).values(name="张\u202e小明")
            )
        me = signed_in(client, person)
        refused = client.post("/api/v1/me/certificates", json={"kind": "transcript"}, headers=me)
        assert (refused.status_code, refused.json()["code"]) == (409, "certificate_data_invalid")

        done = _correct(client, school, person["account_no"], "张小明", "姓名里有看不见的控制字符")
        assert done.status_code == 201, done.text
        assert done.json()["correction"]["old_name"] == "张\u202e小明"  # kept exactly as it was

        issued = _issue(client, me, {"kind": "transcript"})
        assert _subject_name(issued["credential"]) == "张小明"
        assert client.get(f"/api/v1/verify/{issued['id']}").json()["valid"] is True
