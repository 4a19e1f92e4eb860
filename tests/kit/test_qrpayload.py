"""The signed compact QR payload: round trip, tampering, budget, and a real scan of a rendered code."""

from __future__ import annotations

import base64
import io
import json
import zlib
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from creditbank.kit import qrpayload
from creditbank.kit.qrpayload import PayloadError

KID = "key-20261126-a1b2c3"
KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()
BASE_URL = "https://xuefen.yongchuan.gov.cn"
SIGNED_AT = datetime(2026, 11, 26, 2, 30, 5, tzinfo=UTC)

TITLES = [
    "居民用电安全",
    "玩转微信享受智慧生活",
    "楠竹工艺画",
    "家政育婴师培训",
    "春季蔬菜田间管理培训",
    "智慧助老我能行",
    "家庭教育培训",
    "陶瓷彩绘基础",
    "青花瓷绘制技法",
    "手机摄影入门",
    "太极拳（二十四式）",
    "中医养生与保健",
    "老年人防诈骗知识讲座",
    "书法入门：楷书",
    "葫芦丝演奏",
    "广场舞编排与表演",
    "智能手机支付安全",
    "合唱基础训练",
    "家常菜烹饪技艺",
    "插花艺术",
    "茶艺与茶文化",
    "电子商务与农产品直播",
    "果树修剪技术",
    "安全用药常识",
    "社区志愿服务实务",
    "普通话水平提升",
    "急救知识与技能（心肺复苏）",
    "民间剪纸艺术",
    "数字素养：政务服务网上办",
    "市民自主学习团队活动",
]
INSTITUTIONS = ["YCCEC", "CQOUYC", "HCZCEC", "JDZCS", "XDCEC"]


def resolve(kid: str):
    return KEY.public_key() if kid == KID else None


def achievement() -> dict:
    return {
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


def transcript(n: int = 30) -> dict:
    lines = [
        {
            "title_zh": TITLES[i % len(TITLES)],
            "credits": ["1.5", "2", "0.5", "1"][i % 4],
            "completed_on": f"{2024 + i % 2}-{i % 12 + 1:02d}-{i * 7 % 28 + 1:02d}",
            "institution_code": INSTITUTIONS[i % len(INSTITUTIONS)],
        }
        for i in range(n)
    ]
    return dict(achievement(), kind="transcript", total_credits="38.5", lines=lines)


def sign(claims: dict, key: Ed25519PrivateKey = KEY, **kw) -> str:
    return qrpayload.encode(claims, kid=KID, private_key=key, now=SIGNED_AT, **kw)


def test_round_trip() -> None:
    claims = achievement()
    payload = sign(claims)
    assert payload.startswith("CB1." + KID + ".")
    kid, decoded, signed, signature = qrpayload.decode(payload)
    assert kid == KID and len(signature) == 64
    assert signed == payload.rsplit(".", 1)[0].encode()
    assert decoded == dict(claims, signed_at="2026-11-26T02:30:05Z", lines_total=1, lines_sha256=None)
    ok, verified, reason = qrpayload.verify(payload, resolve)
    assert (ok, reason) == (True, None) and verified == decoded
    assert qrpayload.signed_at(verified) == SIGNED_AT
    assert qrpayload.certificate_id(verified) == "crt_Ab3kd9_LmQ2xZ8pW"
    # Decoded claims that cover every line can be signed again, to the same claims.
    assert qrpayload.decode(sign(decoded))[1] == decoded


def test_account_number_is_optional() -> None:
    claims = achievement()
    del claims["account_no"]
    assert "account_no" not in qrpayload.decode(sign(claims))[1]


def test_signature_is_domain_separated_over_the_text_before_the_last_dot() -> None:
    payload = sign(achievement())
    signed, _, sig = payload.rpartition(".")
    raw = base64.urlsafe_b64decode(sig + "==")
    KEY.public_key().verify(raw, b"creditbank/qr/v1\x00" + signed.encode())
    with pytest.raises(Exception):  # noqa: B017 - the bare text is not what was signed
        KEY.public_key().verify(raw, signed.encode())


def _splice(original: str, altered_claims: dict) -> str:
    """The altered claims' body under the original payload's signature."""
    altered = sign(altered_claims)
    return altered.rsplit(".", 1)[0] + "." + original.rsplit(".", 1)[1]


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c.update(learner_name="王秀华"),
        lambda c: c.update(total_credits="7.5"),
        lambda c: c.update(issued_on="2026-11-27"),
        lambda c: c.update(id_masked="500118********2041"),
        lambda c: c["lines"][0].update(title_zh="居民用电安金"),
        lambda c: c["lines"][0].update(credits="2.5"),
        lambda c: c["lines"][0].update(completed_on="2025-10-13"),
        lambda c: c["lines"][0].update(institution_code="YCCEX"),
    ],
)
def test_one_changed_printed_character_fails(change) -> None:
    original = sign(achievement())
    claims = achievement()
    change(claims)
    forged = _splice(original, claims)
    assert forged != original
    assert qrpayload.decode(forged)[1] != qrpayload.decode(original)[1]  # it parses: the claims did change
    ok, got, reason = qrpayload.verify(forged, resolve)
    assert not ok and got is None and "signature invalid" in reason


def test_every_single_character_edit_of_the_payload_fails() -> None:
    payload = sign(achievement())
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    for i, ch in enumerate(payload):
        other = alphabet[(alphabet.index(ch) + 1) % len(alphabet)]
        ok, _, reason = qrpayload.verify(payload[:i] + other + payload[i + 1 :], resolve)
        assert not ok, (i, reason)


def test_signed_by_another_key_fails() -> None:
    forged = sign(achievement(), key=OTHER)  # claims the bank's kid, signed with someone else's key
    ok, claims, reason = qrpayload.verify(forged, resolve)
    assert not ok and claims is None and "signature invalid" in reason


def test_unknown_kid_fails() -> None:
    payload = qrpayload.encode(achievement(), kid="key-20200101-ffffff", private_key=KEY)
    ok, _, reason = qrpayload.verify(payload, resolve)
    assert not ok and "unknown signing key" in reason


def test_check_key_hook_applies_key_status() -> None:
    payload = sign(achievement())
    seen = []

    def compromised(kid: str, at: datetime) -> tuple[bool, str | None]:
        seen.append((kid, at))
        return False, "签名密钥已泄露 / key compromised"

    ok, claims, reason = qrpayload.verify(payload, resolve, check_key=compromised)
    assert (ok, claims, reason) == (False, None, "签名密钥已泄露 / key compromised")
    assert seen == [(KID, SIGNED_AT)]


def _payload_with_body(obj: object, *, raw: bytes | None = None) -> str:
    data = raw if raw is not None else json.dumps(obj, ensure_ascii=False).encode()
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = base64.urlsafe_b64encode(comp.compress(data) + comp.flush()).rstrip(b"=").decode()
    signed = f"CB1.{KID}.{body}"
    sig = base64.urlsafe_b64encode(KEY.sign(b"creditbank/qr/v1\x00" + signed.encode())).rstrip(b"=").decode()
    return f"{signed}.{sig}"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "CB1",
        "CB2.key.body.sig",
        "http://example.org/v/crt_x",
        "CB1.key-1.AAAA." + "A" * 85,
        "CB1.key 1.AAAA." + "A" * 86,
        "CB1.key-1.AA=A." + "A" * 86,
        "CB1.key-1.." + "A" * 86,
        "CB1.键.AAAA." + "A" * 86,
        "CB1.key-1.AAAA.AAAA." + "A" * 86,
        "CB1.key-1.AAAA." + "A" * 85 + "B",  # non-canonical trailing bits in the signature
        "CB1.key-1\n.AAAA." + "A" * 86,
        "CB1.key-1.AAAA\n." + "A" * 86,
    ],
)
def test_decode_refuses_malformed_structure(bad: str) -> None:
    with pytest.raises(PayloadError):
        qrpayload.decode(bad)
    ok, _, reason = qrpayload.verify(bad, resolve)
    assert not ok and reason


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"i": "x"},
        {
            "i": "c",
            "k": "achievement",
            "d": "2026-11-26",
            "t": 1,
            "n": "n",
            "u": "u",
            "p": "p",
            "m": "m",
            "c": "1",
            "l": [],
            "zz": 1,
        },
        {
            "i": "c",
            "k": "diploma",
            "d": "2026-11-26",
            "t": 1,
            "n": "n",
            "u": "u",
            "p": "p",
            "m": "m",
            "c": "1",
            "l": [],
        },
        {
            "i": "c",
            "k": "achievement",
            "d": "26/11/2026",
            "t": 1,
            "n": "n",
            "u": "u",
            "p": "p",
            "m": "m",
            "c": "1",
            "l": [],
        },
        {
            "i": "c",
            "k": "achievement",
            "d": "2026-11-26",
            "t": "1",
            "n": "n",
            "u": "u",
            "p": "p",
            "m": "m",
            "c": "1",
            "l": [],
        },
        {
            "i": "c",
            "k": "achievement",
            "d": "2026-11-26",
            "t": 1,
            "n": "n",
            "u": "u",
            "p": "p",
            "m": "m",
            "c": 1,
            "l": [],
        },
        {
            "i": "c",
            "k": "achievement",
            "d": "2026-11-26",
            "t": 1,
            "n": "n",
            "u": "u",
            "p": "p",
            "m": "m",
            "c": "1",
            "l": [["a", "1", "2025-01-01"]],
        },
        {
            "i": "c",
            "k": "achievement",
            "d": "2026-11-26",
            "t": 1,
            "n": "n",
            "u": "u",
            "p": "p",
            "m": "m",
            "c": "1",
            "l": [],
            "lc": 0,
            "lh": "0" * 64,
        },
        {
            "i": "c",
            "k": "achievement",
            "d": "2026-11-26",
            "t": 1,
            "n": "n",
            "u": "u",
            "p": "p",
            "m": "m",
            "c": "1",
            "l": [],
            "lc": 3,
        },
    ],
)
def test_decode_refuses_malformed_claims_even_when_signed(body: object) -> None:
    payload = _payload_with_body(body)
    with pytest.raises(PayloadError):
        qrpayload.decode(payload)
    ok, claims, reason = qrpayload.verify(payload, resolve)
    assert not ok and claims is None and "malformed" in reason


def test_decode_refuses_duplicate_keys_bad_utf8_and_bombs() -> None:
    dup = b'{"i":"a","i":"b"}'
    for raw in (dup, b"\xff\xfe{}", b" " * (qrpayload.MAX_CLAIMS_BYTES + 10)):
        with pytest.raises(PayloadError):
            qrpayload.decode(_payload_with_body(None, raw=raw))


def test_encode_refuses_bad_claims() -> None:
    for change in (
        lambda c: c.update(kind="diploma"),
        lambda c: c.update(nickname="x"),
        lambda c: c.update(learner_name=""),
        lambda c: c["lines"][0].update(completed_on="2025/10/12"),
        lambda c: c["lines"][0].update(completed_on="2025-10-12\n"),
        lambda c: c.update(issued_on="２０２６-11-26"),
        lambda c: c["lines"][0].update(extra="x"),
        lambda c: c.update(signed_at="yesterday"),
        lambda c: c.update(lines_total=5),
    ):
        claims = achievement()
        change(claims)
        with pytest.raises(PayloadError):
            sign(claims)
    with pytest.raises(PayloadError):
        qrpayload.encode(achievement(), kid="bad kid", private_key=KEY)
    with pytest.raises(PayloadError):
        # cannot fit even without lines (distinct characters: DEFLATE cannot shrink them)
        sign(dict(achievement(), learner_name="".join(chr(0x4E00 + i * 7) for i in range(800))))


def test_achievement_qr_version() -> None:
    claims = achievement()
    url = qrpayload.qr_url(BASE_URL, claims["certificate_id"], sign(claims))
    ok, version = qrpayload.fits(url)
    assert ok and version <= 18, version  # measured: 17 with this 31-character base URL


def test_30_line_transcript_fits_version_25_and_says_what_it_covers() -> None:
    claims = transcript(30)
    payload = sign(claims)
    assert len(payload) <= qrpayload.DEFAULT_MAX_CHARS
    url = qrpayload.qr_url(BASE_URL, claims["certificate_id"], payload)
    ok, version = qrpayload.fits(url)
    assert ok and version <= 25, version
    ok, decoded, _ = qrpayload.verify(payload, resolve)
    assert ok and decoded is not None
    n = len(decoded["lines"])
    assert 8 <= n < 30
    assert decoded["lines"] == claims["lines"][:n]
    assert decoded["lines_total"] == 30
    assert decoded["lines_sha256"] == qrpayload.lines_digest(claims["lines"])
    # The digest is over the compact form, so either shape of the lines gives it.
    fields = ("title_zh", "credits", "completed_on", "institution_code")
    compact = [[line[f] for f in fields] for line in claims["lines"]]
    assert qrpayload.lines_digest(compact) == decoded["lines_sha256"]
    # A partial claim set cannot be re-signed as if it were complete.
    with pytest.raises(PayloadError):
        sign(decoded)


def test_budget_for_a_long_base_url() -> None:
    base = "https://xuefenyinhang.shequjiaoyu.chongqing-yongchuan.example.gov.cn/creditbank/public"
    budget = qrpayload.budget_for(base, "crt_Ab3kd9_LmQ2xZ8pW")
    payload = sign(transcript(30), max_chars=budget)
    assert len(payload) <= budget
    assert qrpayload.fits(qrpayload.qr_url(base, "crt_Ab3kd9_LmQ2xZ8pW", payload))[0]


def test_a_transcript_that_fits_carries_every_line_and_no_digest() -> None:
    decoded = qrpayload.decode(sign(transcript(5)))[1]
    assert len(decoded["lines"]) == 5 and decoded["lines_total"] == 5 and decoded["lines_sha256"] is None


def test_url_parsing_and_id_binding() -> None:
    claims = achievement()
    payload = sign(claims)
    url = qrpayload.qr_url(BASE_URL + "/", claims["certificate_id"], payload)
    assert url == f"{BASE_URL}/v/crt_Ab3kd9_LmQ2xZ8pW#{payload}"
    assert qrpayload.parse_url(url) == (BASE_URL, "crt_Ab3kd9_LmQ2xZ8pW", payload)
    assert qrpayload.verify_url(url, resolve)[0]
    moved = qrpayload.qr_url(BASE_URL, "crt_SomeoneElse0000", payload)  # a genuine fragment on another id
    ok, _, reason = qrpayload.verify_url(moved, resolve)
    assert not ok and "differs" in reason
    for bad in ("not a url", f"{BASE_URL}/v/crt_x", f"{BASE_URL}/x/crt_x#{payload}"):
        with pytest.raises(PayloadError):
            qrpayload.parse_url(bad)


def _render(url: str, dpi: int, module_mm: float, *, resample: str) -> object:
    """The QR as a 150-dpi page raster would show it: drawn at high resolution, then resampled."""
    import segno
    from PIL import Image

    qr = segno.make_qr(url, error="m", boost_error=False)
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=12, border=4)
    big = Image.open(buffer).convert("L")
    modules = qr.symbol_size(scale=1, border=4)[0]
    side = round(modules * module_mm / 25.4 * dpi)
    filtered = resample.removesuffix("+blur")
    small = big.resize((side, side), getattr(Image.Resampling, filtered))
    if resample.endswith("+blur"):  # a soft print-and-rasterise edge
        from PIL import ImageFilter

        small = small.filter(ImageFilter.GaussianBlur(0.6))
    return small


@pytest.mark.parametrize("resample", ["BILINEAR", "LANCZOS", "BOX+blur"])
@pytest.mark.parametrize("kind", ["achievement", "transcript"])
def test_rendered_qr_scans_at_150_dpi_and_verifies_offline(kind: str, resample: str) -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    claims = achievement() if kind == "achievement" else transcript(30)
    url = qrpayload.qr_url(BASE_URL, claims["certificate_id"], sign(claims))
    # 0.5 mm modules at 150 dpi ≈ 2.95 px each: a version-25 code is 63.5 mm wide with its quiet zone.
    image = _render(url, 150, 0.5, resample=resample)
    results = zxingcpp.read_barcodes(image)
    assert [r.text for r in results] == [url]
    ok, decoded, reason = qrpayload.verify_url(results[0].text, resolve)
    assert ok, reason
    assert decoded["learner_name"] == "王秀英"


def _doc_block(tag: str) -> str:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "qr-format.md").read_text(encoding="utf-8")
    match = re.search(rf"```{tag}\n(.*?)```", text, re.S)
    assert match, tag
    return match.group(1)


def test_documented_example_and_python_verifier_work() -> None:
    url = _doc_block("text example-url").strip()
    rfc8032_key1 = Ed25519PrivateKey.from_private_bytes(
        bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    )
    public = rfc8032_key1.public_key()
    raw = base64.urlsafe_b64decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
    assert raw == public.public_bytes_raw()
    ok, claims, reason = qrpayload.verify_url(
        url, lambda kid: public if kid == "key-20261126-a1b2c3" else None
    )
    assert ok, reason
    assert claims["learner_name"] == "王秀英" and claims["signed_at"] == "2026-11-26T02:30:05Z"
    # The encoder still produces exactly this payload (Ed25519 is deterministic).
    example = dict(achievement(), issuer_did="did:web:bank.example.org")
    assert (
        qrpayload.encode(example, kid="key-20261126-a1b2c3", private_key=rfc8032_key1, now=SIGNED_AT)
        == url.split("#", 1)[1]
    )
    # The ~15-line verifier printed in the doc agrees, and rejects an altered payload.
    namespace: dict = {}
    exec(_doc_block("python verifier"), namespace)
    short = namespace["verify_qr"](url, {"key-20261126-a1b2c3": raw})
    assert short["p"] == "王秀英" and short["l"] == [["居民用电安全", "1.5", "2025-10-12", "YCCEC"]]
    _signed, _, sig = url.rpartition(".")
    forged = (
        qrpayload.qr_url(
            "https://bank.example.org", "crt_Ab3kd9_LmQ2xZ8pW", sign(dict(example, learner_name="王秀华"))
        ).rpartition(".")[0]
        + "."
        + sig
    )
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidSignature
        namespace["verify_qr"](forged, {KID: raw})
