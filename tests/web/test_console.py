"""The institution console without a browser: catalogue, enrolment and the slip, one completion,
the upload → refused rows → fix → upload loop, revocation, the approver's queue — and the refusals
(bad files, too big, merged cells, wrong role, another institution), each changing nothing."""

from __future__ import annotations

import importlib
import io
import re
import zipfile

import openpyxl
import pytest
from sqlalchemy import update
from sqlmodel import select

from creditbank.completions.models import Completion, CompletionImport
from creditbank.learners.models import Learner
from creditbank.staff.models import StaffAction, StaffUpload
from tests.conftest import OPERATOR, institution, learner, national_id
from tests.web.consoleworld import XLSX, balance, build, csrf_of, read_sheet, sheet
from tests.web.staffworld import STAFF_PASSWORD, add_staff, csrf, staff_sign_in


def error_text(response) -> str:
    match = re.search(r'id="error"[^>]*>(.*?)<', response.text)
    return match.group(1) if match else ""


@pytest.fixture
def world(client):
    return build(client)


def _upload(client, data: bytes, name: str = "term.xlsx", kind: str = XLSX, code: str = "YCCEC"):
    token = csrf(client, f"/console/{code}/upload")
    return client.post(
        f"/console/{code}/upload", data={"csrf_token": token}, files={"file": (name, data, kind)}
    )


ID_HEADER = ["external_id", "national_id", "outcome_code", "completed_on"]


def _refused_blobs(client) -> list[bytes]:
    with client.app.state.db.reader() as session:
        uploads = session.exec(select(StaffUpload))
        return [blob for u in uploads if (blob := u.refused_rows or u.refused_xlsx) is not None]


def _stored_text(blob: bytes) -> str:
    """Everything readable in a stored file without the secret: an XLSX's unzipped XML, or the bytes."""
    if zipfile.is_zipfile(io.BytesIO(blob)):
        with zipfile.ZipFile(io.BytesIO(blob)) as book:
            return " ".join(book.read(name).decode("utf-8", "replace") for name in book.namelist())
    return blob.decode("latin-1")


def _actions(client) -> list[tuple[str, str]]:
    with client.app.state.db.reader() as session:
        return [(a.action, a.subject) for a in session.exec(select(StaffAction).order_by(StaffAction.id))]


class TestCatalogue:
    def test_adding_then_editing_an_outcome_shows_both_versions(self, client, world):
        staff_sign_in(client, "yc-clerk")
        form = {"csrf_token": csrf(client, "/console/YCCEC/catalogue/new"), "outcome_code": "YC-TEA",
                "title_zh": "茶艺入门", "category": "culture_leisure", "level": "1", "credits": "0.5"}  # fmt: skip
        added = client.post("/console/YCCEC/catalogue", data=form, follow_redirects=False)
        assert added.status_code == 303 and added.headers["location"].endswith("saved=YC-TEA")
        edited = client.post("/console/YCCEC/catalogue", data=form | {"credits": "1"}, follow_redirects=False)
        assert edited.status_code == 303
        page = client.get("/console/YCCEC/catalogue/YC-TEA").text
        assert re.findall(r"<strong>v(\d)</strong>", page) == ["2", "1"]
        api = client.get("/api/v1/catalogue", headers=world.yc).json()
        assert {o["code"]: (o["version"], o["credits"]) for o in api}["YC-TEA"] == (2, 1.0)
        assert ("catalogue", "YC-TEA v2") in _actions(client)

    def test_item_6_a_suspended_institutions_clerk_publishes_nothing(self, client, world):
        staff_sign_in(client, "yc-clerk")
        token = csrf(client, "/console/YCCEC/catalogue/new")
        assert client.post("/api/v1/institutions/YCCEC/suspend", headers=OPERATOR).status_code == 200
        form = {"csrf_token": token, "outcome_code": "YC-TEA", "title_zh": "茶艺入门",
                "category": "culture_leisure", "level": "1", "credits": "0.5"}  # fmt: skip
        response = client.post("/console/YCCEC/catalogue", data=form, follow_redirects=False)
        assert response.status_code == 403 and "暂停" in error_text(response), response.text[:500]
        assert "YC-TEA" not in {o["code"] for o in client.get("/api/v1/catalogue", headers=world.yc).json()}
        assert ("catalogue", "YC-TEA v1") not in _actions(client)

    def test_a_pending_institutions_clerk_is_told_in_words_to_wait_for_accreditation(self, client, world):
        institution(client, "XDSQ", "新都社区教育学院", accredit=False)
        add_staff(client, "XDSQ", "xd-clerk", "clerk")
        staff_sign_in(client, "xd-clerk")
        form = {"csrf_token": csrf(client, "/console/XDSQ/catalogue/new"), "outcome_code": "XD-TEA",
                "title_zh": "茶艺入门", "category": "culture_leisure", "level": "1", "credits": "0.5"}  # fmt: skip
        response = client.post("/console/XDSQ/catalogue", data=form, follow_redirects=False)
        said = error_text(response)
        assert response.status_code == 403 and "尚未获得认证" in said and "不能发布课程" in said, said
        assert "institution_not_accredited" not in response.text and "区学分银行" in said, said
        assert 'value="茶艺入门"' in response.text  # what was typed is kept for after accreditation
        assert not client.get("/console/XDSQ/catalogue").text.count("XD-TEA")

    def test_a_bad_level_is_said_in_words_and_nothing_is_added(self, client, world):
        staff_sign_in(client, "yc-clerk")
        response = client.post(
            "/console/YCCEC/catalogue",
            data={
                "csrf_token": csrf(client, "/console/YCCEC/catalogue/new"),
                "outcome_code": "YC-X",
                "title_zh": "x",
                "category": "community",
                "level": "99",
                "credits": "1",
            },
        )
        assert response.status_code == 422 and "level" in error_text(response)
        assert "YC-X" not in {o["code"] for o in client.get("/api/v1/catalogue", headers=world.yc).json()}

    def test_a_title_with_a_control_character_is_refused_in_words(self, client, world):
        staff_sign_in(client, "yc-clerk")
        form = {"csrf_token": csrf(client, "/console/YCCEC/catalogue/new"), "outcome_code": "YC-X",
                "title_zh": "茶艺\u0000入门", "category": "culture_leisure", "level": "1", "credits": "0.5"}  # fmt: skip
        response = client.post("/console/YCCEC/catalogue", data=form)
        assert response.status_code == 422 and "不可见或控制字符" in error_text(response)
        assert "YC-X" not in {o["code"] for o in client.get("/api/v1/catalogue", headers=world.yc).json()}


class TestEnrolment:
    def test_a_typed_district_is_written_as_the_banks_and_an_unknown_one_refused(self, client, world):
        population = [{"district": d, "age_band": "60_plus", "residents": 100} for d in ("永川区", "临淄区")]
        assert client.put("/api/v1/stats/population", json=population, headers=OPERATOR).status_code == 200
        staff_sign_in(client, "yc-clerk")

        def enrol(district: str):
            return client.post(
                "/console/YCCEC/enrol",
                data={
                    "csrf_token": csrf(client, "/console/YCCEC/enrol"),
                    "name": "刘淑芬",
                    "national_id": national_id(),
                    "district": district,
                },
            )

        form = client.get("/console/YCCEC/enrol").text
        assert '<select id="district" name="district">' in form and '<option value="永川区">' in form
        response = enrol("重庆市永川区")  # an older form, or a script posting the form
        assert response.status_code == 201, error_text(response)
        account = re.search(r'id="slip-account">([^<]+)<', response.text).group(1)
        with client.app.state.db.reader() as session:
            stored = session.exec(select(Learner.district).where(Learner.account_no == account)).one()
        assert stored == "永川区"
        refused = enrol("火星区")
        assert refused.status_code == 422 and "临淄区、永川区" in error_text(refused)
        assert '<select id="district" name="district">' in refused.text

    def test_the_slip_carries_a_code_that_activates_the_account(self, client, world):
        staff_sign_in(client, "yc-clerk")
        response = client.post(
            "/console/YCCEC/enrol",
            data={
                "csrf_token": csrf(client, "/console/YCCEC/enrol"),
                "name": "赵德芳",
                "national_id": "11010519491231002X",
            },
        )
        assert response.status_code == 201
        account = re.search(r'id="slip-account">([^<]+)<', response.text).group(1)
        code = re.search(r'id="slip-code">([^<]+)<', response.text).group(1)
        assert "赵德芳" in response.text and "/activate" in response.text
        assert "11010519491231002X" not in response.text
        activated = client.post(
            "/api/v1/auth/activate",
            json={"account_no": account, "activation_code": code, "password": "长城长城12345"},
        )
        assert activated.status_code == 200
        assert ("enrol", f"{account} (new)") in _actions(client)

    def test_a_wrong_id_number_is_refused_and_not_echoed(self, client, world):
        staff_sign_in(client, "yc-clerk")
        response = client.post(
            "/console/YCCEC/enrol",
            data={
                "csrf_token": csrf(client, "/console/YCCEC/enrol"),
                "name": "赵德芳",
                "national_id": "110105194912310021",
            },
        )
        assert response.status_code == 422 and "身份证号无效" in error_text(response)
        assert "110105194912310021" not in response.text

    def test_full_width_id_number_and_phone_are_read_as_typed_in_a_chinese_input_method(self, client, world):
        """The form stored １３８ ００１３ ８０００ as typed while the API refused it; the full-width ID
        was 身份证号无效：地区码不存在."""
        staff_sign_in(client, "yc-clerk")
        number = national_id()
        full = "".join(chr(ord(c) + 0xFEE0) for c in number)
        response = client.post(
            "/console/YCCEC/enrol",
            data={
                "csrf_token": csrf(client, "/console/YCCEC/enrol"),
                "name": "刘淑芬",
                "national_id": full,
                "phone": "１３８\u3000００１３\u3000８０００",
            },
        )
        assert response.status_code == 201, error_text(response)
        account = re.search(r'id="slip-account">([^<]+)<', response.text).group(1)
        with client.app.state.db.reader() as session:
            phone = session.exec(select(Learner.phone).where(Learner.account_no == account)).one()
        assert phone == "138 0013 8000"
        again = learner(
            client, world.yc, name="刘淑芬", national_id=number
        )  # the ASCII number: the same person
        assert again["account_no"] == account
        refused = client.post(
            "/console/YCCEC/enrol",
            data={
                "csrf_token": csrf(client, "/console/YCCEC/enrol"),
                "name": "刘淑芬",
                "national_id": national_id(),
                "phone": "请打电话",
            },
        )
        assert refused.status_code == 422 and "手机号" in error_text(refused)

    def test_the_same_id_number_under_another_name_is_shown_to_the_clerk(self, client, world):
        staff_sign_in(client, "yc-clerk")
        number = national_id()

        def enrol(name: str):
            token = csrf(client, "/console/YCCEC/enrol")
            return client.post(
                "/console/YCCEC/enrol", data={"csrf_token": token, "name": name, "national_id": number}
            )

        assert enrol("王秀英").status_code == 201
        same = enrol("王秀英")
        assert same.status_code == 200 and 'id="name-differs"' not in same.text
        other = enrol("王秀荣")
        assert other.status_code == 200
        warning = re.search(r'id="name-differs"[^>]*>(.*?)</p>', other.text, re.S).group(1)
        assert "该身份证号已登记为 王秀英" in warning and "王秀荣" in warning
        account = re.search(r'id="slip-account">([^<]+)<', other.text).group(1)
        assert re.search(r'id="slip-name">([^<]+)<', other.text).group(1) == "王秀英"
        assert ("enrol", f"{account} (again, name differs)") in _actions(client)

    def test_pasted_invisible_characters(self, client, world):
        """A name pasted from WeChat: a zero-width space is dropped, a right-to-left override refused."""
        staff_sign_in(client, "yc-clerk")

        def enrol(name: str):
            token = csrf(client, "/console/YCCEC/enrol")
            data = {"csrf_token": token, "name": name, "national_id": national_id()}
            return client.post("/console/YCCEC/enrol", data=data)

        refused = enrol("赵\u202e德芳")
        assert refused.status_code == 422 and "不可见或控制字符" in error_text(refused)
        assert "U+202E" in error_text(refused)
        assert not any(action == "enrol" and "new" in subject for action, subject in _actions(client))
        blank = enrol(" \u200b ")
        assert blank.status_code == 422 and "姓名" in error_text(blank)
        accepted = enrol("赵\u200b德芳")
        assert accepted.status_code == 201 and "赵德芳" in accepted.text and "\u200b" not in accepted.text


class TestLearnerName:
    """The learner's page: a clerk of the enrolling school corrects a mistyped name; the old name,
    the reason and the clerk stay in the history, which the learner sees on their own page."""

    def _correct(self, client, account: str, name: str, reason: str = "开户时录错了字", code: str = "YCCEC"):
        token = csrf(client, f"/console/{code}/learners/{account}")
        return client.post(
            f"/console/{code}/learners/{account}/name",
            data={"csrf_token": token, "name": name, "reason": reason},
            follow_redirects=False,
        )

    def test_a_clerk_corrects_a_name_and_the_history_shows_who_and_why(self, client, world):
        account = world.people[2]  # enrolled by YCCEC as 王秀英
        staff_sign_in(client, "yc-clerk")
        page = client.get(f"/console/YCCEC/learners/{account}")
        assert page.status_code == 200 and 'id="correct-name"' in page.text
        assert re.search(r'id="learner-name">([^<]+)<', page.text).group(1) == "王秀英"
        done = self._correct(client, account, "王秀荣", "身份证上是“荣”")
        assert done.status_code == 303 and done.headers["location"].endswith("?corrected=yes")
        page = client.get(done.headers["location"])
        assert re.search(r'id="learner-name">([^<]+)<', page.text).group(1) == "王秀荣"
        history = re.search(r'id="name-history">(.*?)</ol>', page.text, re.S).group(1)
        assert "王秀英" in history and "王秀荣" in history and "身份证上是“荣”" in history
        assert "yc-clerk" in history and "永川区社区教育学院" in history
        assert ("name", f"{account}: 王秀英 → 王秀荣") in _actions(client)
        api = client.get(f"/api/v1/learners/{account}/name-corrections", headers=world.yc).json()
        assert api["name"] == "王秀荣" and api["corrections"][0]["old_name"] == "王秀英"

        again = self._correct(client, account, "王秀荣", "再提交一次")
        assert again.status_code == 303 and again.headers["location"].endswith("?corrected=same")
        assert (
            len(
                client.get(f"/api/v1/learners/{account}/name-corrections", headers=world.yc).json()[
                    "corrections"
                ]
            )
            == 1
        )

    def test_the_learner_sees_the_correction_on_their_own_page(self, client, world):
        person = learner(client, world.yc, name="张小明")
        staff_sign_in(client, "yc-clerk")
        assert self._correct(client, person["account_no"], "张晓明").status_code == 303
        client.cookies.clear()
        activated = client.post(
            "/activate",
            data={
                "csrf_token": csrf(client, "/activate"),
                "account_no": person["account_no"],
                "activation_code": person["activation_code"],
                "password": STAFF_PASSWORD,
                "password_again": STAFF_PASSWORD,
            },
            follow_redirects=False,
        )
        assert activated.status_code == 303
        mine = client.get("/me").text
        assert re.search(r'id="my-name"><strong>([^<]+)<', mine).group(1) == "张晓明"
        history = re.search(r'id="name-history">(.*?)</ol>', mine, re.S).group(1)
        assert "张小明 更正为 张晓明" in history and "开户时录错了字" in history
        assert "yc-clerk" not in history  # the school, not its staff's usernames

    def test_a_blank_or_invisible_name_is_refused_in_words_and_nothing_changes(self, client, world):
        account = world.people[0]
        staff_sign_in(client, "yc-clerk")
        blank = self._correct(client, account, " \u200b ")
        assert blank.status_code == 422 and "姓名" in error_text(blank)
        assert 'value="开户时录错了字"' in blank.text  # the reason typed is kept
        hidden = self._correct(client, account, "张\u202e桂兰")
        assert hidden.status_code == 422 and "U+202E" in error_text(hidden)
        no_reason = self._correct(client, account, "张桂英", "   ")
        assert no_reason.status_code == 422 and "原因" in error_text(no_reason)
        api = client.get(f"/api/v1/learners/{account}/name-corrections", headers=world.yc).json()
        assert (api["name"], api["corrections"]) == ("张桂兰", [])
        assert not any(action == "name" for action, _ in _actions(client))

    def test_a_name_stored_with_a_hidden_character_is_shown_as_such_and_corrected(self, client, world):
        account = world.people[1]
        with client.app.state.db.unit_of_work() as session:  # a row from before kit.text
            session.execute(update(Learner).where(Learner.account_no == account).values(name="李\u202e建国"))
        staff_sign_in(client, "yc-clerk")
        page = client.get(f"/console/YCCEC/learners/{account}").text
        assert "李⟨U+202E⟩建国" in page and "\u202e" not in page
        assert self._correct(client, account, "李建国", "姓名里有看不见的字符").status_code == 303
        page = client.get(f"/console/YCCEC/learners/{account}").text
        history = re.search(r'id="name-history">(.*?)</ol>', page, re.S).group(1)
        assert "李⟨U+202E⟩建国" in history and "\u202e" not in page
        assert ("name", f"{account}: 李⟨U+202E⟩建国 → 李建国") in _actions(client)

    def test_another_institutions_staff_cannot(self, client, world):
        account = world.people[0]
        staff_sign_in(client, "ou-clerk")
        assert client.get(f"/console/CQOUYC/learners/{account}").status_code == 404
        assert self._correct(client, account, "张桂英", code="CQOUYC").status_code == 404
        assert client.get(f"/console/YCCEC/learners/{account}").status_code == 403
        # Once it taught the learner it sees the page, and who can correct the name — not the form.
        taught = client.post(
            "/api/v1/completions",
            json={
                "external_id": "ou-1",
                "account_no": account,
                "outcome_code": "OU-AGRI",
                "completed_on": "2026-03-01",
            },
            headers=world.ou,
        )
        assert taught.status_code == 201, taught.text
        page = client.get(f"/console/CQOUYC/learners/{account}")
        assert page.status_code == 200 and 'id="correct-name"' not in page.text
        assert "永川区社区教育学院" in re.search(r'id="not-ours">([^<]+)<', page.text).group(1)
        refused = self._correct(client, account, "张桂英", code="CQOUYC")
        assert refused.status_code == 403 and "永川区社区教育学院" in error_text(refused)
        api = client.get(f"/api/v1/learners/{account}/name-corrections", headers=world.yc).json()
        assert (api["name"], api["corrections"]) == ("张桂兰", [])

    def test_an_approver_only_account_sees_the_page_but_not_the_form(self, client, world):
        staff_sign_in(client, "yc-approver")
        page = client.get(f"/console/YCCEC/learners/{world.people[0]}")
        assert page.status_code == 200 and 'id="correct-name"' not in page.text


class TestOneCompletion:
    def test_a_clerk_posts_one_and_the_record_names_the_staff_account(self, client, world):
        staff_sign_in(client, "yc-clerk")
        before = balance(client, world.yc, world.people[0])
        response = client.post(
            "/console/YCCEC/completions",
            data={
                "csrf_token": csrf(client, "/console/YCCEC/completions/new"),
                "account_no": world.people[0],
                "outcome_code": "YC-FARM",
                "completed_on": "2026-03-01",
                "external_id": "W-1",
            },
        )
        assert response.status_code == 201 and 'id="posted"' in response.text
        assert balance(client, world.yc, world.people[0]) == before + 2
        with client.app.state.db.reader() as session:
            posted = session.exec(select(Completion).where(Completion.external_id == "W-1")).one()
        assert posted.staff_id is not None and posted.api_key_id is None

    def test_an_unknown_account_is_a_sentence_and_nothing_posts(self, client, world):
        staff_sign_in(client, "yc-clerk")
        response = client.post(
            "/console/YCCEC/completions",
            data={
                "csrf_token": csrf(client, "/console/YCCEC/completions/new"),
                "account_no": "CB00000000000",
                "outcome_code": "YC-FARM",
                "completed_on": "2026-03-01",
            },
        )
        assert response.status_code == 404 and error_text(response)


class TestUploadLoop:
    def test_two_bad_rows_are_shown_downloaded_fixed_and_imported_exactly_once(self, client, world):
        staff_sign_in(client, "yc-clerk")
        a, b, c = world.people
        before = {p: balance(client, world.yc, p) for p in world.people}
        data = sheet([
            ["T-1", a, "YC-ELEC", "2026-03-01"],
            ["T-2", b, "YC-NOPE", "2026-03-01"],     # unknown outcome
            ["T-3", c, "YC-FARM", "2026-03-01"],
            ["T-4", c, "YC-ELEC", "2099-01-01"],     # in the future
        ])  # fmt: skip
        result = _upload(client, data)
        assert result.status_code == 200
        assert re.findall(r'<tr data-line="(\d+)">', result.text) == ["3", "5"]
        assert 'data-accepted="2"' in result.text and 'data-rejected="2"' in result.text
        after_first = {p: balance(client, world.yc, p) for p in world.people}
        assert after_first == {a: before[a] + 1.5, b: before[b], c: before[c] + 2}

        link = re.search(r'id="download-refused" href="([^"]+)"', result.text).group(1)
        download = client.get(link)
        assert download.status_code == 200 and download.headers["content-type"] == XLSX
        rows = read_sheet(download.content)
        assert rows[0] == [
            "external_id", "account_no", "outcome_code", "completed_on", "不合格原因", "reason refused", "原行号 line"
        ]  # fmt: skip
        assert [r[0] for r in rows[1:]] == ["T-2", "T-4"] and all(r[-3] and r[-2] for r in rows[1:])

        # Fix in place (the reason and line columns stay), upload the same file again.
        for row in rows[1:]:
            if row[0] == "T-2":
                row[2] = "YC-FARM"
            else:
                row[3] = "2026-03-02"
        fixed = sheet(rows[1:], header=rows[0])
        again = _upload(client, fixed, name="term-refused.xlsx")
        assert 'data-accepted="2"' in again.text and 'data-rejected="0"' in again.text
        after = {p: balance(client, world.yc, p) for p in world.people}
        assert after == {a: before[a] + 1.5, b: before[b] + 2, c: before[c] + 2 + 1.5}

        # The whole first file again: nothing is imported twice.
        replay = _upload(client, data)
        assert 'data-accepted="0"' in replay.text and 'data-replayed="2"' in replay.text
        assert {p: balance(client, world.yc, p) for p in world.people} == after

    def test_the_refused_rows_keep_the_files_own_headers_and_each_language_in_its_column(self, client, world):
        staff_sign_in(client, "yc-clerk")
        a, b, _ = world.people
        header = ["外部编号", "学习账号", "课程代码", "完成日期", "成绩"]
        data = sheet(
            [["H-1", a, "YC-ELEC", "2026/13/45", None], ["H-2", b, "YC-ELEC", "2026-03-01", None]], header
        )
        result = _upload(client, data)
        assert 'data-accepted="1"' in result.text and 'data-rejected="1"' in result.text
        link = re.search(r'id="download-refused" href="([^"]+)"', result.text).group(1)
        rows = read_sheet(client.get(link).content)
        assert rows[0] == [*header, "不合格原因", "reason refused", "原行号 line"]
        [refused] = rows[1:]
        assert refused[:4] == ["H-1", a, "YC-ELEC", "2026/13/45"]
        zh, en, line = refused[-3:]
        assert zh.startswith("完成日期 completed_on 的值无效：“2026/13/45”不是日期") and "expected" not in zh
        assert en.startswith("Invalid value for completed_on") and "不是日期" not in en
        assert line == 2
        refused[3] = "2026-03-01"  # fixed: the file goes back as it is
        again = _upload(client, sheet([refused], rows[0]), name="fixed.xlsx")
        assert 'data-accepted="1"' in again.text and 'data-rejected="0"' in again.text

    def test_a_gb18030_csv_with_the_dates_excel_and_wps_write_is_imported(self, client, world):
        staff_sign_in(client, "yc-clerk")
        a, b, _ = world.people
        before = {p: balance(client, world.yc, p) for p in (a, b)}
        data = (f"外部编号,学习账号,课程代码,完成日期\r\nG-1,{a},YC-ELEC,2026/10/01\r\n"
                f"G-2,{b},YC-ELEC,2026-10-1\r\n").encode("gb18030")  # fmt: skip
        result = _upload(client, data, name="十月.csv", kind="text/csv")
        assert 'data-accepted="2"' in result.text and 'data-rejected="0"' in result.text, error_text(result)
        assert {p: balance(client, world.yc, p) for p in (a, b)} == {a: before[a] + 1.5, b: before[b] + 1.5}

    def test_a_wps_workbook_title_extra_columns_second_sheet_repeats_and_a_number_id(self, client, world):
        """The review's files, in one workbook: the names on the second (active) sheet under a title
        row, 姓名 (checked) and 备注 columns, a row repeated word for word, an ID Excel stored as a number."""
        staff_sign_in(client, "yc-clerk")
        a, b, _ = world.people
        number = national_id()
        while not number.isdigit():  # one in eleven ends in X, which Excel cannot hold as a number
            number = national_id()
        book = openpyxl.Workbook()
        book.active.title = "说明"
        book.active.append(["请按模板填写"])
        data = book.create_sheet("结业名单")
        data.append(["永川区社区教育学院2026年春季结业名单"])
        data.append(["外部编号", "姓名", "学习账号", "身份证号", "成果代码", "完成日期", "备注"])
        data.append(["W-1", "张桂兰", a, None, "YC-ELEC", "2026/3/5 0:00", None])
        data.append(["W-2", "李 建国", b, None, "YC-ELEC", "2026-03-05", "补录"])
        data.append(["W-1", "张桂兰", a, None, "YC-ELEC", "2026/3/5 0:00", None])  # line 3 again
        data.append(["W-3", "王芳", None, float(number), "YC-ELEC", "2026-03-05", None])
        book.active = 1
        out = io.BytesIO()
        book.save(out)
        result = _upload(client, out.getvalue(), name="春季结业名单.xlsx")
        assert result.status_code == 200, error_text(result)
        assert 'data-accepted="2"' in result.text and 'data-rejected="1"' in result.text
        assert re.search(r'id="sheet">结业名单<', result.text)
        assert re.search(r'id="header-line">2<', result.text)
        assert re.search(r'id="ignored-columns">备注<', result.text)
        assert re.search(r'id="duplicates">1<', result.text)
        assert '<li data-line="5">' in result.text and "与第 3 行完全相同" in result.text
        assert re.findall(r'<tr data-line="(\d+)">', result.text) == ["6"]
        assert "存成了数字" in result.text and "文本" in result.text
        link = re.search(r'id="download-refused" href="([^"]+)"', result.text).group(1)
        rows = read_sheet(client.get(link).content)
        assert rows[0][:7] == ["外部编号", "姓名", "学习账号", "身份证号", "成果代码", "完成日期", "备注"]
        assert rows[1][:2] == ["W-3", "王芳"]  # the clerk's own columns kept to fix the row

    def test_refused_id_numbers_are_kept_sealed_and_the_clerk_downloads_them_in_clear(self, client, world):
        staff_sign_in(client, "yc-clerk")
        number = national_id()  # nobody enrolled with it: the row is refused, the number kept to fix
        result = _upload(client, sheet([["T-9", number, "YC-ELEC", "2026-03-01"]], header=ID_HEADER))
        assert 'data-rejected="1"' in result.text, result.text[:500]
        # The database alone must not show an ID number (SPEC §3.2) — not even inside the XLSX blob.
        assert number not in _stored_text(_refused_blobs(client)[0])
        link = re.search(r'id="download-refused" href="([^"]+)"', result.text).group(1)
        assert read_sheet(client.get(link).content)[1][1] == number  # in the file's own column

    def test_the_refused_rows_spreadsheet_is_made_when_downloaded_not_while_the_clerk_waits(
        self, client, world, monkeypatch
    ):
        """A 100 000-row file refused whole spent ~10 s of its upload building a spreadsheet of every
        refused row, which the clerk may never download; the page's counts and first rows came after."""
        from creditbank.staff import uploads

        built = []

        def counted(*args, **kwargs):
            built.append(1)
            return openpyxl.Workbook(*args, **kwargs)

        monkeypatch.setattr(uploads, "Workbook", counted)
        staff_sign_in(client, "yc-clerk")
        rows = [[f"R-{i}", national_id(), "YC-ELEC", "2026-03-01"] for i in range(150)]
        result = _upload(client, sheet(rows, header=ID_HEADER))
        assert 'data-rejected="150"' in result.text, result.text[:500]
        assert built == []
        link = re.search(r'id="download-refused" href="([^"]+)"', result.text).group(1)
        download = read_sheet(client.get(link).content)
        assert built == [1]
        assert [row[0] for row in download[1:]] == [f"R-{i}" for i in range(150)]  # every row, not 100

    def test_a_refused_rows_file_kept_before_sealing_is_sealed_by_the_migration(
        self, client, world, settings
    ):
        staff_sign_in(client, "yc-clerk")
        number = national_id()
        result = _upload(client, sheet([["T-9", number, "YC-ELEC", "2026-03-01"]], header=ID_HEADER))
        link = re.search(r'id="download-refused" href="([^"]+)"', result.text).group(1)
        clear = client.get(link).content
        db = client.app.state.db
        with db.unit_of_work() as session:  # as an upload stored before migration 0016 left it
            session.execute(update(StaffUpload).values(refused_xlsx=clear, refused_rows=None))
        assert number in _stored_text(_refused_blobs(client)[0])
        migration = importlib.import_module("creditbank.migrations.versions.20261202_0016_seal_refused_rows")
        with db.engine.begin() as connection:
            assert migration.seal_refused_rows(connection, settings.id_secret()) == 1
            assert migration.seal_refused_rows(connection, settings.id_secret()) == 0  # sealed once
        assert number not in _stored_text(_refused_blobs(client)[0])
        assert client.get(link).content == clear

    def test_an_upload_goes_in_as_a_staged_import_recorded_under_the_clerk(self, client, world):
        staff_sign_in(client, "yc-clerk")
        a, b, _ = world.people
        result = _upload(
            client, sheet([["S-1", a, "YC-ELEC", "2026-03-01"], ["S-2", b, "YC-ELEC", "2026-03-01"]])
        )
        assert 'data-accepted="2"' in result.text
        with client.app.state.db.reader() as session:
            staged = session.exec(select(CompletionImport)).all()
            rows = session.exec(select(Completion).where(Completion.external_id.in_(["S-1", "S-2"]))).all()
            clerk = session.exec(select(StaffAction.staff_id).where(StaffAction.action == "upload")).one()
        assert [(i.state, i.rows) for i in staged] == [("published", 2)]
        assert {(c.state, c.import_id, c.staff_id) for c in rows} == {("active", staged[0].id, clerk)}

    @pytest.mark.parametrize(
        "name,data,kind,status,words",
        [
            ("photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image/png", 415, "只支持 CSV"),
            (
                "成绩.xls",
                b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500,
                "application/vnd.ms-excel",
                415,
                "请在 Excel/WPS 中“另存为” .xlsx 后再上传",
            ),
            ("merged.xlsx", None, XLSX, 422, "合并单元格"),
        ],
    )
    def test_a_file_the_importer_cannot_read_is_a_clear_page_and_imports_nothing(
        self, client, world, name, data, kind, status, words
    ):
        staff_sign_in(client, "yc-clerk")
        if data is None:
            data = sheet([["M1", world.people[0], "YC-ELEC", "2026-02-01"],
                          ["M2", world.people[1], "YC-ELEC", "2026-02-01"]], merge="C2:C3")  # fmt: skip
        before = [balance(client, world.yc, p) for p in world.people]
        response = _upload(client, data, name=name, kind=kind)
        assert response.status_code == status and words in error_text(response)
        assert "JSON" not in error_text(response)  # the API's JSON body is no choice on this page
        assert "没有导入" in response.text
        assert [balance(client, world.yc, p) for p in world.people] == before

    def test_a_file_over_20_mb_is_refused_before_it_is_read(self, client, world):
        staff_sign_in(client, "yc-clerk")
        token = csrf(client, "/console/YCCEC/upload")
        big = b"external_id,account_no,outcome_code,completed_on\n" + b"x" * (21 * 1024 * 1024)
        response = client.post(
            "/console/YCCEC/upload", data={"csrf_token": token}, files={"file": ("big.csv", big, "text/csv")}
        )
        assert response.status_code == 413 and "20 MB" in response.text
        assert response.headers["content-type"].startswith("text/html")

    def test_an_upload_without_the_csrf_token_is_refused(self, client, world):
        staff_sign_in(client, "yc-clerk")
        client.get("/console/YCCEC/upload")
        response = client.post(
            "/console/YCCEC/upload",
            files={"file": ("a.xlsx", sheet([["Z-1", world.people[0], "YC-ELEC", "2026-03-01"]]), XLSX)},
        )
        assert response.status_code == 403
        assert balance(client, world.yc, world.people[0]) == 0

    def test_another_institutions_staff_cannot_download_the_refused_rows(self, client, world):
        staff_sign_in(client, "yc-clerk")
        result = _upload(client, sheet([["Q-1", world.people[0], "YC-NOPE", "2026-03-01"]]))
        link = re.search(r'id="download-refused" href="([^"]+)"', result.text).group(1)
        staff_sign_in(client, "ou-clerk")
        assert client.get(link).status_code == 403
        assert client.get(link.replace("YCCEC", "CQOUYC")).status_code == 404

    def test_a_refused_external_id_that_looks_like_a_formula_is_text_in_the_download(self, client, world):
        staff_sign_in(client, "yc-clerk")
        text = (
            "external_id,account_no,outcome_code,completed_on\r\n"
            + f"=1+1,{world.people[0]},YC-NOPE,2026-03-01\r\n"
        )
        result = _upload(client, text.encode(), name="term.csv", kind="text/csv")
        assert 'data-rejected="1"' in result.text, result.text[:500]
        link = re.search(r'id="download-refused" href="([^"]+)"', result.text).group(1)
        download = client.get(link).content
        cell = openpyxl.load_workbook(io.BytesIO(download)).active["A2"]
        # Shown as typed, stored as text: Excel never computes it (not a formula, data type 'f').
        assert (cell.value, cell.data_type) == ("=1+1", "s")
        assert read_sheet(download)[1][-1] == 2  # the line number stays a number
        # Fixed in Excel and uploaded again, the row keeps its external_id as the institution wrote it.
        book = openpyxl.load_workbook(io.BytesIO(download))
        book.active["C2"] = "YC-ELEC"  # outcome_code, the file's third column
        fixed = io.BytesIO()
        book.save(fixed)
        again = _upload(client, fixed.getvalue(), name="term-refused.xlsx")
        assert 'data-accepted="1"' in again.text, again.text[:500]
        with client.app.state.db.reader() as session:
            assert session.exec(select(Completion.external_id)).all() == ["=1+1"]


class TestRolesAndRevocation:
    def _posted(self, client, world) -> str:
        staff_sign_in(client, "yc-clerk")
        client.post(
            "/console/YCCEC/completions",
            data={
                "csrf_token": csrf(client, "/console/YCCEC/completions/new"),
                "account_no": world.people[0],
                "outcome_code": "YC-ELEC",
                "completed_on": "2026-03-01",
                "external_id": "R-1",
            },
        )
        with client.app.state.db.reader() as session:
            return session.exec(select(Completion).where(Completion.external_id == "R-1")).one().id

    def test_a_clerk_cannot_revoke_and_nothing_changes(self, client, world):
        completion_id = self._posted(client, world)
        response = client.post(
            f"/console/YCCEC/completions/{completion_id}/revoke",
            data={"csrf_token": csrf(client, "/console/YCCEC"), "reason": "录入错误"},
        )
        assert response.status_code == 403 and "审批员" in error_text(response)
        assert balance(client, world.yc, world.people[0]) == 1.5

    def test_an_approver_revokes_with_a_reason_and_the_record_names_them(self, client, world):
        completion_id = self._posted(client, world)
        staff_sign_in(client, "yc-approver")
        page = client.get(f"/console/YCCEC/completions?account_no={world.people[0]}")
        response = client.post(
            f"/console/YCCEC/completions/{completion_id}/revoke",
            data={"csrf_token": csrf_of(page.text), "reason": "录入错误"},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert balance(client, world.yc, world.people[0]) == 0
        with client.app.state.db.reader() as session:
            revoked = session.get(Completion, completion_id)
        assert revoked.state == "revoked" and revoked.revoke_reason == "录入错误"
        assert revoked.revoked_by and revoked.revoked_by.startswith("staff:")

    def test_a_revocation_without_a_reason_stays_on_the_list_beside_that_record(self, client, world):
        completion_id = self._posted(client, world)
        staff_sign_in(client, "yc-approver")
        page = client.get(f"/console/YCCEC/completions?account_no={world.people[0]}")
        response = client.post(
            f"/console/YCCEC/completions/{completion_id}/revoke",
            data={"csrf_token": csrf_of(page.text), "reason": "   ", "account_no": world.people[0]},
        )
        assert response.status_code == 422
        record = re.search(rf'<li data-id="{completion_id}".*?</li>', response.text, re.S).group(0)
        assert "✗ 撤销时请在框中写明理由，学习者会看到。" in record and "reason" not in error_text(response)
        assert 'id="learner-balance"' in response.text  # still the learner's list, as it was filtered
        assert balance(client, world.yc, world.people[0]) == 1.5

    def test_credits_a_pending_conversion_holds_are_refused_beside_the_record(self, client, world):
        from creditbank.learners import service as learners
        from tests.conftest import completion_body

        person = world.people[0]
        ids = []
        for code in ("YC-ELEC", "YC-FARM"):
            posted = client.post("/api/v1/completions", json=completion_body(person, code), headers=world.yc)
            ids.append(posted.json()["id"])
        with client.app.state.db.unit_of_work() as session:
            token = learners.open_session(session, learners.by_account_no(session, person))
        asked = client.post(
            "/api/v1/me/conversions",
            json={"rule_id": world.rule_id},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert asked.status_code == 201, asked.text
        staff_sign_in(client, "yc-approver")
        page = client.get(f"/console/YCCEC/completions?account_no={person}")
        response = client.post(
            f"/console/YCCEC/completions/{ids[0]}/revoke",
            data={"csrf_token": csrf_of(page.text), "reason": "录入错误", "account_no": person},
        )
        assert response.status_code == 409
        record = re.search(rf'<li data-id="{ids[0]}".*?</li>', response.text, re.S).group(0)
        assert 'id="error"' in record and 'value="录入错误"' in record, record
        assert balance(client, world.yc, person) == 3.5

    def test_a_clerk_posting_an_approval_is_refused_before_anything_is_looked_up(self, client, world):
        staff_sign_in(client, "ou-clerk")
        response = client.post(
            "/console/CQOUYC/conversions/cnv_any",
            data={"csrf_token": csrf(client, "/console/CQOUYC"), "decision": "approve"},
        )
        assert response.status_code == 403 and "审批员" in error_text(response)

    def test_a_clerk_opening_the_approvers_queue_gets_a_403_page_in_chinese(self, client, world):
        staff_sign_in(client, "ou-clerk")
        response = client.get("/console/CQOUYC/conversions")
        assert response.status_code == 403
        assert error_text(response) == "✗ 你的账号没有这个权限：需要“审批员”角色，请找本机构的管理员"


class TestConversionQueue:
    def test_the_queue_explains_and_an_approval_moves_the_credits(self, client, world):
        person = world.people[0]
        from tests.conftest import completion_body

        for code in ("YC-ELEC", "YC-FARM"):
            posted = client.post("/api/v1/completions", json=completion_body(person, code), headers=world.yc)
            assert posted.status_code == 201
        # The learner (a session of their own) asks for the conversion.
        with client.app.state.db.unit_of_work() as session:
            from creditbank.learners import service as learners

            learner = learners.by_account_no(session, person)
            token = learners.open_session(session, learner)
        asked = client.post(
            "/api/v1/me/conversions",
            json={"rule_id": world.rule_id},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert asked.status_code == 201, asked.text
        conversion_id = asked.json()["id"]
        before = client.get("/api/v1/me/balance", headers={"Authorization": f"Bearer {token}"}).json()

        staff_sign_in(client, "ou-approver")
        queue = client.get("/console/CQOUYC/conversions")
        assert queue.status_code == 200 and f'data-conversion="{conversion_id}"' in queue.text
        assert "居民用电安全" in queue.text and "春季蔬菜田间管理" in queue.text  # the lots it consumes
        assert "✓" in queue.text
        decided = client.post(
            f"/console/CQOUYC/conversions/{conversion_id}",
            data={"csrf_token": csrf_of(queue.text), "decision": "approve"},
            follow_redirects=False,
        )
        assert decided.status_code == 303
        after = client.get("/api/v1/me/balance", headers={"Authorization": f"Bearer {token}"}).json()
        assert after["by_category"].get("academic") == 2
        assert after["total"] != before["total"] or after["by_category"] != before["by_category"]
        mine = client.get("/api/v1/me/conversions", headers={"Authorization": f"Bearer {token}"}).json()
        assert [(c["id"], c["state"]) for c in mine] == [(conversion_id, "approved")]
        assert ("approve", conversion_id) in _actions(client)

    def test_a_request_the_learner_withdrew_says_so_and_cannot_be_decided(self, client, world):
        """The approver opened the queue, then the learner withdrew: the queue says 已撤回 with no
        approve/reject, and the approval the stale page still sends is refused in words."""
        person = world.people[0]
        from tests.conftest import completion_body

        for code in ("YC-ELEC", "YC-FARM"):
            posted = client.post("/api/v1/completions", json=completion_body(person, code), headers=world.yc)
            assert posted.status_code == 201
        with client.app.state.db.unit_of_work() as session:
            from creditbank.learners import service as learners

            token = learners.open_session(session, learners.by_account_no(session, person))
        bearer = {"Authorization": f"Bearer {token}"}
        asked = client.post("/api/v1/me/conversions", json={"rule_id": world.rule_id}, headers=bearer)
        assert asked.status_code == 201, asked.text
        conversion_id = asked.json()["id"]
        staff_sign_in(client, "ou-approver")
        stale = client.get("/console/CQOUYC/conversions").text
        assert f'id="approve-{conversion_id}"' in stale

        withdrawn = client.post(f"/api/v1/me/conversions/{conversion_id}/withdraw", headers=bearer)
        assert withdrawn.status_code == 200, withdrawn.text
        queue = client.get("/console/CQOUYC/conversions").text
        assert f'data-conversion="{conversion_id}"' not in queue  # not among those to decide
        assert f'id="approve-{conversion_id}"' not in queue and f'id="reject-{conversion_id}"' not in queue
        row = re.search(rf'<li data-withdrawn="{conversion_id}">.*?</li>', queue, re.S).group(0)
        assert "已撤回" in row and "学习者已撤回" in queue
        refused = client.post(
            f"/console/CQOUYC/conversions/{conversion_id}",
            data={"csrf_token": csrf_of(stale), "decision": "approve"},
        )
        assert refused.status_code == 409 and "学习者已撤回这项转换申请" in error_text(refused)
        client.cookies.set("cb_lang", "en")
        english = client.get("/console/CQOUYC/conversions").text
        assert "Withdrawn by the learner" in english
        row = re.search(rf'<li data-withdrawn="{conversion_id}">.*?</li>', english, re.S).group(0)
        assert "Withdrawn" in row
        mine = client.get("/api/v1/me/conversions", headers=bearer).json()
        assert [(c["id"], c["state"]) for c in mine] == [(conversion_id, "withdrawn")]
        assert client.get("/api/v1/me/balance", headers=bearer).json()["convertible"] == 3.5

    def test_a_request_ended_by_the_posted_course_says_so_and_cannot_be_decided(self, client, world):
        """The approver opened the queue, then the school posted the request's course (OU-AGRI) to the
        learner: the request ended (superseded), the queue lists it under 已自动结束 with no approve or
        reject, and the approval the stale page still sends is refused in words."""
        from tests.conftest import completion_body

        person = world.people[0]
        for code in ("YC-ELEC", "YC-FARM"):
            posted = client.post("/api/v1/completions", json=completion_body(person, code), headers=world.yc)
            assert posted.status_code == 201
        with client.app.state.db.unit_of_work() as session:
            from creditbank.learners import service as learners

            token = learners.open_session(session, learners.by_account_no(session, person))
        bearer = {"Authorization": f"Bearer {token}"}
        asked = client.post("/api/v1/me/conversions", json={"rule_id": world.rule_id}, headers=bearer)
        assert asked.status_code == 201, asked.text
        conversion_id = asked.json()["id"]
        staff_sign_in(client, "ou-approver")
        stale = client.get("/console/CQOUYC/conversions").text
        assert f'id="approve-{conversion_id}"' in stale

        course = client.post("/api/v1/completions", json=completion_body(person, "OU-AGRI"), headers=world.ou)
        assert course.status_code == 201, course.text
        queue = client.get("/console/CQOUYC/conversions").text
        assert f'id="approve-{conversion_id}"' not in queue and f'id="reject-{conversion_id}"' not in queue
        row = re.search(rf'<li data-superseded="{conversion_id}">.*?</li>', queue, re.S).group(0)
        assert "已直接登记，自动结束" in row and "已自动结束：本机构已直接登记该课程" in queue
        refused = client.post(
            f"/console/CQOUYC/conversions/{conversion_id}",
            data={"csrf_token": csrf_of(stale), "decision": "approve"},
        )
        assert refused.status_code == 409 and "这项转换申请已自动结束" in error_text(refused)
        client.cookies.set("cb_lang", "en")
        english = client.get("/console/CQOUYC/conversions").text
        assert "Ended: you posted the course directly" in english
        mine = client.get("/api/v1/me/conversions", headers=bearer).json()
        assert [(c["id"], c["state"]) for c in mine] == [(conversion_id, "superseded")]

    def test_a_rejection_needs_a_reason(self, client, world):
        staff_sign_in(client, "ou-approver")
        response = client.post(
            "/console/CQOUYC/conversions/cnv_nothing",
            data={"csrf_token": csrf(client, "/console/CQOUYC/conversions"), "decision": "reject"},
        )
        assert response.status_code == 422


def test_every_console_page_opens_for_its_own_staff(client, world):
    staff_sign_in(client, "yc-clerk")
    for path in ("", "/catalogue", "/catalogue/new", "/catalogue/YC-ELEC", "/enrol", "/completions/new",
                 "/upload", "/completions", "/learners", f"/learners/{world.people[0]}"):  # fmt: skip
        response = client.get(f"/console/YCCEC{path}")
        assert response.status_code == 200, (path, response.text[:300])
    assert STAFF_PASSWORD not in response.text
