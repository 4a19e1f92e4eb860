"""Certificates: the API's request and response bodies (SPEC §3.7).

(The JSON Schemas every signed credential must match are checked in ``certificates/shapes.py``.)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class IssueIn(BaseModel):
    kind: Literal["achievement", "transcript", "conversion", "qualification"]
    completion_id: str | None = Field(default=None, description="For an achievement certificate")
    conversion_id: str | None = Field(
        default=None, description="For a conversion certificate (an approved conversion)"
    )
    qualification_code: str | None = Field(
        default=None, description="For a qualification certificate (requirements met)"
    )


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
