"""Verification: the report's shape, for the OpenAPI document (SPEC §4).

The routes answer ``Verdict.as_dict()`` as it is (the verify endpoints are hot paths: no second
validation); these models only describe it. Credits are JSON numbers with at most two decimals,
like everywhere in the API — although the certificate prints them, and its signed QR claims carry
them, as text ("1.5"); the credential itself is never reshaped."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class CheckOut(BaseModel):
    ok: bool | None = Field(description="true passed, false failed, null: could not apply (never a pass)")
    detail: str = Field(description="Chinese / English")
    detail_zh: str
    detail_en: str


class ChecksOut(BaseModel):
    signature: CheckOut
    issuer_key: CheckOut
    integrity: CheckOut
    status: CheckOut
    log_inclusion: CheckOut


class LineOut(BaseModel):
    title_zh: str | None = None
    title_en: str | None = None
    credits: float | None = Field(default=None, examples=[1.5])
    completed_on: str | None = Field(default=None, examples=["2026-03-01"])
    institution: str | None = None
    role: Literal["target", "source"] | None = Field(
        default=None,
        description="On a conversion certificate: `target` the credits granted, `source` the credits "
        "used from what they were converted from (credits: the amount used). Other kinds: null",
    )


class CertificateSummaryOut(BaseModel):
    """What the certificate says, from the bank's record (offline: from its signed QR claims, which
    give only ``id``, ``learner_name`` and ``total_credits``)."""

    id: str | None = None
    kind: str | None = None
    learner_name: str | None = None
    id_masked: str | None = None
    account_no: str | None = None
    issued_at: str | None = None
    issued_on: str | None = None
    issuer: str | None = None
    """签发方 as the certificate prints it (the bank's name when it was signed), Chinese."""
    issuer_en: str | None = None
    issuer_did: str | None = None
    total_credits: float | None = Field(default=None, examples=[5], description="Credits, a JSON number")
    lines: list[LineOut] | None = None
    revoked_at: str | None = None
    revoke_reason: str | None = None
    """Why it was revoked, Chinese / English (the revoker's own words as typed)."""
    revoke_reason_zh: str | None = None
    revoke_reason_en: str | None = None


class VerificationOut(BaseModel):
    valid: bool
    verdict: Literal["valid", "unchecked", "revoked", "invalid"]
    checks: ChecksOut
    certificate: CertificateSummaryOut | None = None
    notes: list[str] | None = None
    source: str | None = Field(
        default=None, description="What was checked (POST /api/v1/verify): json, pdf, image, payload or url"
    )
