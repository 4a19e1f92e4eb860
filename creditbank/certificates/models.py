"""Issued certificates and the status lists that can revoke them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from creditbank.kit.sealed import SealedText


class CertificateKind(StrEnum):
    achievement = "achievement"  # one completion
    transcript = "transcript"  # all credits at a point in time
    conversion = "conversion"
    qualification = "qualification"
    award = "award"  # a recognition the district office recorded (百姓学习之星, 优秀学员)


class Certificate(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("status_list_id", "status_index"),)
    id: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=16)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    credential_json: str = Field(sa_column=Column(SealedText, nullable=False))
    """The signed credential exactly as issued (JSON text; sealed at rest for legacy rows)."""
    credential_hash: str = Field(max_length=64)
    """SHA-256 of the RFC 8785 bytes of the signed credential: the 'integrity' check's reference."""
    printed_json: str = Field(sa_column=Column(SealedText, nullable=False))
    """What the PDF and the verification page show (``credentials.Printed`` as JSON)."""
    qr_payload: str = Field(sa_column=Column(SealedText, nullable=False))
    kid: str = Field(max_length=64)
    status_list_id: int = Field(foreign_key="status_list.id")
    status_index: int
    ledger_seq: int
    """Ledger position when issued: the certificate states the ledger as of this transaction."""
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False, unique=True))
    """The transparency-log leaf that records the issue (kind ``certificate_issued``)."""
    revoke_log_index: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True, unique=True)
    )
    """The leaf that records the revocation (kind ``certificate_revoked``)."""
    issued_by: str = Field(max_length=64)
    issued_at: datetime
    revoked_at: datetime | None = None
    revoke_reason: str | None = Field(default=None, max_length=500)
    parent_id: str | None = Field(default=None, foreign_key="certificate.id", index=True, max_length=40)
    """Set on a transcript line: the Open Badge embedded in transcript ``parent_id`` as its line n
    (id ``<parent_id>-<n>``), with a status entry of its own. ``None`` for a certificate issued on
    its own."""


class CertificateSource(SQLModel, table=True):
    """Which completions a certificate rests on: revoking one revokes the certificate."""

    __tablename__ = "certificate_source"
    certificate_id: str = Field(foreign_key="certificate.id", primary_key=True, max_length=40)
    completion_id: str = Field(foreign_key="completion.id", primary_key=True, max_length=40, index=True)


class StatusList(SQLModel, table=True):
    __tablename__ = "status_list"
    id: int = Field(default=None, primary_key=True)
    """Given by the database when the row is flushed, and read only after that: an int, not int | None."""
    purpose: str = Field(default="revocation", max_length=16)
    bits: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    """The raw bitstring (131 072 bits = 16 KiB); index i is bit i from the left."""
    next_index: int = 0
    version: int = 0
    updated_at: datetime


class ShareLink(SQLModel, table=True):
    """A learner's expiring, revocable link showing a verifier chosen certificates (SPEC §3.7)."""

    __tablename__ = "share_link"
    id: str = Field(primary_key=True, max_length=40)
    """``shr_`` + 192 random bits, the last part of the URL. Kept in clear like certificate ids: the
    learner must be able to copy the link again, and it shows only what the certificate ids show."""
    learner_id: int = Field(foreign_key="learner.id", index=True)
    note: str | None = Field(default=None, max_length=200)
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    open_count: int = 0
    """How often the link was opened (shown to the learner)."""
    last_opened_at: datetime | None = None


class ShareLinkCertificate(SQLModel, table=True):
    __tablename__ = "share_link_certificate"
    share_link_id: str = Field(foreign_key="share_link.id", primary_key=True, max_length=40)
    certificate_id: str = Field(foreign_key="certificate.id", primary_key=True, max_length=40, index=True)
