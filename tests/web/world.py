"""A small world for the portal tests, built through the public API (as an institution would)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from creditbank.completions.models import Completion
from creditbank.learners.models import Learner
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome

PASSWORD = "长城长城12345"


@dataclass
class World:
    yc: dict[str, str]
    ou: dict[str, str]
    account_no: str
    code: str
    other_token: str
    other_certificate: str
    other_link: str


def build(client: TestClient) -> World:
    today = date.today()
    yc = institution(client, "YCCEC", "永川区社区教育学院")
    outcome(client, yc, "YC-ELEC", credits=1.5)
    outcome(
        client, yc, "YC-FARM", title_zh="春季蔬菜田间管理", title_en="Spring vegetable field care", credits=2
    )
    outcome(
        client,
        yc,
        "YC-WECHAT",
        title_zh="玩转微信享受智慧生活",
        category="senior",
        level=1,
        credits=1,
        validity_years=1,
    )
    ou = institution(client, "CQOUYC", "重庆开放大学永川分校")
    outcome(client, ou, "OU-AGRI", title_zh="现代农业技术基础", title_en="Modern agricultural technology",
            category="academic", level=5, credits=2)  # fmt: skip
    put = client.put(
        "/api/v1/qualifications/OU-AGRI-DIP",
        headers=ou,
        json={
            "name_zh": "现代农业专科",
            "name_en": "Modern agriculture (associate)",
            "total_credits": 10,
            "max_transfer_ratio": 0.5,
            "requirements": [{"category": "academic", "min_credits": 4}],
        },
    )
    assert put.status_code in (200, 201), put.text
    rule = client.post(
        "/api/v1/conversion-rules",
        headers=ou,
        json={
            "code": "AGRI-3",
            "name_zh": "社区农业学分转现代农业技术基础",
            "name_en": "Community farming to modern agriculture",
            "target_outcome_code": "OU-AGRI",
            "credits": 2,
            "source": {"credits": {"category": "community", "min_level": 2, "amount": 3, "within_years": 5}},
            "effective_from": (today - timedelta(days=30)).isoformat(),
            "qualification_code": "OU-AGRI-DIP",
        },
    )
    assert rule.status_code == 201, rule.text
    assert (
        client.post(f"/api/v1/conversion-rules/{rule.json()['id']}/approve", headers=OPERATOR).status_code
        == 200
    )

    person = learner(client, yc, name="张桂兰", phone="13800001234")
    for code, on in (
        ("YC-ELEC", today - timedelta(days=200)),
        ("YC-FARM", today - timedelta(days=100)),
        ("YC-WECHAT", today - timedelta(days=340)),  # expires within 90 days: the stale-credit warning
    ):
        body = completion_body(person["account_no"], code, completed_on=on.isoformat())
        assert client.post("/api/v1/completions", json=body, headers=yc).status_code == 201

    # Another learner with a certificate and a share link of their own.
    other = learner(client, yc, name="李建国")
    posted = client.post(
        "/api/v1/completions", json=completion_body(other["account_no"], "YC-ELEC"), headers=yc
    )
    token = client.post(
        "/api/v1/auth/activate",
        json={
            "account_no": other["account_no"],
            "activation_code": other["activation_code"],
            "password": PASSWORD,
        },
    ).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    cert = client.post(
        "/api/v1/me/certificates",
        json={"kind": "achievement", "completion_id": posted.json()["id"]},
        headers=bearer,
    ).json()["id"]
    client.cookies.clear()
    client.cookies.set("cb_session", token)
    page = client.get("/me/share/new")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    made = client.post(
        "/me/share", data={"csrf_token": csrf, "certificate_id": cert, "days": "30"}, follow_redirects=False
    )
    link = made.headers["location"].split("/")[3].split("?")[0]
    client.cookies.clear()
    return World(yc, ou, person["account_no"], person["activation_code"], token, cert, link)


def completion_id(client: TestClient, account_no: str, outcome_code: str) -> str:
    """The id of a learner's record of a course (the API answers it only to the institution that posted it)."""
    with client.app.state.db.reader() as session:  # type: ignore[attr-defined]
        return session.execute(
            select(Completion.id)
            .join(Learner, Learner.id == Completion.learner_id)
            .where(Completion.outcome_code == outcome_code, Learner.account_no == account_no)
        ).scalar_one()
