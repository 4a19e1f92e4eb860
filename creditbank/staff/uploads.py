"""A clerk's upload of completions: the file read by ``completions.batchfile``, imported by
the staged import ``completions.imports.run`` in partial mode (each row is imported whole or
refused whole; a file-level problem — not CSV/XLSX, merged cells, missing columns, too many rows —
refuses the whole file), and the refused rows kept to download as an XLSX in the file's own
columns and headers, with the reasons in Chinese and in English, to fix and upload again. They are
kept as data and the spreadsheet is built when downloaded: for a 100 000-row file refused whole,
openpyxl took ~10 s, and the upload's answer (and the publishing transaction) waited for it.

Staged like ``POST /completions/batch`` (docs/scale.md, "Big imports"): a term-end upload holds the
ledger lock one chunk at a time, so other institutions' posts keep moving; the upload's rows
become visible together when it publishes, and the upload record (with the refused rows) is
written in that same publishing transaction.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from typing import IO, Any

from openpyxl import Workbook
from sqlmodel import Session, col, select

from creditbank.completions import imports
from creditbank.completions.batchfile import COLUMNS, FileInfo, Row, read_rows
from creditbank.completions.service import BatchReport
from creditbank.db import Database
from creditbank.errors import CreditbankError
from creditbank.kit import clock, sealed
from creditbank.kit.spreadsheet import xlsx_row
from creditbank.kit.tokens import new_id
from creditbank.staff.models import StaffUpload
from creditbank.staff.service import StaffUser, record

REASON_ZH_HEADER = "不合格原因"
REASON_EN_HEADER = "reason refused"
LINE_HEADER = "原行号 line"


@dataclass(frozen=True)
class Refused:
    line: int
    external_id: str | None
    account_no: str | None
    reasons_zh: list[str]
    reasons_en: list[str]
    codes: tuple[str, ...] = ()
    """The reasons' codes (keys of ``errors.CODES``), in the order of the reasons."""


@dataclass(frozen=True)
class ReasonCount:
    """How many refused rows share one reason (``code``), with the first such row's words as the
    example: a 100 000-row file refused for one reason reads as one line, not 100 000."""

    code: str
    rows: int
    first_line: int
    example_zh: str
    example_en: str


@dataclass(frozen=True)
class UploadResult:
    upload: StaffUpload
    refused: list[Refused]
    file: FileInfo
    """How the file was read: the sheet, the header's line, the columns not imported."""
    duplicates: list[dict[str, Any]]
    """Rows repeating an earlier line exactly (imported once): the report's warnings, the first
    ``completions.service.WARNINGS_LISTED`` of them."""
    duplicate_rows: int = 0
    """How many rows repeated an earlier line, listed or not."""

    def reasons(self) -> list[ReasonCount]:
        """Each reason's count of refused rows, the most frequent first (then the earliest)."""
        counts: dict[str, int] = {}
        first: dict[str, tuple[int, str, str]] = {}
        for row in self.refused:
            for code, zh, en in zip(row.codes, row.reasons_zh, row.reasons_en, strict=True):
                if code not in first:
                    first[code] = (row.line, zh, en)
                    counts[code] = 0
            for code in dict.fromkeys(row.codes):
                counts[code] += 1
        ordered = sorted(counts, key=lambda code: (-counts[code], first[code][0]))
        return [ReasonCount(code, counts[code], *first[code]) for code in ordered]


def import_upload(
    db: Database,
    *,
    user: StaffUser,
    institution_id: int,
    file: IO[bytes],
    filename: str | None,
    secret: bytes,
    max_rows: int,
) -> UploadResult:
    """Import the good rows, keep the refused ones (with reasons) for download. Commits in steps
    (``completions.imports.run``); an error raised here (a file-level problem, too many rows, the
    institution's other import still running) leaves nothing imported that anyone can see."""
    values: dict[int, dict[str, Any]] = {}
    headers: dict[str, str] = {}
    info = FileInfo()

    def rows() -> Iterator[tuple[int, dict[str, Any]] | tuple[int, str, dict[str, Any]]]:
        for r in read_rows(file, filename=filename, max_rows=max_rows, headers=headers, info=info):
            if isinstance(r, Row):
                values[r.line] = r.values
                yield r.line, r.values
            else:
                if r.values is not None:  # refused by the reader, but read: given back to fix
                    values[r.line] = r.values
                yield r.line, r.code, r.params

    done: list[UploadResult] = []

    def publish(session: Session, report: BatchReport) -> None:
        done.append(
            _record_upload(session, user, institution_id, filename, report, values, headers, secret, info)
        )

    imports.run(
        db,
        institution_id=institution_id,
        api_key_id=None,
        staff_id=user.id,
        secret=secret,
        rows=rows,
        mode="partial",
        on_publish=publish,
    )
    return done[0]


def _record_upload(
    session: Session,
    user: StaffUser,
    institution_id: int,
    filename: str | None,
    report: BatchReport,
    values: dict[int, dict[str, Any]],
    headers: dict[str, str],
    secret: bytes,
    info: FileInfo,
) -> UploadResult:
    """The upload's record and the staff action, in the transaction that publishes its rows. The
    refused rows are kept sealed with the deployment secret: their ``national_id`` column holds ID
    numbers in clear, which nothing stored may show (SPEC §3.2); the clerk's download opens them."""
    by_line: dict[int, list[dict[str, Any]]] = {}
    for error in report.errors:
        by_line.setdefault(error["line"], []).append(error)
    refused = [
        Refused(
            line=line,
            external_id=(values.get(line) or {}).get("external_id"),
            account_no=(values.get(line) or {}).get("account_no"),
            reasons_zh=[e["message_zh"] for e in errors],
            reasons_en=[e["message_en"] for e in errors],
            codes=tuple(e["code"] for e in errors),
        )
        for line, errors in sorted(by_line.items())
    ]
    upload = StaffUpload(
        id=new_id("upl"),
        institution_id=institution_id,
        staff_id=user.id,
        created_at=clock.now(),
        filename=(filename or "upload")[:200],
        total_rows=report.total_rows,
        accepted=report.accepted,
        replayed=report.replayed,
        rejected=report.rejected,
        refused_rows=sealed.seal_bytes(_refused_rows(refused, values, headers), secret) if refused else None,
    )
    session.add(upload)
    session.flush()
    record(
        session,
        user,
        "upload",
        f"{upload.filename}: {report.accepted} imported, {report.replayed} already there, "
        f"{report.rejected} refused ({upload.id})",
    )
    return UploadResult(
        upload=upload,
        refused=refused,
        file=info,
        duplicates=list(report.warnings),
        duplicate_rows=report.duplicates,
    )


def _refused_rows(
    refused: list[Refused], values: dict[int, dict[str, Any]], headers: dict[str, str]
) -> bytes:
    """The refused rows in the uploaded file's own columns and headers (``headers``: column → the
    header the file gave it; every column the importer reads when it is empty), then the reasons
    in Chinese and in English, one column each, and the original line: ``{titles, rows}`` as
    compressed JSON, what ``_workbook`` makes the download of (~0.3 s for 100 000 rows)."""
    columns = list(headers) or list(COLUMNS)
    titles = [*(headers.get(c, c) for c in columns), REASON_ZH_HEADER, REASON_EN_HEADER, LINE_HEADER]
    rows = []
    for item in refused:
        row = values.get(item.line) or {}
        rows.append(
            [
                *(_cell(row.get(c)) for c in columns),
                "；".join(item.reasons_zh),
                "; ".join(item.reasons_en),
                item.line,
            ]
        )
    text = json.dumps({"titles": titles, "rows": rows}, ensure_ascii=False, separators=(",", ":"))
    return zlib.compress(text.encode(), 1)


def _workbook(titles: list[str], rows: list[list[Any]]) -> bytes:
    """The download. The file uploads again as it is: ``batchfile.IGNORED`` names the three extra
    columns. The cells are the uploader's text, so they go through ``kit.spreadsheet``: never a
    formula in Excel."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("refused 不合格")
    sheet.append(xlsx_row(sheet, titles))
    for row in rows:
        sheet.append(xlsx_row(sheet, row))
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: Any) -> Any:
    return value if value is None or isinstance(value, int | float) else str(value)


def refused_file(session: Session, *, institution_id: int, upload_id: str) -> tuple[StaffUpload, bytes]:
    """The upload and its refused rows as the XLSX the clerk downloads (opened with the secret)."""
    upload = session.get(StaffUpload, upload_id)
    if upload is None or upload.institution_id != institution_id:
        raise CreditbankError("upload_not_found")
    if upload.refused_rows is not None:
        kept = json.loads(zlib.decompress(sealed.unseal_bytes(upload.refused_rows)))
        return upload, _workbook(kept["titles"], kept["rows"])
    if upload.refused_xlsx is None:  # nothing was refused
        raise CreditbankError("upload_not_found")
    return upload, sealed.unseal_bytes(upload.refused_xlsx)  # an upload made before migration 0024


def recent(session: Session, *, institution_id: int, limit: int = 10) -> list[StaffUpload]:
    return list(
        session.exec(
            select(StaffUpload)
            .where(col(StaffUpload.institution_id) == institution_id)
            .order_by(col(StaffUpload.created_at).desc())
            .limit(limit)
        )
    )
