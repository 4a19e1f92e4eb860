"""What a learner reads after the district office forced the revocation of a record a conversion
used (the cascade): the statement labels each line by what happened to the credits, its running
balance is a balance the learner really had, and every reason is in the page's language only."""

from __future__ import annotations

import re

from sqlalchemy import select

from creditbank.completions.models import Completion
from creditbank.learners.models import Learner
from tests.conftest import OPERATOR
from tests.web.world import PASSWORD, build


def _forced(client):
    """张桂兰 converts 3 community credits (YC-ELEC 1.5, YC-FARM 2, …) into OU-AGRI (2 credits), it is
    approved, she issues a transcript; then the office force-revokes YC-ELEC: 登记错误."""
    world = build(client)
    token = client.post(
        "/api/v1/auth/activate",
        json={"account_no": world.account_no, "activation_code": world.code, "password": PASSWORD},
    ).json()["access_token"]
    me = {"Authorization": f"Bearer {token}"}
    asked = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=me)
    assert asked.status_code == 201, asked.text
    decided = client.post(
        f"/api/v1/conversions/{asked.json()['id']}/decide", json={"decision": "approve"}, headers=world.ou
    )
    assert decided.status_code == 200, decided.text
    transcript = client.post("/api/v1/me/certificates", json={"kind": "transcript"}, headers=me).json()
    with client.app.state.db.reader() as session:
        elec = session.execute(
            select(Completion.id)
            .join(Learner, Learner.id == Completion.learner_id)
            .where(Completion.outcome_code == "YC-ELEC", Learner.account_no == world.account_no)
        ).scalar_one()
    forced = client.post(
        f"/api/v1/completions/{elec}/revoke", json={"reason": "登记错误", "force": True}, headers=OPERATOR
    )
    assert forced.status_code == 200, forced.text
    client.cookies.set("cb_session", token)
    return world, me, transcript["id"], asked.json()["id"]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _statement(client) -> list[tuple[str, int, str | None]]:
    """(label, units, balance shown after it or None) for each line, in order."""
    html = client.get("/me/statement").text
    lines = []
    for item in re.findall(r'data-kind="[^"]*" data-units="(-?\d+)">(.*?)</li>', html, re.S):
        units, body = int(item[0]), item[1]
        label = _text(re.findall(r"<div>(.*?)</div>", body, re.S)[0]).split(" · ")[0].strip()
        shown = re.search(r'class="balance-after">[^<]*?([\d.]+)', body)
        lines.append((label, units, shown.group(1) if shown else None))
    return lines


def test_the_statement_says_credits_came_back_when_a_conversion_was_undone(client):
    _forced(client)
    lines = _statement(client)
    undone = lines[6:9]  # the conversion's reversal: 1.5 and 1.5 back, the 2 converted credits taken
    assert [(label, units) for label, units, _ in undone] == [
        ("退回学分（转换撤销）", 150),
        ("退回学分（转换撤销）", 150),
        ("扣回转换所得学分（转换撤销）", -200),
    ], lines
    assert lines[9][:2] == ("扣回学分（记录更正）", -150), lines
    client.cookies.set("cb_lang", "en")
    assert [label for label, _, _ in _statement(client)[6:10]] == [
        "Credits returned (conversion undone)",
        "Credits returned (conversion undone)",
        "Converted credits withdrawn (conversion undone)",
        "Credits withdrawn (record corrected)",
    ]


def test_every_balance_the_statement_shows_is_one_the_learner_had(client):
    _forced(client)
    lines = _statement(client)
    held, total = [], 0
    for _, units, shown in lines:
        total += units
        if shown is not None:
            held.append((shown, total))
    # Shown only after a whole transaction, and then it is the running sum of every line before it.
    assert [shown for shown, _ in held] == ["1.5", "3.5", "4.5", "3.5", "4.5", "3"], lines
    assert all(float(shown) * 100 == total for shown, total in held)


CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


def test_a_request_undone_by_the_cascade_says_why_in_the_pages_language_only(client):
    _forced(client)
    page = _text(client.get("/me/conversions/requests").text)
    assert "原因：来源记录已撤销：登记错误" in page and "source" not in page, page
    client.cookies.set("cb_lang", "en")
    page = _text(client.get("/me/conversions/requests").text)
    assert "Reason: A record it used was revoked: 登记错误" in page and "来源" not in page, page


def test_a_certificate_revoked_with_its_record_says_why_in_the_pages_language_only(client):
    _, _, certificate, _ = _forced(client)
    mine = _text(client.get("/me/certificates").text)
    assert "所依据的学习成果记录已撤销：登记错误" in mine and "rests on" not in mine, mine
    check = _text(client.get(f"/v/{certificate}").text)
    assert "原因：所依据的学习成果记录已撤销：登记错误" in check
    assert "撤销状态: 证书已撤销：所依据的学习成果记录已撤销：登记错误" in check
    assert "rests on" not in check and "no signed data" not in check and "链接中没有签名数据" in check, check
    client.cookies.set("cb_lang", "en")
    check = _text(client.get(f"/v/{certificate}").text)
    assert "Reason: The learning record it rests on was revoked: 登记错误" in check
    assert "revoked: The learning record it rests on was revoked: 登记错误" in check
    assert "所依据" not in check and "未携带" not in check and "No signed data in the link" in check, check
    # The API keeps one field for both readers, and one per language.
    answer = client.get(f"/api/v1/verify/{certificate}").json()
    status = answer["checks"]["status"]
    assert status["detail_zh"] == "证书已撤销：所依据的学习成果记录已撤销：登记错误"
    assert status["detail_en"] == "revoked: The learning record it rests on was revoked: 登记错误"
    assert (
        answer["certificate"]["revoke_reason_en"] == "The learning record it rests on was revoked: 登记错误"
    )


def test_reasons_stored_before_read_in_one_language():
    from creditbank.kit import reasons

    old = "来源记录已撤销 / source completion revoked: 登记错误"
    assert reasons.text(old, "zh") == "来源记录已撤销：登记错误"
    assert reasons.text(old, "en") == "A record it used was revoked: 登记错误"
    old = "所依据的学习成果记录已撤销：登记错误 / the completion it rests on was revoked"
    assert reasons.text(old, "en") == "The learning record it rests on was revoked: 登记错误"
    assert reasons.text("超过 30 天未处理 / not decided within 30 days", "zh") == "超过 30 天未处理"
    assert reasons.text("不符合条件", "en") == "不符合条件"  # a person's own words, as typed


def test_a_compromised_key_is_named_in_each_language_alone(tmp_path):
    from datetime import UTC, datetime

    from creditbank.certificates.keys import KeyStore
    from creditbank.verification.verify import _key_check

    store = KeyStore(tmp_path, None)
    first = store.ensure_active()
    store.rotate()
    at = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    check = _key_check(store.mark_compromised(first.kid, at), at).as_dict()
    assert check["ok"] is False and "泄露" in check["detail_zh"]
    assert not re.search(r"[A-Za-z]{4,}", check["detail_zh"].replace(first.kid, "")), check
    assert "compromised" in check["detail_en"] and not CJK.search(check["detail_en"]), check


def test_a_request_decided_twice_names_its_state_in_chinese(client):
    world, _, _, undone = _forced(client)  # the cascade undid the approved request: 已取消
    decide = f"/api/v1/conversions/{undone}/decide"
    again = client.post(decide, json={"decision": "approve"}, headers=world.ou).json()
    assert again["title"] == "该转换申请已处理（已取消）", again
    english = client.post(decide, json={"decision": "approve"}, headers=world.ou | {"Accept-Language": "en"})
    assert english.json()["title"] == "This conversion request was already decided (reversed)"


def test_english_pages_speak_english(client):
    world, _, _, _ = _forced(client)
    put = client.put(
        "/api/v1/qualifications/OU-AGRI-CERT",
        headers=world.ou,
        json={
            "name_zh": "现代农业证书",
            "name_en": "Modern agriculture certificate",
            "total_credits": 4,
            "max_transfer_ratio": 0.5,
            "requirements": [{"outcome": "OU-AGRI"}, {"category": "academic", "min_credits": 1}],
        },
    )
    assert put.status_code in (200, 201), put.text
    client.cookies.set("cb_lang", "en")
    progress = _text(client.get("/me/progress/OU-AGRI-CERT").text)
    assert "Modern agricultural technology" in progress and "现代农业技术基础" not in progress, progress
    assert "Academic education credits" in progress and "still need 1 academic credit " in progress, progress
    statement = _text(client.get("/me/statement").text)
    assert "+1 credit " in statement and "1 credits" not in statement.replace("+1 credit ", ""), statement
    assert "+1.5 credits" in statement


def test_the_offices_institution_form_names_the_field_in_words(client):
    from tests.web.staffworld import add_operator, csrf, operator_sign_in

    operator_sign_in(client, add_operator(client))
    form = {"csrf_token": csrf(client, "/operator/institutions"), "code": "坏代码!", "name_zh": "某某学校"}
    refused = _text(client.post("/operator/institutions", data=form).text)
    assert "机构代码 的值无效：2–32 位字母、数字、-_" in refused and "code 的值无效" not in refused, refused
    client.cookies.set("cb_lang", "en")
    form["csrf_token"] = csrf(client, "/operator/institutions")
    refused = _text(client.post("/operator/institutions", data=form).text)
    assert "Invalid value for institution code: 2–32 letters, digits, -_" in refused, refused


def test_a_page_of_the_statement_never_cuts_a_transaction_in_two(client, monkeypatch):
    from creditbank.web import learner as pages

    _forced(client)
    every = _statement(client)
    monkeypatch.setattr(pages, "STATEMENT_PAGE", 7)  # the 7th line is the middle of the undone conversion
    first = client.get("/me/statement").text
    after = re.search(r'href="/me/statement\?after=(\d+)"', first).group(1)
    second = client.get(f"/me/statement?after={after}").text
    shown = first.count("data-kind=") + second.count("data-kind=")
    assert shown == len(every) == 10, (first.count("data-kind="), second.count("data-kind="))


def test_every_line_of_the_api_statement_arrives_whatever_the_page_size(client):
    """GET /api/v1/me/ledger pages by a transaction's seq: a page cut inside the undone conversion
    (three lines, one seq) made the next page skip its other lines for a program reading the API."""
    _world, me, _transcript, _request = _forced(client)
    every = client.get("/api/v1/me/ledger?limit=500", headers=me).json()
    assert every["next_after"] is None and len(every["items"]) == 10
    for limit in range(1, 10):
        seen, after = [], None
        for _ in range(20):
            query = f"?limit={limit}" + (f"&after={after}" if after is not None else "")
            page = client.get(f"/api/v1/me/ledger{query}", headers=me).json()
            seen += page["items"]
            after = page["next_after"]
            if after is None:
                break
        assert seen == every["items"], limit


def test_a_transaction_longer_than_a_page_is_shown_whole(client, monkeypatch):
    from creditbank.web import learner as pages

    _forced(client)
    every = _statement(client)
    monkeypatch.setattr(pages, "STATEMENT_PAGE", 1)
    shown, url = 0, "/me/statement"
    for _ in range(20):
        html = client.get(url).text
        shown += html.count("data-kind=")
        following = re.search(r'href="(/me/statement\?after=\d+)"', html)
        if following is None:
            break
        url = following.group(1)
    assert shown == len(every) == 10
