"""A browser verifier on another origin, in a real headless Chromium.

The bank runs on one port; ``cross_origin_verifier.html`` is served from another, so every fetch is
cross-origin. The page reads each public verification resource twice — as a simple request and with
headers that force a CORS preflight — and verifies the credentials itself (the eddsa-jcs-2022 proof
with WebCrypto and the key from the bank's DID document; the revocation bit from the status list).
It follows what an integrator's page follows too: a refusal's problem ``type``, the bank's JSON-LD
vocabulary and the credentials' JSON Schemas, each schema once more by its ``$id``. A route that
needs a token stays closed to it.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi.testclient import TestClient

from creditbank.app import create_app
from creditbank.config import Settings
from creditbank.db import Database
from tests.browser import free_port as _free_port
from tests.conftest import ADMIN, OPERATOR, completion_body, institution, learner, outcome, signed_in

PAGE = Path(__file__).with_name("cross_origin_verifier.html")


@contextmanager
def _bank(sqlite_url: str, keys_dir: Path) -> Iterator[tuple[str, TestClient]]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=sqlite_url, keys_dir=keys_dir, admin_token=ADMIN, secret="s", base_url=base
    )
    db = Database(sqlite_url)
    app = create_app(settings, db)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield base, TestClient(app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()


@contextmanager
def _other_origin() -> Iterator[str]:
    """Serves the verifier page (and nothing else) from its own port: a different origin."""
    html = PAGE.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _issue(client: TestClient) -> dict[str, str]:
    """A valid achievement, a revoked achievement and a transcript of the same learner."""
    inst = institution(client)
    outcome(client, inst)
    outcome(client, inst, "YC-WECHAT", title_zh="玩转微信享受智慧生活", category="senior", level=1, credits=1)
    person = learner(client, inst, name="王秀英")
    completions = [
        client.post(
            "/api/v1/completions", json=completion_body(person["account_no"], code), headers=inst
        ).json()
        for code in ("YC-ELEC", "YC-WECHAT")
    ]
    headers = signed_in(client, person, "12345678")
    issued = {}
    for name, body in [
        ("valid", {"kind": "achievement", "completion_id": completions[0]["id"]}),
        ("revoked", {"kind": "achievement", "completion_id": completions[1]["id"]}),
        ("transcript", {"kind": "transcript"}),
    ]:
        response = client.post("/api/v1/me/certificates", json=body, headers=headers)
        assert response.status_code == 201, response.text
        issued[name] = response.json()["id"]
    revoked = client.post(
        f"/api/v1/certificates/{issued['revoked']}/revoke", json={"reason": "登记错误"}, headers=OPERATOR
    )
    assert revoked.status_code == 200, revoked.text
    return issued


def test_a_verifier_on_another_origin_reads_every_public_resource_and_verifies(sqlite_url, tmp_path, browser):

    with _bank(sqlite_url, tmp_path / "keys") as (base, client), _other_origin() as page_origin:
        issued = _issue(client)
        assert page_origin != base
        page = browser.new_page()
        try:
            ids = ",".join(issued.values())
            page.goto(f"{page_origin}/?api={base}&ids={ids}")
            page.wait_for_function("window.results !== undefined", timeout=60_000)
            results = page.evaluate("window.results")
        finally:
            page.close()

    assert "failed" not in results, results.get("failed")
    fetches = results["fetches"]
    blocked = {name: r for name, r in fetches.items() if "error" in r}
    assert not blocked, f"cross-origin fetches the browser refused: {blocked}"
    # keys ×3, per certificate ≥ 4 resources, a problem type, the list, the vocabulary, 2 schemas ×2
    assert len(fetches) >= 2 * (3 + 3 * 4 + 7), sorted(fetches)
    not_ok = {name: r["status"] for name, r in fetches.items() if r["status"] != 200}
    assert not not_ok, f"public resources that did not answer 200 cross-origin: {not_ok}"
    for name, r in fetches.items():
        assert r["cacheControl"], f"{name} carries no Cache-Control"
        if name.startswith("verify"):
            assert r["cacheControl"] == "no-store", (name, r)

    verdicts = results["credentials"]
    assert verdicts[issued["valid"]] == {
        "servedAsCredential": True,
        "jcsProofVerifies": True,
        "revoked": False,
        "bankVerdict": "valid",
    }
    assert verdicts[issued["revoked"]] == {
        "servedAsCredential": True,
        "jcsProofVerifies": True,
        "revoked": True,
        "bankVerdict": "revoked",
    }
    assert verdicts[issued["transcript"]] == {
        "servedAsCredential": True,
        "jcsProofVerifies": True,
        "revoked": False,
        "bankVerdict": "valid",
    }
    assert results["tokenRoute"] == "blocked" and results["operatorRoute"] == "blocked", results
