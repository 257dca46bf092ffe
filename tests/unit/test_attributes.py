"""Custom attributes in the pipeline: read from their columns, checked by type, compared."""

import datetime as dt

import pytest

from importer.pipeline.attributes import canonical_number, header_names, read_number
from importer.pipeline.columns import column_matching, file_headers, map_columns
from importer.pipeline.diff import apply_to_snapshot, compute_changeset
from importer.pipeline.types import (
    ATTRIBUTE_MAX_LENGTH,
    Action,
    AttributeSpec,
    AttributeType,
    ImportOptions,
    Record,
    Row,
    Severity,
    Snapshot,
    SnapshotUser,
)

COST = AttributeSpec("cost_centre", "Cost Centre", AttributeType.TEXT, (), ("Kostenstelle",))
LEVEL = AttributeSpec("level", "Level", AttributeType.NUMBER)
REVIEW = AttributeSpec("next_review", "Next review", AttributeType.DATE)
KIND = AttributeSpec(
    "employment_type", "Employment type", AttributeType.CHOICE, ("Full time", "Part time")
)
ATTRIBUTES = (COST, LEVEL, REVIEW, KIND)


def table(headers, *rows, format="csv"):
    from importer.pipeline.types import Table

    return Table(
        header_row=1,
        headers=tuple(headers),
        rows=tuple(Row(2 + index, tuple(cells)) for index, cells in enumerate(rows)),
        format=format,
    )


def read(headers, *rows, format="csv", attributes=ATTRIBUTES, mapping=None):
    return map_columns(table(headers, *rows, format=format), mapping, attributes=attributes)


def one_value(header, cell, spec, format="csv"):
    """Return (the record's value or None, the issues) of one cell of a column `header`."""
    records, issues = read(
        ("Email", header), ("a@x.example", cell), format=format, attributes=(spec,)
    )
    return (records[0].values.get(spec.field) if records else None), issues


# --- columns -------------------------------------------------------------------------------------


def test_a_column_named_as_an_attribute_or_one_of_its_column_names_feeds_it():
    records, issues = read(
        ("Email", "cost  centre", "KOSTENSTELLE", "level"),
        ("a@x.example", "CC-1", "CC-2", "3"),
    )
    # The first column naming a field feeds it; the second is reported as a duplicate.
    assert records[0].values["attr_cost_centre"] == "CC-1"
    assert [issue.code for issue in issues] == ["duplicate_column"]
    assert "Cost Centre" in issues[0].message

    records, issues = read(("Email", "Kostenstelle", "Level"), ("a@x.example", "CC-2", "3"))
    assert issues == []
    assert records[0].values == {
        "email": "a@x.example",
        "attr_cost_centre": "CC-2",
        "attr_level": "3",
    }


def test_the_organizations_column_names_map_a_header_to_an_attribute_and_win():
    mapping = {"Kst.": "attr_cost_centre", "Level": "title", "Gone": "attr_deleted"}
    records, issues = read(
        ("Email", "Kst.", "Level", "Gone"), ("a@x.example", "CC-9", "Lead", "x"), mapping=mapping
    )
    assert records[0].values == {
        "email": "a@x.example",
        "attr_cost_centre": "CC-9",
        "title": "Lead",
    }
    # A mapping to an attribute the organization no longer has is not a field.
    assert [(issue.code, issue.column) for issue in issues] == [("unknown_column", "Gone")]
    assert "attr_deleted" not in header_names(mapping, ATTRIBUTES).values()


def test_an_attribute_named_like_a_built_in_synonym_takes_the_column():
    division = AttributeSpec("division", "Division")
    records, issues = read(
        ("Email", "Division", "Department"),
        ("a@x.example", "EMEA", "Sales"),
        attributes=(division,),
    )
    assert issues == []
    assert records[0].values["attr_division"] == "EMEA"
    assert records[0].values["department"] == "Sales"


def test_file_headers_name_an_attributes_column_as_the_file_spells_it():
    headers = file_headers(table(("E-Mail", "kostenstelle"), ()), None, ATTRIBUTES)
    assert headers == {"email": "E-Mail", "attr_cost_centre": "kostenstelle"}


def test_the_column_matching_suggests_attributes_like_built_in_fields():
    columns = column_matching(
        table(("Email", "Next review", "Employment tpye", "Whatever"), ("a@x.example", "", "", "")),
        None,
        ATTRIBUTES,
    )
    by_header = {column["header"]: column for column in columns}
    assert by_header["Next review"]["field"] == "attr_next_review"
    assert "custom attribute 'Next review'" in by_header["Next review"]["reason"]
    assert by_header["Employment tpye"]["suggested"] == "attr_employment_type"
    assert by_header["Employment tpye"]["reason"] == "Spelt like 'Employment type'."
    assert by_header["Whatever"]["suggested"] == "ignore"


def test_an_unknown_column_warning_lists_the_attributes_among_the_names_to_use():
    _records, issues = read(("Email", "Shoe size"), ("a@x.example", "44"))
    assert issues[0].code == "unknown_column"
    assert "'Cost Centre'" in issues[0].message and "'Employment type'" in issues[0].message


# --- text ----------------------------------------------------------------------------------------


def test_text_is_stored_as_written_composed_and_trimmed():
    value, issues = one_value("Cost Centre", "  Mu\u0308nchen-1\xa0", COST)
    assert (value, issues) == ("München-1", [])


def test_text_longer_than_the_limit_is_an_error_naming_row_column_and_limit():
    value, issues = one_value("Kostenstelle", "x" * (ATTRIBUTE_MAX_LENGTH + 1), COST)
    assert value is None
    (issue,) = issues
    assert (issue.code, issue.row, issue.column) == ("value_too_long", 2, "Kostenstelle")
    assert f"the limit is {ATTRIBUTE_MAX_LENGTH}" in issue.message
    assert "Cost Centre is 256 characters long" in issue.message


def test_a_spreadsheet_error_in_an_attribute_is_a_warning_and_keeps_the_stored_value():
    records, issues = read(("Email", "Level"), ("a@x.example", "#N/A"), format="xlsx")
    assert "attr_level" not in records[0].values
    assert [(i.code, i.severity, i.column) for i in issues] == [
        ("spreadsheet_error", Severity.WARNING, "Level")
    ]


# --- numbers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "stored"),
    [
        ("12", "12"),
        ("12.50", "12.5"),
        ("12.0", "12"),
        ("-3", "-3"),
        ("+7", "7"),
        ("-0.25", "-0.25"),
        ("0.000", "0"),
        ("-0", "0"),
        (".5", "0.5"),
        ("1200", "1200"),
        ("007", "7"),
    ],
)
def test_numbers_are_stored_in_their_canonical_text(cell, stored):
    assert one_value("Level", cell, LEVEL) == (stored, [])


@pytest.mark.parametrize(
    ("cell", "advice"),
    [
        ("1,234.5", "e.g. 1234.5"),
        ("1.234,5", "e.g. 1234.5"),
        ("12,5", "e.g. 1234.5"),
        ("1 234", "e.g. 1234.5"),
        ("1e3", "scientific notation"),
        ("2.5E-3", "scientific notation"),
        ("twelve", "is not a number"),
        ("12 EUR", "is not a number"),
    ],
)
def test_a_number_written_otherwise_is_an_error_saying_how_to_write_it(cell, advice):
    value, issues = one_value("Level", cell, LEVEL)
    assert value is None
    (issue,) = issues
    assert (issue.code, issue.row, issue.column, issue.value) == (
        "invalid_number",
        2,
        "Level",
        cell,
    )
    assert advice in issue.message


@pytest.mark.parametrize(
    ("cell", "stored"),
    [
        ("1e-05", "0.00001"),  # a spreadsheet's number cell, as the .xlsx reader writes it
        ("1.5e+16", "15000000000000000"),
        ("0.30000000000000004", "0.3"),  # a float's every digit: a spreadsheet shows 15
        ("12.5", "12.5"),
    ],
)
def test_a_spreadsheets_number_cells_are_read_as_the_spreadsheet_shows_them(cell, stored):
    assert one_value("Level", cell, LEVEL, format="xlsx") == (stored, [])


def test_canonical_numbers_never_have_an_exponent():
    from decimal import Decimal

    assert canonical_number(Decimal("1E+3")) == "1000"
    assert canonical_number(Decimal("1.50E-7")) == "0.00000015"
    assert read_number("1e3", spreadsheet=False)[0] == ""


# --- dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    [
        "2024-03-01",
        "01.03.2024",
        "1.3.2024",
        "2024-03-01 00:00:00",
        dt.date(2024, 3, 1),
        "3/13/2024",
    ],
)
def test_dates_are_read_as_hire_dates_are(cell):
    expected = dt.date(2024, 3, 13) if cell == "3/13/2024" else dt.date(2024, 3, 1)
    assert one_value("Next review", cell, REVIEW) == (expected, [])


def test_an_ambiguous_date_follows_the_order_its_own_column_shows():
    records, issues = read(
        ("Email", "Hire date", "Next review"),
        ("a@x.example", "13/01/2020", "3/4/2024"),
        ("b@x.example", "", "7/21/2024"),
    )
    # The hire dates are day first, the review dates month first: each column decides alone.
    assert records[0].values["attr_next_review"] == dt.date(2024, 3, 4)
    assert [(issue.code, issue.column) for issue in issues] == [
        ("date_order_inferred", "Next review")
    ]


def test_a_date_that_is_none_is_an_error_naming_row_and_column():
    value, issues = one_value("Next review", "next spring", REVIEW)
    assert value is None
    (issue,) = issues
    assert (issue.code, issue.row, issue.column) == ("invalid_date", 2, "Next review")
    assert "YYYY-MM-DD" in issue.message


# --- choices -------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["Full time", "full time", "  FULL   TIME ", "Full\xa0time"])
def test_a_choice_matches_whatever_its_case_and_spaces_and_is_stored_as_spelled(cell):
    assert one_value("Employment type", cell, KIND) == ("Full time", [])


def test_a_value_that_is_no_choice_is_an_error_listing_the_choices():
    value, issues = one_value("Employment type", "Contractor", KIND)
    assert value is None
    (issue,) = issues
    assert (issue.code, issue.row, issue.column) == ("invalid_choice", 2, "Employment type")
    assert "'Full time', 'Part time'" in issue.message


def test_a_blank_cell_is_blank_whatever_the_type():
    records, issues = read(
        ("Email", "Cost Centre", "Level", "Next review", "Employment type"),
        ("a@x.example", "", " ", "", ""),
    )
    assert issues == []
    assert records[0].values == {
        "email": "a@x.example",
        "attr_cost_centre": "",
        "attr_level": "",
        "attr_next_review": None,
        "attr_employment_type": "",
    }


# --- the diff ------------------------------------------------------------------------------------

ALL_FIELDS = ImportOptions.update_fields | {spec.field for spec in ATTRIBUTES}


def options(**values):
    return ImportOptions(attributes=ATTRIBUTES, **{"update_fields": ALL_FIELDS, **values})


def ann(**attributes):
    return SnapshotUser(1, "ann@x.example", first_name="Ann", attributes=attributes or None)


def test_an_attribute_change_shows_the_stored_and_the_new_canonical_text():
    record = Record(
        2,
        {
            "email": "ann@x.example",
            "attr_level": "3",
            "attr_next_review": dt.date(2025, 1, 31),
            "attr_cost_centre": "CC-1",
        },
    )
    changeset = compute_changeset(
        [record], Snapshot((ann(level="2", cost_centre="CC-1"),)), options()
    )
    (change,) = changeset.changes
    assert change.action == Action.UPDATE
    assert change.fields == {"attr_level": ("2", "3"), "attr_next_review": ("", "2025-01-31")}


def test_an_attribute_left_out_of_the_fields_imports_may_change_is_skipped_by_name():
    record = Record(2, {"email": "ann@x.example", "attr_level": "3"})
    changeset = compute_changeset(
        [record],
        Snapshot((ann(level="2"),)),
        options(update_fields=ImportOptions.update_fields),
    )
    assert changeset.changes == ()
    (skipped,) = changeset.skipped
    assert skipped.fields == {"attr_level": ("2", "3")}
    assert skipped.skipped_reason.startswith("Level is not among the")


def test_a_blank_attribute_keeps_the_stored_value_unless_blank_cells_clear_it():
    record = Record(2, {"email": "ann@x.example", "attr_level": "", "attr_next_review": None})
    snapshot = Snapshot((ann(level="2", next_review="2024-01-01"),))
    assert compute_changeset([record], snapshot, options()).changes == ()
    changeset = compute_changeset(
        [record], snapshot, options(clear_blank_fields=frozenset({"attr_level"}))
    )
    assert changeset.changes[0].fields == {"attr_level": ("2", "")}
    after = apply_to_snapshot(snapshot, changeset)
    assert after.users[0].attributes == {"next_review": "2024-01-01"}


def test_the_same_value_changes_nothing():
    record = Record(2, {"email": "ann@x.example", "attr_employment_type": "Part time"})
    changeset = compute_changeset(
        [record], Snapshot((ann(employment_type="Part time"),)), options()
    )
    assert changeset.changes == () and changeset.unchanged == 1


def test_a_new_person_carries_their_attributes_and_applying_stores_them():
    record = Record(
        2,
        {
            "email": "new@x.example",
            "attr_level": "4",
            "attr_next_review": dt.date(2025, 6, 1),
            "attr_cost_centre": "",
        },
    )
    changeset = compute_changeset([record], Snapshot(()), options())
    (change,) = changeset.changes
    assert change.action == Action.CREATE
    assert change.fields == {
        "email": ("", "new@x.example"),
        "attr_level": ("", "4"),
        "attr_next_review": ("", "2025-06-01"),
    }
    (user,) = apply_to_snapshot(Snapshot(()), changeset).users
    assert user.attributes == {"level": "4", "next_review": "2025-06-01"}
