"""Whatever table the parser hands over, mapping its columns gives Records and RowIssues, or a
FileError for the file as a whole, and never another exception."""

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.pipeline.columns import map_columns
from importer.pipeline.types import MAX_LENGTHS, FileError, Record, Row, RowIssue, Severity, Table

HEADERS = [
    "Email",
    "E-Mail",
    "email address",
    "First name",
    "Vorname",
    "Last name",
    "Title",
    "Dept",
    "Location",
    "Employee ID",
    "Personalnummer",
    "Hire date",
    "Start Date",
    "Manager email",
    "Reports To",
    "",
    " ",
    "Notes",
    "Email",
    "2024-03-01",
]
# Values a spreadsheet cell may hold: addresses good and bad, dates as text and as date cells,
# formula starts, blanks and invisible characters, and values past the field limits.
CELL_TEXT = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "\xa0",
            "\u200b",
            "ana@example.com",
            "ANA@Example.com ",
            "ben@example.com",
            "not-an-email",
            "a@b",
            "@example.com",
            "=1+1",
            "-boss@example.com",
            "'=x",
            "1001",
            "00042",
            "2024-02-29",
            "2023-02-29",
            "01.03.2024",
            "03/04/2024",
            "31/12/2024",
            "x" * 300,
            "a@" + "b" * 260 + ".com",
            "ana@example.com\nben@example.com",
        ]
    ),
    st.text(max_size=20),
    st.emails(),
)
CELLS = st.one_of(CELL_TEXT, st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 1, 1)))
FILE_ERROR_CODES = {"missing_column"}


@st.composite
def tables(draw):
    headers = draw(st.lists(st.one_of(st.sampled_from(HEADERS), st.text(max_size=10)), max_size=7))
    # Most tables name the email somewhere, so that most examples reach the rows.
    email_header = draw(st.sampled_from(["Email", "E-Mail", "Work Email", "Notes"]))
    headers.insert(draw(st.integers(min_value=0, max_value=len(headers))), email_header)
    headers = tuple(headers)
    file_format = draw(st.sampled_from(["csv", "xlsx"]))
    width = len(headers)
    rows = []
    for number in range(2, 2 + draw(st.integers(min_value=0, max_value=12))):
        # Workbook rows are padded to the header's width; CSV rows may be shorter or longer.
        size = (
            width if file_format == "xlsx" else draw(st.integers(min_value=0, max_value=width + 3))
        )
        rows.append(Row(number, tuple(draw(st.lists(CELLS, min_size=size, max_size=size)))))
    synonyms = draw(st.sampled_from([{}, {"Notes": "department"}, {"Dept": "title"}]))
    return Table(header_row=1, headers=headers, rows=tuple(rows), format=file_format), synonyms


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_it_returns_records_and_issues_or_raises_file_error_for_any_table(drawn):
    table, synonyms = drawn
    try:
        records, issues = map_columns(table, extra_synonyms=synonyms)
    except FileError as error:
        assert error.code in FILE_ERROR_CODES
        return

    assert all(isinstance(record, Record) for record in records)
    assert all(isinstance(issue, RowIssue) for issue in issues)
    numbers = {row.number for row in table.rows}
    error_rows = {issue.row for issue in issues if issue.severity == Severity.ERROR}
    for record in records:
        assert record.row in numbers
        assert record.row not in error_rows  # A row with an error never becomes a record.
        assert record.email == record.email.strip().lower() and record.email
        for name, value in record.values.items():
            if isinstance(value, str) and name in MAX_LENGTHS:
                assert len(value) <= MAX_LENGTHS[name]
            if name == "hire_date":
                assert value is None or isinstance(value, dt.date)
    assert len({record.email for record in records}) == len(records)  # Duplicates are errors.
    for issue in issues:
        assert issue.row is None or issue.row in numbers or issue.row == table.header_row
