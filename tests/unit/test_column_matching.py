"""Header conventions of real exports, and the column matching step's proposal."""

import pytest

from importer.pipeline.columns import column_matching, column_names_chosen, map_columns
from importer.pipeline.headers import IGNORED, close_spelling, field_for_header
from importer.pipeline.parse import read_table
from importer.pipeline.types import FileError


@pytest.mark.parametrize(
    ("header", "field"),
    [
        # Google Workspace's bulk upload template.
        ("Email Address [Required]", "email"),
        ("First Name [Required]", "first_name"),
        ("Last Name [Required]", "last_name"),
        ("Employee Title", "title"),
        # Microsoft Entra ID's bulk create template.
        ("User name [userPrincipalName] Required", "email"),
        ("First name [givenName]", "first_name"),
        ("Last name [surname]", "last_name"),
        ("Job title [jobTitle]", "title"),
        ("Department [department]", "department"),
        ("Office [physicalDeliveryOfficeName]", "location"),
        # HR reports.
        ("Email - Primary Work", "email"),
        ("Legal Name - First Name", "first_name"),
        ("Business Title", "title"),
        ("Email *", "email"),
        ("Department (required)", "department"),
    ],
)
def test_it_reads_the_headers_of_directory_templates_and_hr_reports(header, field):
    assert field_for_header(header) == field


def test_bracket_marks_never_make_a_meaning_up():
    assert field_for_header("Password [Required]") is None
    assert field_for_header("Name [displayName] Required") is None
    assert field_for_header("Org Unit Path [Required]") is None


def test_a_directory_template_imports_without_a_matching_step():
    text = (
        "User name [userPrincipalName] Required,First name [givenName],Last name [surname]\n"
        "ana@example.com,Ana,Lima\n"
    )
    table = read_table(text.encode())
    assert column_matching(table) == []
    records, issues = map_columns(table)
    assert records[0].values["email"] == "ana@example.com"
    assert records[0].values["first_name"] == "Ana"
    assert issues == []


def test_an_unknown_column_gets_a_matching_step_with_samples_and_suggestions():
    text = "Email,Vorname,Deparment,Cost center\na@x.com,Ana,Sales,K1\nb@x.com,Ben,IT,K2\n"
    columns = column_matching(read_table(text.encode()))
    by_header = {column["header"]: column for column in columns}
    assert by_header["Email"]["suggested"] == "email"
    assert by_header["Email"]["field"] == "email"
    assert by_header["Deparment"]["suggested"] == "department"
    assert "Department" in by_header["Deparment"]["reason"]
    assert by_header["Deparment"]["field"] == ""
    assert by_header["Cost center"]["suggested"] == IGNORED
    assert by_header["Cost center"]["samples"] == ["K1", "K2"]


def test_a_file_without_an_email_column_is_matched_by_its_values():
    text = "Login,First name,Last name\nana@example.com,Ana,Lima\nben@example.com,Ben,Ode\n"
    table = read_table(text.encode())
    columns = column_matching(table)
    assert columns[0]["suggested"] == "email"
    assert "email addresses" in columns[0]["reason"]
    with pytest.raises(FileError) as raised:
        map_columns(table)
    assert raised.value.code == "missing_column"
    assert "'Login', 'First name', 'Last name'" in raised.value.message
    assert "The closest is 'Login'" in raised.value.message


def test_saved_names_and_ignored_columns_skip_the_step_and_the_warning():
    text = "Mail Addr,Given,Cost center\nana@example.com,Ana,K1\n"
    mapping = {"Mail Addr": "email", "Given": "first_name", "Cost center": IGNORED}
    table = read_table(text.encode(), extra_synonyms=mapping)
    assert column_matching(table, mapping) == []
    records, issues = map_columns(table, mapping)
    assert records[0].values == {"email": "ana@example.com", "first_name": "Ana"}
    assert issues == []


def test_only_choices_the_built_in_names_would_not_give_are_saved():
    text = "Mail Addr,Vorname,Team,Cost center\nana@example.com,Ana,Sales,K1\n"
    columns = column_matching(read_table(text.encode()))
    names = column_names_chosen(
        columns,
        {0: "email", 1: "first_name", 2: "location", 3: IGNORED},
        {"VORNAME": "last_name", "Badge": "employee_id"},
    )
    # Vorname back to its built-in meaning drops the old name (written in other case); Team
    # read as the location overrides the built-in department; other names stay.
    assert names == {
        "Badge": "employee_id",
        "Mail Addr": "email",
        "Team": "location",
        "Cost center": IGNORED,
    }


def test_an_error_report_without_the_input_holds_the_errors_sheet_alone():
    from openpyxl import load_workbook

    from importer.history.exports import error_report_xlsx

    issue = {"severity": "error", "row": None, "code": "empty_file", "message": "Empty."}
    workbook = load_workbook(error_report_xlsx([issue], None))
    assert workbook.sheetnames == ["Errors"]
    assert [cell.value for cell in workbook["Errors"][2]] == [
        "file",
        None,
        None,
        "Empty.",
        "empty_file",
    ]


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Emial", "email"),
        ("Deparment", "department"),
        ("Frist name", "first_name"),
        ("Tilte", "title"),
    ],
)
def test_a_typo_in_a_known_name_is_suggested(header, field):
    assert close_spelling(header, {})[0] == field


@pytest.mark.parametrize(
    "header", ["Floor Name", "Employee Type", "Position ID", "Worker", "Cost Center", "Name"]
)
def test_a_different_name_is_no_typo(header):
    assert close_spelling(header, {}) is None
