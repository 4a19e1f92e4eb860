"""The console's and the district office's journeys in Chromium, and every staff and operator page
checked with axe-core at phone and desktop size (screenshots saved). On SQLite: what these pages do
in the database is checked on both databases by tests/web/test_console.py and test_office.py:

1. a clerk uploads an XLSX with two bad rows → both shown with reasons → downloads the refused rows
   → fixes them → uploads again → the learners' balances change by exactly those rows;
2. an approver approves a pending conversion → the learner's balance shows the converted credits;
   a clerk cannot approve;
3. the operator signs in with password + TOTP (a wrong code first) → creates an institution and a
   staff account → accredits it → approves a rule.
"""

from __future__ import annotations

import openpyxl
import pytest

from creditbank.learners import service as learners
from tests.conftest import completion_body
from tests.web.conftest import check, new_page
from tests.web.consoleworld import balance, build, read_sheet, sheet
from tests.web.staffworld import STAFF_PASSWORD, add_operator, totp_code


def _staff_sign_in(page, username: str) -> None:
    page.goto("/console")
    page.wait_for_url("**/staff/signin?next=/console")
    page.fill("#username", username)
    page.fill("#password", STAFF_PASSWORD)
    page.click("#sign-in")
    page.wait_for_url("**/console/*")


def _learner_token(live, account_no: str) -> str:
    with live.app.state.db.unit_of_work() as session:
        return learners.open_session(session, learners.by_account_no(session, account_no))


def test_clerk_uploads_fixes_and_uploads_again(live, browser, tmp_path):
    world = build(live.client)
    a, b, c = world.people
    before = {p: balance(live.client, world.yc, p) for p in world.people}
    page = new_page(browser, live.base, "phone")
    page.goto("/staff/signin")
    check(page, "staff-signin")
    _staff_sign_in(page, "yc-clerk")
    check(page, "console-home")

    first = tmp_path / "春季学期.xlsx"
    first.write_bytes(
        sheet([
            ["J-1", a, "YC-ELEC", "2026-03-01"],
            ["J-2", b, "YC-NOPE", "2026-03-01"],   # no such outcome
            ["J-3", c, "YC-FARM", "2026-03-01"],
            ["J-4", c, "YC-ELEC", "2099-03-01"],   # in the future
        ])
    )  # fmt: skip
    page.click("text=上传表格")
    page.wait_for_url("**/upload")
    check(page, "console-upload")
    page.set_input_files("#file", str(first))
    page.click("#upload")
    page.wait_for_selector("#counts")
    assert page.get_attribute("#counts", "data-accepted") == "2"
    assert page.get_attribute("#counts", "data-rejected") == "2"
    lines = page.locator("#refused tbody tr")
    assert [lines.nth(i).get_attribute("data-line") for i in range(lines.count())] == ["3", "5"]
    reasons = page.inner_text("#refused")
    cells = [lines.nth(i).locator("td").last.inner_text() for i in range(2)]
    assert "YC-NOPE" in cells[0] and cells[1], reasons
    check(page, "console-upload-result")
    assert {p: balance(live.client, world.yc, p) for p in world.people} == {
        a: before[a] + 1.5,
        b: before[b],
        c: before[c] + 2,
    }

    with page.expect_download() as download:
        page.click("#download-refused")
    saved = tmp_path / "refused.xlsx"
    download.value.save_as(saved)
    rows = read_sheet(saved.read_bytes())
    assert [r[0] for r in rows[1:]] == ["J-2", "J-4"]

    # Fixed in Excel: the outcome code and the date (the file's own columns); the reason columns stay.
    book = openpyxl.load_workbook(saved)
    ws = book.active
    for row in ws.iter_rows(min_row=2):
        if row[0].value == "J-2":
            row[2].value = "YC-FARM"
        else:
            row[3].value = "2026-03-02"
    book.save(saved)
    page.click("#upload-again")
    page.set_input_files("#file", str(saved))
    page.click("#upload")
    page.wait_for_selector("#counts")
    assert page.get_attribute("#counts", "data-accepted") == "2"
    assert page.get_attribute("#counts", "data-rejected") == "0"
    assert {p: balance(live.client, world.yc, p) for p in world.people} == {
        a: before[a] + 1.5,
        b: before[b] + 2,
        c: before[c] + 2 + 1.5,
    }

    # The learner's own records, with the balance, in the console.
    page.goto(f"/console/YCCEC/completions?account_no={c}")
    assert int(page.get_attribute("#learner-balance", "data-units")) == round((before[c] + 3.5) * 100)
    check(page, "console-completions")


def test_approver_approves_a_conversion_and_a_clerk_cannot(live, browser):
    world = build(live.client)
    person = world.people[0]
    from tests.conftest import completion_body

    for code in ("YC-ELEC", "YC-FARM"):
        assert (
            live.client.post(
                "/api/v1/completions", json=completion_body(person, code), headers=world.yc
            ).status_code
            == 201
        )
    bearer = {"Authorization": f"Bearer {_learner_token(live, person)}"}
    asked = live.client.post("/api/v1/me/conversions", json={"rule_id": world.rule_id}, headers=bearer)
    assert asked.status_code == 201, asked.text
    conversion_id = asked.json()["id"]

    clerk = new_page(browser, live.base, "desktop")
    _staff_sign_in(clerk, "ou-clerk")
    response = clerk.goto("/console/CQOUYC/conversions")
    assert response.status == 403
    assert "审批员" in clerk.inner_text("#error")
    check(clerk, "console-403-role")

    page = new_page(browser, live.base, "desktop")
    _staff_sign_in(page, "ou-approver")
    page.goto("/console/CQOUYC/conversions")
    card = page.locator(f"[data-conversion={conversion_id}]")
    assert "居民用电安全" in card.inner_text() and "春季蔬菜田间管理" in card.inner_text()
    check(page, "console-conversions")
    page.click(f"#approve-{conversion_id}")
    page.wait_for_selector("#decided")
    assert page.locator("#queue-empty").count() == 1

    # The learner's portal shows the converted credits (academic: 2).
    learner = new_page(browser, live.base, "phone")
    host = live.base.split("//", 1)[1].split(":")[0]
    learner.context.add_cookies(
        [{"name": "cb_session", "value": bearer["Authorization"][7:], "domain": host, "path": "/"}]
    )
    learner.goto("/me")
    assert "学历教育" in learner.inner_text("main")
    api = live.client.get("/api/v1/me/balance", headers=bearer).json()
    assert api["by_category"]["academic"] == 2
    assert int(learner.get_attribute("#total", "data-units")) / 100 == api["total"]


def test_operator_signs_in_with_totp_and_sets_up_an_institution(live, browser):
    world = build(live.client)
    secret = add_operator(live.client)
    proposed = live.client.post(
        "/api/v1/conversion-rules",
        headers=world.ou,
        json={"code": "SENIOR-1", "name_zh": "老年教育学分转现代农业技术基础", "target_outcome_code": "OU-AGRI",
              "credits": 1, "effective_from": "2026-01-01",
              "source": {"credits": {"category": "community", "min_level": 1, "amount": 4}}},
    )  # fmt: skip
    assert proposed.status_code == 201, proposed.text

    page = new_page(browser, live.base, "phone")
    page.goto("/operator")
    page.wait_for_url("**/operator/signin?next=/operator")
    check(page, "operator-signin")
    page.fill("#username", "office")
    page.fill("#password", STAFF_PASSWORD)
    page.fill("#code", "000000" if totp_code(secret) != "000000" else "111111")
    page.click("#sign-in")
    page.wait_for_selector("#error")
    assert "动态验证码" in page.inner_text("#error")
    check(page, "operator-signin-wrong-code")
    page.fill("#password", STAFF_PASSWORD)
    page.fill("#code", totp_code(secret))
    page.click("#sign-in")
    page.wait_for_url("**/operator")
    check(page, "operator-home")

    page.click("text=机构")
    page.wait_for_url("**/operator/institutions")
    page.fill("#code", "HCZCEC")
    page.fill("#name_zh", "皇城镇社区教育中心")
    page.fill("#district", "皇城镇")
    page.click("#create-institution")
    page.wait_for_url("**/operator/institutions/HCZCEC")
    assert page.get_attribute("#state", "data-state") == "pending"
    page.fill("#staff-username", "hc-clerk")
    page.fill("#staff-name", "周老师")
    page.fill("#staff-password", STAFF_PASSWORD)
    page.click("#create-staff")
    page.wait_for_selector("[data-username=hc-clerk]")
    page.click("#accredit")
    page.wait_for_selector("#state[data-state=accredited]")
    page.click("#issue-key")
    page.wait_for_selector("#new-key")
    key = page.inner_text("#new-key")
    check(page, "operator-institution")
    assert live.client.get("/api/v1/catalogue", headers={"Authorization": f"Bearer {key}"}).status_code == 200

    page.goto("/operator/rules")
    assert "老年教育学分转现代农业技术基础" in page.inner_text("main")
    check(page, "operator-rules")
    page.click("#approve-rule-SENIOR-1")
    page.wait_for_selector("#approved")
    rules = live.client.get("/api/v1/conversion-rules", headers=world.ou).json()
    assert {r["code"]: r["state"] for r in rules}["SENIOR-1"] == "approved"

    # The new clerk signs in to the new institution's console.
    clerk = new_page(browser, live.base, "phone")
    _staff_sign_in(clerk, "hc-clerk")
    assert clerk.url.endswith("/console/HCZCEC")


@pytest.mark.parametrize("size", ["phone", "desktop"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_staff_and_operator_page_passes_axe(live_sqlite, browser, size, lang):
    live = live_sqlite
    world = build(live.client)
    secret = add_operator(live.client)
    page = new_page(browser, live.base, size, lang)
    _staff_sign_in(page, "yc-clerk")
    for path, name in (
        ("/console/YCCEC", "console-home"), ("/console/YCCEC/catalogue", "console-catalogue"),
        ("/console/YCCEC/catalogue/new", "console-outcome-new"), ("/console/YCCEC/catalogue/YC-ELEC", "console-outcome"),
        ("/console/YCCEC/enrol", "console-enrol"), ("/console/YCCEC/completions/new", "console-completion"),
        ("/console/YCCEC/upload", "console-upload"), ("/console/YCCEC/completions", "console-completions"),
        ("/console/YCCEC/learners", "console-learner-find"),
    ):  # fmt: skip
        page.goto(path)
        check(page, name)
    page.goto(f"/console/YCCEC/learners/{world.people[2]}")  # enrolled as 王秀英
    page.fill("#name", "王秀荣")
    page.fill("#reason", "身份证上是“荣”，开户时录错")
    page.click("#correct-name")
    page.wait_for_selector("#corrected")
    assert page.inner_text("#learner-name") == "王秀荣"
    assert "王秀英" in page.inner_text("#name-history")
    check(page, "console-learner")
    page.goto("/console/CQOUYC")
    check(page, "console-403-institution")
    page.goto("/console/YCCEC/enrol")
    page.fill("#name", "赵德芳")
    page.fill("#national_id", "11010519491231002X")
    page.click("#enrol")
    page.wait_for_selector("#slip")
    assert page.inner_text("#slip-code")
    check(page, "console-slip")

    office = new_page(browser, live.base, size, lang)
    office.goto("/operator/signin")
    office.fill("#username", "office")
    office.fill("#password", STAFF_PASSWORD)
    office.fill("#code", totp_code(secret))
    office.click("#sign-in")
    office.wait_for_url("**/operator")
    for path, name in (
        ("/operator", "operator-home"), ("/operator/institutions", "operator-institutions"),
        ("/operator/institutions/YCCEC", "operator-institution"), ("/operator/rules", "operator-rules"),
        ("/operator/keys", "operator-keys"), ("/operator/audit", "operator-audit"),
        ("/operator/learners", "operator-learner-find"), (f"/operator/learners/{world.people[2]}", "operator-learner"),
    ):  # fmt: skip
        office.goto(path)
        check(office, name)


@pytest.mark.parametrize(
    ("username", "promised", "button"),
    [
        ("yc-clerk", "查找记录；登记错误的记录由审批员撤销", False),
        ("yc-approver", "查找记录，撤销登记错误的记录", True),
    ],
)
def test_the_console_home_promises_each_role_only_what_its_pages_do(
    live, browser, username, promised, button
):
    """Before: a clerk's home page said 查找记录，撤销登记错误的记录, and the completions page gave a
    clerk no way to revoke (an approver's act)."""
    world = build(live.client)
    posted = live.client.post("/api/v1/completions", json=completion_body(world.people[0]), headers=world.yc)
    assert posted.status_code == 201, posted.text
    page = new_page(browser, live.base, "phone")
    _staff_sign_in(page, username)
    hint = page.inner_text("#go-completions .hint")
    assert hint == promised
    page.click("#go-completions")
    page.wait_for_url("**/completions")
    page.fill("#account_no", world.people[0])
    page.click("#find")
    page.wait_for_selector("#completions")
    revoke = page.locator(f"#revoke-{posted.json()['id']}")
    assert revoke.count() == (1 if button else 0)
    said = page.locator("#approver-revokes")
    assert said.count() == (0 if button else 1)
    if not button:
        assert "审批员" in said.inner_text()
    check(page, f"console-completions-{username}")
    page.context.close()


def test_clerk_chooses_the_district_from_the_banks_list(live, browser):
    """The enrolment form offers the bank's districts (its population / area list) as a choice, so a
    clerk cannot type a second spelling of one district (重庆市永川区 made its own statistics row)."""
    from tests.conftest import OPERATOR

    build(live.client)
    population = [
        {"district": d, "age_band": "60_plus", "residents": 100} for d in ("永川区", "临淄区", "珠山区")
    ]
    assert live.client.put("/api/v1/stats/population", json=population, headers=OPERATOR).status_code == 200
    page = new_page(browser, live.base, "phone")
    _staff_sign_in(page, "yc-clerk")
    page.goto("/console/YCCEC/enrol")
    options = page.locator("select#district option")
    assert options.all_inner_texts() == ["未填写", "临淄区", "永川区", "珠山区"]
    check(page, "console-enrol-districts")
    page.fill("#name", "刘淑芬")
    page.fill("#national_id", "11010519491231002X")
    page.select_option("#district", "永川区")
    page.click("#enrol")
    page.wait_for_selector("#slip")
    account = page.inner_text("#slip-account").strip()
    with live.app.state.db.reader() as session:
        assert learners.by_account_no(session, account).district == "永川区"
