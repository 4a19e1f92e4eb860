"""Request and response bodies of the public contract (SPEC §4)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, Field

# A database id in a path: larger numbers cannot exist and must be a 422, not a driver overflow.
DbId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def credits(units: int) -> float:
    """Hundredths to a JSON number with at most two decimals (150 → 1.5)."""
    return units / 100


class InstitutionIn(BaseModel):
    code: str = Field(pattern=r"^[A-Za-z0-9_-]{2,32}$", examples=["YCCEC"])
    name_zh: str = Field(min_length=1, max_length=200, examples=["永川区社区教育学院"])
    name_en: str | None = Field(default=None, max_length=200)
    kind: str | None = Field(default=None, max_length=40, examples=["community_college"])
    district: str | None = Field(default=None, max_length=100, examples=["重庆市永川区"])


class InstitutionOut(BaseModel):
    code: str
    name_zh: str
    name_en: str | None
    kind: str | None
    district: str | None
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


class OutcomeOut(BaseModel):
    code: str
    version: int
    title_zh: str
    title_en: str | None
    category: str
    level: int
    credits: float
    hours: float | None
    credits_from_hours: bool
    validity_years: int | None
    min_score: float | None


class EnrolmentIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["张桂兰"])
    national_id: str = Field(
        min_length=15,
        max_length=25,
        examples=["500118195603124427"],
        description="身份证号: validated, HMAC'd and masked; never stored in clear",
    )
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 -]{5,20}$")
    district: str | None = Field(default=None, max_length=100, examples=["永川区中山路街道"])
    gender: Literal["male", "female"] | None = None
    birth_date: date | None = Field(
        default=None, description="Only its year is kept; by default the year in the ID number"
    )


class EnrolmentOut(BaseModel):
    account_no: str
    activation_code: str | None = Field(
        description="Hand to the learner once; null when the account is already active"
    )
    created: bool


class CompletionIn(BaseModel):
    external_id: str = Field(
        min_length=1, max_length=100, description="Your system's id: (institution, external_id) is unique"
    )
    account_no: str | None = Field(default=None, examples=["CB0123456789X"])
    national_id: str | None = None
    outcome_code: str = Field(min_length=1, max_length=64)
    completed_on: date
    score: float | None = Field(default=None, ge=0, le=100000)
    hours: float | None = Field(default=None, ge=0, le=100000)


class CompletionOut(BaseModel):
    id: str
    external_id: str
    account_no: str
    outcome_code: str
    credits: float
    transaction_id: str
    completed_on: date
    state: Literal["active", "revoked"]


class BatchJsonIn(BaseModel):
    mode: Literal["all_or_nothing", "partial"] = "all_or_nothing"
    rows: list[dict] = Field(max_length=100_000, description="Objects with the CSV columns as keys")


class RowErrorOut(BaseModel):
    line: int
    code: str
    message_zh: str
    message_en: str
    field: str | None = None


class BatchReportOut(BaseModel):
    mode: str
    total_rows: int
    accepted: int
    replayed: int
    rejected: int
    committed: bool
    errors: list[RowErrorOut]


class RevokeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500, examples=["成绩登记错误"])
    force: bool = Field(
        default=False,
        description="Operator only: also undo the conversions that used these credits "
        "and revoke the certificates resting on them",
    )


class BalanceOut(BaseModel):
    account_no: str
    total: float
    by_category: dict[str, float]
    by_level: dict[str, float]
    convertible: float = Field(description="Credits in lots that are neither expired, locked nor consumed")


class ActivateIn(BaseModel):
    account_no: str = Field(min_length=13, max_length=13)
    activation_code: str = Field(min_length=4, max_length=20)
    password: str = Field(min_length=1, max_length=200)


class SignInIn(BaseModel):
    account_no: str = Field(min_length=13, max_length=13)
    password: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    account_no: str


class MeOut(BaseModel):
    account_no: str
    name: str
    id_masked: str
    birth_year: int
    gender: str
    phone: str | None
    district: str | None
    activated_at: datetime | None


class LedgerLineOut(BaseModel):
    seq: int
    transaction_id: str
    kind: str
    event_on: date
    recorded_at: str
    amount: float
    balance_after: float
    lot_id: str | None
    completion_id: str | None
    institution_code: str | None
    outcome_code: str | None
    outcome_title_zh: str | None
    outcome_title_en: str | None
    category: str | None
    level: int | None


class LedgerPageOut(BaseModel):
    items: list[LedgerLineOut]
    next_after: int | None = Field(description="Pass as ?after= for the next page; null at the end")
