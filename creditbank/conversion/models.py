"""Conversion rules, qualifications and conversion requests (SPEC §3.5–§3.6)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class RuleState(StrEnum):
    proposed = "proposed"
    approved = "approved"
    retired = "retired"
    rejected = "rejected"
    """Not approved by the operator, with a reason for the owner; never used (proposing the same
    code again starts a new version)."""


class Qualification(SQLModel, table=True):
    """A programme (专业/资历) with credit requirements. Editing adds a version."""

    __table_args__ = (UniqueConstraint("code", "version"),)
    id: int = Field(default=None, primary_key=True)
    """Given by the database when the row is flushed, and read only after that: an int, not int | None."""
    code: str = Field(max_length=64)
    version: int
    owner_institution_id: int = Field(foreign_key="institution.id")
    name_zh: str = Field(max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    total_units: int
    max_transfer_ratio: float | None = None
    """At most this share of ``total_units`` may come from conversions (e.g. 0.5)."""
    per_year_cap_units: int | None = None
    per_institution_cap_units: int | None = None
    requirements_json: str = Field(sa_column=Column(Text, nullable=False))
    """``[{"category", "min_units"} | {"outcome": "INST:CODE"}]``."""
    created_at: datetime


class ConversionRule(SQLModel, table=True):
    __tablename__ = "conversion_rule"
    __table_args__ = (UniqueConstraint("owner_institution_id", "code", "version"),)
    id: int = Field(default=None, primary_key=True)
    """Given by the database when the row is flushed, and read only after that: an int, not int | None."""
    code: str = Field(max_length=64)
    version: int
    owner_institution_id: int = Field(foreign_key="institution.id")
    name_zh: str = Field(max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    target_outcome_id: int = Field(foreign_key="outcome.id")
    """The target outcome version current when the rule was proposed."""
    credits_units: int | None = None
    ratio: float | None = None
    source_json: str = Field(sa_column=Column(Text, nullable=False))
    """``{"all_of": [ref…]}`` | ``{"any_n_of": {"n", "outcomes"}}`` | ``{"credits": {category, min_level, amount, within_years}}``."""
    effective_from: date
    effective_until: date | None = None
    qualification_id: int | None = Field(default=None, foreign_key="qualification.id")
    state: str = Field(default=RuleState.proposed, max_length=16)
    created_at: datetime
    approved_at: datetime | None = None
    retired_at: datetime | None = None
    rejected_at: datetime | None = None
    rejection_reason: str | None = Field(default=None, max_length=500)
    """The operator's words to the proposing institution."""


class ConversionState(StrEnum):
    pending = "pending"
    """Lots locked, awaiting the target institution's decision (TigerBeetle's pending transfer)."""
    approved = "approved"
    rejected = "rejected"
    expired = "expired"
    reversed = "reversed"
    """Undone by a forced revocation cascade."""
    withdrawn = "withdrawn"
    """Taken back by the learner before a decision; its locks released as a rejection releases them."""
    superseded = "superseded"
    """Ended while pending because the target institution posted the target outcome itself to the
    learner (a completion of any version of it): the course is held once, through the completion,
    and the request's locks are released as a rejection releases them. ``decided_by`` is
    ``completion:<id>``, the completion that ended it."""


class Conversion(SQLModel, table=True):
    __table_args__ = (Index("ix_conversion_learner_state", "learner_id", "state"),)
    id: str = Field(primary_key=True, max_length=40)
    learner_id: int = Field(foreign_key="learner.id")
    rule_id: int = Field(foreign_key="conversion_rule.id")
    qualification_id: int | None = Field(default=None, foreign_key="qualification.id")
    state: str = Field(default=ConversionState.pending, max_length=16)
    grant_units: int
    bound_by_cap: str | None = Field(default=None, max_length=32)
    requested_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=500)
    transaction_id: str | None = Field(default=None, max_length=40)
    target_lot_id: str | None = Field(default=None, max_length=40)
    reversal_transaction_id: str | None = Field(default=None, max_length=40)


class ConversionLot(SQLModel, table=True):
    """A lot a conversion locked (and, once approved, consumed), with the share of the grant it earned."""

    __tablename__ = "conversion_lot"
    # Over-use is stopped by the lot's own CHECK (consumed + locked ≤ amount) under a row lock;
    # partial use means two requests may rightly hold different parts of one lot.
    __table_args__ = (CheckConstraint("units > 0", name="positive"),)
    conversion_id: str = Field(foreign_key="conversion.id", primary_key=True, max_length=40)
    lot_id: str = Field(foreign_key="lot.id", primary_key=True, max_length=40, index=True)
    units: int
    granted_units: int
    institution_code: str = Field(max_length=32)
