"""A figure as CSV or XLSX: the table's header and cells, exactly as the page shows them.

Labels are place names institutions typed in: every cell goes through ``kit.spreadsheet`` so that
none is ever a formula in the office's spreadsheet."""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook

from creditbank.kit.spreadsheet import csv_row, xlsx_row
from creditbank.stats.figures import Figure, as_of_text

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _header(figure: Figure, lang: str) -> list[str]:
    return [c.title(lang) for c in figure.columns]


def _period(figure: Figure, lang: str) -> str | None:
    if figure.start is None or figure.end is None:
        return None
    word = "统计期间" if lang == "zh" else "period"
    return f"{word}: {figure.start.isoformat()} – {figure.end.isoformat()}"


def to_csv(figure: Figure, lang: str = "zh") -> bytes:
    """UTF-8 with a BOM, so Excel opens the Chinese text right; one header line, then the rows (and,
    for figures computed ahead, an empty line and "数据截至 …")."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(csv_row(_header(figure, lang)))
    for row in figure.table(lang):
        writer.writerow(csv_row("" if v is None else v for v in row))
    as_of = as_of_text(figure.as_of, figure.ledger_seq, lang)
    if as_of:  # figures computed ahead say when (docs/statistics.md); current ones are the table alone
        writer.writerow([])
        writer.writerow(csv_row([as_of]))
    return ("\ufeff" + out.getvalue()).encode()


def to_xlsx(figure: Figure, lang: str = "zh") -> bytes:
    """One sheet: the header, the rows (numbers as numbers), then the period on a line of its own
    (and when the figures were computed, if they were computed ahead)."""
    return to_xlsx_book([figure], lang)


def to_xlsx_book(figures: list[Figure], lang: str = "zh") -> bytes:
    """Several figures in one workbook, one sheet each as ``to_xlsx`` writes it (``creditbank stats``)."""
    book = Workbook(write_only=True)
    for figure in figures:
        _sheet(book, figure, lang)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet(book: Workbook, figure: Figure, lang: str) -> None:
    sheet = book.create_sheet(figure.name[:31])
    sheet.append(xlsx_row(sheet, _header(figure, lang)))
    for row in figure.table(lang):
        sheet.append(xlsx_row(sheet, row))
    period = _period(figure, lang)
    if period:
        sheet.append([])
        sheet.append(xlsx_row(sheet, [period]))
    as_of = as_of_text(figure.as_of, figure.ledger_seq, lang)
    if as_of:
        sheet.append(xlsx_row(sheet, [as_of]))


def filename(figure: Figure, extension: str) -> str:
    span = f"_{figure.start.isoformat()}_{figure.end.isoformat()}" if figure.start and figure.end else ""
    return f"{figure.name}{span}.{extension}"
