"""Statistics and recognition: request and response bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictInt, WithJsonSchema

from creditbank.kit.text import OPTIONAL_PRINTED


class ColumnOut(BaseModel):
    key: str
    zh: str
    en: str
    kind: Literal["label", "count", "percent", "credits", "hours", "text"]


_CELL = {"type": ["string", "number", "boolean", "null"]}
FIGURE_ROW = WithJsonSchema(
    {
        "type": "object",
        "description": "一行：分组、标签，以及 `columns` 所列的各列 · One row: its group, its labels and a value "
        "for each of `columns` (by their `key`)",
        "required": ["key", "label_zh", "label_en"],
        "properties": {
            "key": {
                "type": ["string", "integer", "null"],
                "description": "分组（区县、年龄段、类别、月份…；null 为未填） · The group (district, age band, "
                "category, month…; null: not given)",
            },
            "label_zh": {
                "type": ["string", "null"],
                "description": "分组名称（中文） · The group's name in Chinese",
            },
            "label_en": {
                "type": ["string", "null"],
                "description": "分组名称（英文） · The group's name in English",
            },
        },
        "additionalProperties": _CELL,
    }
)
"""A figure's row (``stats.figures.labelled`` and the queries), for the document only: which columns a
row has depends on the figure, so the value stays a dict."""


class FigureOut(BaseModel):
    """One figure of the dashboard: the rows its chart and table show.

    Each row has ``key`` (the group: a district, an age band such as ``60_plus``, a category, a
    month ``2026-03``, …; null = not given), ``label_zh``/``label_en`` and the numbers named by
    ``columns``: counts as integers, shares (``rate``, ``*_coverage``, ``target``) as fractions
    (0.6 = 60 %), credits as numbers with at most two decimals (``credits``: 1.5), as everywhere in
    the API."""

    figure: str = Field(examples=["participation-district"])
    title_zh: str
    title_en: str
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None
    columns: list[ColumnOut]
    rows: list[Annotated[dict[str, Any], FIGURE_ROW]]
    as_of: datetime | None = Field(
        default=None,
        description="When the figures were computed, if they were computed ahead (a large bank: "
        "docs/statistics.md); null: computed for this answer, current.",
    )
    ledger_seq: int | None = Field(
        default=None, description="The ledger position the figures include (every transaction up to it)"
    )


class RefreshOut(BaseModel):
    kept: bool = Field(description="false: these figures are computed for every request (nothing to refresh)")
    refreshing: bool
    as_of: datetime | None = Field(description="When the figures served now were computed")
    ledger_seq: int | None


class PopulationIn(BaseModel):
    district: str = Field(min_length=1, max_length=100, examples=["永川区"])
    age_band: Literal["under_18", "18_59", "60_plus"]
    residents: StrictInt = Field(gt=0, le=100_000_000, examples=[298_000])


class PopulationOut(BaseModel):
    district: str
    age_band: str
    residents: int


class TargetsIn(BaseModel):
    """Targets in percent (60 = 60 %); leave out what stays as it is."""

    participation: float | None = Field(default=None, gt=0, le=100, examples=[60])
    senior_participation: float | None = Field(default=None, gt=0, le=100, examples=[20])
    township_coverage: float | None = Field(default=None, gt=0, le=100, examples=[80])
    village_coverage: float | None = Field(default=None, gt=0, le=100, examples=[60])


class TargetsOut(BaseModel):
    """Targets in percent."""

    participation: float
    senior_participation: float
    township_coverage: float
    village_coverage: float


class AreaIn(BaseModel):
    district: str = Field(min_length=1, max_length=100, examples=["永川区"])
    township: str = Field(min_length=1, max_length=100, examples=["中山路街道"])
    village: str = Field(default="", max_length=100, examples=["萱花社区"])


class AreaOut(BaseModel):
    district: str
    township: str
    village: str


class CandidateOut(BaseModel):
    """A candidate for recognition. The answer stays a list (as it always was); each item carries
    the list's ``as_of`` and ``ledger_seq``, the same for all of them, as every other figure does."""

    rank: int
    account_no: str
    name: str
    district: str | None
    category: str
    credits: float
    hours: float
    completions: int
    as_of: datetime | None = Field(
        default=None,
        description="When the candidates were computed, if they were computed ahead (a large bank: "
        "docs/statistics.md); null: computed for this answer, current.",
    )
    ledger_seq: int | None = Field(
        default=None, description="The ledger position the candidates include (every transaction up to it)"
    )


class AwardIn(BaseModel):
    account_no: str = Field(min_length=13, max_length=13)
    title: Literal["star", "outstanding"] = Field(description="star = 百姓学习之星, outstanding = 优秀学员")
    category: str | None = Field(
        default=None, max_length=32, description="The category it was a candidate in"
    )
    from_: date | None = Field(default=None, alias="from", description="Default: 1 January this year")
    to: date | None = Field(default=None, description="Default: today")
    reason: Annotated[str | None, Field(max_length=500), OPTIONAL_PRINTED] = None
    """Printed on the award certificate (``kit.text``)."""


class AwardOut(BaseModel):
    id: str
    account_no: str
    name: str
    title_zh: str
    title_en: str | None
    district: str | None
    category: str | None
    from_: date = Field(alias="from")
    to: date
    credits: float
    hours: float
    reason: str | None
    awarded_at: datetime
    certificate_id: str | None


class ConsentIn(BaseModel):
    named: bool = Field(description="true: I agree to be named for recognition (学习激励)")


class ConsentOut(BaseModel):
    named: bool
    since: datetime | None
