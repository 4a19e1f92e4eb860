"""No page scrolls sideways on a small phone at any text size: the learner's pages, the employer's
(/v/, /s/, /verify), the clerk's console and the district office, each at 320, 360 and 390 px wide
with the text-size switch at 标准 (18 px), 大 (24 px) and 特大 (30 px) — and in English at 特大. A
masked ID number, a certificate id, a date and time, a name in a label | value list, a long English
word in a menu — each must wrap or move below its label rather than push the page wider than the
phone."""

from __future__ import annotations

import pytest

from tests.web.conftest import new_page
from tests.web.consoleworld import sheet
from tests.web.staffworld import STAFF_PASSWORD, add_operator, add_staff, csrf, staff_sign_in, totp_code
from tests.web.world import PASSWORD, build, completion_id

WIDTHS = (320, 360, 390)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WIDE = """() => ({width: document.scrollingElement.scrollWidth, inner: innerWidth,
  culprits: [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > innerWidth + 0.5)
    .slice(0, 3).map(e => e.tagName + '.' + e.className + ' ' + (e.textContent || '').trim().slice(0, 30))})"""

LINES = """selector => { const range = document.createRange();
  range.selectNodeContents(document.querySelector(selector));
  return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size; }"""


def _sweep(page, paths: list[str], text: str) -> list[str]:
    wide = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 844})
        for path in paths:
            page.goto(path)
            found = page.evaluate(WIDE)
            if found["width"] > found["inner"]:
                wide.append(f"{path} text-{text} {width}px: {found['width']} px wide {found['culprits']}")
    return wide


@pytest.mark.parametrize(("text", "lang"), [("m", "zh"), ("l", "zh"), ("xl", "zh"), ("xl", "en")])
def test_no_page_scrolls_sideways_at_any_text_size_on_a_small_phone(live, browser, text, lang):
    world = build(live.client)
    client = live.client
    activated = client.post(
        "/api/v1/auth/activate",
        json={"account_no": world.account_no, "activation_code": world.code, "password": PASSWORD},
    )
    token = activated.json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    transcript = client.post("/api/v1/me/certificates", json={"kind": "transcript"}, headers=bearer)
    assert transcript.status_code == 201, transcript.text
    certificate = transcript.json()["id"]
    # A record a conversion used: the office's page of what forcing its revocation undoes.
    asked = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=bearer)
    decided = client.post(
        f"/api/v1/conversions/{asked.json()['id']}/decide", json={"decision": "approve"}, headers=world.ou
    )
    assert decided.status_code == 200, decided.text
    converted = completion_id(client, world.account_no, "YC-ELEC")

    # The clerk's recent changes and uploads: each line starts with a date and time.
    add_staff(client, "YCCEC", "yc-clerk", "clerk")
    staff_sign_in(client, "yc-clerk")
    rows = [
        ["T-1", world.account_no, "YC-ELEC", "2026-01-05"],
        ["T-2", "CB00000000000", "YC-ELEC", "2026-01-05"],
    ]
    uploaded = client.post(
        "/console/YCCEC/upload",
        data={"csrf_token": csrf(client, "/console/YCCEC/upload")},
        files={"file": ("term.xlsx", sheet(rows), XLSX)},
    )
    assert uploaded.status_code == 200, uploaded.text
    client.cookies.clear()
    secret = add_operator(client)

    page = new_page(browser, live.base, "phone", lang)  # English words are longer: the largest text
    host = live.base.split("//", 1)[1].split(":")[0]
    page.context.add_cookies([{"name": "cb_session", "value": token, "domain": host, "path": "/"}])
    page.goto(f"/text/{text}?next=/")
    wide = _sweep(
        page,
        [
            "/", "/activate", "/signin", "/verify", "/me", "/me/statement", "/me/conversions",
            "/me/conversions/requests", "/me/progress", "/me/certificates", "/me/certificates/new",
            f"/me/certificates/{certificate}", f"/me/certificates/{certificate}/qr", "/me/share",
            "/me/share/new", "/me/recognition", f"/v/{certificate}", f"/v/{world.other_certificate}",
            f"/s/{world.other_link}",
        ],
        text,
    )  # fmt: skip

    # The learner's name on the QR page reads as a name, not one character a line (胡 / 淑 / 英).
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 844})
        page.goto(f"/v/{certificate}")
        assert page.evaluate(LINES, "#learner-name") == 1, f"the name wraps at {width} px, text-{text}"

    page.goto("/staff/signin")
    page.fill("#username", "yc-clerk")
    page.fill("#password", STAFF_PASSWORD)
    page.click("#sign-in")
    page.wait_for_url("**/console/*")
    wide += _sweep(
        page,
        [
            "/console/YCCEC", "/console/YCCEC/upload", "/console/YCCEC/catalogue", "/console/YCCEC/enrol",
            "/console/YCCEC/completions/new", f"/console/YCCEC/completions?account_no={world.account_no}",
            f"/console/YCCEC/learners/{world.account_no}",
        ],
        text,
    )  # fmt: skip

    page.goto("/operator/signin")
    page.fill("#username", "office")
    page.fill("#password", STAFF_PASSWORD)
    page.fill("#code", totp_code(secret))
    page.click("#sign-in")
    page.wait_for_url("**/operator")
    wide += _sweep(
        page,
        [
            "/operator", "/operator/institutions", "/operator/institutions/YCCEC", "/operator/rules",
            "/operator/keys", "/operator/audit", f"/operator/learners/{world.account_no}", "/operator/stats",
            "/operator/completions", f"/operator/completions/{converted}",
        ],
        text,
    )  # fmt: skip
    assert wide == []
