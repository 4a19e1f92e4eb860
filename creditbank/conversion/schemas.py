"""The conversion API's request and response bodies (pydantic), shared by the routes, the CLI and the demo."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from creditbank.errors import CreditbankError
from creditbank.kit import fielderror
from creditbank.kit.text import OPTIONAL_PRINTED, PRINTED

# -- request bodies (validated here so the CLI and demo use the same rules as the API) -----------


class CreditsSource(BaseModel):
    category: str
    min_level: int = Field(ge=1, le=10)
    amount: float = Field(gt=0, le=1000, multiple_of=0.01)
    within_years: int | None = Field(default=None, ge=1, le=100)


class AnyNSource(BaseModel):
    n: int = Field(ge=1)
    outcomes: list[str] = Field(min_length=1, max_length=100)


class SourceSpec(BaseModel):
    all_of: list[str] | None = Field(default=None, min_length=1, max_length=100)
    any_n_of: AnyNSource | None = None
    credits: CreditsSource | None = None

    @model_validator(mode="after")
    def _one(self) -> SourceSpec:
        if sum(x is not None for x in (self.all_of, self.any_n_of, self.credits)) != 1:
            raise ValueError("give exactly one of all_of, any_n_of, credits")
        if self.any_n_of and self.any_n_of.n > len(self.any_n_of.outcomes):
            raise ValueError("any_n_of.n is larger than the list")
        return self


class RuleSpec(BaseModel):
    code: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name_zh: Annotated[str, Field(min_length=1, max_length=200), PRINTED]
    name_en: Annotated[str | None, Field(max_length=200), OPTIONAL_PRINTED] = None
    target_outcome_code: str = Field(min_length=1, max_length=100)
    credits: float | None = Field(default=None, gt=0, le=1000, multiple_of=0.01)
    ratio: float | None = Field(default=None, gt=0, le=10)
    source: SourceSpec
    effective_from: date
    effective_until: date | None = None
    qualification_code: str | None = None

    @model_validator(mode="after")
    def _credits_or_ratio(self) -> RuleSpec:
        if (self.credits is None) == (self.ratio is None):
            raise CreditbankError("credits_or_ratio_required")
        if self.effective_until and self.effective_until < self.effective_from:
            raise fielderror.at(
                "effective_until", "effective_until is before effective_from", str(self.effective_until)
            )
        return self


class Requirement(BaseModel):
    category: str | None = None
    min_credits: float | None = Field(default=None, gt=0, le=10000)
    outcome: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Requirement:
        if (self.outcome is None) == (self.category is None or self.min_credits is None):
            raise ValueError("a requirement is {category, min_credits} or {outcome}")
        return self


class QualificationSpec(BaseModel):
    name_zh: Annotated[str, Field(min_length=1, max_length=200), PRINTED]
    name_en: Annotated[str | None, Field(max_length=200), OPTIONAL_PRINTED] = None
    total_credits: float = Field(gt=0, le=10000, multiple_of=0.01)
    max_transfer_ratio: float | None = Field(default=None, gt=0, le=1)
    per_year_cap: float | None = Field(default=None, gt=0, le=10000)
    per_institution_cap: float | None = Field(default=None, gt=0, le=10000)
    requirements: list[Requirement] = Field(default_factory=list, max_length=200)


# -- answers and decisions ------------------------------------------------------------------------


class RuleOut(BaseModel):
    id: int
    code: str
    version: int
    state: str
    owner: str
    name_zh: str
    name_en: str | None
    target_outcome: str
    credits: float | None
    ratio: float | None
    source: dict[str, Any]
    effective_from: date
    effective_until: date | None
    qualification_code: str | None
    rejection_reason: str | None = None
    """Why the operator rejected it (state ``rejected``)."""


class RejectRuleIn(BaseModel):
    reason: Annotated[
        str,
        Field(min_length=1, max_length=500, examples=["来源课程的学时不足，请补充说明后重新提出"]),
        PRINTED,
    ]


class DecideIn(BaseModel):
    decision: Literal["approve", "reject"]
    reason: str | None = Field(
        default=None,
        max_length=500,
        description="Optional (SPEC §4); a rejection without one reads 未说明理由 / No reason given",
    )


class ConversionIn(BaseModel):
    rule_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    rule_code: str | None = Field(
        default=None, description="CODE, or OWNER:CODE when codes repeat across institutions"
    )
    lot_ids: list[str] | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _one(self) -> ConversionIn:
        if (self.rule_id is None) == (self.rule_code is None):
            raise fielderror.at("rule_id", "give exactly one of rule_id or rule_code", self.rule_id)
        return self


class LockedOut(BaseModel):
    lot_id: str
    credits: float


class ConversionOut(BaseModel):
    id: str
    state: str = Field(
        description="`pending` (credits locked, waiting for the school), `approved`, `rejected`, "
        "`expired` (no decision in 30 days), `reversed` (undone with a revoked source record), "
        "`withdrawn` (taken back by the learner before a decision) or `superseded` (ended because the "
        "school posted the target course to the learner itself); all but pending and approved have "
        "released their credits"
    )
    rule: dict[str, Any]
    grant: float
    bound_by_cap: str | None
    locked: list[LockedOut]
    requested_at: str
    expires_at: str
    decided_at: str | None
    reason: str | None
    transaction_id: str | None
    target_lot_id: str | None
