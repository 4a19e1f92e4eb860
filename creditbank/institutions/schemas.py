"""Institutions and their API keys: request and response bodies (SPEC §3.1)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from creditbank.kit.text import OPTIONAL_PRINTED, PRINTED


class InstitutionIn(BaseModel):
    code: str = Field(pattern=r"^[A-Za-z0-9_-]{2,32}$", examples=["YCCEC"])
    name_zh: Annotated[str, Field(min_length=1, max_length=200), PRINTED] = Field(
        examples=["永川区社区教育学院"], description="Printed and signed on certificates (kit.text)"
    )
    name_en: Annotated[str | None, Field(max_length=200), OPTIONAL_PRINTED] = None
    kind: str | None = Field(default=None, max_length=40, examples=["community_college"])
    district: Annotated[str | None, Field(max_length=100), OPTIONAL_PRINTED] = Field(
        default=None, examples=["永川区"]
    )
    township: Annotated[str | None, Field(max_length=100), OPTIONAL_PRINTED] = Field(
        default=None, examples=["中山路街道"], description="乡镇/街道 (statistics: coverage)"
    )
    village: Annotated[str | None, Field(max_length=100), OPTIONAL_PRINTED] = Field(
        default=None, examples=["萱花社区"], description="村/社区 (statistics: coverage)"
    )


class LocationIn(BaseModel):
    """Where an institution stands: statistics count coverage by these names (docs/statistics.md)."""

    district: Annotated[str | None, Field(max_length=100), OPTIONAL_PRINTED] = Field(
        default=None, examples=["永川区"]
    )
    township: Annotated[str | None, Field(max_length=100), OPTIONAL_PRINTED] = Field(
        default=None, examples=["中山路街道"]
    )
    village: Annotated[str | None, Field(max_length=100), OPTIONAL_PRINTED] = Field(
        default=None, examples=["萱花社区"]
    )


class InstitutionOut(BaseModel):
    code: str
    name_zh: str
    name_en: str | None
    kind: str | None
    district: str | None
    township: str | None = None
    village: str | None = None
    state: Literal["pending", "accredited", "suspended"]
    created_at: datetime


class ApiKeyIn(BaseModel):
    label: str | None = Field(default=None, max_length=100, examples=["教务系统 2026"])


class ApiKeyOut(BaseModel):
    id: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    key: str | None = Field(default=None, description="The key itself: shown once, when created, never again")
    redacted: list[str] | None = Field(
        default=None,
        description="On an Idempotency-Key replay: the secret fields left out (shown once only), e.g. ['key']",
    )
