"""The fast .xlsx reader (calamine) gives the table openpyxl, the exact reader, gives.

read_table reads a workbook with calamine only when the scan of its parts (xlsx_fast) shows that
calamine reads every cell as openpyxl does; otherwise openpyxl reads it. These tests read every
.xlsx fixture and a few generated edge cases three ways — as read_table does, with openpyxl only,
and with calamine only — and check that what read_table gives is openpyxl's table (or error), and
that calamine alone gives it too wherever the scan lets calamine read.
"""

import datetime as dt
import io
import re
import struct
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from importer.pipeline import parse, xlsx_fast
from importer.pipeline.parse import read_table
from importer.pipeline.types import FileError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
XLSX_FIXTURES = sorted(path.name for path in FIXTURES.glob("*.xlsx"))
WHOLE_SHEET_DIMENSION = b'<dimension ref="A1:XFD1048576"/>'


def outcome(data: bytes, reader: str, **options):
    """Return the table read_table gives (header row, headers, rows) or its error (code, text)."""
    try:
        table = read_table(data, xlsx_reader=reader, **options)
    except FileError as error:
        return ("error", error.code, error.message)
    return (
        "table",
        table.header_row,
        table.headers,
        [(row.number, row.cells) for row in table.rows],
    )


def calamine_may_read(data: bytes, max_rows: int = 250_000, max_columns: int = 500) -> bool:
    members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    return xlsx_fast.scan_workbook(data, members, max_rows=max_rows, max_columns=max_columns)


def saved(workbook: Workbook) -> bytes:
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


# --- every fixture -------------------------------------------------------------------------------


def test_the_fixtures_cover_the_readers_choices():
    assert len(XLSX_FIXTURES) >= 20
    fast = [name for name in XLSX_FIXTURES if _scan_or_error(name) is True]
    exact = [name for name in XLSX_FIXTURES if _scan_or_error(name) is False]
    # Both readers are exercised: LibreOffice's and openpyxl's files go to calamine, the files
    # with error cells, big integers, cells without their position or a stray cell to openpyxl.
    assert {"two_employees.xlsx", "hidden_first_sheet.xlsx", "title_rows.xlsx"} <= set(fast)
    assert {"error_cells.xlsx", "cell_types.xlsx", "wide_stray_cell.xlsx"} <= set(exact)


def _scan_or_error(name: str):
    data = (FIXTURES / name).read_bytes()
    try:
        return calamine_may_read(data)
    except (FileError, zipfile.BadZipFile):
        return None


@pytest.mark.parametrize("name", XLSX_FIXTURES)
def test_every_fixture_reads_as_openpyxl_reads_it(name):
    data = (FIXTURES / name).read_bytes()
    assert outcome(data, "auto") == outcome(data, "openpyxl")


@pytest.mark.parametrize("name", XLSX_FIXTURES)
def test_calamine_alone_gives_openpyxls_table_wherever_the_scan_lets_it_read(name):
    data = (FIXTURES / name).read_bytes()
    if _scan_or_error(name) is True:
        assert outcome(data, "calamine") == outcome(data, "openpyxl")


def test_calamine_alone_would_blank_error_cells_which_is_why_the_scan_refuses_them():
    data = (FIXTURES / "error_cells.xlsx").read_bytes()
    assert not calamine_may_read(data)
    exact = outcome(data, "openpyxl")
    assert exact != outcome(data, "calamine")
    assert "#N/A" in exact[3][0][1]
    assert outcome(data, "auto") == exact


# --- generated edge cases ------------------------------------------------------------------------


def _people_sheet(sheet, extra_header: str, values: list) -> None:
    sheet.append(["Email", "First name", extra_header])
    for number, value in enumerate(values):
        sheet.append([f"person{number}@example.com", f"Name {number}", value])


def _edge_workbook(*, write_only: bool = False, epoch=None) -> bytes:
    workbook = Workbook(write_only=write_only)
    if epoch is not None:
        workbook.epoch = epoch
    if not write_only:
        workbook.remove(workbook.active)
    hidden = workbook.create_sheet("Old export")
    hidden.append(["Email", "Name"])
    hidden.append(["old@example.com", "Old"])
    hidden.sheet_state = "hidden"
    sheet = workbook.create_sheet("Staff")
    _people_sheet(
        sheet,
        "Value",
        [
            dt.date(2021, 3, 4),
            dt.datetime(2020, 1, 2, 15, 30),
            dt.time(9, 45),
            "00042",
            1001,
            1001.0,
            3.5,
            -12.25,
            0.1 + 0.2,
            1e20,
            123456789012345,
            True,
            False,
            "  padded  ",
            "",
            "Zoë Müller — 東京",
            dt.timedelta(hours=30, minutes=15),
        ],
    )
    return saved(workbook)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_edge_workbook(), id="shared strings, hidden sheet first"),
        pytest.param(_edge_workbook(write_only=True), id="inline strings, no dimension"),
        pytest.param(_edge_workbook(epoch=CALENDAR_MAC_1904), id="1904 dates"),
    ],
)
def test_generated_workbooks_read_alike(data):
    assert calamine_may_read(data)
    exact = outcome(data, "openpyxl")
    assert exact[0] == "table" and len(exact[3]) == 17
    assert outcome(data, "calamine") == exact
    assert outcome(data, "auto") == exact


def test_formats_of_numbers_and_dates_read_alike():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Email", "Hire date", "Amount"])
    formats = [
        ("dd/mm/yyyy", "0.00%"),
        ("mmm d, yyyy", "#,##0"),
        ("yyyy-mm-dd hh:mm", "0.000E+00"),
        ("[$-409]mmmm d, yyyy;@", '"ID "0'),
        ("d-mmm-yy", "@"),
        ("h:mm AM/PM", "General"),
    ]
    for number, (date_format, number_format) in enumerate(formats, start=2):
        sheet.append([f"p{number}@example.com", dt.datetime(2022, 5, number, 8, 0), 1234.5678])
        sheet.cell(number, 2).number_format = date_format
        sheet.cell(number, 3).number_format = number_format
    data = saved(workbook)
    assert calamine_may_read(data)
    assert outcome(data, "calamine") == outcome(data, "openpyxl")


def test_rich_text_reads_as_its_plain_text():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Email", "Name"])
    sheet.append(["ana@example.com", CellRichText("Ana ", TextBlock(InlineFont(b=True), "Silva"))])
    data = saved(workbook)
    assert calamine_may_read(data)
    exact = outcome(data, "openpyxl")
    assert exact[3][0][1][1] == "Ana Silva"
    assert outcome(data, "calamine") == exact


def test_a_table_starting_away_from_a1_keeps_its_row_numbers_and_columns():
    workbook = Workbook()
    sheet = workbook.active
    sheet["C3"] = "Email"
    sheet["D3"] = "Name"
    sheet["C4"] = "ana@example.com"
    sheet["D4"] = "Ana"
    sheet["C9"] = "ben@example.com"  # blank rows between
    sheet["D9"] = "Ben"
    data = saved(workbook)
    assert calamine_may_read(data)
    exact = outcome(data, "openpyxl")
    assert [number for number, _ in exact[3]] == [4, 9]
    assert outcome(data, "calamine") == exact


def test_integers_beyond_a_floats_precision_go_to_openpyxl_and_keep_every_digit():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Email", "Employee ID"])
    sheet.append(["ana@example.com", 1])
    # openpyxl writes a big int as a float; other writers (and Excel's own IDs) write the digits.
    data = _rewritten(
        saved(workbook),
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b"<v>1</v>", b"<v>12345678901234567890</v>"),
    )
    assert not calamine_may_read(data)
    exact = outcome(data, "openpyxl")
    assert exact[3][0][1][1] == "12345678901234567890"
    assert outcome(data, "calamine") != exact  # calamine would give a float
    assert outcome(data, "auto") == exact


def test_error_cells_written_by_openpyxl_go_to_openpyxl():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Email", "Department"])
    sheet.append(["ana@example.com", "#N/A"])  # openpyxl writes an error cell (t="e")
    data = saved(workbook)
    assert not calamine_may_read(data)
    assert outcome(data, "auto") == outcome(data, "openpyxl")
    assert outcome(data, "auto")[3][0][1][1] == "#N/A"


# --- the grid calamine would hold, and the scan's safety checks -----------------------------------


def test_a_cell_far_below_the_rows_allowed_goes_to_openpyxl():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Email", "Name"])
    sheet.append(["ana@example.com", "Ana"])
    sheet["B30000"] = "stray"
    data = saved(workbook)
    assert not calamine_may_read(data, max_rows=1_000)
    assert calamine_may_read(data, max_rows=100_000)
    limited = {"max_rows": 1_000}
    assert outcome(data, "auto", **limited) == outcome(data, "openpyxl", **limited)


def test_a_cell_right_of_the_columns_read_goes_to_openpyxl():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Email", "Name"])
    sheet.append(["ana@example.com", "Ana"])
    sheet["Z2"] = "stray"
    data = saved(workbook)
    assert not calamine_may_read(data, max_columns=10)
    assert calamine_may_read(data, max_columns=30)
    # openpyxl reads the first max_columns + 1 columns only: the stray cell is never seen.
    assert outcome(data, "auto", max_columns=10) == outcome(data, "openpyxl", max_columns=10)
    assert outcome(data, "auto", max_columns=10)[2] == ("Email", "Name")


def test_a_dimension_claiming_the_whole_sheet_costs_nothing():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Email", "Name"])
    sheet.append(["ana@example.com", "Ana"])
    data = _rewritten(
        saved(workbook),
        "xl/worksheets/sheet1.xml",
        lambda xml: re.sub(rb'<dimension ref="[^"]*" ?/>', WHOLE_SHEET_DIMENSION, xml),
    )
    assert calamine_may_read(data)
    assert outcome(data, "auto") == outcome(data, "openpyxl")
    assert len(outcome(data, "auto")[3]) == 1


def test_a_part_that_unpacks_past_its_declared_size_is_refused_before_calamine_reads_it():
    data = _edge_workbook()
    lying = _declared_size(data, "xl/worksheets/sheet2.xml", 200)
    with pytest.raises(FileError) as caught:
        calamine_may_read(lying)
    assert caught.value.code == "unreadable_file"
    assert outcome(lying, "auto")[:2] == ("error", "unreadable_file")
    assert outcome(lying, "auto") == outcome(lying, "openpyxl")


def test_a_doctype_anywhere_in_a_sheet_keeps_calamine_away_and_is_refused_as_before():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Email", "Name"])
    for number in range(3000):
        sheet.append([f"p{number}@example.com", "x" * 30])
    data = _rewritten(
        saved(workbook),
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b"</sheetData>", b'</sheetData><!DOCTYPE x [<!ENTITY a "b">]>'),
    )
    assert not calamine_may_read(data)
    # openpyxl's parser finds the XML broken (a DOCTYPE after the root), as before the scan.
    assert outcome(data, "auto") == outcome(data, "openpyxl")
    assert outcome(data, "auto")[:2] == ("error", "unreadable_file")


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("zip_bomb.xlsx", "file_too_large"),
        ("ratio_bomb.xlsx", "file_too_large"),
        ("billion_laughs.xlsx", "unsafe_xml"),
        ("xxe.xlsx", "unsafe_xml"),
        ("xxe_late_doctype.xlsx", "unsafe_xml"),
        ("external_dtd.xlsx", "unsafe_xml"),
    ],
)
def test_hostile_fixtures_are_refused_whichever_reader_is_asked_for(name, code):
    data = (FIXTURES / name).read_bytes()
    for reader in ("auto", "calamine", "openpyxl"):
        assert outcome(data, reader)[:2] == ("error", code)


def _rewritten(data: bytes, part: str, change) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            content = source.read(member)
            if member.filename == part:
                content = change(content)
            target.writestr(member.filename, content)
    return output.getvalue()


def _declared_size(data: bytes, part: str, size: int) -> bytes:
    """Return the zip with `part`'s uncompressed size declared as `size` (both headers)."""
    patched = bytearray(data)
    name = part.encode()
    local = patched.find(b"PK\x03\x04")
    while local >= 0:
        name_length = struct.unpack_from("<H", patched, local + 26)[0]
        if patched[local + 30 : local + 30 + name_length] == name:
            struct.pack_into("<I", patched, local + 22, size)
        local = patched.find(b"PK\x03\x04", local + 4)
    central = patched.find(b"PK\x01\x02")
    while central >= 0:
        name_length = struct.unpack_from("<H", patched, central + 28)[0]
        if patched[central + 46 : central + 46 + name_length] == name:
            struct.pack_into("<I", patched, central + 24, size)
        central = patched.find(b"PK\x01\x02", central + 4)
    return bytes(patched)


@pytest.mark.parametrize("write_only", [False, True], ids=["shared strings", "inline strings"])
def test_a_large_sheet_read_a_block_of_rows_at_a_time_gives_the_same_table(monkeypatch, write_only):
    workbook = Workbook(write_only=write_only)
    sheet = workbook.create_sheet("People") if write_only else workbook.active
    sheet.append([None, "Email", "Name", "Hire date", "Employee ID"])
    for number in range(3000):
        if number % 700 == 5:
            for _ in range(3):
                sheet.append([])  # blank rows, some of them where a block ends
        sheet.append(
            [None, f"p{number}@example.com", f"Name {number % 50}", dt.date(2020, 1, 1), number]
        )
    data = saved(workbook)
    assert calamine_may_read(data)
    exact = outcome(data, "openpyxl")
    whole = outcome(data, "calamine")
    monkeypatch.setattr(xlsx_fast, "BLOCKS_FROM_BYTES", 4_000)
    monkeypatch.setattr(xlsx_fast, "BLOCK_XML_BYTES", 4_000)
    part = xlsx_fast._worksheet_parts(data)["People" if write_only else "Sheet"]
    assert len(list(xlsx_fast._sheet_blocks(data, part))) > 50
    assert outcome(data, "calamine") == whole == exact
    assert len(exact[3]) == 3000 and exact[3][-1][0] == 3000 + 1 + 3 * 5


# --- a block of rows read a column at a time, as the rows read one by one -------------------------

_VALUES = [
    "ana@example.com",
    "Ana",
    "",
    None,
    "   ",
    "\u200b",
    " padded ",
    "00042",
    1001,
    1001.0,
    3.5,
    True,
    False,
    dt.date(2021, 3, 4),
    dt.datetime(2020, 1, 2, 15, 30),
    dt.time(9, 45),
    dt.timedelta(hours=30),
]


def _read_blocks(blocks, header_width: int, *, by_rows: bool, max_rows: int = 10_000):
    reader = parse._BlockReader(
        header_width, max_rows=max_rows, max_columns=500, progress=lambda rows: None
    )
    first = 2
    try:
        for block in blocks:
            (reader._add_rows if by_rows else reader.add)(first, block)
            first += len(block)
    except FileError as error:
        return ("error", error.code, error.message)
    return ("rows", reader.width, reader.shortest, [(row.number, row.cells) for row in reader.rows])


def _random_block(rng, rows: int, length: int, header_width: int, *, ragged: bool):
    block = []
    for _ in range(rows):
        width = rng.randint(0, length + 2) if ragged else length
        kind = rng.random()
        if kind < 0.15:
            row = [rng.choice(["", None, "  ", "\u00a0"]) for _ in range(width)]
        elif kind < 0.3:
            # Text only left of the header's width, blanks right of it.
            row = [rng.choice(_VALUES) for _ in range(min(width, header_width))]
            row += [rng.choice(["", None]) for _ in range(width - len(row))]
        else:
            row = [rng.choice(_VALUES) for _ in range(width)]
            if rng.random() < 0.5 and width:
                row[0] = f"p{rng.randint(0, 50)}@example.com"
        block.append(tuple(row) if rng.random() < 0.5 else row)
    return block


@pytest.mark.parametrize("seed", range(60))
def test_a_block_read_a_column_at_a_time_gives_the_rows_read_one_by_one(seed):
    import random

    rng = random.Random(seed)
    header_width = rng.randint(1, 6)
    length = rng.randint(1, 9)
    ragged = seed % 5 == 4
    blocks = [
        _random_block(rng, rng.randint(0, 40), length, header_width, ragged=ragged)
        for _ in range(rng.randint(1, 5))
    ]
    by_rows = _read_blocks(blocks, header_width, by_rows=True)
    assert _read_blocks(blocks, header_width, by_rows=False) == by_rows
    if by_rows[0] == "rows" and len(by_rows[3]) > 1:
        # The same blocks with one row fewer allowed than they hold: the same error.
        limited = len(by_rows[3]) - 1
        expected = _read_blocks(blocks, header_width, by_rows=True, max_rows=limited)
        assert expected[:2] == ("error", "file_too_large")
        assert _read_blocks(blocks, header_width, by_rows=False, max_rows=limited) == expected


def test_a_column_of_distinct_values_reads_alike_when_it_is_no_longer_shared():
    dates = [dt.date(2005, 1, 1) + dt.timedelta(days=day) for day in range(7000)]
    blocks = [
        [
            [f"p{number}@example.com", f"Team {number % 3}", dates[number * 7919 % 7000]]
            for number in range(start, start + 1000)
        ]
        for start in range(0, 20_000, 1000)
    ]
    reader = parse._BlockReader(3, max_rows=100_000, max_columns=500, progress=lambda rows: None)
    for index, block in enumerate(blocks):
        reader.add(2 + index * 1000, block)
    # The emails are not shared; the teams and the dates (7,000 of them) stay one object each.
    assert reader._unshared == {0}
    assert len({id(row.cells[1]) for row in reader.rows}) == 3
    assert len({id(row.cells[2]) for row in reader.rows}) == 7000
    limit = {"max_rows": 100_000}
    assert _read_blocks(blocks, 3, by_rows=False, **limit) == _read_blocks(
        blocks, 3, by_rows=True, **limit
    )


def test_a_large_sheet_read_ahead_in_a_thread_stops_it_when_the_reading_stops_early(monkeypatch):
    import threading

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("People")
    sheet.append(["Email", "Name"])
    for number in range(3000):
        sheet.append([f"p{number}@example.com", f"Name {number}"])
    data = saved(workbook)
    monkeypatch.setattr(xlsx_fast, "BLOCKS_FROM_BYTES", 4_000)
    monkeypatch.setattr(xlsx_fast, "BLOCK_XML_BYTES", 4_000)
    limited = {"max_rows": 500}
    exact = outcome(data, "openpyxl", **limited)
    assert exact[:2] == ("error", "file_too_large")
    assert outcome(data, "auto", **limited) == exact
    assert not [thread for thread in threading.enumerate() if thread.name == "calamine-blocks"]
    # Read whole, it still gives openpyxl's table.
    assert outcome(data, "auto") == outcome(data, "openpyxl")


# --- a large sheet scanned as its blocks are read ------------------------------------------------


def _large_sheet(rows: int = 3000, *, hidden_first: bool = False) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Email", "Name"])
    for number in range(rows):
        sheet.append([f"p{number}@example.com", f"Name {number % 40}"])
    if hidden_first:
        sheet.sheet_state = "hidden"
        small = workbook.create_sheet("Small")
        small.append(["Email", "Name"])
        small.append(["ana@example.com", "Ana"])
    return saved(workbook)


def _last_row_changed(data: bytes, change) -> bytes:
    return _rewritten(data, "xl/worksheets/sheet1.xml", change)


@pytest.fixture
def small_blocks(monkeypatch):
    """Every sheet over 4,000 bytes is read (and scanned) in blocks of about 4,000 bytes."""
    monkeypatch.setattr(xlsx_fast, "BLOCKS_FROM_BYTES", 4_000)
    monkeypatch.setattr(xlsx_fast, "BLOCK_XML_BYTES", 4_000)


def _members(data: bytes):
    return zipfile.ZipFile(io.BytesIO(data)).infolist()


def test_a_large_sheet_is_left_out_of_the_scan_before_reading(small_blocks):
    data = _last_row_changed(
        _large_sheet(), lambda xml: xml.replace(b"</sheetData>", b"<!DOCTYPE x></sheetData>")
    )
    deferred = xlsx_fast.deferred_parts(_members(data))
    assert deferred == {"xl/worksheets/sheet1.xml"}
    limits = {"max_rows": 250_000, "max_columns": 500}
    assert not xlsx_fast.scan_workbook(data, _members(data), **limits)
    assert xlsx_fast.scan_workbook(data, _members(data), **limits, deferred=deferred)


def _cell_replaced(reference: str, cell: bytes):
    pattern = re.compile(rb'<c r="' + reference.encode() + rb'"[^>]*>.*?</c>')
    return lambda xml: pattern.sub(cell, xml, count=1)


@pytest.mark.parametrize(
    ("change", "found"),
    [
        # An error cell in the last row: found as its block is scanned; openpyxl reads.
        (_cell_replaced("B3001", b'<c r="B3001" t="e"><v>#N/A</v></c>'), "#N/A"),
        # A 20-digit number in the middle of the sheet: openpyxl keeps every digit.
        (
            _cell_replaced("B1500", b'<c r="B1500"><v>12345678901234567890</v></c>'),
            "12345678901234567890",
        ),
        # A DOCTYPE after the rows, which no block holds: found before the last block is read.
        (lambda xml: xml.replace(b"</sheetData>", b"</sheetData><!DOCTYPE x>"), None),
        # A stray cell far right in the last row (read with max_columns=10).
        (
            lambda xml: xml.replace(
                b"</row></sheetData>", b'<c r="Z3001"><v>1</v></c></row></sheetData>'
            ),
            None,
        ),
    ],
    ids=["error cell at the end", "big number", "doctype after the rows", "stray cell"],
)
def test_a_large_sheet_scanned_as_it_is_read_gives_openpyxls_answer(small_blocks, change, found):
    clean = _large_sheet()
    data = _last_row_changed(clean, change)
    sheet = "xl/worksheets/sheet1.xml"
    assert zipfile.ZipFile(io.BytesIO(data)).read(sheet) != zipfile.ZipFile(io.BytesIO(clean)).read(
        sheet
    )
    members = _members(data)
    limits = {"max_rows": 250_000, "max_columns": 10}
    # The scan before reading leaves the sheet out: the blocks' scan finds what it holds.
    deferred = xlsx_fast.deferred_parts(members)
    assert xlsx_fast.scan_workbook(data, members, **limits, deferred=deferred)
    assert not xlsx_fast.scan_workbook(data, members, **limits)
    exact = outcome(data, "openpyxl", max_columns=10)
    assert outcome(data, "auto", max_columns=10) == exact
    if found is not None:
        assert found in {cell for _, cells in exact[3] for cell in cells}
        assert outcome(data, "calamine", max_columns=10) != exact


def test_a_large_hidden_sheet_left_unread_is_still_scanned_to_its_end(small_blocks):
    data = _last_row_changed(
        _large_sheet(hidden_first=True),
        lambda xml: xml.replace(b"</sheetData>", b'</sheetData><!DOCTYPE x [<!ENTITY a "b">]>'),
    )
    assert outcome(data, "auto") == outcome(data, "openpyxl")
    clean = _large_sheet(hidden_first=True)
    assert outcome(clean, "auto") == outcome(clean, "openpyxl")
    assert outcome(clean, "auto")[3] == [(2, ("ana@example.com", "Ana"))]


def test_an_error_found_while_a_large_sheet_is_read_waits_for_the_rest_of_its_scan(small_blocks):
    data = _last_row_changed(
        _large_sheet(),
        lambda xml: xml.replace(b"</sheetData>", b'</sheetData><!DOCTYPE x [<!ENTITY a "b">]>'),
    )
    limited = {"max_rows": 100}  # too many rows, found in the first blocks
    # openpyxl stops at the rows too (its answer, which the scan's refusal hands it), and
    # calamine gives the same error once the rest of the sheet is scanned.
    assert outcome(data, "auto", **limited) == outcome(data, "openpyxl", **limited)
    assert outcome(_large_sheet(), "auto", **limited)[:2] == ("error", "file_too_large")


# --- a large sheet with a shared-strings table: each block gets the strings it uses ------------

_SHEET = "xl/worksheets/sheet1.xml"
_STRINGS = "xl/sharedStrings.xml"


_INLINE_CELL = re.compile(rb'(<c r="[A-Z]+[0-9]+"[^>]*?) t="inlineStr"><is>(.*?)</is></c>')


def _with_shared_strings(data: bytes) -> bytes:
    """Return the workbook with its inline strings moved to a shared-strings table, as Excel
    writes one: each distinct text once (rich text runs and all), in order of first use, and
    the cells `t="s"` with its index."""
    table: dict[bytes, int] = {}

    def shared(found: re.Match) -> bytes:
        index = table.setdefault(found.group(2), len(table))
        return found.group(1) + b' t="s"><v>%d</v></c>' % index

    sheet = _INLINE_CELL.sub(shared, zipfile.ZipFile(io.BytesIO(data)).read(_SHEET))
    strings = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="http://schemas.'
        b'openxmlformats.org/spreadsheetml/2006/main" uniqueCount="%d">'
        % len(table)
        + b"".join(b"<si>" + text + b"</si>" for text in table)
        + b"</sst>"
    )
    data = _rewritten(data, _SHEET, lambda xml: sheet)
    data = _rewritten(
        data,
        "xl/_rels/workbook.xml.rels",
        lambda xml: xml.replace(
            b"</Relationships>",
            b'<Relationship Id="rIdStrings" Type="http://schemas.openxmlformats.org/'
            b'officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
            b"</Relationships>",
        ),
    )
    data = _rewritten(
        data,
        "[Content_Types].xml",
        lambda xml: xml.replace(
            b"</Types>",
            b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.'
            b'openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        ),
    )
    output = io.BytesIO(data)
    with zipfile.ZipFile(output, "a", zipfile.ZIP_DEFLATED) as target:
        target.writestr(_STRINGS, strings)
    return output.getvalue()


def _shared_strings_sheet(rows: int = 3000) -> bytes:
    """A workbook with a shared-strings table (`t="s"` cells) with rich text, texts repeated in
    every block, XML entities and spaces kept at either end of a text."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Email", "Name", "Department", "Note"])
    for number in range(rows):
        if number % 450 == 7:
            name = CellRichText("Ana ", TextBlock(InlineFont(b=True), f"Silva {number}"))
        else:
            name = f"Name {number % 40}"
        note = ["Smith & Sons <Ltd>", "  padded  ", "\"quoted\" 'too'", f"n{number}", None][
            number % 5
        ]
        sheet.append([f"p{number}@example.com", name, ["Sales", "R&D"][number % 2], note])
    data = _with_shared_strings(saved(workbook))
    assert b't="s"><v>' in zipfile.ZipFile(io.BytesIO(data)).read(_SHEET)
    return data


@pytest.fixture
def renumbered_blocks(monkeypatch):
    """Sheets over 4,000 bytes are read in blocks of about 2,000 bytes (4,000 halved: shared
    strings), each numbered again in pieces of about 700 bytes."""
    monkeypatch.setattr(xlsx_fast, "BLOCKS_FROM_BYTES", 4_000)
    monkeypatch.setattr(xlsx_fast, "BLOCK_XML_BYTES", 4_000)
    monkeypatch.setattr(xlsx_fast, "RENUMBER_BYTES", 700)


def _calamine_alone(monkeypatch, data: bytes, reader: str = "auto", **options):
    """Return read_table's answer with openpyxl out of reach: calamine must have read."""

    def no_openpyxl(*args, **kwargs):
        raise AssertionError("openpyxl read the workbook")

    with monkeypatch.context() as patch:
        patch.setattr(parse, "_read_with_openpyxl", no_openpyxl)
        return outcome(data, reader, **options)


def _block_tables(data: bytes) -> list[bytes]:
    part = xlsx_fast._worksheet_parts(data)["Sheet"]
    return [zipfile.ZipFile(block).read(_STRINGS) for block in xlsx_fast._sheet_blocks(data, part)]


def test_a_large_sheet_with_shared_strings_gives_each_block_only_the_strings_it_uses(
    monkeypatch, renumbered_blocks
):
    data = _shared_strings_sheet()
    whole = zipfile.ZipFile(io.BytesIO(data)).read(_STRINGS)
    assert b"<r>" in whole and b"&amp;" in whole and b'xml:space="preserve"' in whole
    exact = outcome(data, "openpyxl")
    assert _calamine_alone(monkeypatch, data) == exact
    assert len(exact[3]) == 3000
    cells = {cell for _, row in exact[3] for cell in row}
    assert {"Smith & Sons <Ltd>", "Ana Silva 7", "Ana Silva 2257", "R&D"} <= cells
    tables = _block_tables(data)
    assert len(tables) > 100
    # No block holds the whole table: each holds the strings its rows use, rich text whole.
    assert max(map(len, tables)) < len(whole) / 20
    assert all(table.count(b"<si>") < 100 for table in tables)
    assert sum(b"<r>" in table for table in tables) == len(range(7, 3000, 450))
    assert sum(b"Smith &amp; Sons &lt;Ltd&gt;" in table for table in tables) > 100


def _changed(clean: bytes, change) -> bytes:
    data = _rewritten(clean, _SHEET, change)
    assert zipfile.ZipFile(io.BytesIO(data)).read(_SHEET) != zipfile.ZipFile(
        io.BytesIO(clean)
    ).read(_SHEET)
    return data


@pytest.mark.parametrize(
    "change",
    [
        # The type before the style; a line end and spaces between the cell's tag and <v>.
        lambda xml: re.sub(rb'<c r="(B[0-9]+)" t="s"><v>', rb'<c r="\1" t="s" s="0"><v>', xml),
        lambda xml: re.sub(rb'(<c r="A[0-9]+") t="s">\s*<v>', rb'\1 t="s">\n <v>', xml),
    ],
    ids=["attributes in another order", "space before <v>"],
)
def test_shared_string_cells_written_otherwise_are_numbered_again_all_the_same(
    monkeypatch, renumbered_blocks, change
):
    clean = _shared_strings_sheet()
    data = _changed(clean, change)
    exact = outcome(data, "openpyxl")
    assert exact == outcome(clean, "openpyxl")
    assert _calamine_alone(monkeypatch, data) == exact


_SPACED_INDEXES = [
    lambda xml: re.sub(rb'(<c r="B[0-9]+" t="s")><v>', rb"\1><v> ", xml),
    lambda xml: re.sub(rb"<v>([0-9]+)</v></c>", rb"<v>\n\1\n</v></c>", xml),
]


@pytest.mark.parametrize("change", _SPACED_INDEXES, ids=["space before", "line ends around"])
def test_an_index_with_spaces_around_it_goes_to_openpyxl_and_reads_alike_in_blocks(
    monkeypatch, change
):
    # Read whole, calamine would take " 3" for index 0 (it reads the digits or nothing).
    clean = _shared_strings_sheet(200)
    data = _changed(clean, change)
    exact = outcome(data, "openpyxl")
    assert exact == outcome(clean, "openpyxl")
    assert not calamine_may_read(data)
    assert outcome(data, "auto") == exact
    assert _calamine_alone(monkeypatch, data, "calamine") != exact
    # In blocks, the renumbering takes the index without its spaces.
    clean = _shared_strings_sheet()
    data = _changed(clean, change)
    exact = outcome(data, "openpyxl")
    assert exact == outcome(clean, "openpyxl")
    monkeypatch.setattr(xlsx_fast, "BLOCKS_FROM_BYTES", 4_000)
    monkeypatch.setattr(xlsx_fast, "BLOCK_XML_BYTES", 4_000)
    monkeypatch.setattr(xlsx_fast, "RENUMBER_BYTES", 700)
    assert outcome(data, "auto") == exact
    assert _calamine_alone(monkeypatch, data, "calamine") == exact


@pytest.mark.parametrize(
    "change",
    [
        # An index past the table, in the middle of the sheet.
        _cell_replaced("B1500", b'<c r="B1500" t="s"><v>999999</v></c>'),
        # A type in single quotes, which the renumbering does not take.
        _cell_replaced("B1500", b"<c r=\"B1500\" t='s'><v>3</v></c>"),
        # No index at all.
        _cell_replaced("B1500", b'<c r="B1500" t="s"><v></v></c>'),
    ],
    ids=["index out of range", "single quotes", "empty index"],
)
def test_shared_string_cells_the_renumbering_does_not_take_go_to_openpyxl(
    renumbered_blocks, change
):
    data = _rewritten(_shared_strings_sheet(), _SHEET, change)
    exact = outcome(data, "openpyxl")
    assert outcome(data, "auto") == exact
    part = xlsx_fast._worksheet_parts(data)["Sheet"]
    with pytest.raises(xlsx_fast.ExactReaderNeeded):
        list(xlsx_fast._sheet_blocks(data, part))


def test_an_index_out_of_range_is_openpyxls_error_whichever_way_it_is_read(renumbered_blocks):
    data = _rewritten(
        _shared_strings_sheet(),
        _SHEET,
        _cell_replaced("B1500", b'<c r="B1500" t="s"><v>999999</v></c>'),
    )
    exact = outcome(data, "openpyxl")
    assert exact[:2] == ("error", "unreadable_file")
    assert outcome(data, "auto") == outcome(data, "calamine") == exact


def test_a_shared_strings_table_not_in_the_form_expected_is_given_whole(
    monkeypatch, renumbered_blocks
):
    # A comment among the strings: every block gets the table as it is (as before), and reads
    # the same.
    data = _rewritten(
        _shared_strings_sheet(), _STRINGS, lambda xml: xml.replace(b"</si>", b"</si><!-- x -->", 1)
    )
    whole = zipfile.ZipFile(io.BytesIO(data)).read(_STRINGS)
    assert xlsx_fast._SharedStrings.parse(whole) is None
    assert all(table == whole for table in _block_tables(data))
    assert _calamine_alone(monkeypatch, data) == outcome(data, "openpyxl")


def test_the_shared_strings_table_is_parsed_into_one_bytes_object_and_offsets():
    xml = (
        b'<?xml version="1.0"?>\n<sst xmlns="x" count="9" uniqueCount="3">'
        b"<si><t>a</t></si>\n<si><r><t>b</t></r><r><t>c</t></r></si><si><t>&amp;</t></si></sst>"
    )
    strings = xlsx_fast._SharedStrings.parse(xml)
    assert strings.count == 3 and strings.bounds.itemsize <= 8
    assert strings.table([2, 0]) == (
        b'<?xml version="1.0"?>\n<sst xmlns="x" uniqueCount="2">'
        b"<si><t>&amp;</t></si><si><t>a</t></si>\n</sst>"
    )
    assert xlsx_fast._SharedStrings.parse(xml.replace(b"<si><t>a", b"<si/><si><t>a")) is None
    assert xlsx_fast._SharedStrings.parse(xml.replace(b"</sst>", b"<extLst/></sst>")) is None
