from tests.conftest import completion_body, institution, learner, outcome


def test_post_and_balance(client):
    inst = institution(client)
    outcome(client, inst)
    person = learner(client, inst)
    r = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst)
    assert r.status_code == 201, r.text
    b = client.get(f"/api/v1/learners/{person['account_no']}/balance", headers=inst)
    assert b.json()["total"] == 1.5, b.text
