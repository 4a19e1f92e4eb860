"""The verification page in a real headless Chromium, as an employer's phone would open it."""

from __future__ import annotations

import os
import threading
import time

import pytest
import uvicorn
from fastapi.testclient import TestClient

from creditbank.app import create_app
from creditbank.config import Settings
from creditbank.db import Database
from tests.browser import CHROMIUM, free_port
from tests.conftest import ADMIN, OPERATOR, completion_body, institution, learner, outcome, signed_in


@pytest.fixture
def live(sqlite_url, tmp_path):
    if CHROMIUM is None:
        message = "Debian's chromium is not installed: the browser test is SKIPPED (scripts/setup-system.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=sqlite_url, keys_dir=tmp_path / "keys", admin_token=ADMIN, secret="s", base_url=base
    )
    db = Database(sqlite_url)
    app = create_app(settings, db)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield base, TestClient(app)
    server.should_exit = True
    thread.join(timeout=10)
    db.dispose()


def _certificates(client) -> tuple[dict, dict]:
    inst = institution(client)
    outcome(client, inst)
    outcome(client, inst, "YC-WECHAT", title_zh="玩转微信享受智慧生活", category="senior", level=1, credits=1)
    person = learner(client, inst, name="王秀英")
    first = client.post(
        "/api/v1/completions", json=completion_body(person["account_no"]), headers=inst
    ).json()
    second = client.post(
        "/api/v1/completions", json=completion_body(person["account_no"], "YC-WECHAT"), headers=inst
    ).json()
    headers = signed_in(client, person, "12345678")
    valid = client.post(
        "/api/v1/me/certificates", json={"kind": "achievement", "completion_id": first["id"]}, headers=headers
    ).json()
    revoked = client.post(
        "/api/v1/me/certificates",
        json={"kind": "achievement", "completion_id": second["id"]},
        headers=headers,
    ).json()
    client.post(
        f"/api/v1/certificates/{revoked['id']}/revoke", json={"reason": "机构登记错误"}, headers=OPERATOR
    )
    return valid, revoked


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    page.goto(url)
    page.wait_for_function(
        "document.getElementById('qr-check') === null || "
        "!document.getElementById('qr-text').textContent.startsWith('未携带') || location.hash === ''"
    )
    return page


def test_valid_revoked_and_forged_in_chromium(live, browser, tmp_path):
    base, client = live
    valid, revoked = _certificates(client)

    page = _open(browser, valid["verify_url"])
    page.wait_for_selector("#qr-check .mark-true")
    assert page.get_attribute("#verdict", "data-verdict") == "valid"
    assert "有效" in page.inner_text("#verdict") and "王秀英" in page.inner_text("#learner-name")
    page.screenshot(path=str(tmp_path / "valid.png"))

    page = _open(browser, revoked["verify_url"])
    assert page.get_attribute("#verdict", "data-verdict") == "revoked"
    assert "已撤销" in page.inner_text("#verdict") and "机构登记错误" in page.inner_text("#verdict")

    # A forged certificate: the printed QR says other things than the bank signed.
    head, _, signature = valid["verify_url"].rpartition(".")
    forged = head[:-3] + ("AAA" if not head.endswith("AAA") else "BBB") + "." + signature
    page = _open(browser, forged)
    page.wait_for_selector("#qr-check .mark-false")
    assert page.get_attribute("#verdict", "data-verdict") == "invalid"
    assert "无效" in page.inner_text("#verdict")

    # A certificate number the bank never issued.
    page = _open(browser, f"{base}/v/crt_madeupnumber0")
    assert page.get_attribute("#verdict", "data-verdict") == "invalid"
    assert "可能是伪造" in page.inner_text("#verdict")
