"""Certificate PDFs: a printed view of the signed credential, with the credential inside.

The PDF is for people: the claims in Chinese and English, large type, a QR code that
leads to the live status and carries the signed offline payload. It is never what gets
signed — the credential JSON is (STYLE: "sign the credential, not the PDF bytes"), and it
travels inside the PDF as the embedded file ``credential.json`` so the file alone can be
verified in full (SPEC §3.7). What the page prints is bound to the bank by a seal on the file's
bytes besides (``render(seal=…)``, ``kit.pdfseal``): a white box and a new number drawn over the
page, or one byte changed in a font, break it.

Speed (measured on the 2-core build machine): one A4 page with a CJK font renders in
~0.2 s, but only when HarfBuzz's subsetter (Debian ``libharfbuzz-subset0``) is installed;
without it WeasyPrint falls back to fontTools and takes ~6 s. ``check_fonts`` refuses to
start without a CJK font and logs a warning without the subsetter. Create one
``Renderer`` per process and reuse it: it keeps the font configuration, the Jinja
environment and the compiled template.

    renderer = Renderer()
    pdf_bytes = renderer.render(view, credential_json=signed_bytes)
    assert extract_attachment(pdf_bytes) == signed_bytes
"""

from __future__ import annotations

import base64
import ctypes.util
import glob
import io
import itertools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jinja2
from markupsafe import Markup

from creditbank.kit import pdfseal
from creditbank.kit.qrcodes import qr_png
from creditbank.kit.resources import shared_dir

log = logging.getLogger(__name__)

TEMPLATE = "certificate.html.j2"
ATTACHMENT_NAME = "credential.json"
LOG_PROOF_NAME = "log-proof.json"
"""The second attachment: the certificate's transparency-log inclusion proof as of printing."""
FONT_PACKAGE = "fonts-noto-cjk"
SUBSET_PACKAGE = "libharfbuzz-subset0"
_PREFERRED_FAMILIES = ("Noto Sans CJK SC", "Noto Serif CJK SC")
_FALLBACK_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")


@dataclass(frozen=True)
class CertificateLine:
    title_zh: str
    title_en: str | None
    credits: str
    """Display text, e.g. ``"1.5"``."""
    date: str
    institution: str


@dataclass(frozen=True)
class CertificateView:
    """Everything printed on a certificate, already formatted as display text."""

    certificate_id: str
    kind: str
    """``achievement`` | ``transcript`` | ``conversion`` | ``qualification``."""
    title_zh: str
    title_en: str
    learner_name: str
    id_masked: str
    """``110101********123X`` — never the full number."""
    account_no: str
    issuer_name_zh: str
    issuer_name_en: str
    issuer_did: str
    issued_on: str
    total_credits: str
    lines: tuple[CertificateLine, ...]
    verify_url: str
    """The whole QR content: ``<base_url>/v/<certificate_id>#<signed payload>``."""
    note_zh: str = ""
    note_en: str = ""
    revoked_on: str = ""
    """Set for a revoked certificate: a large diagonal 已撤销 REVOKED stamp with this date and
    ``revoke_reason`` on every page."""
    revoke_reason: str = ""


@dataclass(frozen=True)
class _Kind:
    statement_zh: str
    statement_en: str


KINDS = {
    "achievement": _Kind(
        "兹证明下列学习成果已经认证，学分已存入学习者的学分银行账户。",
        "This certifies that the learning outcome below has been recognised and its credits deposited "
        "in the learner's credit bank account.",
    ),
    "transcript": _Kind(
        "截至发证日期，学习者账户中经认证的学习成果和学分如下。",
        "The recognised learning outcomes and credits in the learner's account as of the date of issue.",
    ),
    "conversion": _Kind(
        "下列学习成果已按经批准的转换规则转换为学分。",
        "The learning outcomes below have been converted into credits under an approved conversion rule.",
    ),
    "qualification": _Kind(
        "学习者已达到下列资格的全部学分要求。",
        "The learner has met the credit requirements of the qualification below.",
    ),
    "award": _Kind(
        "学习者因下列学习表现获得表彰。",
        "The learner is recognised for the learning below.",
    ),
}


class FontMissing(RuntimeError):
    """No font with Chinese glyphs: the certificate would print empty boxes (□□□)."""

    def __init__(self, searched: list[str]) -> None:
        self.searched = searched
        where = "; ".join(searched) or "nothing"
        super().__init__(
            f"找不到中文字体，无法生成证书 PDF。请安装 {FONT_PACKAGE}（运行 scripts/setup-system.sh，"
            f"或 apt-get install {FONT_PACKAGE}）。已查找：{where}\n"
            f"No CJK font found, so certificate PDFs cannot be rendered. Install {FONT_PACKAGE} "
            f"(run scripts/setup-system.sh, or apt-get install {FONT_PACKAGE}). Searched: {where}"
        )


def check_fonts() -> str:
    """The file of a font with Chinese glyphs, as fontconfig (which WeasyPrint uses) sees it.

    Raises ``FontMissing`` if there is none. Logs a warning if HarfBuzz's subsetter is
    missing: rendering still works but every CJK page takes seconds instead of ~0.2 s.
    """
    searched: list[str] = []
    found = _fontconfig_font(searched) if shutil.which("fc-match") else None
    if found is None and not shutil.which("fc-match"):
        found = _globbed_font(searched)
    if found is None:
        raise FontMissing(searched)
    if not subsetter_available():
        log.warning(
            "%s 未安装：每页中文 PDF 需数秒而非约 0.2 秒 / %s is not installed: each CJK PDF page "
            "takes seconds instead of ~0.2 s (run scripts/setup-system.sh)",
            SUBSET_PACKAGE,
            SUBSET_PACKAGE,
        )
    return found


@dataclass(frozen=True)
class Readiness:
    """Can this process print certificates? What is missing, and which Debian packages fix it."""

    ok: bool
    """Chinese PDFs can be rendered (perhaps slowly: see ``slow``)."""
    slow: bool = False
    """Rendering works but each CJK page takes seconds (HarfBuzz's subsetter is missing)."""
    missing_zh: str = ""
    missing_en: str = ""
    packages: tuple[str, ...] = ()
    """Debian packages that would fix what is missing (or slow)."""

    @property
    def fix_zh(self) -> str:
        return f"安装 {' '.join(self.packages)}（sudo apt-get install {' '.join(self.packages)}，或运行 scripts/setup-system.sh），然后重启 creditbank"

    @property
    def fix_en(self) -> str:
        return f"install {' '.join(self.packages)} (sudo apt-get install {' '.join(self.packages)}, or run scripts/setup-system.sh), then restart creditbank"

    def as_dict(self) -> dict[str, Any]:
        if self.ok and not self.slow:
            return {"ok": True}
        return {
            "ok": self.ok,
            "slow": self.slow,
            "missing_zh": self.missing_zh,
            "missing_en": self.missing_en,
            "fix_zh": self.fix_zh,
            "fix_en": self.fix_en,
        }


PANGO_PACKAGES = ("libpango-1.0-0", "libpangoft2-1.0-0")


def readiness() -> Readiness:
    """What ``serve`` reports at start and ``/healthz`` shows: Pango is there (WeasyPrint lays
    out with it), fontconfig finds a font with Chinese glyphs, HarfBuzz's subsetter is there.

    Looks, never loads: the libraries are found through ``ldconfig`` and the fonts through
    ``fc-match`` subprocesses, so a process that has just installed a package sees it."""
    missing_pango = [name for name in ("pango-1.0", "pangoft2-1.0") if ctypes.util.find_library(name) is None]
    if missing_pango:
        return Readiness(
            ok=False,
            missing_zh=f"PDF 排版库 Pango（{', '.join(missing_pango)}）",
            missing_en=f"the PDF layout library Pango ({', '.join(missing_pango)})",
            packages=(*PANGO_PACKAGES, FONT_PACKAGE, SUBSET_PACKAGE),
        )
    try:
        check_fonts()
    except FontMissing:
        return Readiness(
            ok=False,
            missing_zh="中文字体（fontconfig 找不到含中文字形的字体）",
            missing_en="a Chinese font (fontconfig finds no font with Chinese glyphs)",
            packages=(FONT_PACKAGE,) + (() if subsetter_available() else (SUBSET_PACKAGE,)),
        )
    if not subsetter_available():
        return Readiness(
            ok=True,
            slow=True,
            missing_zh="HarfBuzz 字体子集库：每页中文 PDF 需数秒而非约 0.2 秒",
            missing_en="HarfBuzz's subsetter: each CJK PDF page takes seconds instead of ~0.2 s",
            packages=(SUBSET_PACKAGE,),
        )
    return Readiness(ok=True)


def subsetter_available() -> bool:
    ffi = sys.modules.get("weasyprint.text.ffi")  # what WeasyPrint itself loaded, if it is loaded
    if ffi is not None and hasattr(ffi, "harfbuzz_subset"):
        return ffi.harfbuzz_subset is not None
    return ctypes.util.find_library("harfbuzz-subset") is not None


def _run(*args: str) -> str:
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout if result.returncode == 0 else ""


def _fontconfig_font(searched: list[str]) -> str | None:
    config = os.environ.get("FONTCONFIG_FILE")
    suffix = f" (FONTCONFIG_FILE={config})" if config else ""
    for family in _PREFERRED_FAMILIES:
        searched.append(f"fc-match '{family}'{suffix}")
        # fc-match always answers with *some* font; only an exact family match counts.
        families, _, path = _run("fc-match", "-f", "%{family}\t%{file}", family).partition("\t")
        if family in families.split(",") and path and os.path.exists(path):
            return path
    searched.append(f"fc-list :lang=zh{suffix}")
    paths = sorted(p for p in _run("fc-list", ":lang=zh", "-f", "%{file}\n").splitlines() if p)
    if paths:
        return next((p for p in paths if "Sans" in p), paths[0])
    return None


def _globbed_font(searched: list[str]) -> str | None:
    """Without fontconfig's tools, at least look where Debian puts CJK fonts."""
    for root in _FALLBACK_FONT_DIRS:
        pattern = os.path.join(os.path.expanduser(root), "**", "*CJK*.tt[cf]")
        searched.append(pattern)
        hits = sorted(glob.glob(pattern, recursive=True)) + sorted(
            glob.glob(pattern.replace(".tt[cf]", ".otf"), recursive=True)
        )
        if hits:
            return hits[0]
    return None


# --- Pre-subset fonts -------------------------------------------------------------------
#
# WeasyPrint subsets every embedded font per document but keeps glyph ids ("retain gids"):
# a subset of Noto CJK (65 535 glyphs, hanzi at high ids) still carries metrics and empty
# outlines for every id below the highest one used — ~100–160 kB per face, and most of the
# render time. So once per Renderer we cut each face down to GB 2312 (6 763 hanzi) plus
# Latin and punctuation with compact ids, and hand it to WeasyPrint by @font-face. Any
# character outside it (a rare name character) falls back to the full system font.


@dataclass(frozen=True)
class _Face:
    css_family: str
    weight: int
    pattern: str
    family: str


_FACES = (
    _Face("Noto Sans CJK SC GB", 400, "Noto Sans CJK SC:weight=regular", "Noto Sans CJK SC"),
    _Face("Noto Sans CJK SC GB", 700, "Noto Sans CJK SC:weight=bold", "Noto Sans CJK SC"),
    _Face("Noto Serif CJK SC GB", 700, "Noto Serif CJK SC:weight=bold", "Noto Serif CJK SC"),
)
_NON_HAN_RANGES = (
    (0x20, 0x7E),
    (0xA0, 0x24F),
    (0x2000, 0x206F),
    (0x2100, 0x218F),
    (0x2460, 0x24FF),
    (0x3000, 0x303F),
    (0xFF00, 0xFFEF),
)
_LAYOUT_FEATURES = (b"kern", b"liga", b"ccmp", b"mark", b"mkmk", b"calt", b"clig", b"rlig")
_DROP_TABLES = (b"vhea", b"vmtx", b"VORG")  # vertical writing: never used here


def _gb2312_han() -> list[tuple[int, int]]:
    """GB 2312's hanzi as code-point ranges."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x4E00, 0xA000):
        if len(chr(code).encode("gb2312", "ignore")) == 2:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return ranges


def _subset_face(path: str, index: int, ranges: list[tuple[int, int]]) -> bytes | None:
    """One face of ``path`` cut down to the code points in ``ranges`` (HarfBuzz's subsetter,
    through ``uharfbuzz``, which ships its own HarfBuzz: no system library needed)."""
    import uharfbuzz as hb

    try:
        face = hb.Face(hb.Blob.from_file_path(path), index)
    except (OSError, hb.HarfBuzzError):
        return None
    subset_input = hb.SubsetInput()
    for first, last in ranges:
        subset_input.unicode_set.add_range(first, last)
    features = subset_input.layout_feature_tag_set
    features.clear()  # no closure over other regions' variants: ~13 000 → ~7 300 glyphs
    features.update(int.from_bytes(tag, "big") for tag in _LAYOUT_FEATURES)
    subset_input.drop_table_tag_set.update(int.from_bytes(tag, "big") for tag in _DROP_TABLES)
    try:
        result = hb.subset(face, subset_input)
    except hb.HarfBuzzError:
        return None
    data = result.blob.data if result is not None else b""
    return bytes(data) or None


def _identity_charset(otf: bytes) -> bytes | None:
    """Make a CID-keyed CFF font's charset the identity (CID n = glyph n); None if impossible.

    A compact subset keeps each glyph's original CID (glyph 6 574 may be CID 42 543), but
    WeasyPrint writes glyph ids as the codes of a CIDFontType0 font, which PDF readers map
    through the charset as CIDs: without this, strict readers would draw the wrong glyphs.
    Identity also lets the charset shrink from 2 bytes per glyph to 5 bytes. Patched in place
    (the tail of the old charset becomes padding), so no offset moves.
    """
    data = bytearray(otf)
    num_tables = int.from_bytes(data[4:6], "big")
    records = {bytes(data[12 + 16 * i : 16 + 16 * i]): 12 + 16 * i for i in range(num_tables)}
    if b"CFF " not in records:
        return None
    record = records[b"CFF "]
    cff = int.from_bytes(data[record + 8 : record + 12], "big")
    cff_length = int.from_bytes(data[record + 12 : record + 16], "big")

    def index_end(at: int) -> tuple[int, list[bytes]]:
        count = int.from_bytes(data[at : at + 2], "big")
        if count == 0:
            return at + 2, []
        size = data[at + 2]
        offsets = [
            int.from_bytes(data[at + 3 + i * size : at + 3 + (i + 1) * size], "big") for i in range(count + 1)
        ]
        base = at + 2 + (count + 1) * size
        return base + offsets[-1], [bytes(data[base + a : base + b]) for a, b in itertools.pairwise(offsets)]

    names_end, _ = index_end(cff + data[cff + 2])
    _, top_dicts = index_end(names_end)
    operators = _dict_operators(top_dicts[0]) if top_dicts else {}
    if (12, 30) not in operators or 15 not in operators or 17 not in operators:
        return None  # not CID-keyed
    glyphs = int.from_bytes(data[cff + operators[17][0] : cff + operators[17][0] + 2], "big")
    start = cff + operators[15][0]
    old_format, at, covered = data[start], start + 1, 1
    cids: list[int] = []
    while covered < glyphs:
        first = int.from_bytes(data[at : at + 2], "big")
        if old_format == 0:
            cids.append(first)
            at, covered = at + 2, covered + 1
            continue
        width = 1 if old_format == 1 else 2
        left = int.from_bytes(data[at + 2 : at + 2 + width], "big")
        cids.extend(range(first, first + left + 1))
        at, covered = at + 2 + width, covered + left + 1
    if cids == list(range(1, glyphs)):
        return otf
    new = b"\x02" + (1).to_bytes(2, "big") + (glyphs - 2).to_bytes(2, "big")
    if old_format not in (0, 1, 2) or glyphs < 2 or len(new) > at - start:
        return None
    data[start:at] = new + bytes(at - start - len(new))
    # Table checksum, then the whole-font adjustment in 'head'.
    data[record + 4 : record + 8] = _checksum(data[cff : cff + cff_length]).to_bytes(4, "big")
    if b"head" in records:
        head = int.from_bytes(data[records[b"head"] + 8 : records[b"head"] + 12], "big")
        data[head + 8 : head + 12] = bytes(4)
        data[head + 8 : head + 12] = ((0xB1B0AFBA - _checksum(data)) & 0xFFFFFFFF).to_bytes(4, "big")
    return bytes(data)


def _checksum(block: bytes | bytearray) -> int:
    padded = bytes(block) + bytes(-len(block) % 4)
    return sum(int.from_bytes(padded[i : i + 4], "big") for i in range(0, len(padded), 4)) & 0xFFFFFFFF


def _dict_operators(top: bytes) -> dict[int | tuple[int, int], list[int]]:
    """A CFF DICT's operators with their integer operands (reals are skipped)."""
    operators: dict[int | tuple[int, int], list[int]] = {}
    operands: list[int] = []
    i = 0
    while i < len(top):
        b0 = top[i]
        if b0 <= 21:
            key: int | tuple[int, int] = (12, top[i + 1]) if b0 == 12 else b0
            operators[key], operands = operands, []
            i += 2 if b0 == 12 else 1
        elif b0 == 28:
            operands.append(int.from_bytes(top[i + 1 : i + 3], "big", signed=True))
            i += 3
        elif b0 == 29:
            operands.append(int.from_bytes(top[i + 1 : i + 5], "big", signed=True))
            i += 5
        elif b0 == 30:  # real number: nibbles up to an 0xf nibble
            i += 1
            while i < len(top) and (top[i] & 0x0F) != 0x0F and (top[i] >> 4) != 0x0F:
                i += 1
            i += 1
        elif b0 <= 246:
            operands.append(b0 - 139)
            i += 1
        elif b0 <= 250:
            operands.append((b0 - 247) * 256 + top[i + 1] + 108)
            i += 2
        elif b0 <= 254:
            operands.append(-(b0 - 251) * 256 - top[i + 1] - 108)
            i += 2
        else:
            i += 1
    return operators


def _match_face(face: _Face) -> tuple[str, int] | None:
    if not shutil.which("fc-match"):
        return None
    answer = _run("fc-match", "-f", "%{family}\t%{file}\t%{index}", face.pattern)
    families, path, index = ([*answer.split("\t"), "", ""])[:3]
    if face.family not in families.split(",") or not os.path.exists(path) or not index.isdigit():
        return None
    return path, int(index)


def _build_font_faces(folder: Path) -> str:
    """@font-face rules for the pre-subset faces written into ``folder`` ("" if impossible)."""
    ranges = sorted([*_NON_HAN_RANGES, *_gb2312_han()])
    rules = []
    for number, face in enumerate(_FACES):
        found = _match_face(face)
        data = _subset_face(*found, ranges) if found else None
        data = _identity_charset(data) if data else None
        if data is None:
            log.info("no pre-subset for %s; the system font is used directly", face.pattern)
            continue
        target = folder / f"face{number}.otf"
        target.write_bytes(data)
        rules.append(
            f'@font-face {{ font-family: "{face.css_family}"; font-weight: {face.weight}; '
            f'font-style: normal; src: url("{target.as_uri()}"); }}'
        )
    return "\n".join(rules)


def default_templates_dir() -> Path:
    """Where ``certificate.html.j2`` lives (see ``kit.resources``)."""
    return shared_dir("templates", TEMPLATE)


def verify_address(verify_url: str) -> str:
    """The verify URL as printed for typing in: everything but the signed ``#`` fragment."""
    parts = urlsplit(verify_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


class Renderer:
    """Renders certificates to PDF. Create once per process and reuse.

    Rendering is serialised by a lock: WeasyPrint's Pango font map is not meant to be
    shared by threads. For throughput, use processes (each with its own ``Renderer``).
    """

    def __init__(self, templates_dir: Path | None = None) -> None:
        import weasyprint
        from weasyprint.text.fonts import FontConfiguration

        self.font_file = check_fonts()
        self.templates_dir = Path(templates_dir) if templates_dir is not None else default_templates_dir()
        self._environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.templates_dir),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=False,
            lstrip_blocks=False,
            auto_reload=False,
        )
        self._template = self._environment.get_template(TEMPLATE)
        self._weasyprint = weasyprint
        self._font_config = FontConfiguration()
        self._base_url = self.templates_dir.as_uri() + "/"
        self._lock = threading.Lock()
        self._font_folder = Path(tempfile.mkdtemp(prefix="creditbank-fonts-"))
        weakref.finalize(self, shutil.rmtree, self._font_folder, True)
        self._font_faces = Markup(_build_font_faces(self._font_folder))

    @property
    def font_config(self) -> Any:
        return self._font_config

    def html(self, view: CertificateView) -> str:
        """The complete, self-contained HTML WeasyPrint lays out (styles and QR code inline)."""
        kind = KINDS.get(view.kind)
        if kind is None:
            raise ValueError(f"unknown certificate kind {view.kind!r}; expected one of {', '.join(KINDS)}")
        qr = qr_png(view.verify_url)
        return self._template.render(
            view=view,
            kind=kind,
            font_faces=self._font_faces,
            qr_side_mm=f"{qr.side_mm:g}",
            qr_src="data:image/png;base64," + base64.b64encode(qr.png).decode("ascii"),
            verify_address=verify_address(view.verify_url),
        )

    def render(
        self,
        view: CertificateView,
        *,
        credential_json: bytes,
        log_proof_json: bytes | None = None,
        seal: Callable[[bytes], bytes] | None = None,
    ) -> bytes:
        """An A4 PDF of ``view`` with ``credential_json`` embedded, byte for byte, as credential.json
        (and the transparency-log proof as log-proof.json when given).

        ``seal`` (the issuer's ``seal_pdf``) fills the seal slot written into the file, binding all
        its bytes to the bank's key (``kit.pdfseal``); without it the PDF has no slot, as every PDF
        printed before seals existed."""
        html = self.html(view)
        attachments = [
            self._weasyprint.Attachment(
                file_obj=io.BytesIO(credential_json),
                name=ATTACHMENT_NAME,
                relationship="Data",
                description="已签名的电子凭证（W3C 可验证凭证）/ Signed credential (W3C Verifiable Credential)",
            )
        ]
        if log_proof_json is not None:
            attachments.append(
                self._weasyprint.Attachment(
                    file_obj=io.BytesIO(log_proof_json),
                    name=LOG_PROOF_NAME,
                    relationship="Supplement",
                    description="透明日志包含证明 / Transparency-log inclusion proof",
                )
            )
        with self._lock:
            document = self._weasyprint.HTML(string=html, base_url=self._base_url)
            pdf = document.write_pdf(
                font_config=self._font_config,
                attachments=attachments,
                finisher=_with_seal_slot if seal is not None else _associate_attachments,
            )
        return seal(pdf) if seal is not None else pdf


def _associate_attachments(document: Any, pdf: Any) -> None:
    """PDF/A-3 style: list embedded files in the catalog's /AF with their /AFRelationship.

    WeasyPrint does this only when asked for a PDF/A-3 variant, which would also claim a
    conformance nobody here validates; the credential is the data the page is drawn from.
    """
    import pydyf

    files = [
        obj for obj in pdf.objects if isinstance(obj, pydyf.Dictionary) and obj.get("Type") == "/Filespec"
    ]
    for filespec in files:
        filespec.setdefault("AFRelationship", "/Data")
    if files:
        pdf.catalog.setdefault("AF", pydyf.Array()).extend(filespec.reference for filespec in files)


def _with_seal_slot(document: Any, pdf: Any) -> None:
    """The attachments' /AF, and the empty seal slot: an uncompressed stream (an object stream
    would deflate the slot) named from the catalog as /CreditbankSeal."""
    import pydyf

    _associate_attachments(document, pdf)
    slot = pydyf.Stream([pdfseal.slot()], {"Type": "/CreditbankSeal"}, compress=False)
    pdf.add_object(slot)
    pdf.catalog["CreditbankSeal"] = slot.reference


def extract_attachment(pdf_bytes: bytes, name: str = ATTACHMENT_NAME) -> bytes | None:
    """The bytes of the embedded file called ``name``, or None."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf_bytes)
    try:
        for index in range(document.count_attachments()):
            attachment = document.get_attachment(index)
            if attachment.get_name() == name:
                try:
                    return bytes(attachment.get_data())
                except pdfium.PdfiumError:
                    return b""
        return None
    finally:
        document.close()
