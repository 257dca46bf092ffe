"""read_table's CSV path read in windows of lines and blocks of records (issue 17): the same
rows, row numbers, errors and progress as reading the text through io.StringIO row by row."""

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.pipeline import parse
from importer.pipeline.headers import EDGE_CHARACTERS
from importer.pipeline.parse import read_table
from importer.pipeline.types import FileError, Row

HEADER = "Email,Name,Team\r\n"


def expected_rows(text: str) -> tuple[Row, ...]:
    """The rows as the reader made them before: csv over io.StringIO(text, newline="")."""
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)  # the header, on the first line in these files
    return tuple(
        Row(number, tuple(cells))
        for number, cells in enumerate(reader, start=2)
        if any(cell.strip(EDGE_CHARACTERS) for cell in cells)
    )


@pytest.fixture
def small_pieces(monkeypatch):
    """Windows of a few characters, blocks of three records, columns decided after 4 values."""
    monkeypatch.setattr(parse, "LINE_WINDOW", 5)
    monkeypatch.setattr(parse, "CSV_BLOCK_ROWS", 3)
    monkeypatch.setattr(parse, "_SHARE_SAMPLE_ROWS", 4)


@pytest.mark.parametrize("char", list(parse._OTHER_LINE_BREAKS))
def test_a_character_splitlines_breaks_at_stays_inside_its_cell(char, small_pieces):
    text = f"{HEADER}ana@example.com,Ana{char}Maria,Red\r\nben@example.com,Ben,Blue\r\n"

    table = read_table(text.encode())

    assert table.rows == (
        Row(2, ("ana@example.com", f"Ana{char}Maria", "Red")),
        Row(3, ("ben@example.com", "Ben", "Blue")),
    )
    assert table.rows == expected_rows(text)


@pytest.mark.parametrize("window", [1, 2, 3, 5, 8, 13, 40, 1024 * 1024])
def test_a_quoted_line_break_across_a_window_boundary_stays_in_its_cell(window, monkeypatch):
    monkeypatch.setattr(parse, "LINE_WINDOW", window)
    text = (
        f"{HEADER}"
        'ana@example.com,"Ana\nMaria\r\nda\rSilva",Red\n'
        "ben@example.com,Ben,Blue\r"
        'carla@example.com,"\r\n",Green\r\n'
        "dan@example.com,Dan,Red"  # no line ending at the end
    )

    table = read_table(text.encode())

    assert table.rows == (
        Row(2, ("ana@example.com", "Ana\nMaria\r\nda\rSilva", "Red")),
        Row(3, ("ben@example.com", "Ben", "Blue")),
        Row(4, ("carla@example.com", "\r\n", "Green")),
        Row(5, ("dan@example.com", "Dan", "Red")),
    )


@pytest.mark.parametrize("window", [1, 4, 1024 * 1024])
def test_cr_only_line_endings_split_as_a_text_file_does(window, monkeypatch):
    monkeypatch.setattr(parse, "LINE_WINDOW", window)
    text = "Email,Name,Team\rana@example.com,Ana,Red\r\rben@example.com,Ben,Blue\r"

    assert read_table(text.encode()).rows == (
        Row(2, ("ana@example.com", "Ana", "Red")),
        Row(4, ("ben@example.com", "Ben", "Blue")),
    )


def test_the_windows_cover_the_text_each_ending_at_a_line_feed(monkeypatch):
    monkeypatch.setattr(parse, "LINE_WINDOW", 4)
    text = "ab\r\ncdefg\nh\r\r\nijklmnop\n\nq"

    windows = list(parse._windows(text))

    assert "".join(windows) == text
    assert all(window.endswith("\n") for window in windows[:-1])
    assert all(len(window) >= 4 for window in windows[:-1])


@pytest.mark.parametrize("kept", [0, 1, 2, 3, 4, 5, 7])
def test_a_file_blank_but_for_one_row_keeps_that_row_and_its_number(kept, small_pieces):
    lines = ["", ",,", " , ", "\u00a0,\t", ",,", "", " ", ",", ""]
    lines[kept] = "ana@example.com,Ana,Red"
    text = HEADER + "\r\n".join(lines) + "\r\n"

    assert read_table(text.encode()).rows == (Row(kept + 2, ("ana@example.com", "Ana", "Red")),)


def test_a_file_of_blank_rows_only_is_refused_as_empty(small_pieces):
    text = HEADER + "\r\n,,\r\n \r\n\r\n,\u200b,\r\n"

    with pytest.raises(FileError) as caught:
        read_table(text.encode())

    assert caught.value.code == "empty_file"


def test_ragged_and_uniform_blocks_give_the_rows_as_written(small_pieces):
    text = (
        HEADER + "a@example.com,Ana,Red\r\nb@example.com,Ben\r\nc@example.com,Cy,Red,extra\r\n"
        "d@example.com,Di,Red\r\ne@example.com,Ed,Red\r\nf@example.com,Flo,Red\r\n"
        "g@example.com,Gus,Red\r\n\r\nh@example.com,Hal,Blue\r\n"
    )

    table = read_table(text.encode())

    assert table.rows == expected_rows(text)
    assert [len(row.cells) for row in table.rows] == [3, 2, 4, 3, 3, 3, 3, 3]
    # A repeated value is one object, in ragged blocks and in uniform ones.
    reds = [row.cells[2] for row in table.rows if row.cells[2:3] == ("Red",)]
    assert len(reds) == 6
    assert all(red is reds[0] for red in reds)


def test_a_column_of_distinct_values_is_kept_as_read_unless_another_column_holds_them(
    small_pieces,
):
    """Sampled on 4 rows: the IDs are distinct and no other column holds one, so they are kept as
    read; the addresses are distinct too, but the managers' column holds them, so they stay
    shared: each manager's address is the same object as their own."""
    lines = ["Email,ID,Team,Manager"]
    for number in range(12):
        manager = f"p{number - 1}@example.com" if number else ""
        lines.append(f"p{number}@example.com,E{number},Red,{manager}")
    lines.append("q@example.com,E99,E8,p8@example.com")  # after the sample: E8 is an ID
    text = "\r\n".join(lines) + "\r\n"

    table = read_table(text.encode())

    assert table.rows == expected_rows(text)
    rows = table.rows
    assert len({id(row.cells[2]) for row in rows[:-1]}) == 1  # "Red": one object
    assert all(rows[at + 1].cells[3] is rows[at].cells[0] for at in range(11))
    assert rows[-1].cells[3] is rows[8].cells[0]
    assert rows[-1].cells[2] == rows[8].cells[1]
    assert rows[-1].cells[2] is not rows[8].cells[1]  # the ID column is no longer shared


@pytest.mark.parametrize("blank_every", [0, 3])
def test_progress_is_called_before_every_thousandth_row(blank_every, monkeypatch):
    monkeypatch.setattr(parse, "CSV_BLOCK_ROWS", 700)
    lines = [
        "" if blank_every and number % blank_every == 0 else f"p{number}@example.com,P,T"
        for number in range(3500)
    ]
    text = HEADER + "\n".join(lines) + "\n"
    calls: list[int] = []

    table = read_table(text.encode(), progress=calls.append)

    assert calls == list(range(0, len(table.rows), 1000))


def test_progress_stops_at_the_row_limit_and_too_many_rows_is_refused(monkeypatch):
    monkeypatch.setattr(parse, "CSV_BLOCK_ROWS", 700)
    text = HEADER + "".join(f"p{number}@example.com,P,T\n" for number in range(2600))
    calls: list[int] = []

    with pytest.raises(FileError) as caught:
        read_table(text.encode(), max_rows=2000, progress=calls.append)

    assert caught.value.code == "file_too_large"
    assert calls == [0, 1000]
    assert len(read_table(text.encode(), max_rows=2600).rows) == 2600


@pytest.mark.parametrize(("max_rows", "code"), [(3, "file_too_large"), (4, "unreadable_file")])
def test_too_many_rows_before_an_unreadable_value_is_refused_as_too_many(
    max_rows, code, monkeypatch, request
):
    """Row by row, the fourth row is refused as one too many before the field after it is read
    (longer than csv's limit); with four rows allowed, that field is."""
    monkeypatch.setattr(parse, "CSV_FIELD_LIMIT", 1000)
    limit = csv.field_size_limit(1000)
    request.addfinalizer(lambda: csv.field_size_limit(limit))
    rows = "".join(f"p{number}@example.com,P,T\n" for number in range(4))
    text = f'{HEADER}{rows}p9@example.com,"{"x" * 2000}",T\n'

    with pytest.raises(FileError) as caught:
        read_table(text.encode(), max_rows=max_rows)

    assert caught.value.code == code


def test_an_undecodable_byte_far_into_a_non_ascii_file_is_found(monkeypatch):
    monkeypatch.setattr(parse, "LINE_WINDOW", 16)
    data = (
        "Email,Name\r\nzoë@example.com,Zoë\r\n".encode()
        + b"".join(b"p%d@example.com,P\r\n" % number for number in range(20))
        + b"ana@example.com,An\xe9a\r\n"
    )

    table = read_table(data)

    assert table.rows[-1].cells == ("ana@example.com", "An\ufffda")
    assert table.undecodable == ((23, 1, "E9"),)
    assert not parse._has_undecodable("zoë\u2028\U0001f600" * 10)
    assert parse._has_undecodable("zoë" * 10 + "\udce9")


cell_text = st.text(alphabet=st.sampled_from(list('ab ,"\r\n\t\xa0\u2028\x0c\x85é€')), max_size=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.lists(
        st.one_of(
            cell_text,
            st.lists(cell_text, min_size=1, max_size=4).map(",".join),
            st.just("p@example.com,Ana,Red"),
        ),
        max_size=12,
    ),
    endings=st.lists(st.sampled_from(["\r\n", "\n", "\r"]), min_size=1, max_size=12),
    window=st.integers(1, 30),
    block=st.integers(1, 5),
    sample=st.integers(1, 6),
)
def test_any_text_reads_as_csv_over_a_text_file_does(body, endings, window, block, sample):
    text = HEADER + "".join(line + endings[at % len(endings)] for at, line in enumerate(body))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parse, "LINE_WINDOW", window)
        patch.setattr(parse, "CSV_BLOCK_ROWS", block)
        patch.setattr(parse, "_SHARE_SAMPLE_ROWS", sample)
        try:
            expected = expected_rows(text)
        except csv.Error:
            expected = None
        try:
            rows = read_table(text.encode()).rows
        except FileError as error:
            assert error.code == ("empty_file" if expected == () else "unreadable_file")
        else:
            assert rows == expected
