"""What the transparency log records of the catalogue: one leaf per published outcome version.

An outcome version is never updated (editing adds a version), and its text is what later
certificates sign: the title, category, level and credits of a line. Without a leaf an edit of the
row in the database would be signed into the next certificate and no audit could tell. The leaf's
digest is SHA-256 of the RFC 8785 record of the version's whole content — everything a publish sets
(``service.upsert``), with the institution's id, the code and the version; not the row id or the
time. ``creditbank audit`` recomputes it from the row (docs/ledger.md, "Auditing").
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from creditbank.catalogue.models import Outcome
from creditbank.kit import canonical
from creditbank.translog import sequencer
from creditbank.translog.models import LeafKind


def ref(outcome_id: int) -> str:
    """The leaf's ``ref``: which outcome row it records."""
    return f"outcome:{outcome_id}"


def record(outcome: Outcome) -> dict[str, Any]:
    return {
        "institution_id": outcome.institution_id,
        "code": outcome.code,
        "version": outcome.version,
        "title_zh": outcome.title_zh,
        "title_en": outcome.title_en,
        "category": outcome.category,
        "level": outcome.level,
        "credits_units": outcome.credits_units,
        "hours": outcome.hours,
        "credits_from_hours": outcome.credits_from_hours,
        "validity_years": outcome.validity_years,
        "min_score": outcome.min_score,
    }


def digest(outcome: Outcome) -> bytes:
    return canonical.digest(record(outcome))


def append(session: Session, outcome: Outcome) -> None:
    """Log a version just published, in the caller's transaction (its id must be flushed)."""
    sequencer.append(session, [(LeafKind.outcome_version, ref(outcome.id), digest(outcome))])
