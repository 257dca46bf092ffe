"""read_table: bytes → Table, on real files (tests/fixtures/, see make_fixtures.py there)."""

import csv
import datetime as dt
import io
import re
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from importer.pipeline.parse import OLE2_MAGIC, ZIP_MAGIC, read_table
from importer.pipeline.types import FileError, Row, Table


def error_of(data: bytes, **options) -> FileError:
    with pytest.raises(FileError) as caught:
        read_table(data, **options)
    return caught.value


def xlsx(*sheets: tuple[str, list[list], str]) -> bytes:
    """Return an .xlsx written by openpyxl with (title, rows, state) sheets."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows, state in sheets:
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
        sheet.sheet_state = state
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


# --- xlsx written by LibreOffice -----------------------------------------------------------------


def test_it_reads_a_workbook_cell_by_cell(fixture_file):
    table = read_table(*fixture_file("two_employees.xlsx"))

    assert table == Table(
        header_row=1,
        headers=(
            "Email",
            "First name",
            "Last name",
            "Title",
            "Department",
            "Location",
            "Employee ID",
            "Hire date",
            "Manager email",
        ),
        rows=(
            Row(
                2,
                (
                    "ana.silva@example.com",
                    "Ana",
                    "Silva",
                    "Head of People",
                    "People",
                    "Lisbon",
                    "1001",
                    dt.date(2021, 4, 1),
                    "",
                ),
            ),
            Row(
                3,
                (
                    "ben.okafor@example.com",
                    "Ben",
                    "Okafor",
                    "Engineer",
                    "Engineering",
                    "Berlin",
                    "1002",
                    dt.date(2023, 9, 15),
                    "ana.silva@example.com",
                ),
            ),
        ),
        format="xlsx",
    )


def test_it_reads_whole_number_ids_without_decimals(fixture_file):
    table = read_table(*fixture_file("dates_ids_formulas.xlsx"))

    assert [row.cells[0] for row in table.rows] == ["1001", "00042", "123456789012345"]


def test_it_reads_whole_floats_as_whole_numbers_up_to_excels_precision(fixture_file):
    table = read_table(*fixture_file("float_numbers.xlsx"))

    assert [row.cells[1] for row in table.rows] == ["1001", "1000000000000000", "0.1", "1e+20"]


def test_it_keeps_the_leading_zeros_of_ids_stored_as_text(fixture_file):
    table = read_table(*fixture_file("dates_ids_formulas.xlsx"))

    assert table.rows[1].cells[0] == "00042"


def test_it_reads_date_cells_as_dates_and_drops_their_time_of_day(fixture_file):
    table = read_table(*fixture_file("dates_ids_formulas.xlsx"))

    hire_dates = [row.cells[table.headers.index("Hire date")] for row in table.rows]
    assert hire_dates == [dt.date(2021, 4, 1), dt.date(2023, 9, 15), dt.date(2019, 1, 31)]
    assert all(type(hire_date) is dt.date for hire_date in hire_dates)


def test_it_reads_the_cached_values_of_formulas(fixture_file):
    table = read_table(*fixture_file("dates_ids_formulas.xlsx"))

    first, second, _ = table.rows
    assert first.cells[table.headers.index("Email")] == "ana.silva@example.com"
    assert second.cells[table.headers.index("Manager email")] == "ana.silva@example.com"
    assert second.cells[table.headers.index("Full name")] == "Ben Okafor"


def test_it_keeps_error_cells_as_their_text(fixture_file):
    table = read_table(*fixture_file("dates_ids_formulas.xlsx"))

    assert table.rows[1].cells[table.headers.index("Checked")] == "#N/A"


def test_it_reads_booleans_fractions_big_numbers_and_times_as_excel_shows_them(fixture_file):
    table = read_table(*fixture_file("cell_types.xlsx"))

    shown = {row.cells[1]: row.cells[2] for row in table.rows}
    assert shown == {
        "boolean": "TRUE",
        "fraction": "1.5",
        "big whole number": "1000000000000000",
        "time": "09:30:00",
        "percentage": "0.25",
        "negative": "-7",
    }


def test_it_finds_the_header_below_title_rows(fixture_file):
    table = read_table(*fixture_file("title_rows.xlsx"))

    assert table.header_row == 4
    assert table.headers == ("E-Mail", "Vorname", "Nachname", "Abteilung")


def test_it_numbers_rows_as_the_sheet_shows_them_and_skips_blank_ones(fixture_file):
    table = read_table(*fixture_file("title_rows.xlsx"))

    assert [(row.number, row.cells[0]) for row in table.rows] == [
        (5, "ana.silva@example.com"),
        (7, "ben.okafor@example.com"),
    ]


def test_it_reads_every_row_even_when_the_sheet_declares_a_smaller_size(fixture_file):
    table = read_table(*fixture_file("wrong_dimension.xlsx"))

    assert [row.number for row in table.rows] == [2, 3, 4, 5]


def test_it_skips_hidden_sheets(fixture_file):
    table = read_table(*fixture_file("hidden_first_sheet.xlsx"))

    assert [row.cells[0] for row in table.rows] == [
        "ana.silva@example.com",
        "ben.okafor@example.com",
    ]


def test_it_skips_chartsheets_and_sheets_without_a_header_row(fixture_file):
    table = read_table(*fixture_file("cover_sheets_first.xlsx"))

    assert table.headers == ("Work Email", "Given name", "Surname", "Team")
    assert len(table.rows) == 2


def test_it_takes_a_later_sheet_when_the_first_has_a_header_but_no_people():
    data = xlsx(
        ("Template", [["Email", "First name"]], "visible"),
        ("People", [["Email", "First name"], ["ana@example.com", "Ana"]], "visible"),
    )

    assert read_table(data).rows == (Row(2, ("ana@example.com", "Ana")),)


def test_it_keeps_data_under_a_blank_header_and_drops_empty_columns_after_it(fixture_file):
    table = read_table(*fixture_file("wide_stray_cell.xlsx"))

    assert table.headers == ("Email", "First name", "Last name", "", "", "")
    assert table.rows == (
        Row(2, ("ana.silva@example.com", "Ana", "Silva", "", "", "see HR")),
        Row(3, ("ben.okafor@example.com", "Ben", "Okafor", "", "", "")),
    )


def test_it_never_reads_a_stray_cell_far_beyond_the_column_limit(fixture_file):
    data, name = fixture_file("wide_stray_cell.xlsx")

    table = read_table(data, name, max_columns=6)

    assert "stray" not in {cell for row in table.rows for cell in row.cells}
    assert len(table.headers) == 6


def test_it_refuses_a_sheet_wider_than_the_column_limit(fixture_file):
    data, _ = fixture_file("wide_stray_cell.xlsx")

    error = error_of(data, max_columns=5)

    assert error.code == "file_too_large"
    assert "5 columns" in error.message


def test_it_refuses_a_header_row_wider_than_the_column_limit():
    data = xlsx(("People", [["Email", "A", "B", "C"], ["ana@example.com"]], "visible"))

    assert error_of(data, max_columns=3).code == "file_too_large"


def test_it_refuses_more_data_rows_than_the_limit(fixture_file):
    data, _ = fixture_file("two_employees.xlsx")

    error = error_of(data, max_rows=1)

    assert error.code == "file_too_large"
    assert "1 rows" in error.message
    assert len(read_table(data, max_rows=2).rows) == 2


def test_it_refuses_a_workbook_with_a_header_but_no_people(fixture_file):
    error = error_of(fixture_file("header_only.xlsx")[0])

    assert (error.code, error.message) == (
        "empty_file",
        "The file has a header row but no people in it.",
    )


def test_it_refuses_an_empty_workbook(fixture_file):
    assert error_of(fixture_file("empty_sheet.xlsx")[0]).code == "empty_file"


def test_it_says_so_when_only_hidden_sheets_have_data():
    data = xlsx(
        ("People", [["Email"], ["ana@example.com"]], "hidden"),
        ("Blank", [], "visible"),
    )

    error = error_of(data)

    assert error.code == "empty_file"
    assert "hidden" in error.message


def test_it_refuses_a_workbook_without_an_email_column():
    data = xlsx(("People", [["Name", "Team"], ["Ana Silva", "People"]], "visible"))

    error = error_of(data)

    assert error.code == "missing_column"
    assert "No email column found" in error.message


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_file_whose_columns_are_all_unknown_is_told_its_columns_and_the_closest(fmt):
    """No row names a known column, so none is taken for the header: the error still quotes the
    file's first row and names the column whose values are addresses."""
    rows = [["Kennung", "Adresse", "Vorname"], ["17", "ana@acme.example", "Ana"]]
    rows.append(["18", "bo@acme.example", "Bo"])
    if fmt == "csv":
        data = "".join(",".join(row) + "\n" for row in rows).encode()
    else:
        data = xlsx(("People", rows, "visible"))

    error = error_of(data, filename=f"people.{fmt}")

    assert error.code == "missing_column"
    assert "'Kennung', 'Adresse', 'Vorname'" in error.message
    assert "The closest is 'Adresse'" in error.message


def test_it_finds_the_header_by_the_organizations_own_column_names():
    data = xlsx(("People", [["Kontakt", "Team"], ["ana@example.com", "People"]], "visible"))

    table = read_table(data, extra_synonyms={"Kontakt": "email"})

    assert table.headers == ("Kontakt", "Team")


def test_it_looks_for_the_header_in_the_first_50_non_empty_rows_only():
    titles = [[f"Note {number}"] for number in range(50)]
    late = xlsx(("People", [*titles, ["Email"], ["ana@example.com"]], "visible"))
    in_time = xlsx(("People", [*titles[:49], ["Email"], ["ana@example.com"]], "visible"))

    assert error_of(late).code == "missing_column"
    assert read_table(in_time).header_row == 50


# --- what is not a readable workbook -------------------------------------------------------------


def test_it_decides_the_format_by_content_not_by_name(fixture_file):
    workbook, _ = fixture_file("two_employees.xlsx")
    text, _ = fixture_file("utf8_bom.csv")

    assert read_table(workbook, "people.csv").format == "xlsx"
    assert read_table(text, "people.xlsx").format == "csv"


def test_it_refuses_a_legacy_xls_workbook(fixture_file):
    error = error_of(fixture_file("legacy.xls")[0])

    assert error.code == "unsupported_format"
    assert ".xls" in error.message and ".xlsx" in error.message


def test_it_refuses_a_password_protected_workbook(fixture_file):
    data, _ = fixture_file("password.xlsx")
    assert data.startswith(OLE2_MAGIC)

    error = error_of(data)

    assert error.code == "unreadable_file"
    assert "password" in error.message


def test_it_refuses_a_truncated_workbook(fixture_file):
    error = error_of(fixture_file("corrupt.xlsx")[0])

    assert error.code == "unreadable_file"
    assert "damaged" in error.message


def test_it_refuses_random_bytes(fixture_file):
    assert error_of(fixture_file("binary_renamed.xlsx")[0]).code == "unreadable_file"


def test_it_refuses_a_web_page_saved_instead_of_the_export(fixture_file):
    error = error_of(fixture_file("html_page.xlsx")[0])

    assert error.code == "unsupported_format"
    assert "web page" in error.message


@pytest.mark.parametrize(
    "start",
    [b"<!DOCTYPE html>", b"\xef\xbb\xbf  <html lang='de'>", b"\r\n<HTML>", b"<!-- x --><html>"],
)
def test_it_recognises_web_pages_however_they_start(start):
    assert error_of(start + b"<body>Email</body></html>").code == "unsupported_format"


def test_it_refuses_a_zip_archive_that_is_not_a_workbook(fixture_file):
    error = error_of(fixture_file("zipped_csv.xlsx")[0])

    assert error.code == "unreadable_file"
    assert "not an Excel workbook" in error.message


def test_it_refuses_an_opendocument_spreadsheet(fixture_file):
    error = error_of(fixture_file("calc.ods")[0])

    assert error.code == "unsupported_format"
    assert ".ods" in error.message


def test_it_refuses_a_pdf():
    assert error_of(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj").code == "unsupported_format"


def test_it_turns_any_failure_inside_openpyxl_into_unreadable_file():
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "this is not XML")

    assert error_of(output.getvalue()).code == "unreadable_file"


def test_it_refuses_external_entities(fixture_file):
    assert error_of(fixture_file("xxe.xlsx")[0]).code == "unsafe_xml"


def test_it_refuses_entity_expansion(fixture_file):
    assert error_of(fixture_file("billion_laughs.xlsx")[0]).code == "unsafe_xml"


def test_it_refuses_any_doctype_even_without_entities(fixture_file):
    assert error_of(fixture_file("external_dtd.xlsx")[0]).code == "unsafe_xml"


def test_it_refuses_a_doctype_that_comes_after_a_long_comment(fixture_file):
    # Past the prolog scan: only defusedxml, inside openpyxl, stops this one.
    assert error_of(fixture_file("xxe_late_doctype.xlsx")[0]).code == "unsafe_xml"


def test_it_refuses_a_zip_bomb_by_its_declared_size(fixture_file):
    data, _ = fixture_file("zip_bomb.xlsx")
    assert len(data) < 3 * 1024 * 1024

    error = error_of(data)

    assert error.code == "file_too_large"
    assert "1,100 MB" in error.message


def test_it_refuses_a_part_that_expands_absurdly_even_under_the_size_limit(fixture_file):
    error = error_of(fixture_file("ratio_bomb.xlsx")[0])

    assert error.code == "file_too_large"
    assert "-fold" in error.message


def test_it_bounds_the_unpacked_size_by_max_xml_bytes(fixture_file):
    data, _ = fixture_file("two_employees.xlsx")

    assert error_of(data, max_xml_bytes=10_000).code == "file_too_large"
    assert read_table(data, max_xml_bytes=1_000_000).rows


# --- CSV -----------------------------------------------------------------------------------------


def test_it_reads_excel_unicode_text_as_utf16_with_tabs(fixture_file):
    table = read_table(*fixture_file("utf16_tab.csv"))

    assert table.format == "csv"
    assert table.headers == ("Email", "First name", "Last name", "Department", "Location")
    assert table.rows[0].cells == (
        "zoe.mueller@example.com",
        "Zoë",
        "Müller",
        "Forschung & Entwicklung",
        "Zürich",
    )
    assert table.rows[2].cells[1:] == ("雷", "李", "Engineering", "北京")


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_it_reads_utf16_without_a_byte_order_mark(encoding):
    data = "Email\tName\r\nzoë@example.com\tZoë\r\n".encode(encoding)

    assert read_table(data).rows == (Row(2, ("zoë@example.com", "Zoë")),)


def test_it_reads_utf16_big_endian_with_a_byte_order_mark():
    data = "\ufeffEmail,Name\nana@example.com,Åsa\n".encode("utf-16-be")

    assert read_table(data).rows == (Row(2, ("ana@example.com", "Åsa")),)


def test_it_reads_german_excel_csv_in_windows_1252_with_semicolons(fixture_file):
    table = read_table(*fixture_file("cp1252_semicolon.csv"))

    assert table.headers == (
        "Vorname",
        "Nachname",
        "E-Mail",
        "Abteilung",
        "Personalnummer",
        "Eintrittsdatum",
    )
    assert table.rows == (
        Row(
            2,
            (
                "Jürgen",
                "Größe",
                "juergen.groesse@example.de",
                "Geschäftsführung",
                "00017",
                "01.03.2024",
            ),
        ),
        Row(
            3,
            ("Bärbel", "Öztürk", "baerbel.oeztuerk@example.de", "Kasse – €", "00018", "15.11.2019"),
        ),
    )


def test_it_never_reads_bytes_that_windows_1252_leaves_undefined_as_control_characters():
    data = b"Email,Name\r\nana@example.com,\x81\x8d\x8f\x90\x9d \x80\r\n"

    assert not re.search(r"[\x80-\x9f]", read_table(data).rows[0].cells[1])


def test_it_drops_the_utf8_byte_order_mark_from_the_first_header(fixture_file):
    table = read_table(*fixture_file("utf8_bom.csv"))

    assert table.headers[0] == "Email"
    assert table.rows[0].cells == ("emilie.leclerc@example.com", "Émilie", "Leclerc", "Genève")


def test_it_keeps_quoted_commas_quotes_and_line_breaks(fixture_file):
    table = read_table(*fixture_file("quoted_newlines.csv"))

    ana, ben, carla = table.rows
    assert ana.cells[3:] == ("Head of People, EMEA", "Rua Augusta 1\r\nLisbon")
    assert ben.cells[2] == 'O"Kafor'
    assert carla.cells[3] == 'Lead, "Platform"'


def test_it_numbers_csv_rows_by_record_not_by_line(fixture_file):
    table = read_table(*fixture_file("quoted_newlines.csv"))

    assert [row.number for row in table.rows] == [2, 3, 4]


def test_it_reads_classic_mac_line_endings(fixture_file):
    table = read_table(*fixture_file("mac_cr.csv"))

    assert table.rows == (
        Row(2, ("ana.silva@example.com", "Ana", "Silva", "People")),
        Row(3, ("ben.okafor@example.com", "Ben", "Okafor", "Research, Development")),
    )


def test_it_keeps_a_line_break_inside_quotes_with_cr_only_line_endings():
    table = read_table(
        b'Email,Address\rana@example.com,"Main St 1\rLisbon"\rben@example.com,Berlin\r'
    )

    assert table.rows == (
        Row(2, ("ana@example.com", "Main St 1\rLisbon")),
        Row(3, ("ben@example.com", "Berlin")),
    )


def test_it_keeps_csv_rows_as_long_as_they_were_written(fixture_file):
    table = read_table(*fixture_file("ragged.csv"))

    assert [len(row.cells) for row in table.rows] == [4, 5, 3, 6]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_it_sniffs_the_delimiter_from_the_header_line(delimiter):
    others = [other for other in (",", ";", "\t") if other != delimiter]
    department = f"R&D{others[0]} QA{others[1]} Ops"
    text = delimiter.join(["Email", "First name", "Department"]) + "\n"
    text += delimiter.join(["ana@example.com", "Ana", department]) + "\n"

    table = read_table(text.encode())

    assert table.headers == ("Email", "First name", "Department")
    assert table.rows[0].cells == ("ana@example.com", "Ana", department)


def test_it_prefers_the_comma_when_the_other_delimiters_tie():
    # Read with ";" this header would also hold an email column ("Email,-"), so the tie decides.
    table = read_table(b"Email,-;a\tb;c\td\nana@example.com,x\n")

    assert table.headers == ("Email", "-;a\tb;c\td")


def test_it_prefers_the_comma_when_delimiters_tie():
    table = read_table(b"Email,Team;Site\nana@example.com,People;Lisbon\n")

    assert table.headers == ("Email", "Team;Site")


def test_it_counts_only_delimiters_outside_quotes():
    # Counting the quoted commas would make a tie, and a tie means ","; with "," the first
    # field 'Email;"-' would pass for an email header too.
    table = read_table(b'Email;"-,-,-";Name\nana@example.com;x;Ana\n')

    assert table.headers == ("Email", "-,-,-", "Name")


def test_it_ignores_delimiters_inside_quoted_headers():
    table = read_table(b'E-Mail;"Name, Vorname";Abteilung\nana@example.com;"Silva, Ana";Personal\n')

    assert table.headers == ("E-Mail", "Name, Vorname", "Abteilung")
    assert table.rows[0].cells == ("ana@example.com", "Silva, Ana", "Personal")


def test_it_finds_the_delimiter_and_header_below_a_title_line():
    table = read_table(b"Staff list March 2024\r\n\r\nEmail;First name\r\nana@example.com;Ana\r\n")

    assert (table.header_row, table.headers) == (3, ("Email", "First name"))
    assert table.rows == (Row(4, ("ana@example.com", "Ana")),)


def test_it_skips_blank_and_whitespace_only_csv_rows_but_counts_them():
    table = read_table(b"Email,Name\r\n\r\n , \xc2\xa0\r\nana@example.com,Ana\r\n")

    assert table.rows == (Row(4, ("ana@example.com", "Ana")),)


def test_it_reads_pasted_text_with_one_column():
    assert read_table(b"email\nana@example.com\nben@example.com").rows == (
        Row(2, ("ana@example.com",)),
        Row(3, ("ben@example.com",)),
    )


def test_it_reads_a_one_megabyte_cell():
    data = b"Email,Title\nana@example.com," + b"x" * (1024 * 1024) + b"\n"

    assert len(read_table(data).rows[0].cells[1]) == 1024 * 1024


def test_it_refuses_csv_without_an_email_column():
    error = error_of(b"Name,Team\nAna Silva,People\n")

    assert error.code == "missing_column"
    assert "'Email' or 'E-Mail'" in error.message


def test_it_refuses_csv_with_a_header_but_no_people():
    assert error_of(b"Email,Name\r\n\r\n,\r\n").code == "empty_file"


@pytest.mark.parametrize("data", [b"", b"  \r\n\t\r\n", b"\xef\xbb\xbf"])
def test_it_refuses_an_empty_file(data):
    assert error_of(data).code == "empty_file"


def test_it_refuses_more_csv_rows_than_the_limit():
    data = b"Email\n" + b"".join(b"p%d@example.com\n" % number for number in range(11))

    assert error_of(data, max_rows=10).code == "file_too_large"
    assert len(read_table(data, max_rows=11).rows) == 11


def test_it_refuses_a_csv_header_wider_than_the_column_limit():
    assert error_of(b"Email,A,B,C\nana@example.com\n", max_columns=3).code == "file_too_large"


def test_it_refuses_text_with_binary_data_in_it():
    error = error_of(b"Email,Name\nana@example.com,A\x00\x01\x02na\n")

    assert error.code == "unreadable_file"
    assert "binary" in error.message


def test_it_refuses_text_with_a_single_nul_character():
    error = error_of(b"Email,Name\nana@example.com,Ana\x00\n")

    assert error.code == "unreadable_file"
    assert "binary" in error.message


def test_it_refuses_an_excel_2003_xml_spreadsheet():
    data = (
        b'<?xml version="1.0"?>\n<?mso-application progid="Excel.Sheet"?>\n'
        b'<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"></Workbook>'
    )

    assert error_of(data).code == "unsupported_format"


# --- whatever comes in ---------------------------------------------------------------------------


def _table_or_file_error(data: bytes) -> None:
    try:
        result = read_table(data)
    except FileError as error:
        assert error.code in {
            "unreadable_file",
            "unsupported_format",
            "empty_file",
            "missing_column",
            "unsafe_xml",
            "file_too_large",
        }
    else:
        assert isinstance(result, Table)


starts = st.sampled_from(
    [b"", ZIP_MAGIC, OLE2_MAGIC, b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"Email,"]
)


@settings(max_examples=200, deadline=None)
@given(start=starts, rest=st.binary(max_size=600))
def test_it_returns_a_table_or_raises_file_error_for_any_bytes(start, rest):
    _table_or_file_error(start + rest)


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(max_size=300),
    header=st.sampled_from(["", "Email,Name\n", "E-Mail;Name\r", "Email\t"]),
)
def test_it_returns_a_table_or_raises_file_error_for_any_text(text, header):
    _table_or_file_error((header + text).encode("utf-8", errors="surrogatepass"))


cell_text = st.text(
    alphabet=st.sampled_from(list("abcXYZ019 ,;\t\"'\r\nÄöß€é\xa0-@.")),
    max_size=12,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    delimiter=st.sampled_from([",", ";", "\t"]),
    rows=st.lists(st.lists(cell_text, min_size=1, max_size=4), max_size=8),
)
def test_it_reads_back_what_a_csv_writer_wrote(delimiter, rows):
    output = io.StringIO(newline="")
    writer = csv.writer(output, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["Email", "First name", "Last name"])
    writer.writerows(rows)

    def blank(cells):
        return all(not cell.strip(" \t\r\n\xa0") for cell in cells)

    expected = tuple(
        Row(number, tuple(cells)) for number, cells in enumerate(rows, start=2) if not blank(cells)
    )
    if not expected:
        assert error_of(output.getvalue().encode()).code == "empty_file"
    else:
        assert read_table(output.getvalue().encode()).rows == expected
