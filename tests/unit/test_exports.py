"""Exports: formula neutralisation, and files that the importer reads back exactly."""

import datetime as dt
import io
import zipfile

import openpyxl
from hypothesis import given
from hypothesis import strategies as st

from importer.history import exports
from importer.pipeline.columns import map_columns
from importer.pipeline.headers import unescape_formula_prefix
from importer.pipeline.parse import read_table
from importer.pipeline.types import FIELDS

TRICKY = [
    "=1+1",
    "+49 30 1234",
    "-Lead-",
    "@SUM(A1:A2)",
    '=HYPERLINK("http://evil.example","click")',
    "-2+3+cmd|' /C calc'!A0",
    "'-already quoted",
    "''=two quotes",
    "'plain apostrophe",
    "O'Brien",
    "plain",
]


def read_back(data: bytes) -> list[dict]:
    records, issues = map_columns(read_table(data))
    assert not [issue for issue in issues if issue.is_error], issues
    return [record.values for record in records]


def csv_bytes(headers, rows) -> bytes:
    return "".join(exports.csv_lines(headers, rows)).encode()


def xlsx_bytes(rows) -> bytes:
    with exports.users_xlsx(rows) as handle:
        return handle.read()


def person(email, *, title="", employee_id="", hire_date=None, manager=""):
    return (email, "Ana", "Silva", title, "Sales", "Berlin", employee_id, hire_date, manager)


def test_it_puts_an_apostrophe_before_every_formula_start_in_csv():
    for value in ("=1", "+1", "-1", "@a", "\tx", "\rx", "'=x"):
        assert exports.neutralise_csv(value) == "'" + value
    for value in ("1", "a=b", "'x", "O'Brien", ""):
        assert exports.neutralise_csv(value) == value


@given(st.text(max_size=30))
def test_the_import_removes_exactly_the_apostrophe_the_export_added(value):
    assert unescape_formula_prefix(exports.neutralise_csv(value)) == value
    assert unescape_formula_prefix(exports.neutralise_xlsx(value)) == value


def test_a_csv_export_with_formula_like_values_reads_back_unchanged():
    rows = [person(f"p{index}@acme.example", title=value) for index, value in enumerate(TRICKY)]

    data = csv_bytes(exports.USER_HEADERS, rows)

    text = data.decode("utf-8-sig")
    assert ",'=1+1," in text and ",'-Lead-," in text and ",'''=two quotes," in text
    assert [values["title"] for values in read_back(data)] == TRICKY


def test_an_xlsx_export_writes_formula_like_values_as_inert_text_cells():
    rows = [person(f"p{index}@acme.example", title=value) for index, value in enumerate(TRICKY)]

    data = xlsx_bytes(rows)

    sheet_xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml  # No formula anywhere.
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    titles = [row[3] for row in workbook.active.iter_rows(min_row=2)]
    assert all(cell.data_type == "s" for cell in titles)
    assert titles[0].value == "=1+1" and titles[0].quotePrefix
    assert [values["title"] for values in read_back(data)] == TRICKY


def test_ids_keep_their_zeros_and_dates_stay_dates_in_both_formats():
    rows = [person("ana@acme.example", employee_id="00042", hire_date=dt.date(2021, 9, 15))]

    for data in (csv_bytes(exports.USER_HEADERS, rows), xlsx_bytes(rows)):
        (values,) = read_back(data)
        assert values["employee_id"] == "00042"
        assert values["hire_date"] == dt.date(2021, 9, 15)

    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(rows))).active
    assert sheet["G2"].data_type == "s" and sheet["G2"].number_format == "@"
    assert sheet["H2"].is_date and sheet["H2"].number_format == "yyyy-mm-dd"
    assert "2021-09-15" in csv_bytes(exports.USER_HEADERS, rows).decode()


def test_the_headers_are_the_import_formats_and_map_to_every_field():
    data = csv_bytes(exports.USER_HEADERS, [exports.EXAMPLE_ROW])

    (values,) = read_back(data)

    assert data.decode("utf-8-sig").splitlines()[0] == (
        "Email,First name,Last name,Title,Department,Location,Employee ID,Hire date,Manager email"
    )
    assert set(values) == set(FIELDS)
    assert values["email"] == "jane.roe@example.com"


def test_a_large_csv_export_streams_in_chunks():
    rows = (person(f"p{index}@acme.example") for index in range(1200))

    chunks = list(exports.csv_lines(exports.USER_HEADERS, rows))

    assert len(chunks) > 3
    assert sum(chunk.count("\r\n") for chunk in chunks) == 1201
