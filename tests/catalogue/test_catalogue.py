"""The catalogue: versions, credits derived from hours."""

from __future__ import annotations

from tests.conftest import completion_body, institution, learner, outcome


class TestCatalogue:
    def test_hours_only_derives_credits_rounded_down_to_half(self, client):
        inst = institution(client)
        body = outcome(client, inst, "XD-LECTURE", title_zh="香城社区讲坛", credits=None, hours=40)
        assert body["credits"] == 2.5 and body["credits_from_hours"] is True  # 40 h / 16 = 2.5

    def test_identical_put_is_a_replay_and_a_change_is_a_new_version(self, client):
        inst = institution(client)
        first = outcome(client, inst)
        same = client.put(
            "/api/v1/catalogue/YC-ELEC",
            headers=inst,
            json={
                "title_zh": "居民用电安全",
                "title_en": "Household electrical safety",
                "category": "community",
                "level": 2,
                "credits": 1.5,
            },
        )
        assert same.status_code == 200 and same.json()["version"] == first["version"] == 1
        changed = outcome(client, inst, credits=2)
        assert changed["version"] == 2
        listing = client.get("/api/v1/catalogue", headers=inst).json()
        assert [(o["code"], o["version"], o["credits"]) for o in listing] == [("YC-ELEC", 2, 2.0)]

    def test_completion_earned_under_old_version_keeps_its_credits(self, client):
        inst = institution(client)
        outcome(client, inst)
        person = learner(client, inst)
        client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst)
        outcome(client, inst, credits=3)
        assert (
            client.get(f"/api/v1/learners/{person['account_no']}/balance", headers=inst).json()["total"]
            == 1.5
        )

    def test_neither_credits_nor_hours_is_refused(self, client):
        inst = institution(client)
        r = client.put(
            "/api/v1/catalogue/X", headers=inst, json={"title_zh": "x", "category": "community", "level": 1}
        )
        assert r.status_code == 422 and r.json()["code"] == "credits_or_hours_required"

    def test_unknown_category_is_a_shape_error(self, client):
        inst = institution(client)
        r = client.put(
            "/api/v1/catalogue/X",
            headers=inst,
            json={"title_zh": "x", "category": "golf", "level": 1, "credits": 1},
        )
        assert r.status_code == 422 and r.json()["code"] == "validation_error"
        assert r.json()["errors"][0]["field"] == "category"
