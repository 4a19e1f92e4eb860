from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel


class Category(StrEnum):
    academic = "academic"  # 学历教育
    vocational_training = "vocational_training"  # 职业培训
    vocational_certificate = "vocational_certificate"  # 职业技能等级证书
    community = "community"  # 社区教育
    senior = "senior"  # 老年教育
    culture_leisure = "culture_leisure"  # 文化休闲


CATEGORY_ZH: dict[str, str] = {
    Category.academic: "学历教育",
    Category.vocational_training: "职业培训",
    Category.vocational_certificate: "职业技能等级证书",
    Category.community: "社区教育",
    Category.senior: "老年教育",
    Category.culture_leisure: "文化休闲",
}


class Outcome(SQLModel, table=True):
    """One version of a catalogue entry. Editing never updates a row: it adds the next version."""

    __table_args__ = (UniqueConstraint("institution_id", "code", "version"),)
    id: int = Field(default=None, primary_key=True)
    """Given by the database when the row is flushed, and read only after that: an int, not int | None."""
    institution_id: int = Field(foreign_key="institution.id")
    code: str = Field(max_length=64)
    version: int
    title_zh: str = Field(max_length=200)
    title_en: str | None = Field(default=None, max_length=200)
    category: str = Field(max_length=32)
    level: int
    """Framework level 1–10."""
    credits_units: int
    """Credits in hundredths (150 = 1.5 credits)."""
    hours: float | None = None
    credits_from_hours: bool = False
    """True when the institution gave hours only and credits were derived (SPEC §3.3)."""
    validity_years: int | None = None
    """How long credits stay usable for conversion; None = forever."""
    min_score: float | None = None
    created_at: datetime
