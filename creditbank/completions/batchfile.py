"""Reading an uploaded batch file (CSV or XLSX) as a stream of numbered rows.

Institutions export learning completions from their LMS and upload them here. This module only
deals with the *file*: which format it is, which text encoding, which columns, which rows are
blank or broken. It never interprets a value (dates, IDs, scores are checked by the importer).

Everything is streamed: the upload may be tens of MB and memory must not grow with it. CSV goes
through ``io.TextIOWrapper`` + ``csv.reader``; XLSX through openpyxl's read-only mode. Line numbers
are the ones the uploader sees in an editor or in Excel (the header is line 1), because that is
what they will look for when fixing a rejected row.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any, NamedTuple
from xml.etree import ElementTree as ET

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from creditbank.errors import CreditbankError
from creditbank.kit import idcard

COLUMNS = (
    "external_id",
    "account_no",
    "national_id",
    "outcome_code",
    "completed_on",
    "score",
    "hours",
    "name",
)
"""The importer's columns. ``name`` (姓名) is not imported: when a file has it, each row's name is
checked against the learner's registered name (``name_mismatch``: a wrong ID number)."""
REQUIRED = ("external_id", "outcome_code", "completed_on")  # plus at least one of account_no / national_id
LEARNER_REFS = ("account_no", "national_id")
IGNORED = frozenset({"不合格原因", "reason_refused", "原行号_line", "不合格原因_reason"})
"""Columns the console's refused-rows file adds (the reasons in Chinese and in English, the
original line; 不合格原因_reason from files downloaded before the two were split): read and
ignored, so the fixed file uploads again as it is."""

HEADER_SEARCH_LINES = 10
"""The header may be on any of the first lines: WPS and LMS reports put a title (永川区社区教育学院2026年
春季结业名单), a date or a note above it. The first line naming every required column is the header."""
ACCEPTED_ZH = (
    "外部编号 external_id、学习账号 account_no 或 身份证号 national_id、成果代码 outcome_code、"
    "完成日期 completed_on，可选 成绩 score、学时 hours、姓名 name"
)
ACCEPTED_EN = (
    "external_id (外部编号), account_no (学习账号) or national_id (身份证号), outcome_code (成果代码), "
    "completed_on (完成日期), optionally score (成绩), hours (学时) and name (姓名)"
)
"""The columns a header must name, for the messages that say what a file lacks."""

# Header names Chinese institutions actually use in their exports.
ALIASES = {
    "外部编号": "external_id",
    "学习账号": "account_no",
    "账户号": "account_no",
    "身份证号": "national_id",
    "成果代码": "outcome_code",
    "课程代码": "outcome_code",
    "完成日期": "completed_on",
    "成绩": "score",
    "学时": "hours",
    "姓名": "name",
    "学员姓名": "name",
    "学生姓名": "name",
}

_HEADER_WORDS = frozenset(COLUMNS)
_XLSX_MAGIC = b"PK\x03\x04"
# An old .xls (OLE2; Excel 97–2003, and what many office systems still export) is the file people
# upload by mistake most: refused with the fix (save as .xlsx), not a baffling "unknown encoding".
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Other files uploaded by mistake.
_BINARY_MAGIC = (
    b"\xd0\xcf\x11\xe0",  # other OLE2 files: .doc
    b"%PDF-",
    b"\x89PNG",
    b"\xff\xd8\xff",  # JPEG
    b"GIF8",
    b"\x1f\x8b",  # gzip
    b"Rar!",
    b"7z\xbc\xaf",
)
_SNIFF_BYTES = 4096
_CHUNK = 256 * 1024  # encoding check reads this much at a time; keeps the peak small and flat
_MAX_MERGED_SHOWN = 5

# Zip-bomb limits (issue 9, item 2): a 3 MB XLSX whose workbook.xml inflated to 3 GB took the
# server to 6.4 GB RSS. zipfile never inflates a member past its declared size (it stops there
# and fails the CRC), so checking the declared sizes in the central directory before reading
# anything bounds every read below. A real export of 100 000 rows x 7 columns has a sheet of
# ~40 MB and a few MB of everything else.
XLSX_MAX_SHEET_BYTES = 256 * 1024 * 1024  # streamed, never held: bounds time, not memory
XLSX_MAX_SHARED_STRINGS_BYTES = 64 * 1024 * 1024  # openpyxl holds the table in memory
XLSX_MAX_PART_BYTES = 4 * 1024 * 1024  # workbook, rels, styles, theme…: parsed whole
XLSX_MAX_TOTAL_BYTES = 320 * 1024 * 1024
XLSX_MAX_RATIO = 100  # inflated / compressed, for members over 1 MB inflated
XLSX_MAX_CELLS_PER_ROW = 1024
SHARED_STRINGS_PER_ROW = (
    4  # external_id, the learner reference and the name may be unique per row; codes repeat
)

# What openpyxl / zipfile raise on a damaged or non-xlsx zip. They are wide types, so they are only
# ever caught around library calls, never around our own code.
_XLSX_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    InvalidFileException,
    ET.ParseError,
    zlib.error,
    KeyError,
    ValueError,
    TypeError,
    EOFError,
    OSError,
)


class Row(NamedTuple):
    """One data row (a named tuple: made once per row and pass of an import, ~4x quicker to build
    than a frozen dataclass)."""

    line: int  # 1-based line as shown in an editor / Excel (the header's line, then the data rows)
    values: dict[str, str | None]
    """Every key of COLUMNS; stripped strings, "" -> None. A column the file has beyond them (备注,
    班级…) is there too under its header as written: not imported, but the refused rows the console
    gives back keep it."""


@dataclass
class FileInfo:
    """How the file was read, for the uploader (``read_rows`` fills it in as it reads the header)."""

    header_line: int = 0
    """Where the header was found (0: not found): lines above it (a title, a note) are not read."""
    sheet: str | None = None
    """XLSX: the name of the sheet read (the active one, or else the one sheet with a header)."""
    sheets: int = 1
    ignored_columns: list[str] = field(default_factory=list)
    """Headers of columns that are not imported (备注, 班级…), as written."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "header_line": self.header_line,
            "sheet": self.sheet,
            "ignored_columns": list(self.ignored_columns),
        }


class Number(str):
    """The text of a numeric XLSX cell: an ID number in one has lost digits (``kit.idcard``)."""

    __slots__ = ()


@dataclass(frozen=True)
class RowProblem:
    line: int
    code: str  # "empty_row", "malformed_row", "invalid_national_id"… (keys of errors.CODES)
    params: dict[str, Any]
    values: dict[str, str | None] | None = None
    """The row as read, when it could be (a refused row is given back to fix: ``staff.uploads``)."""


# A record is one row as the format reader sees it: (line, cells) with cells already stripped.
Record = tuple[int, list[str | None]]


def read_rows(
    file: IO[bytes],
    *,
    filename: str | None = None,
    max_rows: int = 100_000,
    headers: dict[str, str] | None = None,
    info: FileInfo | None = None,
) -> Iterator[Row | RowProblem]:
    """Stream the data rows of an uploaded CSV or XLSX file.

    File-level problems (format, encoding, columns, merged cells, empty file) raise
    ``CreditbankError`` right away, before anything is yielded. Row-level problems are yielded as
    ``RowProblem`` so a partial import can report them. Going over ``max_rows`` raises
    ``too_many_rows`` mid-stream; the caller is expected to roll back.

    ``filename`` is accepted for callers' convenience only: the format is decided by content,
    since LMS exports are routinely misnamed (.csv files that are really .xlsx, and vice versa).
    ``headers``, when given, is filled with the file's own header of each column it imports
    (``{"completed_on": "完成日期", …}``, in file order), so what is written back for the uploader —
    the refused rows — keeps the names they used. ``info``, when given, is filled with how the file
    was read: the header's line, the sheet, the columns not imported.
    """
    del filename
    rows = _read(file, max_rows, headers, info if info is not None else FileInfo())
    # Run the generator up to the first data row now, so that a bad header or an empty file fails
    # at the call and not at some later iteration the caller did not wrap.
    first = next(rows, None)
    if first is None:
        raise CreditbankError("empty_file")
    return itertools.chain([first], rows)


def _read(
    file: IO[bytes], max_rows: int, headers: dict[str, str] | None, info: FileInfo
) -> Iterator[Row | RowProblem]:
    file.seek(0)  # an UploadFile may still sit at the end of what was written into it
    head = file.read(_SNIFF_BYTES)
    file.seek(0)
    if head.startswith(_XLSX_MAGIC):
        records, merged = _xlsx_sheet(file, max_rows, info)
        yield from _rows(
            records, fixed_width=False, max_rows=max_rows, headers=headers, info=info, merged=merged
        )
        return
    # UTF-16 is text, just in an encoding we do not take: say so rather than "not a CSV".
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CreditbankError("wrong_encoding")
    if head.startswith(_OLE2_MAGIC):
        raise CreditbankError("old_excel_file")
    if head.startswith(_BINARY_MAGIC) or b"\x00" in head:
        raise CreditbankError("unsupported_file")
    encoding = _detect_encoding(file, head)
    yield from _rows(
        _csv_records(file, encoding), fixed_width=True, max_rows=max_rows, headers=headers, info=info
    )


# --- shared row logic -------------------------------------------------------------------------


def _rows(
    records: Iterator[Record],
    *,
    fixed_width: bool,
    max_rows: int,
    headers: dict[str, str] | None = None,
    info: FileInfo,
    merged: list[tuple[str, int]] | None = None,
) -> Iterator[Row | RowProblem]:
    """Header detection, blank rows, the row limit and the Row objects — same for both formats."""
    header_line, header_cells = _find_header(records)
    names = _parse_header(header_cells, header_line, info)
    info.header_line = header_line
    if merged:
        # A merged title above the header is harmless; a merged cell among the data leaves the
        # rows under its top-left one blank.
        below = [ref for ref, bottom in merged if bottom >= header_line]
        if below:
            shown = below[:_MAX_MERGED_SHOWN] + (["…"] if len(below) > _MAX_MERGED_SHOWN else [])
            raise CreditbankError("merged_cells", {"ranges": ", ".join(shown)})
    if headers is not None:
        headers.clear()
        headers.update(
            (name, str(cell).replace("\ufeff", "").strip())
            for name, cell in zip(names, header_cells, strict=False)
            if name
        )
    # XLSX: a number cell where an ID or account number belongs (Excel turned the ID into a number).
    learner_columns = [] if fixed_width else [n for n in LEARNER_REFS if n in names]
    plain = all(names)  # the usual file: every column named and imported — rows need no per-cell care

    count = 0
    # Blank rows are only a problem if data follows them; Excel exports often end with many
    # formatted-but-empty rows. So hold them back (as runs of lines, constant memory in practice)
    # until the next non-blank row shows up, and drop them at the end of the file.
    blank_runs: list[list[int]] = []
    for line, cells in records:
        if _is_blank(cells):
            if blank_runs and blank_runs[-1][1] == line - 1:
                blank_runs[-1][1] = line
            else:
                blank_runs.append([line, line])
            continue
        for first, last in blank_runs:
            for blank_line in range(first, last + 1):
                count = _counted(count, max_rows)
                yield RowProblem(blank_line, "empty_row", {"line": blank_line})
        blank_runs.clear()
        count = _counted(count, max_rows)
        if plain and len(cells) == len(names):
            values: dict[str, str | None] = dict.fromkeys(COLUMNS)
            values.update(zip(names, cells))  # type: ignore[arg-type]  # plain: no None among the names
            row: Row | RowProblem = Row(line, values)
        else:
            row = _make_row(line, cells, names, fixed_width)
        if learner_columns and isinstance(row, Row):
            row = _number_instead_of_id(row, learner_columns) or row
        yield row


def _counted(count: int, max_rows: int) -> int:
    count += 1
    if count > max_rows:
        raise CreditbankError("too_many_rows", {"limit": max_rows})
    return count


def _is_blank(cells: list[str | None]) -> bool:
    # Cells are None or non-empty text (the readers strip them): "no true cell" is "all None".
    return not any(cells)


def _find_header(records: Iterator[Record]) -> Record:
    """The header: the first line naming every required column, among the first
    ``HEADER_SEARCH_LINES`` (blank lines at the top do not count); the lines above it are skipped.
    When none does, the refusal is about the line that came closest (a header with a column missing
    or misspelt: ``missing_columns``), or, when no line names even two columns, that no header was
    found, with the columns it should name."""
    best: Record | None = None
    best_known = 0
    seen = False
    for line, cells in records:
        if not _is_blank(cells):
            seen = True
            known = {_normalise(cell) for cell in cells if cell is not None} & _HEADER_WORDS
            if known.issuperset(REQUIRED) and not known.isdisjoint(LEARNER_REFS):
                return line, cells
            if len(known) > best_known:
                best, best_known = (line, cells), len(known)
        if seen and line >= HEADER_SEARCH_LINES:
            break
    if not seen:
        raise CreditbankError("empty_file")
    if best is not None and best_known >= 2:
        return best  # _parse_header says which column is missing
    raise CreditbankError(
        "header_not_found",
        {"lines": HEADER_SEARCH_LINES, "accepted_zh": ACCEPTED_ZH, "accepted_en": ACCEPTED_EN},
    )


def _normalise(name: str) -> str:
    key = re.sub(r"[\s\-]+", "_", name.replace("\ufeff", "").strip().lower())
    return ALIASES.get(key, key)


def _parse_header(cells: list[str | None], line: int, info: FileInfo) -> list[str | None]:
    """Column name per position: ``None`` for trailing unnamed columns (padding from exports), ""
    for a column read and dropped (``IGNORED``), the header as written for a column beyond
    ``COLUMNS`` (备注, 班级…: carried along, not imported, listed in ``info.ignored_columns``)."""
    width = len(cells)
    while width and cells[width - 1] is None:
        width -= 1
    names: list[str | None] = [None] * len(cells)
    info.ignored_columns = []
    for index, cell in enumerate(cells[:width]):
        if cell is None:
            raise CreditbankError(
                "malformed_row",
                {
                    "line": line,
                    "reason_zh": f"第 {index + 1} 列没有列名",
                    "reason_en": f"column {index + 1} has no name",
                },
            )
        name = _normalise(cell)
        if name in IGNORED:
            names[index] = ""  # a known column whose values are not imported
            continue
        if name not in _HEADER_WORDS:
            # Not one of the bank's columns: the export's own (备注, 班级…). SPEC's columns
            # are the contract; anything else is the uploader's, kept with the row and not read.
            written = cell.replace("\ufeff", "").strip()
            info.ignored_columns.append(written)
            key = written
            while key in names:  # the same extra header twice: both kept for the refused rows
                key += "'"
            names[index] = key
            continue
        if name in names:
            reasons = {
                "reason_zh": f"列名重复：{cell}（{name}）",
                "reason_en": f"duplicate column {cell} ({name})",
            }
            raise CreditbankError("malformed_row", {"line": line, **reasons})
        names[index] = name
    missing = [column for column in REQUIRED if column not in names]
    if not any(ref in names for ref in LEARNER_REFS):
        missing.append(" | ".join(LEARNER_REFS))
    if missing:
        raise CreditbankError(
            "missing_columns",
            {
                "columns": ", ".join(missing),
                "line": line,
                "accepted_zh": ACCEPTED_ZH,
                "accepted_en": ACCEPTED_EN,
            },
        )
    return names


def _number_instead_of_id(row: Row, columns: list[str]) -> RowProblem | None:
    """A numeric XLSX cell in the ID or account column: Excel stored the ID number as a number, and
    kept 15 of its 18 digits (500118195503051230 became 500118195503051000, shown 5.00118E+17).
    What is left may even pass the check digit (1 in 11) and name someone else: refused, saying why."""
    for name in columns:
        cell = row.values.get(name)
        if type(cell) is not Number:
            continue
        if name == "national_id":
            reasons = {"reason_zh": idcard.SAVED_AS_NUMBER_ZH, "reason_en": idcard.SAVED_AS_NUMBER_EN}
            return RowProblem(row.line, "invalid_national_id", reasons, row.values)
        if len(cell) >= 15:  # an ID number in the account column; a short number is just unknown
            return RowProblem(
                row.line,
                "invalid_value",
                {
                    "field_zh": "学习账号 account_no",
                    "field_en": "account_no (学习账号)",
                    "reason_zh": f"“{cell}”是数字格式的单元格，不是学习账号（CB 开头，共 13 位）；若是身份证号，"
                    f"请放在“身份证号”列。{idcard.SAVED_AS_NUMBER_ZH}",
                    "reason_en": f"'{cell}' is a number cell, not an account number (CB and 11 more "
                    f"characters); an ID number goes in the national_id (身份证号) column. "
                    f"{idcard.SAVED_AS_NUMBER_EN}",
                },
                row.values,
            )
    return None


def _make_row(
    line: int, cells: list[str | None], names: list[str | None], fixed_width: bool
) -> Row | RowProblem:
    if fixed_width and len(cells) != len(names):
        reasons = {
            "reason_zh": f"应有 {len(names)} 列，实际 {len(cells)} 列",
            "reason_en": f"expected {len(names)} fields, got {len(cells)}",
        }
        return RowProblem(line, "malformed_row", {"line": line, **reasons})
    values: dict[str, str | None] = dict.fromkeys(COLUMNS)
    for index, cell in enumerate(cells):
        name = names[index] if index < len(names) else None
        if name == "":
            continue  # an ignored column (IGNORED)
        if name is not None:
            values[name] = cell
        elif cell is not None:
            # A value under no header: dropping it silently could lose what the uploader meant.
            reasons = {
                "reason_zh": f"第 {index + 1} 列有值但没有列名",
                "reason_en": f"column {index + 1} has a value but no header",
            }
            return RowProblem(line, "malformed_row", {"line": line, **reasons})
    return Row(line, values)


# --- CSV ----------------------------------------------------------------------------------------


def _detect_encoding(file: IO[bytes], head: bytes) -> str:
    """UTF-8 (BOM or not) if the whole file decodes as such, else GB18030; else refuse."""
    candidates = ("utf-8-sig",) if head.startswith(codecs.BOM_UTF8) else ("utf-8", "gb18030")
    for encoding in candidates:
        if _decodes_as(file, encoding):
            return encoding
    raise CreditbankError("wrong_encoding")


def _decodes_as(file: IO[bytes], encoding: str) -> bool:
    # Incremental, so a multi-byte character split across two chunks is not a false alarm.
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    file.seek(0)
    try:
        while chunk := file.read(_CHUNK):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        file.seek(0)
    return True


def _csv_records(file: IO[bytes], encoding: str) -> Iterator[Record]:
    text = io.TextIOWrapper(file, encoding=encoding, newline="")  # newline="" as csv requires
    try:
        reader = csv.reader(text, strict=False)
        while True:
            # line_num counts physical lines consumed so far; a record spanning lines (quoted
            # newline) starts right after the previous record ended.
            start = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. an unclosed quote swallowing the rest of the file
                reasons = {
                    "reason_zh": "无法解析（引号未闭合？）",
                    "reason_en": f"cannot parse (unclosed quote?): {exc}",
                }
                raise CreditbankError("malformed_row", {"line": start, **reasons}) from exc
            yield start, [field.strip() or None for field in fields]
    finally:
        # Hand the caller's file back open: a discarded TextIOWrapper would close it.
        with contextlib.suppress(ValueError):
            text.detach()


# --- XLSX ---------------------------------------------------------------------------------------


def _xlsx_sheet(
    file: IO[bytes], max_rows: int, info: FileInfo
) -> tuple[Iterator[Record], list[tuple[str, int]]]:
    """The records of the sheet to read and its merged ranges (``(ref, bottom row)``), after the
    zip-bomb checks. The sheet: the active one (what Excel or WPS showed when the file was saved),
    unless it has no header and exactly one other sheet has: a workbook whose first sheet is a
    cover or notes and whose names are on the second is read from the second either way."""
    try:
        with zipfile.ZipFile(file) as archive:
            _check_inflated_sizes(archive)
            _check_shared_strings(archive, max_strings=(max_rows + 1) * SHARED_STRINGS_PER_ROW + 1000)
            paths = _worksheet_paths(archive)
            # Every sheet, before openpyxl reads a row of any (the choice below reads the first
            # lines of each): a row of millions of cells is refused here (``_MergeCellFinder``).
            merged_by_path = {path: _merged_ranges(archive, path) for path in set(paths.values())}
    except _XLSX_ERRORS as exc:
        raise CreditbankError("unsupported_file") from exc
    if not paths:
        raise CreditbankError("empty_file")
    file.seek(0)
    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
    except _XLSX_ERRORS as exc:
        raise CreditbankError("unsupported_file") from exc
    try:
        sheets = list(workbook.worksheets)
        active = workbook.active
        first = active if active in sheets else sheets[0]
        chosen = first
        if len(sheets) > 1 and not _has_header(first):
            with_header = [sheet for sheet in sheets if sheet is not first and _has_header(sheet)]
            if len(with_header) == 1:
                chosen = with_header[0]
        info.sheet, info.sheets = chosen.title, len(sheets)
        merged = merged_by_path.get(paths.get(chosen.title, ""), [])
    except _XLSX_ERRORS as exc:
        workbook.close()
        raise CreditbankError("unsupported_file") from exc
    except BaseException:
        workbook.close()
        raise
    return _xlsx_records(workbook, chosen), merged


def _has_header(sheet: Any) -> bool:
    """Whether the sheet's first lines hold a header (``_find_header``), read without the rest."""
    sheet.reset_dimensions()
    rows = sheet.iter_rows(min_row=1, max_row=HEADER_SEARCH_LINES, values_only=True)
    try:
        _find_header((line, [_cell_text(v) for v in values]) for line, values in enumerate(rows, start=1))
    except CreditbankError:
        return False
    return True


def _xlsx_records(workbook: Any, sheet: Any) -> Iterator[Record]:
    try:
        # Some exporters write a wrong <dimension>; trusting it would silently cut rows off.
        sheet.reset_dimensions()
        # min_row=1: openpyxl then fills missing rows, so the position is the Excel row number.
        rows = sheet.iter_rows(min_row=1, values_only=True)
        for line in itertools.count(1):
            try:
                values = next(rows)
            except StopIteration:
                return
            except _XLSX_ERRORS as exc:  # damaged sheet XML found mid-way
                raise CreditbankError("unsupported_file") from exc
            yield line, [_cell_text(value) for value in values]
    finally:
        workbook.close()


def _cell_text(value: Any) -> str | None:
    """Cell value as the text the uploader sees, so both formats reach the importer alike."""
    if value is None:
        return None
    if isinstance(value, datetime):  # before date: datetime is a date subclass
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return Number(value)
    if isinstance(value, float):
        # 15 significant digits is what Excel displays: 0.1 + 0.2 shows as 0.3, not 0.30000000000000004.
        return Number(int(value) if value.is_integer() else f"{value:.15g}")
    return str(value).strip() or None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _worksheet_paths(archive: zipfile.ZipFile) -> dict[str, str]:
    """Zip member of each worksheet by its name, in workbook order (openpyxl's ``worksheets``)."""
    workbook_path = "xl/workbook.xml"
    with contextlib.suppress(KeyError):  # the package rels are optional in practice
        for rel in ET.fromstring(archive.read("_rels/.rels")):
            if rel.get("Type", "").endswith("/officeDocument"):
                workbook_path = rel.get("Target", workbook_path).lstrip("/")
    folder, name = posixpath.split(workbook_path)
    targets = {}
    for rel in ET.fromstring(archive.read(posixpath.join(folder, "_rels", name + ".rels"))):
        if rel.get("Type", "").endswith("/worksheet"):  # not chartsheets, like openpyxl
            targets[rel.get("Id")] = rel.get("Target", "")
    paths: dict[str, str] = {}
    for element in ET.fromstring(archive.read(workbook_path)).iter():
        if _local(element.tag) != "sheet":
            continue
        rel_id = next((v for k, v in element.attrib.items() if _local(k) == "id"), None)
        target = targets.get(rel_id)
        if target:
            paths[element.get("name", "")] = (
                target.lstrip("/")
                if target.startswith("/")
                else posixpath.normpath(posixpath.join(folder, target))
            )
    return paths


class _MergeCellFinder:
    """Parser target that only looks at start tags: no tree is built, so memory stays flat."""

    def __init__(self) -> None:
        self.ranges: list[tuple[str, int]] = []
        self.cells_in_row = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        name = _local(tag)
        if name == "row":
            self.cells_in_row = 0
        elif name == "c":
            # openpyxl builds each row whole: a row of millions of cells is a bomb of its own.
            self.cells_in_row += 1
            if self.cells_in_row > XLSX_MAX_CELLS_PER_ROW:
                raise _too_big(f"一行超过 / a row has more than {XLSX_MAX_CELLS_PER_ROW} 个单元格 cells")
        elif name == "mergeCell":  # namespace-agnostic: transitional and strict OOXML
            ref = attrib.get("ref", "?")
            digits = "".join(c for c in ref.rpartition(":")[2] if c.isascii() and c.isdigit())
            # Its last row (a range without one counts as reaching the data: refused as before).
            self.ranges.append((ref, int(digits) if digits else 1 << 30))

    def close(self) -> list[tuple[str, int]]:
        return self.ranges


def _too_big(what: str) -> CreditbankError:
    return CreditbankError("xlsx_too_large", {"what": what})


def _check_size(info: zipfile.ZipInfo, limit: int) -> None:
    if info.file_size > limit:
        raise _too_big(f"{info.filename} > {limit >> 20} MB")


def _check_inflated_sizes(archive: zipfile.ZipFile) -> None:
    """Declared sizes, before a byte is inflated: every member (the sheet and the shared strings
    are held to their own limits once known), the total, and the compression ratio."""
    total = 0
    for info in archive.infolist():
        total += info.file_size
        if total > XLSX_MAX_TOTAL_BYTES:
            raise _too_big(f"合计 / in total > {XLSX_MAX_TOTAL_BYTES >> 20} MB")
        if info.file_size > 1024 * 1024 and info.file_size > XLSX_MAX_RATIO * max(info.compress_size, 1):
            raise _too_big(f"{info.filename}: 压缩比 / ratio > {XLSX_MAX_RATIO}:1")
        name = info.filename.lower()
        if name.startswith("xl/worksheets/"):
            _check_size(info, XLSX_MAX_SHEET_BYTES)
        elif name.endswith("sharedstrings.xml"):
            _check_size(info, XLSX_MAX_SHARED_STRINGS_BYTES)
        else:
            _check_size(info, XLSX_MAX_PART_BYTES)


class _StringCounter:
    """Parser target counting shared strings without keeping them (openpyxl will keep them all)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        if _local(tag) == "si":
            self.count += 1
            if self.count > self.limit:
                raise _too_big(f"共享字符串 / shared strings > {self.limit}")

    def close(self) -> int:
        return self.count


def _check_shared_strings(archive: zipfile.ZipFile, max_strings: int) -> None:
    names = [n for n in archive.namelist() if n.lower().endswith("sharedstrings.xml")]
    for name in names:
        parser = ET.XMLParser(target=_StringCounter(max_strings))
        with archive.open(name) as source:
            while chunk := source.read(_CHUNK):
                parser.feed(chunk)
        parser.close()


def _merged_ranges(archive: zipfile.ZipFile, sheet_path: str) -> list[tuple[str, int]]:
    # openpyxl's read-only sheets do not expose merged cells, so look in the sheet XML ourselves.
    # A merged range keeps its value in the top-left cell only; the other rows would arrive blank.
    parser: ET.XMLParser[list[tuple[str, int]]] = ET.XMLParser(target=_MergeCellFinder())
    with archive.open(sheet_path) as source:
        while chunk := source.read(_CHUNK):
            parser.feed(chunk)
    return parser.close()
