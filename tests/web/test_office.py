"""The district office's pages without a browser: institutions, keys shown once, staff accounts,
rules waiting for approval, signing keys, the audit — and who may not use them."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from creditbank.kit import clock
from creditbank.staff.models import StaffAction
from tests.conftest import OPERATOR, institution, learner
from tests.web.staffworld import (
    STAFF_PASSWORD,
    add_operator,
    add_staff,
    csrf,
    operator_sign_in,
    staff_sign_in,
)


def error_text(response) -> str:
    match = re.search(r'id="error"[^>]*>(.*?)<', response.text)
    return match.group(1) if match else ""


@pytest.fixture
def office(client):
    return operator_sign_in(client, add_operator(client))


def test_the_operator_creates_accredits_keys_and_staffs_an_institution(office):
    token = csrf(office, "/operator/institutions")
    made = office.post(
        "/operator/institutions",
        data={"csrf_token": token, "code": "hczcec", "name_zh": "皇城镇社区教育中心", "district": "皇城镇"},
        follow_redirects=False,
    )
    assert made.status_code == 303 and made.headers["location"] == "/operator/institutions/HCZCEC"
    page = office.get("/operator/institutions/HCZCEC")
    assert 'data-state="pending"' in page.text
    office.post("/operator/institutions/HCZCEC/state", data={"csrf_token": token, "state": "accredited"})
    assert 'data-state="accredited"' in office.get("/operator/institutions/HCZCEC").text

    issued = office.post(
        "/operator/institutions/HCZCEC/api-keys", data={"csrf_token": token, "label": "教务系统"}
    )
    assert issued.status_code == 201
    key = re.search(r'id="new-key">([^<]+)<', issued.text).group(1)
    assert office.get("/api/v1/catalogue", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert key not in office.get("/operator/institutions/HCZCEC").text  # shown once

    added = office.post(
        "/operator/institutions/HCZCEC/staff",
        data={
            "csrf_token": token,
            "username": "hc-clerk",
            "name": "周老师",
            "password": STAFF_PASSWORD,
            "role": ["clerk", "approver"],
        },
        follow_redirects=False,
    )
    assert added.status_code == 303
    staff_sign_in(office, "hc-clerk")
    assert office.get("/console/HCZCEC").status_code == 200
    with office.app.state.db.reader() as session:
        actions = [(a.action, a.operator_id is not None) for a in session.exec(select(StaffAction))]
    assert ("institution", True) in actions and ("accredited", True) in actions and ("staff", True) in actions


def test_a_duplicate_username_is_said_and_nothing_is_created(office):
    institution(office, "YCCEC", "永川区社区教育学院")
    add_staff(office, "YCCEC", "yc-clerk", "clerk")
    response = office.post(
        "/operator/institutions/YCCEC/staff",
        data={
            "csrf_token": csrf(office, "/operator/institutions/YCCEC"),
            "username": "yc-clerk",
            "name": "又一个",
            "password": STAFF_PASSWORD,
            "role": ["clerk"],
        },
    )
    assert response.status_code == 409 and "yc-clerk" in error_text(response)


def _propose_agri_rule(office):
    """The open university's rule AGRI-3 (3 community credits → 现代农业技术基础), proposed."""
    from tests.conftest import outcome

    ou = institution(office, "CQOUYC", "重庆开放大学永川分校")
    outcome(office, ou, "OU-AGRI", title_zh="现代农业技术基础", category="academic", level=5, credits=2)
    proposed = office.post(
        "/api/v1/conversion-rules",
        headers=ou,
        json={
            "code": "AGRI-3",
            "name_zh": "社区农业学分转现代农业技术基础",
            "target_outcome_code": "OU-AGRI",
            "credits": 2,
            "effective_from": "2026-01-01",
            "source": {"credits": {"category": "community", "min_level": 2, "amount": 3}},
        },
    )
    return ou, proposed


def test_a_proposed_rule_is_shown_with_its_text_and_approved(office):
    ou, proposed = _propose_agri_rule(office)
    assert proposed.status_code == 201
    page = office.get("/operator/rules")
    assert "社区农业学分转现代农业技术基础" in page.text and "&#34;community&#34;" not in page.text
    source = re.search(r'id="source-AGRI-3">(.*?)</div>', page.text, re.S).group(1)
    assert "至少 3 学分社区教育" in source and "社区教育" in source and "2 级及以上" in source
    grants = re.search(r'id="grants-AGRI-3">(.*?)</dd>', page.text, re.S).group(1)
    assert "现代农业技术基础" in grants and "CQOUYC:OU-AGRI" in grants
    owner = re.search(r'id="owner-AGRI-3">(.*?)</dd>', page.text, re.S).group(1)
    assert owner.startswith("重庆开放大学永川分校") and "CQOUYC" in owner
    office.post(
        f"/operator/rules/{proposed.json()['id']}/approve",
        data={"csrf_token": csrf(office, "/operator/rules")},
    )
    assert 'id="no-rules"' in office.get("/operator/rules").text
    rules = office.get("/api/v1/conversion-rules", headers=ou).json()
    assert [r["state"] for r in rules if r["code"] == "AGRI-3"] == ["approved"]


def test_rotating_the_key_and_running_the_audit(office):
    before = office.get("/operator/keys").text.count('data-status="active"')
    office.post("/operator/keys/rotate", data={"csrf_token": csrf(office, "/operator/keys")})
    page = office.get("/operator/keys").text
    assert page.count('data-status="active"') == 1 and 'data-status="retired"' in page and before == 1
    assert 'id="never"' in office.get("/operator/audit").text
    office.post("/operator/audit", data={"csrf_token": csrf(office, "/operator/audit")})
    assert 'data-passed="yes"' in office.get("/operator/audit").text


def test_the_keys_page_says_since_when_pdfs_are_sealed_as_published(office):
    """The time verifiers judge unsealed PDFs by (creditbank_pdf_seals_since) is on the operator's
    keys page, in Chinese and in English, exactly as the key documents publish it."""
    published = office.get("/.well-known/jwks.json").json()["creditbank_pdf_seals_since"]
    beijing = clock.local(clock.parse_iso(published)).strftime("%Y-%m-%d %H:%M")  # as every time shown
    zh = office.get("/operator/keys").text
    assert f"自 {beijing}（北京时间）起签发的证书，其 PDF 都带本行的封印" in zh, zh
    assert f"（creditbank_pdf_seals_since：{published}，UTC）" in zh, zh
    office.cookies.set("cb_lang", "en")
    en = office.get("/operator/keys").text
    assert f"Certificates issued from {beijing} (Beijing time) on have sealed PDFs" in en, en
    assert f"creditbank_pdf_seals_since ({published}, UTC)" in en, en


def test_a_bad_compromise_time_is_a_sentence_and_no_key_changes(office):
    page = office.get("/operator/keys").text
    kid = re.search(r'<option value="([^"]+)"', page).group(1)
    response = office.post(
        "/operator/keys/compromised",
        data={"csrf_token": csrf(office, "/operator/keys"), "kid": kid, "since": "yesterday"},
    )
    assert response.status_code == 422 and "泄露时间" in error_text(response)  # the field in words
    assert 'data-status="compromised"' not in office.get("/operator/keys").text


@pytest.mark.parametrize(
    "path",
    ["/operator/institutions", "/operator/rules", "/operator/keys", "/operator/audit", "/operator/learners"],
)
def test_staff_get_a_403_page_on_every_office_page(client, path):
    institution(client, "YCCEC", "永川区社区教育学院")
    add_staff(client, "YCCEC", "yc-approver", "approver")
    staff_sign_in(client, "yc-approver")
    response = client.get(path)
    assert response.status_code == 403 and response.headers["content-type"].startswith("text/html")


def _label(html: str, for_id: str) -> str:
    found = re.search(rf'<label for="{for_id}">([^<]*)<', html)
    # Once in a full run (PostgreSQL, load 10) the recognition page came without its form: say which
    # page came instead, so the next failure names its cause.
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    notices = re.findall(r'<p class="notice[^"]*"[^>]*>(.*?)</p>', html, re.S)
    # A refusal outside the page's route (busy, database_unavailable, internal_error: the app's
    # handlers) answers this client — which does not ask for HTML — as problem+json, with no h1.
    problem = re.search(r'"code":"([a-z_]+)"', html) if heading is None else None
    came = problem.group(1) if problem else (heading and heading.group(1))
    assert found, f"no label for {for_id!r}; the page says {came!r} {notices!r}"
    return found.group(1).strip()


def test_fields_are_labelled_with_what_they_store(office):
    """The district field is stored as the learner's/institution's district (区县), not a street;
    the statistics' period starts on a date — not a rule's "takes effect"."""
    assert _label(office.get("/operator/institutions").text, "district") == "区县（可不填）"
    assert _label(office.get("/operator/stats").text, "from") == "起始日期"
    assert _label(office.get("/operator/stats/recognition").text, "from") == "起始日期"
    institution(office, "YCCEC", "永川区社区教育学院")
    add_staff(office, "YCCEC", "yc-clerk", "clerk")
    staff_sign_in(office, "yc-clerk")
    assert _label(office.get("/console/YCCEC/enrol").text, "district") == "区县（可不填）"


def test_a_rule_on_named_courses_lists_them_by_title_and_school(office):
    from tests.conftest import outcome

    yc = institution(office, "YCCEC", "永川区社区教育学院")
    outcome(office, yc, "YC-WECHAT", title_zh="玩转微信享受智慧生活", category="senior", level=1, credits=1)
    ou = institution(office, "CQOUYC", "重庆开放大学永川分校")
    outcome(office, ou, "OU-IT", title_zh="计算机应用基础", category="academic", level=5, credits=2)
    proposed = office.post(
        "/api/v1/conversion-rules",
        headers=ou,
        json={
            "code": "IT-1",
            "name_zh": "智慧生活转计算机应用基础",
            "target_outcome_code": "OU-IT",
            "credits": 1,
            "effective_from": "2026-01-01",
            "source": {"all_of": ["YCCEC:YC-WECHAT"]},
        },
    )
    assert proposed.status_code == 201
    page = office.get("/operator/rules").text
    source = re.search(r'id="source-IT-1">(.*?)</div>', page, re.S).group(1)
    assert "玩转微信享受智慧生活 · 永川区社区教育学院" in source
    assert '<small class="number">YCCEC:YC-WECHAT</small>' in source


def test_the_operator_rejects_a_rule_with_a_reason_the_institution_reads(office):
    ou, response = _propose_agri_rule(office)
    proposed = response.json()
    page = office.get("/operator/rules").text
    assert 'id="reject-rule-AGRI-3"' in page
    blank = office.post(
        f"/operator/rules/{proposed['id']}/reject",
        data={"csrf_token": csrf(office, "/operator/rules"), "reason": " "},
    )
    assert blank.status_code == 422 and "驳回理由" in error_text(blank)
    # Not a dead end: the rules page again, the refusal beside this rule's reason box.
    section = re.search(
        r'<section class="card"[^>]*data-rule="AGRI-3">.*?</section>', blank.text, re.S
    ).group(0)
    assert 'id="error"' in section and 'id="reject-rule-AGRI-3"' in section, section
    done = office.post(
        f"/operator/rules/{proposed['id']}/reject",
        data={"csrf_token": csrf(office, "/operator/rules"), "reason": "请补充田间学校的学时证明"},
    )
    assert done.status_code == 200 and 'id="rejected"' in done.text and 'id="no-rules"' in done.text
    [seen] = office.get("/api/v1/conversion-rules?state=rejected", headers=ou).json()
    assert (seen["state"], seen["rejection_reason"]) == ("rejected", "请补充田间学校的学时证明")
    with office.app.state.db.reader() as session:
        actions = [(a.action, a.subject) for a in session.exec(select(StaffAction))]
    assert ("rule", "AGRI-3 v1 rejected: 请补充田间学校的学时证明") in actions


def test_an_institution_name_with_a_control_character_is_refused_and_nothing_is_created(office):
    """kit.text on the operator's form: a NUL or a right-to-left override in the name is refused in
    words (the service says which character); a zero-width space is dropped."""
    token = csrf(office, "/operator/institutions")
    for name, char in (("皇城镇\u0000社区教育中心", "U+0000"), ("皇城镇\u202e社区教育中心", "U+202E")):
        refused = office.post(
            "/operator/institutions", data={"csrf_token": token, "code": "HCZ", "name_zh": name}
        )
        assert refused.status_code == 422 and "不可见或控制字符" in error_text(refused), refused.text[:300]
        assert char in error_text(refused)
    assert "HCZ" not in {i["code"] for i in office.get("/api/v1/institutions", headers=OPERATOR).json()}
    made = office.post(
        "/operator/institutions",
        data={"csrf_token": token, "code": "HCZ", "name_zh": "皇城镇\u200b社区教育中心"},
        follow_redirects=False,
    )
    assert made.status_code == 303
    assert "皇城镇社区教育中心" in office.get("/operator/institutions/HCZ").text


def test_the_office_corrects_any_learners_name_and_the_history_names_the_office(office):
    school = institution(office, "YCCEC", "永川区社区教育学院")
    account = learner(office, school, name="张小明")["account_no"]
    found = office.get(f"/operator/learners?account_no={account.lower()}", follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/operator/learners/{account}"
    page = office.get(f"/operator/learners/{account}")
    assert "永川区社区教育学院" in re.search(r'id="enrolled-by">([^<]+)<', page.text).group(1)
    token = csrf(office, f"/operator/learners/{account}")
    blank = office.post(
        f"/operator/learners/{account}/name", data={"csrf_token": token, "name": " ", "reason": "核对身份证"}
    )
    assert blank.status_code == 422 and "姓名" in error_text(blank)  # the field in words
    done = office.post(
        f"/operator/learners/{account}/name",
        data={"csrf_token": token, "name": "张晓明", "reason": "学校已停办，由区学分银行核对身份证后更正"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].endswith("?corrected=yes")
    history = re.search(
        r'id="name-history">(.*?)</ol>', office.get(done.headers["location"]).text, re.S
    ).group(1)
    assert "张小明" in history and "张晓明" in history and "区学分银行 (office)" in history
    api = office.get(f"/api/v1/learners/{account}/name-corrections", headers=school).json()
    assert api["name"] == "张晓明" and api["corrections"][0]["institution_code"] is None
    assert office.get("/operator/learners/CB00000000000").status_code == 404
