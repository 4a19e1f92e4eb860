"""``creditbank audit`` names rows edited where the hash chain alone does not reach.

A completion's credits and outcome are columns of its row only (its deposit's postings and identity
digest are chained); a certificate's printed text is signed by nothing but the credential and QR it
must agree with. Hand edits of them left every hash intact and the audit passed.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from creditbank.audit import audit
from creditbank.cli import app
from creditbank.config import get_settings
from creditbank.db import Database
from tests.conftest import completion_body, institution, learner, outcome, signed_in
from tests.test_audit import Ledger, cli_env, ledger, run_audit  # noqa: F401


def _findings(db: Database) -> list[str]:
    with db.reader() as session:
        return [p for p in audit(session).problems if not p.startswith("log ")]


def test_credits_edited_on_a_completion_row(ledger: Ledger, db, db_url, cli_env):  # noqa: F811
    assert run_audit(db_url)[0] == 0
    first = ledger.completions[0]["id"]
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE completion SET credits_units = 9900 WHERE id = :id"), {"id": first})
    code, output = run_audit(db_url)
    assert code == 1, output
    assert "audit passed" not in output
    assert f"completion {first} disagrees with its ledger transaction (seq 1): its credits edited" in output
    assert f"完成记录 {first} 与其账本记账（第 1 笔）不一致：学分在记账后被改动" in output
    assert len(_findings(db)) == 1


def test_outcome_swapped_on_a_completion_row(ledger: Ledger, db, db_url, cli_env):  # noqa: F811
    first = ledger.completions[0]["id"]  # AU-ELEC
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE completion SET outcome_id = (SELECT id FROM outcome WHERE code = 'AU-WELD') WHERE id = :id"
            ),
            {"id": first},
        )
    code, output = run_audit(db_url)
    assert code == 1, output
    assert f"completion {first} disagrees with its ledger transaction (seq 1): its outcome edited" in output


@pytest.fixture
def certified(client, db: Database) -> str:
    inst = institution(client)
    outcome(client, inst)
    person = learner(client, inst, name="王秀英")
    done = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst).json()
    r = client.post(
        "/api/v1/me/certificates",
        json={"kind": "achievement", "completion_id": done["id"]},
        headers=signed_in(client, person, "12345678"),
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _cli_audit(settings, monkeypatch) -> tuple[int, str]:
    monkeypatch.setenv("CREDITBANK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(settings.keys_dir))
    monkeypatch.setenv("CREDITBANK_SECRET", "test-secret")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["audit"])
    finally:
        get_settings.cache_clear()
    return result.exit_code, " ".join(result.output.split())


def test_a_certificates_printed_text_edited(certified: str, db: Database, settings, monkeypatch):
    assert _cli_audit(settings, monkeypatch)[0] == 0
    with db.engine.begin() as conn:
        printed = json.loads(
            conn.execute(
                text("SELECT printed_json FROM certificate WHERE id = :id"), {"id": certified}
            ).scalar_one()
        )
        printed["lines"][0]["title_zh"] = "高级焊接工程师研修"
        conn.execute(
            text("UPDATE certificate SET printed_json = :p WHERE id = :id"),
            {"p": json.dumps(printed, ensure_ascii=False), "id": certified},
        )
    code, output = _cli_audit(settings, monkeypatch)
    assert code == 1, output
    assert f"certificate {certified}: its stored copy differs from the signed credential (lines)" in output
    assert f"证书 {certified} 的存档内容与签名数据不一致" in output


def test_an_edited_credential_is_named_once(certified: str, db: Database, settings, monkeypatch):
    """The log's leaf check names an edited credential; the printed-text comparison rests on the
    credential that check vouched for and used to name the same edit a second time."""
    with db.engine.begin() as conn:
        credential = json.loads(
            conn.execute(
                text("SELECT credential_json FROM certificate WHERE id = :id"), {"id": certified}
            ).scalar_one()
        )
        credential["validFrom"] = "2001-01-01T00:00:00Z"
        conn.execute(
            text("UPDATE certificate SET credential_json = :c WHERE id = :id"),
            {"c": json.dumps(credential, ensure_ascii=False), "id": certified},
        )
    code, output = _cli_audit(settings, monkeypatch)
    assert code == 1, output
    assert f"certificate {certified} no longer matches what was logged — its credential was edited" in output
    with db.reader() as session:
        named = [p for p in audit(session).problems if certified in p]
    assert len(named) == 1, named
