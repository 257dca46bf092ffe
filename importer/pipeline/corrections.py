"""Corrections an admin makes in the browser to a file with errors: cells edited, rows dropped.

Pure, like every stage: a Table and the corrections in, the corrected Table and its CSV out.
The corrected CSV goes through the same pipeline as any file (importer.runs.corrections), so
the checks are the same code.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from importer.pipeline.headers import fields_of, normalised_extra
from importer.pipeline.types import Cell, Row, Table


@dataclass(frozen=True)
class CellCorrection:
    """A new value for one cell: the row as the spreadsheet numbers it, the column's index."""

    row: int
    column: int
    value: str


def cell_text(cell: Cell | None) -> str:
    """Return a cell as the editing screen shows it and the corrected CSV writes it."""
    if cell is None:
        return ""
    if isinstance(cell, dt.date):
        return cell.isoformat()
    return cell


def editable_columns(
    table: Table, named: Iterable[str], extra_synonyms: Mapping[str, str] | None = None
) -> list[int]:
    """Return the indexes of the columns the editing screen shows, in the file's order.

    Those that import a field, and any that an error names by its header; a column the import
    ignores would only take room.
    """
    named = set(named)
    fields = fields_of(table.headers, normalised_extra(extra_synonyms))
    return [
        index
        for index, header in enumerate(table.headers)
        if fields[index] is not None or cell_text(header) in named
    ]


def rows_numbered(table: Table, numbers: Iterable[int]) -> dict[int, Row]:
    """Return the table's rows of the given numbers, by number (a number not found is left out)."""
    wanted = set(numbers)
    return {row.number: row for row in table.rows if row.number in wanted}


def apply_corrections(
    table: Table, cells: Iterable[CellCorrection], dropped: Iterable[int]
) -> tuple[Table, int]:
    """Return the table with the cells corrected and the rows dropped, and how many cells
    changed (a value typed the same as before is no change).

    Rows keep their numbers, so that an error of the corrected preview names the row the
    admin knows. Raise ValueError for a row or column the table does not have.
    """
    dropped = set(dropped)
    by_row: dict[int, dict[int, str]] = {}
    width = len(table.headers)
    for correction in cells:
        if not 0 <= correction.column < width:
            raise ValueError(f"Column {correction.column} is not in the file")
        by_row.setdefault(correction.row, {})[correction.column] = correction.value
    numbers = {row.number for row in table.rows}
    unknown = (set(by_row) | dropped) - numbers
    if unknown:
        raise ValueError(f"Row {min(unknown)} is not in the file")
    changed = 0
    rows: list[Row] = []
    for row in table.rows:
        if row.number in dropped:
            continue
        edits = by_row.get(row.number)
        if edits:
            cells_of_row = list(row.cells) + [""] * (width - len(row.cells))
            for index, value in edits.items():
                if cell_text(cells_of_row[index]) != value:
                    cells_of_row[index] = value
                    changed += 1
            row = Row(row.number, tuple(cells_of_row))
        rows.append(row)
    # Edited or dropped, a row no longer holds the bytes that could not be decoded.
    undecodable = tuple(
        (number, index, hexed)
        for number, index, hexed in table.undecodable
        if number not in dropped and index not in by_row.get(number, {})
    )
    return replace(table, rows=tuple(rows), undecodable=undecodable), changed


def table_as_csv(table: Table) -> bytes:
    """Return the table as UTF-8 CSV (with a BOM, for Excel), each row on its own line number.

    Lines before the header and between rows (title rows, blank or dropped rows) are left
    empty: the reader skips blank records but counts them, so every row keeps its number.
    """
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    line = 1
    for _ in range(1, table.header_row):
        buffer.write("\r\n")
        line += 1
    writer.writerow([cell_text(cell) for cell in table.headers])
    line += 1
    for row in table.rows:
        while line < row.number:
            buffer.write("\r\n")
            line += 1
        writer.writerow([cell_text(cell) for cell in row.cells])
        line += 1
    return buffer.getvalue().encode("utf-8-sig")
