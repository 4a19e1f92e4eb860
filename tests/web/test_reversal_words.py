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
