"""Downloads: a run's changes, the organization's users in the import format, a blank template,
and a run's error report (its input with each offending cell marked, and the list of errors).

Every exported value goes through one of two neutralisers, so that no text a person typed into
an HR system runs as a formula when the download is opened in a spreadsheet (OWASP "CSV
injection"): a cell starting with = + - @ tab or CR.

- CSV has no cell types, so such a value gets a leading apostrophe: spreadsheets show it as text.
- In .xlsx every text value is written as an explicit string cell (never a formula, whatever it
  starts with) with Excel's "quote prefix" style, so it stays text even when a person edits it.
  No apostrophe is added to the value itself.

The import reverses exactly that apostrophe (pipeline.headers.unescape_formula_prefix), so a
file downloaded here and imported again unedited gives zero changes: "-Lead-" is written to CSV as
"'-Lead-" and read back as "-Lead-". A value that itself starts with apostrophes in front of a
formula character ("'-x") gets one more in both formats, so it survives the round trip too.

The writers stream: CSV line by line, .xlsx through openpyxl's write-only mode into a temporary
file, so a 100,000-user organization never sits in memory as a workbook.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from importer.models import ImportRun
from importer.pipeline.headers import column_letter
from importer.pipeline.types import (
    FIELD_LABELS,
    FIELDS,
    AttributeSpec,
    AttributeType,
    Table,
    field_labels,
)
from importer.runs.selectors import attribute_specs, run_attributes
from users.models import User

# The characters that make a spreadsheet treat a cell as a formula (or DDE command).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# A value that, after any apostrophes, starts like a formula. CSV escapes all of these.
_CSV_NEEDS_QUOTE = re.compile(r"'*[=+\-@\t\r]")
# In .xlsx a string cell is inert, so only values that would lose an apostrophe on import
# (apostrophes followed by a formula character) need one more.
_XLSX_NEEDS_QUOTE = re.compile(r"'+[=+\-@\t\r]")

DATE_FORMAT = "yyyy-mm-dd"
TEXT_FORMAT = "@"
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Excel opens a UTF-8 CSV correctly only when it starts with a byte order mark; the importer
# reads it either way.
BOM = "\ufeff"

# The import format's header row: the names importer.pipeline.headers maps back to the fields.
# An organization with custom attributes has one more column for each (user_headers).
USER_HEADERS: tuple[str, ...] = tuple(FIELD_LABELS[name] for name in FIELDS)
EXAMPLE_ROW: tuple = (
    "jane.roe@example.com",
    "Jane",
    "Roe",
    "Account Manager",
    "Sales",
    "Berlin",
    "00042",
    dt.date(2024, 3, 1),
    "john.doe@example.com",
)
CHANGE_HEADERS: tuple[str, ...] = (
    "Run",
    "Row",
    "Email",
    "Name",
    "Action",
    "Field",
    "Old value",
    "New value",
    "Note",
)
ERROR_HEADERS: tuple[str, ...] = ("Row", "Column", "Value", "Problem", "Code")
# The fill of a cell the error report marks: Excel's "Bad" red, readable in black text.
ERROR_FILL = PatternFill(fill_type="solid", start_color="FFFFC7CE", end_color="FFFFC7CE")
ERROR_COMMENT_AUTHOR = "Rostersync"
_EXPORT_BATCH = 2000
_CSV_LINES_PER_CHUNK = 500


def neutralise_csv(value: str) -> str:
    """Return `value` as written to a CSV cell: with an apostrophe in front of a formula start."""
    return "'" + value if _CSV_NEEDS_QUOTE.match(value) else value


def neutralise_xlsx(value: str) -> str:
    """Return `value` as written to an .xlsx string cell (which is never run as a formula)."""
    return "'" + value if _XLSX_NEEDS_QUOTE.match(value) else value


# --- rows -------------------------------------------------------------------------------------


def user_headers(attributes: Sequence[AttributeSpec] = ()) -> tuple[str, ...]:
    """Return the import format's header row with a column per custom attribute (its name,
    which the import reads back as the attribute)."""
    return (*USER_HEADERS, *(spec.name for spec in attributes))


def user_rows(
    organization_id: int, attributes: Sequence[AttributeSpec] | None = None
) -> Iterator[tuple]:
    """Yield the organization's active users in the import format's column order, by email.

    Only active users: an inactive user in the file would be reactivated by importing it. The
    manager is written as their email; a manager who is no longer active is left blank, since
    the import accepts only managers that stay active (a blank cell keeps the stored manager).
    Then the value of each custom attribute of `attributes` (the organization's when None), as
    stored: blank when the user has none. Hire dates and date attributes are dates; every other
    value is text (a number too, so that it comes back exactly as it is stored).
    """
    if attributes is None:
        attributes = attribute_specs(organization_id)
    columns = [name for name in FIELDS if name != "manager_email"]
    rows = (
        User.objects.filter(organization_id=organization_id, is_active=True)
        .order_by("email")
        .values_list(*columns, "manager__email", "manager__is_active", "attributes")
        .iterator(chunk_size=_EXPORT_BATCH)
    )
    keys = [(spec.key, spec.type == AttributeType.DATE) for spec in attributes]
    for *values, manager_email, manager_is_active, stored in rows:
        extra = [_attribute_value(stored, key, is_date) for key, is_date in keys] if keys else ()
        yield (*values, manager_email if manager_is_active else "", *extra)


def _attribute_value(stored: dict | None, key: str, is_date: bool):
    value = (stored or {}).get(key, "")
    if is_date and value:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:  # Not a date after all (written outside imports): as it is.
            return value
    return value


def change_labels(run: ImportRun) -> dict[str, str]:
    """Return the labels of the fields a run's changes name: the built-in ones, each custom
    attribute's name as the run's copy of its options kept it (selectors.run_attributes), and
    an attribute that copy does not name by its name now."""
    return field_labels((*attribute_specs(run.organization_id), *run_attributes(run)))


def change_rows(run: ImportRun) -> Iterator[tuple]:
    """Yield one row per field a run changed (one row for a change without fields)."""
    changes = (
        run.changes.select_related("user")
        .order_by("id")
        .only(
            "row",
            "email",
            "action",
            "fields",
            "skipped_reason",
            "user__first_name",
            "user__last_name",
        )
        .iterator(chunk_size=_EXPORT_BATCH)
    )
    labels = change_labels(run)
    for change in changes:
        name = change.user.full_name if change.user else ""
        action = change.get_action_display()
        fields = change.fields or {"": ["", ""]}
        for field, (old, new) in fields.items():
            label = labels.get(field, field) if field else ""
            yield (
                run.pk,
                change.row or "",
                change.email,
                name,
                action,
                label,
                old,
                new,
                change.skipped_reason,
            )


def error_rows(issues: Iterable[dict]) -> Iterator[tuple]:
    """Yield one row (row, column, value, problem, code) per error a run stored."""
    for issue in issues:
        if issue.get("severity") == "error":
            yield (
                issue.get("row") or "file",
                issue.get("column", ""),
                issue.get("value", ""),
                issue.get("message", ""),
                issue.get("code", ""),
            )


def _cell_of(issue: dict, table: Table) -> tuple[int, int] | None:
    """Return the (row number, 0-based column) of the input cell an error is about, or None."""
    row, column = issue.get("row"), issue.get("column", "")
    if not row or not column:
        return None
    if column in table.headers:
        return row, table.headers.index(column)
    for index in range(len(table.headers)):  # An unnamed column is called by its letter.
        if column == f"Column {column_letter(index)}":
            return row, index
    return None


# --- writers ----------------------------------------------------------------------------------


def csv_lines(headers: Sequence[str], rows: Iterable[Sequence]) -> Iterator[str]:
    """Yield a CSV document a few hundred lines at a time, every cell neutralised.

    Dates are written in ISO form (2024-03-01), which the import reads back unambiguously.
    """
    buffer = _Buffer()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise_csv(header) for header in headers])
    yield BOM + buffer.take()
    for count, row in enumerate(rows, start=1):
        writer.writerow([neutralise_csv(_csv_text(value)) for value in row])
        if count % _CSV_LINES_PER_CHUNK == 0:
            yield buffer.take()
    yield buffer.take()


def write_xlsx(
    headers: Sequence[str],
    rows: Iterable[Sequence],
    *,
    sheet_title: str,
    widths: Sequence[int] = (),
    text_columns: Iterable[int] = (),
) -> IO[bytes]:
    """Write a one-sheet workbook to a temporary file; return it opened at the start.

    Strings become explicit string cells, dates date cells shown as YYYY-MM-DD, numbers numbers.
    Columns listed in `text_columns` (0-based) are formatted as Text, so that an ID typed into
    them later in Excel (00042) keeps its zeros. The caller closes the file (FileResponse does).
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_title)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    text_columns = frozenset(text_columns)
    bold = Font(bold=True)
    header_cells = []
    for header in headers:
        cell = _string_cell(sheet, header)
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    for row in rows:
        sheet.append(
            [
                _xlsx_cell(sheet, value, as_text=index in text_columns)
                for index, value in enumerate(row)
            ]
        )
    return _saved(workbook)


def users_xlsx(rows: Iterable[Sequence], attributes: Sequence[AttributeSpec] = ()) -> IO[bytes]:
    """Return a workbook of users in the import format (see write_xlsx), with a column per
    custom attribute of `attributes`: formatted as Text but for dates, as the fields are."""
    return write_xlsx(
        user_headers(attributes),
        rows,
        sheet_title="Users",
        widths=(32, 16, 18, 24, 20, 16, 14, 12, 32, *(20 for _spec in attributes)),
        text_columns=[index for index, name in enumerate(FIELDS) if name != "hire_date"]
        + [
            len(FIELDS) + index
            for index, spec in enumerate(attributes)
            if spec.type != AttributeType.DATE
        ],
    )


def users_download(organization_id: int) -> tuple[tuple[str, ...], Iterator[tuple], Callable]:
    """Return what the users download writes: its headers, its rows and its .xlsx writer
    (rows → workbook), the organization's custom attributes among the columns."""
    attributes = attribute_specs(organization_id)
    return (
        user_headers(attributes),
        user_rows(organization_id, attributes),
        lambda rows: users_xlsx(rows, attributes),
    )


def template_download(organization_id: int) -> tuple[tuple[str, ...], list[tuple], Callable]:
    """Return the blank template's headers, its one example row and its .xlsx writer: the
    organization's custom attributes have their columns, left empty in the example."""
    attributes = attribute_specs(organization_id)
    row = (*EXAMPLE_ROW, *("" for _spec in attributes))
    return user_headers(attributes), [row], lambda rows: users_xlsx(rows, attributes)


def changes_xlsx(rows: Iterable[Sequence]) -> IO[bytes]:
    """Return a workbook of a run's changes (see change_rows)."""
    return write_xlsx(
        CHANGE_HEADERS, rows, sheet_title="Changes", widths=(8, 8, 32, 24, 12, 16, 28, 28, 30)
    )


def error_report_xlsx(issues: Sequence[dict], table: Table | None) -> IO[bytes]:
    """Return a run's error report: its input with every cell an error is about filled red and
    commented with the problem (what is wrong, how to fix it), and an "Errors" sheet.

    `table` is the run's input as the import read it (None when it could not be read): each
    row goes where it was, so row numbers match the errors' and the file the admin has. Every
    value is written formula-safe, like every export.
    """
    workbook = Workbook(write_only=True)
    errors = [issue for issue in issues if issue.get("severity") == "error"]
    if table is not None:
        problems: dict[tuple[int, int], list[str]] = {}
        for issue in errors:
            if (cell := _cell_of(issue, table)) is not None:
                problems.setdefault(cell, []).append(issue.get("message", ""))
        marked = sorted({index for _number, index in problems})
        sheet = workbook.create_sheet("Your file")
        bold = Font(bold=True)
        lines = [(table.header_row, table.headers, True)]
        lines += [(row.number, row.cells, False) for row in table.rows]
        written = 0
        for number, cells, is_header in lines:
            while written < number - 1:  # Blank rows of the input stay blank.
                sheet.append([])
                written += 1
            if not is_header and not any((number, index) in problems for index in marked):
                # Most rows: plain text goes in as it is, which is several times faster than a
                # cell object each; only what could read as a formula, and dates, need one.
                sheet.append([_plain_or_cell(sheet, value) for value in cells])
                written += 1
                continue
            out = []
            for index, value in enumerate(cells):
                cell = _xlsx_cell(sheet, value, as_text=False) if value not in (None, "") else None
                if is_header and cell is not None:
                    cell.font = bold
                if (found := problems.get((number, index))) is not None:
                    cell = cell or WriteOnlyCell(sheet, value=None)
                    cell.fill = ERROR_FILL
                    comment = Comment("\n\n".join(found), ERROR_COMMENT_AUTHOR)
                    comment.width, comment.height = 320, 40 + 60 * len(found)
                    cell.comment = comment
                out.append(cell)
            sheet.append(out)
            written += 1
    listing = workbook.create_sheet("Errors")
    for index, width in enumerate((8, 24, 28, 80, 22), start=1):
        listing.column_dimensions[get_column_letter(index)].width = width
    bold = Font(bold=True)
    header_cells = []
    for header in ERROR_HEADERS:
        cell = _string_cell(listing, header)
        cell.font = bold
        header_cells.append(cell)
    listing.append(header_cells)
    for row in error_rows(errors):
        listing.append([_xlsx_cell(listing, value, as_text=False) for value in row])
    return _saved(workbook)


def _plain_or_cell(sheet, value):
    """Return a text value as it is when it cannot read as a formula, else an .xlsx cell."""
    if isinstance(value, str) and not value.startswith(FORMULA_PREFIXES) and value[:1] != "'":
        return value or None
    return _xlsx_cell(sheet, value, as_text=False)


def _csv_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _string_cell(sheet, value: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=neutralise_xlsx(value))
    # openpyxl turns any string starting with "=" into a formula; a string cell never runs.
    cell.data_type = "s"
    if value.startswith(FORMULA_PREFIXES):
        # Excel's own marker for "typed with an apostrophe": the cell stays text when edited.
        cell.quotePrefix = True
    return cell


def _xlsx_cell(sheet, value, *, as_text: bool) -> WriteOnlyCell | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = DATE_FORMAT
        return cell
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return WriteOnlyCell(sheet, value=value)
    cell = _string_cell(sheet, str(value))
    if as_text:
        cell.number_format = TEXT_FORMAT
    return cell


class _Buffer:
    """A file-like target for csv.writer that hands back what was written since the last take."""

    def __init__(self):
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text


def _saved(workbook):
    """Return `workbook` saved to a temporary file, open at its start: the caller (a
    FileResponse) closes it, which deletes the file."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        workbook.save(handle)
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    return handle
