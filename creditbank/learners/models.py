from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class Learner(SQLModel, table=True):
    id: int = Field(default=None, primary_key=True)
    """Given by the database when the row is flushed, and read only after that: an int, not int | None."""
    account_no: str = Field(unique=True, max_length=13)
    id_hmac: str = Field(unique=True, max_length=64)
    """HMAC-SHA256 of the normalised 身份证号 with the deployment secret: matches re-enrolments."""
    id_masked: str = Field(max_length=18)
    """Region code + asterisks (``kit.idcard.mask``): with birth_year and gender it still leaves
    ≥ 10 000 candidate numbers (docs/privacy.md)."""
    name: str = Field(max_length=100)
    birth_year: int
    """Only the year: the full birth date would give digits 7–14 of the ID number away."""
    gender: str = Field(max_length=8)
    phone: str | None = Field(default=None, max_length=20)
    district: str | None = Field(default=None, max_length=100)
    """区/县 where the learner lives (statistics group and match the population by it)."""
    township: str | None = Field(default=None, max_length=100)
    """乡镇/街道 (statistics: participation by 乡镇/街道)."""
    village: str | None = Field(default=None, max_length=100)
    """村/社区."""
    named_consent_at: datetime | None = None
    """When the learner agreed, in the portal, to be named for recognition (学习激励); None = not."""
    enrolled_by_id: int | None = Field(default=None, foreign_key="institution.id")
    created_at: datetime
    password_hash: str | None = Field(default=None, max_length=200)
    activated_at: datetime | None = None


class ActivationCode(SQLModel, table=True):
    """One enrolment's activation code. Several can be live at once — each desk that enrols the
    person hands over its own slip — until one of them activates the account; then all are gone."""

    __tablename__ = "activation_code"
    id: int | None = Field(default=None, primary_key=True)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    code_hmac: str = Field(max_length=64)
    """HMAC-SHA256(deployment secret, account number + code): useless without the secret."""
    institution_id: int | None = Field(default=None, foreign_key="institution.id")
    """Who enrolled (None: the operator)."""
    created_at: datetime
    expires_at: datetime


class InstitutionLearner(SQLModel, table=True):
    """An institution may read a learner's balance once it enrolled or taught them."""

    __tablename__ = "institution_learner"
    institution_id: int = Field(foreign_key="institution.id", primary_key=True)
    learner_id: int = Field(foreign_key="learner.id", primary_key=True, index=True)


class LearnerSession(SQLModel, table=True):
    __tablename__ = "learner_session"
    token_hash: str = Field(primary_key=True, max_length=64)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    created_at: datetime
    expires_at: datetime


class DeploymentSecret(SQLModel, table=True):
    """A fingerprint of the deployment secret the learners' ID numbers were matched with."""

    __tablename__ = "deployment_secret"
    id: int = Field(default=1, primary_key=True)
    fingerprint: str = Field(max_length=64)
    """HMAC-SHA256(secret, a fixed label): tells a changed secret apart, reveals nothing of it."""
    recorded_at: datetime


class NameCorrection(SQLModel, table=True):
    """One correction of a learner's stored name (``learners.names``). Append-only: rows are added,
    never changed or deleted — the name a certificate signed before a correction stays on record
    beside who changed it, when and why. The ID number is never corrected here (another ID number
    is another person: a new enrolment)."""

    __tablename__ = "learner_name_correction"
    id: str = Field(primary_key=True, max_length=40)
    """``ncr_`` + an ordered id: sorts by creation."""
    learner_id: int = Field(foreign_key="learner.id", index=True)
    old_name: str = Field(max_length=100)
    """Exactly as it was stored, odd characters and all (a name from before ``kit.text``)."""
    new_name: str = Field(max_length=100)
    reason: str = Field(max_length=500)
    institution_id: int | None = Field(default=None, foreign_key="institution.id")
    """The enrolling institution that corrected it; None: the operator (the district office)."""
    corrected_by: str = Field(max_length=40)
    """Who, as records name callers: ``inst:3`` (an API key), ``staff:12``, ``operator``, ``operator:1``."""
    corrected_at: datetime
