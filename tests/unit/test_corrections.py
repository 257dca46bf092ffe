"""The corrected file: cells edited and rows dropped, written as CSV that reads back the same."""

import pytest

from importer.pipeline.columns import map_columns
from importer.pipeline.corrections import (
    CellCorrection,
    apply_corrections,
    cell_text,
    editable_columns,
    table_as_csv,
)
from importer.pipeline.parse import read_table


def as_text(table):
    return [(row.number, tuple(cell_text(cell) for cell in row.cells)) for row in table.rows]


@pytest.mark.parametrize(
    "name",
    ["title_rows.xlsx", "dates_ids_formulas.xlsx", "quoted_newlines.csv", "cp1252_semicolon.csv"],
)
def test_an_uncorrected_file_reads_back_the_same_with_the_same_row_numbers(fixture_file, name):
    table = read_table(*fixture_file(name))

    again = read_table(table_as_csv(table), "corrected.csv")

    assert again.header_row == table.header_row
    assert again.headers == table.headers
    assert as_text(again) == as_text(table)


def test_an_uncorrected_file_gives_the_same_records_and_issues(fixture_file):
    table = read_table(*fixture_file("dates_ids_formulas.xlsx"))

    assert map_columns(read_table(table_as_csv(table))) == map_columns(table)


def test_a_dropped_row_is_left_out_and_the_rows_after_it_keep_their_numbers(fixture_file):
    table = read_table(*fixture_file("dates_ids_formulas.xlsx"))
    first, second, *rest = table.rows

    corrected, changed = apply_corrections(table, [], [second.number])
    again = read_table(table_as_csv(corrected))

    assert changed == 0
    assert [row.number for row in again.rows] == [first.number] + [row.number for row in rest]


def test_an_edited_cell_is_counted_once_and_a_value_typed_as_it_was_not_at_all(fixture_file):
    table = read_table(*fixture_file("title_rows.xlsx"))
    row = table.rows[0]

    corrected, changed = apply_corrections(
        table,
        [
            CellCorrection(row=row.number, column=0, value="ana@example.org"),
            CellCorrection(row=row.number, column=1, value=row.cells[1]),
        ],
        [],
    )

    assert changed == 1
    assert read_table(table_as_csv(corrected)).rows[0].cells[:2] == ("ana@example.org", "Ana")


def test_a_row_or_column_the_file_does_not_have_is_refused(fixture_file):
    table = read_table(*fixture_file("title_rows.xlsx"))

    with pytest.raises(ValueError, match="Row 6"):
        apply_corrections(table, [], [6])  # Row 6 is blank in the workbook.
    with pytest.raises(ValueError, match="Column 9"):
        apply_corrections(table, [CellCorrection(row=5, column=9, value="x")], [])


def test_an_edited_or_dropped_row_no_longer_lists_its_undecodable_bytes(fixture_file):
    table = read_table(*fixture_file("utf8_stray_byte.csv"))
    (number, column, _hexed), *_ = table.undecodable

    edited, _ = apply_corrections(table, [CellCorrection(number, column, "José")], [])
    dropped, _ = apply_corrections(table, [], [number])

    assert edited.undecodable == dropped.undecodable == ()


def test_the_editing_screen_shows_the_imported_columns_and_those_errors_name(fixture_file):
    table = read_table(*fixture_file("dates_ids_formulas.xlsx"))

    shown = [table.headers[index] for index in editable_columns(table, {"Checked"})]

    assert "Full name" not in shown  # Not imported, and no error names it.
    assert shown[:4] == ["Employee ID", "First name", "Last name", "Email"]
    assert shown[-1] == "Checked"
