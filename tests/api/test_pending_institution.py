"""SPEC §3.1: only accredited institutions put anything into the bank. A pending college — created
by the district office, with an API key already — can read, but every change is refused with 403
``institution_not_accredited`` (zh/en) until the office accredits it: publishing an outcome
included, which learners and other institutions' conversion rules would otherwise see (a
conformance review found the catalogue open to it)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.authz import problem_code
from tests.conftest import OPERATOR, institution, outcome

COURSE = {
    "title_zh": "茶艺入门",
    "title_en": "Tea art",
    "category": "culture_leisure",
    "level": 1,
    "credits": 0.5,
}


def _refused(client: TestClient, method: str, url: str, headers: dict[str, str], **kwargs) -> None:
    r = client.request(method, url, headers=headers, **kwargs)
    assert (r.status_code, problem_code(r)) == (403, "institution_not_accredited"), r.text
    assert "尚未获得认证" in r.json()["title"] and "发布" in r.json()["title"], r.text
    en = client.request(method, url, headers=headers | {"Accept-Language": "en"}, **kwargs)
    assert "not accredited" in en.json()["title"] and "publish" in en.json()["title"], en.text


class TestPendingInstitutionPublishesNothing:
    def test_publishing_an_outcome_is_refused_and_the_catalogue_stays_empty(self, client):
        pending = institution(client, "XDSQ", "新都社区教育学院", accredit=False)
        _refused(client, "PUT", "/api/v1/catalogue/XD-TEA", pending, json=COURSE)
        assert client.get("/api/v1/catalogue", headers=pending).json() == []
        # Nor can another institution's rule name it as a source: there is nothing to name.
        other = institution(client, "YCCEC")
        outcome(client, other, "YC-X1", title_zh="玩转智能手机", category="senior", level=1, credits=1)
        rule = {
            "code": "XD-TO-YC",
            "name_zh": "茶艺转智能手机",
            "target_outcome_code": "YC-X1",
            "credits": 1,
            "source": {"all_of": ["XDSQ:XD-TEA"]},
            "effective_from": "2026-01-01",
        }
        r = client.post("/api/v1/conversion-rules", json=rule, headers=other)
        assert (r.status_code, problem_code(r)) == (404, "outcome_not_found"), r.text

    def test_retiring_a_rule_is_refused_as_not_accredited(self, client):
        pending = institution(client, "XDSQ", "新都社区教育学院", accredit=False)
        _refused(client, "POST", "/api/v1/conversion-rules/1/retire", pending)

    def test_once_accredited_it_publishes(self, client):
        pending = institution(client, "XDSQ", "新都社区教育学院", accredit=False)
        _refused(client, "PUT", "/api/v1/catalogue/XD-TEA", pending, json=COURSE)
        assert client.post("/api/v1/institutions/XDSQ/accredit", headers=OPERATOR).status_code == 200
        r = client.put("/api/v1/catalogue/XD-TEA", json=COURSE, headers=pending)
        assert r.status_code == 201 and r.json()["version"] == 1, r.text
