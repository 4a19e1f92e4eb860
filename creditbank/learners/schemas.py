"""Learners: enrolment, activation, sign-in, the account and its statement — request and response bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field

from creditbank.kit import halfwidth
from creditbank.kit.text import OPTIONAL_PRINTED, PRINTED


def _folded(value: object) -> object:
    # Before the pattern: full-width digits typed in a Chinese input method are a phone number too.
    return halfwidth.phone(value) if isinstance(value, str) else value


class EnrolmentIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=100), PRINTED] = Field(
        examples=["张桂兰"],
        description="Printed and signed on certificates: normalised (kit.text), never blank",
    )
    national_id: str = Field(
        min_length=15,
        max_length=25,
        examples=["500118195603124427"],
        description="身份证号: validated, HMAC'd and masked; never stored in clear",
    )
    phone: Annotated[str | None, BeforeValidator(_folded)] = Field(
        default=None,
        pattern=halfwidth.PHONE,
        examples=["138 0013 8000"],
        description="Full-width digits (１３８…) are taken as ASCII ones; stored as folded",
    )
    district: Annotated[str | None, Field(max_length=100), OPTIONAL_PRINTED] = Field(
        default=None, examples=["永川区"], description="区/县"
    )
    township: Annotated[str | None, Field(max_length=100), OPTIONAL_PRINTED] = Field(
        default=None, examples=["中山路街道"], description="乡镇/街道"
    )
    village: Annotated[str | None, Field(max_length=100), OPTIONAL_PRINTED] = Field(
        default=None, examples=["萱花社区"], description="村/社区"
    )
    gender: Literal["male", "female"] | None = Field(
        default=None,
        description="Taken from the ID number; may be left out, and one that differs is refused (gender_mismatch)",
    )
    birth_date: date | None = Field(
        default=None,
        description="Taken from the ID number (only its year is kept); may be left out, and one that "
        "differs is refused (birth_date_mismatch)",
    )


class EnrolmentOut(BaseModel):
    account_no: str
    activation_code: str | None = Field(
        description="16 digits, to hand to the learner once; null when the account is already active"
    )
    created: bool
    name_differs: bool = Field(
        default=False,
        description="true: the ID number was enrolled already under another name; the account is that "
        "person's and keeps its name — check the ID number. The name itself is never returned "
        "(the console shows it to the clerk)",
    )
    redacted: list[str] | None = Field(
        default=None,
        description="On an Idempotency-Key replay: ['activation_code'] — the code is never stored, so never shown again",
    )


class ActivationSlipOut(BaseModel):
    account_no: str
    activation_code: str | None = Field(
        description="16 digits, to hand to the learner once (printed on the new slip); null on an "
        "Idempotency-Key replay"
    )
    expires_at: datetime = Field(description="The code works until then, once")
    had_password: bool = Field(
        description="true: the account was activated — its password and sessions keep working until "
        "the learner activates with this code, which replaces the password and ends every session"
    )
    redacted: list[str] | None = Field(
        default=None,
        description="On an Idempotency-Key replay: ['activation_code'] — the code is never stored, so never shown again",
    )


class ActivateIn(BaseModel):
    account_no: str = Field(min_length=13, max_length=13)
    activation_code: str = Field(
        min_length=4, max_length=40, description="16 digits; spaces or dashes between the groups are ignored"
    )
    password: str = Field(min_length=1, max_length=200)


class SignInIn(BaseModel):
    account_no: str = Field(min_length=13, max_length=13)
    password: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    access_token: str | None = Field(
        description="The session token; null in a replay of an Idempotency-Key (listed in `redacted`)"
    )
    token_type: Literal["bearer"] = "bearer"
    account_no: str
    redacted: list[str] | None = Field(
        default=None,
        description="On an Idempotency-Key replay: the secret fields left out (shown once only): ['access_token']",
    )


class MeOut(BaseModel):
    account_no: str
    name: str
    id_masked: str
    birth_year: int
    gender: str
    phone: str | None
    district: str | None
    township: str | None = None
    village: str | None = None
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


class NameCorrectionIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=100), PRINTED] = Field(
        examples=["张晓明"],
        description="The right name, as on the ID card: normalised like an enrolment's (kit.text), never blank",
    )
    reason: Annotated[str, Field(min_length=1, max_length=500), PRINTED] = Field(
        examples=["开户时把“晓”录成了“小”，已核对身份证"],
        description="Why (required): kept in the history, which the learner reads",
    )


class NameCorrectionOut(BaseModel):
    id: str
    old_name: str = Field(description="Exactly as it was stored")
    new_name: str
    reason: str
    corrected_at: datetime
    institution_code: str | None = Field(
        description="The institution that corrected it; null: the district office (the operator)"
    )
    institution_name: str


class NameCorrectedOut(BaseModel):
    account_no: str
    name: str = Field(description="The learner's name now")
    changed: bool = Field(
        description="false: the name was this already, nothing was changed (a repeated correction); "
        "`correction` is then the one that set it, or null if it was never corrected"
    )
    correction: NameCorrectionOut | None


class NameHistoryOut(BaseModel):
    account_no: str
    name: str
    corrections: list[NameCorrectionOut] = Field(description="Newest first")
