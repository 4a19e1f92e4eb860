"""Each Open Badge embedded in a CLR transcript is revocable on its own (issue 12, item 3).

A badge copied out of a transcript is a credential anyone can present alone; it carries its own
status entry and is revoked, together with the transcript, when the completion it rests on is.
"""

from __future__ import annotations

import copy

from creditbank.audit import audit
from creditbank.kit import statuslist
from tests.certificates.test_certificates import issue, oks, verify_json, world  # noqa: F401
from tests.conftest import OPERATOR


def _lines(transcript: dict) -> list[dict]:
    return transcript["credential"]["credentialSubject"]["verifiableCredential"]


def _line_of(transcript: dict, outcome_code: str) -> int:
    """Which line (1-based) of the transcript is the badge for ``outcome_code``."""
    codes = [line["credentialSubject"]["achievement"]["humanCode"] for line in _lines(transcript)]
    return next(n for n, code in enumerate(codes, start=1) if f":{outcome_code}:" in code)


def _bit(client, entry: dict) -> bool:
    url = entry["statusListCredential"]
    encoded = client.get(url[url.index("/api/") :]).json()["credentialSubject"]["encodedList"]
    return statuslist.get_bit(statuslist.decode(encoded), int(entry["statusListIndex"]))


def _states(client, transcript: dict) -> dict[str, str]:
    ids = [transcript["id"]] + [f"{transcript['id']}-{n}" for n in range(1, len(_lines(transcript)) + 1)]
    return {i: client.get(f"/api/v1/verify/{i}").json()["verdict"] for i in ids}


class TestEveryLineHasItsOwnStatus:
    def test_each_embedded_badge_carries_a_status_entry_of_its_own(self, client, world):  # noqa: F811
        transcript = issue(client, world, "transcript")
        lines = _lines(transcript)
        assert len(lines) == 2
        entries = [line["credentialStatus"] for line in lines] + [
            transcript["credential"]["credentialStatus"]
        ]
        assert len({(e["statusListCredential"], e["statusListIndex"]) for e in entries}) == 3
        for n, line in enumerate(lines, start=1):
            assert line["id"].endswith(f"/api/v1/certificates/{transcript['id']}-{n}")
            assert line["credentialStatus"]["type"] == "BitstringStatusListEntry"
            assert _bit(client, line["credentialStatus"]) is False

    def test_a_badge_copied_out_of_the_transcript_verifies_on_its_own(self, client, world):  # noqa: F811
        transcript = issue(client, world, "transcript")
        badge = copy.deepcopy(_lines(transcript)[0])
        verdict = verify_json(client, badge)
        assert verdict["valid"] is True, verdict
        assert oks(verdict) == {
            "signature": True,
            "issuer_key": True,
            "integrity": True,  # the bank recorded it: the line is a certificate of its own
            "status": True,
            "log_inclusion": verdict["checks"]["log_inclusion"]["ok"],
        }
        record = client.get(f"/api/v1/certificates/{transcript['id']}-1").json()
        assert (record["kind"], record["credential"]) == ("achievement", badge)


class TestRevocation:
    def test_revoking_a_completion_revokes_its_line_with_the_transcript(self, client, world):  # noqa: F811
        transcript = issue(client, world, "transcript")
        n = _line_of(transcript, "YC-ELEC")  # the outcome of completions[0]
        first, second = _lines(transcript)[n - 1], _lines(transcript)[2 - n]
        revoked = client.post(
            f"/api/v1/completions/{world['completions'][0]['id']}/revoke",
            json={"reason": "登记错误"},
            headers=world["inst"],
        )
        assert revoked.status_code == 200, revoked.text
        assert _states(client, transcript) == {
            transcript["id"]: "revoked",
            f"{transcript['id']}-{n}": "revoked",
            f"{transcript['id']}-{3 - n}": "valid",  # the other completion still stands
        }
        assert (_bit(client, first["credentialStatus"]), _bit(client, second["credentialStatus"])) == (
            True,
            False,
        )
        copied_out = verify_json(client, first)
        assert copied_out["verdict"] == "revoked" and copied_out["checks"]["status"]["ok"] is False
        with client.app.state.db.reader() as session:
            assert audit(session).ok

    def test_revoking_the_transcript_revokes_every_line(self, client, world):  # noqa: F811
        transcript = issue(client, world, "transcript")
        r = client.post(
            f"/api/v1/certificates/{transcript['id']}/revoke", json={"reason": "姓名有误"}, headers=OPERATOR
        )
        assert r.status_code == 200, r.text
        assert set(_states(client, transcript).values()) == {"revoked"}
        for line in _lines(transcript):
            assert _bit(client, line["credentialStatus"]) is True
            assert verify_json(client, line)["checks"]["status"]["detail_zh"].endswith("姓名有误")

    def test_revoking_one_line_revokes_the_transcript_but_not_the_other_lines(self, client, world):  # noqa: F811
        transcript = issue(client, world, "transcript")
        r = client.post(
            f"/api/v1/certificates/{transcript['id']}-2/revoke",
            json={"reason": "学时有误"},
            headers=world["inst"],
        )
        assert r.status_code == 200, r.text
        assert _states(client, transcript) == {
            transcript["id"]: "revoked",
            f"{transcript['id']}-1": "valid",
            f"{transcript['id']}-2": "revoked",
        }

    def test_an_achievement_certificate_of_the_same_completion_is_revoked_too(self, client, world):  # noqa: F811
        single = issue(client, world, "achievement", 0)
        transcript = issue(client, world, "transcript")
        client.post(
            f"/api/v1/completions/{world['completions'][0]['id']}/revoke",
            json={"reason": "登记错误"},
            headers=world["inst"],
        )
        assert client.get(f"/api/v1/verify/{single['id']}").json()["verdict"] == "revoked"
        assert (
            _states(client, transcript)[f"{transcript['id']}-{_line_of(transcript, 'YC-ELEC')}"] == "revoked"
        )


def test_a_line_of_a_transcript_issued_before_lines_had_rows_still_resolves(client, world):  # noqa: F811
    """Transcripts from before migration 0008 have no line rows: the id answers the embedded badge."""
    from sqlalchemy import delete

    from creditbank.certificates.models import Certificate, CertificateSource

    transcript = issue(client, world, "transcript")
    lines = [f"{transcript['id']}-1", f"{transcript['id']}-2"]
    with client.app.state.db.unit_of_work() as session:
        session.execute(delete(CertificateSource).where(CertificateSource.certificate_id.in_(lines)))
        session.execute(delete(Certificate).where(Certificate.id.in_(lines)))
    for n, line_id in enumerate(lines):
        r = client.get(f"/api/v1/certificates/{line_id}")
        assert r.status_code == 200 and r.json() == _lines(transcript)[n]
        page = client.get(
            f"/api/v1/certificates/{line_id}", headers={"Accept": "text/html"}, follow_redirects=False
        )
        assert (page.status_code, page.headers["location"]) == (303, f"/v/{transcript['id']}")
    assert client.get(f"/api/v1/certificates/{transcript['id']}-3").status_code == 404
