from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel


class InstitutionState(StrEnum):
    pending = "pending"
    accredited = "accredited"
    suspended = "suspended"
    """Cannot post new completions; credits already posted stay valid."""


class Institution(SQLModel, table=True):
    id: int = Field(default=None, primary_key=True)
    """Given by the database when the row is flushed, and read only after that: an int, not int | None."""
    code: str = Field(unique=True, max_length=32)
    name_zh: str = Field(max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    kind: str | None = Field(default=None, max_length=40)
    """e.g. community_college, senior_university, open_university, vocational_school."""
    district: str | None = Field(default=None, max_length=100)
    """区/县 (statistics: coverage is counted where an accredited institution stands)."""
    township: str | None = Field(default=None, max_length=100)
    """乡镇/街道 where it teaches."""
    village: str | None = Field(default=None, max_length=100)
    """村/社区, for a community school or learning point in a village or residential community."""
    state: str = Field(default=InstitutionState.pending, max_length=16)
    created_at: datetime


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    id: str = Field(primary_key=True, max_length=40)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    key_hash: str = Field(unique=True, max_length=64)
    """SHA-256 of the key; the key itself is shown once and never stored."""
    label: str | None = Field(default=None, max_length=100)
    created_at: datetime
    revoked_at: datetime | None = None


class OperatorToken(SQLModel, table=True):
    __tablename__ = "operator_token"
    id: int = Field(default=None, primary_key=True)
    """Given by the database when the row is flushed, and read only after that: an int, not int | None."""
    token_hash: str = Field(unique=True, max_length=64)
    created_at: datetime


class Area(SQLModel, table=True):
    """One 乡镇/街道 (``village`` empty) or one 村/社区 of a district: the denominators of coverage."""

    __tablename__ = "stats_area"
    __table_args__ = (UniqueConstraint("district", "township", "village"),)
    id: int = Field(default=None, primary_key=True)
    """Given by the database when the row is flushed, and read only after that: an int, not int | None."""
    district: str = Field(max_length=100)
    """区/县 (e.g. 永川区). The districts of the area list and the population are the bank's districts:
    learners' and institutions' districts are written as one of them (``institutions.districts``)."""
    township: str = Field(max_length=100)
    """乡镇/街道."""
    village: str = Field(default="", max_length=100)
    """村/社区; empty for the 乡镇/街道 row itself."""


class Population(SQLModel, table=True):
    """Resident population of a district in one age band (entered on a page or imported from CSV)."""

    __tablename__ = "stats_population"
    district: str = Field(primary_key=True, max_length=100)
    age_band: str = Field(primary_key=True, max_length=16)
    """An ``AgeBand`` value."""
    residents: int
    updated_at: datetime
