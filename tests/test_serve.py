"""``creditbank serve`` as an operator runs it: a real process on a real port.

The issuer identity survives restarts on other ports and a move to another address; a machine
without a Chinese font still serves, says so at start, and answers the PDF route with a clear
503; a wrong key passphrase stops the start with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from creditbank.certificates.keys import KeyStore
from tests.conftest import ADMIN, completion_body, institution, learner, outcome

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bank_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITBANK_")}
    return (
        env
        | {
            "CREDITBANK_DATABASE_URL": f"sqlite:///{tmp_path / 'creditbank.db'}",
            "CREDITBANK_KEYS_DIR": str(tmp_path / "keys"),
            "CREDITBANK_SECRET": "serve-test-secret",
            "CREDITBANK_ADMIN_TOKEN": ADMIN,
            "CREDITBANK_INSTALL_FONTS": "false",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "200",
        }
        | extra
    )


def cli(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "creditbank.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


class Served:
    def __init__(self, process: subprocess.Popen, url: str, log: Path) -> None:
        self.process, self.url, self.log = process, url, log
        self.http = httpx.Client(base_url=url, timeout=120)

    @property
    def output(self) -> str:
        return self.log.read_text()


@contextlib.contextmanager
def serving(
    env: dict[str, str], port: int, cwd: Path, *args: str, stop: signal.Signals = signal.SIGTERM
) -> Iterator[Served]:
    """``creditbank serve --port port *args``, stopped at the end with ``stop`` (SIGTERM: what
    systemd and ``kill`` send; SIGINT: Ctrl-C), killed if it has not stopped in 30 s."""
    log = cwd / f"serve-{port}.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "creditbank.cli", "serve", "--port", str(port), *args],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    served = Served(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"serve exited with {process.returncode}:\n{served.output}")
            with contextlib.suppress(httpx.TransportError):
                if served.http.get("/healthz").status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"serve did not answer within 180 s:\n{served.output}")
            time.sleep(0.3)
        yield served
    finally:
        served.http.close()
        process.send_signal(stop)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def certified_learner(http: httpx.Client) -> dict:
    """An institution, an outcome, a learner with a completion and an activated account."""
    inst = institution(http)  # type: ignore[arg-type]
    outcome(http, inst)  # type: ignore[arg-type]
    person = learner(http, inst)  # type: ignore[arg-type]
    completion = http.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst)
    assert completion.status_code == 201, completion.text
    token = http.post(
        "/api/v1/auth/activate",
        json={
            "account_no": person["account_no"],
            "activation_code": person["activation_code"],
            "password": "竹林深处2026",
        },
    ).json()["access_token"]
    return {"learner": {"Authorization": f"Bearer {token}"}, "completion": completion.json()}


def issue(http: httpx.Client, world: dict) -> dict:
    body = {"kind": "achievement", "completion_id": world["completion"]["id"]}
    response = http.post("/api/v1/me/certificates", json=body, headers=world["learner"])
    assert response.status_code == 201, response.text
    return response.json()


def assert_verifies_online(http: httpx.Client, certificate: dict, pdf: bytes) -> None:
    by_id = http.get(f"/api/v1/verify/{certificate['id']}").json()
    assert by_id["valid"] is True, by_id
    for body in ({"credential": certificate["credential"]}, {"url": certificate["verify_url"]}):
        verdict = http.post("/api/v1/verify", json=body).json()
        assert verdict["valid"] is True, (body.keys(), verdict)
    verdict = http.post("/api/v1/verify", content=pdf, headers={"Content-Type": "application/pdf"}).json()
    assert verdict["valid"] is True, verdict


class TestIssuerIdentity:
    def test_certificates_stay_valid_on_another_port_and_after_a_move_to_another_address(
        self, tmp_path: Path
    ) -> None:
        env = bank_env(tmp_path)
        first, second, third = free_port(), free_port(), free_port()
        first_url, moved_url = f"http://127.0.0.1:{first}", f"http://localhost:{third}"
        first_did = f"did:web:127.0.0.1%3A{first}"

        # 1. Set up on the first address: the identity is fixed from where serve listens.
        with serving(env, first, tmp_path) as bank:
            assert first_did in bank.output and "Issuer identity fixed" in bank.output
            world = certified_learner(bank.http)
            certificate = issue(bank.http, world)
            assert certificate["credential"]["issuer"]["id"] == first_did
            assert certificate["verify_url"].startswith(f"{first_url}/v/")
            pdf = bank.http.get(f"/api/v1/certificates/{certificate['id']}.pdf").content
            status_path = urlsplit(certificate["credential"]["credentialStatus"]["statusListCredential"]).path
        (tmp_path / "cert.pdf").write_bytes(pdf)
        stored = json.loads((tmp_path / "keys" / "issuer.json").read_text())
        assert stored["did"] == first_did and stored["base_url"] == first_url

        # 2. Another port, same database and keys: nothing about the issuer changes.
        with serving(env, second, tmp_path) as bank:
            assert f"stay {first_url}" in bank.output  # the operator is told links keep the set-up address
            assert bank.http.get("/.well-known/did.json").json()["id"] == first_did
            assert_verifies_online(bank.http, certificate, pdf)
            (tmp_path / "did-2.json").write_text(bank.http.get("/.well-known/did.json").text)
            (tmp_path / "keys-2.json").write_text(bank.http.get("/api/v1/keys").text)
            (tmp_path / "status-2.json").write_text(bank.http.get(status_path).text)
            online_cli = cli(env, "verify", "cert.pdf", cwd=tmp_path)  # reads the issuer from keys/, no port
            assert online_cli.returncode == 0, online_cli.stdout + online_cli.stderr
        for key_file in ("did-2.json", "keys-2.json"):
            offline = cli(env, "verify", "cert.pdf", "--offline", "--keys", key_file, cwd=tmp_path)
            assert offline.returncode == 3, offline.stdout  # genuine; revocation not checked
            checked = cli(
                env,
                "verify",
                "cert.pdf",
                "--offline",
                "--keys",
                key_file,
                "--status-list",
                "status-2.json",
                cwd=tmp_path,
            )
            assert checked.returncode == 0, checked.stdout

        # A different CREDITBANK_BASE_URL is not a silent move: start is refused, naming the command.
        refused = cli(env | {"CREDITBANK_BASE_URL": moved_url}, "serve", "--port", str(third), cwd=tmp_path)
        assert refused.returncode == 2
        assert f"creditbank keys move-domain {moved_url}" in " ".join(refused.stdout.split())

        # 3. The operator moves the bank to a new address.
        moved = cli(env, "keys", "move-domain", moved_url, cwd=tmp_path)
        assert moved.returncode == 0, moved.stdout + moved.stderr
        moved_did = f"did:web:localhost%3A{third}"
        with serving(env | {"CREDITBANK_BASE_URL": moved_url}, third, tmp_path) as bank:
            document = bank.http.get("/.well-known/did.json").json()
            assert document["id"] == moved_did and document["alsoKnownAs"] == [first_did]
            kid = certificate["credential"]["proof"][0]["verificationMethod"].split("#")[1]
            assert f"{first_did}#{kid}" in document["assertionMethod"]
            assert_verifies_online(bank.http, certificate, pdf)
            newer = issue(bank.http, certified_learner_again(bank.http, world))
            assert newer["credential"]["issuer"]["id"] == moved_did
            assert newer["verify_url"].startswith(f"{moved_url}/v/")
            assert bank.http.get(f"/api/v1/verify/{newer['id']}").json()["valid"] is True
            (tmp_path / "did-3.json").write_text(bank.http.get("/.well-known/did.json").text)
            (tmp_path / "status-3.json").write_text(bank.http.get(status_path).text)
            online_cli = cli(env, "verify", "cert.pdf", cwd=tmp_path)
            assert online_cli.returncode == 0, online_cli.stdout + online_cli.stderr
        offline = cli(
            env,
            "verify",
            "cert.pdf",
            "--offline",
            "--keys",
            "did-3.json",
            "--status-list",
            "status-3.json",
            cwd=tmp_path,
        )
        assert offline.returncode == 0, offline.stdout


def certified_learner_again(http: httpx.Client, world: dict) -> dict:
    """A second achievement for the same learner (another outcome) after the move."""
    key = http.post(
        "/api/v1/institutions/YCCEC/api-keys", json={}, headers={"Authorization": f"Bearer {ADMIN}"}
    )
    inst = {"Authorization": f"Bearer {key.json()['key']}"}
    outcome(http, inst, "YC-BAMBOO", title_zh="楠竹工艺画", category="culture_leisure", level=1, credits=1)  # type: ignore[arg-type]
    account_no = world["completion"]["account_no"]
    completion = http.post("/api/v1/completions", json=completion_body(account_no, "YC-BAMBOO"), headers=inst)
    assert completion.status_code == 201, completion.text
    return world | {"completion": completion.json()}


class TestWithoutChineseFonts:
    def test_serve_warns_healthz_is_degraded_and_the_pdf_route_answers_503(self, tmp_path: Path) -> None:
        config = tmp_path / "fonts.conf"  # fontconfig with no font folders at all
        config.write_text(
            '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n'
            f"<fontconfig><cachedir>{tmp_path / 'fc-cache'}</cachedir></fontconfig>\n"
        )
        env = bank_env(tmp_path, FONTCONFIG_FILE=str(config))
        with serving(env, free_port(), tmp_path) as bank:
            output = " ".join(bank.output.split())
            assert "证书 PDF 不可用" in output and "certificate PDFs are unavailable" in output
            assert "fonts-noto-cjk" in output
            health = bank.http.get("/healthz").json()
            assert health["status"] == "degraded" and health["checks"]["pdf"]["ok"] is False
            assert "fonts-noto-cjk" in health["checks"]["pdf"]["fix_en"]
            certificate = issue(bank.http, certified_learner(bank.http))
            for language, first in (("zh-CN", "安装 fonts-noto-cjk"), ("en", "install fonts-noto-cjk")):
                response = bank.http.get(
                    f"/api/v1/certificates/{certificate['id']}.pdf", headers={"Accept-Language": language}
                )
                assert response.status_code == 503
                assert response.headers["content-type"].startswith("application/problem+json")
                problem = response.json()
                assert problem["code"] == "pdf_unavailable"
                assert first in problem["title"]
                assert (
                    "install fonts-noto-cjk" if language == "zh-CN" else "安装 fonts-noto-cjk"
                ) in problem["detail"]


class TestSigningKeyAtStart:
    def test_wrong_key_passphrase_is_refused_at_start_with_the_reason(self, tmp_path: Path) -> None:
        KeyStore(tmp_path / "keys", "the right passphrase").ensure_active()
        env = bank_env(tmp_path, CREDITBANK_KEY_PASSPHRASE="a wrong passphrase")
        result = cli(env, "serve", "--port", str(free_port()), cwd=tmp_path)
        output = " ".join(result.stdout.split())
        assert result.returncode == 2, output
        assert "wrong passphrase" in output and "口令错误" in output and "not starting" in output
        assert "Uvicorn running" not in result.stdout + result.stderr

    def test_missing_passphrase_for_an_encrypted_key_is_refused_at_start(self, tmp_path: Path) -> None:
        KeyStore(tmp_path / "keys", "the right passphrase").ensure_active()
        result = cli(bank_env(tmp_path), "serve", "--port", str(free_port()), cwd=tmp_path)
        assert result.returncode == 2
        assert "CREDITBANK_KEY_PASSPHRASE" in result.stdout
