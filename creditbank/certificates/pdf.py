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
environment and the compiled template; ``close()`` it when done (it removes WeasyPrint's
temporary copies of the fonts). The pre-subset CJK faces are cut once per machine and
kept in a cache every process reuses (``faces``).

    renderer = Renderer()
    pdf_bytes = renderer.render(view, credential_json=signed_bytes)
    assert extract_attachment(pdf_bytes) == signed_bytes
    renderer.close()
"""

from __future__ import annotations

import base64
import ctypes.util
import glob
import io
import logging
import multiprocessing.util
import os
import shutil
import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jinja2
from markupsafe import Markup

from creditbank.certificates import faces
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
    role: str | None = None
    """On a conversion certificate ``target`` or ``source`` (``credentials.line_role``): printed
    under their own headings."""


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
        "“转换来源”所列学习成果的学分，已按经批准的转换规则转换为“转换所得”的学分。",
        "The credits of the learning outcomes under “Converted from” have been converted into those under "
        "“Converted into” under an approved conversion rule.",
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


def _fontconfig_font(searched: list[str]) -> str | None:
    config = os.environ.get("FONTCONFIG_FILE")
    suffix = f" (FONTCONFIG_FILE={config})" if config else ""
    for family in _PREFERRED_FAMILIES:
        searched.append(f"fc-match '{family}'{suffix}")
        # fc-match always answers with *some* font; only an exact family match counts.
        families, _, path = faces.run_tool("fc-match", "-f", "%{family}\t%{file}", family).partition("\t")
        if family in families.split(",") and path and os.path.exists(path):
            return path
    searched.append(f"fc-list :lang=zh{suffix}")
    paths = sorted(p for p in faces.run_tool("fc-list", ":lang=zh", "-f", "%{file}\n").splitlines() if p)
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


def default_templates_dir() -> Path:
    """Where ``certificate.html.j2`` lives (see ``kit.resources``)."""
    return shared_dir("templates", TEMPLATE)


def verify_address(verify_url: str) -> str:
    """The verify URL as printed for typing in: everything but the signed ``#`` fragment."""
    parts = urlsplit(verify_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


class Renderer:
    """Renders certificates to PDF. Create once per process and reuse; ``close()`` when done.

    Rendering is serialised by a lock: WeasyPrint's Pango font map is not meant to be
    shared by threads. For throughput, use processes (each with its own ``Renderer``).

    The pre-subset faces come from ``font_cache_dir`` (default ``faces.default_cache_dir()``), cut
    there by the first process that needs them. WeasyPrint copies every @font-face font into a
    folder of its own under the temporary directory (~6 MB here) and removes it only when its
    font configuration is garbage-collected — never when a process ends on a signal (uvicorn
    re-raises SIGTERM after its graceful shutdown, so the interpreter's exit handlers do not run).
    ``close()`` removes it, and any temporary folder of faces; the app calls it at shutdown, and
    an exit handler does at a normal interpreter exit.
    """

    def __init__(self, templates_dir: Path | None = None, *, font_cache_dir: Path | None = None) -> None:
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
        prepared = faces.prepare(font_cache_dir if font_cache_dir is not None else faces.default_cache_dir())
        self._font_faces = Markup(prepared.css)
        self._closed = False
        self._clean_up = weakref.finalize(self, _clean_up, os.getpid(), self._font_config, prepared.temporary)
        # A worker of a multiprocessing pool started by fork ends with os._exit: no exit handler runs
        # there, multiprocessing's own finalizers do.
        multiprocessing.util.Finalize(self, self._clean_up, exitpriority=0)

    def close(self) -> None:
        """Remove what this renderer put in the temporary directory (WeasyPrint's copies of the
        faces; the faces themselves if the cache could not be written). Waits for a render in
        progress; rendering afterwards is an error."""
        with self._lock:
            self._closed = True
            self._clean_up()

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
            if self._closed:
                raise RuntimeError("Renderer is closed")
            document = self._weasyprint.HTML(string=html, base_url=self._base_url)
            pdf = document.write_pdf(
                font_config=self._font_config,
                attachments=attachments,
                finisher=_with_seal_slot if seal is not None else _associate_attachments,
            )
        return seal(pdf) if seal is not None else pdf


def _clean_up(owner: int, font_config: Any, temporary: Path | None) -> None:
    if os.getpid() != owner:  # a forked child exiting: the folders are its parent's, still in use
        return
    # WeasyPrint's own folder of @font-face copies (``FontConfiguration._folder``, made on the first
    # render; its ``__del__`` removes it too, but only if the object is ever collected). Forgotten,
    # so a render through this configuration after all would make a new one rather than fail.
    folder = getattr(font_config, "_folder", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        font_config._folder = None
    if temporary is not None:
        shutil.rmtree(temporary, ignore_errors=True)


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
