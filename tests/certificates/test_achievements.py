"""Every id creditbank puts into a credential resolves (issue 12, item 2).

Achievement ids answer the Open Badges 3.0 ``Achievement`` — exactly what the credential embeds, in
the version current when it was issued — as JSON for machines and as a page for people; embedded
badge ids answer the badge; the issuer's DID and verification methods are in the DID document;
status entries point at status lists that answer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from creditbank.kit import jsonld
from tests.conversion.test_conversion import approved, post, world  # noqa: F401

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def _issue(client, world, body: dict) -> dict:  # noqa: F811
    r = client.post("/api/v1/me/certificates", json=body, headers=world["me"])
    assert r.status_code == 201, r.text
    return r.json()


def every_kind(client, world) -> dict[str, dict]:  # noqa: F811
    """An achievement, a conversion, a qualification and a transcript of one learner."""
    client.put(
        "/api/v1/qualifications/OU-AGRI-CERT",
        headers=world["ou"],
        json={
            "name_zh": "现代农业入门证书",
            "name_en": "Modern agriculture starter",
            "total_credits": 2,
            "max_transfer_ratio": 1,
            "requirements": [{"outcome": "CQOUYC:OU-AGRI"}],
        },
    )
    approved(client, world["ou"], qualification_code="OU-AGRI-CERT")
    first = post(client, world, "HC-AGRI-0")
    post(client, world, "HC-AGRI-1")
    post(client, world, "HC-AGRI-2")
    cid = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"]).json()[
        "id"
    ]
    decided = client.post(
        f"/api/v1/conversions/{cid}/decide", json={"decision": "approve"}, headers=world["ou"]
    )
    assert decided.status_code == 200, decided.text
    return {
        "achievement": _issue(client, world, {"kind": "achievement", "completion_id": first["id"]}),
        "conversion": _issue(client, world, {"kind": "conversion", "conversion_id": cid}),
        "qualification": _issue(
            client, world, {"kind": "qualification", "qualification_code": "OU-AGRI-CERT"}
        ),
        "transcript": _issue(client, world, {"kind": "transcript"}),
    }


def _ids(value: Any) -> list[str]:
    """Every id-like value in a credential: ``id``s, status list URLs, verification methods."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("id", "statusListCredential", "verificationMethod") and isinstance(item, str):
                found.append(item)
            found.extend(_ids(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_ids(item))
    return found


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path


class TestEveryIdResolves:
    def test_for_every_kind_of_certificate(self, client, world):  # noqa: F811
        certs = every_kind(client, world)
        did = client.get("/.well-known/did.json").json()
        methods = {m["id"] for m in did["verificationMethod"]}
        checked = set()
        for kind, cert in certs.items():
            for ref in _ids(cert["credential"]):
                if ref.startswith("urn:creditbank:account:"):
                    continue  # the learner: a name, not a place (no personal data behind a URL)
                if ref.startswith("did:web:"):
                    assert ref == did["id"] or ref in methods, f"{kind}: {ref} is not in the DID document"
                    continue
                r = client.get(_path(ref))
                assert r.status_code == 200, f"{kind}: {ref} answers {r.status_code} {r.text[:200]}"
                checked.add(_path(ref).split("/")[3])
        assert checked == {"certificates", "status-lists", "outcomes", "qualifications"}

    def test_an_achievement_id_answers_what_the_credential_embeds(self, client, world):  # noqa: F811
        certs = every_kind(client, world)
        embedded = [
            certs["achievement"]["credential"]["credentialSubject"]["achievement"],
            certs["conversion"]["credential"]["credentialSubject"]["achievement"],
            certs["qualification"]["credential"]["credentialSubject"]["achievement"],
            *(
                line["credentialSubject"]["achievement"]
                for line in certs["transcript"]["credential"]["credentialSubject"]["verifiableCredential"]
            ),
        ]
        for achievement in embedded:
            r = client.get(_path(achievement["id"]))
            document = r.json()
            assert r.headers["content-type"] == "application/json"
            assert document.pop("@context") == [
                "https://www.w3.org/ns/credentials/v2",
                "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
            ]
            assert document == achievement
            assert jsonld.canonize(r.json()), "the document expands without dropping a term"
            ld = client.get(
                _path(achievement["id"]), headers={"Accept": "application/ld+json, application/json"}
            )
            assert ld.headers["content-type"] == "application/ld+json" and ld.json() == r.json()

    def test_an_embedded_badge_id_answers_the_badge(self, client, world):  # noqa: F811
        transcript = every_kind(client, world)["transcript"]
        for line in transcript["credential"]["credentialSubject"]["verifiableCredential"]:
            r = client.get(_path(line["id"]), headers={"Accept": "application/vc"})
            assert (r.headers["content-type"], r.json()) == ("application/vc", line)
            assert client.get(_path(line["id"])).json()["part_of"] == transcript["id"]


class TestVersions:
    def test_an_old_certificate_keeps_naming_the_outcome_as_it_was(self, client, world):  # noqa: F811
        cert = every_kind(client, world)["achievement"]
        achievement = cert["credential"]["credentialSubject"]["achievement"]
        edited = client.put(
            "/api/v1/catalogue/HC-AGRI-0",
            headers=world["hc"],
            json={"title_zh": "春季蔬菜田间管理（修订）", "category": "community", "level": 3, "credits": 2},
        )
        assert edited.status_code in (200, 201) and edited.json()["version"] == 2, edited.text
        then = client.get(_path(achievement["id"])).json()
        assert (then["name"], then["creditsAvailable"]) == (achievement["name"], 1.5)
        now = client.get("/api/v1/outcomes/HCZCEC:HC-AGRI-0").json()
        assert now["id"].endswith("/api/v1/outcomes/HCZCEC:HC-AGRI-0:v2") and now["creditsAvailable"] == 2
        page = client.get(_path(achievement["id"]), headers={"Accept": BROWSER})
        assert page.headers["content-type"].startswith("text/html")
        assert "春季蔬菜田间管理培训" in page.text and 'data-version="1" data-current="2"' in page.text
        assert "现行版本为第 2 版" in page.text

    def test_a_qualification_certificate_names_the_version_it_was_issued_under(self, client, world):  # noqa: F811
        cert = every_kind(client, world)["qualification"]
        achievement = cert["credential"]["credentialSubject"]["achievement"]
        assert achievement["id"].endswith("/api/v1/qualifications/OU-AGRI-CERT/versions/1")
        client.put(
            "/api/v1/qualifications/OU-AGRI-CERT",
            headers=world["ou"],
            json={
                "name_zh": "现代农业证书（新）",
                "total_credits": 4,
                "requirements": [{"outcome": "CQOUYC:OU-AGRI"}],
            },
        )
        then = client.get(_path(achievement["id"])).json()
        assert then["name"] == achievement["name"] and then["creditsAvailable"] == 2
        current = client.get("/api/v1/qualifications/OU-AGRI-CERT", headers={"Accept": "application/ld+json"})
        assert current.json()["id"].endswith("/versions/2") and current.json()["creditsAvailable"] == 4
        record = client.get("/api/v1/qualifications/OU-AGRI-CERT").json()  # SPEC's shape, unchanged
        assert (record["version"], record["total_credits"]) == (2, 4.0)
        page = client.get(_path(achievement["id"]), headers={"Accept": BROWSER}).text
        assert "现代农业入门证书" in page and "完成「现代农业技术基础」" in page

    def test_unknown_or_malformed_references_are_refused(self, client, world):  # noqa: F811
        for ref, code in [
            ("HCZCEC:HC-AGRI-0:v9", "outcome_not_found"),
            ("NOPE:HC-AGRI-0:v1", "outcome_not_found"),
            ("HCZCEC:HC-AGRI-0:version1", "invalid_outcome_ref"),
            ("HCZCEC", "invalid_outcome_ref"),
        ]:
            r = client.get(f"/api/v1/outcomes/{ref}")
            assert r.json()["code"] == code, (ref, r.text)
        assert (
            client.get("/api/v1/qualifications/NOPE/versions/1").json()["code"] == "qualification_not_found"
        )
