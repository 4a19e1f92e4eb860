"""A PDF is only as genuine as what it prints (issue 9, item 9).

Keeping the genuine QR and the genuine attached credential but printing "王五, 120 credits,
临床医学" was reported valid online and exit 0 offline; a PDF with a garbage attachment was
valid on its QR alone. Both are now invalid, with the reason.

The forged PDFs here are rendered without the bank's seal, as PDFs were before seals: the printed
text is what guards those (a sealed PDF's bytes are checked instead: test_pdf_seal.py)."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest
from typer.testing import CliRunner

from creditbank.certificates.models import Certificate
from creditbank.cli import app as cli
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome
from tests.verification.test_pdf_seal import upgraded_after_issue


@pytest.fixture
def genuine(client) -> dict:
    inst = institution(client)
    outcome(client, inst)
    person = learner(client, inst, name="张桂兰")
    done = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst).json()
    item = {"kind": "achievement", "account_no": person["account_no"], "completion_id": done["id"]}
    cert = client.post("/api/v1/certificates/batch", json={"items": [item]}, headers=OPERATOR).json()[0]
    printer = client.app.state.printer
    with client.app.state.db.reader() as session:
        row = session.get(Certificate, cert["id"])
        view, credential_json = printer.view(row), row.credential_json.encode()
    upgraded_after_issue(client)  # the certificate was issued before the bank sealed its PDFs
    return {"cert": cert, "printer": printer, "view": view, "credential_json": credential_json}


def _verify_online(client, pdf: bytes) -> dict:
    return client.post("/api/v1/verify", content=pdf, headers={"Content-Type": "application/pdf"}).json()


def _verify_offline(client, tmp_path, pdf: bytes):
    (tmp_path / "cert.pdf").write_bytes(pdf)
    (tmp_path / "keys.json").write_text(json.dumps(client.get("/api/v1/keys").json()))
    return CliRunner().invoke(
        cli, ["verify", str(tmp_path / "cert.pdf"), "--offline", "--keys", str(tmp_path / "keys.json")]
    )


class TestItem9PrintedText:
    def test_item9_forged_visible_text_with_genuine_qr_and_attachment_is_invalid(
        self, client, genuine, tmp_path
    ):
        view = genuine["view"]
        forged_line = dataclasses.replace(view.lines[0], title_zh="临床医学", credits="120")
        forged = dataclasses.replace(view, learner_name="王五", total_credits="120", lines=(forged_line,))
        pdf = genuine["printer"].renderer.render(forged, credential_json=genuine["credential_json"])

        verdict = _verify_online(client, pdf)
        assert verdict["valid"] is False and verdict["verdict"] == "invalid"
        assert verdict["checks"]["integrity"]["ok"] is False
        assert (
            verdict["checks"]["integrity"]["detail_en"] == "printed text differs from the signed credential"
        )
        assert verdict["checks"]["integrity"]["detail_zh"] == "PDF 页面上印的内容与签名的证书数据不符"

        offline = _verify_offline(client, tmp_path, pdf)
        assert offline.exit_code != 0 and "INVALID" in offline.output, offline.output
        from creditbank.verification import inputs
        from creditbank.verification import offline as offline_verifier

        direct = offline_verifier.verify(inputs.from_bytes(pdf), client.get("/api/v1/keys").content)
        assert direct["checks"]["integrity"]["detail_en"] == "printed text differs from the signed credential"

    @pytest.mark.parametrize("attachment", [b"not a credential at all", b'{"hello": "world"}'])
    def test_item9_garbage_attachment_is_invalid_even_with_a_genuine_qr(
        self, client, genuine, tmp_path, attachment
    ):
        pdf = genuine["printer"].renderer.render(genuine["view"], credential_json=attachment)
        verdict = _verify_online(client, pdf)
        assert verdict["valid"] is False and verdict["checks"]["integrity"]["ok"] is False
        offline = _verify_offline(client, tmp_path, pdf)
        assert offline.exit_code != 0, offline.output

    def test_item9_the_genuine_pdf_still_verifies(self, client, genuine, tmp_path):
        pdf = client.get(f"/api/v1/certificates/{genuine['cert']['id']}.pdf").content
        verdict = _verify_online(client, pdf)
        assert verdict["valid"] is True, verdict["checks"]
        # 3: genuine, revocation not checked offline (no status list given)
        assert _verify_offline(client, tmp_path, pdf).exit_code in (0, 3)


def test_printed_text_match_ignores_line_wrapping():
    from creditbank.verification.verify import printed_text_matches

    claims = {
        "learner_name": "张桂兰",
        "issued_on": "2026-12-02",
        "total_credits": "1.5",
        "lines": [
            {"title_zh": "永川区社区教育学院的居民用电安全", "credits": "1.5", "completed_on": "2026-03-01"}
        ],
    }
    page = (
        "姓名\r\n张桂兰\r\n发证日期\r\n2026-12-02\r\n学分合计\r\n1.5\r\n1 永川区社区教育学\r\n院的居民用电安全\r\n"
        "1.5 2026-03-01 永川区社区教育学院"
    )
    assert printed_text_matches(page, claims)
    assert not printed_text_matches(page.replace("张桂兰", "王五"), claims)
    assert not printed_text_matches(
        io.StringIO(page)
        .read()
        .replace("1.5 2026-03-01", "120 2026-03-01")
        .replace("\r\n1.5\r\n", "\r\n120\r\n"),
        claims,
    )
