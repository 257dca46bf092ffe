"""map_columns: Table → Records + RowIssues, and the header synonyms behind it."""

import datetime as dt

import pytest

from importer.pipeline.columns import map_columns, parse_date, releasable
from importer.pipeline.headers import (
    EDGE_CHARACTERS,
    HEADER_SYNONYMS,
    clean_text,
    field_for_header,
    is_header_row,
    normalise_header,
)
from importer.pipeline.parse import read_table
from importer.pipeline.types import (
    FIELD_LABELS,
    FILE_FIELDS,
    FileError,
    Record,
    Row,
    Severity,
    Table,
)


def table(headers, *rows, format="csv", header_row=1):
    """Return a Table whose rows are numbered from header_row + 1."""
    return Table(
        header_row=header_row,
        headers=tuple(headers),
        rows=tuple(Row(header_row + 1 + index, tuple(cells)) for index, cells in enumerate(rows)),
        format=format,
    )


def codes(issues):
    return [(issue.code, issue.row) for issue in issues]


# --- headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("E-Mail ", "email"),
        ("Work Email", "workemail"),
        ("  FIRST_NAME\xa0", "firstname"),
        ("Büro", "büro"),
        ("Bu\u0308ro", "büro"),  # decomposed, as macOS writes it
        ("E-Mail (geschäftlich)", "emailgeschäftlich"),
        ("Pers.-Nr.", "persnr"),
        ("Employee #", "employeenumber"),
    ],
)
def test_it_normalises_headers_to_casefolded_letters_and_digits(text, normalised):
    assert normalise_header(text) == normalised


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Email", "email"),
        ("E-Mail", "email"),
        ("Email Address", "email"),
        ("Work Email", "email"),
        ("Business e-mail", "email"),
        ("Mail", "email"),
        ("E-Mail-Adresse", "email"),
        ("E-Mail (geschäftlich)", "email"),
        ("First Name", "first_name"),
        ("Given name", "first_name"),
        ("Forename", "first_name"),
        ("Vorname", "first_name"),
        ("Last name", "last_name"),
        ("Surname", "last_name"),
        ("Family Name", "last_name"),
        ("Nachname", "last_name"),
        ("Job Title", "title"),
        ("Position", "title"),
        ("Role", "title"),
        ("Stellenbezeichnung", "title"),
        ("Funktion", "title"),
        ("Titel", "title"),
        ("Dept.", "department"),
        ("Team", "department"),
        ("Abteilung", "department"),
        ("Bereich", "department"),
        ("Office", "location"),
        ("Site", "location"),
        ("Standort", "location"),
        ("Arbeitsort", "location"),
        ("Büro", "location"),
        ("Employee #", "employee_id"),
        ("Employee Number", "employee_id"),
        ("Staff ID", "employee_id"),
        ("Personalnummer", "employee_id"),
        ("Pers.-Nr.", "employee_id"),
        ("ID", "employee_id"),
        ("Start Date", "hire_date"),
        ("Date of hire", "hire_date"),
        ("Eintrittsdatum", "hire_date"),
        ("Eintritt", "hire_date"),
        ("Manager", "manager_email"),
        ("Reports To", "manager_email"),
        ("Manager E-Mail", "manager_email"),
        ("Line manager", "manager_email"),
        ("Vorgesetzter", "manager_email"),
        ("Führungskraft", "manager_email"),
    ],
)
def test_it_maps_english_and_german_headers_to_fields(header, field):
    assert field_for_header(header) == field


def test_it_maps_every_field_label_to_its_field():
    assert {field_for_header(label) for label in FIELD_LABELS.values()} == set(FILE_FIELDS)
    assert [field_for_header(label) for label in FIELD_LABELS.values()] == list(FIELD_LABELS)


def test_its_synonyms_name_only_real_fields():
    assert set(HEADER_SYNONYMS.values()) == set(FILE_FIELDS)
    assert all(key == normalise_header(key) for key in HEADER_SYNONYMS)


@pytest.mark.parametrize("header", ["Name", "Full name", "Notes", "", "   ", "-"])
def test_it_leaves_ambiguous_and_unknown_headers_unmapped(header):
    assert field_for_header(header) is None


def test_the_organizations_own_header_names_win_over_the_built_in_ones():
    extra = {"Kontakt-Adresse": "email", "Team": "location"}

    assert field_for_header("kontakt adresse", extra) == "email"
    assert field_for_header("Team", extra) == "location"
    assert field_for_header("Team") == "department"


def test_it_ignores_own_header_names_that_point_at_no_field():
    assert field_for_header("Team", {"Team": "shoe_size"}) == "department"


def test_a_header_row_is_one_that_names_the_email_or_two_other_fields():
    assert is_header_row(["Vorname", "E-Mail", dt.date(2024, 3, 1)])
    # No email column, but clearly the header: the error then quotes its columns.
    assert is_header_row(["First name", "Last name", "Manager"])
    assert not is_header_row(["Employee export", "Department"])
    assert not is_header_row(["ana@example.com", "Ana"])
    assert is_header_row(["Kontakt"], {"Kontakt": "email"})


# --- columns -------------------------------------------------------------------------------------


def test_it_maps_a_libreoffice_workbook_without_issues(fixture_file):
    records, issues = map_columns(read_table(*fixture_file("two_employees.xlsx")))

    assert issues == []
    assert records == [
        Record(
            2,
            {
                "email": "ana.silva@example.com",
                "first_name": "Ana",
                "last_name": "Silva",
                "title": "Head of People",
                "department": "People",
                "location": "Lisbon",
                "employee_id": "1001",
                "hire_date": dt.date(2021, 4, 1),
                "manager_email": "",
            },
        ),
        Record(
            3,
            {
                "email": "ben.okafor@example.com",
                "first_name": "Ben",
                "last_name": "Okafor",
                "title": "Engineer",
                "department": "Engineering",
                "location": "Berlin",
                "employee_id": "1002",
                "hire_date": dt.date(2023, 9, 15),
                "manager_email": "ana.silva@example.com",
            },
        ),
    ]


def test_it_maps_german_headers_and_dates_from_a_windows_1252_csv(fixture_file):
    records, issues = map_columns(read_table(*fixture_file("cp1252_semicolon.csv")))

    assert issues == []
    assert records[0] == Record(
        2,
        {
            "email": "juergen.groesse@example.de",
            "first_name": "Jürgen",
            "last_name": "Größe",
            "department": "Geschäftsführung",
            "employee_id": "00017",
            "hire_date": dt.date(2024, 3, 1),
        },
    )


def test_it_keeps_ids_and_formula_values_from_a_workbook(fixture_file):
    records, _ = map_columns(read_table(*fixture_file("dates_ids_formulas.xlsx")))

    assert [record.get("employee_id") for record in records] == ["1001", "00042", "123456789012345"]
    assert records[0].email == "ana.silva@example.com"
    assert records[1].get("manager_email") == "ana.silva@example.com"


def test_it_warns_once_per_unknown_column_and_still_imports(fixture_file):
    records, issues = map_columns(read_table(*fixture_file("dates_ids_formulas.xlsx")))

    assert [(issue.code, issue.row, issue.column, issue.severity) for issue in issues] == [
        ("unknown_column", 1, "Full name", Severity.WARNING),
        ("unknown_column", 1, "Checked", Severity.WARNING),
    ]
    assert "'First name' and 'Last name'" in issues[0].message
    assert "Column 'Checked' is not imported (unknown column name)" in issues[1].message
    assert "'Employee ID'" in issues[1].message
    assert len(records) == 3


def test_it_warns_about_a_column_with_data_but_no_header(fixture_file):
    records, issues = map_columns(read_table(*fixture_file("wide_stray_cell.xlsx")))

    assert [(issue.code, issue.column, issue.severity) for issue in issues] == [
        ("unnamed_column", "Column F", Severity.WARNING),
    ]
    assert "no header" in issues[0].message
    assert len(records) == 2


def test_it_says_nothing_about_blank_headers_without_data():
    _, issues = map_columns(table(["Email", "", "Name ", ""], ["ana@example.com", "", "Ana", " "]))

    assert codes(issues) == [("unknown_column", 1)]
    assert issues[0].column == "Name"


def test_it_refuses_two_columns_for_the_same_field():
    _, issues = map_columns(
        table(["Email", "First name", "Work Email"], ["ana@example.com", "Ana", "ana@corp.example"])
    )

    assert [(issue.code, issue.row, issue.column, issue.is_error) for issue in issues] == [
        ("duplicate_column", 1, "Work Email", True),
    ]
    assert "'Email' and 'Work Email'" in issues[0].message


def test_it_refuses_a_table_without_an_email_column():
    with pytest.raises(FileError) as caught:
        map_columns(table(["First name"], ["Ana"]))

    assert caught.value.code == "missing_column"


def test_it_uses_the_organizations_own_header_names():
    records, issues = map_columns(
        table(["Kontakt", "Team"], ["ana@example.com", "Lisbon"]),
        extra_synonyms={"Kontakt": "email", "Team": "location"},
    )

    assert issues == []
    assert records == [Record(2, {"email": "ana@example.com", "location": "Lisbon"})]


# --- values --------------------------------------------------------------------------------------


def test_it_holds_only_the_fields_whose_column_is_in_the_file():
    records, _ = map_columns(table(["Email", "Hire date", "Title"], ["ana@example.com", "", ""]))

    assert records == [Record(2, {"email": "ana@example.com", "hire_date": None, "title": ""})]


def test_it_trims_spaces_non_breaking_spaces_and_zero_width_characters():
    records, issues = map_columns(
        table(
            ["Email", "First name", "Title"],
            ["\u200b ana@example.com\xa0", "\ufeffAna\u2060", " Head  of People "],
        )
    )

    assert issues == []
    assert records[0].values == {
        "email": "ana@example.com",
        "first_name": "Ana",
        "title": "Head  of People",
    }


def test_it_trims_every_kind_of_unicode_space():
    spaces = "".join(char for char in map(chr, range(0x110000)) if char.isspace())

    assert set(spaces) <= set(EDGE_CHARACTERS)
    assert clean_text(spaces + "\u200bAna Silva\u200d" + spaces) == "Ana Silva"


def test_it_lower_cases_emails_and_manager_emails():
    records, _ = map_columns(
        table(["Email", "Manager"], ["Ana.Silva@Example.COM", "BEN@example.com"])
    )

    assert records[0].values == {
        "email": "ana.silva@example.com",
        "manager_email": "ben@example.com",
    }


def test_it_writes_a_date_cell_in_a_text_column_as_iso_text():
    records, _ = map_columns(
        table(["Email", "Employee ID"], ["ana@example.com", dt.date(2024, 3, 1)], format="xlsx")
    )

    assert records[0].get("employee_id") == "2024-03-01"


def test_it_keeps_a_date_cell_as_the_hire_date():
    records, _ = map_columns(
        table(["Email", "Hire date"], ["ana@example.com", dt.date(2024, 3, 1)], format="xlsx")
    )

    assert records[0].get("hire_date") == dt.date(2024, 3, 1)


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("2024-03-01", dt.date(2024, 3, 1)),
        ("2024-3-1", dt.date(2024, 3, 1)),
        ("2024-03-01 00:00:00", dt.date(2024, 3, 1)),
        ("2024-03-01T09:30", dt.date(2024, 3, 1)),
        ("01.03.2024", dt.date(2024, 3, 1)),
        ("1.3.2024", dt.date(2024, 3, 1)),
        ("13/03/2024", dt.date(2024, 3, 13)),
        ("03/13/2024", dt.date(2024, 3, 13)),
        ("31-12-2023", dt.date(2023, 12, 31)),
        ("03/03/2024", dt.date(2024, 3, 3)),
    ],
)
def test_it_reads_iso_german_and_unambiguous_slashed_dates(text, date):
    assert parse_date(text) == date


@pytest.mark.parametrize(
    ("text", "explanation"),
    [
        ("03/04/2024", "could mean day 3 of month 4 or month 3, day 4"),
        ("2024-02-30", "not a real date"),
        ("45352", "not a date"),
        ("next monday", "not a date"),
        ("01.03.24", "not a date"),
    ],
)
def test_it_refuses_ambiguous_and_unreadable_dates(text, explanation):
    with pytest.raises(ValueError) as caught:
        parse_date(text)

    assert explanation in str(caught.value)
    assert "YYYY-MM-DD (e.g. 2024-03-01)" in str(caught.value)


def test_it_reports_an_unreadable_hire_date_as_a_row_error():
    records, issues = map_columns(
        table(
            ["Email", "Start date"],
            ["ana@example.com", "03/04/2024"],
            ["ben@example.com", "2024-03-04"],
        )
    )

    assert [(issue.code, issue.row, issue.column, issue.value) for issue in issues] == [
        ("invalid_date", 2, "Start date", "03/04/2024"),
    ]
    assert "format the cell as a date" in issues[0].message
    assert [record.row for record in records] == [3]


# --- row errors ----------------------------------------------------------------------------------


def test_it_reports_a_row_without_an_email():
    records, issues = map_columns(table(["Email", "First name"], [" ", "Ana"]))

    assert [(issue.code, issue.row, issue.column) for issue in issues] == [
        ("missing_email", 2, "Email")
    ]
    assert records == []


@pytest.mark.parametrize(
    "email",
    [
        "jane@",
        "jane.example.com",
        "Jane Roe <jane@example>",
        "mailto:jane",
        "jane @example.com",
    ],
)
def test_it_reports_an_invalid_email_as_written_without_trying_to_repair_it(email):
    records, issues = map_columns(table(["Email"], [email]))

    assert [(issue.code, issue.value) for issue in issues] == [("invalid_email", email)]
    assert f"'{email}' is not an email address" in issues[0].message
    assert "e.g. jane.roe@example.com" in issues[0].message
    assert records == []


def test_it_reports_a_repeated_email_and_names_its_first_row():
    records, issues = map_columns(
        table(["Email"], ["ana@example.com"], ["ben@example.com"], [" ANA@example.com "])
    )

    assert [(issue.code, issue.row, issue.value) for issue in issues] == [
        ("duplicate_email", 4, "ana@example.com"),
    ]
    assert "row 2" in issues[0].message
    assert [record.row for record in records] == [2, 3]


def test_it_reports_a_repeated_invalid_email_only_as_invalid():
    _, issues = map_columns(table(["Email", "Manager"], ["jane roe", "jane roe"], ["jane roe", ""]))

    assert codes(issues) == [
        ("invalid_email", 2),
        ("invalid_manager_email", 2),
        ("invalid_email", 3),
    ]


def test_it_reports_a_repeated_employee_id_and_names_its_first_row():
    _, issues = map_columns(
        table(
            ["Email", "Employee ID"],
            ["ana@example.com", "A-7"],
            ["ben@example.com", ""],
            ["carla@example.com", ""],
            ["dan@example.com", " a-7"],
        )
    )

    assert [(issue.code, issue.row, issue.column, issue.value) for issue in issues] == [
        ("duplicate_employee_id", 5, "Employee ID", "a-7"),
    ]
    assert "row 2" in issues[0].message


def test_it_reports_a_manager_given_by_name():
    _, issues = map_columns(table(["Email", "Manager"], ["ana@example.com", "Ben Okafor"]))

    assert [(issue.code, issue.column, issue.value) for issue in issues] == [
        ("invalid_manager_email", "Manager", "Ben Okafor"),
    ]
    assert "manager's email" in issues[0].message


def test_it_reports_a_person_who_is_their_own_manager():
    _, issues = map_columns(
        table(["Email", "Manager email"], ["ana@example.com", "ANA@example.com"])
    )

    assert codes(issues) == [("self_manager", 2)]


def test_it_reports_values_longer_than_the_field_allows_with_a_clipped_value():
    long_title = "T" * 151
    huge_name = "N" * (1024 * 1024)
    _, issues = map_columns(
        table(["Email", "Title", "First name"], ["ana@example.com", long_title, huge_name])
    )

    assert codes(issues) == [("value_too_long", 2), ("value_too_long", 2)]
    assert "the limit is 150" in issues[0].message
    assert all(len(issue.value) <= 200 for issue in issues)


def test_it_reports_a_one_megabyte_csv_cell_as_too_long():
    data = b"Email,Title\nana@example.com," + b"x" * (1024 * 1024) + b"\n"

    _, issues = map_columns(read_table(data))

    assert codes(issues) == [("value_too_long", 2)]


def test_it_reports_csv_rows_that_do_not_line_up_with_the_header(fixture_file):
    records, issues = map_columns(read_table(*fixture_file("ragged.csv")))

    assert [(issue.code, issue.row) for issue in issues] == [("ragged_row", 3), ("ragged_row", 4)]
    assert "This row has 5 fields, the header has 4" in issues[0].message
    assert "unquoted comma or semicolon" in issues[0].message
    assert "This row has 3 fields, the header has 4" in issues[1].message
    assert [record.row for record in records] == [2, 5]


def test_it_accepts_missing_csv_fields_under_blank_trailing_headers():
    records, issues = map_columns(
        table(["Email", "First name", "", ""], ["ana@example.com", "Ana"])
    )

    assert issues == []
    assert records == [Record(2, {"email": "ana@example.com", "first_name": "Ana"})]


def test_it_never_calls_workbook_rows_ragged():
    records, issues = map_columns(
        table(["Email", "First name"], ["ana@example.com"], format="xlsx")
    )

    assert issues == []
    assert records == [Record(2, {"email": "ana@example.com", "first_name": ""})]


def test_it_returns_records_only_for_rows_without_errors_but_keeps_warnings_apart():
    records, issues = map_columns(
        table(
            ["Email", "Notes"],
            ["ana@example.com", "x"],
            ["not-an-email", "y"],
            ["ben@example.com", ""],
        )
    )

    assert [record.row for record in records] == [2, 4]
    assert [(issue.code, issue.is_error) for issue in issues] == [
        ("unknown_column", False),
        ("invalid_email", True),
    ]


def test_it_finds_repeats_and_own_managers_across_blocks_of_rows():
    # Clean blocks of rows are checked a column at a time; a repeat of a row in an earlier
    # block, or anything unusual, sends the block through the row-by-row checks.
    rows = [[f"p{n}@example.com", f"E{n}", "boss@example.com"] for n in range(2, 3_502)]
    rows[1_500 - 2][0] = "p10@example.com"  # The email of row 10, in the second block.
    rows[2_200 - 2][1] = "e20"  # The employee ID of row 20 in another case, in the third block.
    rows[3_400 - 2][2] = "p3400@example.com"  # Their own manager, in the fourth block.

    records, issues = map_columns(table(["Email", "Employee ID", "Manager email"], *rows))

    assert [(issue.code, issue.row, issue.value) for issue in issues] == [
        ("duplicate_email", 1_500, "p10@example.com"),
        ("duplicate_employee_id", 2_200, "e20"),
        ("self_manager", 3_400, "p3400@example.com"),
    ]
    assert "row 10" in issues[0].message and "row 20" in issues[1].message
    assert [record.row for record in records] == [
        n for n in range(2, 3_502) if n not in (1_500, 2_200, 3_400)
    ]
    assert records[8].values == {
        "email": "p10@example.com",
        "employee_id": "E10",
        "manager_email": "boss@example.com",
    }


def test_a_releasable_table_gives_the_same_records_and_holds_no_rows_after():
    lines = ["Email,First name,Manager email"]
    lines += [f"p{n}@example.com,P{n},p0@example.com" for n in range(2500)]
    lines += ["not an email,X,", "p1@example.com,Again,"]  # an error, and a repeated email
    data = ("\n".join(lines) + "\n").encode()

    kept = map_columns(read_table(data))
    table = releasable(read_table(data))
    released = map_columns(table, release=True)

    assert released == kept
    assert len(released[0]) > 2000 and released[1]
    assert len(table.rows) == 2502 and set(table.rows) == {None}
