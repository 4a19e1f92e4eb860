"""The ``log_inclusion`` check (pure: no database, no web).

A certificate's proof bundle (``translog.service.proof_bundle``) names its leaf, an RFC 9162
inclusion path and the signed checkpoint it was proven against. The verifier recomputes the leaf
from the credential it holds — kind byte 0x02 ‖ SHA-256 of the credential's RFC 8785 bytes — so the
bundle proves *this* credential was logged, verifies the checkpoint with the log's public key, and
optionally demands cosignatures by k of the n witnesses it trusts.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from creditbank.kit import merkle
from creditbank.kit import signednote as sn
from creditbank.kit.canonical import digest_hex
from creditbank.verification.verify import Check

PROOF_TYPE = "creditbank-log-inclusion/v1"
CERTIFICATE_ISSUED = 2  # translog.models.LeafKind.certificate_issued (the verifier imports no database code)

NO_PROOF = Check(
    None,
    "未随附透明日志证明（凭证 JSON 本身不含证明；请在线验证或使用 PDF）",
    "no transparency-log proof came with it (verify online, or use the PDF, which carries one)",
)
NO_ROOM_IN_QR = Check(
    None,
    "二维码容量有限，不含透明日志证明；请在线验证或使用 PDF",
    "a QR code has no room for a log proof: verify online or use the PDF",
)
NO_LOG_KEY = Check(
    None,
    "未提供日志公钥，无法核对透明日志证明（--log-keys）",
    "the log's public key was not given, so the log proof was not checked (--log-keys)",
)


def leaf_hash_of(credential: dict[str, Any]) -> bytes:
    return merkle.leaf_hash(bytes([CERTIFICATE_ISSUED]) + bytes.fromhex(digest_hex(credential)))


def _fail(zh: str, en: str) -> Check:
    return Check(False, f"透明日志证明无效：{zh}", f"log proof fails: {en}")


def check(
    credential: dict[str, Any],
    bundle: Any,
    log_keys: Sequence[sn.Verifier],
    *,
    witnesses: Sequence[sn.Verifier] = (),
    quorum: int = 0,
) -> tuple[Check, sn.Checkpoint | None]:
    """(the check, the checkpoint it was proven against when the proof holds)."""
    if bundle is None:
        return NO_PROOF, None
    if not log_keys:
        return NO_LOG_KEY, None
    if not isinstance(bundle, dict) or bundle.get("type") != PROOF_TYPE:
        return _fail("格式无法识别", f"not a {PROOF_TYPE} bundle"), None
    try:
        index, size = int(bundle["leaf_index"]), int(bundle["tree_size"])
        path = [base64.b64decode(h, validate=True) for h in bundle["inclusion_path"]]
        note = str(bundle["checkpoint"])
    except (KeyError, TypeError, ValueError, binascii.Error):
        return _fail("字段缺失或格式错误", "missing or malformed fields"), None
    try:
        checkpoint, _ = sn.open_checkpoint(note, log_keys)
    except sn.NoteError as exc:
        return _fail(
            f"检查点不是本行日志签署的（{exc}）", f"the checkpoint is not signed by the bank's log ({exc})"
        ), None
    if checkpoint.size != size:
        return _fail(
            "检查点大小与证明不符", f"proof for size {size}, checkpoint of size {checkpoint.size}"
        ), None
    if not merkle.verify_inclusion(leaf_hash_of(credential), index, size, path, checkpoint.root):
        return (
            _fail(
                f"第 {index} 条记录不是这份凭证，或路径被篡改",
                f"entry {index} is not this credential, or the path was altered",
            ),
            None,
        )
    cosigned = sorted(sn.cosigners(note, witnesses)) if witnesses else []
    if len(cosigned) < quorum:
        return (
            _fail(
                f"见证签名不足：需要 {quorum} 个，只有 {len(cosigned)} 个",
                f"{len(cosigned)} of the {quorum} required witness cosignatures",
            ),
            checkpoint,
        )
    by = f"；见证：{'、'.join(cosigned)}" if cosigned else ""
    by_en = f"; cosigned by {', '.join(cosigned)}" if cosigned else ""
    return (
        Check(
            True,
            f"已记入透明日志：第 {index} 条，检查点共 {size} 条{by}",
            f"in the transparency log: entry {index} of a checkpoint of {size}{by_en}",
        ),
        checkpoint,
    )
