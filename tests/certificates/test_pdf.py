"""Certificate PDFs: rendered for real, then read back the way a verifier would.

The PDF is rasterised with pypdfium2 at 150 dpi and the QR code decoded with zxing-cpp
(a real decoder, not segno reading its own matrix); the text layer and the embedded
credential are read back with pypdfium2. No database: the renderer takes a plain view.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import random
import re
import string
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from creditbank.certificates.pdf import (
    CertificateLine,
    CertificateView,
    FontMissing,
    Renderer,
    check_fonts,
    extract_attachment,
)
from creditbank.kit import qrcodes

BASE_URL = "http://127.0.0.1:8000"
A4_POINTS = (595.28, 841.89)
MAX_PDF_BYTES = 200_000  # measured ~81 kB (achievement) and ~91 kB (25-line transcript)

TITLES = [
    ("居民用电安全", "Household electrical safety"),
    ("智能手机应用入门", "Getting started with smartphones"),
    ("太极拳（二十四式）", "Tai chi, 24 forms"),
    ("中医养生与保健基础知识", None),
    ("书法：楷书临摹", "Calligraphy: regular script"),
    ("老年营养与膳食搭配", "Nutrition for older adults"),
    ("社区志愿服务与邻里互助实务（含应急救护培训）", "Community volunteering and first aid"),
]


# --- factories ---------------------------------------------------------------------------


def verify_url(seed: int = 7) -> str:
    """Realistic QR content: ~600 characters, a signed compact payload after '#'."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "-_"
    certificate_id = "crt_" + "".join(rng.choice("0123456789abcdef") for _ in range(16))
    payload = "".join(rng.choice(alphabet) for _ in range(550))
    return f"{BASE_URL}/v/{certificate_id}#CB1.{payload}"


def make_line(index: int) -> CertificateLine:
    title_zh, title_en = TITLES[index % len(TITLES)]
    if index >= len(TITLES):
        title_zh += f"（第{index // len(TITLES) + 1}期）"
    return CertificateLine(
        title_zh=title_zh,
        title_en=title_en,
        credits="1.5",
        date=f"2025-{index % 12 + 1:02d}-15",
        institution="重庆市永川区社区教育学院",
    )


def make_view(kind: str = "achievement", lines: int = 1, **changes: object) -> CertificateView:
    url = verify_url()
    titles = {
        "achievement": ("学习成果证书", "Certificate of Learning Achievement"),
        "transcript": ("学分成绩单", "Transcript"),
    }
    fields: dict[str, object] = dict(
        certificate_id=url.split("/v/")[1].split("#")[0],
        kind=kind,
        title_zh=titles[kind][0],
        title_en=titles[kind][1],
        learner_name="张桂兰",
        id_masked="110105********002X",
        account_no="CB2026000123",
        issuer_name_zh="学分银行",
        issuer_name_en="creditbank learning-credit bank",
        issuer_did="did:web:127.0.0.1%3A8000",
        issued_on="2026-03-01",
        total_credits=f"{1.5 * lines:g}",
        lines=tuple(make_line(i) for i in range(lines)),
        verify_url=url,
    )
    fields.update(changes)
    return CertificateView(**fields)  # type: ignore[arg-type]


def credential_bytes() -> bytes:
    """Stand-in for the signed credential: the PDF must carry these exact bytes."""
    credential = {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
        ],
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": "did:web:127.0.0.1%3A8000", "name": "学分银行"},
        "credentialSubject": {"name": "张桂兰", "achievement": {"name": "居民用电安全"}},
        "proof": [{"type": "DataIntegrityProof", "proofValue": "z" + "3" * 86}],
    }
    return json.dumps(credential, ensure_ascii=False, indent=2).encode() + b"\n"


# --- PDF reading helpers -------------------------------------------------------------------


def pdf_pages(pdf: bytes) -> list[tuple[float, float, str]]:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        return [
            (*document[i].get_size(), document[i].get_textpage().get_text_range())
            for i in range(len(document))
        ]
    finally:
        document.close()


def pdf_objects(pdf: bytes) -> Iterator[bytes]:
    """The raw file, then every stream that inflates (object streams hide dictionaries)."""
    yield pdf
    for match in re.finditer(rb"stream\r?\n", pdf):
        try:
            yield zlib.decompressobj().decompress(pdf[match.end() : match.end() + 2_000_000])
        except zlib.error:
            continue


def embedded_opentype_fonts(pdf: bytes) -> list[bytes]:
    fonts = []
    for match in re.finditer(rb"<<([^<>]*(?:<<[^<>]*>>[^<>]*)*)>>\s*stream\r?\n", pdf):
        header = match.group(1)
        if b"/Subtype /OpenType" in header:
            length = int(re.search(rb"/Length (\d+)", header).group(1))  # type: ignore[union-attr]
            body = pdf[match.end() : match.end() + length]
            fonts.append(zlib.decompress(body) if b"FlateDecode" in header else body)
    return fonts


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def renderer() -> Iterator[Renderer]:
    try:
        renderer = Renderer()
    except FontMissing as error:
        if os.environ.get("CI"):
            pytest.fail(str(error))
        warnings.warn(str(error), stacklevel=1)
        pytest.skip("no CJK font — run scripts/setup-system.sh")
    yield renderer
    renderer.close()


@pytest.fixture(scope="module")
def achievement_pdf(renderer: Renderer) -> bytes:
    return renderer.render(make_view("achievement", 1), credential_json=credential_bytes())


@pytest.fixture(scope="module")
def transcript_pdf(renderer: Renderer) -> bytes:
    return renderer.render(make_view("transcript", 25), credential_json=credential_bytes())


# --- tests ---------------------------------------------------------------------------------


class TestAchievementPdf:
    def test_is_one_a4_portrait_page(self, achievement_pdf: bytes) -> None:
        pages = pdf_pages(achievement_pdf)
        assert len(pages) == 1
        width, height, _ = pages[0]
        assert (width, height) == pytest.approx(A4_POINTS, abs=1)

    def test_text_layer_has_the_claims_exactly(self, achievement_pdf: bytes) -> None:
        view = make_view("achievement", 1)
        text = pdf_pages(achievement_pdf)[0][2]
        for expected in (
            view.learner_name,
            view.id_masked,
            view.account_no,
            view.certificate_id,
            view.lines[0].title_zh,
            view.title_zh,
            "扫码验证",
            "Scan to verify",
        ):
            assert expected in text, expected
        assert "110105" + "*" * 8 + "002X" in text

    def test_prints_the_verify_address_without_the_fragment(self, achievement_pdf: bytes) -> None:
        text = squeeze(pdf_pages(achievement_pdf)[0][2])
        address = verify_url().split("#")[0]
        assert address in text
        assert "CB1." not in text  # the signed payload is only in the QR code

    def test_qr_decodes_at_150_dpi_to_the_verify_url(self, achievement_pdf: bytes) -> None:
        assert qrcodes.decode_qr_pdf(achievement_pdf, dpi=150) == [verify_url()]

    def test_credential_is_attached_byte_for_byte(self, achievement_pdf: bytes) -> None:
        assert extract_attachment(achievement_pdf) == credential_bytes()
        assert extract_attachment(achievement_pdf, "other.json") is None

    def test_attachment_is_associated_as_data(self, achievement_pdf: bytes) -> None:
        dictionaries = b"".join(pdf_objects(achievement_pdf))
        assert b"/AFRelationship /Data" in dictionaries
        assert b"/AF [" in dictionaries or b"/AF[" in dictionaries
        assert b"/application#2fjson" in dictionaries

    def test_embeds_a_subset_cjk_font(self, achievement_pdf: bytes) -> None:
        names = set()
        for chunk in pdf_objects(achievement_pdf):
            names |= {n.decode() for n in re.findall(rb"/FontName\s*/([^\s/<>\[\]()]+)", chunk)}
        assert names and all(re.match(r"^[A-Z]{6}\+", name) for name in names), names  # subset tags
        assert any("CJK" in name or "Noto" in name for name in names), names
        assert embedded_opentype_fonts(achievement_pdf), "fonts must be embedded (FontFile3)"

    def test_embedded_cff_fonts_map_codes_to_the_right_glyphs(self, achievement_pdf: bytes) -> None:
        """WeasyPrint writes glyph ids as CIDs; readers map CIDs through the CFF charset."""
        from fontTools.ttLib import TTFont

        for data in embedded_opentype_fonts(achievement_pdf):
            order = TTFont(io.BytesIO(data)).getGlyphOrder()
            assert order == [".notdef"] + [f"cid{i:05d}" for i in range(1, len(order))]

    def test_is_small(self, achievement_pdf: bytes) -> None:
        assert len(achievement_pdf) < MAX_PDF_BYTES


class TestTranscriptPdf:
    def test_rows_continue_over_a4_pages(self, transcript_pdf: bytes) -> None:
        pages = pdf_pages(transcript_pdf)
        assert len(pages) >= 2
        assert all((w, h) == pytest.approx(A4_POINTS, abs=1) for w, h, _ in pages)
        assert all(make_view().certificate_id in text for _, _, text in pages)  # every page names it

    def test_every_line_and_the_learner_are_in_the_text(self, transcript_pdf: bytes) -> None:
        view = make_view("transcript", 25)
        texts = [text for _, _, text in pdf_pages(transcript_pdf)]
        assert view.learner_name in texts[0] and view.id_masked in texts[0]
        everything = squeeze("".join(texts))
        for line in view.lines:
            assert squeeze(line.title_zh) in everything, line.title_zh  # long titles wrap
        assert "37.5" in everything

    def test_qr_is_on_the_first_page_and_decodes(self, transcript_pdf: bytes) -> None:
        import pypdfium2 as pdfium

        document = pdfium.PdfDocument(transcript_pdf)
        try:
            image = document[0].render(scale=150 / 72).to_pil()
        finally:
            document.close()
        png = io.BytesIO()
        image.save(png, format="PNG")
        assert qrcodes.decode_qr_image(png.getvalue()) == [verify_url()]
        assert qrcodes.decode_qr_pdf(transcript_pdf) == [verify_url()]  # and only there

    def test_credential_is_attached_and_size_is_small(self, transcript_pdf: bytes) -> None:
        assert extract_attachment(transcript_pdf) == credential_bytes()
        assert len(transcript_pdf) < MAX_PDF_BYTES


class TestTranscriptLength:
    def test_a_five_line_transcript_fits_on_one_page_with_its_total_and_how_to_verify(
        self, renderer: Renderer
    ) -> None:
        view = make_view("transcript", 5)
        pages = pdf_pages(renderer.render(view, credential_json=credential_bytes()))
        assert len(pages) == 1
        text = squeeze(pages[0][2])
        assert "学分合计Totalcredits7.5" in text and "如何验证" in text and "Issueridentifier" in text

    def test_a_long_transcript_breaks_between_rows_and_repeats_the_header(
        self, transcript_pdf: bytes
    ) -> None:
        view = make_view("transcript", 25)
        pages = [squeeze(text) for _, _, text in pdf_pages(transcript_pdf)]
        assert len(pages) >= 2
        for text in pages:  # the column header on every page that has rows
            if any(line.date in text for line in view.lines):
                assert "序号No.课程/成果Course/outcome" in text
        for line in view.lines:  # every row whole on exactly one page
            row = squeeze(line.title_zh + (line.title_en or "") + line.credits + line.date)
            assert sum(row in text for text in pages) == 1, line.title_zh


class TestRevokedPdf:
    REVOKED: ClassVar[dict[str, str]] = {
        "revoked_on": "2026-11-30",
        "revoke_reason": "机构登记错误 / posted in error",
    }

    def test_a_revoked_certificate_carries_a_diagonal_stamp_with_date_and_reason(
        self, renderer: Renderer
    ) -> None:
        text = squeeze(pdf_pages(renderer.render(make_view(**self.REVOKED), credential_json=b"{}"))[0][2])
        assert "已撤销REVOKED" in text
        assert "2026-11-30" in text and squeeze("机构登记错误 / posted in error") in text
        html = renderer.html(make_view(**self.REVOKED))
        assert 'class="revoked-stamp"' in html

    def test_the_stamp_is_on_every_page_of_a_long_transcript(self, renderer: Renderer) -> None:
        view = make_view("transcript", 25, **self.REVOKED)
        pages = pdf_pages(renderer.render(view, credential_json=b"{}"))
        assert len(pages) >= 2 and all("已撤销REVOKED" in squeeze(text) for _, _, text in pages)

    def test_a_valid_certificate_is_unchanged(self, renderer: Renderer, achievement_pdf: bytes) -> None:
        assert 'class="revoked-stamp"' not in renderer.html(make_view())
        text = squeeze(pdf_pages(achievement_pdf)[0][2])
        assert "已撤销REVOKED" not in text and "Revokedon" not in text


class TestRareCharacters:
    def test_name_outside_gb2312_falls_back_to_the_full_font(self, renderer: Renderer) -> None:
        view = make_view(learner_name="王喆𠮷")  # 喆 and 𠮷 are not in GB 2312
        text = pdf_pages(renderer.render(view, credential_json=b"{}"))[0][2]
        assert "王喆𠮷" in text


class TestHtml:
    def test_autoescapes_every_field(self, renderer: Renderer) -> None:
        html = renderer.html(make_view(learner_name="<script>alert(1)</script>", note_zh="A & B"))
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "A &amp; B" in html

    def test_refuses_an_unknown_kind(self, renderer: Renderer) -> None:
        with pytest.raises(ValueError, match="unknown certificate kind"):
            renderer.html(dataclasses.replace(make_view(), kind="diploma"))


class TestQrCodes:
    def test_realistic_url_fits_version_25_at_level_m(self) -> None:
        url = verify_url()
        assert 590 <= len(url) <= 610
        version = qrcodes.qr_version(url)
        assert version <= 25
        assert qrcodes.make(url).error == "M"

    def test_never_micro_qr(self) -> None:
        qr = qrcodes.make("1")
        assert not qr.is_micro and qr.version == 1

    def test_modules_are_at_least_half_a_millimetre_and_code_at_least_30mm(self) -> None:
        for data in ("1", verify_url()):
            printed = qrcodes.qr_png(data)
            modules = qrcodes.make(data).symbol_size(scale=1, border=qrcodes.QUIET_ZONE_MODULES)[0]
            assert printed.side_mm / modules >= 0.5
            assert printed.side_mm >= 30

    def test_svg_is_inline_and_sized_in_mm(self) -> None:
        svg = qrcodes.qr_svg(verify_url())
        assert svg.startswith("<svg") and "<?xml" not in svg
        side = float(re.search(r'width="([\d.]+)mm"', svg).group(1))  # type: ignore[union-attr]
        assert side >= 30


class TestFontCheck:
    def test_finds_a_cjk_font_file(self, renderer: Renderer) -> None:
        assert Path(check_fonts()).is_file()

    def test_empty_fontconfig_raises_font_missing(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Only fc-match/fc-list subprocesses see the empty configuration; this process's fonts are untouched."""
        config = tmp_path / "fonts.conf"
        config.write_text(
            '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n'
            f"<fontconfig><cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>\n"
        )
        monkeypatch.setenv("FONTCONFIG_FILE", str(config))
        with pytest.raises(FontMissing) as raised:
            check_fonts()
        message = str(raised.value)
        assert "fonts-noto-cjk" in message and "找不到中文字体" in message and "No CJK font" in message
        assert str(config) in message
