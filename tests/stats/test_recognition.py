"""Recognition (学习激励): candidates are the learners with the most credits or hours per district and
category among those who agreed to be named; the operator records an award; the learner sees it and
gets it as a signed Open Badge of achievement type Award that verifies."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from tests.conftest import OPERATOR, completion_body, institution, national_id, outcome

PASSWORD = "长城长城12345"
PERIOD = {"from": "2026-01-01", "to": "2026-06-30"}
# code -> (category, credits, hours)
COURSES = {
    "C1": ("community", 1.5, 24),
    "C2": ("community", 2, 10),
    "S1": ("senior", 1, 40),
    "S2": ("senior", 0.5, 8),
}
# name, district, consents, courses
PEOPLE = [
    ("甲", "永川区", True, ["C1", "C2", "S1"]),
    ("乙", "永川区", True, ["C1", "S2"]),
    ("丙", "永川区", False, ["C1", "C2", "S1", "S2"]),  # the most of all, but never agreed
    ("丁", "临淄区", True, ["C2"]),
    ("戊", "临淄区", True, ["S1", "S2"]),
]


def _world(client):
    head = institution(client, "YCCEC", "永川区社区教育学院")
    for code, (category, credits, hours) in COURSES.items():
        outcome(client, head, code, category=category, credits=credits, hours=hours, title_zh=code)
    people = {}
    for name, district, consents, courses in PEOPLE:
        enrolled = client.post(
            "/api/v1/learners",
            json={"name": name, "national_id": national_id(date(1955, 1, 1)), "district": district},
            headers=head,
        ).json()
        token = client.post(
            "/api/v1/auth/activate",
            json={
                "account_no": enrolled["account_no"],
                "activation_code": enrolled["activation_code"],
                "password": PASSWORD,
            },
        ).json()["access_token"]
        me = {"Authorization": f"Bearer {token}"}
        if consents:
            r = client.put("/api/v1/me/recognition-consent", json={"named": True}, headers=me)
            assert r.status_code == 200 and r.json()["named"] is True, r.text
        for code in courses:
            r = client.post(
                "/api/v1/completions",
                json=completion_body(enrolled["account_no"], code, completed_on="2026-03-03"),
                headers=head,
            )
            assert r.status_code == 201, r.text
        people[name] = (enrolled["account_no"], me)
    return people


def _expected(by: str) -> dict:
    """(district, category) -> [names by rank], the test's own ranking of consenting learners."""
    totals: dict = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    for name, district, consents, courses in PEOPLE:
        if not consents:
            continue
        for code in courses:
            category, credits, hours = COURSES[code]
            totals[(district, category)][name][0] += credits
            totals[(district, category)][name][1] += hours
    i = 0 if by == "credits" else 1
    return {
        key: [n for n, _ in sorted(per.items(), key=lambda kv: (-kv[1][i], -kv[1][1 - i]))]
        for key, per in totals.items()
    }


def test_candidates_are_the_consenting_learners_with_the_most_credits_or_hours(client):
    _world(client)
    for by in ("credits", "hours"):
        r = client.get("/api/v1/stats/recognition", params=PERIOD | {"by": by}, headers=OPERATOR)
        assert r.status_code == 200, r.text
        got: dict = defaultdict(list)
        for c in r.json():
            got[(c["district"], c["category"])].append(c["name"])
        assert dict(got) == _expected(by), by
        assert all(c["name"] != "丙" for c in r.json())


def test_withdrawing_consent_removes_a_learner_from_the_candidates(client):
    people = _world(client)
    client.put("/api/v1/me/recognition-consent", json={"named": False}, headers=people["甲"][1])
    names = {
        c["name"] for c in client.get("/api/v1/stats/recognition", params=PERIOD, headers=OPERATOR).json()
    }
    assert "甲" not in names and "乙" in names


def test_an_award_reaches_the_learner_and_becomes_a_signed_award_badge(client):
    people = _world(client)
    account, me = people["甲"]
    body = {"account_no": account, "title": "star", "category": "community", "reason": "坚持学习"} | PERIOD
    r = client.post("/api/v1/awards", json=body, headers=OPERATOR)
    assert r.status_code == 201, r.text
    award = r.json()
    assert (award["title_zh"], award["credits"], award["hours"]) == ("百姓学习之星", 3.5, 34.0)

    mine = client.get("/api/v1/me/awards", headers=me).json()
    assert [a["id"] for a in mine] == [award["id"]]
    r = client.post(f"/api/v1/me/awards/{award['id']}/certificate", headers=me)
    assert r.status_code == 201, r.text
    credential = r.json()["credential"]
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["achievementType"] == "Award"
    assert "OpenBadgeCredential" in credential["type"]
    verdict = client.get(f"/api/v1/verify/{r.json()['id']}").json()
    assert verdict["valid"] is True, verdict
    pdf = client.get(f"/api/v1/certificates/{r.json()['id']}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    verdict = client.post(
        "/api/v1/verify", content=pdf.content, headers={"Content-Type": "application/pdf"}
    ).json()
    assert verdict["valid"] is True, verdict
    # Asking again gives the same certificate; the award now names it.
    again = client.post(f"/api/v1/me/awards/{award['id']}/certificate", headers=me)
    assert again.json()["id"] == r.json()["id"]
    assert client.get("/api/v1/awards", headers=OPERATOR).json()[0]["certificate_id"] == r.json()["id"]
    # Another learner cannot take it.
    other = client.post(f"/api/v1/me/awards/{award['id']}/certificate", headers=people["乙"][1])
    assert (other.status_code, other.json()["code"]) == (404, "award_not_found")


def test_a_learner_who_did_not_agree_cannot_be_awarded(client):
    people = _world(client)
    r = client.post(
        "/api/v1/awards", json={"account_no": people["丙"][0], "title": "outstanding"}, headers=OPERATOR
    )
    assert (r.status_code, r.json()["code"]) == (409, "award_not_consented")
    assert client.get("/api/v1/awards", headers=OPERATOR).json() == []
