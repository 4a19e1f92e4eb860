"""What an employer holds — a link (with or without its #CB1… fragment), a bare payload, a file
name, a PDF — verified online and offline; offline never says VALID for what it could not check
(issue 8, items 3 and 4)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from creditbank.cli import app as cli
from creditbank.config import get_settings
from creditbank.kit import statuslist
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome


@pytest.fixture
def issued(client) -> list[dict]:
    """Two achievement certificates of one learner; the second is revoked."""
    inst = institution(client)
    outcome(client, inst)
    outcome(client, inst, "YC-BAMBOO", title_zh="楠竹工艺画", credits=1)
    person = learner(client, inst)
    items = []
    for code in ("YC-ELEC", "YC-BAMBOO"):
        done = client.post(
            "/api/v1/completions", json=completion_body(person["account_no"], code), headers=inst
        ).json()
        items.append({"kind": "achievement", "account_no": person["account_no"], "completion_id": done["id"]})
    response = client.post("/api/v1/certificates/batch", json={"items": items}, headers=OPERATOR)
    assert response.status_code == 201, response.text
    certificates = response.json()
    revoked = client.post(
        f"/api/v1/certificates/{certificates[1]['id']}/revoke",
        json={"reason": "演示：机构登记错误 / demo: posted in error"},
        headers=OPERATOR,
    )
    assert revoked.status_code == 200, revoked.text
    return certificates


@pytest.fixture
def bank_env(settings, monkeypatch):
    """The CREDITBANK_* variables a command line on the bank's machine would have."""
    monkeypatch.setenv("CREDITBANK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(settings.keys_dir))
    monkeypatch.setenv("CREDITBANK_SECRET", settings.secret.get_secret_value())
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def short_link(certificate: dict) -> str:
    """The link without its signed fragment, as `serve --demo` prints it."""
    return certificate["verify_url"].split("#")[0]


def run(*args: str):
    return CliRunner().invoke(cli, ["verify", *args])


def flat(output: str) -> str:
    return " ".join(output.split())


class TestLinksWithoutTheirFragment:
    def test_api_verifies_a_link_without_fragment_by_its_certificate_number(self, client, issued):
        verdict = client.post("/api/v1/verify", json={"url": short_link(issued[0])}).json()
        assert verdict["valid"] is True and verdict["source"] == "url"
        assert "verified online by certificate number" in verdict["notes"][0]
        revoked = client.post("/api/v1/verify", json={"url": short_link(issued[1])}).json()
        assert revoked["verdict"] == "revoked"

    def test_a_link_naming_no_certificate_says_which_part_is_missing(self, client):
        response = client.post("/api/v1/verify", json={"url": "http://127.0.0.1:8000/somewhere"})
        assert response.status_code == 422
        assert (
            "neither a certificate number (…/v/crt_…) nor a signed #CB1.… fragment"
            in response.json()["detail"]
        )

    def test_a_link_to_an_unknown_certificate_is_404(self, client):
        response = client.post("/api/v1/verify", json={"url": "http://127.0.0.1:8000/v/crt_doesnotexist0000"})
        assert response.status_code == 404 and response.json()["code"] == "certificate_not_found"

    def test_a_payload_field_that_is_not_a_payload_says_so(self, client):
        response = client.post("/api/v1/verify", json={"payload": "hello"})
        assert response.status_code == 422 and "payload must start with CB1." in response.json()["detail"]

    def test_cli_verifies_a_link_without_fragment_online(self, client, issued, bank_env):
        result = run(short_link(issued[0]))
        assert result.exit_code == 0, result.output
        assert "有效 VALID" in result.output and "verified online by certificate number" in flat(
            result.output
        )

    def test_cli_offline_refuses_a_link_without_fragment_with_the_reason(self, client, issued, tmp_path):
        keys = tmp_path / "bank-keys.json"
        keys.write_text(client.get("/api/v1/keys").text)
        result = run(short_link(issued[0]), "--offline", "--keys", str(keys))
        assert result.exit_code == 2
        assert "cannot be checked offline: verify it online" in flat(result.output)


class TestWhatTheCommandLineIsGiven:
    def test_a_file_that_does_not_exist_says_file_not_found(self, tmp_path):
        result = run(str(tmp_path / "cert.pdf"))
        assert result.exit_code == 2
        assert "File not found" in flat(result.output) and "找不到文件" in result.output

    def test_a_bare_payload_is_verified_not_taken_for_a_file_name(self, client, issued, tmp_path, bank_env):
        payload = issued[0]["verify_url"].split("#")[1]
        assert len(payload) > 255  # longer than any file name may be
        online = run(payload)
        assert online.exit_code == 0, online.output
        keys = tmp_path / "bank-keys.json"
        keys.write_text(client.get("/api/v1/keys").text)
        offline = run(payload, "--offline", "--keys", str(keys))
        assert offline.exit_code == 3, offline.output
        assert "✓ signature" in offline.output


class TestOfflineNeverSaysValidForWhatItCouldNotCheck:
    @pytest.fixture
    def files(self, client, issued, tmp_path) -> Path:
        (tmp_path / "bank-keys.json").write_text(client.get("/api/v1/keys").text)
        list_url = issued[0]["credential"]["credentialStatus"]["statusListCredential"]
        (tmp_path / "status.json").write_text(client.get(urlsplit(list_url).path).text)
        for n, certificate in enumerate(issued):
            (tmp_path / f"cert-{n}.json").write_text(
                json.dumps(certificate["credential"], ensure_ascii=False)
            )
        return tmp_path

    def test_without_a_status_list_a_genuine_certificate_is_genuine_but_unchecked(self, files):
        for name in ("cert-0.json", "cert-1.json"):  # the revoked one too: offline cannot know
            result = run(str(files / name), "--offline", "--keys", str(files / "bank-keys.json"))
            assert result.exit_code == 3, result.output
            assert "签名真实；未检查撤销状态 SIGNATURE GENUINE; REVOCATION NOT CHECKED" in result.output
            assert "有效 VALID" not in result.output
            assert "--status-list" in result.output

    def test_with_the_saved_status_list_revocation_is_checked_for_real(self, files):
        keys, saved = str(files / "bank-keys.json"), str(files / "status.json")
        valid = run(str(files / "cert-0.json"), "--offline", "--keys", keys, "--status-list", saved)
        assert valid.exit_code == 0, valid.output
        assert "有效 VALID" in valid.output and "not revoked (status list of" in valid.output
        revoked = run(str(files / "cert-1.json"), "--offline", "--keys", keys, "--status-list", saved)
        assert revoked.exit_code == 1, revoked.output
        assert "已撤销 REVOKED" in revoked.output and "revoked (status list of" in revoked.output

    def test_a_status_list_whose_bits_were_changed_is_refused(self, files):
        document = json.loads((files / "status.json").read_text())
        bits = statuslist.decode(document["credentialSubject"]["encodedList"])
        bits[:] = bytes(len(bits))  # "nothing was ever revoked"
        document["credentialSubject"]["encodedList"] = statuslist.encode(bits)
        (files / "forged-status.json").write_text(json.dumps(document))
        result = run(
            str(files / "cert-1.json"),
            "--offline",
            "--keys",
            str(files / "bank-keys.json"),
            "--status-list",
            str(files / "forged-status.json"),
        )
        assert result.exit_code == 2
        assert "does not verify with the bank's published keys" in flat(result.output)

    def test_a_genuine_signature_whose_status_is_unknown_is_unchecked_never_valid(self):
        """Whoever verifies — offline, or the bank for a credential it has no record of."""
        from creditbank.verification.verify import Check, Verdict

        checks = {
            "signature": Check(True, "", ""),
            "issuer_key": Check(True, "", ""),
            "integrity": Check(None, "", ""),
            "status": Check(None, "", ""),
            "log_inclusion": Check(None, "", ""),
        }
        assert Verdict(checks=checks).verdict == "unchecked" and Verdict(checks=checks).valid is False


class TestRevocationReasonIsShownOnce:
    def test_reason_appears_once_in_the_status_detail(self, client, issued):
        check = client.get(f"/api/v1/verify/{issued[1]['id']}").json()["checks"]["status"]
        assert check["ok"] is False
        assert check["detail"].count("posted in error") == 1
        # Chinese whole first, then English whole (kit.reasons since b8373f9), the reason once in each.
        assert check["detail"] == "证书已撤销：演示：机构登记错误 / revoked: demo: posted in error"
