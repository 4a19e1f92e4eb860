"""What the ledger shows people: request and response bodies."""

from __future__ import annotations

from pydantic import BaseModel, Field


class BalanceOut(BaseModel):
    account_no: str
    total: float
    by_category: dict[str, float]
    by_level: dict[str, float]
    convertible: float = Field(description="Credits in lots that are neither expired, locked nor consumed")
