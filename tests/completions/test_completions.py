"""Posting completions: validation, idempotency, revocation, batch import."""

from __future__ import annotations

import io
from datetime import date, timedelta

import openpyxl
import pytest
from sqlalchemy import event, func, select

from creditbank.catalogue.models import Outcome
from creditbank.completions import service as completions
from creditbank.completions.models import Completion
from creditbank.ledger.models import LedgerTransaction
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome


def _world(client):
    inst = institution(client)
    outcome(client, inst)
    outcome(
        client,
        inst,
        "YC-WECHAT",
        title_zh="玩转微信享受智慧生活",
        category="senior",
        level=1,
        credits=1,
        min_score=60,
    )
    person = learner(client, inst)
    return inst, person


def _count(db, model) -> int:
    with db.reader() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


class TestPostCompletion:
    def test_answer_has_the_contract_shape(self, client):
        inst, person = _world(client)
        r = client.post(
            "/api/v1/completions",
            json=completion_body(person["account_no"], external_id="YC-1"),
            headers=inst,
        )
        assert r.status_code == 201
        body = r.json()
        assert body["external_id"] == "YC-1" and body["account_no"] == person["account_no"]
        assert body["outcome_code"] == "YC-ELEC" and body["credits"] == 1.5
        assert body["id"].startswith("cmp_") and body["transaction_id"].startswith("txn_")

    def test_a_single_post_does_not_refresh_planner_statistics_under_the_ledger_lock(self, client, db):
        # ANALYZE reads up to 30 000 rows of each table: 0.9 s of a 0.95 s post at 25 000
        # completions on PostgreSQL, with every other writer queued behind it (bench/scale.py).
        inst, person = _world(client)
        statements: list[str] = []
        event.listen(db.engine, "before_cursor_execute", lambda _c, _cur, sql, *_: statements.append(sql))
        r = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst)
        assert r.status_code == 201
        assert any(sql.startswith("INSERT INTO completion") for sql in statements)
        assert not [sql for sql in statements if sql.lstrip().upper().startswith("ANALYZE")]

    def test_a_single_post_reads_the_outcome_it_names_not_the_whole_catalogue(self, client, db):
        # It used to load every outcome of the institution (one GROUP BY, ~50 ORM rows in the load
        # mix) under the ledger lock, for one row.
        inst, person = _world(client)
        for i in range(12):
            outcome(client, inst, f"YC-EXTRA-{i:02d}", credits=1)
        outcome(client, inst, credits=2.5)  # a second version of YC-ELEC: the post must use it
        loaded: list[str] = []

        def seen(target, _context):
            loaded.append(target.code)

        event.listen(Outcome, "load", seen)
        try:
            r = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst)
        finally:
            event.remove(Outcome, "load", seen)
        assert r.status_code == 201 and r.json()["credits"] == 2.5
        assert set(loaded) == {"YC-ELEC"} and len(loaded) <= 2  # its versions, nothing else

    def test_a_single_post_costs_a_bounded_number_of_statements(self, client, db):
        # Each statement is a round trip to the database (~0.5–1 ms on PostgreSQL, most of a post's
        # time): 22 before 2026-12-02, 18 since — API key, institution with its issuance account,
        # learner, outcome; under the ledger lock the import check, balances, external id, pairs;
        # then the writes (transaction, log leaf and head, postings, lot, accounts, learner
        # balance, chain head, completion).
        inst, person = _world(client)
        statements: list[str] = []

        def count(_conn, _cursor, sql, *_):
            if not sql.startswith("BEGIN"):  # SQLite's transaction control, not a query
                statements.append(sql)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            r = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert r.status_code == 201
        assert len(statements) <= 18, "\n".join(statements)

    def test_by_national_id_reaches_the_same_account(self, client):
        inst, person = _world(client)
        body = completion_body(None, national_id=person["national_id"])
        del body["account_no"]
        r = client.post("/api/v1/completions", json=body, headers=inst)
        assert r.status_code == 201 and r.json()["account_no"] == person["account_no"]

    def test_replay_returns_original(self, client, db):
        inst, person = _world(client)
        body = completion_body(person["account_no"], external_id="YC-7")
        first = client.post("/api/v1/completions", json=body, headers=inst)
        again = client.post("/api/v1/completions", json=body, headers=inst)
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json() == first.json()
        assert _count(db, Completion) == 1 and _count(db, LedgerTransaction) == 1
        assert (
            client.get(f"/api/v1/learners/{person['account_no']}/balance", headers=inst).json()["total"]
            == 1.5
        )

    def test_same_external_id_other_content_is_409(self, client, db):
        inst, person = _world(client)
        client.post(
            "/api/v1/completions",
            json=completion_body(person["account_no"], external_id="YC-8"),
            headers=inst,
        )
        r = client.post(
            "/api/v1/completions",
            headers=inst,
            json=completion_body(person["account_no"], external_id="YC-8", completed_on="2026-03-02"),
        )
        assert r.status_code == 409 and r.json()["code"] == "external_id_conflict"
        assert _count(db, Completion) == 1

    def test_idempotency_key_replays_and_refuses_other_body(self, client, db):
        inst, person = _world(client)
        headers = inst | {"Idempotency-Key": "req-42"}
        first = client.post(
            "/api/v1/completions",
            json=completion_body(person["account_no"], external_id="A"),
            headers=headers,
        )
        again = client.post(
            "/api/v1/completions",
            json=completion_body(person["account_no"], external_id="A"),
            headers=headers,
        )
        other = client.post(
            "/api/v1/completions",
            json=completion_body(person["account_no"], external_id="B"),
            headers=headers,
        )
        assert first.status_code == 201 and again.status_code == 201 and again.json() == first.json()
        assert again.headers.get("idempotent-replayed") == "true"
        assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
        assert _count(db, Completion) == 1

    def test_refusals_have_specific_codes_and_write_nothing(self, client, db):
        inst, person = _world(client)
        acct = person["account_no"]
        future = (date.today() + timedelta(days=3)).isoformat()
        cases = [
            (completion_body(acct, outcome_code="NOPE"), 404, "outcome_not_found"),
            (completion_body("CB0000000000X"), 404, "learner_not_found"),
            (completion_body(acct, completed_on=future), 422, "completed_on_in_future"),
            (completion_body(acct, outcome_code="YC-WECHAT", score=55), 422, "score_below_minimum"),
            (completion_body(acct, outcome_code="YC-WECHAT"), 422, "score_required"),
            (
                completion_body(None, national_id="110101199003071234") | {"account_no": None},
                422,
                "invalid_national_id",
            ),
            (completion_body(acct, national_id=person["national_id"]), 422, "learner_ref_required"),
        ]
        for body, status, code in cases:
            r = client.post("/api/v1/completions", json=body, headers=inst)
            assert (r.status_code, r.json()["code"]) == (status, code), (body, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        assert _count(db, Completion) == 0 and _count(db, LedgerTransaction) == 0

    def test_same_outcome_twice_for_a_learner_is_duplicate(self, client):
        inst, person = _world(client)
        client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst)
        r = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst)
        assert r.status_code == 409 and r.json()["code"] == "duplicate_completion"

    def test_messages_follow_accept_language(self, client):
        inst, person = _world(client)
        body = completion_body(person["account_no"], outcome_code="YC-WECHAT", score=55)
        zh = client.post("/api/v1/completions", json=body, headers=inst).json()
        en = client.post(
            "/api/v1/completions", json=body, headers=inst | {"Accept-Language": "en-US,en"}
        ).json()
        assert zh["title"] == "成绩 55 低于最低要求 60"
        assert en["title"] == "Score 55 is below the minimum 60"

    def test_suspended_institution_cannot_post_but_credits_stay(self, client):
        inst, person = _world(client)
        client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst)
        client.post("/api/v1/institutions/YCCEC/suspend", headers=OPERATOR)
        r = client.post(
            "/api/v1/completions",
            json=completion_body(person["account_no"], outcome_code="YC-WECHAT", score=90),
            headers=inst,
        )
        assert r.status_code == 403 and r.json()["code"] == "institution_suspended"
        assert (
            client.get(f"/api/v1/learners/{person['account_no']}/balance", headers=inst).json()["total"]
            == 1.5
        )


class TestRevoke:
    def test_revoke_reverses_credits_and_allows_a_corrected_post(self, client):
        inst, person = _world(client)
        posted = client.post(
            "/api/v1/completions", json=completion_body(person["account_no"]), headers=inst
        ).json()
        r = client.post(
            f"/api/v1/completions/{posted['id']}/revoke", json={"reason": "登记错误"}, headers=inst
        )
        assert r.status_code == 200 and r.json()["state"] == "revoked"
        balance = client.get(f"/api/v1/learners/{person['account_no']}/balance", headers=inst).json()
        assert balance["total"] == 0 and balance["by_category"] == {}
        again = client.post(
            f"/api/v1/completions/{posted['id']}/revoke", json={"reason": "登记错误"}, headers=inst
        )
        assert again.status_code == 200  # repeating a revocation changes nothing
        corrected = client.post(
            "/api/v1/completions", json=completion_body(person["account_no"]), headers=inst
        )
        assert corrected.status_code == 201
        assert (
            client.get(f"/api/v1/learners/{person['account_no']}/balance", headers=inst).json()["total"]
            == 1.5
        )

    def test_statement_shows_deposit_and_reversal(self, client):
        inst, person = _world(client)
        posted = client.post(
            "/api/v1/completions", json=completion_body(person["account_no"]), headers=inst
        ).json()
        client.post(f"/api/v1/completions/{posted['id']}/revoke", json={"reason": "x"}, headers=inst)
        token = client.post(
            "/api/v1/auth/activate",
            json={
                "account_no": person["account_no"],
                "activation_code": person["activation_code"],
                "password": "长城长城12345",
            },
        ).json()["access_token"]
        lines = client.get("/api/v1/me/ledger", headers={"Authorization": f"Bearer {token}"}).json()["items"]
        assert [(x["kind"], x["amount"], x["balance_after"]) for x in lines] == [
            ("deposit", 1.5, 1.5),
            ("reversal", -1.5, 0),
        ]
        assert lines[0]["outcome_title_zh"] == "居民用电安全" and lines[0]["institution_code"] == "YCCEC"

    def test_listeners_run_once_per_revocation_inside_its_transaction(self, client, db, monkeypatch):
        inst, person = _world(client)
        posted = client.post(
            "/api/v1/completions", json=completion_body(person["account_no"]), headers=inst
        ).json()
        heard = []

        def listener(session, *, completion_id, reason):
            # Inside the revoking unit of work: it already sees the completion as revoked.
            heard.append((completion_id, reason, session.get(Completion, completion_id).state))

        monkeypatch.setattr(completions, "_on_revoked", list(completions._on_revoked))
        assert completions.on_revoked(listener) is listener
        completions.on_revoked(listener)  # registering twice is a no-op
        with db.unit_of_work() as session:
            completions.revoke(session, completion_id=posted["id"], institution_id=None, reason="登记错误")
            completions.revoke(session, completion_id=posted["id"], institution_id=None, reason="again")
        assert heard == [(posted["id"], "登记错误", "revoked")]


def _csv(rows: list[str], encoding: str = "utf-8") -> bytes:
    return ("\n".join(rows) + "\n").encode(encoding)


class TestBatch:
    HEADER = "external_id,account_no,outcome_code,completed_on,score,hours"

    def test_gb18030_csv_with_chinese_headers(self, client):
        inst, person = _world(client)
        data = _csv(
            [
                "外部编号,学习账号,成果代码,完成日期,成绩,学时",
                f"B1,{person['account_no']},YC-ELEC,2026-01-05,,",
                f"B2,{person['account_no']},YC-WECHAT,2026-01-06,88,12",
            ],
            "gb18030",
        )
        r = client.post(
            "/api/v1/completions/batch", content=data, headers=inst | {"Content-Type": "text/csv"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == 2 and r.json()["committed"] is True
        assert (
            client.get(f"/api/v1/learners/{person['account_no']}/balance", headers=inst).json()["total"]
            == 2.5
        )

    def test_a_bad_cell_is_named_as_the_file_names_it_and_quoted_each_language_apart(self, client):
        inst, person = _world(client)
        data = _csv(
            [
                "外部编号,学习账号,成果代码,完成日期,成绩,学时",
                f"D1,{person['account_no']},YC-ELEC,2026/13/45,,",
                f"D2,{person['account_no']},YC-WECHAT,2026-01-06,八十八分以上的成绩请填数字而不是文字说明谢谢合作配合工作,",
            ]
        )
        r = client.post(
            "/api/v1/completions/batch", content=data, headers=inst | {"Content-Type": "text/csv"}
        )
        assert r.status_code == 422
        date_error, score_error = r.json()["errors"]
        assert date_error["field"] == "completed_on"
        assert date_error["message_zh"] == (
            "完成日期 completed_on 的值无效：“2026/13/45”不是日期，应写成 YYYY-MM-DD，如 2026-03-01"
            "（2026/3/1、2026.3.1、2026年3月1日 也可以，后面可带时间如 2026/3/1 0:00；年份在前）"
        )
        assert date_error["message_en"] == (
            "Invalid value for completed_on (完成日期): '2026/13/45' is not a date: write it as YYYY-MM-DD, "
            "e.g. 2026-03-01 (2026/3/1, 2026.3.1 and 2026年3月1日 work too, also with a time after them such as "
            "2026/3/1 0:00; year first)"
        )
        assert (
            "“八十八分以上的成绩请填数字而不是文字说明谢谢合作配合工作”" not in score_error["message_zh"]
        )  # shortened
        assert (
            "“八十八分以上的成绩请填数字" in score_error["message_zh"] and "…”" in score_error["message_zh"]
        )
        assert "expected" not in score_error["message_zh"] and "应为" not in score_error["message_en"]

    def test_all_or_nothing_reports_every_bad_row_and_writes_nothing(self, client, db):
        inst, person = _world(client)
        acct = person["account_no"]
        data = _csv(
            [
                self.HEADER,
                f"C1,{acct},YC-ELEC,2026-01-05,,",
                f"C2,{acct},NOPE,2026-01-05,,",
                f"C3,{acct},YC-WECHAT,2026-01-05,40,",
                "C4,oops",
                f"C5,{acct},YC-ELEC,2026-01-06,,",
            ]
        )
        r = client.post(
            "/api/v1/completions/batch", content=data, headers=inst | {"Content-Type": "text/csv"}
        )
        assert r.status_code == 422 and r.json()["code"] == "batch_rejected"
        assert [(e["line"], e["code"]) for e in r.json()["errors"]] == [
            (3, "outcome_not_found"),
            (4, "score_below_minimum"),
            (5, "malformed_row"),
            (6, "duplicate_completion"),
        ]
        assert _count(db, Completion) == 0 and _count(db, LedgerTransaction) == 0

    @pytest.mark.parametrize("mode", ["all_or_nothing", "partial"])
    def test_a_file_refused_row_by_row_names_every_line_and_words_each_reason_a_hundred_times(
        self, client, db, mode
    ):
        """A term's file with a wrong outcome code on every row: each line is named, by code, and
        the reasons' words come for the first 100 of each code — not 100 000 copies of one sentence."""
        inst, person = _world(client)
        acct = person["account_no"]
        rows = [f"R{i},{acct},NOPE-{i % 2},2026-01-05,," for i in range(230)] + ["R-bad,oops"]
        r = client.post(
            f"/api/v1/completions/batch?mode={mode}",
            content=_csv([self.HEADER, *rows]),
            headers=inst | {"Content-Type": "text/csv"},
        )
        assert r.status_code == (422 if mode == "all_or_nothing" else 200), r.text
        report = r.json()
        assert report["error_counts"] == {"outcome_not_found": 230, "malformed_row": 1}
        assert report["error_lines"] == {"outcome_not_found": list(range(2, 232)), "malformed_row": [232]}
        listed = [(e["line"], e["code"]) for e in report["errors"]]
        assert listed == [(line, "outcome_not_found") for line in range(2, 102)] + [(232, "malformed_row")]
        assert report["errors"][1]["message_zh"] == "找不到学习成果 NOPE-1"
        if mode == "partial":
            assert (report["accepted"], report["rejected"]) == (0, 231)
        assert _count(db, Completion) == 0

    def test_partial_writes_good_rows_and_lists_bad_ones(self, client, db):
        inst, person = _world(client)
        acct = person["account_no"]
        data = _csv([self.HEADER, f"P1,{acct},YC-ELEC,2026-01-05,,", f"P2,{acct},NOPE,2026-01-05,,"])
        r = client.post(
            "/api/v1/completions/batch?mode=partial",
            content=data,
            headers=inst | {"Content-Type": "text/csv"},
        )
        assert r.status_code == 200
        assert (r.json()["accepted"], r.json()["rejected"]) == (1, 1)
        assert r.json()["errors"][0]["line"] == 3
        assert _count(db, Completion) == 1
        # Sending the same file again replays the good row and writes nothing new.
        again = client.post(
            "/api/v1/completions/batch?mode=partial",
            content=data,
            headers=inst | {"Content-Type": "text/csv"},
        )
        assert (again.json()["accepted"], again.json()["replayed"]) == (0, 1)
        assert _count(db, Completion) == 1

    def test_xlsx_upload_multipart(self, client):
        inst, person = _world(client)
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(["external_id", "account_no", "outcome_code", "completed_on", "score"])
        sheet.append(["X1", person["account_no"], "YC-ELEC", date(2026, 2, 1), None])
        sheet.append(["X2", person["account_no"], "YC-WECHAT", date(2026, 2, 2), 75])
        buffer = io.BytesIO()
        book.save(buffer)
        r = client.post(
            "/api/v1/completions/batch",
            headers=inst,
            files={
                "file": (
                    "export.xlsx",
                    buffer.getvalue(),
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                )
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == 2

    def test_xlsx_with_merged_cells_is_refused(self, client, db):
        inst, person = _world(client)
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(["external_id", "account_no", "outcome_code", "completed_on"])
        sheet.append(["M1", person["account_no"], "YC-ELEC", "2026-02-01"])
        sheet.append(["M2", person["account_no"], "YC-ELEC", "2026-02-01"])
        sheet.merge_cells("C2:C3")
        buffer = io.BytesIO()
        book.save(buffer)
        r = client.post(
            "/api/v1/completions/batch", headers=inst, files={"file": ("m.xlsx", buffer.getvalue())}
        )
        assert r.status_code == 422 and r.json()["code"] == "merged_cells"
        assert _count(db, Completion) == 0

    def test_file_level_refusals(self, client):
        inst, _ = _world(client)
        csv_headers = inst | {"Content-Type": "text/csv"}
        missing = client.post(
            "/api/v1/completions/batch", content=b"external_id,outcome_code\nA,B\n", headers=csv_headers
        )
        assert missing.json()["code"] == "missing_columns"
        no_rows = client.post(
            "/api/v1/completions/batch", headers=csv_headers, content=(self.HEADER + ",remarks\n").encode()
        )
        assert no_rows.json()["code"] == "empty_file"  # an extra column is fine (ignored), no rows is not
        utf16 = client.post(
            "/api/v1/completions/batch", content=(self.HEADER + "\n").encode("utf-16"), headers=csv_headers
        )
        assert utf16.json()["code"] == "wrong_encoding"

    def test_oversized_upload_is_413(self, client, settings):
        inst, _ = _world(client)
        settings.max_upload_bytes = 1024 * 1024  # the same check as 20 MB, without sending 20 MB
        big = (self.HEADER + "\n").encode() + b"x" * (settings.max_upload_bytes + 100_000)
        r = client.post("/api/v1/completions/batch", content=big, headers=inst | {"Content-Type": "text/csv"})
        assert r.status_code == 413 and r.json()["code"] == "upload_too_large"

    def test_too_many_rows_is_413_and_writes_nothing(self, client, settings, db):
        inst, person = _world(client)
        settings.max_batch_rows = 3
        rows = [self.HEADER] + [f"R{i},{person['account_no']},YC-ELEC,2026-01-05,," for i in range(4)]
        r = client.post(
            "/api/v1/completions/batch?mode=partial",
            content=_csv(rows),
            headers=inst | {"Content-Type": "text/csv"},
        )
        assert r.status_code == 413 and r.json()["code"] == "too_many_rows"
        assert _count(db, Completion) == 0

    def test_json_batch(self, client):
        inst, person = _world(client)
        rows = [
            {
                "external_id": "J1",
                "account_no": person["account_no"],
                "outcome_code": "YC-ELEC",
                "completed_on": "2026-01-01",
            }
        ]
        r = client.post("/api/v1/completions/batch", json={"mode": "partial", "rows": rows}, headers=inst)
        assert r.status_code == 200 and r.json()["accepted"] == 1


class TestHostileBatchBodies:
    """Found by schemathesis: odd JSON must be a 4xx, never a 500."""

    def test_rows_that_are_not_objects(self, client):
        inst, _ = _world(client)
        r = client.post(
            "/api/v1/completions/batch",
            content=b"[null, null]",
            headers=inst | {"Content-Type": "application/json"},
        )
        assert r.status_code == 422 and r.json()["code"] == "validation_error"

    def test_huge_numbers_with_an_idempotency_key(self, client):
        inst, person = _world(client)
        rows = [
            {
                "external_id": "H1",
                "account_no": person["account_no"],
                "outcome_code": "YC-ELEC",
                "completed_on": "2026-01-01",
                "hours": 11069846641593822,
            }
        ]
        r = client.post(
            "/api/v1/completions/batch",
            json={"mode": "partial", "rows": rows},
            headers=inst | {"Idempotency-Key": "big"},
        )
        assert r.status_code == 200 and r.json()["errors"][0]["code"] == "invalid_value"


def test_ids_beyond_64_bits_are_a_422_not_a_driver_overflow(client):
    """Found by schemathesis: integer path ids the database cannot hold."""
    huge = "104766909388948750336"
    assert client.get(f"/api/v1/status-lists/{huge}").status_code == 422
    assert client.post(f"/api/v1/conversion-rules/{huge}/approve", headers=OPERATOR).status_code == 422
