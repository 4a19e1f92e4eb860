"""Certificates: the API's request and response bodies (SPEC §3.7).

(The JSON Schemas every signed credential must match are checked in ``certificates/shapes.py``.)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

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
    log_proof: dict[str, Any] | None = Field(
        default=None,
        description="Inclusion proof of the certificate in the transparency log: "
        "`{type, leaf_index, leaf_kind, digest, tree_size, inclusion_path, checkpoint}` — verify it with "
        "the log's key (`/api/v1/log/keys`); the PDF carries the same as `log-proof.json`",
    )


class RevokeCertificateIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)
