"""Batch upload files: formats, encodings, columns, blank/broken rows, limits, memory."""

from __future__ import annotations

import csv
import gc
import io
import tempfile
import tracemalloc
import zipfile
from datetime import date, datetime

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditbank.completions.batchfile import COLUMNS, FileInfo, Row, RowProblem, read_rows
from creditbank.errors import CODES, CreditbankError

HEADER = "external_id,account_no,outcome_code,completed_on,score,hours"


def csv_bytes(*lines: str, encoding: str = "utf-8", newline: str = "\r\n") -> io.BytesIO:
    return io.BytesIO(newline.join(lines).encode(encoding))


def xlsx_bytes(
    rows: list[list[object]], merge: tuple[str, ...] | list[str] = (), start_row: int = 1
) -> io.BytesIO:
    wb = openpyxl.Workbook()
    ws = wb.active
    for offset, row in enumerate(rows):
        for col, value in enumerate(row, start=1):
            if value is not None:
                ws.cell(row=start_row + offset, column=col, value=value)
    for cell_range in merge:
        ws.merge_cells(cell_range)
    out = io.BytesIO()
    wb.save(out)
    out.seek(0)
    return out


def refused(file, **kwargs) -> CreditbankError:
    with pytest.raises(CreditbankError) as info:
        list(read_rows(file, **kwargs))
    return info.value


def lines_and_codes(items) -> list[tuple[int, str]]:
    return [(i.line, "row" if isinstance(i, Row) else i.code) for i in items]


# --- CSV basics and encodings -----------------------------------------------------------------


def test_utf8_rows_have_every_column_and_editor_line_numbers():
    items = list(
        read_rows(csv_bytes(HEADER, "E1, A001 ,OUT-1,2024-03-01,87.5,", "E2,A002,OUT-2,2024-03-02,,12"))
    )
    assert items == [
        Row(
            2,
            {
                "external_id": "E1",
                "account_no": "A001",
                "national_id": None,
                "outcome_code": "OUT-1",
                "completed_on": "2024-03-01",
                "score": "87.5",
                "hours": None,
                "name": None,
            },
        ),
        Row(
            3,
            {
                "external_id": "E2",
                "account_no": "A002",
                "national_id": None,
                "outcome_code": "OUT-2",
                "completed_on": "2024-03-02",
                "score": None,
                "hours": "12",
                "name": None,
            },
        ),
    ]
    assert all(tuple(item.values) == COLUMNS for item in items)


def test_utf8_with_bom():
    [row] = read_rows(csv_bytes(HEADER, "E1,A001,OUT-1,2024-03-01,,", encoding="utf-8-sig"))
    assert row.values["external_id"] == "E1"


def test_gb18030_with_chinese_header_aliases_and_values():
    data = csv_bytes(
        "外部编号,身份证号,课程代码,完成日期,成绩,学时",
        "E1,11010519491231002X,居民用电安全,2024-03-01,90,2",
        encoding="gb18030",
    )
    [row] = read_rows(data)
    assert row.line == 2
    assert row.values["outcome_code"] == "居民用电安全"
    assert row.values["national_id"] == "11010519491231002X"
    assert row.values["account_no"] is None


def test_utf8_chinese_split_across_read_chunks_is_still_utf8(monkeypatch):
    # A 3-byte character cut by the chunk boundary must not make the check fall back to GB18030.
    monkeypatch.setattr("creditbank.completions.batchfile._CHUNK", 7)
    [row] = read_rows(csv_bytes(HEADER, "E1,A001,居民用电安全,2024-03-01,,"))
    assert row.values["outcome_code"] == "居民用电安全"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_is_refused_as_wrong_encoding(encoding):
    data = ("\ufeff" if encoding == "utf-16-be" else "") + HEADER + "\r\nE1,A001,OUT-1,2024-03-01,,\r\n"
    assert refused(io.BytesIO(data.encode(encoding))).code == "wrong_encoding"


def test_bytes_valid_in_neither_encoding_are_wrong_encoding():
    data = io.BytesIO(HEADER.encode() + b"\r\nE1,A001,OUT\xff,2024-03-01,,\r\n")
    assert refused(data).code == "wrong_encoding"


@pytest.mark.parametrize(
    "content",
    [
        b"external_id\x00,account_no\r\n",  # NUL bytes: some binary format
        b"%PDF-1.7\n" + b"x" * 100,
    ],
)
def test_binary_files_are_unsupported(content):
    assert refused(io.BytesIO(content)).code == "unsupported_file"


def test_an_old_xls_file_is_refused_with_the_fix():
    assert refused(io.BytesIO(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"x" * 100)).code == "old_excel_file"


def test_errors_surface_at_call_not_later():
    with pytest.raises(CreditbankError):
        read_rows(io.BytesIO(b"\xd0\xcf\x11\xe0"))


def test_works_on_a_spooled_upload_left_at_its_end_and_leaves_it_open():
    spooled = tempfile.SpooledTemporaryFile(max_size=1024)  # noqa: SIM115
    spooled.write(f"{HEADER}\nE1,A001,OUT-1,2024-03-01,,\n".encode())  # position is now at the end
    assert [r.line for r in read_rows(spooled, filename="x.xlsx")] == [2]  # name is ignored
    assert not spooled.closed
    # Abandoning the stream half-way must not close the caller's file either.
    rows = read_rows(spooled)
    next(rows)
    del rows
    gc.collect()
    assert not spooled.closed
    spooled.close()


# --- header -------------------------------------------------------------------------------------


def test_header_names_are_normalised():
    header = "\ufeff External ID ,Account-No,OUTCOME_CODE,completed on,Score,学时"
    [row] = read_rows(csv_bytes(header, "E1,A001,OUT-1,2024-03-01,1,2"))
    assert row.values == {
        "external_id": "E1",
        "account_no": "A001",
        "national_id": None,
        "outcome_code": "OUT-1",
        "completed_on": "2024-03-01",
        "score": "1",
        "hours": "2",
        "name": None,
    }


def test_header_is_first_non_empty_row():
    items = list(read_rows(csv_bytes("", ",,,,,", HEADER, "E1,A001,OUT-1,2024-03-01,,")))
    assert lines_and_codes(items) == [(4, "row")]


def test_missing_required_columns():
    err = refused(csv_bytes("external_id,account_no,outcome_code", "E1,A001,OUT-1"))
    assert (err.code, err.params["columns"], err.params["line"]) == ("missing_columns", "completed_on", 1)
    # It says what a header should name.
    assert "完成日期 completed_on" in err.message("zh") and "completed_on (完成日期)" in err.message("en")


def test_missing_learner_reference_column():
    err = refused(csv_bytes("external_id,outcome_code,completed_on", "E1,OUT-1,2024-03-01"))
    assert (err.code, err.params["columns"]) == ("missing_columns", "account_no | national_id")


def test_unknown_columns_are_read_along_and_listed_as_ignored():
    info = FileInfo()
    [row] = read_rows(csv_bytes(HEADER + ",Remark,备注", "E1,A001,OUT-1,2024-03-01,,,x,y"), info=info)
    assert info.ignored_columns == ["Remark", "备注"]
    assert row.values["external_id"] == "E1" and (row.values["Remark"], row.values["备注"]) == ("x", "y")


def test_duplicate_columns_after_aliasing_are_a_malformed_header():
    err = refused(csv_bytes(HEADER + ",成绩", "E1,A001,OUT-1,2024-03-01,1,2,3"))
    assert err.code == "malformed_row"
    assert err.params["line"] == 1
    assert "成绩" in err.params["reason_zh"] and "duplicate column" in err.message("en")
    err.message("en")  # placeholders all filled


def test_unnamed_column_in_the_middle_is_refused():
    err = refused(csv_bytes("external_id,,account_no,outcome_code,completed_on", "E1,,A001,OUT-1,2024-03-01"))
    assert (err.code, err.params["line"]) == ("malformed_row", 1)


def test_trailing_unnamed_columns_are_padding_but_must_stay_empty():
    data = csv_bytes(HEADER + ",,", "E1,A001,OUT-1,2024-03-01,,,,", "E2,A001,OUT-1,2024-03-01,,,,oops")
    items = list(read_rows(data))
    assert lines_and_codes(items) == [(2, "row"), (3, "malformed_row")]


# --- data rows ----------------------------------------------------------------------------------


def test_blank_rows_in_the_middle_are_problems_but_trailing_ones_are_ignored():
    data = csv_bytes(
        HEADER, "E1,A001,OUT-1,2024-03-01,,", "", " , ,,,,", "E2,A001,OUT-2,2024-03-01,,", "", ",,,,,", ""
    )
    items = list(read_rows(data))
    assert lines_and_codes(items) == [(2, "row"), (3, "empty_row"), (4, "empty_row"), (5, "row")]
    assert items[1] == RowProblem(3, "empty_row", {"line": 3})


def test_wrong_field_count_is_a_row_problem_with_a_bilingual_reason():
    data = csv_bytes(HEADER, "E1,A001,OUT-1,2024-03-01,,,x,y", "E2,A001", "E3,A001,OUT-1,2024-03-01,,")
    items = list(read_rows(data))
    assert lines_and_codes(items) == [(2, "malformed_row"), (3, "malformed_row"), (4, "row")]
    assert items[0].params == {
        "line": 2,
        "reason_zh": "应有 6 列，实际 8 列",
        "reason_en": "expected 6 fields, got 8",
    }
    assert items[1].params["reason_en"] == "expected 6 fields, got 2"
    assert all(p.code in CODES for p in items[:2])


def test_quoted_newlines_keep_physical_line_numbers():
    data = csv_bytes(
        HEADER,
        'E1,A001,"OUT\n1",2024-03-01,,',
        'E2,A001,"multi\r\nline\r\nvalue",2024-03-01,,',
        "E3,A001,OUT-3,2024-03-01,,",
    )
    items = list(read_rows(data))
    assert [i.line for i in items] == [2, 4, 7]
    assert items[1].values["outcome_code"] == "multi\r\nline\r\nvalue"


def test_quoted_commas_and_doubled_quotes():
    [row] = read_rows(csv_bytes(HEADER, '"E,1",A001,"say ""hi""",2024-03-01,,'))
    assert (row.values["external_id"], row.values["outcome_code"]) == ("E,1", 'say "hi"')


def test_unclosed_quote_is_reported_at_the_record_start():
    data = csv_bytes(HEADER, "E1,A001,OUT-1,2024-03-01,,", 'E2,"A001,OUT-1,2024-03-01,,', "E3,A,B,C,,")
    items = list(read_rows(data))
    assert lines_and_codes(items) == [(2, "row"), (3, "malformed_row")]


def test_row_limit_raises_when_crossed():
    lines = [HEADER] + [f"E{i},A001,OUT-1,2024-03-01,," for i in range(4)]
    assert len(list(read_rows(csv_bytes(*lines[:4]), max_rows=3))) == 3
    seen = []
    with pytest.raises(CreditbankError) as info:
        for item in read_rows(csv_bytes(*lines), max_rows=3):
            seen.append(item.line)
    assert (info.value.code, info.value.params) == ("too_many_rows", {"limit": 3})
    assert seen == [2, 3, 4]


def test_row_limit_counts_problem_rows_but_not_trailing_blanks():
    data = [HEADER, "E1,A001,OUT-1,2024-03-01,,", "", "E2,A001,OUT-1,2024-03-01,,"]
    assert refused(csv_bytes(*data), max_rows=2).code == "too_many_rows"
    assert len(list(read_rows(csv_bytes(*data[:2], *[""] * 50), max_rows=1))) == 1


@pytest.mark.parametrize(
    "content", [b"", b"\r\n\r\n  \r\n", HEADER.encode(), (HEADER + "\r\n,,,,,\r\n\r\n").encode()]
)
def test_empty_file(content):
    assert refused(io.BytesIO(content)).code == "empty_file"


_CELL = st.text(alphabet='ab ,"\n\t居民é', max_size=8)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(alphabet="ab1居", min_size=1, max_size=4), *[_CELL] * 5), min_size=1, max_size=8
    )
)
def test_any_csv_written_by_csv_writer_reads_back_with_its_line_numbers(records):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER.split(","))
    expected, line = [], 2
    for record in records:
        start = out.tell()
        writer.writerow(record)
        expected.append((line, [field.strip() or None for field in record]))
        line += out.getvalue()[start:].count("\n")  # quoted newlines push later records down
    items = list(read_rows(io.BytesIO(out.getvalue().encode())))
    assert [(i.line, [i.values[c] for c in HEADER.split(",")]) for i in items] == expected


# --- XLSX ---------------------------------------------------------------------------------------


def test_xlsx_dates_numbers_and_sheet_row_numbers():
    rows = [
        ["外部编号", "学习账号", "成果代码", "完成日期", "成绩", "学时"],
        ["E1", "A001", " OUT-1 ", datetime(2024, 3, 1, 14, 30), 87.5, 12],
        [None, None, None, None, None, None],
        ["E2", 1234567, "居民用电安全", date(2024, 3, 2), 90.0, 0.1 + 0.2],
    ]
    items = list(read_rows(xlsx_bytes(rows, start_row=3)))  # header on sheet row 3
    assert lines_and_codes(items) == [(4, "row"), (5, "empty_row"), (6, "row")]
    assert items[0].values == {
        "external_id": "E1",
        "account_no": "A001",
        "national_id": None,
        "outcome_code": "OUT-1",
        "completed_on": "2024-03-01",
        "score": "87.5",
        "hours": "12",
        "name": None,
    }
    assert items[2].values["account_no"] == "1234567"
    assert items[2].values["completed_on"] == "2024-03-02"
    assert (items[2].values["score"], items[2].values["hours"]) == ("90", "0.3")


def test_xlsx_trailing_blank_rows_and_values_without_header():
    rows = [
        HEADER.split(","),
        ["E1", "A001", "OUT-1", "2024-03-01"],
        ["E2", "A001", "OUT-1", "2024-03-01", None, None, "note"],
        [" ", None, None],
        [None],
    ]
    assert lines_and_codes(read_rows(xlsx_bytes(rows))) == [(2, "row"), (3, "malformed_row")]


def test_xlsx_merged_cells_are_refused():
    rows = [HEADER.split(","), ["E1", "A001", "OUT-1", "2024-03-01"], ["E2", None, "OUT-1", "2024-03-01"]]
    err = refused(xlsx_bytes(rows, merge=["B2:B3", "E2:F2"]))
    assert err.code == "merged_cells"
    assert sorted(err.params["ranges"].split(", ")) == ["B2:B3", "E2:F2"]


def test_xlsx_many_merged_ranges_show_the_first_five():
    rows = [HEADER.split(","), ["E1", "A001", "OUT-1", "2024-03-01"]]
    err = refused(xlsx_bytes(rows, merge=[f"A{r}:B{r}" for r in range(3, 10)]))
    assert err.code == "merged_cells"
    shown = err.params["ranges"].split(", ")
    assert len(shown) == 6 and shown[-1] == "…"


def test_xlsx_only_first_worksheet_is_read():
    wb = openpyxl.Workbook()
    wb.active.append(HEADER.split(","))
    wb.active.append(["E1", "A001", "OUT-1", "2024-03-01"])
    other = wb.create_sheet("Other")
    other.append(["junk", "columns"])
    other.merge_cells("A1:B1")
    out = io.BytesIO()
    wb.save(out)
    assert [r.line for r in read_rows(out)] == [2]


def test_xlsx_empty_sheet_and_header_only():
    assert refused(xlsx_bytes([])).code == "empty_file"
    assert refused(xlsx_bytes([HEADER.split(",")])).code == "empty_file"


def test_xlsx_missing_columns():
    err = refused(
        xlsx_bytes([["external_id", "outcome_code", "completed_on"], ["E1", "OUT-1", "2024-03-01"]])
    )
    assert (err.code, err.params["columns"]) == ("missing_columns", "account_no | national_id")


def test_corrupt_zip_is_unsupported():
    assert refused(io.BytesIO(b"PK\x03\x04" + b"\x00garbage" * 50)).code == "unsupported_file"


def test_zip_that_is_not_a_workbook_is_unsupported():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:  # e.g. a .docx
        archive.writestr("word/document.xml", "<doc/>")
    assert refused(buffer).code == "unsupported_file"


def test_truncated_xlsx_is_unsupported():
    data = xlsx_bytes([HEADER.split(","), ["E1", "A001", "OUT-1", "2024-03-01"]]).getvalue()
    assert refused(io.BytesIO(data[: len(data) // 2])).code == "unsupported_file"


# --- memory -------------------------------------------------------------------------------------


def test_large_csv_is_streamed_with_flat_memory(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER + "\r\n")
        for i in range(100_000):  # exactly the default row limit
            out.write(f"EXT-{i:08d},A{i:010d},居民用电安全——{'x' * 40},2024-03-01,87.5,12\r\n")
    assert path.stat().st_size > 10_000_000  # the file alone would blow the budget below

    with path.open("rb") as file:
        tracemalloc.start()
        try:
            count = last = 0
            for item in read_rows(file):
                count += 1
                last = item.line
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert (count, last) == (100_000, 100_001)
    assert peak < 3 * 1024 * 1024, f"peak traced memory {peak} bytes"


# --- issue 9, item 2: zip bombs ------------------------------------------------------------------


def _rebuilt(original: io.BytesIO, replace: dict[str, object]) -> io.BytesIO:
    """A copy of an XLSX with some members replaced; a callable value writes the member as a
    stream (so the test never holds the inflated bytes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(original) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = replace.get(info.filename)
            if callable(content):
                with dst.open(info.filename, "w", force_zip64=True) as member:
                    content(member)
            else:
                dst.writestr(info.filename, content if content is not None else src.read(info.filename))
        for name, content in replace.items():  # members the original did not have
            if name not in src.namelist():
                with dst.open(name, "w", force_zip64=True) as member:
                    content(member) if callable(content) else member.write(content)
    out.seek(0)
    return out


def _padded(xml: bytes, pad_bytes: int):
    """The same XML with ``pad_bytes`` of whitespace before its root: valid, tiny compressed."""
    declaration, _, rest = xml.partition(b"?>")

    def write(member) -> None:
        member.write(declaration + b"?>")
        block = b" " * (1 << 20)
        for _ in range(pad_bytes >> 20):
            member.write(block)
        member.write(rest)

    return write


def _peak_while(read) -> tuple[int, object]:
    gc.collect()
    tracemalloc.start()
    try:
        try:
            result = read()
        except CreditbankError as exc:
            result = exc
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


_BOMB_BASE = ((*HEADER.split(","),), ("E1", "CB0000000001X", "YC-ELEC", "2026-01-05", None, None))


class TestItem2XlsxZipBomb:
    base = [list(row) for row in _BOMB_BASE]  # noqa: RUF012 — read-only

    def test_item2_inflating_workbook_is_refused_with_flat_memory(self):
        """workbook.xml inflating to 64 MB (the reported one: 3 GB from 3 MB): refused from the
        declared sizes before anything is inflated, memory far below the inflated size."""
        original = xlsx_bytes(self.base)
        with zipfile.ZipFile(original) as z:
            workbook = z.read("xl/workbook.xml")
        bomb = _rebuilt(original, {"xl/workbook.xml": _padded(workbook, 64 << 20)})
        assert len(bomb.getvalue()) < 1 << 20  # small on disk
        peak, result = _peak_while(lambda: list(read_rows(bomb)))
        assert isinstance(result, CreditbankError) and result.code == "xlsx_too_large"
        assert result.http_status == 413
        assert peak < 8 << 20, f"peak {peak >> 20} MB"

    def test_item2_millions_of_shared_strings_are_refused_with_flat_memory(self):
        """The reported 4.4 MB file with 2 M shared strings took 2.45 GB: the table is counted,
        streaming, before openpyxl loads it."""
        original = xlsx_bytes(self.base)
        count = 400_000

        def strings(member) -> None:
            member.write(
                b'<?xml version="1.0" encoding="UTF-8"?>'
                b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            )
            for i in range(0, count, 1000):
                member.write(b"".join(b"<si><t>%d</t></si>" % (i + j) for j in range(1000)))
            member.write(b"</sst>")

        with zipfile.ZipFile(original) as z:
            types, rels = z.read("[Content_Types].xml"), z.read("xl/_rels/workbook.xml.rels")
        sst = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
        rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
        bomb = _rebuilt(
            original,
            {
                "xl/sharedStrings.xml": strings,
                "[Content_Types].xml": types.replace(
                    b"</Types>",
                    f'<Override PartName="/xl/sharedStrings.xml" ContentType="{sst}"/></Types>'.encode(),
                ),
                "xl/_rels/workbook.xml.rels": rels.replace(
                    b"</Relationships>",
                    f'<Relationship Id="rIdSST" Type="{rel}" Target="sharedStrings.xml"/></Relationships>'.encode(),
                ),
            },
        )
        peak, result = _peak_while(lambda: list(read_rows(bomb, max_rows=1000)))
        assert isinstance(result, CreditbankError) and result.code == "xlsx_too_large"
        assert peak < 8 << 20, f"peak {peak >> 20} MB"

    def test_item2_a_row_of_a_million_cells_is_refused(self):
        original = xlsx_bytes(self.base)
        sheet = "xl/worksheets/sheet1.xml"

        def wide(member) -> None:
            member.write(
                b'<?xml version="1.0" encoding="UTF-8"?>'
                b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                b'<sheetData><row r="1">'
            )
            for _ in range(1000):
                member.write(b"<c/>" * 1000)
            member.write(b"</row></sheetData></worksheet>")

        bomb = _rebuilt(original, {sheet: wide})
        peak, result = _peak_while(lambda: list(read_rows(bomb)))
        assert isinstance(result, CreditbankError) and result.code == "xlsx_too_large"
        assert peak < 8 << 20, f"peak {peak >> 20} MB"

    def test_item2_high_compression_ratio_is_refused(self, monkeypatch):
        from creditbank.completions import batchfile

        monkeypatch.setattr(batchfile, "XLSX_MAX_PART_BYTES", 1 << 30)  # only the ratio left to catch it
        original = xlsx_bytes(self.base)
        with zipfile.ZipFile(original) as z:
            workbook = z.read("xl/workbook.xml")
        bomb = _rebuilt(original, {"xl/workbook.xml": _padded(workbook, 8 << 20)})
        with pytest.raises(CreditbankError) as caught:
            list(read_rows(bomb))
        assert caught.value.code == "xlsx_too_large" and "ratio" in caught.value.message("en")

    def test_item2_an_ordinary_export_still_reads(self):
        rows = list(read_rows(xlsx_bytes(self.base)))
        assert [r.values["external_id"] for r in rows if isinstance(r, Row)] == ["E1"]
