"""The long tail of real HR exports: each file read as a person reads it, or refused clearly.

Every file here is in tests/fixtures/, made by tests/fixtures/make_fixtures.py
(make_long_tail_files) the way the software named there writes it.
"""

import datetime as dt
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.history.exports import USER_HEADERS, csv_lines
from importer.pipeline.columns import map_columns
from importer.pipeline.diff import apply_to_snapshot, compute_changeset
from importer.pipeline.parse import read_table
from importer.pipeline.preview import compute_preview
from importer.pipeline.types import (
    FileError,
    ImportOptions,
    Record,
    RowIssue,
    Severity,
    Snapshot,
    SnapshotUser,
)
from tests.conftest import FIXTURES

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def mapped(name_or_bytes):
    data = (
        name_or_bytes
        if isinstance(name_or_bytes, bytes)
        else (FIXTURES / name_or_bytes).read_bytes()
    )
    return map_columns(read_table(data))


def values(records, field):
    return [record.values.get(field) for record in records]


def codes(issues):
    return [(issue.code, issue.row, issue.column) for issue in issues]


# 1. Encodings ---------------------------------------------------------------------------------


def test_a_utf8_file_with_one_stray_byte_stays_utf8_and_reports_that_cell():
    records, issues = mapped("utf8_stray_byte.csv")

    assert values(records, "first_name") == ["Jörg", "優希", "José", "Ольга", "نور"]
    assert values(records, "last_name") == ["Müller", "山田", "García", "Иванова", "حسن"]
    [issue] = issues
    assert (issue.code, issue.row, issue.column, issue.value) == (
        "invalid_utf8",
        7,
        "First name",
        "Ren\ufffd",
    )
    assert "hex E9" in issue.message


def test_a_mac_roman_file_is_read_as_mac_roman():
    records, issues = mapped("mac_roman.csv")

    assert not issues
    assert values(records, "first_name") == ["Jörg", "François"]
    assert values(records, "last_name") == ["Müller", "Lefèvre"]


def test_a_windows_1252_file_is_still_read_as_windows_1252():
    records, _issues = mapped("cp1252_semicolon.csv")

    assert values(records, "first_name") == ["Jürgen", "Bärbel"]
    assert values(records, "department") == ["Geschäftsführung", "Kasse – €"]


def test_a_file_in_no_encoding_that_reads_as_text_is_refused_asking_for_utf8():
    data = "Email,Name\nana@example.com,Łukasz Wiśniewski\n".encode("iso8859-2")

    with pytest.raises(FileError) as raised:
        read_table(data)

    assert raised.value.code == "unreadable_file"
    assert "CSV UTF-8" in raised.value.message


@pytest.mark.parametrize("character", ["\x08", "\x1b", "\x7f", "\x8d"])
def test_a_control_character_inside_a_value_is_an_error_naming_the_cell(character):
    records, issues = mapped(f"Email,First name\nana@example.com,Fran{character}ois\n".encode())

    assert records == []
    assert codes(issues) == [("control_character", 2, "First name")]
    assert issues[0].value == f"Fran\\x{ord(character):02x}ois"


def test_a_line_break_inside_a_value_reads_as_a_space():
    records, issues = mapped("quoted_newlines.csv")

    assert not issues
    assert values(records, "location")[0] == "Rua Augusta 1 Lisbon"


# 2. NFC ---------------------------------------------------------------------------------------


def test_decomposed_names_are_read_composed():
    records, issues = mapped("nfd_names.csv")

    assert not issues
    assert values(records, "first_name") == ["Jörg", "Zoë"]
    assert all(
        unicodedata.is_normalized("NFC", value)
        for record in records
        for value in record.values.values()
    )


def test_an_unchanged_file_written_decomposed_changes_nothing():
    records, _issues = mapped("nfd_names.csv")
    snapshot = Snapshot(
        users=(
            SnapshotUser(1, "joerg@example.com", "Jörg", "Müller", location="Zürich"),
            # Stored decomposed by an import before files were normalised: still the same.
            SnapshotUser(
                2, "zoe@example.com", "Zoe\u0308", "N\u0303u\u0301n\u0303ez", location="Málaga"
            ),
        )
    )

    changeset = compute_changeset(records, snapshot, ImportOptions())

    assert changeset.changes == ()
    assert changeset.unchanged == 2


# 3. IDs written as floats ---------------------------------------------------------------------


def test_ids_a_script_wrote_as_floats_are_the_ids_and_others_stay_as_written():
    records, issues = mapped("pandas_float_ids.csv")

    assert not issues
    assert values(records, "employee_id") == ["1001", "1002", "", "01001", "1001.5"]
    assert values(records, "manager_employee_id") == ["", "1001", "1001", "1001", "1001"]


def test_an_id_in_scientific_notation_is_an_error():
    _records, issues = mapped(b"Email,Employee ID\nana@example.com,1.0E+15\n")

    assert codes(issues) == [("invalid_employee_id", 2, "Employee ID")]


# 4. Spreadsheet error cells -------------------------------------------------------------------


def test_error_cells_are_never_values():
    records, issues = mapped("error_cells.xlsx")

    assert [(i.code, i.row, i.column, i.value, i.severity) for i in issues] == [
        ("spreadsheet_error", 2, "Department", "#N/A", Severity.WARNING),
        ("spreadsheet_error", 3, "Hire date", "#REF!", Severity.WARNING),
        ("spreadsheet_error", 4, "Employee ID", "#VALUE!", Severity.ERROR),
    ]
    ana, ben = records
    assert "department" not in ana.values  # the stored department is kept
    assert "hire_date" not in ben.values


def test_an_error_cell_in_a_csv_keeps_the_stored_value_even_when_blanks_clear():
    records, issues = mapped(b"Email,Department\nana@example.com,#N/A\nben@example.com,Err:502\n")
    snapshot = Snapshot(
        users=(
            SnapshotUser(1, "ana@example.com", department="Sales"),
            SnapshotUser(2, "ben@example.com", department="Sales"),
        )
    )

    changeset = compute_changeset(
        records, snapshot, ImportOptions(clear_blank_fields=frozenset({"department"}))
    )

    assert [issue.code for issue in issues] == ["spreadsheet_error"] * 2
    assert changeset.changes == ()


# 5. Strict Open XML ---------------------------------------------------------------------------


def test_a_strict_open_xml_workbook_is_read():
    records, issues = mapped("strict.xlsx")

    assert not issues
    assert values(records, "first_name") == ["Ana", "Jörg"]
    assert values(records, "employee_id") == ["1001", "00042"]
    assert values(records, "hire_date") == [dt.date(2019, 3, 4), dt.date(2021, 7, 21)]


# 6. Managers whose row has an error, or whose address changes ---------------------------------


def preview(text: bytes, snapshot: Snapshot | None = None):
    records, issues = map_columns(read_table(text))
    snapshot = snapshot or Snapshot(users=())
    return compute_preview(records, issues, snapshot, ImportOptions(), row_count=len(records))


def test_a_manager_whose_row_has_an_error_is_said_so_once():
    found = preview(
        b"Email,Hire date,Manager\n"
        b"boss@x.com,not a date,\n"
        b"ana@x.com,,boss@x.com\n"
        b"ben@x.com,,boss@x.com\n"
    )

    assert [(issue.code, issue.row) for issue in found.issues] == [
        ("invalid_date", 2),
        ("manager_row_invalid", 3),
    ]
    assert "row 2, which has an error" in found.issues[1].message


def test_a_manager_named_by_the_address_their_row_replaces_is_that_person_with_a_warning():
    snapshot = Snapshot(users=(SnapshotUser(1, "boss@old.com", employee_id="7"),))
    found = preview(
        b"Email,Employee ID,Manager\nboss@new.com,7,\nana@x.com,,boss@old.com\n",
        snapshot,
    )

    assert [(issue.code, issue.severity) for issue in found.issues] == [
        ("manager_old_email", Severity.WARNING)
    ]
    assert "boss@old.com is the old address of row 2" in found.issues[0].message
    changes = compute_changeset(found.matching.records, snapshot, ImportOptions()).changes
    ana = next(change for change in changes if change.email == "ana@x.com")
    assert ana.fields["manager_email"] == ("", "boss@new.com")


# 7. Outlook addresses -------------------------------------------------------------------------


def test_a_display_name_or_mailto_around_an_address_gives_the_address_with_a_warning():
    records, issues = mapped("outlook_addresses.csv")

    assert values(records, "email") == ["alice@example.com", "bob@example.com", "carol@example.com"]
    assert values(records, "manager_email") == ["", "alice@example.com", "alice@example.com"]
    assert codes(issues) == [
        ("address_extracted", 2, "Email"),
        ("address_extracted", 3, "Email"),
        ("address_extracted", 3, "Manager"),
        ("address_extracted", 4, "Manager"),
    ]
    assert all(issue.severity == Severity.WARNING for issue in issues)


# 8. Swaps -------------------------------------------------------------------------------------


def test_two_people_who_swap_addresses_are_no_conflict():
    snapshot = Snapshot(
        users=(
            SnapshotUser(1, "ana@x.com", employee_id="1"),
            SnapshotUser(2, "ben@x.com", employee_id="2"),
        )
    )
    records = [
        Record(2, {"email": "ben@x.com", "employee_id": "1"}),
        Record(3, {"email": "ana@x.com", "employee_id": "2"}),
    ]

    changeset = compute_changeset(records, snapshot, ImportOptions())

    assert not changeset.issues
    assert {change.user_id: change.fields["email"] for change in changeset.changes} == {
        1: ("ana@x.com", "ben@x.com"),
        2: ("ben@x.com", "ana@x.com"),
    }


def test_taking_the_address_of_someone_who_keeps_it_says_so():
    snapshot = Snapshot(
        users=(
            SnapshotUser(1, "ana@x.com", employee_id="1"),
            SnapshotUser(2, "ben@x.com", "Ben", "Okafor", employee_id="2"),
        )
    )
    records = [Record(2, {"email": "ben@x.com", "employee_id": "1"})]

    changeset = compute_changeset(records, snapshot, ImportOptions(deactivate_missing=False))

    [issue] = changeset.issues
    assert issue.code == "email_taken"
    assert "Ben Okafor (employee ID 2), who keeps it" in issue.message
    assert "swap" in issue.message


# 10. Managers by employee ID ------------------------------------------------------------------


def test_a_manager_given_by_employee_id_is_resolved_in_the_file_and_the_company():
    snapshot = Snapshot(users=(SnapshotUser(9, "ceo@example.com", employee_id="W001"),))
    data = (
        (FIXTURES / "manager_ids.csv")
        .read_bytes()
        .replace(b"ana@example.com,\r", b"ana@example.com,W001\r")
    )
    records, issues = map_columns(read_table(data))

    changeset = compute_changeset(records, snapshot, ImportOptions(deactivate_missing=False))

    assert not changeset.issues
    managers = {change.email: change.fields["manager_email"][1] for change in changeset.changes}
    assert managers == {
        "ana@example.com": "ceo@example.com",
        "ben@example.com": "ana@example.com",
        "carla@example.com": "ben@example.com",
    }


@pytest.mark.parametrize(
    "rows, code",
    [
        (b"ana@x.com,1,,9\n", "manager_not_found"),
        (b"ana@x.com,1,,1\n", "self_manager"),
        (b"ana@x.com,1,,2\nben@x.com,2,,1\n", "manager_cycle"),
        (b"ana@x.com,1,,\nben@x.com,2,carl@x.com,1\ncarl@x.com,3,,\n", "manager_columns_disagree"),
    ],
    ids=["unknown", "self", "circle", "columns disagree"],
)
def test_a_manager_employee_id_is_checked_like_an_email(rows, code):
    found = preview(b"Email,Employee ID,Manager email,Manager ID\n" + rows)

    assert code in [issue.code for issue in found.errors]


# 11. Dates ------------------------------------------------------------------------------------


def test_ambiguous_dates_follow_the_order_the_rest_of_their_column_shows():
    records, issues = mapped("us_dates.csv")

    assert values(records, "hire_date") == [
        dt.date(2019, 3, 4),
        dt.date(2019, 7, 21),
        dt.date(2019, 11, 16),
        dt.date(2020, 12, 5),
    ]
    [issue] = issues
    assert (issue.code, issue.severity, issue.column) == (
        "date_order_inferred",
        Severity.WARNING,
        "Hire Date",
    )
    assert "month first" in issue.message


def test_ambiguous_dates_in_a_column_that_never_decides_stay_errors():
    records, issues = mapped(b"Email,Hire date\nana@x.com,3/4/2019\nben@x.com,5/6/2019\n")

    assert records == []
    assert [(issue.code, issue.row) for issue in issues] == [
        ("invalid_date", 2),
        ("invalid_date", 3),
    ]


# 9. The issues a run stores -------------------------------------------------------------------


def test_a_run_stores_at_most_a_thousand_issues_and_counts_the_rest():
    issues = [RowIssue("invalid_email", "…", row=row, column="Email") for row in range(2, 5002)]
    found = compute_preview([], issues, Snapshot(users=()), ImportOptions(), row_count=5000)

    stored = found.issues_to_store()

    assert len(stored) == 1001
    assert stored[-1]["code"] == "more_issues"
    assert stored[-1]["message"].startswith("4,000 more errors not listed")


# The property: any names, any form, never a control character; an export imports as no change.

NAME = (
    st.text(
        st.characters(
            categories=("L", "M", "Zs", "Pd", "Po"),
            exclude_characters="\"',;\t\r\n\x85\u2028\u2029",
        ),
        min_size=1,
        max_size=20,
    )
    .map(str.strip)
    .filter(bool)
)


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(st.tuples(NAME, NAME), min_size=1, max_size=8),
    form=st.sampled_from(["NFC", "NFD"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
)
def test_decoding_any_names_never_yields_a_control_character(names, form, encoding):
    lines = ["Email,First name,Last name"] + [
        f"p{index}@example.com,{first},{last}" for index, (first, last) in enumerate(names)
    ]
    data = unicodedata.normalize(form, "\r\n".join(lines) + "\r\n").encode(encoding)

    records, issues = map_columns(read_table(data))

    for record in records:
        for value in record.values.values():
            assert not CONTROL.search(value)
            assert unicodedata.is_normalized("NFC", value)
    assert not [issue for issue in issues if issue.is_error]


@settings(max_examples=60, deadline=None)
@given(
    people=st.lists(
        st.tuples(NAME, NAME, NAME, st.sampled_from(["", "1001", "00042", "A-7"])),
        min_size=1,
        max_size=6,
        unique_by=lambda person: person[3] or id(person),
    ),
    form=st.sampled_from(["NFC", "NFD"]),
)
def test_importing_the_export_of_any_stored_state_changes_nothing(people, form):
    users = tuple(
        SnapshotUser(
            id=index + 1,
            email=f"p{index}@example.com",
            first_name=unicodedata.normalize("NFC", first),
            last_name=unicodedata.normalize("NFC", last),
            department=unicodedata.normalize("NFC", department),
            employee_id=employee_id,
            hire_date=dt.date(2019, 3, 4),
            manager_id=1 if index else None,
        )
        for index, (first, last, department, employee_id) in enumerate(people)
    )
    snapshot = Snapshot(users=users)
    emails = {user.id: user.email for user in users}
    rows = [
        (
            user.email,
            user.first_name,
            user.last_name,
            user.title,
            user.department,
            user.location,
            user.employee_id,
            user.hire_date,
            emails.get(user.manager_id, ""),
        )
        for user in users
    ]
    text = unicodedata.normalize(form, "".join(csv_lines(USER_HEADERS, rows)))

    records, issues = map_columns(read_table(text.encode("utf-8")))
    changeset = compute_changeset(records, snapshot, ImportOptions())

    assert not [issue for issue in issues if issue.is_error]
    assert changeset.changes == ()
    assert apply_to_snapshot(snapshot, changeset) == snapshot
