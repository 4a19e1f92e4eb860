"""A conversion certificate marks what the credits were converted FROM (SPEC §3.7, §3.5).

An employer reading a 学分转换证明 must tell the granted target (outcome, credits granted) from the
completions it was converted from (institution, title, credits used, date earned). The signed
credential always did — the target is the ``achievement``, each source an ``evidence`` entry — but
the PDF and the verification page (and the verify API's summary) listed all three as one numbered
list of like rows, under a total that was not their sum. A conversion certificate's first printed
line is its target, the others its sources (``credentials.line_role``); certificates issued
before are shown the same way, nothing signed changes."""

from __future__ import annotations

import re
from html import unescape

import pypdfium2 as pdfium

from tests.conversion.test_conversion import approved, post, world  # noqa: F401

TARGET, SOURCES = "现代农业技术基础", ["春季蔬菜田间管理培训", "大棚套种技术"]


def _converted(client, world) -> dict:  # noqa: F811
    approved(client, world["ou"])
    post(client, world, "HC-AGRI-0", completed_on="2026-01-05")
    post(client, world, "HC-AGRI-1", completed_on="2026-02-05")
    cid = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"]).json()[
        "id"
    ]
    decided = client.post(
        f"/api/v1/conversions/{cid}/decide", json={"decision": "approve"}, headers=world["ou"]
    )
    assert decided.status_code == 200, decided.text
    cert = client.post(
        "/api/v1/me/certificates", json={"kind": "conversion", "conversion_id": cid}, headers=world["me"]
    )
    assert cert.status_code == 201, cert.text
    return cert.json()


def _text(html: str) -> str:
    main = html[html.index("<main") : html.index("</main>")]
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", main)))


def _in_order(text: str, *parts: str) -> bool:
    at = 0
    for part in parts:
        at = text.find(part, at)
        if at < 0:
            return False
        at += len(part)
    return True


class TestConversionCertificateMarksItsSources:
    def test_the_signed_credential_has_the_target_as_achievement_and_the_sources_as_evidence(
        self,
        client,
        world,  # noqa: F811
    ):
        credential = _converted(client, world)["credential"]
        assert credential["credentialSubject"]["achievement"]["name"].startswith(TARGET)
        assert credential["credentialSubject"]["creditsEarned"] == 2
        assert [e["name"] for e in credential["evidence"]] == [f"来源 Source: {t}" for t in SOURCES]
        assert [e["description"] for e in credential["evidence"]] == [
            "1.5 学分 credits · 皇城镇社区教育中心 · 2026-01-05",
            "1.5 学分 credits · 皇城镇社区教育中心 · 2026-02-05",
        ]

    def test_the_verify_answer_says_which_line_is_the_target_and_which_the_sources(
        self,
        client,
        world,  # noqa: F811
    ):
        cert = _converted(client, world)
        lines = client.get(f"/api/v1/verify/{cert['id']}").json()["certificate"]["lines"]
        assert [(line["role"], line["title_zh"], line["credits"]) for line in lines] == [
            ("target", TARGET, 2),
            ("source", SOURCES[0], 1.5),
            ("source", SOURCES[1], 1.5),
        ]

    def test_the_verification_page_shows_the_target_then_what_it_was_converted_from(
        self,
        client,
        world,  # noqa: F811
    ):
        cert = _converted(client, world)
        page = _text(client.get(f"/v/{cert['id']}").text)
        assert _in_order(
            page, "转换所得", TARGET, "2 学分", "转换来源", SOURCES[0], "2026-01-05", "所用 1.5 学分"
        ), page
        assert _in_order(page, "转换来源", SOURCES[1], "2026-02-05", "所用 1.5 学分"), page
        english = _text(client.get(f"/v/{cert['id']}", headers={"Accept-Language": "en"}).text)
        assert _in_order(english, "Converted into", "Modern agricultural technology", "2 credits",
                         "Converted from", "2026-01-05", "1.5 credits used"), english  # fmt: skip

    def test_the_pdf_prints_the_target_and_the_sources_under_their_own_headings(
        self,
        client,
        world,  # noqa: F811
    ):
        cert = _converted(client, world)
        pdf = client.get(f"/api/v1/certificates/{cert['id']}.pdf", headers=world["me"])
        assert pdf.status_code == 200, pdf.text[:300]
        document = pdfium.PdfDocument(pdf.content)
        text = re.sub(r"\s+", " ", " ".join(page.get_textpage().get_text_range() for page in document))
        # The target's credits in its own column ("2", not the 2 of a year): title, credits, date.
        target_row = f"{TARGET} Modern agricultural technology 2 "
        assert _in_order(text, "转换所得", "Converted into", target_row, "转换来源", "Converted from"), text
        assert _in_order(text, "转换来源", "所用学分", "Credits used", SOURCES[0], "1.5", "2026-01-05"), text
        assert _in_order(text, SOURCES[0], SOURCES[1], "1.5", "2026-02-05", "转换所得学分"), text
