from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, Index, UniqueConstraint, and_, or_, text
from sqlmodel import Field, SQLModel, col

from creditbank.ledger.queries import released


class CompletionState(StrEnum):
    active = "active"
    revoked = "revoked"
    pending = "pending"
    """Written by a batch import: invisible and not spendable until the import is published, live
    from then on (``live()``: its ``lot_batch`` is released) and turned ``active`` soon after
    (``completions.imports``)."""


class ImportState(StrEnum):
    running = "running"
    published = "published"
    failed = "failed"
    abandoned = "abandoned"
    """Given up by the operator (``imports.abandon``): its pending rows reversed on the ledger."""


class CompletionImport(SQLModel, table=True):
    """One staged batch import: its rows are committed in chunks as ``pending`` and become
    visible together when the import is published (one short transaction)."""

    __tablename__ = "completion_import"
    __table_args__ = (Index("ix_completion_import_institution_state", "institution_id", "state"),)
    id: str = Field(primary_key=True, max_length=40)
    institution_id: int = Field(foreign_key="institution.id")
    state: str = Field(default=ImportState.running, max_length=16)
    rows: int = 0
    """Rows written so far (pending), then the rows published."""
    started_at: datetime
    heartbeat_at: datetime
    """Moved by every committed chunk: a running import whose heartbeat is older than
    ``imports.LEASE`` is dead, and a retry of the same file may adopt its rows."""
    finished_at: datetime | None = None


class Completion(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("institution_id", "external_id"),
        # A learner earns an outcome once; a revoked record does not block a corrected re-post.
        Index(
            "uq_completion_active_outcome",
            "institution_id",
            "learner_id",
            "outcome_code",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
        # A staged import finds its own pending rows (settling them chunk by chunk, abandoning).
        Index("ix_completion_import_state", "import_id", "state"),
    )
    id: str = Field(primary_key=True, max_length=40)
    institution_id: int = Field(foreign_key="institution.id")
    external_id: str = Field(max_length=100)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    outcome_id: int = Field(foreign_key="outcome.id")
    outcome_code: str = Field(max_length=64)
    completed_on: date
    score: float | None = None
    hours: float | None = None
    credits_units: int
    content_hash: str = Field(max_length=64)
    """Digest of what the institution said (see ``completions.rules.content``): replay vs conflict."""
    api_key_id: str | None = Field(default=None, max_length=40)
    """Which key posted it (None when the operator did)."""
    staff_id: int | None = Field(default=None, foreign_key="staff_account.id")
    """Which staff account posted it through the console (None for the API and the CLI)."""
    transaction_id: str = Field(max_length=40)
    state: str = Field(default=CompletionState.active, max_length=16)
    created_at: datetime
    revoked_at: datetime | None = None
    revoke_reason: str | None = Field(default=None, max_length=500)
    revoke_transaction_id: str | None = Field(default=None, max_length=40)
    revoked_by: str | None = Field(default=None, max_length=64)
    """Who revoked it: ``inst:<id>`` (an API key), ``operator``, ``staff:<id>`` (a console session)."""
    import_id: str | None = Field(default=None, max_length=40)
    """The staged import that wrote it (``completion_import``); None for single posts and the
    single-transaction ``import_rows``."""


def live() -> ColumnElement[bool]:
    """A completion that counts (shown, certifiable, blocks a second one of the same outcome):
    ``active``, or ``pending`` of a published import not yet settled (its ``lot_batch`` released).
    The completions twin of ``ledger.queries.lot_live``; readers use it, never ``state = 'active'``
    alone."""
    return or_(
        col(Completion.state) == CompletionState.active,
        and_(col(Completion.state) == CompletionState.pending, col(Completion.import_id).in_(released())),
    )
