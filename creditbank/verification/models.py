"""How often each certificate was verified, per day (the statistics' 'certificates verified')."""

from __future__ import annotations

from datetime import date

from sqlmodel import Field, SQLModel


class VerificationTally(SQLModel, table=True):
    """Verifications of one certificate on one day (UTC), by id, QR, upload or the phone page."""

    __tablename__ = "verification_tally"
    day: date = Field(primary_key=True)
    certificate_id: str = Field(primary_key=True, max_length=40)
    """No foreign key: counting must never make a verification fail."""
    count: int
