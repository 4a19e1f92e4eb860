from __future__ import annotations

from datetime import datetime
from enum import StrEnum

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
