"""What a POST with an ``Idempotency-Key`` answered, kept to answer the same again.

HTTP plumbing, not a domain: ``api.deps.write`` looks the key up before running a use case and
stores the answer in the same transaction. The table is registered in ``creditbank.models`` for
the migrations like every other.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Field, Session, SQLModel

from creditbank.kit import clock


class IdempotencyRecord(SQLModel, table=True):
    """What a POST with an ``Idempotency-Key`` answered, to answer the same again."""

    __tablename__ = "idempotency_record"
    principal: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=200)
    request_hash: str = Field(max_length=64)
    status_code: int
    response_body: str
    created_at: datetime


def serialise(session: Session, scope: str, key: str) -> None:
    """Retries with one Idempotency-Key run one after another, so the second sees the first's answer.

    SQLite writers are serialised already (BEGIN IMMEDIATE). On PostgreSQL a transaction-scoped
    advisory lock on the key makes a concurrent retry wait for the first to commit, then replay it.
    """
    if session.get_bind().dialect.name == "postgresql":
        lock_id = int.from_bytes(
            hashlib.sha256(f"{scope}\x00{key}".encode()).digest()[:8], "big", signed=True
        )
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})


def find(session: Session, scope: str, key: str) -> IdempotencyRecord | None:
    return session.get(IdempotencyRecord, (scope, key))


def remember(
    session: Session,
    scope: str,
    key: str,
    *,
    request_hash: str | None,
    status_code: int,
    body: Any,
    secret_fields: tuple[str, ...] = (),
) -> None:
    """Keeps ``body`` as the answer to ``key`` — without the fields named in ``secret_fields`` (an API
    key, an activation code, a session token: shown once), whichever route stores it (``redact``)."""
    session.add(
        IdempotencyRecord(
            principal=scope,
            key=key,
            request_hash=request_hash or "",
            status_code=status_code,
            response_body=json.dumps(redact(body, secret_fields), ensure_ascii=False),
            created_at=clock.now(),
        )
    )
    session.flush()


def redact(body: Any, secret_fields: tuple[str, ...]) -> Any:
    """``body`` without the secrets it carries, saying which were left out (``redacted``)."""
    if not isinstance(body, dict):
        return body
    gone = [name for name in secret_fields if body.get(name) is not None]
    if not gone:
        return body
    return body | dict.fromkeys(gone) | {"redacted": gone}
