"""Certificates: the API's request and response bodies (SPEC §3.7).

(The JSON Schemas every signed credential must match are checked in ``certificates/shapes.py``.)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema, model_validator

from creditbank.kit import fielderror

NEEDED = {
    "achievement": ("completion_id", "an achievement certificate needs completion_id"),
    "conversion": ("conversion_id", "a conversion certificate needs conversion_id"),
    "qualification": ("qualification_code", "a qualification certificate needs qualification_code"),
}
"""The field each kind names its subject by (a transcript needs none): missing, the request is a
422 at that field — it was looked up as None ("找不到转换申请 None", 404)."""


class IssueIn(BaseModel):
    kind: Literal["achievement", "transcript", "conversion", "qualification"]
    completion_id: str | None = Field(
        default=None, description="Required for an achievement certificate: the completion's id"
    )
    conversion_id: str | None = Field(
        default=None, description="Required for a conversion certificate: an approved conversion's id"
    )
    qualification_code: str | None = Field(
        default=None,
        description="Required for a qualification certificate: a qualification whose requirements are met",
    )

    @model_validator(mode="after")
    def _subject(self) -> IssueIn:
        if self.kind in NEEDED:
            field, message = NEEDED[self.kind]
            value = getattr(self, field)
            if not (value and value.strip()):
                raise fielderror.at(field, message, value)
        return self


class IssueForIn(IssueIn):
    account_no: str


class BatchIssueIn(BaseModel):
    items: list[IssueForIn] = Field(min_length=1, max_length=1000)


LOG_PROOF = WithJsonSchema(
    {
        "anyOf": [
            {
                "type": "object",
                "required": [
                    "type",
                    "leaf_index",
                    "leaf_kind",
                    "digest",
                    "tree_size",
                    "inclusion_path",
                    "checkpoint",
                ],
                "properties": {
                    "type": {"type": "string", "description": "格式 · `creditbank-log-inclusion/v1`"},
                    "leaf_index": {
                        "type": "integer",
                        "description": "日志条目序号 · The entry's index in the log",
                    },
                    "leaf_kind": {"type": "string", "description": "条目类型 · What the entry records"},
                    "digest": {
                        "type": "string",
                        "description": "条目摘要（十六进制） · The entry's digest, hex",
                    },
                    "tree_size": {
                        "type": "integer",
                        "description": "证明所对应的日志大小 · The log size proven against",
                    },
                    "inclusion_path": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "包含证明的哈希（base64） · The inclusion proof's hashes, base64",
                    },
                    "checkpoint": {
                        "type": "string",
                        "description": "签名的检查点（含见证人签名） · The signed checkpoint note, with cosignatures",
                    },
                },
            },
            {"type": "null"},
        ]
    }
)
"""``translog.service.proof_bundle``, for the document only (the value stays the dict it builds)."""


class CertificateOut(BaseModel):
    id: str
    kind: str
    pdf_url: str
    verify_url: str
    credential: dict[str, Any]
    revoked: bool = False
    revoke_reason: str | None = None
    part_of: str | None = Field(
        default=None,
        description="For a transcript line (an Open Badge embedded in a CLR transcript): the transcript's id",
    )
    log_index: int = Field(description="The certificate's entry in the transparency log (its issue)")
    log_proof: Annotated[dict[str, Any] | None, LOG_PROOF] = Field(
        default=None,
        description="Inclusion proof of the certificate in the transparency log: "
        "`{type, leaf_index, leaf_kind, digest, tree_size, inclusion_path, checkpoint}` — verify it with "
        "the log's key (`/api/v1/log/keys`); the PDF carries the same as `log-proof.json`",
    )


class RevokeCertificateIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


# -- the issuer's keys, as published (documented with `responses=`: the routes answer them as built,
# with an ETag) ------------------------------------------------------------------------------------

_SEALS = (
    "自何时起本行所有证书 PDF 均带签章（离线验证据此识别被去掉的签章） · Since when every certificate PDF the "
    "bank issues carries its seal, so an offline verifier tells a stripped seal from an older PDF; absent "
    "in documents of banks that never said"
)
KeyState = Literal["active", "retired", "compromised"]


class JwkOut(BaseModel):
    """An RFC 8037 OKP/Ed25519 public key."""

    kty: Literal["OKP"] = Field(description="密钥类型 · Key type")
    crv: Literal["Ed25519"] = Field(description="曲线 · Curve")
    x: str = Field(description="公钥（base64url） · The public key, base64url")
    kid: str = Field(description="密钥编号（证书 proof 中引用） · The key id a certificate's proof names")


class JwksOut(BaseModel):
    """`/.well-known/jwks.json`: every issuer key, retired and compromised ones too (their status is
    at `GET /api/v1/keys`)."""

    keys: list[JwkOut] = Field(description="本行全部公钥 · Every public key of the bank")
    creditbank_pdf_seals_since: str | None = Field(default=None, description=_SEALS)


class KeyRowOut(BaseModel):
    """One issuer key (`GET /api/v1/keys`); a saved list works as `creditbank verify --offline --keys`."""

    kid: str = Field(description="密钥编号 · The key id")
    public_key_multibase: str = Field(description="公钥（Multikey） · The public key, multibase")
    created_at: str = Field(description="创建时间 · When it was made")
    status: KeyState = Field(
        description="active 正在使用（仅一个）、retired 已停用（旧证书仍有效）、compromised 已泄露（此后签的证书无效） · "
        "active (exactly one), retired (what it signed stays valid), compromised (what it signed after "
        "`compromised_at` is not)"
    )
    retired_at: str | None = Field(description="停用时间 · When it was retired")
    compromised_at: str | None = Field(description="泄露时间 · From when it is compromised")
    creditbank_pdf_seals_since: str | None = Field(default=None, description=_SEALS)


class RotatedKeyOut(BaseModel):
    """`POST /api/v1/keys/rotate`: the new key; the one before it is now retired."""

    kid: str = Field(description="新密钥编号 · The new key's id")
    status: KeyState = Field(description="新密钥状态（active） · Its status (active)")
