"""Issue 9 item 6: a suspended institution is read-only; the operator can still act on its records.

Before, a suspended institution could still enrol learners, publish outcomes and revoke
completions (removing learners' credits). Now every action that changes something answers
403 ``institution_suspended`` (zh/en), one test per action; reads keep working, existing credits
stay valid, and the operator can still revoke its completions and certificates, issue
certificates for its records and decide conversions under its rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.authz import PASSWORD, problem_code, rule_body
from tests.conftest import OPERATOR, completion_body, institution, learner, national_id, outcome, signed_in


@dataclass
class Suspended:
    """A's world, built while A was accredited; then the operator suspended A."""

    client: TestClient
    a: dict[str, str]  # A's API key headers
    learner: dict[str, Any]
    token: dict[str, str]  # the learner's session headers
    completions: list[str]
    certificate: str
    rule: int
    conversion: str

    def refused(self, method: str, url: str, headers: dict[str, str] | None = None, **kwargs: Any) -> None:
        sent = self.a | (headers or {})
        r = self.client.request(method, url, headers=sent, **kwargs)
        assert (r.status_code, problem_code(r)) == (403, "institution_suspended"), r.text
        assert "已被暂停" in r.json()["title"]
        en = self.client.request(method, url, headers=sent | {"Accept-Language": "en"}, **kwargs)
        assert "suspended" in en.json()["title"], en.text

    def balance(self) -> float:
        url = f"/api/v1/learners/{self.learner['account_no']}/balance"
        return float(self.client.get(url, headers=OPERATOR).json()["total"])


@pytest.fixture
def suspended(client: TestClient) -> Suspended:
    a = institution(client, "YCCEC", "永川区社区教育学院")
    courses = ["YC-ELEC", "YC-E2", "YC-E3"]
    for code in courses:
        outcome(client, a, code, title_zh=f"居民用电安全 {code}")  # 1.5 community credits, level 2
    outcome(client, a, "YC-X1", title_zh="玩转智能手机", category="senior", level=1, credits=1)
    person = learner(client, a)
    posted = [
        client.post("/api/v1/completions", json=completion_body(person["account_no"], code), headers=a)
        for code in courses
    ]
    assert [p.status_code for p in posted] == [201, 201, 201], [p.text for p in posted]
    me = signed_in(client, person, PASSWORD)
    certificate = client.post(
        "/api/v1/me/certificates",
        json={"kind": "achievement", "completion_id": posted[0].json()["id"]},
        headers=me,
    )
    assert certificate.status_code == 201, certificate.text
    rule = client.post("/api/v1/conversion-rules", json=rule_body("SUSP-CONV", "YC-X1"), headers=a).json()
    assert client.post(f"/api/v1/conversion-rules/{rule['id']}/approve", headers=OPERATOR).status_code == 200
    requested = client.post("/api/v1/me/conversions", json={"rule_id": rule["id"]}, headers=me)
    assert requested.status_code == 201, requested.text
    state = client.post("/api/v1/institutions/YCCEC/suspend", headers=OPERATOR)
    assert state.status_code == 200 and state.json()["state"] == "suspended", state.text
    return Suspended(
        client,
        a,
        person,
        me,
        [p.json()["id"] for p in posted],
        certificate.json()["id"],
        rule["id"],
        requested.json()["id"],
    )


class TestSuspendedInstitutionIsReadOnly:
    def test_item_6_cannot_enrol(self, suspended: Suspended):
        suspended.refused("POST", "/api/v1/learners", json={"name": "陈淑芬", "national_id": national_id()})

    def test_item_6_cannot_publish_an_outcome(self, suspended: Suspended):
        body = {"title_zh": "新课程", "category": "community", "level": 1, "credits": 1}
        suspended.refused("PUT", "/api/v1/catalogue/YC-NEW", json=body)
        # Not even a new version of an existing one.
        suspended.refused(
            "PUT",
            "/api/v1/catalogue/YC-ELEC",
            json={"title_zh": "改过的", "category": "community", "level": 2, "credits": 9},
        )

    def test_item_6_cannot_post_a_completion(self, suspended: Suspended):
        body = completion_body(suspended.learner["account_no"], "YC-X1")
        suspended.refused("POST", "/api/v1/completions", json=body)

    def test_item_6_cannot_import_completions(self, suspended: Suspended):
        rows = [completion_body(suspended.learner["account_no"], "YC-X1")]
        suspended.refused("POST", "/api/v1/completions/batch", json={"rows": rows})
        csv = f"external_id,account_no,outcome_code,completed_on\nCSV-1,{suspended.learner['account_no']},YC-X1,2026-03-01\n"
        suspended.refused(
            "POST", "/api/v1/completions/batch", content=csv, headers={"Content-Type": "text/csv"}
        )

    def test_item_6_cannot_revoke_a_completion_so_the_learners_credits_stay(self, suspended: Suspended):
        before = suspended.balance()
        suspended.refused(
            "POST", f"/api/v1/completions/{suspended.completions[1]}/revoke", json={"reason": "x"}
        )
        assert suspended.balance() == before == 4.5

    def test_item_6_cannot_issue_certificates(self, suspended: Suspended):
        item = {"account_no": suspended.learner["account_no"], "kind": "achievement"}
        suspended.refused(
            "POST",
            "/api/v1/certificates/batch",
            json={"items": [item | {"completion_id": suspended.completions[1]}]},
        )

    def test_item_6_cannot_revoke_a_certificate(self, suspended: Suspended):
        suspended.refused(
            "POST", f"/api/v1/certificates/{suspended.certificate}/revoke", json={"reason": "x"}
        )
        got = suspended.client.get(f"/api/v1/certificates/{suspended.certificate}").json()
        assert got["revoked"] is False

    @pytest.mark.parametrize("decision", ["approve", "reject"])
    def test_item_6_cannot_decide_conversions(self, suspended: Suspended, decision: str):
        body = {"decision": decision, "reason": "不符合要求"}
        suspended.refused("POST", f"/api/v1/conversions/{suspended.conversion}/decide", json=body)

    def test_item_6_cannot_change_rules_or_qualifications(self, suspended: Suspended):
        suspended.refused("POST", "/api/v1/conversion-rules", json=rule_body("SUSP-2", "YC-X1"))
        suspended.refused("POST", f"/api/v1/conversion-rules/{suspended.rule}/retire")
        suspended.refused(
            "PUT",
            "/api/v1/qualifications/SUSP-Q",
            json={"name_zh": "社区教育", "total_credits": 10, "requirements": []},
        )

    def test_item_6_still_reads_and_credits_stay_valid(self, suspended: Suspended):
        client, a = suspended.client, suspended.a
        assert client.get("/api/v1/catalogue", headers=a).status_code == 200
        assert client.get(f"/api/v1/completions/{suspended.completions[0]}", headers=a).status_code == 200
        url = f"/api/v1/learners/{suspended.learner['account_no']}/balance"
        assert client.get(url, headers=a).json()["total"] == 4.5
        assert client.get("/api/v1/me/balance", headers=suspended.token).json()["total"] == 4.5
        assert client.get(f"/api/v1/verify/{suspended.certificate}").json()["valid"] is True


class TestOperatorActsOnASuspendedInstitutionsRecords:
    def test_item_6_operator_revokes_its_completion(self, suspended: Suspended):
        r = suspended.client.post(
            f"/api/v1/completions/{suspended.completions[1]}/revoke",
            # force: the operator may also undo a conversion resting on it (none may, or one)
            json={"reason": "机构已暂停，平台更正", "force": True},
            headers=OPERATOR,
        )
        assert r.status_code == 200 and r.json()["state"] == "revoked", r.text
        assert suspended.balance() == 3.0

    def test_item_6_operator_issues_and_revokes_certificates(self, suspended: Suspended):
        client = suspended.client
        item = {
            "account_no": suspended.learner["account_no"],
            "kind": "achievement",
            "completion_id": suspended.completions[2],
        }
        issued = client.post("/api/v1/certificates/batch", json={"items": [item]}, headers=OPERATOR)
        assert issued.status_code == 201, issued.text
        revoked = client.post(
            f"/api/v1/certificates/{suspended.certificate}/revoke",
            json={"reason": "平台更正"},
            headers=OPERATOR,
        )
        assert revoked.status_code == 200 and revoked.json()["revoked"] is True, revoked.text

    @pytest.mark.parametrize("decision", ["approve", "reject"])
    def test_item_6_operator_decides_conversions_under_its_rules(self, suspended: Suspended, decision: str):
        r = suspended.client.post(
            f"/api/v1/conversions/{suspended.conversion}/decide",
            json={"decision": decision, "reason": "机构已暂停，由平台审核"},
            headers=OPERATOR,
        )
        assert (
            r.status_code == 200
            and r.json()["state"] == {"approve": "approved", "reject": "rejected"}[decision]
        ), r.text


def test_item_6_reaccreditation_lets_it_act_again(suspended: Suspended):
    client = suspended.client
    assert (
        client.post("/api/v1/institutions/YCCEC/accredit", headers=OPERATOR).json()["state"] == "accredited"
    )
    body = completion_body(suspended.learner["account_no"], "YC-X1")
    assert client.post("/api/v1/completions", json=body, headers=suspended.a).status_code == 201
