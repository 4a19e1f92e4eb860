"""What the log's JSON routes answer (SPEC §4). Hashes are standard base64, as in checkpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class CosignatureOut(BaseModel):
    witness: str = Field(description="The witness's key name")
    key_id: str = Field(description="Hex of the 4-byte signed-note key ID")
    timestamp: int = Field(description="When it cosigned (POSIX seconds, as signed)")


class CheckpointOut(BaseModel):
    origin: str = Field(description="The log's identity: the checkpoint's first line and its key name")
    tree_size: int
    root_hash: str = Field(description="Base64 RFC 9162 root of the first tree_size leaves")
    note: str = Field(description="The C2SP checkpoint as a signed note, cosignatures included")
    created_at: datetime
    cosignatures: list[CosignatureOut]


class InclusionProofOut(BaseModel):
    leaf_index: int
    tree_size: int
    leaf_hash: str = Field(description="Base64 SHA-256(0x00 ‖ entry)")
    inclusion_path: list[str] = Field(description="Base64 hashes, leaf side first (RFC 9162 §2.1.3)")


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    consistency_path: list[str] = Field(description="Base64 hashes (RFC 9162 §2.1.4)")


class LeafOut(BaseModel):
    leaf_index: int
    kind: str = Field(
        description="ledger_transaction | certificate_issued | certificate_revoked | outcome_version | "
        "rule_approved | rule_retired"
    )
    digest: str = Field(description="Hex SHA-256 of the event's RFC 8785 bytes")
    entry: str = Field(description="Base64 of the 33-byte log entry: kind byte ‖ digest")
    leaf_hash: str = Field(description="Base64 SHA-256(0x00 ‖ entry)")
    checkpointed: bool = Field(description="Whether a signed checkpoint already includes it")


class LogKeyOut(BaseModel):
    kid: str
    vkey: str = Field(description="C2SP signed-note verifier key: name+key ID+base64(0x01 ‖ key)")
    status: str = Field(description="active | retired | compromised (compromised keys vouch for nothing)")
    created_at: datetime
    retired_at: datetime | None = None
    compromised_at: datetime | None = None


class LogKeysOut(BaseModel):
    origin: str
    keys: list[LogKeyOut]
    witnesses: list[str] = Field(
        description="Verifier keys of the witnesses whose cosignatures are published"
    )


class CosignedOut(BaseModel):
    checkpoint_size: int
    witnesses: list[str] = Field(description="The witnesses whose cosignatures on it the bank now publishes")
