"""The conversion API's request and response bodies (pydantic), shared by the routes, the CLI and the demo."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema, model_validator

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
    all_of: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="INSTITUTION:CODE of each outcome; a bare CODE is the proposer's own",
    )
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


_CREDITS_SOURCE = {
    "type": "object",
    "required": ["category", "min_level", "amount", "within_years"],
    "properties": {
        "category": {"type": "string", "description": "学分类别 · Credit category"},
        "min_level": {"type": "integer", "description": "最低等级 · Lowest level that counts"},
        "amount": {"type": "number", "description": "所需学分 · Credits needed"},
        "within_years": {
            "anyOf": [{"type": "integer"}, {"type": "null"}],
            "description": "近几年内取得 · Earned within the last N years (null: any time)",
        },
    },
}
RULE_SOURCE = WithJsonSchema(
    {
        "description": "来源条件（三者之一） · The source condition, one of: all of these outcomes, any N of "
        "them, or credits of a category at a level (as proposed, SPEC §4)",
        "oneOf": [
            {
                "type": "object",
                "required": ["all_of"],
                "properties": {
                    "all_of": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "须全部持有的课程 `INSTITUTION:CODE` · Outcomes all needed",
                    }
                },
            },
            {
                "type": "object",
                "required": ["any_n_of"],
                "properties": {
                    "any_n_of": {
                        "type": "object",
                        "required": ["n", "outcomes"],
                        "properties": {
                            "n": {"type": "integer", "description": "须持有的门数 · How many are needed"},
                            "outcomes": {
                                "type": "array",
                                "items": {"type": "string"},
                                "description": "可选课程 `INSTITUTION:CODE` · The outcomes to choose from",
                            },
                        },
                    }
                },
            },
            {"type": "object", "required": ["credits"], "properties": {"credits": _CREDITS_SOURCE}},
        ],
    }
)
"""How the API shows a rule's ``source`` (``sources.RuleSource.public``), for the document only: the
value stays the dict the office's pages read."""


class RuleRef(BaseModel):
    id: int = Field(description="规则编号 · The rule's id (`rule_id` of `POST /me/conversions`)")
    code: str = Field(description="规则代码 · The rule's code")
    version: int = Field(description="规则版本 · The rule's version")


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
    source: Annotated[dict[str, Any], RULE_SOURCE]
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
    rule: RuleRef = Field(description="转换规则 · The rule applied")
    grant: float
    bound_by_cap: str | None
    locked: list[LockedOut]
    requested_at: str
    expires_at: str
    decided_at: str | None
    reason: str | None
    transaction_id: str | None
    target_lot_id: str | None


# -- what a learner reads: conversion options, qualifications, progress (SPEC §4) ----------------
# Documented with `responses=` on the routes, not `response_model=`: the routes answer what they
# build, and a model that lagged behind would silently drop a field clients rely on.
# tests/api/test_openapi_responses.py checks every field answered is declared here.


class Said(BaseModel):
    """One sentence for a person, in both languages."""

    zh: str = Field(description="中文说明 · The sentence in Chinese")
    en: str = Field(description="英文说明 · The sentence in English")


BoundByCap = Annotated[
    Literal["max_transfer_ratio", "per_year_cap", "per_institution_cap"] | None,
    Field(description="限制了学分的上限 · The cap that reduced the grant, if one did"),
]
"""Which cap reduced a grant: an option's now, and a conversion's in a progress report's what-if."""


class OptionRule(RuleRef):
    name_zh: str = Field(description="规则名称（中文） · The rule's name in Chinese")
    name_en: str = Field(
        description="规则名称（英文，缺则同中文） · In English (the Chinese one when it has none)"
    )
    target_outcome: str = Field(description="转入课程 `INSTITUTION:CODE` · The outcome the rule grants")
    target_title_zh: str = Field(description="转入课程名称 · The title of that outcome")


class WouldUse(BaseModel):
    lot_id: str = Field(description="将使用的学分批次 · The credit lot that would be used (`lot_ids`)")
    credits: float = Field(description="使用的学分 · Credits of that lot the conversion would use")


class Taken(BaseModel):
    code: Literal["conversion_target_held", "conversion_already_requested"] = Field(
        description="为何不可再申请：已持有转入课程，或已提出申请 · Why not: the learner holds the target "
        "outcome already, or has asked for it"
    )
    conversion_id: str | None = Field(
        description="已有的转换申请 · The conversion that holds or asks for it (null: a completion holds it)"
    )


class OptionOut(BaseModel):
    """One conversion rule and what it would do for the learner (`GET /me/conversion-options`)."""

    rule: OptionRule = Field(description="转换规则 · The rule")
    eligible: bool = Field(description="现在可以申请 · The learner can apply it now")
    grant: float = Field(description="将获得的学分（已按上限扣减） · Credits it would grant, after caps")
    would_use: list[WouldUse] = Field(description="将锁定的学分 · The credits it would lock")
    missing: list[Said] = Field(description="还缺什么 · What is still missing (empty when eligible)")
    notes: list[Said] = Field(description="补充说明 · Further remarks, e.g. a cap that reduced the grant")
    bound_by_cap: BoundByCap
    uses: float = Field(
        description="将用掉的学分（批准时全部用掉，即使上限减少了所得） · Credits it would use up on approval — "
        "all of them, even when a cap reduced the grant (0 unless eligible)"
    )
    exchange: Said | None = Field(
        description="一句话说明用多少、换多少 · What it uses and what it grants, in one sentence: "
        "将使用 2 学分，换得 0.5 学分 (null unless eligible)"
    )
    taken: Taken | None = Field(
        description="不可申请的原因（已持有或已申请） · Set when the learner holds the target or asked for "
        "it already (docs/conversion.md)"
    )


class OutcomeRequirementOut(BaseModel):
    outcome: str = Field(description="须持有的课程 `INSTITUTION:CODE` · An outcome to hold")
    title_zh: str = Field(description="课程名称 · Its title in Chinese")
    title_en: str | None = Field(description="课程英文名称 · Its title in English, if it has one")


class CategoryRequirementOut(BaseModel):
    category: str = Field(description="学分类别 · A credit category")
    min_credits: float = Field(description="至少需要的学分 · Credits of it needed at least")


class QualificationOut(BaseModel):
    """A qualification as its owner published it (`PUT`/`GET /qualifications/{code}`)."""

    code: str = Field(description="资历代码 · The qualification's code")
    version: int = Field(description="版本（每次修改加一） · Its version (one more at each edit)")
    owner: str = Field(description="发布机构代码 · The institution that publishes it")
    name_zh: str = Field(description="名称（中文） · Name in Chinese")
    name_en: str | None = Field(description="名称（英文） · Name in English")
    total_credits: float = Field(description="总学分要求 · Credits needed in total")
    max_transfer_ratio: float | None = Field(
        description="转换学分最高占比 · Largest share of the total that conversions may give"
    )
    per_year_cap: float | None = Field(description="每年转换学分上限 · Credits conversions may give a year")
    per_institution_cap: float | None = Field(
        description="每个来源机构的转换学分上限 · Credits conversions may give from one source institution"
    )
    requirements: list[OutcomeRequirementOut | CategoryRequirementOut] = Field(
        description="要求：须持有的课程，或某类别的最少学分 · Requirements: an outcome to hold, or credits of a category"
    )
    conversion_rules: list[RuleRef] = Field(
        description="计入本资历的已批准转换规则 · Approved rules bound to it"
    )


class OutcomeStatusOut(OutcomeRequirementOut):
    met: bool = Field(description="已满足 · Met")
    missing: Said | None = Field(description="还缺什么 · What is missing (null when met)")


class CategoryStatusOut(CategoryRequirementOut):
    counted: float = Field(description="已计入的学分 · Credits of the category counted")
    met: bool = Field(description="已满足 · Met")
    missing: Said | None = Field(description="还缺什么 · What is missing (null when met)")


class TotalsOut(BaseModel):
    required: float = Field(description="总学分要求 · Credits needed in total")
    counted: float = Field(description="已计入的学分 · Credits counted")
    transferred: float = Field(description="其中由转换获得 · Of those, credits from conversions")
    missing: float = Field(description="还差的学分 · Credits still missing")


class WouldApplyOut(BaseModel):
    rule: RuleRef = Field(description="转换规则 · The rule")
    grant: float = Field(description="将获得的学分 · Credits it would grant")
    bound_by_cap: BoundByCap


class WhatIfOut(BaseModel):
    conversions: list[WouldApplyOut] = Field(description="可用的转换 · The conversions available now")
    total_after: float = Field(description="转换后计入的学分 · Credits counted after them")
    met_after: bool = Field(description="转换后是否满足 · Met after them")
    still_missing: list[Said] = Field(description="转换后仍缺 · Still missing after them")


class LotLineOut(BaseModel):
    """A credit lot as a progress report names it: by its outcome's title, with its credits."""

    lot_id: str = Field(description="学分批次 · The credit lot")
    title_zh: str = Field(description="课程名称 · Its outcome's title")
    credits: float = Field(description="学分 · Its credits")


class ExpiryWarningOut(LotLineOut):
    expires_on: date = Field(description="失效日期 · The day it stops counting")
    zh: str = Field(description="提醒（中文） · The warning in Chinese")
    en: str = Field(description="提醒（英文） · The warning in English")


class NotCountedOut(LotLineOut):
    rule: str = Field(description="转换规则代码 · The rule that converted it")
    counts_toward: str = Field(description="计入的资历 · The qualification it counts toward instead")
    zh: str = Field(description="说明（中文） · Why, in Chinese")
    en: str = Field(description="说明（英文） · Why, in English")


class ProgressOut(BaseModel):
    """How far the learner is from a qualification (`GET /me/progress/{qualification_code}`)."""

    qualification: QualificationOut = Field(description="资历 · The qualification")
    met: bool = Field(description="已满足全部要求 · Every requirement and the total are met")
    total: TotalsOut = Field(description="学分合计 · Credits in total")
    requirements: list[OutcomeStatusOut | CategoryStatusOut] = Field(
        description="各项要求的完成情况 · Each requirement, met or what is missing"
    )
    not_counted: list[NotCountedOut] = Field(
        description="为其他资历转换、不计入本资历的学分 · Credits converted for another qualification"
    )
    what_if: WhatIfOut = Field(
        description="若申请现有转换 · If the learner applied the conversions available"
    )
    warnings: list[ExpiryWarningOut] = Field(description="即将失效的学分 · Credits that stop counting soon")
