"""A completion cannot predate its learner (completions.rules.check_completed_on): one post, the
rows of a batch (both modes), by account number or ID number — refused with
completed_on_before_birth, nothing written."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from creditbank.completions.models import Completion
from creditbank.ledger.models import LedgerTransaction
from tests.conftest import completion_body, institution, learner, national_id, outcome

HEADER = "external_id,account_no,national_id,outcome_code,completed_on"


def _count(db, model) -> int:
    with db.reader() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def _world(client):
    inst = institution(client)
    outcome(client, inst)
    outcome(client, inst, "YC-TEA", title_zh="茶艺入门", credits=1)
    number = national_id(born=date(1949, 10, 1))
    person = learner(client, inst, national_id=number)
    return inst, person, number


class TestSinglePost:
    def test_before_the_birth_year_is_refused_and_writes_nothing(self, client, db):
        inst, person, number = _world(client)
        for body in (
            completion_body(person["account_no"], completed_on="1800-01-01"),
            completion_body(person["account_no"], completed_on="1948-12-31"),
            completion_body(None, national_id=number, completed_on="1800-01-01") | {"account_no": None},
        ):
            r = client.post("/api/v1/completions", json=body, headers=inst)
            assert (r.status_code, r.json()["code"]) == (422, "completed_on_before_birth"), r.text
            assert "1949" in r.json()["title"] and "出生" in r.json()["title"]
        assert _count(db, Completion) == 0 and _count(db, LedgerTransaction) == 0

    def test_within_the_birth_year_and_after_is_accepted(self, client):
        inst, person, _ = _world(client)
        r = client.post(
            "/api/v1/completions",
            json=completion_body(person["account_no"], completed_on="1975-06-01"),
            headers=inst,
        )
        assert r.status_code == 201, r.text


class TestBatch:
    def _send(self, client, inst, rows, mode="all_or_nothing"):
        data = ("\n".join([HEADER, *rows]) + "\n").encode()
        return client.post(
            f"/api/v1/completions/batch?mode={mode}",
            content=data,
            headers=inst | {"Content-Type": "text/csv"},
        )

    def test_all_or_nothing_names_each_row(self, client, db):
        inst, person, number = _world(client)
        acct = person["account_no"]
        r = self._send(client, inst, [f"D1,{acct},,YC-ELEC,2026-01-05", f"D2,,{number},YC-TEA,1800-01-01"])
        assert r.status_code == 422 and r.json()["code"] == "batch_rejected"
        assert [(e["line"], e["code"], e["field"]) for e in r.json()["errors"]] == [
            (3, "completed_on_before_birth", "completed_on")
        ]
        assert _count(db, Completion) == 0

    def test_partial_writes_the_good_rows(self, client, db):
        inst, person, _ = _world(client)
        acct = person["account_no"]
        r = self._send(
            client, inst, [f"E1,{acct},,YC-ELEC,1800-01-01", f"E2,{acct},,YC-TEA,2026-01-05"], mode="partial"
        )
        assert r.status_code == 200, r.text
        assert (r.json()["accepted"], [e["code"] for e in r.json()["errors"]]) == (
            1,
            ["completed_on_before_birth"],
        )
        assert _count(db, Completion) == 1


class TestEnrolmentBirthDate:
    def test_an_impossible_birth_date_is_refused(self, client):
        inst = institution(client)
        for born in ("1800-01-01", "2999-01-01"):
            r = client.post(
                "/api/v1/learners",
                json={"name": "王秀英", "national_id": national_id(), "birth_date": born},
                headers=inst,
            )
            assert (r.status_code, r.json()["code"]) == (422, "invalid_value"), r.text


class TestOfficeDateForms:
    """Excel and WPS in a Chinese locale save a date cell to CSV as 2026/10/01 or 2026-10-1: a
    GB18030 file of them was refused row by row (不是日期，应写成 YYYY-MM-DD)."""

    def test_a_gb18030_file_with_the_dates_excel_and_wps_write_is_imported(self, client, db):
        inst, person, _ = _world(client)
        acct = person["account_no"]
        data = (
            "外部编号,学习账号,成果代码,完成日期\r\n"
            f"W1,{acct},YC-ELEC,2026/10/01\r\n"
            f"W2,{acct},YC-TEA,2026-10-1\r\n"
        ).encode("gb18030")
        r = client.post(
            "/api/v1/completions/batch", content=data, headers=inst | {"Content-Type": "text/csv"}
        )
        assert (r.status_code, r.json()["accepted"]) == (200, 2), r.text
        with db.reader() as session:
            dates = session.execute(select(Completion.completed_on)).scalars().all()
        assert dates == [date(2026, 10, 1), date(2026, 10, 1)]

    def test_dots_and_chinese_dates_in_json_rows_and_day_first_refused(self, client, db):
        inst, person, _ = _world(client)
        acct = person["account_no"]
        rows = [
            {"external_id": "J1", "account_no": acct, "outcome_code": "YC-ELEC", "completed_on": "2026.9.3"},
            {
                "external_id": "J2",
                "account_no": acct,
                "outcome_code": "YC-TEA",
                "completed_on": "2026年9月30日",
            },
            {"external_id": "J3", "account_no": acct, "outcome_code": "YC-TEA", "completed_on": "03/09/2026"},
        ]
        r = client.post("/api/v1/completions/batch", json={"mode": "partial", "rows": rows}, headers=inst)
        assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
        (error,) = r.json()["errors"]
        assert (error["line"], error["field"]) == (3, "completed_on")
        assert "2026年3月1日" in error["message_zh"] and "年份在前" in error["message_zh"]
        assert "year first" in error["message_en"]
        with db.reader() as session:
            dates = sorted(session.execute(select(Completion.completed_on)).scalars().all())
        assert dates == [date(2026, 9, 3), date(2026, 9, 30)]

    def test_an_old_xls_file_says_to_save_it_as_xlsx(self, client):
        inst, _, _ = _world(client)
        xls = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500
        r = client.post(
            "/api/v1/completions/batch",
            content=xls,
            headers=inst | {"Content-Type": "application/vnd.ms-excel"},
        )
        assert (r.status_code, r.json()["code"]) == (415, "old_excel_file"), r.text
        assert "另存为” .xlsx" in r.json()["title"]
        r = client.post(
            "/api/v1/completions/batch",
            files={"file": ("成绩.xls", xls, "application/vnd.ms-excel")},
            headers=inst | {"Accept-Language": "en"},
        )
        assert (r.status_code, r.json()["code"]) == (415, "old_excel_file"), r.text
        assert "Save it as .xlsx in Excel or WPS".lower() in r.json()["title"].lower()
