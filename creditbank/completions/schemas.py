"""Completions, one at a time and in batches: request and response bodies (SPEC §3.4)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field


class CompletionIn(BaseModel):
    external_id: str = Field(
        min_length=1, max_length=100, description="Your system's id: (institution, external_id) is unique"
    )
    account_no: str | None = Field(default=None, examples=["CB0123456789X"])
    national_id: str | None = None
    outcome_code: str = Field(min_length=1, max_length=64)
    completed_on: date
    score: float | None = Field(default=None, ge=0, le=100000)
    hours: float | None = Field(default=None, ge=0, le=100000)


class CompletionOut(BaseModel):
    id: str
    external_id: str
    account_no: str
    outcome_code: str
    credits: float
    transaction_id: str
    completed_on: date
    state: Literal["active", "revoked"]


class BatchJsonIn(BaseModel):
    mode: Literal["all_or_nothing", "partial"] = "all_or_nothing"
    rows: list[dict] = Field(max_length=100_000, description="Objects with the CSV columns as keys")


class RowErrorOut(BaseModel):
    line: int
    code: str
    message_zh: str
    message_en: str
    field: str | None = None


class FileReadOut(BaseModel):
    header_line: int = Field(description="The line the header was found on (a title above it is skipped)")
    sheet: str | None = Field(
        default=None, description="XLSX: the sheet read (the active one, or the one with a header)"
    )
    ignored_columns: list[str] = Field(
        default_factory=list,
        description="Columns beyond the importer's (备注, 班级…), as written: not imported",
    )


class BatchReportOut(BaseModel):
    mode: str
    total_rows: int
    accepted: int
    replayed: int
    rejected: int
    duplicates: int = Field(
        default=0,
        description="Rows the same as an earlier line word for word: imported once, listed in warnings",
    )
    committed: bool
    errors: list[RowErrorOut] = Field(
        description="Refused rows with their messages: the first 100 of each code by line; error_counts "
        "counts them all and error_lines gives every refused row's line"
    )
    error_counts: dict[str, int] = Field(
        default_factory=dict,
        description="Every error code → its number of refused rows, including those beyond the 100 listed",
        examples=[{"outcome_not_found": 2}],
    )
    error_lines: dict[str, list[int]] = Field(
        default_factory=dict,
        description="Every error code → the line of each refused row with it, in order (all of them)",
        examples=[{"outcome_not_found": [3, 7]}],
    )
    warnings: list[RowErrorOut] = Field(
        default_factory=list,
        description="Rows not refused but worth a look: duplicate_in_file (with the first line) — the "
        "first 100 by line; warning_counts counts them all",
    )
    warning_counts: dict[str, int] = Field(
        default_factory=dict,
        description="Every warning's code → its number of rows, including those beyond the 100 listed",
        examples=[{"duplicate_in_file": 2}],
    )
    file: FileReadOut | None = Field(
        default=None, description="How an uploaded CSV/XLSX was read; null for JSON"
    )


class RevokeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500, examples=["成绩登记错误"])
    force: bool = Field(
        default=False,
        description="Operator only: also undo the conversions that used these credits "
        "and revoke the certificates resting on them",
    )
