"""transparency log: leaves, tiles, checkpoints, cosignatures; certificates point at their leaves

Existing history is logged once, in order: every ledger transaction (by seq), then every
certificate issue (by time), then every revocation (by time).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 20:59:27.356053
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _iso(ts) -> str:
    # kit.clock.iso as of this revision: millisecond UTC with 'Z'.
    if isinstance(ts, str):
        from datetime import datetime

        ts = datetime.fromisoformat(ts)
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _revocation_digest(certificate_id: str, credential_hash: str, revoked_at, reason: str | None) -> bytes:
    # certificates.service.revocation_digest as of this revision (RFC 8785 = sorted compact JSON here:
    # ASCII keys, string values).
    record = {
        "certificate": certificate_id,
        "credential_hash": credential_hash,
        "reason": reason,
        "revoked_at": _iso(revoked_at),
    }
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).digest()


def upgrade() -> None:
    op.create_table(
        "translog_checkpoint",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("kid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("size"),
    )
    op.create_table(
        "translog_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "translog_leaf",
        sa.Column(
            "leaf_index",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("ref", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("digest", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("leaf_index"),
    )
    op.create_table(
        "translog_tile",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("tile_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "tile_index"),
    )
    op.create_table(
        "translog_cosignature",
        sa.Column("checkpoint_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("witness", sa.String(length=200), nullable=False),
        sa.Column("key_id", sa.String(length=8), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["checkpoint_size"], ["translog_checkpoint.size"]),
        sa.PrimaryKeyConstraint("checkpoint_size", "witness", "key_id"),
    )
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.add_column(sa.Column("log_index", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("revoke_log_index", sa.BigInteger(), nullable=True))

    # Log the history written before the log existed.
    bind = op.get_bind()
    leaf = sa.table(
        "translog_leaf",
        sa.column("leaf_index", sa.BigInteger),
        sa.column("kind", sa.SmallInteger),
        sa.column("ref", sa.String),
        sa.column("digest", sa.LargeBinary),
    )
    certificate = sa.table(
        "certificate",
        sa.column("id", sa.String),
        sa.column("log_index", sa.BigInteger),
        sa.column("revoke_log_index", sa.BigInteger),
    )
    size = 0
    batch: list[dict] = []

    def add(kind: int, ref: str, digest: bytes) -> int:
        nonlocal size
        batch.append({"leaf_index": size, "kind": kind, "ref": ref, "digest": digest})
        size += 1
        if len(batch) >= 5000:
            bind.execute(leaf.insert(), batch)
            batch.clear()
        return size - 1

    for tx_id, tx_hash in bind.execute(sa.text("SELECT id, hash FROM ledger_transaction ORDER BY seq")):
        add(1, tx_id, bytes.fromhex(tx_hash))
    issued, revoked = [], []
    for cert_id, credential_hash in bind.execute(
        sa.text("SELECT id, credential_hash FROM certificate ORDER BY issued_at, id")
    ):
        issued.append({"cid": cert_id, "index": add(2, cert_id, bytes.fromhex(credential_hash))})
    for cert_id, credential_hash, revoked_at, reason in bind.execute(
        sa.text(
            "SELECT id, credential_hash, revoked_at, revoke_reason FROM certificate "
            "WHERE revoked_at IS NOT NULL ORDER BY revoked_at, id"
        )
    ):
        digest = _revocation_digest(cert_id, credential_hash, revoked_at, reason)
        revoked.append({"cid": cert_id, "index": add(3, cert_id, digest)})
    if batch:
        bind.execute(leaf.insert(), batch)
    if issued:
        bind.execute(
            certificate.update()
            .where(certificate.c.id == sa.bindparam("cid"))
            .values(log_index=sa.bindparam("index")),
            issued,
        )
    if revoked:
        bind.execute(
            certificate.update()
            .where(certificate.c.id == sa.bindparam("cid"))
            .values(revoke_log_index=sa.bindparam("index")),
            revoked,
        )
    op.execute(f"INSERT INTO translog_head (id, size) VALUES (1, {size})")

    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.alter_column("log_index", existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_unique_constraint("uq_certificate_log_index", ["log_index"])
        batch_op.create_unique_constraint("uq_certificate_revoke_log_index", ["revoke_log_index"])


def downgrade() -> None:
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.drop_constraint("uq_certificate_revoke_log_index", type_="unique")
        batch_op.drop_constraint("uq_certificate_log_index", type_="unique")
        batch_op.drop_column("revoke_log_index")
        batch_op.drop_column("log_index")
    op.drop_table("translog_cosignature")
    op.drop_table("translog_tile")
    op.drop_table("translog_leaf")
    op.drop_table("translog_head")
    op.drop_table("translog_checkpoint")
