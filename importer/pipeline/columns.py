"""Map a parsed Table onto user fields: Table → Records + RowIssues.

Header cells are matched to fields by importer.pipeline.headers, then every data row is cleaned
(trimmed, emails lower-cased, dates read) and checked on its own and against the other rows of
the file. Checks that need the organization's users (an unknown manager, a reporting cycle, an
email taken by another organization) belong to the diff.

No ORM, no settings: only Django's email validator.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from itertools import repeat

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from importer.pipeline.attributes import check_values, header_names
from importer.pipeline.headers import (
    EDGE_CHARACTERS,
    IGNORED,
    clean_text,
    close_spelling,
    column_letter,
    fields_of,
    header_field,
    is_blank,
    is_full_name_header,
    looks_like_addresses,
    missing_email_message,
    normalise_header,
    normalised_extra,
    unescape_formula_prefix,
)
from importer.pipeline.types import (
    ATTRIBUTE_MAX_LENGTH,
    FIELD_LABELS,
    FILE_FIELDS,
    MAX_LENGTHS,
    AttributeSpec,
    AttributeType,
    Cell,
    FileError,
    Record,
    Row,
    RowIssue,
    Severity,
    Table,
    field_labels,
    is_attribute,
    record_fields,
)

# Rows between two calls of the caller's progress callback.
PROGRESS_EVERY = 1000
# Makes a Record from (row, fields, values…) without a Python call per record.
_new_record = tuple.__new__
# Longest offending value copied into a RowIssue; the full text stays in the stored input file.
MAX_ISSUE_VALUE = 200

DATE_ADVICE = "Write it as YYYY-MM-DD (e.g. 2024-03-01) or format the cell as a date."


def _known_names(labels: Mapping[str, str] = FIELD_LABELS) -> str:
    return ", ".join(f"'{label}'" for label in labels.values())


def _clip(value: str) -> str:
    return value if len(value) <= MAX_ISSUE_VALUE else value[: MAX_ISSUE_VALUE - 1] + "…"


def _as_text(cell: Cell | None) -> str:
    if cell is None:
        return ""
    if isinstance(cell, dt.datetime):
        return cell.date().isoformat()
    if isinstance(cell, dt.date):
        return cell.isoformat()
    return clean_text(cell)


_ISO_DATE = re.compile(
    r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
)
_DOTTED_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_SLASHED_DATE = re.compile(r"(\d{1,2})[/-](\d{1,2})[/-](\d{4})")


class AmbiguousDateError(ValueError):
    """A date such as 03/04/2024 whose day and month cannot be told apart on its own."""

    def __init__(self, message: str, first: int, second: int, year: int):
        super().__init__(message)
        self.first, self.second, self.year = first, second, year

    def read(self, order: str) -> dt.date:
        """Return the date read "month first" or "day first"."""
        if order == MONTH_FIRST:
            return dt.date(self.year, self.first, self.second)
        return dt.date(self.year, self.second, self.first)


MONTH_FIRST = "month first"
DAY_FIRST = "day first"


def date_order(text: str) -> str | None:
    """Return the order a slashed date such as 7/21/2019 can only be read in, or None."""
    match = _SLASHED_DATE.fullmatch(text)
    if match is None:
        return None
    first, second = int(match.group(1)), int(match.group(2))
    if first > 12 >= second:
        return DAY_FIRST
    if second > 12 >= first:
        return MONTH_FIRST
    return None


def parse_date(text: str) -> dt.date:
    """Return the date written in `text`; raise ValueError with a message for a person.

    Accepted: ISO 2024-03-01 (a time after it is ignored), German 01.03.2024 or 1.3.2024, and
    01/03/2024 or 03/01/2024 only when one part is above 12 (or both are equal), since
    otherwise day and month cannot be told apart.
    """
    if match := _ISO_DATE.fullmatch(text):
        year, month, day = (int(part) for part in match.groups())
    elif match := _DOTTED_DATE.fullmatch(text):
        day, month, year = (int(part) for part in match.groups())
    elif match := _SLASHED_DATE.fullmatch(text):
        first, second, year = (int(part) for part in match.groups())
        if first <= 12 and second <= 12 and first != second:
            raise AmbiguousDateError(
                f"'{_clip(text)}' could mean day {first} of month {second} or month {first}, "
                f"day {second}. {DATE_ADVICE}",
                first,
                second,
                year,
            )
        day, month = (first, second) if first > 12 or first == second else (second, first)
    else:
        raise ValueError(f"'{_clip(text)}' is not a date. {DATE_ADVICE}")
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ValueError(f"'{_clip(text)}' is not a real date. {DATE_ADVICE}") from None


# A plain address (dot-atom local part, LDH labels, alphabetic TLD) that Django's validator is
# sure to accept; anything else goes to the validator itself, so the rules stay Django's.
_PLAIN_EMAIL = re.compile(
    r"[a-z0-9_%+'-]+(?:\.[a-z0-9_%+'-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)


# A column of plain addresses and blanks, joined by spaces (which no plain address holds).
_PLAIN_EMAILS = re.compile(f"(?:{_PLAIN_EMAIL.pattern})?(?: (?:{_PLAIN_EMAIL.pattern})?)*")
_EMAIL_LENGTH = 254


def _is_email(value: str) -> bool:
    if len(value) <= _EMAIL_LENGTH and _PLAIN_EMAIL.fullmatch(value):
        return True
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def file_headers(
    table: Table,
    extra_synonyms: Mapping[str, str] | None = None,
    attributes: Sequence[AttributeSpec] = (),
) -> dict[str, str]:
    """Return {field: the file's own header for it} (the first column naming each field)."""
    headers = tuple(_as_text(header) for header in table.headers)
    found: dict[str, str] = {}
    extra = normalised_extra(header_names(extra_synonyms, attributes))
    for header, field in zip(headers, fields_of(headers, extra), strict=True):
        if field is not None:
            found.setdefault(field, header)
    return found


def releasable(table: Table) -> Table:
    """Return `table` with its rows in a list, which map_columns(…, release=True) empties."""
    return replace(table, rows=list(table.rows))


def map_columns(
    table: Table,
    extra_synonyms: Mapping[str, str] | None = None,
    *,
    attributes: Sequence[AttributeSpec] = (),
    progress: Callable[[int], None] | None = None,
    release: bool = False,
) -> tuple[list[Record], list[RowIssue]]:
    """Return one Record per good data row, and every problem found.

    A row with an error yields a RowIssue and no Record; since any error blocks the import, the
    caller never imports a partial file. Warnings (unknown or unnamed columns) come with Records.
    Raise FileError("missing_column") when no header names the email. `progress(rows done)`
    is called every PROGRESS_EVERY rows. With `release`, the rows of a table made by
    `releasable` are let go of a block at a time once read, so that the records take their
    memory as they are made (a million rows are 300 MB); the table holds no rows afterwards.
    `attributes` are the organization's custom attributes: the columns that feed one give its
    field ("attr_<key>"), its values checked by its type (see attributes.py).
    """
    extra = normalised_extra(header_names(extra_synonyms, attributes))
    labels = field_labels(attributes)
    headers = tuple(_as_text(header) for header in table.headers)
    header_fields = fields_of(headers, extra)
    if "email" not in header_fields:
        raise FileError(
            "missing_column", missing_email_message(headers, closest_email_column(table, extra))
        )

    ignored = {
        index for index, header in enumerate(headers) if header_field(header, extra) == IGNORED
    }
    issues = _header_issues(table, headers, header_fields, ignored, labels)
    column_of: dict[str, int] = {}
    for index, field in enumerate(header_fields):
        if field is not None:
            column_of.setdefault(field, index)

    records: list[Record] = []
    first_row_of_email: dict[str, int] = {}
    first_row_of_id: dict[str, int] = {}
    reader = _ColumnReader(headers, column_of, attributes, spreadsheet=table.format == "xlsx")
    fields = record_fields(tuple(reader.names))
    email_column = headers[column_of["email"]]
    id_column = headers[column_of["employee_id"]] if "employee_id" in column_of else ""
    manager_column = headers[column_of["manager_email"]] if "manager_email" in column_of else ""
    manager_id_column = (
        headers[column_of["manager_employee_id"]] if "manager_employee_id" in column_of else ""
    )
    undecodable = _undecodable_issues(table, headers, column_of)
    width = len(headers)
    rows = table.rows
    # Rows are read a block at a time, and each block a column at a time: one pass of a
    # comprehension per column does the trimming and checking that would otherwise cost a
    # dozen Python steps per cell.
    for start in range(0, len(rows), PROGRESS_EVERY):
        if progress is not None:
            progress(start)
        block = rows[start : start + PROGRESS_EVERY]
        if release:
            rows[start : start + len(block)] = repeat(None, len(block))
        issues_of: dict[int, list[RowIssue]] = {}  # row number -> its errors, in check order
        warnings_of: dict[int, list[RowIssue]] = {}  # row number -> its warnings
        if undecodable:
            for row in block:
                if row.number in undecodable:
                    issues_of[row.number] = list(undecodable[row.number])
        if table.format == "csv":
            # A row exactly as wide as the header always lines up; only others need the check.
            lined_up = []
            for row in block:
                if len(row.cells) != width and (
                    ragged := _ragged_row_issue(row.number, row.cells, headers)
                ):
                    issues_of[row.number] = [ragged]
                elif row.number not in issues_of:
                    lined_up.append(row)
            block = lined_up
        elif undecodable:
            block = [row for row in block if row.number not in issues_of]
        read = reader.read(block, issues_of, warnings_of)
        numbers = [row.number for row in block]
        if not issues_of:
            columns = reader.columns
            ids = [
                (value.casefold(), number)
                # No employee ID column: no pairs.
                for value, number in zip(columns.get("employee_id", ()), numbers, strict=False)
                if value
            ]
            if _is_clean(columns, ids, first_row_of_email, first_row_of_id):
                # The usual block: no issue in any cell, no one their own manager, no email or
                # employee ID seen before. What the loop below does row by row, done per column.
                first_row_of_email.update(zip(columns["email"], numbers, strict=True))
                first_row_of_id.update(ids)
                made = list(map(_new_record, repeat(Record), zip(numbers, repeat(fields), *read)))
                for position, field in reader.dropped:
                    made[position] = made[position].without((field,))
                records.extend(made)
                for number in sorted(warnings_of):
                    issues.extend(warnings_of[number])
                continue
        dropped: dict[int, list[str]] = {}
        for position, field in reader.dropped:
            dropped.setdefault(position, []).append(field)
        names = reader.names
        for position, (number, cells) in enumerate(
            zip(numbers, zip(*read, strict=True), strict=True)
        ):
            values = dict(zip(names, cells, strict=True))
            for field in dropped.get(position, ()):
                del values[field]
            row_issues = issues_of.get(number)
            email = values["email"]
            if (
                email
                and values.get("manager_email") == email
                and not (row_issues and any(i.code == "invalid_email" for i in row_issues))
            ):
                row_issues = issues_of.setdefault(number, [])
                row_issues.append(
                    _issue(
                        "self_manager",
                        number,
                        manager_column,
                        email,
                        "A person cannot be their own manager. Write their manager's email, or "
                        "leave the cell empty.",
                    )
                )
            employee_id = values.get("employee_id")
            if employee_id and values.get("manager_employee_id") == employee_id:
                row_issues = issues_of.setdefault(number, [])
                row_issues.append(
                    _issue(
                        "self_manager",
                        number,
                        manager_id_column,
                        employee_id,
                        "A person cannot be their own manager. Write their manager's employee "
                        "ID, or leave the cell empty.",
                    )
                )
            flagged = {issue.column for issue in row_issues} if row_issues else ()
            if email and email_column not in flagged:
                first = first_row_of_email.setdefault(email, number)
                if first != number:
                    row_issues = issues_of.setdefault(number, [])
                    row_issues.append(
                        _issue(
                            "duplicate_email",
                            number,
                            email_column,
                            email,
                            f"{email} is also in row {first}. Each person may appear once: "
                            "remove one of the rows or correct the address.",
                        )
                    )
            if employee_id and id_column not in flagged:
                first = first_row_of_id.setdefault(employee_id.casefold(), number)
                if first != number:
                    row_issues = issues_of.setdefault(number, [])
                    row_issues.append(
                        _issue(
                            "duplicate_employee_id",
                            number,
                            id_column,
                            employee_id,
                            f"Employee ID {employee_id} is also in row {first}. Each employee ID "
                            "may appear once: correct one of the rows.",
                        )
                    )
            if not row_issues:
                records.append(Record(number, values))
            else:
                # Who the row is about, for a report naming them as manager (see diff).
                subject = {"subject": email or "", "subject_id": employee_id or ""}
                issues_of[number] = [replace(issue, **subject) for issue in row_issues]
        for number in sorted(issues_of.keys() | warnings_of.keys()):
            issues.extend(issues_of.get(number, ()))
            issues.extend(warnings_of.get(number, ()))
    for field, ambiguous in reader.ambiguous_dates.items():
        if ambiguous:
            records, issues = _resolve_ambiguous_dates(
                reader, field, records, issues, headers[column_of[field]]
            )
    return records, issues


# --- the column matching step --------------------------------------------------------------

# Sample values the matching step shows of each column, and how long each may be.
MATCH_SAMPLES = 3
MAX_SAMPLE = 60


def column_samples(table: Table, index: int, count: int = MATCH_SAMPLES) -> list[str]:
    """Return the first `count` non-blank values of a column, as text, clipped for a page."""
    samples = []
    for row in table.rows:
        if index < len(row.cells) and (text := _as_text(row.cells[index])):
            samples.append(text if len(text) <= MAX_SAMPLE else text[: MAX_SAMPLE - 1] + "…")
            if len(samples) == count:
                break
    return samples


def closest_email_column(table: Table, extra: Mapping[str, str]) -> str | None:
    """Return the header most likely to be the email column of a file that names none."""
    headers = [_as_text(header) for header in table.headers]
    for header in headers:
        if header and (close := close_spelling(header, extra)) and close[0] == "email":
            return header
    for index, header in enumerate(headers):
        if header and looks_like_addresses(column_samples(table, index)):
            return header
    return None


def column_matching(
    table: Table,
    extra_synonyms: Mapping[str, str] | None = None,
    attributes: Sequence[AttributeSpec] = (),
) -> list[dict]:
    """Return the columns of the matching step, or [] when the file needs none.

    A file needs one when a named column is not recognised (nor ignored by the organization),
    or when no column is the email. One dict per column: index, header, samples, `field` (what
    the column fills now: a field, IGNORED or ""), `suggested` (a field or IGNORED) and
    `reason` (why, for a person). A field is suggested for one column at most. A custom
    attribute (of `attributes`) is suggested like a built-in field: for a column named as it
    is (or one of its column names), or spelt nearly so.
    """
    extra = normalised_extra(header_names(extra_synonyms, attributes))
    attribute_names = {spec.field: spec.name for spec in attributes}
    # The attributes' own names and column names, without the organization's column names.
    by_attribute_name = normalised_extra(header_names({}, attributes))
    headers = [_as_text(header) for header in table.headers]
    in_force = [header_field(header, extra) if header else None for header in headers]
    unknown = any(header and field is None for header, field in zip(headers, in_force, strict=True))
    if not unknown and "email" in in_force:
        return []
    taken = {field for field in in_force if field and field != IGNORED}
    columns = []
    for index, (header, field) in enumerate(zip(headers, in_force, strict=True)):
        samples = column_samples(table, index)
        suggested, reason = IGNORED, "Not a name the import knows."
        if not header:
            reason = "The column has no name."
        elif field == IGNORED:
            suggested, reason = IGNORED, "Your column names ignore it."
        elif field:
            builtin = header_field(header, {})
            suggested = field
            if builtin == field:
                reason = "A name the import knows."
            elif field in attribute_names and header_field(header, by_attribute_name):
                reason = f"The name of your custom attribute '{attribute_names[field]}'."
            else:
                reason = "Your column names."
        elif (close := close_spelling(header, extra)) and close[0] not in taken:
            spelt = attribute_names.get(close[0], close[1])
            suggested, reason = close[0], f"Spelt like '{spelt}'."
            taken.add(suggested)
        elif "email" not in taken and looks_like_addresses(samples):
            suggested, reason = "email", "Its values are email addresses."
            taken.add(suggested)
        elif is_full_name_header(header):
            reason = "It holds whole names; only separate first and last names are imported."
        columns.append(
            {
                "index": index,
                "header": header,
                "samples": samples,
                "field": field or "",
                "suggested": suggested,
                "reason": reason,
            }
        )
    return columns


def column_names_chosen(
    columns: list[dict], choices: Mapping[int, str], names: Mapping[str, str]
) -> dict[str, str]:
    """Return the organization's column names `names` with the matching step's `choices`.

    `choices` maps a column's index to a field or IGNORED. A column whose choice is what the
    built-in names give needs no name of its own (and loses any it had); any other choice is
    saved under the header exactly as the file writes it.
    """
    chosen = dict(names)
    for column in columns:
        header = column["header"]
        if not header or column["index"] not in choices:
            continue
        choice = choices[column["index"]]
        key = normalise_header(header)
        for name in [name for name in chosen if normalise_header(name) == key]:
            del chosen[name]
        if choice != header_field(header, {}):
            chosen[header] = choice
    return chosen


def _undecodable_issues(
    table: Table, headers: tuple[str, ...], column_of: Mapping[str, int]
) -> dict[int, list[RowIssue]]:
    """Return, by row, an error for each imported cell with bytes that are not UTF-8."""
    read = set(column_of.values())
    found: dict[int, list[RowIssue]] = {}
    cells_of = {row.number: row.cells for row in table.rows} if table.undecodable else {}
    for number, index, hexed in table.undecodable:
        if index not in read or number not in cells_of:
            continue
        cell = cells_of[number][index]
        found.setdefault(number, []).append(
            _issue(
                "invalid_utf8",
                number,
                headers[index],
                _as_text(cell),
                f"The file is UTF-8, but this value holds bytes that are not (hex {hexed}, "
                "shown as \ufffd): part of it was pasted in from a file in another encoding. "
                "Retype the value and save the file as CSV UTF-8.",
            )
        )
    return found


def _resolve_ambiguous_dates(
    reader: _ColumnReader,
    field: str,
    records: list[Record],
    issues: list[RowIssue],
    header: str,
) -> tuple[list[Record], list[RowIssue]]:
    """Read the dates such as 3/4/2019 of a date column (the hire date, or a custom attribute
    of type date) in the order the rest of their column shows.

    When the column's other slashed dates show one order only (7/21/2019 can only be month
    first), the ambiguous ones follow it, with one warning that names the column and the
    order. Otherwise each is an invalid_date error and its row gives no record.
    """
    ambiguous = reader.ambiguous_dates[field]
    date_orders = reader.date_orders[field]
    if len(date_orders) == 1:
        (order,) = date_orders
        position_of = {record.row: position for position, record in enumerate(records)}
        for number, _text, error in ambiguous:
            if (position := position_of.get(number)) is not None and records[position].has(field):
                records[position] = records[position].replacing(field, error.read(order))
        number, text, error = ambiguous[0]
        others = f" and {len(ambiguous) - 1:,} other dates" if len(ambiguous) > 1 else ""
        example = error.read(order).isoformat()
        found = RowIssue(
            code="date_order_inferred",
            row=number,
            column=header,
            value=text,
            severity=Severity.WARNING,
            message=f"Column '{header}' writes its dates {order} (its other dates show it), so "
            f"{text}{others} are read {order}: {text} is {example}. Write dates as YYYY-MM-DD "
            "to leave no doubt.",
        )
        return records, _by_row([*issues, found])
    rejected = {number for number, _text, _error in ambiguous}
    shown = "both orders" if date_orders else "no order"
    errors = [
        _issue(
            "invalid_date",
            number,
            header,
            text,
            f"{error} The other dates in column '{header}' show {shown}.",
        )
        for number, text, error in ambiguous
    ]
    kept = [record for record in records if record.row not in rejected]
    return kept, _by_row([*issues, *errors])


def _by_row(issues: list[RowIssue]) -> list[RowIssue]:
    # Stable: the issues of one row keep their order.
    return sorted(issues, key=lambda issue: (issue.row is not None, issue.row or 0))


def _is_clean(
    columns: Mapping[str, list],
    ids: list[tuple[str, int]],
    first_row_of_email: Mapping,
    first_row_of_id: Mapping,
) -> bool:
    """Return whether a block without cell issues passes the checks across rows at once.

    `ids` holds the block's employee IDs, casefolded, with their rows.
    """
    emails = columns["email"]
    managers = columns.get("manager_email")
    if managers is not None and any(map(str.__eq__, managers, emails)):
        return False
    manager_ids = columns.get("manager_employee_id")
    if (
        manager_ids is not None
        and "employee_id" in columns
        and any(
            value and value == own
            for value, own in zip(manager_ids, columns["employee_id"], strict=True)
        )
    ):
        return False
    if len(set(emails)) != len(emails) or not first_row_of_email.keys().isdisjoint(emails):
        return False
    folded = [key for key, _row in ids]
    return len(set(folded)) == len(folded) and first_row_of_id.keys().isdisjoint(folded)


def _issue(code: str, row: int, column: str, value: str, message: str) -> RowIssue:
    return RowIssue(code=code, message=message, row=row, column=column, value=_clip(value))


def _header_issues(
    table: Table,
    headers: tuple[str, ...],
    header_fields: list[str | None],
    ignored: Collection[int] = (),
    labels: Mapping[str, str] = FIELD_LABELS,
) -> list[RowIssue]:
    issues = []
    first_column_of: dict[str, int] = {}
    for index, (header, field) in enumerate(zip(headers, header_fields, strict=True)):
        if field is not None:
            if field in first_column_of:
                first = headers[first_column_of[field]]
                issues.append(
                    RowIssue(
                        code="duplicate_column",
                        row=table.header_row,
                        column=header,
                        message=(
                            f"Columns '{first}' and '{header}' both hold the "
                            f"{_lowered(labels[field], field)}. Delete one of them, or rename "
                            "it to something else so that it is not imported."
                        ),
                    )
                )
            else:
                first_column_of[field] = index
        elif index in ignored:
            continue
        elif header:
            hint = (
                " To import names, use separate 'First name' and 'Last name' columns."
                if is_full_name_header(header)
                else f" Rename it to one of {_known_names(labels)} to import it."
            )
            issues.append(
                RowIssue(
                    code="unknown_column",
                    row=table.header_row,
                    column=header,
                    severity=Severity.WARNING,
                    message=f"Column '{header}' is not imported (unknown column name).{hint}",
                )
            )
        elif any(index < len(row.cells) and not is_blank(row.cells[index]) for row in table.rows):
            letter = column_letter(index)
            issues.append(
                RowIssue(
                    code="unnamed_column",
                    row=table.header_row,
                    column=f"Column {letter}",
                    severity=Severity.WARNING,
                    message=(
                        f"Column {letter} has values but no header, so it is ignored. Give it one "
                        f"of the names {_known_names(labels)} to import it."
                    ),
                )
            )
    return issues


def _lowered(label: str, field: str) -> str:
    # "the hire date", but a custom attribute as its name is written: "the Cost Centre".
    return label if is_attribute(field) else label.lower()


def _ragged_row_issue(
    number: int, cells: tuple[Cell, ...], headers: tuple[str, ...]
) -> RowIssue | None:
    """Return a ragged_row issue when a CSV row does not line up with the header, else None.

    Empty fields after the last header, and missing fields under blank trailing headers, are
    harmless: spreadsheet programs write both.
    """
    named_width = max((index + 1 for index, header in enumerate(headers) if header), default=0)
    used_width = max(
        (index + 1 for index, cell in enumerate(cells) if not is_blank(cell)), default=0
    )
    if len(cells) >= named_width and used_width <= len(headers):
        return None
    field_count = used_width if used_width > len(headers) else len(cells)
    return RowIssue(
        code="ragged_row",
        row=number,
        value=_clip(" | ".join(_as_text(cell) for cell in cells)),
        message=(
            f"This row has {field_count} fields, the header has {named_width}; check for an "
            "unquoted comma or semicolon inside a value (put the value in double quotes), or a "
            "missing one."
        ),
    )


# Values a spreadsheet shows for a formula that failed (Excel, then LibreOffice's "Err:502").
SPREADSHEET_ERRORS = frozenset(
    (
        "#N/A",
        "#REF!",
        "#VALUE!",
        "#DIV/0!",
        "#NAME?",
        "#NUM!",
        "#NULL!",
        "#SPILL!",
        "#CALC!",
        "#GETTING_DATA",
        "#FIELD!",
        "#BLOCKED!",
        "#CONNECT!",
        "#BUSY!",
        "#UNKNOWN!",
        "#PYTHON!",
    )
)
_LIBREOFFICE_ERROR = re.compile(r"Err:\d{3}|#NAME\?|#N/A")
# Fields whose value identifies a person: an error cell there blocks the row. In any other
# field it is a warning, and the cell counts as absent (the stored value is kept).
KEY_FIELDS = frozenset(("email", "employee_id", "manager_email", "manager_employee_id"))
ID_FIELDS = ("employee_id", "manager_employee_id")

# Joins a column's values for one search over all of them: a private-use character, which is
# neither a control character nor changed by NFC.
_SEPARATOR = "\ue000"
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A line break or tab inside a value (a spreadsheet cell typed with Alt+Enter) reads as a space.
_BREAKS = re.compile(r"[ \t\n\x0b\x0c\r\x85]*[\t\n\x0b\x0c\r\x85][ \t\n\x0b\x0c\r\x85]*")
# An ID that a script wrote as a float: 1001.0 (pandas makes an integer column with a blank float).
_FLOAT_ID = re.compile(r"(\d+)\.0+")
_SCIENTIFIC_ID = re.compile(r"[+-]?\d+(?:\.\d+)?[eE][+-]?\d+")
_NUMBER_LIKE = re.compile(r"\d\.\d|\d[eE][+-]?\d")
# "Alice Smith <alice@example.com>" (as Outlook copies it), "<alice@example.com>", and
# "mailto:alice@example.com" (a link's target, with an optional ?subject=…).
_NAMED_ADDRESS = re.compile(r"[^<>]*<\s*(?:mailto:)?([^<>\s]+)\s*>")
_MAILTO = re.compile(r"mailto:([^?\s]+)(?:\?\S*)?")


def _joined(values: list[str]) -> str:
    """Return `values` joined by spaces, for a search over the column: a space is neither a
    control character nor part of a spreadsheet error, an apostrophe, a number, or an address.
    """
    return " ".join(values)


# The checks that rule out at C speed what the searches would look for; each may say "maybe"
# (the tests make them always say so, and ask for the same results).


def _may_hold_controls(joined: str) -> bool:
    """False when no value holds a control character: every one of them is unprintable."""
    return not joined.isprintable()


def _may_be_decomposed(joined: str) -> bool:
    """False when every value is ASCII, which NFC leaves as it is."""
    return not joined.isascii()


def _may_lower(values: list[str]) -> bool:
    """False when lower() leaves every value as it is (most columns of addresses)."""
    joined = _joined(values)
    return joined.lower() != joined


def _all_plain_emails(values: list[str]) -> bool:
    """True when every value is blank or an address _is_email accepts without the validator."""
    if not values:
        return True
    joined = _joined(values)
    return (
        joined.count(" ") == len(values) - 1  # no value holds a space of its own
        and max(map(len, values)) <= _EMAIL_LENGTH
        and _PLAIN_EMAILS.fullmatch(joined) is not None
    )


def is_spreadsheet_error(text: str) -> bool:
    """Return whether `text` is what a spreadsheet shows for a failed formula (#N/A, Err:502)."""
    return text in SPREADSHEET_ERRORS or _LIBREOFFICE_ERROR.fullmatch(text) is not None


def _visible(text: str) -> str:
    """Return `text` with each control character written out as \\xNN, for a message."""
    return _CONTROLS.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def _embedded_address(text: str) -> str | None:
    """Return the address in "Name <address>" or "mailto:address", or None."""
    match = _NAMED_ADDRESS.fullmatch(text) or _MAILTO.fullmatch(text)
    return clean_text(match.group(1)) if match else None


class _ColumnReader:
    """Read blocks of data rows into field values, a column at a time.

    Remembers across blocks what repeats: emails checked, dates read, text values shared; and
    across the whole file, the hire dates whose day and month only the rest of the column can
    tell apart.
    """

    def __init__(
        self,
        headers: tuple[str, ...],
        column_of: dict[str, int],
        attributes: Sequence[AttributeSpec] = (),
        *,
        spreadsheet: bool = False,
    ):
        # (field, column index, header) in the order of FIELDS, then the custom attributes',
        # as the issues are reported.
        self.attributes = {spec.field: spec for spec in attributes}
        self.plan = [
            (field, column_of[field], headers[column_of[field]])
            for field in (*FILE_FIELDS, *self.attributes)
            if field in column_of
        ]
        self.names = [field for field, _index, _header in self.plan]
        self.spreadsheet = spreadsheet  # an .xlsx: its numbers are a spreadsheet's
        self.emails_checked: dict[str, bool] = {}
        self.shared: dict[str, str] = {}
        # Per attribute field, the values its type check read (a column repeats its values).
        self.known: dict[str, dict] = {field: {} for field in self.attributes}
        self.columns: dict[str, list] = {}  # the last block's values, by field
        # (position in the block, field) of the cells the last block leaves out of its records.
        self.dropped: list[tuple[int, str]] = []
        # Per date column (the hire date, attributes of type date): the orders (MONTH_FIRST,
        # DAY_FIRST) its slashed dates show, and its ambiguous dates: (row, text, the error) in
        # file order.
        date_fields = ["hire_date"] + [
            field for field, spec in self.attributes.items() if spec.type == AttributeType.DATE
        ]
        self.date_orders: dict[str, set[str]] = {field: set() for field in date_fields}
        self.dates_read: dict[str, dict[Cell, tuple]] = {field: {} for field in date_fields}
        self.ambiguous_dates: dict[str, list[tuple[int, str, AmbiguousDateError]]] = {
            field: [] for field in date_fields
        }

    def read(
        self,
        rows: list[Row],
        issues_of: dict[int, list[RowIssue]],
        warnings_of: dict[int, list[RowIssue]],
    ) -> list[list]:
        """Return the values of `rows` a column at a time, one list per name of `names`; add
        their errors to `issues_of` and their warnings to `warnings_of`. The cells a record
        leaves out (the stored value is kept) are listed in `dropped`."""
        numbers = [row.number for row in rows]
        cell_rows = [row.cells for row in rows]
        columns = []
        self.dropped = []
        for field, index, header in self.plan:
            try:
                cells = [cells[index] for cells in cell_rows]
            except IndexError:  # A short row (CSV): its missing cells are blank.
                cells = [cells[index] if index < len(cells) else "" for cells in cell_rows]
            if field in self.date_orders:
                columns.append(self._dates(field, cells, numbers, header, issues_of, warnings_of))
            elif field in self.attributes:
                columns.append(
                    self._attribute(field, cells, numbers, header, issues_of, warnings_of)
                )
            else:
                columns.append(self._texts(field, cells, numbers, header, issues_of, warnings_of))
        self.columns = dict(zip(self.names, columns, strict=True))
        return columns

    def _attribute(
        self,
        field: str,
        cells: list[Cell],
        numbers: list[int],
        header: str,
        issues_of: dict[int, list[RowIssue]],
        warnings_of: dict[int, list[RowIssue]],
    ) -> list[str]:
        """Return a text, number or choice attribute's column: checked as text, then by type."""
        values = self._texts(field, cells, numbers, header, issues_of, warnings_of)
        spec = self.attributes[field]
        if spec.type == AttributeType.TEXT:
            return values
        # The cells already reported (a control character, too long) are left alone.
        reported = {
            position
            for position, number in enumerate(numbers)
            if number in issues_of and any(issue.column == header for issue in issues_of[number])
        }

        def report(position: int, code: str, value: str, message: str) -> None:
            number = numbers[position]
            issues_of.setdefault(number, []).append(_issue(code, number, header, value, message))

        return check_values(
            spec, values, reported, report, self.known[field], spreadsheet=self.spreadsheet
        )

    def _texts(
        self,
        field: str,
        cells: list[Cell],
        numbers: list[int],
        header: str,
        issues_of: dict[int, list[RowIssue]],
        warnings_of: dict[int, list[RowIssue]],
    ) -> list[str]:
        try:
            values = list(map(str.strip, cells, repeat(EDGE_CHARACTERS, len(cells))))
        except TypeError:  # Not all text: a spreadsheet's date or empty cell.
            values = [_as_text(cell) for cell in cells]
        # One search of the column joined by spaces finds what is rare (see _joined).
        joined = _joined(values)
        # An apostrophe in front is rare: one search of the joined column rules it out.
        if "'" in joined and "\0'" in "\0".join(["", *values]):
            for position in [position for position, value in enumerate(values) if value[:1] == "'"]:
                values[position] = unescape_formula_prefix(values[position])
            joined = _joined(values)

        def report(position: int, code: str, value: str, message: str) -> None:
            number = numbers[position]
            issues_of.setdefault(number, []).append(_issue(code, number, header, value, message))

        def warn(position: int, code: str, value: str, message: str) -> None:
            number = numbers[position]
            warnings_of.setdefault(number, []).append(
                replace(_issue(code, number, header, value, message), severity=Severity.WARNING)
            )

        # Positions already reported: the checks below leave them alone.
        flagged: set[int] = set()
        # One search of the joined column finds what is rare: control characters, decomposed
        # text, spreadsheet errors, IDs written as numbers.
        decomposed = _may_be_decomposed(joined) and not unicodedata.is_normalized(
            "NFC", _SEPARATOR.join(values)
        )
        if _may_hold_controls(joined) and _CONTROLS.search(joined):
            for position, value in enumerate(values):
                if not _CONTROLS.search(value):
                    continue
                values[position] = value = _BREAKS.sub(" ", value)
                if found := _CONTROLS.search(value):
                    flagged.add(position)
                    report(
                        position,
                        "control_character",
                        _visible(value),
                        "The value holds the invisible control character "
                        f"U+{ord(found.group()):04X}, which no name contains (often left by a "
                        "damaged export). Retype the value, or export the file again.",
                    )
        if decomposed:
            # A Mac writes accents as separate marks (NFD); stored and compared, they are one
            # character, so that an unchanged file changes nothing.
            values = [
                value
                if unicodedata.is_normalized("NFC", value)
                else unicodedata.normalize("NFC", value)
                for value in values
            ]
        if "#" in joined or "Err:" in joined:
            for position, value in enumerate(values):
                if position in flagged or not is_spreadsheet_error(value):
                    continue
                flagged.add(position)
                if field in KEY_FIELDS:
                    report(
                        position,
                        "spreadsheet_error",
                        value,
                        f"The cell shows the spreadsheet error {value}, not a value: the formula "
                        "behind it failed. Fix the formula, or type the value itself.",
                    )
                else:
                    values[position] = ""
                    self.dropped.append((position, field))
                    warn(
                        position,
                        "spreadsheet_error",
                        value,
                        f"The cell shows the spreadsheet error {value}, not a value: it is "
                        "ignored and the stored value is kept. Fix the formula to import it.",
                    )
        if field in ID_FIELDS and _NUMBER_LIKE.search(joined):
            for position, value in enumerate(values):
                if position in flagged:
                    continue
                if match := _FLOAT_ID.fullmatch(value):
                    values[position] = match.group(1)  # 1001.0 is the ID 1001
                elif _SCIENTIFIC_ID.fullmatch(value):
                    flagged.add(position)
                    report(
                        position,
                        "invalid_employee_id",
                        value,
                        f"'{_clip(value)}' is a number in scientific notation, which has lost "
                        "the ID's digits. Format the column as text in the spreadsheet and type "
                        "the IDs again, or export them as text.",
                    )
        typed = values  # What the cell says: a problem is shown as the person wrote it.
        if field in ("email", "manager_email"):
            # An address already in lower case keeps its object (lower() would copy it: a
            # million addresses are 80 MB). A new list either way: `typed` stays as it is.
            if _may_lower(values):
                values = [value if value.islower() else value.lower() for value in values]
            else:
                values = list(values)
        if field == "manager_email":
            # A manager's address repeats once per report: one string object for all of them
            # (the parser already gives one object to each repeated value of a column).
            share = self.shared.setdefault
            values = list(map(share, values, values))

        spec = self.attributes.get(field)
        limit = ATTRIBUTE_MAX_LENGTH if spec else MAX_LENGTHS[field]
        too_long: set[int] = set()
        if values and max(map(len, values)) > limit:
            too_long = {position for position, value in enumerate(values) if len(value) > limit}
            label = spec.name if spec else FIELD_LABELS[field]
            for position in sorted(too_long):
                value = typed[position]
                report(
                    position,
                    "value_too_long",
                    value,
                    f"{label} is {len(value)} characters long; the limit is {limit}. Shorten it.",
                )
        if field == "email":
            for position in [
                position
                for position, value in enumerate(values)
                if not value and position not in flagged
            ]:
                report(
                    position,
                    "missing_email",
                    "",
                    "This row has no email. Every person needs an email address; fill it in or "
                    "delete the row.",
                )
            for position in self._not_emails(values, too_long | flagged, distinct=True):
                if self._take_address(position, values, typed, warn):
                    continue
                report(
                    position,
                    "invalid_email",
                    typed[position],
                    f"'{_clip(typed[position])}' is not an email address. Write just the "
                    "address, e.g. jane.roe@example.com.",
                )
        elif field == "manager_email":
            for position in self._not_emails(values, too_long | flagged):
                if self._take_address(position, values, typed, warn):
                    continue
                report(
                    position,
                    "invalid_manager_email",
                    typed[position],
                    f"'{_clip(typed[position])}' is not an email address. Write the manager's "
                    "email address, e.g. jane.roe@example.com, or leave the cell empty.",
                )
        return values

    def _take_address(
        self, position: int, values: list[str], typed: list[str], warn: Callable
    ) -> bool:
        """Replace a "Name <address>" or "mailto:" value by its address, with a warning.

        Return False when the value holds no valid address that way.
        """
        address = _embedded_address(values[position])
        if address is None or len(address) > MAX_LENGTHS["email"]:
            return False
        checked = self.emails_checked
        if address not in checked:
            checked[address] = _is_email(address)
        if not checked[address]:
            return False
        values[position] = self.shared.setdefault(address, address)
        warn(
            position,
            "address_extracted",
            typed[position],
            f"'{_clip(typed[position])}' is read as the address {address} (the name, brackets "
            "or 'mailto:' around it are left out). Write just the address to avoid this warning.",
        )
        return True

    def _not_emails(
        self, values: list[str], skip: Collection[int], *, distinct: bool = False
    ) -> list[int]:
        """Return the positions of the values, neither blank nor in `skip`, that are no email.

        `distinct`: the values seldom repeat (the people's own addresses), so a block of plain
        addresses is accepted in one search and not remembered. Otherwise the values not seen
        before are checked (as a block when they are all plain) and remembered.
        """
        if distinct and _all_plain_emails(values):
            return []
        checked = self.emails_checked
        new = {value for value in values if value not in checked}
        if new and _all_plain_emails(list(new)):
            checked.update(dict.fromkeys(new, True))
        else:
            for value in new:
                checked[value] = _is_email(value) if value else True
        if all(map(checked.__getitem__, values)):
            return []
        return [
            position
            for position, value in enumerate(values)
            if not checked[value] and position not in skip
        ]

    def _dates(
        self,
        field: str,
        cells: list[Cell],
        numbers: list[int],
        header: str,
        issues_of: dict[int, list[RowIssue]],
        warnings_of: dict[int, list[RowIssue]],
    ) -> list[dt.date | None]:
        known = self.dates_read[field]
        orders = self.date_orders[field]
        for cell in {cell for cell in cells if cell not in known}:
            known[cell] = _read_date(cell)
            if isinstance(cell, str) and (order := date_order(clean_text(cell))):
                orders.add(order)
        read = [known[cell] for cell in cells]
        for position in [position for position, (_date, problem) in enumerate(read) if problem]:
            number = numbers[position]
            text = _as_text(cells[position])
            problem = read[position][1]
            if problem == _SPREADSHEET_ERROR_PROBLEM:
                self.dropped.append((position, field))
                warnings_of.setdefault(number, []).append(
                    RowIssue(
                        code="spreadsheet_error",
                        row=number,
                        column=header,
                        value=text,
                        severity=Severity.WARNING,
                        message=f"The cell shows the spreadsheet error {text}, not a date: it is "
                        "ignored and the stored value is kept. Fix the formula to import it.",
                    )
                )
            elif isinstance(problem, AmbiguousDateError):
                # Decided once the whole column is read (see resolve_ambiguous_dates).
                self.ambiguous_dates[field].append((number, text, problem))
            else:
                issues_of.setdefault(number, []).append(
                    _issue("invalid_date", number, header, text, problem)
                )
        return [date for date, _problem in read]


_SPREADSHEET_ERROR_PROBLEM = "spreadsheet error"


def _read_date(cell: Cell | None) -> tuple[dt.date | None, str | AmbiguousDateError]:
    """Return (date or None, error message, the AmbiguousDateError itself, or "")."""
    if isinstance(cell, dt.datetime):
        return cell.date(), ""
    if isinstance(cell, dt.date):
        return cell, ""
    text = _as_text(cell)
    if not text:
        return None, ""
    if is_spreadsheet_error(text):
        return None, _SPREADSHEET_ERROR_PROBLEM
    try:
        return parse_date(text), ""
    except AmbiguousDateError as error:
        return None, error
    except ValueError as error:
        return None, str(error)
