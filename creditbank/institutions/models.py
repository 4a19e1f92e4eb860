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
