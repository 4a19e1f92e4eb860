"""The catalogue's request and response bodies (SPEC §3.3)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from creditbank.catalogue.models import Category
from creditbank.errors import CreditbankError
from creditbank.kit.text import OPTIONAL_PRINTED, PRINTED


class OutcomeSpec(BaseModel):
    """What an institution says about one outcome (PUT /catalogue/{code})."""

    title_zh: Annotated[str, Field(min_length=1, max_length=200), PRINTED]
    """Printed and signed on certificates: normalised (``kit.text``), never blank."""
    title_en: Annotated[str | None, Field(max_length=200), OPTIONAL_PRINTED] = None
    category: Category
    level: int = Field(ge=1, le=10)
    credits: float | None = Field(default=None, ge=0, le=1000, multiple_of=0.01)
    hours: float | None = Field(default=None, ge=0, le=100000)
    validity_years: int | None = Field(default=None, ge=1, le=100)
    min_score: float | None = Field(default=None, ge=0, le=1000)

    @model_validator(mode="after")
    def _credits_or_hours(self) -> OutcomeSpec:
        if self.credits is None and self.hours is None:
            raise CreditbankError("credits_or_hours_required")
        return self


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
