"""Authorization of the certificates' routes (``creditbank/api/certificates.py``, SPEC §3.7).

Reading a certificate, its PDF, verifying, the status lists and the key list are public — anyone holding
a certificate id, as an employer scanning a QR code does. Those routes never look at the Authorization
header, so a garbage Bearer token there is ignored (200), not a 401. The routes outside /api/v1
(``/.well-known/*``, ``/v/{id}``) are checked in their own test below. The operator's walk rotates the
issuer key *before* the verification rows, so it also shows that certificates signed with the retired
key keep verifying.

The machinery is in ``tests/api/authz.py``; ``test_authz_matrix.py`` walks these rows with every role.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.authz import (
    ANON,
    JUNK,
    LRN,
    OP,
    A,
    B,
    Route,
    World,
    build_world,
    e404,
    eq,
    kid_of,
)
from tests.conftest import OPERATOR, completion_body


def _certificate_shape(body: dict, kind: str) -> None:
    """What SPEC §4 promises for a new certificate: {id, kind, pdf_url, verify_url, credential}, signed."""
    cid = body["id"]
    eq((cid[:4], body["kind"], body["revoked"]), ("crt_", kind, False), "certificate id/kind/revoked")
    assert body["pdf_url"].endswith(f"/api/v1/certificates/{cid}.pdf"), body["pdf_url"]
    assert f"/v/{cid}#CB1." in body["verify_url"], body["verify_url"]
    eq(
        sorted(proof["cryptosuite"] for proof in body["credential"]["proof"]),
        ["eddsa-jcs-2022", "eddsa-rdfc-2022"],
        "credential proof set",
    )


def _check_issued_mine(r, w, role) -> None:
    eq(r.status_code, 201, "status")
    _certificate_shape(r.json(), "achievement")


def _issue_batch(w: World, role: str) -> tuple[str, dict]:
    """Everyone asks for the learner's c1 (A's completion): the operator and A may, B must not learn it exists."""
    return "/api/v1/certificates/batch", {
        "json": {
            "items": [{"account_no": w.learner["account_no"], "kind": "achievement", "completion_id": w.c1}]
        }
    }


def _check_issued_batch(r, w, role) -> None:
    eq((r.status_code, len(r.json())), (201, 1), "batch status, certificates")
    _certificate_shape(r.json()[0], "achievement")
    assert r.json()[0]["id"] not in (w.cert["id"], w.cert_revoke["id"]), (
        "the batch must issue a new certificate"
    )


def _check_certificate(r, w, role) -> None:
    body = r.json()
    eq((body["id"], body["kind"], body["revoked"]), (w.cert["id"], "achievement", False), "certificate")
    eq(body["credential"], w.cert["credential"], "signed credential")


def _check_pdf(r, w, role) -> None:
    eq((r.headers["content-type"], r.content[:5]), ("application/pdf", b"%PDF-"), "PDF content-type, magic")


def _check_valid(r, w, role) -> None:
    body = r.json()
    eq((body["valid"], body["verdict"], body["certificate"]["id"]), (True, "valid", w.cert["id"]), "verdict")


def _status_list_id(certificate: dict) -> str:
    return certificate["credential"]["credentialStatus"]["statusListCredential"].rsplit("/", 1)[1]


def _check_status_list(r, w, role) -> None:
    from creditbank.kit import statuslist

    body = r.json()
    eq(body["type"], ["VerifiableCredential", "BitstringStatusListCredential"], "status list type")
    assert body.get("proof"), "the status list must be signed"
    bits = statuslist.decode(body["credentialSubject"]["encodedList"])
    eq(
        statuslist.get_bit(bits, int(w.cert["credential"]["credentialStatus"]["statusListIndex"])),
        False,
        "revocation bit of the valid certificate",
    )


def _check_key_status(r, w, role) -> None:
    keys = {k["kid"]: k["status"] for k in r.json()}
    eq(list(keys.values()).count("active"), 1, "active keys")
    assert keys.get(kid_of(w.cert)) in ("active", "retired"), f"signing key of the certificate: {keys}"


def _check_rotated(r, w, role) -> None:
    body = r.json()
    eq(body["status"], "active", "new key status")
    assert body["kid"] != kid_of(w.cert), "rotation must make a new key"


ROWS: dict[tuple[str, str], Route] = {
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
        lambda r, w, role: eq(
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
    # the achievement id inside w.cert: anyone holding the credential may dereference it
    ("GET", "/api/v1/outcomes/{ref}"): Route(
        "public",
        lambda w, role: ("/api/v1/outcomes/YCCEC:YC-ELEC:v1", {}),
        lambda r, w, role: eq(
            {k: v for k, v in r.json().items() if k != "@context"},
            w.cert["credential"]["credentialSubject"]["achievement"],
            "the achievement the certificate embeds",
        ),
    ),
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
}


def _certificate_count(client: TestClient) -> int:
    """No route lists certificates; count the rows, so a refused issue that wrote one anyway shows
    (a transcript's lines are rows of their own, counted with it, not apart)."""
    from sqlalchemy import func, select

    from creditbank.certificates.models import Certificate

    with client.app.state.db.reader() as session:
        return session.execute(
            select(func.count()).select_from(Certificate).where(Certificate.parent_id.is_(None))
        ).scalar_one()


def state(client: TestClient, w: World) -> dict[str, Any]:
    """The world's two certificates, the issuer keys and how many certificates exist."""
    get = lambda url: client.get(url, headers=OPERATOR)  # noqa: E731
    return {
        "cert revoked": get(f"/api/v1/certificates/{w.cert['id']}").json()["revoked"],
        "cert verifies": get(f"/api/v1/verify/{w.cert['id']}").json()["valid"],
        "cert_revoke revoked": get(f"/api/v1/certificates/{w.cert_revoke['id']}").json()["revoked"],
        "issuer keys": sorted(k["status"] for k in get("/api/v1/keys").json()),
        "certificates": _certificate_count(client),
    }


def expected_state(role: str) -> dict[str, Any]:
    return {
        "cert revoked": False,
        "cert verifies": True,
        "cert_revoke revoked": role in (OP, A),
        "issuer keys": ["active", "retired"] if role == OP else ["active"],
        # the world's two; the learner issues one more for itself, the operator and A one by batch
        "certificates": 2 + (role in (LRN, OP, A)),
    }


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
    kid = kid_of(w.cert)
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
