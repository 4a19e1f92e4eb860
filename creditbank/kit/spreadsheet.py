"""Cells for the CSV and XLSX files people open in a spreadsheet: the district office's exports
(``stats.export``, ``creditbank stats``) and a clerk's refused rows (``staff.uploads``).

Much of what they hold was typed by someone else — a learner's district and 乡镇/街道 as an
institution enrolled them, an ``external_id`` from an uploaded file — and a spreadsheet takes text
that starts with ``= + - @`` (or a tab or carriage return) for a formula: ``=HYPERLINK(…)`` or
``=cmd|…`` runs on the office's computer ("CSV injection", OWASP). So, as OWASP advises:

* CSV: such text gets a leading ``'``, which Excel and LibreOffice take as "this is text";
* XLSX: every text is written as a string cell (never a formula, whatever it starts with), and such
  text is also marked "quote prefix", so editing the cell in Excel does not turn it into one either.
  The visible text is unchanged, and the file reads back as it was written (a refused-rows file
  uploads again as it is).

Numbers are numbers: a real ``-3`` stays a number in both formats; only text is neutralised.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What makes Excel, LibreOffice or Google Sheets read a cell as a formula (OWASP's list)."""


def risky(value: Any) -> bool:
    """Text a spreadsheet would take for a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


def csv_cell(value: Any) -> Any:
    """A value for ``csv.writer``: risky text with a leading ``'``, everything else as it is."""
    return "'" + value if risky(value) else value


def csv_row(values: Iterable[Any]) -> list[Any]:
    return [csv_cell(v) for v in values]


def xlsx_row(sheet: WriteOnlyWorksheet, values: Iterable[Any]) -> list[Any]:
    """A row for ``sheet.append`` of a write-only workbook: text as explicit string cells (openpyxl
    would store ``"=…"`` as a formula), numbers, dates and empty cells as they are."""
    row: list[Any] = []
    for value in values:
        if not isinstance(value, str):
            row.append(value)
            continue
        cell = WriteOnlyCell(sheet, value)
        cell.data_type = "s"  # after the value: openpyxl's own typing made "=…" a formula
        if risky(value):
            cell.quotePrefix = True
        row.append(cell)
    return row
