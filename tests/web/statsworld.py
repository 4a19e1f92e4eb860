"""A small district for the statistics pages: two institutions, learners of every age band in two
districts, completions this year (and one last year, which the default period leaves out), posted
through the API. ``expected`` is the test's own count of what it posted."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from fastapi.testclient import TestClient

from creditbank.kit import clock
from tests.conftest import OPERATOR, completion_body, institution, national_id, outcome

PASSWORD = "长城长城12345"

# (district, township, birth year, gender, courses completed this year)
PEOPLE = [
    ("永川区", "中山路街道", 1950, "female", 2),
    ("永川区", "中山路街道", 1958, "female", 1),
    ("永川区", "胜利路街道", 1962, "male", 1),
    ("永川区", "胜利路街道", 1985, "female", 2),
    ("永川区", "中山路街道", 1990, "male", 0),
    ("永川区", "胜利路街道", 2012, "female", 1),
    ("临淄区", "皇城镇", 1955, "male", 2),
    ("临淄区", "皇城镇", 1978, "female", 1),
]
COURSES = ["YC-ELEC", "YC-WECHAT"]


def band(birth_year: int) -> str:
    age = clock.today().year - birth_year
    return "under_18" if age < 18 else "60_plus" if age >= 60 else "18_59"


@dataclass
class StatsWorld:
    # (district, band) -> distinct learners with a completion this year; district -> 人次
    learners: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    first_account: str = ""
    """学员0: activated with ``PASSWORD``, agreed to be named (a recognition candidate)."""
    completions: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def district_learners(self, district: str) -> int:
        return sum(n for (d, _), n in self.learners.items() if d == district)


def build(client: TestClient) -> StatsWorld:
    head = institution(client, "YCCEC", "永川区社区教育学院")
    client.put(
        "/api/v1/institutions/YCCEC/location",
        json={"district": "永川区", "township": "中山路街道"},
        headers=OPERATOR,
    )
    outcome(client, head, "YC-ELEC")
    outcome(client, head, "YC-WECHAT", title_zh="玩转微信享受智慧生活", category="senior", credits=1)
    client.put(
        "/api/v1/stats/areas",
        json=[
            {"district": "永川区", "township": "中山路街道", "village": "萱花社区"},
            {"district": "永川区", "township": "胜利路街道"},
            {"district": "临淄区", "township": "皇城镇", "village": "东门村"},
        ],
        headers=OPERATOR,
    )
    world = StatsWorld()
    today = clock.today()
    this_year = date(today.year, 1, 1)
    for i, (district, township, born, gender, courses) in enumerate(PEOPLE):
        body = {
            "name": f"学员{i}",
            "national_id": national_id(date(born, 6, 1), gender=gender),
            "gender": gender,
            "district": district,
            "township": township,
        }
        r = client.post("/api/v1/learners", json=body, headers=head)
        assert r.status_code == 201, r.text
        account = r.json()["account_no"]
        if i == 0:
            world.first_account = account
            activated = client.post(
                "/api/v1/auth/activate",
                json={
                    "account_no": account,
                    "activation_code": r.json()["activation_code"],
                    "password": PASSWORD,
                },
            )
            me = {"Authorization": f"Bearer {activated.json()['access_token']}"}
            assert (
                client.put("/api/v1/me/recognition-consent", json={"named": True}, headers=me).status_code
                == 200
            )
        for code in COURSES[:courses]:
            r = client.post(
                "/api/v1/completions",
                json=completion_body(account, code, completed_on=this_year.isoformat()),
                headers=head,
            )
            assert r.status_code == 201, r.text
            world.completions[district] += 1
        if courses:
            world.learners[(district, band(born))] += 1
        elif i == 4:  # last year only: outside the default period (this year to date)
            r = client.post(
                "/api/v1/completions",
                json=completion_body(
                    account, "YC-ELEC", completed_on=date(today.year - 1, 12, 30).isoformat()
                ),
                headers=head,
            )
            assert r.status_code == 201, r.text
    return world
