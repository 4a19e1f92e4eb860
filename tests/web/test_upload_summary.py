"""A big upload's result page stays readable: the refused rows counted per reason in words, the first
100 rows shown, every row in the Excel download — not a page listing each of 99 999 refused rows
(21 MB, over a minute to show in Chromium)."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import check, new_page
from tests.web.consoleworld import build, read_sheet
from tests.web.staffworld import STAFF_PASSWORD, csrf, staff_sign_in


def _csv(account_no: str) -> bytes:
    lines = ["external_id,account_no,outcome_code,completed_on"]
    lines += [f"bad-course-{i},{account_no},NO-SUCH,2026-03-01" for i in range(230)]
    lines += [f"bad-date-{i},{account_no},YC-ELEC,2026-13-45" for i in range(20)]
    lines += [f"good-{code},{account_no},{code},2026-03-01" for code in ("YC-ELEC", "YC-FARM")]
    return "\n".join(lines).encode()


@pytest.fixture
def world(client):
    return build(client)


def test_the_result_counts_reasons_and_shows_the_first_hundred_rows(client, world):
    staff_sign_in(client, "yc-clerk")
    token = csrf(client, "/console/YCCEC/upload")
    page = client.post(
        "/console/YCCEC/upload",
        data={"csrf_token": token},
        files={"file": ("term.csv", _csv(world.people[0]), "text/csv")},
    )
    assert page.status_code == 200
    assert re.search(r'data-accepted="2"[^>]*data-rejected="250"', page.text)
    reasons = re.findall(r'<tr data-code="([a-z_]+)" data-rows="(\d+)">', page.text)
    assert [int(n) for _, n in reasons] == [230, 20]
    assert "本页列出前 100 行（共 250 行不合格），全部见 Excel 下载" in page.text
    assert len(re.findall(r'<tr data-line="', page.text)) == 100
    link = re.search(r'id="download-refused" href="([^"]+)"', page.text).group(1)
    assert len(read_sheet(client.get(link).content)) == 251  # the header and every refused row


def test_in_chromium(live, browser):
    world = build(live.client)
    page = new_page(browser, live.base, size="desktop")
    page.goto("/staff/signin?next=/console/YCCEC/upload")
    page.fill("#username", "yc-clerk")
    page.fill("#password", STAFF_PASSWORD)
    page.click("#sign-in")
    page.wait_for_url("**/console/YCCEC/upload")
    page.set_input_files(
        "#file", files=[{"name": "term.csv", "mimeType": "text/csv", "buffer": _csv(world.people[0])}]
    )
    page.click("#upload")
    page.wait_for_selector("#reasons")
    assert page.locator("#reasons tbody tr").count() == 2 and page.locator("#refused tbody tr").count() == 100
    check(page, "console-upload-many-refused")


def test_a_name_that_is_not_the_registered_one_is_a_reason_of_its_own(client, world):
    """The 姓名 column is checked: 李建国's account with 张桂兰's name is refused, saying to check the
    number — without saying whose name the account has."""
    staff_sign_in(client, "yc-clerk")
    token = csrf(client, "/console/YCCEC/upload")
    form = client.get("/console/YCCEC/upload")
    assert "姓名" in form.text and re.search(r'id="name-column">[^<]*更正前的旧姓名也算一致', form.text)
    zhang, li, _ = world.people
    lines = ["外部编号,学习账号,姓名,成果代码,完成日期", f"N-1,{zhang},张桂兰,YC-ELEC,2026-03-01",
             f"N-2,{li},张桂兰,YC-ELEC,2026-03-01"]  # fmt: skip
    page = client.post(
        "/console/YCCEC/upload",
        data={"csrf_token": token},
        files={"file": ("names.csv", "\r\n".join(lines).encode(), "text/csv")},
    )
    assert re.search(r'data-accepted="1"[^>]*data-rejected="1"', page.text), page.text
    assert re.findall(r'<tr data-code="([a-z_]+)" data-rows="(\d+)">', page.text) == [("name_mismatch", "1")]
    refused = re.search(r'<tr data-line="3">.*?</tr>', page.text, re.S).group(0)
    assert f"姓名“张桂兰”与学习账号 {li} 登记的姓名不一致" in refused and "李建国" not in page.text


def test_many_repeated_rows_are_counted_and_the_first_hundred_listed(client, world):
    staff_sign_in(client, "yc-clerk")
    token = csrf(client, "/console/YCCEC/upload")
    row = f"R-1,{world.people[0]},YC-ELEC,2026-03-01"
    data = "\n".join(["external_id,account_no,outcome_code,completed_on", *[row] * 151]).encode()
    page = client.post(
        "/console/YCCEC/upload", data={"csrf_token": token}, files={"file": ("twice.csv", data, "text/csv")}
    )
    assert re.search(r'data-accepted="1"[^>]*data-rejected="0"', page.text), page.text
    assert re.search(r'id="duplicates">150<', page.text)
    assert "以下是 150 个重复行中的前 100 行" in page.text
    listed = re.findall(r'<li data-line="(\d+)">', page.text)
    assert [int(n) for n in listed] == list(range(3, 103))
