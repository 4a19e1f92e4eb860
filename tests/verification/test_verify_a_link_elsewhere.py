"""`creditbank verify LINK` away from the bank's server — an employer with a printed link and no
database — asks the bank the link names (POST <bank>/api/v1/verify) and says what it answered,
with the same verdicts and exit codes; a bank that does not answer is exit 4, not a verdict."""

from __future__ import annotations

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
