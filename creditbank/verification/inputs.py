"""Turning what a verifier holds — JSON, a PDF, a photo of the QR, a URL — into things to check."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from creditbank.errors import CreditbankError
from creditbank.kit import jsonbody, jsonshape, pdfseal

# What a credential to verify may be, checked before any canonicalisation (issue 9, items 3 and
# 13). The bank's achievement credentials are ~3 kB; a 60-line transcript is 146 kB with 4 200
# JSON values and depth 8, so these leave room for transcripts of about 400 lines while keeping
# PyLD's expansion (quadratic in an array's length) to seconds at most.
CREDENTIAL_MAX_BYTES = 1024 * 1024
CREDENTIAL_LIMITS = jsonshape.Limits(depth=32, values=30_000, array_items=1_000)


@dataclass(frozen=True)
class Submitted:
    credential: dict | None = None
    payload: str | None = None
    certificate_id: str | None = None
    source: str = "json"  # json | pdf | image | payload | url (a link without its #CB1… fragment)
    pdf_without_attachment: bool = False
    printed_text: str | None = None  # a PDF's page text, for the printed-text check (item 9)
    log_proof: dict | None = None
    """The transparency-log proof that came with the credential (a PDF's ``log-proof.json``, or
    ``log_proof`` beside ``credential`` in JSON)."""
    seal: pdfseal.Seal | None = None
    """A PDF's seal on its bytes (``kit.pdfseal``), found but not yet checked: keys are the
    verifier's business."""
    seal_damaged: str | None = None
    """Why a PDF's seal could not even be read (several, or damaged)."""
    link: str | None = None
    """The bank's link the input carries — a PDF's or a photo's QR, or the link given — without
    its fragment: ``<bank>/v/<certificate id>``, the bank being everything before ``/v/``."""

    @property
    def bank(self) -> str | None:
        """The address of the bank the link names (``bank_of``), None without a link."""
        return bank_of(self.link) if self.link else None


def bank_of(link: str) -> str:
    """The bank a link names: everything before its /v/… (so a bank under a path prefix works)."""
    parts = urlsplit(link)
    prefix = parts.path.rsplit("/v/", 1)[0] if "/v/" in parts.path else ""
    return f"{parts.scheme}://{parts.netloc}{prefix}"


def _link_of(text: str) -> str | None:
    """A scanned QR text's link without its fragment (None for a bare payload)."""
    text = text.strip()
    return text.split("#", 1)[0] if "://" in text else None


def split_qr_text(text: str) -> tuple[str | None, str | None]:
    """(certificate id, payload) from a scanned QR text: a ``…/v/<id>#<payload>`` URL or a bare payload."""
    text = text.strip()
    if "://" in text:
        parts = urlsplit(text)
        segments = [s for s in parts.path.split("/") if s]
        certificate_id = segments[-1] if len(segments) >= 2 and segments[-2] == "v" else None
        return certificate_id, parts.fragment or None
    return None, text or None


_NO_FRAGMENT = (
    "链接中既没有证书编号（…/v/crt_…）也没有 #CB1.… 签名片段 / "
    "the link has neither a certificate number (…/v/crt_…) nor a signed #CB1.… fragment"
)


def from_text(text: str) -> Submitted:
    """A QR text as scanned or typed: a link ``…/v/<id>#CB1.…``, a link without its fragment
    (verified online by the id alone — the links ``serve --demo`` prints), or a bare payload."""
    text = text.strip()
    if "://" in text:
        certificate_id, payload = split_qr_text(text)
        if payload is not None:
            if not payload.startswith("CB1."):
                raise CreditbankError(
                    "unusable_input",
                    {
                        "reason": "链接“#”之后不是 CB1. 开头的签名内容 / the part of the link after “#” is not a "
                        "signed CB1.… payload"
                    },
                )
            return Submitted(
                payload=payload, certificate_id=certificate_id, source="payload", link=_link_of(text)
            )
        if certificate_id:
            return Submitted(certificate_id=certificate_id, source="url", link=_link_of(text))
        raise CreditbankError("unusable_input", {"reason": _NO_FRAGMENT})
    if text.startswith("CB1."):
        return Submitted(payload=text, source="payload")
    raise CreditbankError(
        "unusable_input",
        {
            "reason": "无法识别的内容：不是证书、PDF、图片、链接或 CB1. 开头的二维码内容 / not a credential, PDF, "
            "image, link or CB1.… QR payload"
        },
    )


def from_bytes(data: bytes, filename: str | None = None) -> Submitted:
    """Sniff a file: PDF, PNG/JPEG (a QR photo), JSON credential, or a payload/URL as text."""
    from creditbank.kit import qrcodes

    head = data[:8]
    if head.startswith(b"%PDF"):
        from creditbank.certificates.pdf import LOG_PROOF_NAME, extract_attachment

        attachment = extract_attachment(data)
        log_proof = extract_attachment(data, LOG_PROOF_NAME)
        texts = qrcodes.decode_qr_pdf(data)
        certificate_id, payload = split_qr_text(texts[0]) if texts else (None, None)
        credential = json_object(attachment) if attachment else None
        if attachment is not None and credential is None:
            attachment = None  # unreadable: reported as no valid attachment, never ignored
        if credential is None and payload is None:
            raise CreditbankError(
                "unusable_input",
                {
                    "reason": "PDF 中既没有附带的证书数据也没有二维码 / the PDF has neither an attached credential nor a QR code"
                },
            )
        try:
            seal, seal_damaged = pdfseal.find(data), None
        except pdfseal.SealError as exc:
            seal, seal_damaged = None, str(exc)
        return Submitted(
            credential=credential,
            payload=payload,
            certificate_id=certificate_id,
            source="pdf",
            pdf_without_attachment=attachment is None,
            printed_text=pdf_text(data),
            log_proof=json_object(log_proof) if log_proof else None,
            seal=seal,
            seal_damaged=seal_damaged,
            link=_link_of(texts[0]) if texts else None,
        )
    if head.startswith((b"\x89PNG", b"\xff\xd8")):
        texts = qrcodes.decode_qr_image(data)
        if not texts:
            raise CreditbankError(  # what to do next: a photo the reader can take again
                "unusable_input",
                {
                    "reason_zh": "图片中没有找到二维码。请重新拍一张：手机对正二维码，把整个二维码拍进去，光线要充足、不反光",
                    "reason_en": "no QR code found in the image. Please take the photo again: hold the phone "
                    "straight over the code, get the whole code in the picture, in good light without glare",
                },
            )
        certificate_id, payload = split_qr_text(texts[0])
        return Submitted(
            payload=payload, certificate_id=certificate_id, source="image", link=_link_of(texts[0])
        )
    text = data.decode("utf-8", errors="replace").strip()
    if text.startswith("{"):
        credential = json_object(data)
        if credential is None:
            raise not_an_object(data)
        return from_json(credential)
    return from_text(text)


def pdf_text(data: bytes) -> str:
    """All the text printed on a PDF's pages (pypdfium2), for comparing with the signed claims."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    try:
        parts = []
        for page in document:
            textpage = page.get_textpage()
            parts.append(textpage.get_text_range())
            textpage.close()
            page.close()
        return "\n".join(parts)
    except pdfium.PdfiumError:
        return ""
    finally:
        document.close()


def from_json(body: dict) -> Submitted:
    if "credential" in body and isinstance(body["credential"], dict):
        carried = body.get("log_proof")
        return Submitted(
            credential=body["credential"],
            source="json",
            log_proof=carried if isinstance(carried, dict) else None,
        )
    if isinstance(body.get("url"), str):
        if "://" not in body["url"]:
            raise CreditbankError(
                "unusable_input",
                {"reason": "url 应为 https://…/v/crt_… 形式的链接 / url must be a link https://…/v/crt_…"},
            )
        return from_text(body["url"])
    if isinstance(body.get("payload"), str):
        if not body["payload"].strip().startswith("CB1."):
            raise CreditbankError(
                "unusable_input", {"reason": "payload 应以 CB1. 开头 / payload must start with CB1."}
            )
        return from_text(body["payload"])
    if "proof" in body or "credentialSubject" in body:
        return Submitted(credential=body, source="json")
    raise CreditbankError(
        "unusable_input", {"reason": "需要 credential、payload 或 url / give credential, payload or url"}
    )


_KINDS = {list: ("列表", "an array"), str: ("文字", "a string"), bool: ("true/false", "true/false")}


def not_an_object(data: bytes) -> CreditbankError:
    """Why ``data``, sent as JSON, is not something to verify: not JSON at all, or JSON but not
    the object expected (``[]`` is valid JSON — "malformed JSON" would send the caller looking for
    a syntax error)."""
    expected_zh = '应为 JSON 对象 {"credential": …}、{"payload": "CB1.…"} 或 {"url": "…/v/crt_…"}，或上传 PDF、二维码图片'
    expected_en = (
        'expected a JSON object {"credential": …}, {"payload": "CB1.…"} or {"url": "…/v/crt_…"}, '
        "or an uploaded PDF or QR image"
    )
    try:
        value = jsonbody.loads(data)
    except ValueError:  # jsonbody.NotJson too: not JSON at all
        return CreditbankError("unusable_input", {"reason": "JSON 格式错误 / malformed JSON"})
    zh, en = _KINDS.get(type(value), ("数字或 null", "a number or null"))
    return CreditbankError(
        "unusable_input",
        {"reason_zh": f"收到的是{zh}：{expected_zh}", "reason_en": f"got {en}: {expected_en}"},
    )


def json_object(data: bytes) -> dict | None:
    """A JSON object from a stranger, within the credential budget; None if it is not JSON or
    not an object. Over a budget: 413 ``credential_too_large``; nested too deep: 422
    ``json_too_deep`` (never a RecursionError)."""
    if len(data) > CREDENTIAL_MAX_BYTES:
        raise CreditbankError("credential_too_large", {"what": f"> {CREDENTIAL_MAX_BYTES // 1024} KiB"})
    try:
        value = jsonbody.loads(data)  # strict: NaN or 1e400 would reach RFC 8785, which refuses them
    except jsonbody.NotJson as exc:
        if exc.kind == "depth":
            raise CreditbankError("json_too_deep", {"limit": CREDENTIAL_LIMITS.depth}) from None
        return None
    except ValueError:
        return None
    try:
        jsonshape.check(value, CREDENTIAL_LIMITS)
    except jsonshape.ShapeError as exc:
        if exc.kind == "depth":
            raise CreditbankError("json_too_deep", {"limit": exc.limit}) from None
        what = {"values": "JSON 值 / JSON values", "array_items": "单个数组的元素 / items in one array"}[
            exc.kind
        ]
        raise CreditbankError("credential_too_large", {"what": f"{what} > {exc.limit}"}) from None
    return value if isinstance(value, dict) else None
