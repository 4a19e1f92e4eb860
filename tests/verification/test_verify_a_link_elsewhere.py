"""`creditbank verify LINK` away from the bank's server — an employer with a printed link and no
database — asks the bank the link names (POST <bank>/api/v1/verify) and says what it answered,
with the same verdicts and exit codes; a bank that does not answer is exit 4, not a verdict."""

from __future__ import annotations

import contextlib
import json
import shutil
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from creditbank.cli import app as cli
from creditbank.config import get_settings
from tests.translog.conftest import _free_port, live_bank
from tests.verification.test_what_a_verifier_holds import flat, issued  # noqa: F401 - the fixture


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A folder with no bank database and no CREDITBANK_DATABASE_URL: the employer's machine."""
    folder = tmp_path / "employer"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("CREDITBANK_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


OTHER = "https://xuefen.other-bank.example"


@pytest.fixture
def another_bank(tmp_path, sqlite_template, monkeypatch):
    """A folder where another bank runs (its own creditbank.db and keys/, its own address): a link
    of the first bank given here is not this database's to judge."""
    from creditbank.certificates.service import Issuer
    from creditbank.config import Settings

    folder = tmp_path / "other-bank"
    folder.mkdir()
    shutil.copyfile(sqlite_template, folder / "creditbank.db")
    Issuer(
        Settings(
            database_url=f"sqlite:///{folder / 'creditbank.db'}", keys_dir=folder / "keys", base_url=OTHER
        )
    )
    monkeypatch.chdir(folder)
    for name in ("CREDITBANK_DATABASE_URL", "CREDITBANK_KEYS_DIR", "CREDITBANK_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CREDITBANK_SECRET", "the-other-banks-secret")
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


def at(base: str, link: str) -> str:
    """The link as the bank listening at ``base`` prints it."""
    parts = urlsplit(link)
    return base + parts.path + (f"#{parts.fragment}" if parts.fragment else "")


def run(link: str):
    return CliRunner().invoke(cli, ["verify", link])


def test_a_link_is_verified_by_the_bank_it_names(settings, client, issued, elsewhere):  # noqa: F811
    with live_bank(settings) as (base, _, _):
        valid = run(at(base, issued[0]["verify_url"]))
        short = run(at(base, issued[0]["verify_url"].split("#")[0]))
        revoked = run(at(base, issued[1]["verify_url"]))
        unknown = run(f"{base}/v/crt_doesnotexist0000")
    assert valid.exit_code == 0, valid.output
    assert "有效 VALID" in valid.output and f"verified by {base}" in valid.output
    assert "✓ signature" in valid.output
    assert short.exit_code == 0, short.output
    assert "verified online by certificate number" in flat(short.output)
    assert revoked.exit_code == 1, revoked.output
    assert "已撤销 REVOKED" in revoked.output and "posted in error" in flat(revoked.output)
    assert unknown.exit_code == 1, unknown.output
    assert "HTTP 404" in unknown.output
    assert not (elsewhere / "creditbank.db").exists()


def test_a_bank_that_does_not_answer_is_exit_4_in_both_languages(elsewhere):
    base = f"http://127.0.0.1:{_free_port()}"
    result = run(f"{base}/v/crt_doesnotexist0000")
    assert result.exit_code == 4, result.output
    assert f"无法连接发证机构 {base}" in result.output and f"could not reach the bank at {base}" in flat(
        result.output
    )


def test_on_a_banks_server_another_banks_link_asks_that_bank(settings, client, issued, another_bank):  # noqa: F811
    with live_bank(settings) as (base, _, _):
        valid = run(at(base, issued[0]["verify_url"]))
        revoked = run(at(base, issued[1]["verify_url"].split("#")[0]))
    assert valid.exit_code == 0, valid.output
    assert "有效 VALID" in valid.output and f"verified by {base}" in valid.output
    assert revoked.exit_code == 1 and "已撤销 REVOKED" in revoked.output, revoked.output
    # This bank's own links are still its database's (no network: OTHER does not resolve).
    own = run(f"{OTHER}/v/crt_doesnotexist0000")
    assert own.exit_code == 1 and "certificate_not_found" in own.output, own.output
    assert "verified by" not in own.output


@pytest.fixture
def bank_with_pdfs(settings, tmp_path):
    """A bank listening at the address its certificates name (its identity made at that address),
    and the PDFs, a QR photo and a credential file an employer was given: one valid, one revoked."""
    import io

    import httpx

    from creditbank.kit import qrcodes
    from tests.conftest import OPERATOR, completion_body, institution, learner, outcome

    files = tmp_path / "given"
    files.mkdir()
    with contextlib.ExitStack() as running:
        base, _, _ = running.enter_context(live_bank(settings))
        http = running.enter_context(httpx.Client(base_url=base, timeout=120))
        inst = institution(http)
        outcome(http, inst)
        outcome(http, inst, "YC-BAMBOO", title_zh="楠竹工艺画", credits=1)
        person = learner(http, inst)
        items = []
        for code in ("YC-ELEC", "YC-BAMBOO"):
            done = http.post(
                "/api/v1/completions", json=completion_body(person["account_no"], code), headers=inst
            ).json()
            items.append(
                {"kind": "achievement", "account_no": person["account_no"], "completion_id": done["id"]}
            )
        certificates = http.post("/api/v1/certificates/batch", json={"items": items}, headers=OPERATOR).json()
        revoked = http.post(
            f"/api/v1/certificates/{certificates[1]['id']}/revoke",
            json={"reason": "演示：机构登记错误 / demo: posted in error"},
            headers=OPERATOR,
        )
        assert revoked.status_code == 200, revoked.text
        for name, certificate in zip(("valid", "revoked"), certificates, strict=True):
            assert certificate["verify_url"].startswith(f"{base}/v/")
            pdf = http.get(f"/api/v1/certificates/{certificate['id']}.pdf", headers=OPERATOR)
            assert pdf.status_code == 200, pdf.text
            (files / f"{name}.pdf").write_bytes(pdf.content)
            photo = io.BytesIO()
            qrcodes.make(certificate["verify_url"]).save(photo, kind="png", scale=6, border=4)
            (files / f"{name}.png").write_bytes(photo.getvalue())
            (files / f"{name}.json").write_text(json.dumps(certificate["credential"], ensure_ascii=False))
        yield base, files, running.close


def test_a_pdf_a_photo_or_a_credential_is_verified_by_the_bank_it_names(bank_with_pdfs, elsewhere):
    base, files, _ = bank_with_pdfs
    for kind in ("pdf", "png", "json"):
        valid = run(str(files / f"valid.{kind}"))
        assert valid.exit_code == 0, (kind, valid.output)
        assert "有效 VALID" in valid.output and f"verified by {base}" in valid.output
        revoked = run(str(files / f"revoked.{kind}"))
        assert revoked.exit_code == 1, (kind, revoked.output)
        assert "已撤销 REVOKED" in revoked.output and "posted in error" in flat(revoked.output)
    # The bank checked the PDF's bytes: its seal too.
    assert "PDF 封印完好" in run(str(files / "valid.pdf")).output
    assert not (elsewhere / "creditbank.db").exists()


def test_a_changed_pdf_sent_to_the_bank_is_invalid(bank_with_pdfs, elsewhere):
    _, files, _ = bank_with_pdfs
    data = bytearray((files / "valid.pdf").read_bytes())
    at = data.index(b"/Producer") if b"/Producer" in data else len(data) // 2
    data[at + 2] ^= 1
    (files / "changed.pdf").write_bytes(bytes(data))
    result = run(str(files / "changed.pdf"))
    assert result.exit_code == 1 and "无效 INVALID" in result.output, result.output


def test_a_pdf_whose_bank_does_not_answer_is_exit_4(bank_with_pdfs, elsewhere):
    base, files, stop = bank_with_pdfs
    stop()
    result = run(str(files / "valid.pdf"))
    assert result.exit_code == 4, result.output
    assert f"无法连接发证机构 {base}" in result.output and f"could not reach the bank at {base}" in flat(
        result.output
    )


def test_on_another_banks_server_a_pdf_asks_the_bank_it_names(bank_with_pdfs, another_bank):
    base, files, _ = bank_with_pdfs
    result = run(str(files / "valid.pdf"))
    assert result.exit_code == 0, result.output
    assert f"verified by {base}" in result.output


def test_without_a_link_and_without_a_database_one_clean_message_in_both_languages(elsewhere, client, issued):  # noqa: F811
    payload = issued[0]["verify_url"].split("#")[1]  # a bare payload names no bank
    result = run(payload)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    text = flat(result.output)
    assert text.count("没有数据库") == 1 and text.count("no database at") == 1, result.output
    zh, en = text.split(" / ", 1)
    assert "no database" not in zh and "没有数据库" not in en
    assert zh.startswith("无法识别") and len(lines) <= 2
