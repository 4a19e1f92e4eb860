"""QR codes for certificates: SVG (web pages) and PNG (the PDF), and a real decoder for checks.

Always a full QR code (``segno.make_qr``), never Micro QR, at error correction M with no
boost (the version is what SPEC §3.7 bounds: ≤ 25 at M), a quiet zone of 4 modules, and a
module printed at least 0.5 mm wide (≈ 3 px at 150 dpi, what phone cameras and zxing need).

The mask is fixed. Choosing it per code (segno's default) scores all eight masks and takes
~40 ms for a 600-byte URL, a quarter of a whole certificate render; with one mask it is ~9 ms.
The payload after ``#`` is a signature in base64url, i.e. noise, so every mask gives a
pattern as decodable as the best one (checked: 40 random 600-character URLs, each rendered
into a certificate, all decode from the PDF at 100, 120 and 150 dpi); the certificate test
decodes the printed code at 150 dpi to keep that claim honest.

The PDF uses ``qr_png`` (one pixel per module, scaled up without smoothing), not the SVG:
WeasyPrint parses SVG paths in Python, ~150 ms for a version-19 code — as long as the rest
of the page. A PDF image drawn with ``/Interpolate false`` is as sharp as vectors for a grid
of squares, and the PNG is under 1 kB.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import segno

QUIET_ZONE_MODULES = 4
MIN_MODULE_MM = 0.5
MIN_SIDE_MM = 30.0
FIXED_MASK = 0


def make(data: str) -> segno.QRCode:
    """The QR symbol for ``data``: a full QR code at level M (never Micro QR)."""
    return segno.make_qr(data, error="m", boost_error=False, mask=FIXED_MASK)


def qr_version(data: str) -> int:
    return int(make(data).version)


def module_mm(qr: segno.QRCode) -> float:
    """Module width in mm: ≥ 0.5 mm, and larger for small codes so the symbol is ≥ 30 mm."""
    modules = qr.symbol_size(scale=1, border=QUIET_ZONE_MODULES)[0]
    return max(MIN_MODULE_MM, math.ceil(MIN_SIDE_MM / modules * 100) / 100)


def qr_svg(data: str) -> str:
    """Inline ``<svg>`` (no XML declaration) sized in millimetres, black on white."""
    qr = make(data)
    out = io.BytesIO()
    qr.save(
        out,
        kind="svg",
        scale=module_mm(qr),
        unit="mm",
        border=QUIET_ZONE_MODULES,
        xmldecl=False,
        svgns=True,
        nl=False,
        light="#fff",
        dark="#000",
        svgclass="qr",
        lineclass=None,
    )
    return out.getvalue().decode("ascii")


@dataclass(frozen=True)
class PrintQR:
    png: bytes
    """Black and white, one pixel per module, quiet zone included."""
    side_mm: float
    """Print it this wide (and high), with nearest-neighbour scaling (no smoothing)."""
    version: int


def qr_png(data: str) -> PrintQR:
    qr = make(data)
    out = io.BytesIO()
    qr.save(out, kind="png", scale=1, border=QUIET_ZONE_MODULES, dark="#000", light="#fff")
    side_modules = qr.symbol_size(scale=1, border=QUIET_ZONE_MODULES)[0]
    return PrintQR(
        png=out.getvalue(), side_mm=round(side_modules * module_mm(qr), 2), version=int(qr.version)
    )


def _read(image: object) -> list[str]:
    import zxingcpp

    # zxing-cpp ≥ 3 groups Micro QR and rMQR under ``QRCode``; Model 2 is the plain QR code.
    qr_only = zxingcpp.BarcodeFormats(
        getattr(zxingcpp.BarcodeFormat, "QRCodeModel2", zxingcpp.BarcodeFormat.QRCode)
    )
    return [r.text for r in zxingcpp.read_barcodes(image, formats=qr_only, text_mode=zxingcpp.TextMode.Plain)]


def decode_qr_image(image_bytes: bytes) -> list[str]:
    """Every QR code found in a PNG/JPEG/… image, as text."""
    from PIL import Image

    with Image.open(io.BytesIO(image_bytes)) as image:
        image.load()
        return _read(image.convert("L"))


def decode_qr_pdf(pdf_bytes: bytes, dpi: int = 150) -> list[str]:
    """Rasterise each page at ``dpi`` (pypdfium2) and decode every QR code, page by page."""
    import pypdfium2 as pdfium

    found: list[str] = []
    document = pdfium.PdfDocument(pdf_bytes)
    try:
        for index in range(len(document)):
            page = document[index]
            try:
                bitmap = page.render(scale=dpi / 72, grayscale=True)
                found.extend(_read(bitmap.to_pil().convert("L")))
            finally:
                page.close()
    finally:
        document.close()
    return found
