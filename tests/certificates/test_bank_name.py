"""The bank's name (签发方) is its own, fixed when it is set up and kept with the keys
(keys/issuer.json) — not 学分银行 on every bank's certificates. An employer reads it on the PDF, the
/v/ page and in the credential; a certificate keeps the name it was signed with after a rename, and
still verifies (its printed text is the signed text)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from creditbank.app import create_app
from creditbank.certificates.keys import Identity, KeyStore
from creditbank.cli import app as cli
from tests.certificates.test_stored_pdfs import text_of
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome

YC_ZH = "重庆市永川区学分银行"
YC_EN = "Yongchuan District Learning-Credit Bank"


def _certificate(client, inst: dict, code: str) -> dict:
    """An achievement certificate for a new learner's completion of a new outcome ``code``."""
    outcome(client, inst, code)
    person = learner(client, inst)
    done = client.post("/api/v1/completions", json=completion_body(person["account_no"], code), headers=inst)
    assert done.status_code == 201, done.text
    item = {"kind": "achievement", "account_no": person["account_no"], "completion_id": done.json()["id"]}
    made = client.post("/api/v1/certificates/batch", json={"items": [item]}, headers=OPERATOR)
    assert made.status_code in (200, 201), made.text
    return made.json()[0]


def _cli(settings, monkeypatch, *args: str):
    from creditbank.config import get_settings

    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(settings.keys_dir))
    monkeypatch.setenv("CREDITBANK_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, list(args))
    finally:
        get_settings.cache_clear()


def _seen(client, certificate: dict) -> dict:
    """What an employer sees: the PDF's text, the /v/ page in both languages, the API's verdict on
    the downloaded PDF, the credential's issuer."""
    pdf = client.get(f"/api/v1/certificates/{certificate['id']}.pdf").content
    verdict = client.post("/api/v1/verify", content=pdf, headers={"Content-Type": "application/pdf"}).json()
    pages = {
        lang: client.get(f"/v/{certificate['id']}", headers={"Cookie": f"cb_lang={lang}"}).text
        for lang in ("zh", "en")
    }
    credential = client.get(f"/api/v1/certificates/{certificate['id']}").json()
    credential = credential.get("credential", credential)
    return {"pdf": text_of(pdf), "verdict": verdict, "pages": pages, "issuer": credential["issuer"]}


@pytest.fixture
def named(settings):
    return settings.model_copy(update={"bank_name_zh": YC_ZH, "bank_name_en": YC_EN})


class TestTheBanksName:
    def test_a_bank_set_up_with_its_name_prints_and_signs_it(self, named, db):
        with TestClient(create_app(named, db)) as client:
            stored = json.loads((named.keys_dir / "issuer.json").read_text(encoding="utf-8"))
            assert (stored["name_zh"], stored["name_en"]) == (YC_ZH, YC_EN)
            seen = _seen(client, _certificate(client, institution(client), "YC-ELEC"))
        assert seen["issuer"]["name"] == YC_ZH and seen["issuer"]["description"] == YC_EN
        assert YC_ZH in seen["pdf"] and YC_EN in seen["pdf"] and "学分银行 / creditbank" not in seen["pdf"]
        assert seen["verdict"]["valid"] is True, seen["verdict"]
        assert (seen["verdict"]["certificate"]["issuer"], seen["verdict"]["certificate"]["issuer_en"]) == (
            YC_ZH,
            YC_EN,
        )
        assert f'id="issuer-name">{YC_ZH}<' in seen["pages"]["zh"]
        assert f'id="issuer-name">{YC_EN}<' in seen["pages"]["en"]

    def test_a_certificate_keeps_the_name_it_was_signed_with_after_a_rename(self, settings, db, monkeypatch):
        with TestClient(create_app(settings, db)) as client:  # the demo's default name
            inst = institution(client)
            before = _certificate(client, inst, "YC-ELEC")
            old_pdf = client.get(f"/api/v1/certificates/{before['id']}.pdf").content
        renamed = _cli(settings, monkeypatch, "keys", "rename", "--zh", YC_ZH, "--en", YC_EN)
        assert renamed.exit_code == 0, renamed.output
        with TestClient(create_app(settings, db)) as client:  # restarted
            old = _seen(client, before)
            kept = client.post("/api/v1/verify", content=old_pdf, headers={"Content-Type": "application/pdf"})
            new = _seen(client, _certificate(client, inst, "YC-TEA"))
        assert old["issuer"]["name"] == "学分银行" and "学分银行" in old["pdf"] and YC_ZH not in old["pdf"]
        for verdict in (old["verdict"], kept.json()):  # never "altered": the name is the signed one
            assert verdict["valid"] is True and verdict["checks"]["integrity"]["ok"] is True, verdict
            assert verdict["certificate"]["issuer"] == "学分银行"
        assert 'id="issuer-name">学分银行<' in old["pages"]["zh"]
        assert new["issuer"]["name"] == YC_ZH and YC_ZH in new["pdf"] and new["verdict"]["valid"] is True

    def test_an_identity_stored_before_names_is_the_name_its_certificates_have(self, tmp_path):
        stored = Identity.for_base_url("https://xuefen.example.gov.cn").as_json()
        del stored["name_zh"], stored["name_en"]
        (tmp_path / "issuer.json").write_text(json.dumps(stored), encoding="utf-8")
        identity = KeyStore(tmp_path).identity()
        assert identity is not None
        assert (identity.name_zh, identity.name_en) == ("学分银行", "creditbank learning-credit bank")

    def test_a_name_with_a_bidirectional_control_is_refused(self, tmp_path, settings, db, monkeypatch):
        with TestClient(create_app(settings, db)):
            pass
        refused = _cli(settings, monkeypatch, "keys", "rename", "--zh", "学分\u202e银行", "--en", "x")
        assert refused.exit_code != 0 and "U+202E" in refused.output
        assert KeyStore(settings.keys_dir).identity().name_zh == "学分银行"

    def test_serve_refuses_a_configured_name_other_than_the_banks(self, settings, named, db, capsys):
        import typer

        from creditbank.cli import _settle_identity

        _settle_identity(settings, db, None)  # set up with the default name
        with pytest.raises(typer.Exit):
            _settle_identity(named, db, None)
        said = " ".join(capsys.readouterr().out.split())
        assert "creditbank keys rename" in said and "已签发的证书保留原名" in said
        assert KeyStore(settings.keys_dir).identity().name_zh == "学分银行"
