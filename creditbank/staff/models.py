from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import LargeBinary
from sqlmodel import Column, Field, SQLModel

from creditbank.kit.sealed import SealedText


class StaffRole(StrEnum):
    clerk = "clerk"
    """Catalogue, enrolment, completions, uploads."""
    approver = "approver"
    """Conversion decisions and revocations."""


class StaffAccount(SQLModel, table=True):
    """A person at an institution who signs in to the console (username + password, argon2id)."""

    __tablename__ = "staff_account"
    id: int = Field(default=None, primary_key=True)
    """Given by the database when the row is flushed, and read only after that: an int, not int | None."""
    institution_id: int = Field(foreign_key="institution.id", index=True)
    username: str = Field(unique=True, max_length=64)
    name: str = Field(max_length=100)
    roles: str = Field(max_length=40)
    """Space-separated ``StaffRole`` values, e.g. ``"clerk approver"``."""
    password_hash: str = Field(max_length=200)
    created_at: datetime
    disabled_at: datetime | None = None


class OperatorAccount(SQLModel, table=True):
    """A person at the operator (the district office): password + TOTP second factor."""

    __tablename__ = "operator_account"
    id: int = Field(default=None, primary_key=True)
    """Given by the database when the row is flushed, and read only after that: an int, not int | None."""
    username: str = Field(unique=True, max_length=64)
    name: str = Field(max_length=100)
    password_hash: str = Field(max_length=200)
    totp_secret: str = Field(sa_column=Column(SealedText, nullable=False))
    """Base32 TOTP secret (RFC 6238), sealed at rest with the deployment secret (``kit.sealed``)."""
    totp_last_step: int | None = None
    """The last 30-second step a code was accepted for: a code works once."""
    created_at: datetime
    disabled_at: datetime | None = None


class StaffSession(SQLModel, table=True):
    """A signed-in browser of a staff or operator account; only the token's hash is stored."""

    __tablename__ = "staff_session"
    token_hash: str = Field(primary_key=True, max_length=64)
    staff_id: int | None = Field(default=None, foreign_key="staff_account.id", index=True)
    operator_id: int | None = Field(default=None, foreign_key="operator_account.id", index=True)
    created_at: datetime
    expires_at: datetime


class StaffAction(SQLModel, table=True):
    """Who did what through the pages: every change made in a staff or operator session."""

    __tablename__ = "staff_action"
    id: int = Field(default=None, primary_key=True)
    """Given by the database when the row is flushed, and read only after that: an int, not int | None."""
    at: datetime
    staff_id: int | None = Field(default=None, foreign_key="staff_account.id", index=True)
    operator_id: int | None = Field(default=None, foreign_key="operator_account.id")
    institution_id: int | None = Field(default=None, foreign_key="institution.id", index=True)
    action: str = Field(max_length=40)
    subject: str = Field(max_length=300)


class StaffUpload(SQLModel, table=True):
    """One console upload's outcome, kept so the refused rows can be downloaded to fix."""

    __tablename__ = "staff_upload"
    id: str = Field(primary_key=True, max_length=40)
    institution_id: int = Field(foreign_key="institution.id", index=True)
    staff_id: int = Field(foreign_key="staff_account.id")
    created_at: datetime
    filename: str = Field(max_length=200)
    total_rows: int
    accepted: int
    replayed: int
    rejected: int
    refused_xlsx: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    """The refused rows as an XLSX, sealed: uploads made before migration 0024."""
    refused_rows: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    """The refused rows as the download shows them (``staff.uploads``): compressed JSON, sealed with
    the deployment secret (the file's ID numbers are in it); the XLSX is built when downloaded."""
