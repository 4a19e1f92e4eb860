"""Authorization matrix: who may call which /api/v1 route (SPEC §3.1, §3.2, §3.7, §4).

Six callers walk every route of the app:

* ``operator``       — the admin token
* ``institution_A``  — accredited; owns the learner, the completions and the catalogue entries
* ``institution_B``  — another accredited institution with its own key, outcomes and learner
* ``learner``        — a session obtained by enrolling via A and activating with a password
* ``anonymous``      — no Authorization header
* ``garbage_token``  — ``Authorization: Bearer <nonsense>``

Each (role, route) cell expects one outcome class: allowed (2xx, plus a check a user would
notice), 401 ``unauthorized``, 403 ``forbidden`` or a 404 with a specific code (B must not even
learn that A's completion or A's learner exists). Every refusal is checked for its problem+json
``code``. One test per role builds one world and walks all routes, collecting every mismatch
into a table, then checks that the refused calls changed nothing.

``test_matrix_covers_every_route`` enumerates the routes from ``client.app.routes``: a new
route without a row in ``MATRIX`` fails it.

Certificates (§3.7): reading a certificate, its PDF, verifying, the status lists and the key list
are public — anyone holding a certificate id, as an employer scanning a QR code does. Those routes
never look at the Authorization header, so a garbage Bearer token there is ignored (200), not a
401: the ``public`` row says so for ``garbage_token`` explicitly, as for ``/auth/activate``. The
routes outside /api/v1 (``/.well-known/*``, ``/v/{id}``) are checked in their own test.
The operator's walk rotates the issuer key *before* the verification rows, so it also shows that
certificates signed with the retired key keep verifying.

Conversion (§3.5–§3.6): A owns a qualification and the conversion rules the learner's credits can
feed; the approved rules and the qualifications are public. The learner's c1 lot (1.5 community
credits) funds three requests of 0.5 under A's rule: two made by the world — one for A to decide,
one for the operator, since a decided request answers 409 — and one by the learner's own walk.
B owns no request, so it must not learn that A's exist (404, as for completions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import OPERATOR, completion_body, institution, learner, national_id, outcome

PASSWORD = "长城长城12345"

OP, A, B, LRN, ANON, JUNK = ROLES = (
    "operator",
    "institution_A",
    "institution_B",
    "learner",
    "anonymous",
    "garbage_token",
)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, at the smallest cost: each walk activates and signs in, and the library's
    recommended parameters (64 MiB, 3 passes) would take most of this file's run time."""
    from argon2 import PasswordHasher

    from creditbank.learners import service

    monkeypatch.setattr(service, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


_printers: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _one_pdf_renderer_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each app builds its own WeasyPrint renderer on the first PDF asked for, loading the CJK font
    (about two seconds); every walk asks for one. Share one printer per base URL across this file —
    the PDFs are still really rendered."""
    from creditbank import app
    from creditbank.certificates.printing import Printer

    monkeypatch.setattr(app, "Printer", lambda base_url: _printers.setdefault(base_url, Printer(base_url)))


@pytest.fixture(autouse=True)
def _own_verify_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The verify routes share one in-process limiter (per client address, 120 a minute); every
    TestClient call comes from "testclient", so give each test here a fresh window of the same size
    instead of whatever the rest of the suite left in it."""
    from creditbank.api import certificates
    from creditbank.api.ratelimit import RateLimiter

    limit = certificates.verify_limit
    monkeypatch.setattr(certificates, "verify_limit", RateLimiter(limit.limit, limit.window))


# -- the world ------------------------------------------------------------------------------------


@dataclass
class World:
    headers: dict[str, dict[str, str]]
    learner: dict  # enrolled by A, activated, one completion (c1) worth 1.5 community credits,
    #                          1.0 of them locked by the two pending conversion requests below
    c1: str  # A's completion for `learner`
    learner2: dict  # enrolled by A; c2 is the completion the revoke route targets
    c2: str
    fresh: dict  # enrolled by A, never activated: the /auth/activate target
    learner_b: dict  # enrolled by B
    spare_key_id: str  # a key of SPARE-ACC: the DELETE api-keys target
    cert: dict  # the learner's achievement certificate for c1: stays valid through every walk
    cert_revoke: dict  # the learner's transcript (rests on c1, so on A): the certificate-revoke target
    # Conversion rules by code: AUTHZ-CONV (A's, approved: the one the learner applies), AUTHZ-RETIRE (A's,
    # approved: the retire target), AUTHZ-APPROVE (B's, proposed: the approve target).
    rules: dict[str, dict]
    conversions: dict[
        str, str
    ]  # role -> the learner's pending request under AUTHZ-CONV that this role decides
    own: dict[str, dict[str, Any]] = field(default_factory=dict)  # per institution role: what it posts with


def build_world(client: TestClient) -> World:
    a = institution(client, "YCCEC", "永川区社区教育学院")
    outcome(client, a, "YC-ELEC")  # 1.5 community credits, level 2
    outcome(client, a, "YC-X1", title_zh="玩转智能手机", category="senior", level=1, credits=1)
    outcome(client, a, "YC-X2", title_zh="家庭急救", category="community", level=1, credits=0.5)
    b = institution(client, "CQOU", "重庆开放大学")
    outcome(client, b, "B-X1", title_zh="现代农业技术基础", category="academic", level=4, credits=2)
    outcome(client, b, "B-X2", title_zh="电子商务入门", category="vocational_training", level=3, credits=1)
    institution(client, "SPARE-PEND", "待认证机构", accredit=False)
    institution(client, "SPARE-ACC", "备用机构")
    spare_key = client.post(
        "/api/v1/institutions/SPARE-ACC/api-keys", json={"label": "spare"}, headers=OPERATOR
    )
    assert spare_key.status_code == 201, spare_key.text

    person = learner(client, a)
    c1 = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=a)
    assert c1.status_code == 201, c1.text
    person2 = learner(client, a, "李建国")
    c2 = client.post("/api/v1/completions", json=completion_body(person2["account_no"]), headers=a)
    assert c2.status_code == 201, c2.text
    fresh = learner(client, a, "王秀英")
    person_b = learner(client, b, "刘德明")

    activated = client.post(
        "/api/v1/auth/activate",
        json={
            "account_no": person["account_no"],
            "activation_code": person["activation_code"],
            "password": PASSWORD,
        },
    )
    assert activated.status_code == 200, activated.text
    token = activated.json()["access_token"]
    session = {"Authorization": f"Bearer {token}"}
    certs = []
    for body in ({"kind": "achievement", "completion_id": c1.json()["id"]}, {"kind": "transcript"}):
        issued = client.post("/api/v1/me/certificates", json=body, headers=session)
        assert issued.status_code == 201, issued.text
        certs.append(issued.json())

    qualification = client.put(
        f"/api/v1/qualifications/{QUALIFICATION}", json=_qualification_body(), headers=a
    )
    assert qualification.status_code == 201, qualification.text
    rules = {}
    for owner, code, target, approve in [
        (a, "AUTHZ-CONV", "YC-X1", True),
        (a, "AUTHZ-RETIRE", "YC-X2", True),
        (b, "AUTHZ-APPROVE", "B-X2", False),
    ]:
        proposed = client.post("/api/v1/conversion-rules", json=_rule_body(code, target), headers=owner)
        assert proposed.status_code == 201, proposed.text
        rules[code] = proposed.json()
        if approve:
            approved = client.post(
                f"/api/v1/conversion-rules/{proposed.json()['id']}/approve", headers=OPERATOR
            )
            assert approved.status_code == 200, approved.text
            rules[code] = approved.json()
    conversions = {}
    for role in (A, OP):
        requested = client.post(
            "/api/v1/me/conversions", json={"rule_id": rules["AUTHZ-CONV"]["id"]}, headers=session
        )
        assert requested.status_code == 201, requested.text
        conversions[role] = requested.json()["id"]

    return World(
        headers={
            OP: OPERATOR,
            A: a,
            B: b,
            LRN: session,
            ANON: {},
            JUNK: {"Authorization": "Bearer not-a-token-just-garbage-0123456789"},
        },
        learner=person,
        c1=c1.json()["id"],
        learner2=person2,
        c2=c2.json()["id"],
        fresh=fresh,
        learner_b=person_b,
        spare_key_id=spare_key.json()["id"],
        cert=certs[0],
        cert_revoke=certs[1],
        rules=rules,
        conversions=conversions,
        own={
            A: {
                "outcome": "YC-X1",
                "batch_outcome": "YC-X2",
                "account_no": person2["account_no"],
                "rule_target": "YC-X2",
            },
            B: {
                "outcome": "B-X1",
                "batch_outcome": "B-X2",
                "account_no": person_b["account_no"],
                "rule_target": "B-X2",
            },
        },
    )


QUALIFICATION = "YC-QUAL"  # A's


def _qualification_body(**fields: Any) -> dict:
    return {
        "name_zh": "社区学习证书",
        "total_credits": 3,
        "requirements": [{"category": "community", "min_credits": 1.5}],
    } | fields


def _rule_body(code: str, target: str, **fields: Any) -> dict:
    """0.5 community credits (level ≥ 2) → 1 credit of ``target``: c1's lot of 1.5 pays for three of them."""
    return {
        "code": code,
        "name_zh": "社区教育学分转换",
        "target_outcome_code": target,
        "credits": 1,
        "source": {"credits": {"category": "community", "min_level": 2, "amount": 0.5}},
        "effective_from": "2026-01-01",
    } | fields


def _own(w: World, role: str) -> dict[str, Any]:
    """Institutions post with their own outcomes and learners; other roles get A's (they are refused anyway)."""
    return w.own.get(role, w.own[A])


# -- expectations ---------------------------------------------------------------------------------

Check = Callable[[Any, World, str], None]


@dataclass(frozen=True)
class Expect:
    status: int | None  # None: any 2xx
    code: str | None = None  # problem+json code of a refusal

    def __str__(self) -> str:
        return "2xx" if self.status is None else f"{self.status} {self.code}"


ALLOWED = Expect(None)
E401 = Expect(401, "unauthorized")
E403 = Expect(403, "forbidden")


def e404(code: str) -> Expect:
    return Expect(404, code)


# Who a route is for; the rest of the row follows from it.
ACCESS = {
    "operator": {OP: ALLOWED, A: E403, B: E403, LRN: E403, ANON: E401, JUNK: E401},
    "institution": {OP: E403, A: ALLOWED, B: ALLOWED, LRN: E403, ANON: E401, JUNK: E401},
    "institution_or_operator": {OP: ALLOWED, A: ALLOWED, B: ALLOWED, LRN: E403, ANON: E401, JUNK: E401},
    "learner": {OP: E403, A: E403, B: E403, LRN: ALLOWED, ANON: E401, JUNK: E401},
    "public": dict.fromkeys(ROLES, ALLOWED),
}


@dataclass(frozen=True)
class Route:
    access: str
    request: Callable[[World, str], tuple[str, dict[str, Any]]]  # -> (url, extra kwargs for client.request)
    check: Check  # on an allowed answer
    overrides: dict[str, Expect] = field(default_factory=dict)

    def expect(self, role: str) -> Expect:
        return self.overrides.get(role, ACCESS[self.access][role])


def _eq(actual: Any, expected: Any, what: str) -> None:
    assert actual == expected, f"{what}: {actual!r} != {expected!r}"


def _check_institution_state(state: str) -> Check:
    return lambda r, w, role: _eq(r.json()["state"], state, "state")


def _check_balance(r, w, role) -> None:
    body = r.json()
    _eq(
        (body["account_no"], body["total"], body["by_category"]),
        (w.learner["account_no"], 1.5, {"community": 1.5}),
        "balance",
    )


def _check_catalogue(r, w, role) -> None:
    codes = sorted(o["code"] for o in r.json())
    expected = ["B-X1", "B-X2"] if role == B else ["YC-ELEC", "YC-X1", "YC-X2"]
    if role in (A, B):  # an institution's walk may have just published one more
        codes = [c for c in codes if c != "AUTHZ-NEW"]
    _eq(codes, expected, "catalogue codes")


def _check_key_list(r, w, role) -> None:
    keys = r.json()
    assert len(keys) >= 2, keys
    assert all(k["key"] is None for k in keys), "a key list must never show the secrets"


def _check_ledger(r, w, role) -> None:
    items = r.json()["items"]
    _eq(
        [(i["kind"], i["amount"], i["completion_id"]) for i in items],
        [("deposit", 1.5, w.c1)],
        "ledger lines",
    )


def _check_completion(r, w, role) -> None:
    body = r.json()
    _eq(
        (body["id"], body["account_no"], body["credits"], body["state"]),
        (w.c1, w.learner["account_no"], 1.5, "active"),
        "completion",
    )


def _post_completion(w: World, role: str) -> tuple[str, dict]:
    own = _own(w, role)
    return "/api/v1/completions", {"json": completion_body(own["account_no"], own["outcome"])}


def _post_batch(w: World, role: str) -> tuple[str, dict]:
    own = _own(w, role)
    row = completion_body(own["account_no"], own["batch_outcome"])
    return "/api/v1/completions/batch", {"json": {"mode": "all_or_nothing", "rows": [row]}}


def _check_posted(r, w, role) -> None:
    own = _own(w, role)
    _eq(
        (r.status_code, r.json()["account_no"], r.json()["outcome_code"]),
        (201, own["account_no"], own["outcome"]),
        "posted completion",
    )


def _certificate_shape(body: dict, kind: str) -> None:
    """What SPEC §4 promises for a new certificate: {id, kind, pdf_url, verify_url, credential}, signed."""
    cid = body["id"]
    _eq((cid[:4], body["kind"], body["revoked"]), ("crt_", kind, False), "certificate id/kind/revoked")
    assert body["pdf_url"].endswith(f"/api/v1/certificates/{cid}.pdf"), body["pdf_url"]
    assert f"/v/{cid}#CB1." in body["verify_url"], body["verify_url"]
    _eq(
        sorted(proof["cryptosuite"] for proof in body["credential"]["proof"]),
        ["eddsa-jcs-2022", "eddsa-rdfc-2022"],
        "credential proof set",
    )


def _check_issued_mine(r, w, role) -> None:
    _eq(r.status_code, 201, "status")
    _certificate_shape(r.json(), "achievement")


def _issue_batch(w: World, role: str) -> tuple[str, dict]:
    """Everyone asks for the learner's c1 (A's completion): the operator and A may, B must not learn it exists."""
    return "/api/v1/certificates/batch", {
        "json": {
            "items": [{"account_no": w.learner["account_no"], "kind": "achievement", "completion_id": w.c1}]
        }
    }


def _check_issued_batch(r, w, role) -> None:
    _eq((r.status_code, len(r.json())), (201, 1), "batch status, certificates")
    _certificate_shape(r.json()[0], "achievement")
    assert r.json()[0]["id"] not in (w.cert["id"], w.cert_revoke["id"]), (
        "the batch must issue a new certificate"
    )


def _check_certificate(r, w, role) -> None:
    body = r.json()
    _eq((body["id"], body["kind"], body["revoked"]), (w.cert["id"], "achievement", False), "certificate")
    _eq(body["credential"], w.cert["credential"], "signed credential")


def _check_pdf(r, w, role) -> None:
    _eq((r.headers["content-type"], r.content[:5]), ("application/pdf", b"%PDF-"), "PDF content-type, magic")


def _check_valid(r, w, role) -> None:
    body = r.json()
    _eq((body["valid"], body["verdict"], body["certificate"]["id"]), (True, "valid", w.cert["id"]), "verdict")


def _kid(certificate: dict) -> str:
    return certificate["credential"]["proof"][0]["verificationMethod"].rsplit("#", 1)[1]


def _status_list_id(certificate: dict) -> str:
    return certificate["credential"]["credentialStatus"]["statusListCredential"].rsplit("/", 1)[1]


def _check_status_list(r, w, role) -> None:
    from creditbank.kit import statuslist

    body = r.json()
    _eq(body["type"], ["VerifiableCredential", "BitstringStatusListCredential"], "status list type")
    assert body.get("proof"), "the status list must be signed"
    bits = statuslist.decode(body["credentialSubject"]["encodedList"])
    _eq(
        statuslist.get_bit(bits, int(w.cert["credential"]["credentialStatus"]["statusListIndex"])),
        False,
        "revocation bit of the valid certificate",
    )


def _check_key_status(r, w, role) -> None:
    keys = {k["kid"]: k["status"] for k in r.json()}
    _eq(list(keys.values()).count("active"), 1, "active keys")
    assert keys.get(_kid(w.cert)) in ("active", "retired"), f"signing key of the certificate: {keys}"


def _check_rotated(r, w, role) -> None:
    body = r.json()
    _eq(body["status"], "active", "new key status")
    assert body["kid"] != _kid(w.cert), "rotation must make a new key"


def _institution_code(role: str) -> str:
    return "CQOU" if role == B else "YCCEC"


def _post_rule(w: World, role: str) -> tuple[str, dict]:
    return "/api/v1/conversion-rules", {"json": _rule_body("AUTHZ-RULE", _own(w, role)["rule_target"])}


def _check_proposed_rule(r, w, role) -> None:
    body = r.json()
    owner = _institution_code(role)
    _eq(
        (r.status_code, body["code"], body["state"], body["owner"], body["target_outcome"]),
        (201, "AUTHZ-RULE", "proposed", owner, f"{owner}:{_own(w, role)['rule_target']}"),
        "proposed rule",
    )


def _check_public_rules(r, w, role) -> None:
    """Approved rules only: neither B's proposed AUTHZ-APPROVE nor a rule just proposed in this walk."""
    _eq(
        [(x["owner"], x["code"], x["state"]) for x in r.json()],
        [("YCCEC", "AUTHZ-CONV", "approved"), ("YCCEC", "AUTHZ-RETIRE", "approved")],
        "listed rules",
    )


def _check_rule_state(code: str, state: str) -> Check:
    return lambda r, w, role: _eq(
        (r.json()["id"], r.json()["state"]), (w.rules[code]["id"], state), f"rule {code}"
    )


def _check_qualification(r, w, role) -> None:
    body = r.json()  # the PUT row of A's walk may already have made a version 2 (a new name, nothing else)
    _eq(
        (body["code"], body["owner"], body["total_credits"], body["requirements"]),
        (QUALIFICATION, "YCCEC", 3.0, [{"category": "community", "min_credits": 1.5}]),
        "qualification",
    )


def _check_options(r, w, role) -> None:
    rule = w.rules["AUTHZ-CONV"]
    [option] = [o for o in r.json() if o["rule"]["id"] == rule["id"]]
    _eq(
        (option["eligible"], option["grant"], [u["credits"] for u in option["would_use"]], option["missing"]),
        (True, 1.0, [0.5], []),
        "conversion option",
    )


def _check_requested(r, w, role) -> None:
    body = r.json()
    _eq(
        (r.status_code, body["state"], body["rule"]["id"], [x["credits"] for x in body["locked"]]),
        (201, "pending", w.rules["AUTHZ-CONV"]["id"], [0.5]),
        "conversion request",
    )
    assert body["id"] not in w.conversions.values(), "a request must be a new one"


def _check_my_conversions(r, w, role) -> None:
    mine = {c["id"]: (c["state"], [x["credits"] for x in c["locked"]]) for c in r.json()}
    _eq(
        {i: mine.get(i) for i in w.conversions.values()},
        {i: ("pending", [0.5]) for i in w.conversions.values()},
        "the world's requests",
    )


def _check_pending(r, w, role) -> None:
    """A sees the learner's requests under its rule; B, which owns no rule with requests, sees none."""
    expected = sorted(w.conversions.values()) if role == A else []
    _eq(sorted(c["id"] for c in r.json()), expected, "pending requests")
    assert all(c["state"] == "pending" for c in r.json()), r.json()


def _decide(w: World, role: str) -> tuple[str, dict]:
    """Each allowed role decides its own pending request; the others aim at A's."""
    return f"/api/v1/conversions/{w.conversions.get(role, w.conversions[A])}/decide", {
        "json": {"decision": "approve"}
    }


def _check_decided(r, w, role) -> None:
    body = r.json()
    _eq(
        (body["id"], body["state"], bool(body["transaction_id"]), body["grant"]),
        (w.conversions[role], "approved", True, 1.0),
        "decided request",
    )


MATRIX: dict[tuple[str, str], Route] = {
    # operator -----------------------------------------------------------------------------------
    ("POST", "/api/v1/institutions"): Route(
        "operator",
        lambda w, role: ("/api/v1/institutions", {"json": {"code": "NEWINST", "name_zh": "新机构"}}),
        lambda r, w, role: _eq(
            (r.status_code, r.json()["code"], r.json()["state"]),
            (201, "NEWINST", "pending"),
            "created institution",
        ),
    ),
    ("GET", "/api/v1/institutions"): Route(
        "operator",
        lambda w, role: ("/api/v1/institutions", {}),
        lambda r, w, role: _eq(
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
        lambda r, w, role: _eq((r.status_code, r.json()["key"][:4]), (201, "cbk_"), "new key"),
    ),
    ("GET", "/api/v1/institutions/{code}/api-keys"): Route(
        "operator", lambda w, role: ("/api/v1/institutions/SPARE-ACC/api-keys", {}), _check_key_list
    ),
    ("DELETE", "/api/v1/institutions/{code}/api-keys/{key_id}"): Route(
        "operator",
        lambda w, role: (f"/api/v1/institutions/SPARE-ACC/api-keys/{w.spare_key_id}", {}),
        lambda r, w, role: _eq(
            (r.json()["id"], r.json()["revoked_at"] is not None), (w.spare_key_id, True), "revoked key"
        ),
    ),
    # institution --------------------------------------------------------------------------------
    ("PUT", "/api/v1/catalogue/{outcome_code}"): Route(
        "institution",
        lambda w, role: (
            "/api/v1/catalogue/AUTHZ-NEW",
            {"json": {"title_zh": "防范电信诈骗", "category": "community", "level": 1, "credits": 0.5}},
        ),
        lambda r, w, role: _eq(
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
        lambda r, w, role: _eq(
            (r.status_code, r.json()["created"], bool(r.json()["activation_code"])),
            (201, True, True),
            "enrolment",
        ),
    ),
    ("POST", "/api/v1/completions"): Route("institution", _post_completion, _check_posted),
    ("POST", "/api/v1/completions/batch"): Route(
        "institution",
        _post_batch,
        lambda r, w, role: _eq((r.json()["accepted"], r.json()["committed"]), (1, True), "batch report"),
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
        lambda r, w, role: _eq((r.json()["id"], r.json()["state"]), (w.c2, "revoked"), "revoked completion"),
        overrides={B: e404("completion_not_found")},
    ),
    ("GET", "/api/v1/learners/{account_no}/balance"): Route(
        "institution_or_operator",
        lambda w, role: (f"/api/v1/learners/{w.learner['account_no']}/balance", {}),
        _check_balance,
        overrides={B: e404("learner_not_found")},
    ),
    # learner ------------------------------------------------------------------------------------
    ("POST", "/api/v1/auth/activate"): Route(
        "public",
        lambda w, role: (
            "/api/v1/auth/activate",
            {
                "json": {
                    "account_no": w.fresh["account_no"],
                    "activation_code": w.fresh["activation_code"],
                    "password": PASSWORD,
                }
            },
        ),
        lambda r, w, role: _eq(
            (r.json()["account_no"], r.json()["access_token"][:4]),
            (w.fresh["account_no"], "cbs_"),
            "activation",
        ),
    ),
    ("POST", "/api/v1/auth/token"): Route(
        "public",
        lambda w, role: (
            "/api/v1/auth/token",
            {"json": {"account_no": w.learner["account_no"], "password": PASSWORD}},
        ),
        lambda r, w, role: _eq(
            (r.json()["account_no"], r.json()["access_token"][:4]),
            (w.learner["account_no"], "cbs_"),
            "sign-in",
        ),
    ),
    ("GET", "/api/v1/me"): Route(
        "learner",
        lambda w, role: ("/api/v1/me", {}),
        lambda r, w, role: _eq(
            (r.json()["account_no"], r.json()["name"]), (w.learner["account_no"], "张桂兰"), "me"
        ),
    ),
    ("GET", "/api/v1/me/balance"): Route(
        "learner", lambda w, role: ("/api/v1/me/balance", {}), _check_balance
    ),
    ("GET", "/api/v1/me/ledger"): Route("learner", lambda w, role: ("/api/v1/me/ledger", {}), _check_ledger),
    # certificates (SPEC §3.7) -------------------------------------------------------------------
    ("POST", "/api/v1/me/certificates"): Route(
        "learner",
        lambda w, role: ("/api/v1/me/certificates", {"json": {"kind": "achievement", "completion_id": w.c1}}),
        _check_issued_mine,
    ),
    ("POST", "/api/v1/certificates/batch"): Route(
        "institution_or_operator",
        _issue_batch,
        _check_issued_batch,
        overrides={B: e404("completion_not_found")},
    ),
    ("GET", "/api/v1/certificates/{certificate_id}"): Route(
        "public", lambda w, role: (f"/api/v1/certificates/{w.cert['id']}", {}), _check_certificate
    ),
    ("GET", "/api/v1/certificates/{certificate_id}.pdf"): Route(
        "public", lambda w, role: (f"/api/v1/certificates/{w.cert['id']}.pdf", {}), _check_pdf
    ),
    ("POST", "/api/v1/certificates/{certificate_id}/revoke"): Route(
        "institution_or_operator",
        lambda w, role: (
            f"/api/v1/certificates/{w.cert_revoke['id']}/revoke",
            {"json": {"reason": "证书信息有误"}},
        ),
        lambda r, w, role: _eq(
            (r.json()["id"], r.json()["revoked"], r.json()["revoke_reason"]),
            (w.cert_revoke["id"], True, "证书信息有误"),
            "revoked certificate",
        ),
        overrides={B: e404("certificate_not_found")},
    ),
    # Before the reads below on purpose: in the operator's walk they then see a retired signing key.
    ("POST", "/api/v1/keys/rotate"): Route(
        "operator", lambda w, role: ("/api/v1/keys/rotate", {}), _check_rotated
    ),
    ("GET", "/api/v1/keys"): Route("public", lambda w, role: ("/api/v1/keys", {}), _check_key_status),
    ("GET", "/api/v1/verify/{certificate_id}"): Route(
        "public", lambda w, role: (f"/api/v1/verify/{w.cert['id']}", {}), _check_valid
    ),
    ("POST", "/api/v1/verify"): Route(
        "public",
        lambda w, role: ("/api/v1/verify", {"json": {"credential": w.cert["credential"]}}),
        _check_valid,
    ),
    ("GET", "/api/v1/status-lists/{list_id}"): Route(
        "public", lambda w, role: (f"/api/v1/status-lists/{_status_list_id(w.cert)}", {}), _check_status_list
    ),
    # conversion (SPEC §3.5–§3.6) ----------------------------------------------------------------
    ("POST", "/api/v1/conversion-rules"): Route("institution", _post_rule, _check_proposed_rule),
    # Before approve/retire on purpose: the list is the world's, in every walk.
    ("GET", "/api/v1/conversion-rules"): Route(
        "public", lambda w, role: ("/api/v1/conversion-rules", {}), _check_public_rules
    ),
    ("POST", "/api/v1/conversion-rules/{rule_id}/approve"): Route(
        "operator",
        lambda w, role: (f"/api/v1/conversion-rules/{w.rules['AUTHZ-APPROVE']['id']}/approve", {}),
        _check_rule_state("AUTHZ-APPROVE", "approved"),
    ),
    ("POST", "/api/v1/conversion-rules/{rule_id}/retire"): Route(
        "institution_or_operator",
        lambda w, role: (f"/api/v1/conversion-rules/{w.rules['AUTHZ-RETIRE']['id']}/retire", {}),
        _check_rule_state("AUTHZ-RETIRE", "retired"),
        overrides={B: e404("rule_not_found")},
    ),
    ("GET", "/api/v1/qualifications/{code}"): Route(
        "public", lambda w, role: (f"/api/v1/qualifications/{QUALIFICATION}", {}), _check_qualification
    ),
    ("PUT", "/api/v1/qualifications/{code}"): Route(
        "institution",
        lambda w, role: (
            f"/api/v1/qualifications/{QUALIFICATION}",
            {"json": _qualification_body(name_zh="社区学习证书（修订）")},
        ),
        lambda r, w, role: _eq(
            (r.status_code, r.json()["code"], r.json()["version"], r.json()["owner"], r.json()["name_zh"]),
            (201, QUALIFICATION, 2, "YCCEC", "社区学习证书（修订）"),
            "edited qualification",
        ),
        overrides={B: Expect(403, "qualification_owned_by_other")},
    ),
    # Options before the request: the learner's walk then spends the last 0.5 of c1's lot.
    ("GET", "/api/v1/me/conversion-options"): Route(
        "learner", lambda w, role: ("/api/v1/me/conversion-options", {}), _check_options
    ),
    ("POST", "/api/v1/me/conversions"): Route(
        "learner",
        lambda w, role: ("/api/v1/me/conversions", {"json": {"rule_id": w.rules["AUTHZ-CONV"]["id"]}}),
        _check_requested,
    ),
    ("GET", "/api/v1/me/conversions"): Route(
        "learner", lambda w, role: ("/api/v1/me/conversions", {}), _check_my_conversions
    ),
    ("GET", "/api/v1/me/progress/{qualification_code}"): Route(
        "learner",
        lambda w, role: (f"/api/v1/me/progress/{QUALIFICATION}", {}),
        lambda r, w, role: _eq(
            (
                r.json()["qualification"]["code"],
                r.json()["qualification"]["owner"],
                r.json()["total"]["required"],
            ),
            (QUALIFICATION, "YCCEC", 3.0),
            "progress",
        ),
    ),
    # Before decide on purpose: A lists both of the world's requests still pending.
    ("GET", "/api/v1/conversions"): Route(
        "institution", lambda w, role: ("/api/v1/conversions", {}), _check_pending
    ),
    ("POST", "/api/v1/conversions/{conversion_id}/decide"): Route(
        "institution_or_operator", _decide, _check_decided, overrides={B: e404("conversion_not_found")}
    ),
}

# Cells where the app is known to answer wrongly: (role, method, path) -> reason. They are left out of
# the walk and replayed one by one in ``test_known_bug`` (xfail strict) so the bug stays recorded.
KNOWN_BUGS: dict[tuple[str, str, str], str] = {}


# -- route enumeration ----------------------------------------------------------------------------


def _walk(routes: list, prefix: str = "") -> Iterator[tuple[str, str]]:
    for route in routes:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if path is not None and methods:
            for method in sorted(set(methods) - {"HEAD", "OPTIONS"}):
                yield method, prefix + path
        elif hasattr(route, "original_router"):  # FastAPI ≥ 0.16x keeps included routers as one node
            yield from _walk(route.original_router.routes, prefix + route.include_context.prefix)
        elif hasattr(route, "routes"):  # a Mount
            yield from _walk(route.routes, prefix + (path or ""))


def api_routes(client: TestClient) -> set[tuple[str, str]]:
    return {(m, p) for m, p in _walk(client.app.routes) if p == "/api/v1" or p.startswith("/api/v1/")}


def test_matrix_covers_every_route(client):
    routes = api_routes(client)
    # The walker must see at least what OpenAPI documents, or it is missing a kind of route node.
    documented = {
        (m.upper(), p)
        for p, ops in client.app.openapi()["paths"].items()
        for m in ops
        if p.startswith("/api/v1/")
    }
    assert documented <= routes, f"route walker missed: {sorted(documented - routes)}"
    missing = sorted(routes - MATRIX.keys())
    stale = sorted(MATRIX.keys() - routes)
    assert not missing and not stale, (
        f"routes without an authorization row: {missing}; rows for routes that no longer exist: {stale}"
    )


# -- the walk -------------------------------------------------------------------------------------


def _call(client: TestClient, w: World, role: str, method: str, template: str):
    url, kwargs = MATRIX[(method, template)].request(w, role)
    return client.request(method, url, headers=w.headers[role] | kwargs.pop("headers", {}), **kwargs)


def _judge(response, expect: Expect, check: Check, w: World, role: str) -> str | None:
    """None when the answer is what the matrix says; otherwise what went wrong, in a few words."""
    status = response.status_code
    if expect.status is None:
        if not 200 <= status < 300:
            return f"got {status} {_code(response)}"
        try:
            check(response, w, role)
        except (AssertionError, KeyError, TypeError, ValueError) as exc:
            return f"{status} but {type(exc).__name__}: {exc}"
        return None
    if status != expect.status or _code(response) != expect.code:
        leak = " (RESPONSE CARRIES DATA)" if 200 <= status < 300 else ""
        return f"got {status} {_code(response)}{leak}"
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return f"{status} {expect.code} but content-type {response.headers.get('content-type')!r}"
    body = response.json()
    if body.get("status") != status:
        return f"problem body status {body.get('status')!r} != {status}"
    extra = set(body) - {"type", "title", "status", "detail", "code", "errors"}
    if extra:
        return f"{status} {expect.code} but the refusal carries {sorted(extra)}"
    return None


def _code(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "<no json>"
    return body.get("code", "<no code>") if isinstance(body, dict) else f"<{type(body).__name__}>"


def _table(rows: list[tuple[str, str, str, str]]) -> str:
    head = ("role", "route", "expected", "actual")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    line = lambda r: " | ".join(c.ljust(wd) for c, wd in zip(r, widths))  # noqa: E731
    return "\n".join([line(head), "-+-".join("-" * wd for wd in widths), *map(line, rows)])


def _operator_view(client: TestClient, w: World) -> dict[str, Any]:
    """The state every walk could touch, read with the operator token."""
    get = lambda url: client.get(url, headers=OPERATOR)  # noqa: E731
    institutions = {i["code"]: i["state"] for i in get("/api/v1/institutions").json()}
    keys = {
        k["id"]: k["revoked_at"] is not None for k in get("/api/v1/institutions/SPARE-ACC/api-keys").json()
    }
    balance = get(f"/api/v1/learners/{w.learner['account_no']}/balance").json()
    qualification = get(f"/api/v1/qualifications/{QUALIFICATION}").json()
    return {
        "balance": balance["total"],
        "by_category": balance["by_category"],
        "convertible": balance["convertible"],
        "c1": get(f"/api/v1/completions/{w.c1}").json()["state"],
        "c2": get(f"/api/v1/completions/{w.c2}").json()["state"],
        "learner2 balance": get(f"/api/v1/learners/{w.learner2['account_no']}/balance").json()["total"],
        "institutions": institutions,
        "spare key revoked": keys[w.spare_key_id],
        "SPARE-ACC keys": len(keys),
        "catalogue A": sorted(o["code"] for o in get("/api/v1/catalogue?institution=YCCEC").json()),
        "catalogue B": sorted(o["code"] for o in get("/api/v1/catalogue?institution=CQOU").json()),
        "cert revoked": get(f"/api/v1/certificates/{w.cert['id']}").json()["revoked"],
        "cert verifies": get(f"/api/v1/verify/{w.cert['id']}").json()["valid"],
        "cert_revoke revoked": get(f"/api/v1/certificates/{w.cert_revoke['id']}").json()["revoked"],
        "issuer keys": sorted(k["status"] for k in get("/api/v1/keys").json()),
        "certificates": _certificate_count(client),
        "rules": _rules(client),
        "qualification": (qualification["version"], qualification["owner"], qualification["name_zh"]),
        "conversions": _conversions(client, w),
    }


def _rules(client: TestClient) -> dict[str, list[str]]:
    """Every rule by state (the public list shows approved ones only), as OWNER:CODE."""
    from sqlalchemy import select

    from creditbank.conversion.models import ConversionRule
    from creditbank.institutions.models import Institution

    by_state: dict[str, list[str]] = {}
    with client.app.state.db.reader() as session:
        for owner, code, state in session.execute(
            select(Institution.code, ConversionRule.code, ConversionRule.state)
            .join(Institution, Institution.id == ConversionRule.owner_institution_id)
            .order_by(Institution.code, ConversionRule.code)
        ):
            by_state.setdefault(state, []).append(f"{owner}:{code}")
    return by_state


def _conversions(client: TestClient, w: World) -> dict[str, str]:
    """Every conversion request's state: the world's by the role meant to decide it, any other as "new"."""
    from sqlalchemy import select

    from creditbank.conversion.models import Conversion

    names = {cid: f"for {role}" for role, cid in w.conversions.items()}
    with client.app.state.db.reader() as session:
        rows = session.execute(select(Conversion.id, Conversion.state).order_by(Conversion.id)).all()
    states: dict[str, str] = {}
    for cid, state in rows:
        name = names.get(cid, "new")
        assert name not in states, f"more than one {name} conversion request: {rows}"
        states[name] = state
    return states


def _certificate_count(client: TestClient) -> int:
    """No route lists certificates; count the rows, so a refused issue that wrote one anyway shows."""
    from sqlalchemy import func, select

    from creditbank.certificates.models import Certificate

    with client.app.state.db.reader() as session:
        return session.execute(select(func.count()).select_from(Certificate)).scalar_one()


def _expected_after(role: str) -> dict[str, Any]:
    """What the walk of ``role`` must have changed, and nothing else."""
    institutions = {
        "YCCEC": "accredited",
        "CQOU": "accredited",
        "SPARE-PEND": "pending",
        "SPARE-ACC": "accredited",
    }
    if role == OP:
        institutions |= {"SPARE-PEND": "accredited", "SPARE-ACC": "suspended", "NEWINST": "pending"}
    # learner2 starts at 1.5 (c2); A's walk revokes c2 (-1.5) and posts YC-X1 (+1) and YC-X2 by batch (+0.5).
    # The learner's c1 lot (1.5 community) has 0.5 locked by each of the world's two requests; the learner's walk
    # locks the last 0.5; deciding one (operator, A) consumes its 0.5 and deposits 1 senior credit (YC-X1).
    decided = role in (OP, A)
    rules = {"approved": ["YCCEC:AUTHZ-CONV", "YCCEC:AUTHZ-RETIRE"], "proposed": ["CQOU:AUTHZ-APPROVE"]}
    if role == OP:
        rules = {"approved": ["CQOU:AUTHZ-APPROVE", "YCCEC:AUTHZ-CONV"], "retired": ["YCCEC:AUTHZ-RETIRE"]}
    elif role == A:
        rules = {
            "approved": ["YCCEC:AUTHZ-CONV"],
            "proposed": ["CQOU:AUTHZ-APPROVE", "YCCEC:AUTHZ-RULE"],
            "retired": ["YCCEC:AUTHZ-RETIRE"],
        }
    elif role == B:
        rules["proposed"] = ["CQOU:AUTHZ-APPROVE", "CQOU:AUTHZ-RULE"]
    conversions = {f"for {OP}": "pending", f"for {A}": "pending"}
    if decided:
        conversions[f"for {role}"] = "approved"
    if role == LRN:
        conversions["new"] = "pending"
    return {
        "balance": 2.0 if decided else 1.5,
        "by_category": {"community": 1.0, "senior": 1.0} if decided else {"community": 1.5},
        "convertible": {OP: 1.5, A: 1.5, LRN: 0.0}.get(role, 0.5),
        "c1": "active",
        "c2": "revoked" if role in (OP, A) else "active",
        "learner2 balance": {OP: 0.0, A: 1.5}.get(role, 1.5),
        "institutions": institutions,
        "spare key revoked": role == OP,
        "SPARE-ACC keys": 3 if role == OP else 2,
        "catalogue A": ["AUTHZ-NEW", "YC-ELEC", "YC-X1", "YC-X2"]
        if role == A
        else ["YC-ELEC", "YC-X1", "YC-X2"],
        "catalogue B": ["AUTHZ-NEW", "B-X1", "B-X2"] if role == B else ["B-X1", "B-X2"],
        "cert revoked": False,
        "cert verifies": True,
        "cert_revoke revoked": role in (OP, A),
        "issuer keys": ["active", "retired"] if role == OP else ["active"],
        # the world's two; the learner issues one more for itself, the operator and A one by batch
        "certificates": 2 + (role in (LRN, OP, A)),
        "rules": rules,
        "qualification": (2, "YCCEC", "社区学习证书（修订）") if role == A else (1, "YCCEC", "社区学习证书"),
        "conversions": conversions,
    }


@pytest.mark.parametrize("role", ROLES)
def test_authorization_matrix(client, role):
    w = build_world(client)
    failures = []
    for (method, template), route in MATRIX.items():
        if (role, method, template) in KNOWN_BUGS:
            continue
        expect = route.expect(role)
        problem = _judge(_call(client, w, role, method, template), expect, route.check, w, role)
        if problem:
            failures.append((role, f"{method} {template}", str(expect), problem))
    assert not failures, (
        f"\n{len(failures)} cell(s) of the authorization matrix are wrong:\n{_table(failures)}"
    )

    # Refused calls must not have changed anything; allowed ones exactly what they said.
    after, expected = _operator_view(client, w), _expected_after(role)
    diff = {k: (after[k], expected[k]) for k in expected if after[k] != expected[k]}
    assert not diff, f"state after the {role} walk differs (actual, expected): {diff}"


if KNOWN_BUGS:  # defined only when there is something to record (an empty parametrize would show as a skip)

    @pytest.mark.parametrize(
        "cell",
        [
            pytest.param(
                cell, marks=pytest.mark.xfail(strict=True, reason=reason), id=f"{cell[0]}-{cell[1]}-{cell[2]}"
            )
            for cell, reason in KNOWN_BUGS.items()
        ],
    )
    def test_known_bug(client, cell):
        role, method, template = cell
        w = build_world(client)
        route = MATRIX[(method, template)]
        problem = _judge(_call(client, w, role, method, template), route.expect(role), route.check, w, role)
        assert problem is None, f"{role} {method} {template}: expected {route.expect(role)}, {problem}"


def test_teaching_a_learner_opens_the_balance_but_not_the_other_institutions_records(client):
    """SPEC §4: an institution reads the balance of learners it enrolled *or taught* — and only that."""
    w = build_world(client)
    b, account = w.headers[B], w.learner["account_no"]
    assert client.get(f"/api/v1/learners/{account}/balance", headers=b).status_code == 404
    taught = client.post("/api/v1/completions", json=completion_body(account, "B-X1"), headers=b)
    assert taught.status_code == 201, taught.text
    balance = client.get(f"/api/v1/learners/{account}/balance", headers=b)
    assert balance.status_code == 200 and balance.json()["total"] == 3.5, (
        balance.text
    )  # 1.5 from A + 2 from B
    # Teaching the learner does not open A's completion records to B, nor B's to A.
    for headers, completion in [(b, w.c1), (w.headers[A], taught.json()["id"])]:
        r = client.get(f"/api/v1/completions/{completion}", headers=headers)
        assert (r.status_code, _code(r)) == (404, "completion_not_found"), r.text
        r = client.post(f"/api/v1/completions/{completion}/revoke", json={"reason": "x"}, headers=headers)
        assert (r.status_code, _code(r)) == (404, "completion_not_found"), r.text
    # A third institution that never met the learner still gets "no such account".
    r = client.get(f"/api/v1/learners/{account}/balance", headers=institution(client, "THIRD", "第三机构"))
    assert (r.status_code, _code(r)) == (404, "learner_not_found"), r.text
    me = client.get("/api/v1/me/balance", headers=w.headers[LRN]).json()
    assert me["total"] == 3.5 and me["by_category"] == {"academic": 2.0, "community": 1.5}


def test_a_transcript_by_batch_does_not_open_the_other_institutions_records(client):
    """Same rule as above, through certificates: an institution may certify what it posted, not read
    another institution's records by having them printed on a transcript."""
    w = build_world(client)
    b, account = w.headers[B], w.learner["account_no"]
    taught = client.post("/api/v1/completions", json=completion_body(account, "B-X1"), headers=b)
    assert taught.status_code == 201, taught.text
    r = client.post(
        "/api/v1/certificates/batch",
        json={"items": [{"account_no": account, "kind": "transcript"}]},
        headers=b,
    )
    if r.status_code == 201:  # allowed — then with B's own line only
        lines = client.get(f"/api/v1/verify/{r.json()[0]['id']}").json()["certificate"]["lines"]
        assert [line["institution"] for line in lines] == ["重庆开放大学"], lines
    else:
        assert r.status_code in (403, 404), r.text


# -- routes outside /api/v1 -----------------------------------------------------------------------


def test_published_keys_and_verification_page_are_public(client):
    """/.well-known/{did,jwks}.json and /v/{id} (what a phone opens from the QR) need no token, and a
    garbage one is ignored; the page's verdict says 有效 for a valid certificate, and only for it."""
    w = build_world(client)
    kid = _kid(w.cert)
    for role in (ANON, JUNK):
        headers = w.headers[role]
        did = client.get("/.well-known/did.json", headers=headers)
        assert did.status_code == 200 and did.headers["content-type"].startswith("application/did+json"), (
            did.text
        )
        assert any(m["id"].endswith(f"#{kid}") for m in did.json()["verificationMethod"]), did.text
        jwks = client.get("/.well-known/jwks.json", headers=headers)
        assert jwks.status_code == 200 and kid in [k.get("kid") for k in jwks.json()["keys"]], jwks.text
        page = client.get(f"/v/{w.cert['id']}", headers=headers)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), page.text
        assert 'data-verdict="valid"' in page.text and "✓ 有效" in page.text, role
    revoked = client.post(
        f"/api/v1/certificates/{w.cert_revoke['id']}/revoke",
        json={"reason": "证书信息有误"},
        headers=OPERATOR,
    )
    assert revoked.status_code == 200, revoked.text
    page = client.get(f"/v/{w.cert_revoke['id']}")
    assert page.status_code == 200 and 'data-verdict="revoked"' in page.text, page.text
    # "✓ 有效" is the verdict; a bare 有效 also appears in the issuer-key check line of any page
    assert "⚠ 已撤销" in page.text and "✓ 有效" not in page.text, page.text


# -- conversion rules and qualifications: only for what the institution owns -----------------------


def _two_institutions(client: TestClient) -> tuple[dict[str, str], dict[str, str]]:
    a = institution(client, "YCCEC", "永川区社区教育学院")
    outcome(client, a, "YC-X1", title_zh="玩转智能手机", category="senior", level=1, credits=1)
    b = institution(client, "CQOU", "重庆开放大学")
    outcome(client, b, "B-X1", title_zh="现代农业技术基础", category="academic", level=4, credits=2)
    return a, b


def test_rules_and_qualifications_are_written_only_for_what_the_institution_owns(client):
    """SPEC §3.5: a rule targets an outcome of the institution proposing it; a qualification is edited, and
    rules are bound to it, by its owner only. No refusal writes anything."""
    a, b = _two_institutions(client)
    r = client.post("/api/v1/conversion-rules", json=_rule_body("B-STEAL", "YCCEC:YC-X1"), headers=b)
    assert (r.status_code, _code(r)) == (403, "rule_target_not_owned"), r.text
    # The same prefixed form naming the proposer itself is fine: the refusal is about the owner, not the syntax.
    own = client.post("/api/v1/conversion-rules", json=_rule_body("A-OWN", "YCCEC:YC-X1"), headers=a)
    assert own.status_code == 201 and own.json()["owner"] == "YCCEC", own.text

    for owner, other, code in [(a, b, "YC-QUAL"), (b, a, "B-QUAL")]:
        made = client.put(f"/api/v1/qualifications/{code}", json=_qualification_body(), headers=owner)
        assert made.status_code == 201, made.text
        r = client.put(
            f"/api/v1/qualifications/{code}", json=_qualification_body(name_zh="改名"), headers=other
        )
        assert (r.status_code, _code(r)) == (403, "qualification_owned_by_other"), r.text
    r = client.post(
        "/api/v1/conversion-rules", headers=b, json=_rule_body("B-BIND", "B-X1", qualification_code="YC-QUAL")
    )
    assert (r.status_code, _code(r)) == (403, "qualification_owned_by_other"), r.text

    assert _rules(client) == {"proposed": ["YCCEC:A-OWN"]}
    for code, owner in [("YC-QUAL", "YCCEC"), ("B-QUAL", "CQOU")]:
        q = client.get(f"/api/v1/qualifications/{code}").json()
        assert (q["version"], q["owner"], q["name_zh"]) == (1, owner, "社区学习证书"), q


def test_a_rule_cannot_target_another_institutions_outcome_behind_its_own_prefix(client):
    _a, b = _two_institutions(client)
    for target in ("CQOU:YCCEC:YC-X1", "cqou:yccec:YC-X1"):
        r = client.post("/api/v1/conversion-rules", json=_rule_body("B-STEAL", target), headers=b)
        # rule_target_not_owned is the contract; a fix that rejects the ref as malformed is a refusal too
        assert (r.status_code, _code(r)) in {(403, "rule_target_not_owned"), (422, "invalid_outcome_ref")}, (
            r.text
        )
    assert _rules(client) == {}


def test_suspended_institution_cannot_grant_credits_by_approving_a_conversion(client):
    a = institution(client, "YCCEC", "永川区社区教育学院")
    outcome(client, a, "YC-ELEC")  # 1.5 community credits, level 2
    outcome(client, a, "YC-X1", title_zh="玩转智能手机", category="senior", level=1, credits=1)
    person = learner(client, a)
    assert (
        client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=a).status_code
        == 201
    )
    token = client.post(
        "/api/v1/auth/activate",
        json={
            "account_no": person["account_no"],
            "activation_code": person["activation_code"],
            "password": PASSWORD,
        },
    ).json()["access_token"]
    rule = client.post("/api/v1/conversion-rules", json=_rule_body("AUTHZ-CONV", "YC-X1"), headers=a).json()
    assert client.post(f"/api/v1/conversion-rules/{rule['id']}/approve", headers=OPERATOR).status_code == 200
    requested = client.post(
        "/api/v1/me/conversions", json={"rule_id": rule["id"]}, headers={"Authorization": f"Bearer {token}"}
    )
    assert requested.status_code == 201, requested.text
    assert client.post("/api/v1/institutions/YCCEC/suspend", headers=OPERATOR).status_code == 200

    r = client.post(
        f"/api/v1/conversions/{requested.json()['id']}/decide", json={"decision": "approve"}, headers=a
    )
    assert (r.status_code, _code(r)) == (403, "institution_not_accredited"), r.text
    balance = client.get(f"/api/v1/learners/{person['account_no']}/balance", headers=OPERATOR).json()
    assert (balance["total"], balance["by_category"]) == (1.5, {"community": 1.5}), balance


# -- keys and institution states ------------------------------------------------------------------


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
        assert (r.status_code, _code(r)) == (401, "unauthorized"), (
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
    assert (r.status_code, _code(r)) == (404, "api_key_not_found"), r.text
    assert client.get("/api/v1/catalogue", headers=a).status_code == 200


@pytest.mark.parametrize("token", ["cbk_" + "0" * 43, "cbs_" + "0" * 43, "cbo_" + "0" * 43, "", "Bearer"])
def test_unknown_tokens_of_every_shape_are_401(client, token):
    r = client.get("/api/v1/catalogue", headers={"Authorization": f"Bearer {token}"})
    assert (r.status_code, _code(r)) == (401, "unauthorized"), r.text
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert (r.status_code, _code(r)) == (401, "unauthorized"), r.text


def test_suspended_institution_authenticates_but_cannot_post(client):
    a = institution(client, "YCCEC")
    outcome(client, a)
    outcome(client, a, "YC-X1", title_zh="玩转智能手机", category="senior", level=1, credits=1)
    person = learner(client, a)
    posted = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=a)
    assert posted.status_code == 201, posted.text
    token = client.post(
        "/api/v1/auth/activate",
        json={
            "account_no": person["account_no"],
            "activation_code": person["activation_code"],
            "password": PASSWORD,
        },
    ).json()["access_token"]

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
    assert (r.status_code, _code(r)) == (403, "institution_not_accredited"), r.text
    r = client.post(
        "/api/v1/completions/batch",
        headers=a,
        json={"rows": [completion_body(person["account_no"], "YC-X1")]},
    )
    assert (r.status_code, _code(r)) == (403, "institution_not_accredited"), r.text

    # Existing credits stay valid, for the learner too.
    me = client.get("/api/v1/me/balance", headers={"Authorization": f"Bearer {token}"})
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
    outcome(client, p)
    person = learner(client, p)
    r = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=p)
    assert (r.status_code, _code(r)) == (403, "institution_not_accredited"), r.text
