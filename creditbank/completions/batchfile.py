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
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any, NamedTuple
from xml.etree import ElementTree as ET

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from creditbank.errors import CreditbankError

COLUMNS = ("external_id", "account_no", "national_id", "outcome_code", "completed_on", "score", "hours")
REQUIRED = ("external_id", "outcome_code", "completed_on")  # plus at least one of account_no / national_id
LEARNER_REFS = ("account_no", "national_id")
IGNORED = frozenset({"不合格原因", "reason_refused", "原行号_line", "不合格原因_reason"})
"""Columns the console's refused-rows file adds (the reasons in Chinese and in English, the
original line; 不合格原因_reason from files downloaded before the two were split): read and
ignored, so the fixed file uploads again as it is."""

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
}

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
SHARED_STRINGS_PER_ROW = 3  # external_id and the learner reference are unique per row; codes repeat

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

    line: int  # 1-based line as shown in an editor / Excel (header is line 1, first data row is 2)
    values: dict[str, str | None]  # every key of COLUMNS; stripped strings, "" -> None


@dataclass(frozen=True)
class RowProblem:
    line: int
    code: str  # "empty_row" or "malformed_row" (keys of errors.CODES)
    params: dict[str, Any]


# A record is one row as the format reader sees it: (line, cells) with cells already stripped.
Record = tuple[int, list[str | None]]


def read_rows(
    file: IO[bytes],
    *,
    filename: str | None = None,
    max_rows: int = 100_000,
    headers: dict[str, str] | None = None,
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
    the refused rows — keeps the names they used.
    """
    del filename
    rows = _read(file, max_rows, headers)
    # Run the generator up to the first data row now, so that a bad header or an empty file fails
    # at the call and not at some later iteration the caller did not wrap.
    first = next(rows, None)
    if first is None:
        raise CreditbankError("empty_file")
    return itertools.chain([first], rows)


def _read(file: IO[bytes], max_rows: int, headers: dict[str, str] | None) -> Iterator[Row | RowProblem]:
    file.seek(0)  # an UploadFile may still sit at the end of what was written into it
    head = file.read(_SNIFF_BYTES)
    file.seek(0)
    if head.startswith(_XLSX_MAGIC):
        yield from _rows(_xlsx_records(file, max_rows), fixed_width=False, max_rows=max_rows, headers=headers)
        return
    # UTF-16 is text, just in an encoding we do not take: say so rather than "not a CSV".
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CreditbankError("wrong_encoding")
    if head.startswith(_OLE2_MAGIC):
        raise CreditbankError("old_excel_file")
    if head.startswith(_BINARY_MAGIC) or b"\x00" in head:
        raise CreditbankError("unsupported_file")
    encoding = _detect_encoding(file, head)
    yield from _rows(_csv_records(file, encoding), fixed_width=True, max_rows=max_rows, headers=headers)


# --- shared row logic -------------------------------------------------------------------------


def _rows(
    records: Iterator[Record], *, fixed_width: bool, max_rows: int, headers: dict[str, str] | None = None
) -> Iterator[Row | RowProblem]:
    """Header detection, blank rows, the row limit and the Row objects — same for both formats."""
    for header_line, header_cells in records:  # noqa: B007 — used after the loop
        if not _is_blank(header_cells):
            break
    else:
        raise CreditbankError("empty_file")
    names = _parse_header(header_cells, header_line)
    if headers is not None:
        headers.clear()
        headers.update(
            (name, str(cell).replace("\ufeff", "").strip())
            for name, cell in zip(names, header_cells, strict=False)
            if name
        )
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
            yield Row(line, values)
        else:
            yield _make_row(line, cells, names, fixed_width)


def _counted(count: int, max_rows: int) -> int:
    count += 1
    if count > max_rows:
        raise CreditbankError("too_many_rows", {"limit": max_rows})
    return count


def _is_blank(cells: list[str | None]) -> bool:
    # Cells are None or non-empty text (the readers strip them): "no true cell" is "all None".
    return not any(cells)


def _normalise(name: str) -> str:
    key = re.sub(r"[\s\-]+", "_", name.replace("\ufeff", "").strip().lower())
    return ALIASES.get(key, key)


def _parse_header(cells: list[str | None], line: int) -> list[str | None]:
    """Column name per position; ``None`` for trailing unnamed columns (padding from exports)."""
    width = len(cells)
    while width and cells[width - 1] is None:
        width -= 1
    names: list[str | None] = [None] * len(cells)
    unknown: list[str] = []
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
        if name in names:
            reasons = {
                "reason_zh": f"列名重复：{cell}（{name}）",
                "reason_en": f"duplicate column {cell} ({name})",
            }
            raise CreditbankError("malformed_row", {"line": line, **reasons})
        if name in IGNORED:
            names[index] = ""  # a known column whose values are not imported
            continue
        names[index] = name
        if name not in COLUMNS:
            unknown.append(cell.replace("\ufeff", "").strip())
    if unknown:
        raise CreditbankError("unknown_columns", {"columns": ", ".join(unknown)})
    missing = [column for column in REQUIRED if column not in names]
    if not any(ref in names for ref in LEARNER_REFS):
        missing.append(" | ".join(LEARNER_REFS))
    if missing:
        raise CreditbankError("missing_columns", {"columns": ", ".join(missing)})
    return names


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


def _xlsx_records(file: IO[bytes], max_rows: int) -> Iterator[Record]:
    try:
        with zipfile.ZipFile(file) as archive:
            _check_inflated_sizes(archive)
            sheet_path = _first_worksheet_path(archive)
            if sheet_path is not None:
                _check_size(archive.getinfo(sheet_path), XLSX_MAX_SHEET_BYTES)
            _check_shared_strings(archive, max_strings=(max_rows + 1) * SHARED_STRINGS_PER_ROW + 1000)
            merged = _merged_ranges(archive, sheet_path) if sheet_path else []
    except _XLSX_ERRORS as exc:
        raise CreditbankError("unsupported_file") from exc
    if sheet_path is None:
        raise CreditbankError("empty_file")
    if merged:
        raise CreditbankError("merged_cells", {"ranges": ", ".join(merged)})

    file.seek(0)
    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
    except _XLSX_ERRORS as exc:
        raise CreditbankError("unsupported_file") from exc
    try:
        sheet = workbook.worksheets[0]
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
        return str(value)
    if isinstance(value, float):
        # 15 significant digits is what Excel displays: 0.1 + 0.2 shows as 0.3, not 0.30000000000000004.
        return str(int(value)) if value.is_integer() else f"{value:.15g}"
    return str(value).strip() or None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _first_worksheet_path(archive: zipfile.ZipFile) -> str | None:
    """Zip member of the first worksheet in workbook order (what openpyxl's worksheets[0] is)."""
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
    for element in ET.fromstring(archive.read(workbook_path)).iter():
        if _local(element.tag) != "sheet":
            continue
        rel_id = next((v for k, v in element.attrib.items() if _local(k) == "id"), None)
        target = targets.get(rel_id)
        if target:
            return (
                target.lstrip("/")
                if target.startswith("/")
                else posixpath.normpath(posixpath.join(folder, target))
            )
    return None


class _MergeCellFinder:
    """Parser target that only looks at start tags: no tree is built, so memory stays flat."""

    def __init__(self) -> None:
        self.ranges: list[str] = []
        self.total = 0
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
            self.total += 1
            if len(self.ranges) < _MAX_MERGED_SHOWN:
                self.ranges.append(attrib.get("ref", "?"))

    def close(self) -> list[str]:
        return self.ranges + (["…"] if self.total > len(self.ranges) else [])


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


def _merged_ranges(archive: zipfile.ZipFile, sheet_path: str) -> list[str]:
    # openpyxl's read-only sheets do not expose merged cells, so look in the sheet XML ourselves.
    # A merged range keeps its value in the top-left cell only; the other rows would arrive blank.
    parser: ET.XMLParser[list[str]] = ET.XMLParser(target=_MergeCellFinder())
    with archive.open(sheet_path) as source:
        while chunk := source.read(_CHUNK):
            parser.feed(chunk)
    return parser.close()
