"""kit.spreadsheet: text a spreadsheet would compute is neutralised, numbers stay numbers."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import Workbook, load_workbook

from creditbank.kit.spreadsheet import csv_row, xlsx_row

RISKY = ["=1+2", "+1", "-1+2", "@SUM(1)", "\t=1", "\r=1", '=HYPERLINK("http://x","y")']
PLAIN = ["永川区", "中山路街道", "a=b", "", "1.5"]
NUMBERS = [-3, -1.5, 0, 42]


def test_csv_prefixes_risky_text_and_leaves_numbers_and_plain_text():
    out = io.StringIO()
    csv.writer(out).writerow(csv_row([*RISKY, *PLAIN, *NUMBERS]))
    read = next(csv.reader(io.StringIO(out.getvalue())))
    assert read == [f"'{v}" for v in RISKY] + PLAIN + ["-3", "-1.5", "0", "42"]


@pytest.mark.parametrize("value", [v for v in RISKY + PLAIN if v])
def test_xlsx_keeps_the_text_as_a_string_never_a_formula(value):
    book = Workbook(write_only=True)
    sheet = book.create_sheet("s")
    sheet.append(xlsx_row(sheet, [value, -3, -1.5, None]))
    out = io.BytesIO()
    book.save(out)
    cells = next(load_workbook(out).active.iter_rows())
    assert (cells[0].value, cells[0].data_type) == (value, "s")
    assert cells[0].quotePrefix is (value in RISKY)  # Excel keeps it text even when the cell is edited
    assert [(c.value, c.data_type) for c in cells[1:3]] == [(-3, "n"), (-1.5, "n")]
