"""Authorization of the institutions' routes (``creditbank/api/institution.py``): the catalogue, enrolling
learners, posting and revoking completions, reading a learner's balance — and that teaching a learner
opens the balance but not another institution's records. The machinery is in ``tests/api/authz.py``;
``test_authz_matrix.py`` walks these rows with every role."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.authz import (
    LRN,
    OP,
    A,
    B,
    Route,
    World,
    build_world,
    check_balance,
    e404,
    eq,
    owned_by,
    problem_code,
)
from tests.conftest import OPERATOR, completion_body, institution, national_id


def _check_catalogue(r, w, role) -> None:
    codes = sorted(o["code"] for o in r.json())
    expected = ["B-X1", "B-X2"] if role == B else ["YC-ELEC", "YC-X1", "YC-X2", "YC-X3", "YC-X4"]
    if role in (A, B):  # an institution's walk may have just published one more
        codes = [c for c in codes if c != "AUTHZ-NEW"]
    eq(codes, expected, "catalogue codes")


def _check_completion(r, w, role) -> None:
    body = r.json()
    eq(
        (body["id"], body["account_no"], body["credits"], body["state"]),
        (w.c1, w.learner["account_no"], 1.5, "active"),
        "completion",
    )


def _post_completion(w: World, role: str) -> tuple[str, dict]:
    own = owned_by(w, role)
    return "/api/v1/completions", {"json": completion_body(own["account_no"], own["outcome"])}


def _post_batch(w: World, role: str) -> tuple[str, dict]:
    own = owned_by(w, role)
    row = completion_body(own["account_no"], own["batch_outcome"])
    return "/api/v1/completions/batch", {"json": {"mode": "all_or_nothing", "rows": [row]}}


def _check_posted(r, w, role) -> None:
    own = owned_by(w, role)
    eq(
        (r.status_code, r.json()["account_no"], r.json()["outcome_code"]),
        (201, own["account_no"], own["outcome"]),
        "posted completion",
    )


ROWS: dict[tuple[str, str], Route] = {
    ("PUT", "/api/v1/catalogue/{outcome_code}"): Route(
        "institution",
        lambda w, role: (
            "/api/v1/catalogue/AUTHZ-NEW",
            {"json": {"title_zh": "防范电信诈骗", "category": "community", "level": 1, "credits": 0.5}},
        ),
        lambda r, w, role: eq(
            (r.status_code, r.json()["code"], r.json()["version"]), (201, "AUTHZ-NEW", 1), "published outcome"
        ),
    ),
    ("GET", "/api/v1/catalogue"): Route(
        "institution_or_operator",
        lambda w, role: ("/api/v1/catalogue", {"params": {"institution": "YCCEC"}}),
        _check_catalogue,
    ),
    ("POST", "/api/v1/learners"): Route(
        "institution_or_operator",
        lambda w, role: ("/api/v1/learners", {"json": {"name": "赵大爷", "national_id": national_id()}}),
        lambda r, w, role: eq(
            (r.status_code, r.json()["created"], bool(r.json()["activation_code"])),
            (201, True, True),
            "enrolment",
        ),
    ),
    ("POST", "/api/v1/learners/{account_no}/activation-slips"): Route(
        "institution_or_operator",
        lambda w, role: (f"/api/v1/learners/{w.learner['account_no']}/activation-slips", {}),
        lambda r, w, role: eq(
            (
                r.status_code,
                r.json()["account_no"],
                bool(r.json()["activation_code"]),
                r.json()["had_password"],
            ),
            (201, w.learner["account_no"], True, True),
            "new activation slip",
        ),
        # B never enrolled nor taught the learner: as if the account did not exist.
        overrides={B: e404("learner_not_found")},
    ),
    ("POST", "/api/v1/completions"): Route("institution", _post_completion, _check_posted),
    ("POST", "/api/v1/completions/batch"): Route(
        "institution",
        _post_batch,
        lambda r, w, role: eq((r.json()["accepted"], r.json()["committed"]), (1, True), "batch report"),
    ),
    ("GET", "/api/v1/completions/{completion_id}"): Route(
        "institution_or_operator",
        lambda w, role: (f"/api/v1/completions/{w.c1}", {}),
        _check_completion,
        overrides={B: e404("completion_not_found")},
    ),
    ("POST", "/api/v1/completions/{completion_id}/revoke"): Route(
        "institution_or_operator",
        lambda w, role: (f"/api/v1/completions/{w.c2}/revoke", {"json": {"reason": "登记错误"}}),
        lambda r, w, role: eq((r.json()["id"], r.json()["state"]), (w.c2, "revoked"), "revoked completion"),
        overrides={B: e404("completion_not_found")},
    ),
    ("POST", "/api/v1/learners/{account_no}/name-corrections"): Route(
        "institution_or_operator",
        lambda w, role: (
            f"/api/v1/learners/{w.learner2['account_no']}/name-corrections",
            {"json": {"name": "李建华", "reason": "开户时录错了字"}},
        ),
        lambda r, w, role: eq(
            (r.status_code, r.json()["name"], r.json()["correction"]["old_name"]),
            (201, "李建华", "李建国"),
            "name correction",
        ),
        # B never enrolled nor taught learner2: as if the account did not exist.
        overrides={B: e404("learner_not_found")},
    ),
    ("GET", "/api/v1/learners/{account_no}/name-corrections"): Route(
        "institution_or_operator",
        lambda w, role: (f"/api/v1/learners/{w.learner['account_no']}/name-corrections", {}),
        lambda r, w, role: eq((r.json()["name"], r.json()["corrections"]), ("张桂兰", []), "name history"),
        overrides={B: e404("learner_not_found")},
    ),
    ("GET", "/api/v1/learners/{account_no}/balance"): Route(
        "institution_or_operator",
        lambda w, role: (f"/api/v1/learners/{w.learner['account_no']}/balance", {}),
        check_balance,
        overrides={B: e404("learner_not_found")},
    ),
}


def state(client: TestClient, w: World) -> dict[str, Any]:
    """The world's two completions, learner2's balance and name and both catalogues, read with the operator token."""
    get = lambda url: client.get(url, headers=OPERATOR)  # noqa: E731
    return {
        "c1": get(f"/api/v1/completions/{w.c1}").json()["state"],
        "c2": get(f"/api/v1/completions/{w.c2}").json()["state"],
        "learner2 balance": get(f"/api/v1/learners/{w.learner2['account_no']}/balance").json()["total"],
        "learner2 name": get(f"/api/v1/learners/{w.learner2['account_no']}/name-corrections").json()["name"],
        "catalogue A": sorted(o["code"] for o in get("/api/v1/catalogue?institution=YCCEC").json()),
        "catalogue B": sorted(o["code"] for o in get("/api/v1/catalogue?institution=CQOU").json()),
    }


def expected_state(role: str) -> dict[str, Any]:
    # learner2 starts at 1.5 (c2); A's walk revokes c2 (-1.5) and posts YC-X1 (+1) and YC-X2 by batch (+0.5).
    return {
        "c1": "active",
        "c2": "revoked" if role in (OP, A) else "active",
        "learner2 balance": {OP: 0.0, A: 1.5}.get(role, 1.5),
        "learner2 name": "李建华" if role in (OP, A) else "李建国",
        "catalogue A": ["AUTHZ-NEW", "YC-ELEC", "YC-X1", "YC-X2", "YC-X3", "YC-X4"]
        if role == A
        else ["YC-ELEC", "YC-X1", "YC-X2", "YC-X3", "YC-X4"],
        "catalogue B": ["AUTHZ-NEW", "B-X1", "B-X2"] if role == B else ["B-X1", "B-X2"],
    }


def test_teaching_a_learner_opens_the_balance_but_not_the_other_institutions_records(client):
    """SPEC §4: an institution reads the balance of learners it enrolled *or taught* — and only that."""
    w = build_world(client)
    b, account = w.headers[B], w.learner["account_no"]
    assert client.get(f"/api/v1/learners/{account}/balance", headers=b).status_code == 404
    taught = client.post("/api/v1/completions", json=completion_body(account, "B-X1"), headers=b)
    assert taught.status_code == 201, taught.text
    balance = client.get(f"/api/v1/learners/{account}/balance", headers=b)
    # 1.5 from A + 2 from B
    assert balance.status_code == 200 and balance.json()["total"] == 3.5, balance.text
    # Teaching the learner does not open A's completion records to B, nor B's to A.
    for headers, completion in [(b, w.c1), (w.headers[A], taught.json()["id"])]:
        r = client.get(f"/api/v1/completions/{completion}", headers=headers)
        assert (r.status_code, problem_code(r)) == (404, "completion_not_found"), r.text
        r = client.post(f"/api/v1/completions/{completion}/revoke", json={"reason": "x"}, headers=headers)
        assert (r.status_code, problem_code(r)) == (404, "completion_not_found"), r.text
    # A third institution that never met the learner still gets "no such account".
    r = client.get(f"/api/v1/learners/{account}/balance", headers=institution(client, "THIRD", "第三机构"))
    assert (r.status_code, problem_code(r)) == (404, "learner_not_found"), r.text
    me = client.get("/api/v1/me/balance", headers=w.headers[LRN]).json()
    assert me["total"] == 3.5 and me["by_category"] == {"academic": 2.0, "community": 1.5}
