"""A certificate PDF's bytes are sealed with the bank's key: one changed byte fails verification.

Found by review (2026-12-02): a transcript PDF (total 5 credits) with a white box and a new number
drawn over the page by pypdfium2 (total 5→9, a course line 1→5) verified as 有效 VALID online, on
the /verify page and offline — the page text was only searched for each signed value as a
substring ("5" is in every date), and nothing bound the file's bytes. One flipped byte in an
embedded font, or in the attachment's /CheckSum, was VALID too. And a genuine certificate of a
learner whose name holds an invisible character (U+200B, U+202E) was INVALID ("printed text
differs").

Found by review too: whether an unsealed PDF is forged was decided by a constant date (the day
after the release with seals), so a bank upgraded months later would have called every genuine
unsealed PDF of a certificate issued in between forged. Each bank records when it first ran with
seals (``issuer.json``) and publishes it with its keys (``creditbank_pdf_seals_since``).
"""

from __future__ import annotations

import ctypes
import io
import json
import re
from datetime import datetime, timedelta
from typing import ClassVar
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import col
from typer.testing import CliRunner

from creditbank.app import create_app
from creditbank.certificates import keys as keymod
from creditbank.certificates.keys import PDF_SEALS_SINCE, KeyStore
from creditbank.certificates.models import Certificate
from creditbank.cli import app as cli
from creditbank.kit import clock, pdfseal, text
from creditbank.learners.models import Learner
from creditbank.verification import inputs, verify
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome
from tests.web.staffworld import csrf

CHANGED_ZH = "此 PDF 在本行签发后被改动过"
CHANGED_EN = "This PDF was changed after the bank issued it"


def _issue(client, name: str = "胡淑英", kind: str = "transcript", stored_name: str | None = None) -> dict:
    """A learner with 1.5 + 0.5 + 1 + 1 + 1 = 5 credits, and a certificate of ``kind``.
    ``stored_name``: the name as stored before enrolment refused invisible characters (kit.text)."""
    inst = institution(client)
    courses = [("YC-VEG", "春季蔬菜田间管理培训", 1.5), ("YC-OLD", "智慧助老我能行", 0.5)]
    courses += [(f"YC-C{n}", f"家庭教育培训第{n}讲", 1) for n in (1, 2, 3)]
    for code, title, credits in courses:
        outcome(client, inst, code, title_zh=title, credits=credits)
    person = learner(client, inst, name=name)
    done = [
        client.post(
            "/api/v1/completions",
            json=completion_body(person["account_no"], code, completed_on=f"2025-0{n + 1}-1{n}"),
            headers=inst,
        ).json()
        for n, (code, _, _) in enumerate(courses)
    ]
    if stored_name is not None:
        with client.app.state.db.unit_of_work() as session:
            session.execute(
                update(Learner)
                .where(col(Learner.account_no) == person["account_no"])
                .values(name=stored_name)
            )
    item = {"kind": kind, "account_no": person["account_no"]}
    if kind == "achievement":
        item["completion_id"] = done[0]["id"]
    response = client.post("/api/v1/certificates/batch", json={"items": [item]}, headers=OPERATOR)
    assert response.status_code in (200, 201), response.text
    return response.json()[0]


def _set_up_before_seals(keys_dir) -> None:
    """``issuer.json`` as a release without seals wrote it."""
    path = KeyStore(keys_dir).identity_path
    identity = json.loads(path.read_text(encoding="utf-8"))
    identity.pop("pdf_seals_since")
    path.write_text(json.dumps(identity), encoding="utf-8")


def upgraded_after_issue(client) -> datetime:
    """The bank ran a release without seals until now, after its certificates were issued: what the
    first start of this release records (``create_app``; ``test_the_first_start_after_an_upgrade_
    records_it`` starts one) when every old server was stopped first (no grace period:
    ``CREDITBANK_PDF_SEAL_GRACE_HOURS=0``). Returns the recorded time."""
    issuer = client.app.state.issuer
    _set_up_before_seals(issuer.keys.keys_dir)
    issuer.identity = issuer.keys.ensure_pdf_seals_since(grace=timedelta(0))
    assert issuer.identity.pdf_seals_since is not None
    return issuer.identity.pdf_seals_since


def _download(client, certificate: dict) -> bytes:
    response = client.get(f"/api/v1/certificates/{certificate['id']}.pdf")
    assert response.status_code == 200, response.text
    return response.content


def _online(client, pdf: bytes) -> dict:
    return client.post("/api/v1/verify", content=pdf, headers={"Content-Type": "application/pdf"}).json()


def _page(client, pdf: bytes) -> str:
    response = client.post(
        "/verify",
        data={"csrf_token": csrf(client, "/verify")},
        files={"file": ("cert.pdf", pdf, "application/pdf")},
    )
    assert response.status_code == 200, response.text
    return response.text


def _offline(client, tmp_path, pdf: bytes, certificate: dict):
    (tmp_path / "cert.pdf").write_bytes(pdf)
    (tmp_path / "keys.json").write_text(client.get("/api/v1/keys").text)
    status_list = urlsplit(certificate["credential"]["credentialStatus"]["statusListCredential"]).path
    (tmp_path / "status.json").write_text(client.get(status_list).text)
    files = ["--keys", str(tmp_path / "keys.json"), "--status-list", str(tmp_path / "status.json")]
    return CliRunner().invoke(cli, ["verify", str(tmp_path / "cert.pdf"), "--offline", *files])


def _char_box(textpage, text: str, after: str) -> tuple[float, float, float, float]:
    """The box of the first whole-word ``text`` printed after the first ``after``."""
    page_text = textpage.get_text_range()
    start = page_text.index(after) + len(after)
    found = re.compile(rf"(?<![\w.-]){re.escape(text)}(?![\w.-])").search(page_text, start)
    assert found is not None, (text, after)
    boxes = [textpage.get_charbox(i) for i in range(found.start(), found.end())]
    return boxes[0][0], min(b[1] for b in boxes), boxes[-1][2], max(b[3] for b in boxes)


def overlay(pdf: bytes, edits: list[tuple[str, str, str]]) -> bytes:
    """What the reviewer did: for each (after, old, new) a white box over ``old`` (the first one
    printed after ``after``) and ``new`` drawn on it, with pypdfium2; ``PdfDocument.save()``. The
    attachments are untouched."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    document = pdfium.PdfDocument(pdf)
    page = document[0]
    textpage = page.get_textpage()
    for after, old, new in edits:
        left, bottom, right, top = _char_box(textpage, old, after)
        box = raw.FPDFPageObj_CreateNewRect(left - 1, bottom - 1, right - left + 6, top - bottom + 2)
        raw.FPDFPageObj_SetFillColor(box, 255, 255, 255, 255)
        raw.FPDFPath_SetDrawMode(box, raw.FPDF_FILLMODE_WINDING, False)
        raw.FPDFPage_InsertObject(page.raw, box)
        text = raw.FPDFPageObj_NewTextObj(document.raw, b"Helvetica", ctypes.c_float(top - bottom + 1))
        encoded = ctypes.create_string_buffer((new + "\0").encode("utf-16-le"))
        raw.FPDFText_SetText(text, ctypes.cast(encoded, ctypes.POINTER(ctypes.c_ushort)))
        raw.FPDFPageObj_Transform(text, 1, 0, 0, 1, left, bottom)
        raw.FPDFPage_InsertObject(page.raw, text)
    assert raw.FPDFPage_GenerateContent(page.raw)
    textpage.close()
    buffer = io.BytesIO()
    document.save(buffer)
    document.close()
    return buffer.getvalue()


FORGERY = [("Total credits", "5", "9"), ("家庭教育培训第1讲", "1", "5")]


def flip_font_byte(pdf: bytes) -> bytes:
    """One byte in the middle of an embedded font program (WeasyPrint writes CFF fonts as
    ``/Subtype /OpenType`` streams)."""
    font = re.search(rb"<<[^>]*/Subtype /OpenType[^>]*/Length (\d+)>>\nstream\n", pdf)
    assert font is not None
    at = font.end() + int(font.group(1)) // 2
    return pdf[:at] + bytes([pdf[at] ^ 0x01]) + pdf[at + 1 :]


def flip_attachment_checksum(pdf: bytes) -> bytes:
    found = re.search(rb"/CheckSum *<([0-9a-fA-F])", pdf) or re.search(rb"/CheckSum *\((.)", pdf)
    assert found is not None
    at = found.start(1)
    return pdf[:at] + (b"0" if pdf[at : at + 1] != b"0" else b"1") + pdf[at + 1 :]


def _integrity(verdict: dict) -> dict:
    return verdict["checks"]["integrity"]


@pytest.fixture
def transcript(client) -> dict:
    certificate = _issue(client)
    return certificate | {"pdf": _download(client, certificate)}


class TestTheSealedPdf:
    """Certificates of a bank set up with seals: every PDF it ever made is sealed."""

    def test_the_untouched_pdf_verifies_online_on_the_page_and_offline(self, client, transcript, tmp_path):
        pdf = transcript["pdf"]
        seal = pdfseal.find(pdf)
        assert (
            seal is not None
            and seal.kid == transcript["credential"]["proof"][0]["verificationMethod"].split("#")[1]
        )
        verdict = _online(client, pdf)
        assert verdict["valid"] is True, verdict["checks"]
        assert _integrity(verdict)["ok"] is True
        assert "未改动任何字节" in _integrity(verdict)["detail_zh"]
        assert "not a byte changed since the bank made it" in _integrity(verdict)["detail_en"]
        assert 'data-verdict="valid"' in _page(client, pdf)
        result = _offline(client, tmp_path, pdf, transcript)
        assert result.exit_code == 0 and "有效 VALID" in result.output, result.output

    def test_numbers_drawn_over_the_page_fail_online_on_the_page_and_offline(
        self, client, transcript, tmp_path
    ):
        forged = overlay(transcript["pdf"], FORGERY)
        assert "9" in inputs.pdf_text(forged).split()  # the new number is on the page
        verdict = _online(client, forged)
        assert verdict["valid"] is False and verdict["verdict"] == "invalid"
        assert _integrity(verdict)["ok"] is False
        assert _integrity(verdict)["detail_zh"].startswith(CHANGED_ZH)
        assert _integrity(verdict)["detail_en"].startswith(CHANGED_EN)
        page = _page(client, forged)
        assert 'data-verdict="invalid"' in page and CHANGED_ZH in page
        result = _offline(client, tmp_path, forged, transcript)
        assert result.exit_code == 1 and "无效 INVALID" in result.output, result.output
        assert CHANGED_EN in " ".join(result.output.split())

    @pytest.mark.parametrize("change", [flip_font_byte, flip_attachment_checksum], ids=["font", "checksum"])
    def test_one_flipped_byte_fails(self, client, transcript, tmp_path, change):
        changed = change(transcript["pdf"])
        assert len(changed) == len(transcript["pdf"]) and changed != transcript["pdf"]
        verdict = _online(client, changed)
        assert verdict["valid"] is False and _integrity(verdict)["detail_en"].startswith(CHANGED_EN)
        assert _offline(client, tmp_path, changed, transcript).exit_code == 1

    def test_a_resave_by_another_tool_breaks_the_seal(self, client, transcript):
        import pypdfium2 as pdfium

        buffer = io.BytesIO()
        pdfium.PdfDocument(transcript["pdf"]).save(buffer)
        verdict = _online(client, buffer.getvalue())
        assert verdict["valid"] is False and _integrity(verdict)["detail_en"].startswith(CHANGED_EN)

    def test_a_seal_removed_from_the_pdf_of_a_certificate_issued_since_seals_fails(self, client, transcript):
        pdf = transcript["pdf"]
        unsealed = pdf.replace(pdfseal.MARKER, b"XXSEAL1 ")
        verdict = _online(client, unsealed)
        assert verdict["valid"] is False
        assert "carry its seal; this one has none" in _integrity(verdict)["detail_en"]

    def test_the_revoked_pdf_reports_revoked_not_forged(self, client, transcript, tmp_path):
        assert _download(client, transcript) == transcript["pdf"]  # kept, not rendered again
        response = client.post(
            f"/api/v1/certificates/{transcript['id']}/revoke", json={"reason": "录入错误"}, headers=OPERATOR
        )
        assert response.status_code == 200, response.text
        stamped = _download(client, transcript)
        assert stamped != transcript["pdf"] and "已撤销 REVOKED" in inputs.pdf_text(stamped)
        for pdf in (stamped, transcript["pdf"]):
            verdict = _online(client, pdf)
            assert verdict["verdict"] == "revoked", verdict["checks"]
            assert _integrity(verdict)["ok"] is True
        result = _offline(client, tmp_path, stamped, transcript)
        assert result.exit_code == 1 and "已撤销 REVOKED" in result.output, result.output

    def test_the_pdf_still_carries_both_attachments_and_a_readable_qr(self, client, transcript):
        from creditbank.certificates.pdf import LOG_PROOF_NAME, extract_attachment
        from creditbank.kit import qrcodes

        pdf = transcript["pdf"]
        assert json.loads(extract_attachment(pdf)) == transcript["credential"]
        assert extract_attachment(pdf, LOG_PROOF_NAME) is not None
        assert qrcodes.decode_qr_pdf(pdf) == [transcript["verify_url"]]


class TestInvisibleCharactersInNames:
    @pytest.mark.parametrize("name", ["李\u200b梅", "王\u202e五"])
    def test_a_genuine_certificate_of_such_a_name_verifies(self, client, tmp_path, name, monkeypatch):
        """Certificates issued before enrolment and issue refused such names (kit.text) carry them."""
        with monkeypatch.context() as before_the_rule:
            before_the_rule.setattr(text, "normalize", lambda value: value)
            certificate = _issue(client, kind="achievement", stored_name=name)
        assert certificate["credential"]["credentialSubject"]["identifier"][0]["identityHash"] == name
        pdf = _download(client, certificate)
        assert _online(client, pdf)["valid"] is True
        assert _offline(client, tmp_path, pdf, certificate).exit_code == 0
        # and a PDF of it from before seals: its printed text is compared, invisible marks and all
        upgraded_after_issue(client)
        verdict = _online(client, _unsealed(client, certificate))
        assert verdict["valid"] is True and _integrity(verdict)["ok"] is None, verdict["checks"]


def _unsealed(client, certificate: dict) -> bytes:
    """The PDF as printed before seals existed (no seal slot), with today's log proof."""
    printer = client.app.state.printer
    with client.app.state.db.reader() as session:
        row = session.get(Certificate, certificate["id"])
        return printer.pdf(row)


class TestPdfsFromBeforeSeals:
    """Certificates issued before the bank was upgraded to seals."""

    @pytest.fixture(autouse=True)
    def _issued_before_seals(self, client, transcript):
        upgraded_after_issue(client)

    def test_still_verify_but_say_the_page_itself_was_not_checked(self, client, transcript, tmp_path):
        pdf = _unsealed(client, transcript)
        assert pdfseal.find(pdf) is None
        verdict = _online(client, pdf)
        assert verdict["valid"] is True and _integrity(verdict)["ok"] is None
        assert "identical to the bank's record" in _integrity(verdict)["detail_en"]
        assert "could not be checked byte for byte" in _integrity(verdict)["detail_en"]
        assert "无法逐字节核对" in _page(client, pdf)
        result = _offline(client, tmp_path, pdf, transcript)
        assert result.exit_code == 0, result.output
        assert "could not be checked byte for byte" in " ".join(result.output.split())

    def test_numbers_drawn_over_such_a_page_are_noticed(self, client, transcript, tmp_path):
        forged = overlay(_unsealed(client, transcript), FORGERY)
        verdict = _online(client, forged)
        assert verdict["valid"] is False
        assert _integrity(verdict)["detail_en"] == "printed text differs from the signed credential"
        assert _offline(client, tmp_path, forged, transcript).exit_code == 1

    def test_a_bank_upgraded_after_the_issue_date_judges_it_by_its_printed_text(self, client, transcript):
        """The cut-over is this bank's upgrade, not a date in the code: a certificate issued before
        it (here, moments before) is not called forged for having an unsealed PDF."""
        since = client.app.state.issuer.identity.pdf_seals_since
        assert verify_issued(transcript) < since
        assert client.get("/.well-known/jwks.json").json()[PDF_SEALS_SINCE] == clock.iso_seconds(since)
        verdict = _online(client, _unsealed(client, transcript))
        assert verdict["valid"] is True and _integrity(verdict)["ok"] is None, verdict["checks"]


def verify_issued(certificate: dict) -> datetime:
    issued = verify.issued_at(certificate["credential"])
    assert issued is not None
    return issued


class TestTheCutOver:
    """When seals began is each bank's own fact (``issuer.json``), published with its keys."""

    def test_a_stripped_seal_of_a_certificate_issued_after_it_fails_online_and_offline(
        self, client, tmp_path, monkeypatch
    ):
        with monkeypatch.context() as an_hour_ago:  # the bank was upgraded an hour ago
            earlier = clock.now() - timedelta(hours=1)
            an_hour_ago.setattr(clock, "now", lambda: earlier)
            upgraded_after_issue(client)
        certificate = _issue(client)
        pdf = _download(client, certificate)
        assert pdfseal.find(pdf) is not None
        for unsealed in (pdf.replace(pdfseal.MARKER, b"XXSEAL1 "), _unsealed(client, certificate)):
            verdict = _online(client, unsealed)
            assert verdict["valid"] is False and _integrity(verdict)["detail_en"].startswith(CHANGED_EN)
            assert "carry its seal; this one has none" in _integrity(verdict)["detail_en"]
            assert 'data-verdict="invalid"' in _page(client, unsealed)
            result = _offline(client, tmp_path, unsealed, certificate)
            assert result.exit_code == 1 and "无效 INVALID" in result.output, result.output
            assert "this one has none" in " ".join(result.output.split())

    @pytest.mark.parametrize("document", ["/api/v1/keys", "/.well-known/jwks.json", "/.well-known/did.json"])
    def test_every_published_key_document_says_when_and_the_offline_verifier_uses_it(
        self, client, tmp_path, transcript, document
    ):
        since = client.app.state.issuer.identity.pdf_seals_since
        published = client.get(document).json()
        rows = published if isinstance(published, list) else [published]
        assert all(row[PDF_SEALS_SINCE] == clock.iso_seconds(since) for row in rows)
        (tmp_path / "keys.json").write_text(json.dumps(published))
        (tmp_path / "cert.pdf").write_bytes(transcript["pdf"].replace(pdfseal.MARKER, b"XXSEAL1 "))
        result = CliRunner().invoke(
            cli, ["verify", str(tmp_path / "cert.pdf"), "--offline", "--keys", str(tmp_path / "keys.json")]
        )
        assert result.exit_code == 1 and "this one has none" in " ".join(result.output.split()), result.output

    @pytest.mark.parametrize("document", ["/api/v1/keys", "/.well-known/jwks.json", "/.well-known/did.json"])
    def test_an_older_key_file_without_it_is_lenient(self, client, tmp_path, transcript, document):
        """A key file saved before banks published the time cannot tell a stripped seal from a PDF
        made before seals: the printed text is checked and integrity stays null, never forged."""
        published = client.get(document).json()
        for row in published if isinstance(published, list) else [published]:
            row.pop(PDF_SEALS_SINCE)
        (tmp_path / "keys.json").write_text(json.dumps(published))

        def offline(pdf: bytes) -> tuple[int, str]:
            (tmp_path / "cert.pdf").write_bytes(pdf)
            keys = ["--keys", str(tmp_path / "keys.json")]
            result = CliRunner().invoke(cli, ["verify", str(tmp_path / "cert.pdf"), "--offline", *keys])
            return result.exit_code, " ".join(result.output.split())

        code, output = offline(_unsealed(client, transcript))
        assert code == 3, output  # genuine; revocation not checked (no status list given)
        assert "could not be checked byte for byte" in output
        code, output = offline(overlay(_unsealed(client, transcript), FORGERY))
        assert code == 1 and "printed text differs" in output, output

    def test_a_rolling_upgrade_old_workers_unsealed_pdfs_of_new_certificates_are_not_called_changed(
        self, settings, db, client, tmp_path, monkeypatch
    ):
        """Hosts restarted one after another: after the first start of this release (here an hour
        ago), an old worker still renders every PDF it serves without a seal — also of a
        certificate issued after that start. The recorded time lies a grace period
        (CREDITBANK_PDF_SEAL_GRACE_HOURS, 24 h) after that start, so such a PDF is judged by its
        printed text (integrity null), online and offline, not reported as changed. (Past the
        recorded time a stripped seal fails: the tests above.)"""
        _set_up_before_seals(client.app.state.issuer.keys.keys_dir)
        started = clock.now() - timedelta(hours=1)
        with monkeypatch.context() as an_hour_ago:
            an_hour_ago.setattr(keymod, "_now", lambda: started)
            first_host = create_app(settings, db)  # records the time (create_app)
        with TestClient(first_host) as upgraded:
            certificate = _issue(upgraded)  # issued after that start (by any host)
            assert verify_issued(certificate) > started
            from_an_old_worker = _unsealed(upgraded, certificate)
            verdict = _online(upgraded, from_an_old_worker)
            assert verdict["valid"] is True and _integrity(verdict)["ok"] is None, verdict["checks"]
            result = _offline(upgraded, tmp_path, from_an_old_worker, certificate)
            assert result.exit_code == 0 and "could not be checked byte for byte" in " ".join(
                result.output.split()
            ), result.output
            since = upgraded.app.state.issuer.identity.pdf_seals_since
            assert since >= started + timedelta(hours=24)  # and published so
            assert upgraded.get("/.well-known/jwks.json").json()[PDF_SEALS_SINCE] == clock.iso_seconds(since)

    def test_the_operator_sees_it_in_keys_list(self, client, settings, monkeypatch):
        from creditbank.config import get_settings

        published = client.get("/.well-known/jwks.json").json()[PDF_SEALS_SINCE]
        monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(settings.keys_dir))
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(cli, ["keys", "list"], env={"COLUMNS": "300"})
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        assert f"自 {published} 起签发的证书，其 PDF 都带封印" in result.output
        assert f"certificates issued from {published} on have sealed PDFs" in result.output

    def test_the_first_start_after_an_upgrade_records_it(self, settings, db, client, transcript):
        keys_dir = client.app.state.issuer.keys.keys_dir
        set_up = KeyStore(keys_dir).identity()
        assert set_up is not None and set_up.pdf_seals_since == set_up.created_at.replace(
            microsecond=0
        )  # new: from set-up
        _set_up_before_seals(keys_dir)
        with TestClient(create_app(settings, db)) as restarted:
            recorded = KeyStore(keys_dir).identity()
            assert recorded is not None and recorded.pdf_seals_since is not None
            assert recorded.pdf_seals_since > verify_issued(transcript)
            assert restarted.app.state.issuer.identity == recorded
            verdict = _online(restarted, _unsealed(restarted, transcript))
            assert verdict["valid"] is True and _integrity(verdict)["ok"] is None, verdict["checks"]
        with TestClient(create_app(settings, db)):  # a later start keeps it
            assert KeyStore(keys_dir).identity() == recorded


class TestSealFormat:
    def test_a_seal_binds_every_byte_and_its_own_place(self):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        data = b"%PDF-1.7\nhead " + pdfseal.slot() + b" tail\n%%EOF\n"
        sealed = pdfseal.seal(
            data, kid="key-20261202-abcdef", sealed_at="2026-12-02T14:00:00Z", sign=key.sign
        )
        assert len(sealed) == len(data)
        found = pdfseal.find(sealed)
        assert found is not None and found.verify(key.public_key())
        moved = sealed.replace(b"head ", b"").replace(b" tail", b" headtail")  # same bytes, seal earlier
        assert pdfseal.find(moved) is not None and not pdfseal.find(moved).verify(key.public_key())
        appended = pdfseal.find(sealed + b"1 0 obj\n<<>>\nendobj\n")
        assert appended is not None and not appended.verify(key.public_key())
        with pytest.raises(pdfseal.SealError):
            pdfseal.find(sealed + pdfseal.MARKER)
        with pytest.raises(pdfseal.SealError):
            pdfseal.find(data)  # an empty slot


class TestPrintedText:
    CLAIMS: ClassVar[dict] = {
        "learner_name": "穆罕默德·阿卜杜拉·热合曼·艾尔肯·买买提明·吐尔逊",
        "issued_on": "2026-12-02",
        "total_credits": "5",
        "lines": [
            {"title_zh": "春季蔬菜田间管理培训", "credits": "1.5", "completed_on": "2025-02-20"},
            {"title_zh": "家庭教育培训", "credits": "1", "completed_on": "2026-11-02"},
        ],
    }
    PAGE = (
        "姓名\r\nName\r\n穆罕默德·阿卜杜拉·热合曼·艾尔肯·买\r\n买提明·吐尔逊\r\n发证日期\r\nDate of issue\r\n"
        "2026-12-02\r\n学分合计\r\nTotal credits\r\n5\r\n序号\r\n1 春季蔬菜田间\r\n管理培训\r\n"
        "1.5 2025-02-20 皇城镇社区教育中心\r\n2 家庭教育培训\r\nFamily education\r\n1 2026-11-02 皇城镇社区教育中心\r\n"
        "学分合计 Total credits 5\r\n第 1 页，共 1 页 · Page 1 of 1"
    )

    def test_whole_lines_and_words_wrapping_allowed(self):
        assert verify.printed_text_matches(self.PAGE, self.CLAIMS)

    @pytest.mark.parametrize(
        "old, new",
        [
            ("\r\n5\r\n序号", "\r\n9\r\n序号"),  # the total
            ("1 2026-11-02", "5 2026-11-02"),  # a line's credits
            ("\r\n买提明·吐尔逊", "\r\n买提明"),  # the name cut short
            ("Page 1 of 1", "Page 1 of 1\r\n9"),  # a number added: the covered one is still there
        ],
    )
    def test_a_changed_or_added_value_is_noticed_not_found_inside_a_date(self, old, new):
        assert old in self.PAGE
        assert not verify.printed_text_matches(self.PAGE.replace(old, new), self.CLAIMS)

    def test_invisible_characters_count_the_same_on_both_sides(self):
        claims = self.CLAIMS | {"learner_name": "王\x00\u202e五\u200b"}
        page = self.PAGE.replace("穆罕默德·阿卜杜拉·热合曼·艾尔肯·买\r\n买提明·吐尔逊", "王五")
        assert verify.printed_text_matches(page, claims)
        assert verify.printed_text_matches(
            page.replace("王五", "王\u200b五"), self.CLAIMS | {"learner_name": "王五"}
        )
