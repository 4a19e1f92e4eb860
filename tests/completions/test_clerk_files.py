"""What clerks upload: real exports from Excel and WPS (the user review of 2026-12-02).

Each file is built here as the office software writes it — openpyxl for XLSX (number cells, two
sheets, a title row), GB18030 for CSV — and sent through ``POST /api/v1/completions/batch``."""

from __future__ import annotations

import io
from datetime import date

import openpyxl
from sqlalchemy import func, select

from creditbank.completions.models import Completion
from creditbank.kit import clock
from creditbank.kit.checkdigit import mod11_2
from creditbank.learners.models import Learner
from tests.conftest import institution, learner, national_id, outcome

BATCH = "/api/v1/completions/batch"


def _world(client):
    inst = institution(client)
    outcome(client, inst)
    outcome(client, inst, "YC-TEA", title_zh="茶艺入门", credits=1)
    number = national_id(born=date(1955, 3, 5))
    person = learner(client, inst, national_id=number)
    return inst, person, number


def _count(db) -> int:
    with db.reader() as session:
        return session.execute(select(func.count()).select_from(Completion)).scalar_one()


def _csv(client, inst, text: str, *, encoding: str = "utf-8", mode: str = "all_or_nothing"):
    return client.post(
        f"{BATCH}?mode={mode}", content=text.encode(encoding), headers=inst | {"Content-Type": "text/csv"}
    )


def _xlsx(client, inst, book: openpyxl.Workbook, mode: str = "all_or_nothing"):
    out = io.BytesIO()
    book.save(out)
    return client.post(f"{BATCH}?mode={mode}", headers=inst, files={"file": ("名单.xlsx", out.getvalue())})


def _book(*rows: list[object]) -> openpyxl.Workbook:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    return book


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


class TestIdNumbersExcelStoredAsNumbers:
    def test_scientific_notation_in_a_csv_says_excel_lost_the_digits(self, client, db):
        inst, _, _ = _world(client)
        r = _csv(
            client,
            inst,
            "外部编号,身份证号,成果代码,完成日期\r\nE1,5.00118E+17,YC-ELEC,2026-03-05\r\n",
            encoding="gb18030",
        )
        assert r.status_code == 422, r.text
        (error,) = r.json()["errors"]
        assert (error["line"], error["code"]) == (2, "invalid_national_id")
        assert "5.00118E+17 是科学计数法" in error["message_zh"] and "存成了数字" in error["message_zh"]
        assert "“文本”格式" in error["message_zh"]
        assert "Text (文本)" in error["message_en"] and "lost its last digits" in error["message_en"]
        assert _count(db) == 0

    def test_a_number_cell_in_the_id_column_says_excel_lost_the_digits(self, client, db):
        inst, _, number = _world(client)
        # What Excel keeps of an 18-digit ID typed into a General cell: a double, 15 digits.
        book = _book(
            ["external_id", "national_id", "outcome_code", "completed_on"],
            ["E1", float(number), "YC-ELEC", "2026-03-05"],
            ["E2", number, "YC-TEA", "2026-03-05"],  # the same ID as text: fine
        )
        r = _xlsx(client, inst, book, mode="partial")
        assert r.status_code == 200, r.text
        (error,) = r.json()["errors"]
        assert (error["line"], error["code"]) == (2, "invalid_national_id")
        assert "存成了数字" in error["message_zh"] and "文本" in error["message_zh"]
        assert "校验位" not in error["message_zh"]  # not the misleading check-digit refusal
        assert r.json()["accepted"] == 1

    def test_an_id_ending_in_000_with_a_wrong_check_digit_says_the_likely_cause(self, client):
        inst, _, _ = _world(client)
        # What Excel makes of an ID: 15 digits kept, then 000 (unless the check digit happens to be 0).
        number = next(n for n in (national_id() for _ in range(30)) if mod11_2(n[:15] + "00") != "0")
        r = _csv(
            client,
            inst,
            f"external_id,national_id,outcome_code,completed_on\nE1,{number[:15]}000,YC-ELEC,2026-03-05\n",
        )
        (error,) = r.json()["errors"]
        assert "校验位不正确" in error["message_zh"] and "Excel" in error["message_zh"]


class TestFullWidthCharacters:
    def test_full_width_id_and_account_numbers_and_codes_in_a_batch(self, client, db):
        inst, person, number = _world(client)
        text = (
            "外部编号,学习账号,身份证号,成果代码,完成日期\r\n"
            f"E1,{_fullwidth(person['account_no'])},,YC-ELEC,２０２６/３/５\r\n"
            f"E2,,{_fullwidth(number)},{_fullwidth('YC-TEA')},2026-03-05\r\n"
        )
        r = _csv(client, inst, text, encoding="gb18030")
        assert (r.status_code, r.json()["accepted"]) == (200, 2), r.text
        assert _count(db) == 2

    def test_digits_of_other_scripts_are_refused_not_read(self, client):
        inst, person, _ = _world(client)
        arabic = person["account_no"][:2] + "".join(chr(0x0660 + int(d)) for d in person["account_no"][2:12])
        # A superscript of another digit than the account's: NFKC folds it (to a wrong number).
        other = (int(person["account_no"][11]) + 1) % 10
        superscript = person["account_no"][:11] + "⁰¹²³⁴⁵⁶⁷⁸⁹"[other] + person["account_no"][12]
        text = "external_id,account_no,outcome_code,completed_on\n" + "".join(
            f"E{i},{a},YC-ELEC,2026-03-05\n"
            for i, a in enumerate((arabic + person["account_no"][12], superscript))
        )
        r = _csv(client, inst, text, mode="partial")
        assert r.status_code == 200, r.text  # "²" passed isdigit() and then broke int(): a 500
        assert [e["code"] for e in r.json()["errors"]] == ["learner_not_found", "learner_not_found"]

    def test_enrolment_takes_a_full_width_id_number_and_phone(self, client, db):
        inst, person, number = _world(client)
        r = client.post(
            "/api/v1/learners",
            json={
                "name": "张桂兰",
                "national_id": _fullwidth(number),
                "phone": "１３８\u3000００１３\u3000８０００",
            },
            headers=inst,
        )
        assert r.status_code == 200, r.text
        assert r.json()["account_no"] == person["account_no"]  # the same person, found by the same number
        other = national_id()
        r = client.post(
            "/api/v1/learners",
            json={"name": "李明", "national_id": other, "phone": "１３８ ００１３ ８０００"},
            headers=inst,
        )
        assert r.status_code == 201, r.text
        with db.reader() as session:
            phone = session.execute(
                select(Learner.phone).where(Learner.account_no == r.json()["account_no"])
            ).scalar_one()
        assert phone == "138 0013 8000"

    def test_a_phone_that_is_not_one_is_refused_by_the_service_too(self, db):
        from creditbank.errors import CreditbankError
        from creditbank.learners.service import check_phone

        assert check_phone("１３８－００１３－８０００") == "138-0013-8000"
        assert check_phone("  ") is None
        try:
            check_phone("请打电话")
        except CreditbankError as exc:
            assert exc.code == "invalid_value" and "手机号" in exc.message("zh")
        else:
            raise AssertionError("not refused")


class TestDatesWithATime:
    def test_what_wps_writes_for_a_date_cell_is_accepted_and_garbage_refused(self, client, db):
        inst, person, _ = _world(client)
        acct = person["account_no"]
        text = (
            "外部编号,学习账号,成果代码,完成日期\r\n"
            f"E1,{acct},YC-ELEC,2026/3/5 0:00\r\n"
            f"E2,{acct},YC-TEA,2026/03/06 00:00:00\r\n"
            f"E3,{acct},YC-TEA,2026/3/7 25:00\r\n"
            f"E4,{acct},YC-TEA,2026/3/7 下午\r\n"
        )
        r = _csv(client, inst, text, encoding="gb18030", mode="partial")
        assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
        assert [(e["line"], e["field"]) for e in r.json()["errors"]] == [
            (4, "completed_on"),
            (5, "completed_on"),
        ]
        with db.reader() as session:
            dates = sorted(session.execute(select(Completion.completed_on)).scalars())
        assert dates == [date(2026, 3, 5), date(2026, 3, 6)]

    def test_a_time_of_day_is_accepted_and_only_the_date_kept(self, client, db):
        inst, person, _ = _world(client)
        r = _csv(
            client,
            inst,
            f"external_id,account_no,outcome_code,completed_on\nE1,{person['account_no']},YC-ELEC,2026-03-05 14:30\n",
        )
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text


class TestHeaders:
    def test_a_title_row_above_the_header_is_skipped_and_said(self, client, db):
        inst, person, _ = _world(client)
        book = _book(
            ["永川区社区教育学院2026年春季结业名单"],
            ["外部编号", "学习账号", "成果代码", "完成日期"],
            ["E1", person["account_no"], "YC-ELEC", "2026-03-05"],
        )
        r = _xlsx(client, inst, book)
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        assert r.json()["file"]["header_line"] == 2
        # A CSV too, with the title merged over the columns (WPS writes the commas).
        text = f"永川区社区教育学院2026年春季结业名单,,,\r\n\r\n外部编号,学习账号,成果代码,完成日期\r\nE2,{person['account_no']},YC-TEA,2026-03-05\r\n"
        r = _csv(client, inst, text, encoding="gb18030")
        assert (r.status_code, r.json()["accepted"], r.json()["file"]["header_line"]) == (200, 1, 3), r.text

    def test_a_merged_title_above_the_header_is_fine_but_merged_data_is_not(self, client):
        inst, person, _ = _world(client)
        book = _book(
            ["2026年春季结业名单", None, None, None],
            ["外部编号", "学习账号", "成果代码", "完成日期"],
            ["E1", person["account_no"], "YC-ELEC", "2026-03-05"],
        )
        book.active.merge_cells("A1:D1")
        r = _xlsx(client, inst, book)
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        book.active.append(["E2", person["account_no"], "YC-TEA", "2026-03-05"])
        book.active.append(["E3", None, None, None])
        book.active.merge_cells("C4:C5")
        r = _xlsx(client, inst, book)
        assert (r.status_code, r.json()["code"]) == (422, "merged_cells")
        assert "C4:C5" in r.json()["title"] and "A1:D1" not in r.json()["title"]

    def test_no_header_says_which_columns_a_header_names(self, client):
        inst, person, _ = _world(client)
        r = _csv(client, inst, f"名单\r\nE1,{person['account_no']},YC-ELEC,2026-03-05\r\n")
        assert (r.status_code, r.json()["code"]) == (422, "header_not_found"), r.text
        assert "外部编号 external_id" in r.json()["title"] and "完成日期 completed_on" in r.json()["title"]
        en = client.post(
            BATCH, content=b"x\r\ny\r\n", headers=inst | {"Content-Type": "text/csv", "Accept-Language": "en"}
        )
        assert "No header in the first 10 lines" in en.json()["title"]

    def test_extra_columns_are_ignored_and_listed(self, client, db):
        inst, person, _ = _world(client)
        text = f"外部编号,姓名,学习账号,成果代码,完成日期,备注\r\nE1,张桂兰,{person['account_no']},YC-ELEC,2026-03-05,补录\r\n"
        r = _csv(client, inst, text, encoding="gb18030")
        assert (r.status_code, r.json()["accepted"]) == (200, 1), r.text
        assert r.json()["file"]["ignored_columns"] == ["备注"]  # 姓名 is read: checked, not imported

    def test_the_active_sheet_is_read_and_named(self, client):
        inst, person, _ = _world(client)
        book = _book(["填表说明：每行一条结业记录"])
        book.active.title = "说明"
        data = book.create_sheet("结业名单")
        data.append(["外部编号", "学习账号", "成果代码", "完成日期"])
        data.append(["E1", person["account_no"], "YC-ELEC", "2026-03-05"])
        book.active = 1
        r = _xlsx(client, inst, book)
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        assert r.json()["file"]["sheet"] == "结业名单"

    def test_the_one_sheet_with_a_header_is_read_when_the_active_one_has_none(self, client):
        inst, person, _ = _world(client)
        book = _book(["填表说明：每行一条结业记录"])
        book.active.title = "说明"
        data = book.create_sheet("结业名单")
        data.append(["外部编号", "学习账号", "成果代码", "完成日期"])
        data.append(["E1", person["account_no"], "YC-ELEC", "2026-03-05"])
        book.active = 0  # saved while the notes were showing
        r = _xlsx(client, inst, book)
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        assert r.json()["file"]["sheet"] == "结业名单"


class TestRepeatedRows:
    def test_an_exact_repeat_counts_once_and_names_the_first_line(self, client, db):
        inst, person, _ = _world(client)
        row = f"E1,{person['account_no']},YC-ELEC,2026-03-05"
        r = _csv(client, inst, f"external_id,account_no,outcome_code,completed_on\n{row}\n{row}\n")
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["accepted"], body["duplicates"], body["rejected"], body["total_rows"]) == (1, 1, 0, 2)
        (warning,) = body["warnings"]
        assert (warning["line"], warning["code"]) == (3, "duplicate_in_file")
        assert "第 2 行" in warning["message_zh"] and "line 2" in warning["message_en"]
        assert _count(db) == 1
        # The same file again: the original, once (not two replays).
        again = _csv(client, inst, f"external_id,account_no,outcome_code,completed_on\n{row}\n{row}\n")
        assert (again.json()["replayed"], again.json()["duplicates"], again.json()["accepted"]) == (1, 1, 0)

    def test_the_same_id_with_other_content_is_still_refused(self, client, db):
        inst, person, _ = _world(client)
        text = (
            "external_id,account_no,outcome_code,completed_on\n"
            f"E1,{person['account_no']},YC-ELEC,2026-03-05\n"
            f"E1,{person['account_no']},YC-ELEC,2026-03-06\n"
        )
        r = _csv(client, inst, text)
        assert (r.status_code, r.json()["code"]) == (422, "batch_rejected")
        assert [(e["line"], e["code"]) for e in r.json()["errors"]] == [(3, "external_id_conflict")]
        assert _count(db) == 0
        (error,) = r.json()["errors"]  # which record has the id: the other line of this file
        assert error["message_zh"] == "外部编号 E1 已用于内容不同的记录：见本文件第 2 行"
        assert (
            error["message_en"]
            == "external_id E1 was already used with different content: see line 2 of this file"
        )

    def test_an_id_posted_before_with_other_content_says_when_and_for_whom(self, client, db):
        inst, person, _ = _world(client)
        account = person["account_no"]
        first = client.post(
            "/api/v1/completions",
            json={
                "external_id": "E1",
                "account_no": account,
                "outcome_code": "YC-ELEC",
                "completed_on": "2026-03-05",
            },
            headers=inst,
        )
        assert first.status_code == 201, first.text
        text = (
            "external_id,account_no,outcome_code,completed_on\n"
            f"E1,{account},YC-TEA,2026-03-05\n"
            f"E2,{account},YC-TEA,2026-03-06\n"
        )
        r = _csv(client, inst, text, mode="partial")
        assert (r.status_code, r.json()["accepted"]) == (200, 1), r.text
        (error,) = r.json()["errors"]
        assert (error["line"], error["code"]) == (2, "external_id_conflict")
        today = clock.today().isoformat()
        assert error["message_zh"] == (
            f"外部编号 E1 已用于内容不同的记录：已于 {today} 登记（学习账号 {account}，成果代码 YC-ELEC）"
        )
        assert error["message_en"].endswith(f": posted on {today} (account {account}, outcome YC-ELEC)")
        assert _count(db) == 2

    def test_hundreds_of_repeats_are_all_counted_and_the_first_hundred_listed(self, client, db):
        inst, person, _ = _world(client)
        row = f"E1,{person['account_no']},YC-ELEC,2026-03-05"
        text = "external_id,account_no,outcome_code,completed_on\n" + f"{row}\n" * 251
        r = _csv(client, inst, text)
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["accepted"], body["duplicates"], body["total_rows"]) == (1, 250, 251)
        assert body["warning_counts"] == {"duplicate_in_file": 250}
        assert [w["line"] for w in body["warnings"]] == list(range(3, 103))  # the first 100, in order
        assert _count(db) == 1

    def test_too_many_rows_says_to_split_the_file(self, client, settings):
        inst, person, _ = _world(client)
        settings.max_batch_rows = 2
        rows = "".join(f"R{i},{person['account_no']},YC-ELEC,2026-03-05\n" for i in range(3))
        r = _csv(client, inst, "external_id,account_no,outcome_code,completed_on\n" + rows)
        assert (r.status_code, r.json()["code"]) == (413, "too_many_rows")
        assert "拆成" in r.json()["title"] and "不超过 2 行" in r.json()["title"]


class TestNameColumn:
    """A 姓名 column is checked against the learner registered under the row's ID number or account:
    a name that differs most likely means a mistyped ID number — credits for another resident."""

    @staticmethod
    def _names(number: str, *rows: tuple[str, str, str]) -> str:
        lines = ["外部编号,身份证号,姓名,成果代码,完成日期"]
        lines += [f"{external_id},{number},{name},{code},2026-03-05" for external_id, name, code in rows]
        return "\r\n".join(lines) + "\r\n"

    def test_a_name_other_than_the_registered_one_refuses_the_row_without_saying_that_name(self, client, db):
        inst, _, number = _world(client)  # 张桂兰
        text = self._names(number, ("E1", "张桂兰", "YC-ELEC"), ("E2", "李建国", "YC-TEA"))
        r = _csv(client, inst, text, encoding="gb18030")
        assert (r.status_code, r.json()["code"]) == (422, "batch_rejected"), r.text
        (error,) = r.json()["errors"]
        assert (error["line"], error["code"], error["field"]) == (3, "name_mismatch", "name")
        assert error["message_zh"].startswith(
            "姓名“李建国”与这个身份证号登记的姓名不一致：请核对身份证号是否填错"
        )
        assert "开户机构或区学分银行更正姓名" in error["message_zh"]
        assert (
            "does not match the name registered for this ID number: check the ID number"
            in error["message_en"]
        )
        assert "张桂兰" not in error["message_zh"] + error["message_en"]  # the registered name is not told
        assert _count(db) == 0  # all or nothing: nothing written
        partial = _csv(client, inst, text, encoding="gb18030", mode="partial")
        assert (partial.json()["accepted"], partial.json()["rejected"]) == (1, 1), partial.text
        assert _count(db) == 1

    def test_an_account_number_row_names_the_account_to_check(self, client):
        inst, person, _ = _world(client)
        account = person["account_no"]
        r = _csv(
            client,
            inst,
            f"外部编号,学习账号,姓名,成果代码,完成日期\r\nE1,{account},王秀英,YC-ELEC,2026-03-05\r\n",
        )
        (error,) = r.json()["errors"]
        assert error["code"] == "name_mismatch"
        assert error["message_zh"].startswith(
            f"姓名“王秀英”与学习账号 {account} 登记的姓名不一致：请核对学习账号"
        )

    def test_spaces_full_width_letters_middle_dots_and_case_are_the_same_name(self, client, db):
        inst = institution(client)
        codes = [f"YC-{n}" for n in range(4)]
        for code in codes:
            outcome(client, inst, code, credits=1)
        spellings = {
            "买买提·吐尔逊": ["买买提 • 吐尔逊", "买买提．吐尔逊", "买买提・吐尔逊", "买买提.吐尔逊"],
            "张桂兰": ["张　桂兰", " 张 桂 兰", "张桂兰", "张\u200b桂兰"],  # the last: a zero-width space
            "Li Na": ["LI NA", "Ｌｉ Ｎａ", "LiNa", "li  na"],
        }
        lines = ["external_id,account_no,name,outcome_code,completed_on"]
        for n, (registered, written) in enumerate(spellings.items()):
            account = learner(client, inst, name=registered)["account_no"]
            lines += [f"E{n}-{k},{account},{name},{codes[k]},2026-03-05" for k, name in enumerate(written)]
        lines.append(f"E9,{account},李娜,YC-0,2026-03-05")  # Li Na in characters: not what was registered
        r = _csv(client, inst, "\n".join(lines) + "\n", mode="partial")
        assert r.status_code == 200 and r.json()["accepted"] == 12, r.text
        assert [(e["line"], e["code"]) for e in r.json()["errors"]] == [(14, "name_mismatch")]

    def test_a_name_the_learner_had_before_a_correction_still_matches(self, client, db):
        inst, _, _ = _world(client)
        number = national_id()
        person = learner(client, inst, name="张小明", national_id=number)
        corrected = client.post(
            f"/api/v1/learners/{person['account_no']}/name-corrections",
            json={"name": "张晓明", "reason": "开户时录错"},
            headers=inst,
        )
        assert corrected.status_code == 201, corrected.text
        # The LMS still has the old spelling on one row, the new one on the other: both are theirs.
        text = self._names(number, ("E1", "张小明", "YC-ELEC"), ("E2", "张晓明", "YC-TEA"))
        r = _csv(client, inst, text)
        assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
        # Someone else's name is still refused.
        other = _csv(client, inst, self._names(number, ("E3", "张桂兰", "YC-ELEC")))
        assert [e["code"] for e in other.json()["errors"]] == ["name_mismatch"]

    def test_a_json_batch_may_send_the_name_too(self, client, db):
        inst, person, _ = _world(client)
        row = {"external_id": "J1", "account_no": person["account_no"], "outcome_code": "YC-ELEC",
               "completed_on": "2026-03-05"}  # fmt: skip
        wrong = client.post(BATCH, json={"rows": [row | {"name": "李建国"}]}, headers=inst)
        assert [(e["line"], e["code"]) for e in wrong.json()["errors"]] == [(1, "name_mismatch")]
        right = client.post(BATCH, json={"rows": [row | {"name": "张桂兰"}]}, headers=inst)
        assert right.status_code == 200 and right.json()["accepted"] == 1, right.text
        assert _count(db) == 1
