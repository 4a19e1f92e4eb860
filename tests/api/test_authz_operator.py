"""Authorization of the operator's routes (``creditbank/api/operator.py``): institutions and their API keys,
and what a revoked key, a suspended or a pending institution may still do. The machinery is in
``tests/api/authz.py``; ``test_authz_matrix.py`` walks these rows with every role."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.authz import OP, PASSWORD, Check, Route, World, eq, problem_code
from tests.conftest import OPERATOR, completion_body, institution, learner, national_id, outcome, signed_in


def _check_institution_state(state: str) -> Check:
    return lambda r, w, role: eq(r.json()["state"], state, "state")


def _check_key_list(r, w, role) -> None:
    keys = r.json()
    assert len(keys) >= 2, keys
    assert all(k["key"] is None for k in keys), "a key list must never show the secrets"


ROWS: dict[tuple[str, str], Route] = {
    ("PUT", "/api/v1/institutions/{code}/location"): Route(
        "operator",
        lambda w, role: (
            "/api/v1/institutions/SPARE-ACC/location",
            {"json": {"district": "永川区", "township": "中山路街道"}},
        ),
        lambda r, w, role: eq(
            (r.json()["district"], r.json()["township"]), ("永川区", "中山路街道"), "location"
        ),
    ),
    ("POST", "/api/v1/institutions"): Route(
        "operator",
        lambda w, role: ("/api/v1/institutions", {"json": {"code": "NEWINST", "name_zh": "新机构"}}),
        lambda r, w, role: eq(
            (r.status_code, r.json()["code"], r.json()["state"]),
            (201, "NEWINST", "pending"),
            "created institution",
        ),
    ),
    ("GET", "/api/v1/institutions"): Route(
        "operator",
        lambda w, role: ("/api/v1/institutions", {}),
        lambda r, w, role: eq(
            {"YCCEC", "CQOU", "SPARE-PEND", "SPARE-ACC"} - {i["code"] for i in r.json()},
            set(),
            "institutions missing from the list",
        ),
    ),
    ("POST", "/api/v1/institutions/{code}/accredit"): Route(
        "operator",
        lambda w, role: ("/api/v1/institutions/SPARE-PEND/accredit", {}),
        _check_institution_state("accredited"),
    ),
    ("POST", "/api/v1/institutions/{code}/suspend"): Route(
        "operator",
        lambda w, role: ("/api/v1/institutions/SPARE-ACC/suspend", {}),
        _check_institution_state("suspended"),
    ),
    ("POST", "/api/v1/institutions/{code}/api-keys"): Route(
        "operator",
        lambda w, role: ("/api/v1/institutions/SPARE-ACC/api-keys", {"json": {"label": "authz"}}),
        lambda r, w, role: eq((r.status_code, r.json()["key"][:4]), (201, "cbk_"), "new key"),
    ),
    ("GET", "/api/v1/institutions/{code}/api-keys"): Route(
        "operator", lambda w, role: ("/api/v1/institutions/SPARE-ACC/api-keys", {}), _check_key_list
    ),
    ("DELETE", "/api/v1/institutions/{code}/api-keys/{key_id}"): Route(
        "operator",
        lambda w, role: (f"/api/v1/institutions/SPARE-ACC/api-keys/{w.spare_key_id}", {}),
        lambda r, w, role: eq(
            (r.json()["id"], r.json()["revoked_at"] is not None), (w.spare_key_id, True), "revoked key"
        ),
    ),
}


def state(client: TestClient, w: World) -> dict[str, Any]:
    """The institutions' states and SPARE-ACC's keys, read with the operator token."""
    get = lambda url: client.get(url, headers=OPERATOR)  # noqa: E731
    keys = {
        k["id"]: k["revoked_at"] is not None for k in get("/api/v1/institutions/SPARE-ACC/api-keys").json()
    }
    listed = get("/api/v1/institutions").json()
    return {
        "institutions": {i["code"]: i["state"] for i in listed},
        "SPARE-ACC township": next(i["township"] for i in listed if i["code"] == "SPARE-ACC"),
        "spare key revoked": keys[w.spare_key_id],
        "SPARE-ACC keys": len(keys),
    }


def expected_state(role: str) -> dict[str, Any]:
    institutions = {
        "YCCEC": "accredited",
        "CQOU": "accredited",
        "SPARE-PEND": "pending",
        "SPARE-ACC": "accredited",
    }
    if role == OP:
        institutions |= {"SPARE-PEND": "accredited", "SPARE-ACC": "suspended", "NEWINST": "pending"}
    return {
        "institutions": institutions,
        "SPARE-ACC township": "中山路街道" if role == OP else None,
        "spare key revoked": role == OP,
        "SPARE-ACC keys": 3 if role == OP else 2,
    }


def test_revoked_api_key_is_401_and_other_keys_keep_working(client):
    a = institution(client, "YCCEC")
    outcome(client, a)
    keys = client.get("/api/v1/institutions/YCCEC/api-keys", headers=OPERATOR).json()
    assert len(keys) == 1
    second = client.post(
        "/api/v1/institutions/YCCEC/api-keys", json={"label": "rotation"}, headers=OPERATOR
    ).json()
    a2 = {"Authorization": f"Bearer {second['key']}"}
    assert client.get("/api/v1/catalogue", headers=a).status_code == 200

    revoked = client.delete(f"/api/v1/institutions/YCCEC/api-keys/{keys[0]['id']}", headers=OPERATOR)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None, revoked.text

    for method, url, body in [
        ("GET", "/api/v1/catalogue", None),
        ("POST", "/api/v1/learners", {"name": "赵大爷", "national_id": national_id()}),
        (
            "PUT",
            "/api/v1/catalogue/YC-ELEC",
            {"title_zh": "改", "category": "community", "level": 2, "credits": 1.5},
        ),
    ]:
        r = client.request(method, url, json=body, headers=a)
        assert (r.status_code, problem_code(r)) == (401, "unauthorized"), (
            f"{method} {url} with a revoked key: {r.text}"
        )
    # Rotation: the institution's other key is untouched.
    r = client.get("/api/v1/catalogue", headers=a2)
    assert r.status_code == 200 and [o["code"] for o in r.json()] == ["YC-ELEC"]
    listed = {
        k["id"]: k["revoked_at"]
        for k in client.get("/api/v1/institutions/YCCEC/api-keys", headers=OPERATOR).json()
    }
    assert listed[keys[0]["id"]] is not None and listed[second["id"]] is None


def test_revoking_a_key_through_another_institution_is_404(client):
    a = institution(client, "YCCEC")
    institution(client, "CQOU", "重庆开放大学")
    a_key = client.get("/api/v1/institutions/YCCEC/api-keys", headers=OPERATOR).json()[0]["id"]
    r = client.delete(f"/api/v1/institutions/CQOU/api-keys/{a_key}", headers=OPERATOR)
    assert (r.status_code, problem_code(r)) == (404, "api_key_not_found"), r.text
    assert client.get("/api/v1/catalogue", headers=a).status_code == 200


def test_suspended_institution_authenticates_but_cannot_post(client):
    a = institution(client, "YCCEC")
    outcome(client, a)
    outcome(client, a, "YC-X1", title_zh="玩转智能手机", category="senior", level=1, credits=1)
    person = learner(client, a)
    posted = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=a)
    assert posted.status_code == 201, posted.text
    learner_session = signed_in(client, person, PASSWORD)

    suspended = client.post("/api/v1/institutions/YCCEC/suspend", headers=OPERATOR)
    assert suspended.status_code == 200 and suspended.json()["state"] == "suspended", suspended.text

    # Still authenticates: reads work.
    assert client.get("/api/v1/catalogue", headers=a).status_code == 200
    balance = client.get(f"/api/v1/learners/{person['account_no']}/balance", headers=a)
    assert balance.status_code == 200 and balance.json()["total"] == 1.5, balance.text
    got = client.get(f"/api/v1/completions/{posted.json()['id']}", headers=a)
    assert got.status_code == 200 and got.json()["state"] == "active", got.text

    # No new postings, one by one or in a batch.
    r = client.post("/api/v1/completions", json=completion_body(person["account_no"], "YC-X1"), headers=a)
    assert (r.status_code, problem_code(r)) == (403, "institution_suspended"), r.text
    r = client.post(
        "/api/v1/completions/batch",
        headers=a,
        json={"rows": [completion_body(person["account_no"], "YC-X1")]},
    )
    assert (r.status_code, problem_code(r)) == (403, "institution_suspended"), r.text

    # Existing credits stay valid, for the learner too.
    me = client.get("/api/v1/me/balance", headers=learner_session)
    assert me.status_code == 200 and me.json()["total"] == 1.5, me.text
    assert (
        client.get(f"/api/v1/learners/{person['account_no']}/balance", headers=OPERATOR).json()["total"]
        == 1.5
    )

    # Re-accreditation restores posting.
    assert (
        client.post("/api/v1/institutions/YCCEC/accredit", headers=OPERATOR).json()["state"] == "accredited"
    )
    r = client.post("/api/v1/completions", json=completion_body(person["account_no"], "YC-X1"), headers=a)
    assert r.status_code == 201, r.text


def test_pending_institution_cannot_post(client):
    p = institution(client, "YCCEC", accredit=False)
    # Nor publish the outcome it would post (SPEC §3.1), nor enrol (issue 9 item 5): the operator
    # enrols the learner.
    r = client.put("/api/v1/catalogue/YC-ELEC", json={"title_zh": "居民用电安全", "category": "community",
                   "level": 2, "credits": 1.5}, headers=p)  # fmt: skip
    assert (r.status_code, problem_code(r)) == (403, "institution_not_accredited"), r.text
    person = learner(client, OPERATOR)
    r = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=p)
    assert (r.status_code, problem_code(r)) == (403, "institution_not_accredited"), r.text
