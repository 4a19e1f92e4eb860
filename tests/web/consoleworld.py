"""A world for the console tests: two schools, their staff, a catalogue, learners, a rule."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, timedelta

import openpyxl
from fastapi.testclient import TestClient

from tests.conftest import OPERATOR, institution, learner, outcome
from tests.web.staffworld import add_staff

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class ConsoleWorld:
    yc: dict[str, str]
    ou: dict[str, str]
    people: list[str]
    """Account numbers of three learners enrolled by YCCEC."""
    rule_id: int


def build(client: TestClient) -> ConsoleWorld:
    today = date.today()
    yc = institution(client, "YCCEC", "永川区社区教育学院")
    outcome(client, yc, "YC-ELEC", credits=1.5)
    outcome(client, yc, "YC-FARM", title_zh="春季蔬菜田间管理", credits=2)
    ou = institution(client, "CQOUYC", "重庆开放大学永川分校")
    outcome(client, ou, "OU-AGRI", title_zh="现代农业技术基础", category="academic", level=5, credits=2)
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
        },
    )
    assert rule.status_code == 201, rule.text
    rule_id = rule.json()["id"]
    assert client.post(f"/api/v1/conversion-rules/{rule_id}/approve", headers=OPERATOR).status_code == 200
    people = [learner(client, yc, name=n)["account_no"] for n in ("张桂兰", "李建国", "王秀英")]
    add_staff(client, "YCCEC", "yc-clerk", "clerk")
    add_staff(client, "YCCEC", "yc-approver", "approver")
    add_staff(client, "CQOUYC", "ou-clerk", "clerk")
    add_staff(client, "CQOUYC", "ou-approver", "approver")
    return ConsoleWorld(yc, ou, people, rule_id)


def balance(client: TestClient, headers: dict[str, str], account_no: str) -> float:
    response = client.get(f"/api/v1/learners/{account_no}/balance", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["total"]


def sheet(rows: list[list[object]], header: list[str] | None = None, merge: str | None = None) -> bytes:
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(header or ["external_id", "account_no", "outcome_code", "completed_on"])
    for row in rows:
        ws.append(row)
    if merge:
        ws.merge_cells(merge)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def read_sheet(data: bytes) -> list[list[object]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [list(r) for r in book.active.iter_rows(values_only=True)]


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
