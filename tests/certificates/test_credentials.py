"""What a certificate prints is what its QR code signs (``credentials.qr_claims``)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from creditbank.certificates.credentials import Line, Printed, qr_claims
from creditbank.kit import qrpayload

LINE = Line(
    outcome_ref="YCCEC:E01:v1",
    title_zh="居民用电安全",
    title_en="Home electrical safety",
    category="community",
    level=2,
    credits="1.5",
    completed_on="2025-10-12",
    institution_code="YCCEC",
    institution_name="永川区社区教育学院",
)
PRINTED = Printed(
    certificate_id="crt_Ab3kd9_LmQ2xZ8pW",
    kind="achievement",
    issued_on="2026-11-26",
    issuer_did="did:web:xuefen.yongchuan.gov.cn",
    issuer_name_zh="学分银行",
    issuer_name_en="creditbank learning-credit bank",
    learner_name="王秀英",
    id_masked="500118********204X",
    account_no="CB12345678903",
    total_credits="1.5",
    lines=(LINE,),
)


class TestQrClaims:
    def test_are_the_printed_text(self) -> None:
        assert qr_claims(PRINTED) == {
            "certificate_id": "crt_Ab3kd9_LmQ2xZ8pW",
            "kind": "achievement",
            "issued_on": "2026-11-26",
            "issuer_name": "学分银行",
            "issuer_did": "did:web:xuefen.yongchuan.gov.cn",
            "learner_name": "王秀英",
            "id_masked": "500118********204X",
            "account_no": "CB12345678903",
            "total_credits": "1.5",
            "lines": [
                {
                    "title_zh": "居民用电安全",
                    "credits": "1.5",
                    "completed_on": "2025-10-12",
                    "institution_code": "YCCEC",
                }
            ],
        }

    def test_round_trip_through_the_signed_payload(self) -> None:
        key = Ed25519PrivateKey.generate()
        payload = qrpayload.encode(qr_claims(PRINTED), kid="k1", private_key=key)
        ok, claims, reason = qrpayload.verify(payload, lambda kid: key.public_key() if kid == "k1" else None)
        assert ok, reason
        assert {k: claims[k] for k in qr_claims(PRINTED)} == qr_claims(PRINTED)
