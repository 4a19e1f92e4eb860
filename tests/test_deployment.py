"""did:web needs a domain name over HTTPS: what `creditbank serve` warns about (docs/deploy.md)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from creditbank.cli import app
from creditbank.deployment import address_problems


@pytest.mark.parametrize(
    ("base_url", "ip", "http"),
    [
        ("https://credit.yongchuan.edu.cn", False, False),
        ("https://credit.example.org:8443/bank", False, False),
        ("http://credit.example.org", False, True),
        ("https://203.0.113.7", True, False),
        ("http://127.0.0.1:8000", True, True),
        ("http://192.168.1.20:8000", True, True),
    ],
)
def test_an_ip_address_or_plain_http_is_named(base_url, ip, http):
    problems = address_problems(base_url)
    assert any("IP address" in p for p in problems) is ip
    assert any("plain http" in p for p in problems) is http
    assert all(base_url in p and "docs/deploy.md" in p for p in problems)


@pytest.fixture
def served(monkeypatch, tmp_path):
    """`creditbank serve` up to the point where it would start uvicorn."""
    import uvicorn

    started = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append(k))
    monkeypatch.setenv("CREDITBANK_DATABASE_URL", f"sqlite:///{tmp_path}/bank.db")
    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("CREDITBANK_SECRET", "deployment-test-secret")
    monkeypatch.setenv("CREDITBANK_ADMIN_TOKEN", "cbo_deployment-test")
    monkeypatch.delenv("CREDITBANK_BASE_URL", raising=False)

    def run(*args: str, base_url: str | None = None) -> str:
        if base_url:
            monkeypatch.setenv("CREDITBANK_BASE_URL", base_url)
        result = CliRunner().invoke(app, ["serve", "--no-install-fonts", *args], env={"COLUMNS": "400"})
        assert result.exit_code == 0, result.output
        assert started, "serve did not get as far as starting the server"
        return result.output

    return run


def test_serve_warns_when_the_public_address_cannot_be_a_did_web(served):
    output = served()  # no CREDITBANK_BASE_URL: the address it listens on, http://127.0.0.1:8000
    assert output.count("WARNING") == 2
    assert "is an IP address" in output and "is plain http" in output


def test_serve_is_quiet_for_a_domain_over_https(served):
    assert "WARNING" not in served(base_url="https://credit.yongchuan.edu.cn")


def test_the_demo_is_not_a_deployment(served, monkeypatch):
    from creditbank import demo

    monkeypatch.setattr(demo, "load", lambda db, settings: "demo data skipped in this test")
    assert "WARNING" not in served("--demo")


def test_serve_names_the_vc_api_test_issuer_when_the_switch_is_on(served, monkeypatch):
    assert "VC-API" not in served(base_url="https://credit.yongchuan.edu.cn")
    monkeypatch.setenv("CREDITBANK_VC_API", "true")
    output = served(base_url="https://credit.yongchuan.edu.cn")
    assert "VC-API test endpoints ON" in output and "did:key:z6Mk" in output
