"""Read an uploaded, pasted or fetched file into a Table: bytes → Table.

The content decides the format, never the file name: a zip is an .xlsx workbook, anything else that
is text is CSV. Legacy .xls, password-protected workbooks and web pages saved by mistake are
recognised and refused with a message that says what to do. Every cell comes out as a person reads
it in Excel: text, or a `datetime.date` for a date cell.

Safety: workbook XML is parsed by openpyxl through defusedxml (no DTDs, no entity expansion), and a
zip whose members would unpack past `max_xml_bytes` is refused before anything is decompressed.
No Django imports here (importer.pipeline.columns brings only Django's email validator).
"""

from __future__ import annotations

import codecs
import collections
import csv
import datetime as dt
import gc
import io
import itertools
import operator
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from functools import partial

import openpyxl
import openpyxl.reader.excel
from defusedxml import DefusedXmlException
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from importer.pipeline import xlsx_fast
from importer.pipeline.headers import (
    EDGE_CHARACTERS,
    MISSING_EMAIL_COLUMN_MESSAGE,
    clean_text,
    first_row_without_email_message,
    is_blank,
    is_header_row,
)
from importer.pipeline.types import Cell, FileError, Row, Table

ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# The header row is looked for among this many non-empty rows at the top of a sheet or CSV.
HEADER_SEARCH_ROWS = 50
# The bound of a workbook's unpacked size follows the rows allowed.
MIN_XML_BYTES = 256 * 1024 * 1024
XML_BYTES_PER_ROW = 1024
# A zip member unpacking to more than this, at more than MAX_COMPRESSION_RATIO, is a zip bomb.
BOMB_MEMBER_BYTES = 50 * 1024 * 1024
MAX_COMPRESSION_RATIO = 200
# Zip members whose first bytes are checked for a DOCTYPE before openpyxl sees them.
PROLOG_SCAN_BYTES = 64 * 1024
MAX_ZIP_MEMBERS = 10_000
# The csv module refuses longer fields; columns.py reports any value beyond the field limits.
CSV_FIELD_LIMIT = 4 * 1024 * 1024
CSV_DELIMITERS = (",", ";", "\t")
# Rows between two calls of the caller's progress callback.
PROGRESS_EVERY = 1000
# A workbook's rows are read in blocks of this many (the last of a sheet may be shorter).
BLOCK_ROWS = xlsx_fast.BLOCK_ROWS

# The scan before calamine (xlsx_fast) refuses a damaged part with the same words.
DAMAGED_WORKBOOK_MESSAGE = xlsx_fast.DAMAGED_WORKBOOK_MESSAGE
UNSAFE_XML_MESSAGE = (
    "The workbook contains XML declarations (a DOCTYPE or entities) that are refused for safety; "
    "files saved by Excel never contain them. Open the file in Excel and save it again as .xlsx."
)
EMPTY_FILE_MESSAGE = "The file is empty."
HEADER_ONLY_MESSAGE = "The file has a header row but no people in it."


def read_table(
    data: bytes,
    filename: str = "",
    *,
    extra_synonyms: Mapping[str, str] | None = None,
    max_rows: int = 250_000,
    max_columns: int = 500,
    max_xml_bytes: int | None = None,
    progress: Callable[[int], None] | None = None,
    xlsx_reader: str = "auto",
) -> Table:
    """Return the header row and the non-blank data rows of an .xlsx workbook or CSV text.

    `filename` is accepted for callers' convenience and never used to decide the format.
    `extra_synonyms` (an organization's own header → field names) helps find the header row.
    Raise FileError when nothing can be imported: its code says why (unreadable_file,
    unsupported_format, empty_file, missing_column, unsafe_xml, file_too_large), its message
    what to do. `progress(rows read)` is called every PROGRESS_EVERY data rows (for a workbook,
    before each block of BLOCK_ROWS rows). A workbook may
    unpack to `max_xml_bytes` (by default 1 KB for each of `max_rows`, and at least 256 MB).
    `xlsx_reader` is for comparing the readers: "auto" reads with calamine when the scan allows
    it and openpyxl otherwise; "openpyxl" always with openpyxl; "calamine" with calamine whenever
    it opens the file (the scan still refuses unsafe or damaged parts).
    """
    progress = progress or _no_progress
    if max_xml_bytes is None:
        max_xml_bytes = max(MIN_XML_BYTES, max_rows * XML_BYTES_PER_ROW)
    if not data:
        raise FileError("empty_file", EMPTY_FILE_MESSAGE)
    if data.startswith(ZIP_MAGIC):
        return _read_xlsx(
            data,
            extra_synonyms=extra_synonyms,
            max_rows=max_rows,
            max_columns=max_columns,
            max_xml_bytes=max_xml_bytes,
            progress=progress,
            reader=xlsx_reader,
        )
    if data.startswith(OLE2_MAGIC):
        raise _ole2_error(data)
    if data.startswith(b"%PDF-"):
        raise FileError(
            "unsupported_format",
            "The file is a PDF, not a spreadsheet. Upload the .xlsx or CSV export instead.",
        )
    return _read_csv(
        _decode_text(data),
        extra_synonyms=extra_synonyms,
        max_rows=max_rows,
        max_columns=max_columns,
        progress=progress,
    )


def _no_progress(rows: int) -> None:
    """Report nowhere."""


def _ole2_error(data: bytes) -> FileError:
    """Return the error for an OLE2 compound file: an encrypted .xlsx or a legacy Office file."""
    # An encrypted .xlsx is an OLE2 container with an "EncryptionInfo" stream; names are UTF-16LE.
    if "EncryptionInfo".encode("utf-16-le") in data:
        return FileError(
            "unreadable_file",
            "The file is password-protected. Remove the password in Excel (File → Info → Protect "
            "Workbook) and upload it again.",
        )
    return FileError(
        "unsupported_format",
        "The file is an old Excel 97–2003 workbook (.xls), which cannot be imported. Open it in "
        "Excel and save it as .xlsx (File → Save As → Excel Workbook), then upload that file.",
    )


# --- xlsx -------------------------------------------------------------------------------------


def _read_xlsx(
    data: bytes,
    *,
    extra_synonyms: Mapping[str, str] | None,
    max_rows: int,
    max_columns: int,
    max_xml_bytes: int,
    progress: Callable[[int], None],
    reader: str,
) -> Table:
    """Read a workbook with calamine when the scan allows it, else with openpyxl (exact)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except Exception:
        raise FileError("unreadable_file", DAMAGED_WORKBOOK_MESSAGE) from None
    with archive:
        _check_expanded_size(members, max_xml_bytes)
        _check_is_workbook(archive, members)
        _check_no_doctype(archive, members)
        strict = _is_strict(archive)
        if strict:
            data = _as_transitional(archive, members)
    options = {
        "extra_synonyms": extra_synonyms,
        "max_rows": max_rows,
        "max_columns": max_columns,
        "progress": progress,
    }
    # The large sheets read a block at a time are scanned as they are read (xlsx_fast).
    deferred = xlsx_fast.deferred_parts(members) if reader == "auto" else frozenset()
    if reader == "openpyxl" or strict:
        fast = False
    else:
        fast = xlsx_fast.scan_workbook(
            data, members, max_rows=max_rows, max_columns=max_columns, deferred=deferred
        )
    if fast or reader == "calamine":
        try:
            return xlsx_fast.read_with_calamine(
                data,
                partial(_read_workbook, **options),
                deferred=[member for member in members if member.filename in deferred],
                max_rows=max_rows,
                max_columns=max_columns,
            )
        except xlsx_fast.ExactReaderNeeded:
            pass  # openpyxl below gives today's answer: a table, or the error it finds
    return _read_with_openpyxl(data, max_columns=max_columns, options=options)


def _read_with_openpyxl(data: bytes, *, max_columns: int, options: dict) -> Table:
    try:
        with warnings.catch_warnings():
            # openpyxl warns about features it drops (data validation, default styles); harmless.
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(
                io.BytesIO(data), read_only=True, data_only=True, keep_links=False
            )
            try:
                sheets = [_OpenpyxlSheet(sheet, max_columns) for sheet in workbook.worksheets]
                return _read_workbook(sheets, **options)
            finally:
                workbook.close()
                # openpyxl leaves cyclic garbage, about one object per row; a preview runs with
                # the cycle collector paused (runs.services), so it is collected here, at once.
                gc.collect()
    except FileError:
        raise
    except Exception as error:
        # openpyxl wraps some parse errors in a ValueError; the refused DTD is in the chain.
        if _is_caused_by(error, DefusedXmlException):
            raise FileError("unsafe_xml", UNSAFE_XML_MESSAGE) from None
        # openpyxl raises many types (KeyError, ValueError, TypeError, zlib.error, BadZipFile...)
        # for damaged or odd files; to the person uploading they all mean the same.
        raise FileError("unreadable_file", DAMAGED_WORKBOOK_MESSAGE) from None


class _OpenpyxlSheet:
    """A worksheet of openpyxl's read-only workbook, read as `_read_workbook` needs."""

    __slots__ = ("_sheet", "_max_columns", "visible")

    def __init__(self, sheet, max_columns: int) -> None:
        self._sheet = sheet
        self._max_columns = max_columns
        self.visible = sheet.sheet_state == "visible"

    def rows(self) -> Iterator[Sequence]:
        """Yield the rows from row 1, only the first `max_columns + 1` columns of each.

        One more column than allowed tells a too wide sheet, and a stray cell far to the right
        (say at XFD) costs nothing.
        """
        # Writers often get the <dimension> element wrong; read the rows that are really there.
        self._sheet.reset_dimensions()
        return self._sheet.iter_rows(min_row=1, max_col=self._max_columns + 1, values_only=True)

    def blocks(self) -> Iterator[list]:
        """Yield the rows of `rows()` in lists of BLOCK_ROWS."""
        rows = self.rows()
        while block := list(itertools.islice(rows, BLOCK_ROWS)):
            yield block


class _ReadOnlySheetWithoutSizePass(ReadOnlyWorksheet):
    """openpyxl's read-only worksheet without its look for a <dimension> element when opened.

    openpyxl parses a sheet up to the end of its data to find the element, which is the whole
    sheet when it has none (29 % of openpyxl's reading of a 100,000-row workbook written by
    openpyxl itself). The sheets are read as if they had none anyway (`reset_dimensions`).
    """

    def _get_size(self) -> None:
        pass


# The reader makes its worksheets through this name (openpyxl 3.1, openpyxl.reader.excel).
openpyxl.reader.excel.ReadOnlyWorksheet = _ReadOnlySheetWithoutSizePass


# Excel's "Strict Open XML Spreadsheet" writes the same parts as an ordinary workbook under
# other namespace names (ISO/IEC 29500 Strict), which openpyxl does not know: it finds no sheet.
# Each Strict name has a Transitional twin; renaming them gives the workbook openpyxl reads.
_STRICT_NAMESPACES = (
    (
        b"http://purl.oclc.org/ooxml/spreadsheetml/main",
        b"http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    ),
    (
        b"http://purl.oclc.org/ooxml/officeDocument/relationships/extendedProperties",
        b"http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties",
    ),
    (
        b"http://purl.oclc.org/ooxml/officeDocument/relationships",
        b"http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    ),
    (
        b"http://purl.oclc.org/ooxml/officeDocument/extendedProperties",
        b"http://schemas.openxmlformats.org/officeDocument/2006/extended-properties",
    ),
    (
        b"http://purl.oclc.org/ooxml/officeDocument/customProperties",
        b"http://schemas.openxmlformats.org/officeDocument/2006/custom-properties",
    ),
    (
        b"http://purl.oclc.org/ooxml/officeDocument/docPropsVTypes",
        b"http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes",
    ),
    (
        b"http://purl.oclc.org/ooxml/drawingml/",
        b"http://schemas.openxmlformats.org/drawingml/2006/",
    ),
)
_STRICT_MARK = b"http://purl.oclc.org/ooxml/spreadsheetml/main"


def _is_strict(archive: zipfile.ZipFile) -> bool:
    """Return whether the workbook is written in Strict Open XML."""
    try:
        with archive.open("xl/workbook.xml") as part:
            return _STRICT_MARK in part.read(PROLOG_SCAN_BYTES)
    except Exception:
        raise FileError("unreadable_file", DAMAGED_WORKBOOK_MESSAGE) from None


def _as_transitional(archive: zipfile.ZipFile, members: Sequence[zipfile.ZipInfo]) -> bytes:
    """Return a Strict workbook rewritten with the Transitional namespaces, in a new zip.

    The sizes were checked before (_check_expanded_size), so unpacking the parts is bounded.
    """
    copy = io.BytesIO()
    try:
        with zipfile.ZipFile(copy, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as target:
            for member in members:
                content = archive.read(member)
                if member.filename.endswith((".xml", ".rels")):
                    for strict, transitional in _STRICT_NAMESPACES:
                        content = content.replace(strict, transitional)
                    content = content.replace(b' conformance="strict"', b"")
                target.writestr(member.filename, content)
    except FileError:
        raise
    except Exception:
        raise FileError("unreadable_file", DAMAGED_WORKBOOK_MESSAGE) from None
    return copy.getvalue()


def _is_caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, kind):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _check_expanded_size(members: Sequence[zipfile.ZipInfo], max_xml_bytes: int) -> None:
    """Refuse a zip that would unpack past the bound, judging by its declared sizes.

    zipfile never returns more bytes than a member's declared `file_size` (and fails its CRC
    check if the data would go on), so checking the declarations bounds the work.
    """
    if len(members) > MAX_ZIP_MEMBERS:
        raise FileError(
            "file_too_large",
            f"The workbook holds {len(members):,} parts; the limit is {MAX_ZIP_MEMBERS:,}. "
            "Save it again from Excel without unneeded sheets and images.",
        )
    total = sum(member.file_size for member in members)
    largest = max(members, key=lambda member: member.file_size, default=None)
    if largest is not None and (largest.file_size > max_xml_bytes or total > max_xml_bytes):
        raise FileError(
            "file_too_large",
            f"The workbook expands to {_megabytes(total)} MB when opened; the limit is "
            f"{_megabytes(max_xml_bytes)} MB. Delete unneeded sheets, images and formatting, or "
            "split the file.",
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > BOMB_MEMBER_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise FileError(
                "file_too_large",
                f"Part of the workbook ({member.filename}) expands {ratio:,.0f}-fold to "
                f"{_megabytes(member.file_size)} MB, which no real spreadsheet does. The file "
                "is refused; open it in Excel and save it again.",
            )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f}"


def _check_is_workbook(archive: zipfile.ZipFile, members: Sequence[zipfile.ZipInfo]) -> None:
    names = {member.filename for member in members}
    if "xl/workbook.xml" in names:
        return
    if "xl/workbook.bin" in names:
        raise FileError(
            "unsupported_format",
            "The file is an Excel Binary Workbook (.xlsb), which cannot be imported. Open it in "
            "Excel and save it as .xlsx (File → Save As → Excel Workbook).",
        )
    if "mimetype" in names and archive.getinfo("mimetype").file_size < 200:
        try:
            mimetype = archive.read("mimetype")
        except Exception:
            mimetype = b""
        if b"opendocument.spreadsheet" in mimetype:
            raise FileError(
                "unsupported_format",
                "The file is an OpenDocument spreadsheet (.ods), which cannot be imported. Save "
                "it as .xlsx (File → Save As → Excel 2007-365) and upload that file.",
            )
    raise FileError(
        "unreadable_file",
        "The file is a zip archive but not an Excel workbook. Upload the .xlsx file itself, or "
        "save the data as .xlsx or CSV.",
    )


_DECLARATION = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def _check_no_doctype(archive: zipfile.ZipFile, members: Sequence[zipfile.ZipInfo]) -> None:
    """Refuse XML parts that declare a DOCTYPE or entities near their start.

    OOXML parts never have one. defusedxml refuses them too, wherever they are; this check
    catches them before openpyxl runs, so the outcome does not depend on its parsing order.
    """
    for member in members:
        if member.is_dir() or not member.filename.endswith((".xml", ".rels", ".vml")):
            continue
        try:
            with archive.open(member) as part:
                prolog = part.read(PROLOG_SCAN_BYTES)
        except Exception:
            raise FileError("unreadable_file", DAMAGED_WORKBOOK_MESSAGE) from None
        # Dropping NUL bytes turns UTF-16 markup into ASCII well enough for this search.
        if _DECLARATION.search(prolog.replace(b"\x00", b"")):
            raise FileError("unsafe_xml", UNSAFE_XML_MESSAGE)


def _read_workbook(
    sheets: Sequence,
    *,
    extra_synonyms: Mapping[str, str] | None,
    max_rows: int,
    max_columns: int,
    progress: Callable[[int], None],
) -> Table:
    """Return the table of the first visible worksheet that has a header row and data rows.

    `sheets` are the workbook's worksheets (chartsheets are not), each with `visible` and
    `rows()`: its rows from row 1, each a sequence of openpyxl-style values from column A.
    """
    header_only: Table | None = None
    has_data = False
    for sheet in sheets:
        if not sheet.visible:
            continue
        table, sheet_has_data = _read_sheet(
            sheet,
            extra_synonyms=extra_synonyms,
            max_rows=max_rows,
            max_columns=max_columns,
            progress=progress,
        )
        has_data = has_data or sheet_has_data
        if table is not None and table.rows:
            return table
        if table is not None and header_only is None:
            header_only = table
    if header_only is not None:
        raise FileError("empty_file", HEADER_ONLY_MESSAGE)
    if has_data:
        visible = next(sheet for sheet in sheets if sheet.visible)
        first_rows = itertools.islice(visible.rows(), 50)
        raise FileError(
            "missing_column", first_row_without_email_message(first_rows, extra_synonyms)
        )
    if any(_has_data(sheet) for sheet in sheets):
        raise FileError(
            "empty_file",
            "The workbook's visible sheets are empty; hidden sheets are not read. Unhide the "
            "sheet with the people (right-click a sheet tab → Unhide) and upload it again.",
        )
    raise FileError("empty_file", EMPTY_FILE_MESSAGE)


def _has_data(sheet) -> bool:
    return any(_used_width(values, 0) for values in sheet.rows())


def _read_sheet(
    sheet,
    *,
    extra_synonyms: Mapping[str, str] | None,
    max_rows: int,
    max_columns: int,
    progress: Callable[[int], None],
) -> tuple[Table | None, bool]:
    """Return (the sheet's table or None if it has no header row, whether it has any data).

    The header row is looked for row by row; the rows below it are read a block at a time
    (`sheet.blocks()`), as `_BlockReader` says.
    """
    stream = _RowStream(sheet.blocks())
    try:
        header_row, header = _find_header(stream.numbered(), extra_synonyms, convert=_cell_value)
        if header is None:
            return None, header_row > 0
        header_width = _used_width(header, 0)
        _check_width(header_width, max_columns)
        reader = _BlockReader(
            header_width, max_rows=max_rows, max_columns=max_columns, progress=progress
        )
        for first, block in stream.rest():
            reader.add(first, block)
    finally:
        # A sheet read ahead in a thread (xlsx_fast) stops it now, also when an error left
        # early, rather than when the collector finds the generator.
        stream.close()
    width = reader.width
    headers = tuple(_pad(tuple(_header_text(cell) for cell in header[:width]), width))
    rows = reader.rows
    if reader.shortest < width:
        rows = [
            row if len(row.cells) == width else Row(row.number, _pad(row.cells, width))
            for row in rows
        ]
    return Table(header_row=header_row, headers=headers, rows=tuple(rows), format="xlsx"), True


class _RowStream:
    """A sheet's blocks of rows, read row by row (`numbered`) and then block by block (`rest`).

    Row numbers start at 1 and run on from one block to the next.
    """

    def __init__(self, blocks: Iterator[list]) -> None:
        self._blocks = iter(blocks)
        self._block: list = []
        self._at = 0  # the index in _block of the next row to read
        self._first = 1  # the number of _block's first row

    def numbered(self) -> Iterator[tuple[int, Sequence]]:
        """Yield (row number, values) from the next row on."""
        while True:
            while self._at < len(self._block):
                self._at += 1
                yield self._first + self._at - 1, self._block[self._at - 1]
            block = next(self._blocks, None)
            if block is None:
                return
            self._first += len(self._block)
            self._block, self._at = block, 0

    def close(self) -> None:
        """Let go of the blocks not read (a generator's are closed)."""
        close = getattr(self._blocks, "close", None)
        if close is not None:
            close()
        self._block = []

    def rest(self) -> Iterator[tuple[int, list]]:
        """Yield (number of the first row, rows) for the rows `numbered` has not yielded."""
        first = self._first + self._at
        if self._at < len(self._block):
            yield first, self._block[self._at :]
        first = self._first + len(self._block)
        self._block, self._at = [], 0
        for block in self._blocks:
            yield first, block
            first += len(block)


# The types a cell value may keep as it is: text, and a date (a datetime is a date, not this).
_CELL_TYPES = frozenset({str, dt.date})
# A column whose first rows (at least this many) are nearly all distinct values (emails, IDs)
# is not shared any more: its values are kept as read, and the dict's entries saved. Sharing
# pays for a column of dates or names, whose values repeat however many there are at first.
_SHARE_SAMPLE_ROWS = 8192
_DISTINCT_SHARE = 0.9
# A CSV column with more of its sampled values than this also in another column stays shared.
_LINKED_SHARE = 0.01


class _BlockReader:
    """The data rows of a sheet, read a block of rows at a time into Rows of cells.

    A block whose rows all have one length, and nothing but blanks (None or "") right of the
    header's width, is read a column at a time: each column converted and its values shared at
    C speed (when every value is text or a date, as in most sheets), the blank rows found from
    the first column, and the rows made by zip. Any other block is read row by row. Both give
    the cells the row-by-row reading gives: the values up to the header's width, or to the last
    non-blank value when that is further right.
    """

    def __init__(
        self,
        header_width: int,
        *,
        max_rows: int,
        max_columns: int,
        progress: Callable[[int], None],
    ) -> None:
        self.header_width = header_width
        self.width = header_width  # the table's width so far: at least the header's
        self.shortest = header_width  # the fewest cells of a row so far
        self.rows: list[Row] = []
        self._max_rows = max_rows
        self._max_columns = max_columns
        self._progress = progress
        # One object per distinct value, as for CSV: a workbook with inline strings (rather
        # than a shared-strings table) or dates gives a new object for every cell.
        self._shared: dict[Cell, Cell] = {}
        self._unshared: set[int] = set()  # columns found to be distinct values
        # For each column not decided yet: (values seen, new values among them).
        self._sample: dict[int, tuple[int, int] | None] = {}

    def add(self, first: int, block: Sequence[Sequence]) -> None:
        """Read `block`, the rows numbered from `first`."""
        if not block:
            return
        self._progress(len(self.rows))
        length = len(block[0])
        width = self.header_width
        uniform = length > 0 and len(set(map(len, block))) == 1
        if uniform and length > width:
            for values in block:
                tail = values[width:]
                if tail.count(None) + tail.count("") != len(tail):
                    uniform = False
                    break
            else:
                block = [values[:width] for values in block]
                length = width
        if not uniform:
            self._add_rows(first, block)
            return
        count = len(block)
        flat = list(itertools.chain.from_iterable(block))
        columns = [flat[index::length] for index in range(length)]
        del flat
        blank = [
            at
            for at, value in enumerate(columns[0])
            if (value is None or (isinstance(value, str) and not value.strip(EDGE_CHARACTERS)))
            and not _used_width(block[at], 0)
        ]
        if len(self.rows) + count - len(blank) > self._max_rows:
            raise _too_many_rows(self._max_rows)
        cells = zip(
            *[self._cells(index, column) for index, column in enumerate(columns)], strict=True
        )
        numbers: Iterator[int] = iter(range(first, first + count))
        if blank:
            keep = [True] * count
            for at in blank:
                keep[at] = False
            cells = itertools.compress(cells, keep)
            numbers = itertools.compress(numbers, keep)
        self.rows.extend(map(Row, numbers, cells))
        self.shortest = min(self.shortest, length)

    def _cells(self, index: int, values: list) -> list:
        """Return a column's values as cells, each distinct value one object."""
        if not set(map(type, values)) <= _CELL_TYPES:
            values = [value if value.__class__ is str else _cell_value(value) for value in values]
        if index in self._unshared:
            return values
        shared = self._shared
        before = len(shared)
        values = list(map(shared.setdefault, values, values))
        if (sample := self._sample.get(index, (0, 0))) is not None:
            seen, new = sample[0] + len(values), sample[1] + len(shared) - before
            self._sample[index] = (seen, new) if seen < _SHARE_SAMPLE_ROWS else None
            if seen >= _SHARE_SAMPLE_ROWS and new > seen * _DISTINCT_SHARE:
                self._unshared.add(index)
        return values

    def _add_rows(self, first: int, block: Sequence[Sequence]) -> None:
        """Read `block` row by row."""
        header_width = self.header_width
        share = self._shared.setdefault
        rows = self.rows
        for number, values in enumerate(block, start=first):
            used = _used_width(values, self.width)
            if not used:
                continue
            _check_width(used, self._max_columns)
            if len(rows) == self._max_rows:
                raise _too_many_rows(self._max_rows)
            self.width = max(self.width, used)
            # Text, most cells, needs no conversion: checked here, it saves a call per cell.
            cells = tuple(
                [
                    share(value, value)
                    if value.__class__ is str
                    else share(cell := _cell_value(value), cell)
                    for value in values[: max(used, header_width)]
                ]
            )
            rows.append(Row(number, cells))
            self.shortest = min(self.shortest, len(cells))


def _find_header(
    numbered_rows: Iterator[tuple[int, Sequence]],
    extra_synonyms: Mapping[str, str] | None,
    *,
    convert,
) -> tuple[int, list[Cell] | None]:
    """Return (row number, cells) of the header row, or (non-empty rows seen, None).

    Consumes `numbered_rows` up to and including the header row.
    """
    non_empty = 0
    for number, values in numbered_rows:
        if not _used_width(values, 0):
            continue
        non_empty += 1
        cells = [convert(value) for value in values]
        if is_header_row(cells, extra_synonyms):
            return number, cells
        if non_empty == HEADER_SEARCH_ROWS:
            break
    return non_empty, None


def _used_width(values: Sequence, known_width: int) -> int:
    """Return 1 + the index of the last non-blank value, or 0 for a blank row.

    Checks past `known_width` at C speed first: a row read `max_columns + 1` wide is mostly None.
    """
    end = len(values)
    if known_width < end:
        tail = values[known_width:]
        if tail.count(None) == len(tail):
            end = known_width
    # "is None" first: most cells of a wide row are None, and a function call costs more.
    while end and (values[end - 1] is None or is_blank(values[end - 1])):
        end -= 1
    return end


def _check_width(width: int, max_columns: int) -> None:
    if width > max_columns:
        raise FileError(
            "file_too_large",
            f"The sheet has more than {max_columns:,} columns; the limit is {max_columns:,}. "
            "Delete the columns that are not needed, including stray values far to the right.",
        )


def _too_many_rows(max_rows: int) -> FileError:
    return FileError(
        "file_too_large",
        f"The file has more than {max_rows:,} rows; the limit is {max_rows:,}. Split it into "
        "smaller files.",
    )


def _pad(cells: tuple[Cell, ...], width: int) -> tuple[Cell, ...]:
    return cells + ("",) * (width - len(cells)) if len(cells) < width else cells[:width]


def _cell_value(value: object) -> Cell:
    """Return a cell value as a person reads it in Excel: text, or a date for a date cell."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Excel stores every number as a float: an ID typed as 1001 arrives as 1001.0.
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.date()  # a hire date entered with a time of day is still that day
    if isinstance(value, dt.date):
        return value
    if isinstance(value, dt.time):
        return value.isoformat()
    return str(value)


def _header_text(cell: Cell) -> str:
    return cell.isoformat() if isinstance(cell, dt.date) else cell


# --- CSV --------------------------------------------------------------------------------------


def _decode_text(data: bytes) -> str:
    """Return `data` as text, decoding it the way spreadsheet programs write CSV.

    UTF-16 (with or without its mark) and UTF-8 (with or without) are read as such. A file that
    is UTF-8 but for a few bytes stays UTF-8: each byte that does not decode becomes a lone
    surrogate (U+DC80–U+DCFF, Python's "surrogateescape"), which _read_csv_rows reports by cell.
    Only a file with no valid UTF-8 sequence beyond ASCII, or fewer than its invalid bytes, is
    read in a single-byte legacy encoding (Windows-1252 or Mac Roman), and only when the result
    reads as text (see _legacy_decoding); otherwise the file is refused with a request for UTF-8.
    """
    if data.startswith(codecs.BOM_UTF8):
        # The mark promises UTF-8, whatever the bytes after it.
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="surrogateescape")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode_utf16(data, "utf-16")
    if utf16 := _sniff_utf16_without_bom(data):
        return _decode_utf16(data, utf16)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="surrogateescape")
    undecodable = len(_UNDECODABLE.findall(text))
    multibyte = len(_NON_ASCII.findall(text)) - undecodable
    if multibyte > undecodable:
        return text
    legacy = _legacy_decoding(data)
    if legacy is None:
        raise FileError("unreadable_file", UNKNOWN_ENCODING_MESSAGE)
    return legacy


UNKNOWN_ENCODING_MESSAGE = (
    "The file's text encoding could not be recognised: it is not UTF-8, and read as "
    "Windows-1252 or Mac Roman it gives characters no name contains. Save it again as "
    '"CSV UTF-8" (Excel: File → Save As → CSV UTF-8), or as .xlsx.'
)
UNDECODABLE = "\udc80-\udcff"
_UNDECODABLE = re.compile(f"[{UNDECODABLE}]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# C0 controls other than tab, line feed and carriage return; DEL; the C1 controls.
_LEGACY_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]")
# Punctuation that sits between two letters in real names: apostrophes, the Catalan middle dot.
_INSIDE_WORDS = frozenset("\u2019\u2018\u02bc\u00b7\u2010\u2011")
_LATIN1_LETTERS = re.compile(r"[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff]")


def _legacy_decoding(data: bytes) -> str | None:
    """Return `data` decoded in the legacy encoding that reads as text, or None.

    A decoding reads as text when it has no control character and no non-ASCII symbol between
    two letters (Windows-1252's "Jürgen" read as Mac Roman is "J¸rgen"). When both do, the one
    with more accented Latin letters wins (Mac Roman's "Jörg" read as Windows-1252 is "Jšrg":
    a letter, but not a Latin-1 one); a tie goes to Windows-1252, far the more common.
    """
    best: tuple[int, str] | None = None
    for decode in (_decode_cp1252, _decode_mac_roman):
        text = decode(data)
        if _LEGACY_CONTROLS.search(text) or _has_symbol_inside_word(text):
            continue
        score = len(_LATIN1_LETTERS.findall(text))
        if best is None or score > best[0]:
            best = (score, text)
    return best[1] if best else None


def _decode_cp1252(data: bytes) -> str:
    # Windows-1252 leaves 0x81, 0x8D, 0x8F, 0x90 and 0x9D undefined; read as Latin-1 they are
    # C1 controls, which rule this decoding out.
    return data.decode("latin-1").translate(_CP1252_FROM_LATIN1)


def _decode_mac_roman(data: bytes) -> str:
    return data.decode("mac_roman")


def _has_symbol_inside_word(text: str) -> bool:
    for match in _NON_ASCII.finditer(text):
        char = match.group()
        if char.isalpha() or char in _INSIDE_WORDS or unicodedata.combining(char):
            continue
        start = match.start()
        if 0 < start < len(text) - 1 and text[start - 1].isalpha() and text[start + 1].isalpha():
            return True
    return False


_CP1252_FROM_LATIN1 = {
    byte: bytes([byte]).decode("cp1252")
    for byte in range(0x80, 0xA0)
    if byte not in b"\x81\x8d\x8f\x90\x9d"
}


def _sniff_utf16_without_bom(data: bytes) -> str | None:
    """Return "utf-16-le" or "utf-16-be" when every other byte is NUL, as in UTF-16 text."""
    sample = data[:4096]
    even, odd = sample[0::2], sample[1::2]
    if len(odd) < 2:
        return None
    if odd.count(0) >= 0.7 * len(odd) and even.count(0) <= 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) >= 0.7 * len(even) and odd.count(0) <= 0.1 * len(odd):
        return "utf-16-be"
    return None


def _decode_utf16(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise FileError(
            "unreadable_file",
            "The file looks like UTF-16 text but is damaged. Save it again as CSV (UTF-8) or "
            ".xlsx.",
        ) from None


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0e-\x1f]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _read_csv(
    text: str,
    *,
    extra_synonyms: Mapping[str, str] | None,
    max_rows: int,
    max_columns: int,
    progress: Callable[[int], None],
) -> Table:
    head = text[:4096].lstrip("\ufeff \t\r\n").lower()
    if head.startswith(("<!doctype html", "<html")) or (head.startswith("<") and "<html" in head):
        raise FileError(
            "unsupported_format",
            "The file is a web page (HTML), not a spreadsheet: often a login or error page saved "
            "instead of the export. Download the export again, or open the file in Excel and "
            "save it as .xlsx.",
        )
    if head.startswith("<?xml") and "urn:schemas-microsoft-com:office:spreadsheet" in head:
        raise FileError(
            "unsupported_format",
            "The file is an Excel 2003 XML spreadsheet, which cannot be imported. Open it in "
            "Excel and save it as .xlsx (File → Save As → Excel Workbook).",
        )
    sample = text[:65536]
    if "\x00" in text or len(_CONTROL_CHARACTERS.findall(sample)) > max(2, len(sample) // 100):
        raise FileError(
            "unreadable_file",
            "The file contains binary data, so it is neither CSV text nor an .xlsx workbook. "
            "Upload the .xlsx file or a CSV export.",
        )
    if not clean_text(text):
        raise FileError("empty_file", EMPTY_FILE_MESSAGE)
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    try:
        for delimiter in _delimiter_candidates(text):
            table = _read_csv_rows(
                text,
                delimiter,
                extra_synonyms=extra_synonyms,
                max_rows=max_rows,
                max_columns=max_columns,
                progress=progress,
            )
            if table is not None:
                return _with_undecodable_marked(table) if _has_undecodable(text) else table
    except csv.Error:
        raise FileError(
            "unreadable_file",
            "The CSV text could not be read (a value may be longer than "
            f"{CSV_FIELD_LIMIT // (1024 * 1024)} MB). Check the file, or upload it as .xlsx.",
        ) from None
    try:
        reader = csv.reader(
            io.StringIO(text[:65536], newline=""), delimiter=_delimiter_candidates(text)[0]
        )
        message = first_row_without_email_message(itertools.islice(reader, 50), extra_synonyms)
    except csv.Error:
        message = MISSING_EMAIL_COLUMN_MESSAGE
    raise FileError("missing_column", message)


def _has_undecodable(text: str) -> bool:
    """Return whether `text` holds a byte that did not decode (a lone surrogate, see
    _decode_text).

    Encoding a window at a time finds that there is no surrogate at all four times faster than
    a search; a text with one is searched for those of _UNDECODABLE.
    """
    if text.isascii():
        return False
    try:
        for start in range(0, len(text), LINE_WINDOW):
            text[start : start + LINE_WINDOW].encode("utf-8")
    except UnicodeEncodeError:
        return _UNDECODABLE.search(text) is not None
    return False


def _with_undecodable_marked(table: Table) -> Table:
    """Return `table` with each undecodable byte shown as "\ufffd", and the cells listed.

    `Table.undecodable` gets (row, column index, the bytes in hex) for every such cell, so
    that columns.py reports the ones it would import; no lone surrogate goes further.
    """
    found: list[tuple[int, int, str]] = []

    def marked(number: int, cells: Sequence[Cell]) -> tuple[Cell, ...]:
        result = []
        for index, cell in enumerate(cells):
            if isinstance(cell, str) and _UNDECODABLE.search(cell):
                raw = cell.encode("utf-8", errors="surrogateescape")
                hexed = " ".join(f"{ord(char) - 0xDC00:02X}" for char in _UNDECODABLE.findall(cell))
                found.append((number, index, hexed))
                cell = raw.decode("utf-8", errors="replace")
            result.append(cell)
        return tuple(result)

    headers = marked(table.header_row, table.headers)
    rows = tuple(Row(row.number, marked(row.number, row.cells)) for row in table.rows)
    return replace(table, headers=headers, rows=rows, undecodable=tuple(found))


def _delimiter_candidates(text: str) -> list[str]:
    """Return the delimiters to try, most likely first.

    The most frequent of , ; and tab outside quotes in the first non-empty line comes first;
    a tie, or none at all, puts the comma first. The others follow, for files whose first line
    is a title: the delimiter that yields a header row wins.
    """
    first_line = next((line for line in _LINE_BREAK.split(text[:65536]) if line.strip()), "")
    counts = {delimiter: 0 for delimiter in CSV_DELIMITERS}
    inside_quotes = False
    for char in first_line:
        if char == '"':
            inside_quotes = not inside_quotes
        elif char in counts and not inside_quotes:
            counts[char] += 1
    ranked = sorted(CSV_DELIMITERS, key=lambda delimiter: -counts[delimiter])
    top = counts[ranked[0]]
    if top == 0 or counts[ranked[1]] == top:
        ranked.remove(",")
        ranked.insert(0, ",")
    return ranked


# A line with its ending: \r\n, \n or \r, as a text file opened with newline="" splits lines.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
# The characters str.splitlines also breaks a line at: a text holding none of them splits into
# the same lines with splitlines as with _LINE, two fifths faster. (Eight `in` tests take a
# tenth of the time of one search for the eight.)
_OTHER_LINE_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
# splitlines splits the text a window of about this many characters at a time (each window
# ending with a "\n"), so that one window's lines are held at once, not the whole file's.
LINE_WINDOW = 1024 * 1024
# CSV records are read a block of this many at a time, the block's cells shared a column at a time.
CSV_BLOCK_ROWS = 1000


def _lines(text: str) -> Iterator[str]:
    """Yield the lines of `text` with their endings, as io.StringIO(text, newline="") does.

    csv then keeps line breaks inside quoted values. A StringIO would copy the whole text into
    its own buffer, four bytes a character: 400 MB more for a 100 MB file. A window of lines
    may end inside a quoted value: csv.reader reads on into the next line, as it does from a
    file. It never ends between the \r and \n of a \r\n, since it ends at a \n.
    """
    if any(map(text.__contains__, _OTHER_LINE_BREAKS)):
        return map(re.Match.group, _LINE.finditer(text))
    return itertools.chain.from_iterable(
        map(str.splitlines, _windows(text), itertools.repeat(True))
    )


def _windows(text: str) -> Iterator[str]:
    """Yield `text` in pieces of at least LINE_WINDOW characters, each up to and with a "\n"
    (the last one up to the end)."""
    start, size = 0, len(text)
    while start < size:
        end = text.find("\n", start + LINE_WINDOW - 1) + 1 or size
        yield text[start:end]
        start = end


def _read_csv_rows(
    text: str,
    delimiter: str,
    *,
    extra_synonyms: Mapping[str, str] | None,
    max_rows: int,
    max_columns: int,
    progress: Callable[[int], None],
) -> Table | None:
    """Return the table read with `delimiter`, or None if no header row turns up with it.

    Rows are numbered by record (a quoted line break does not start a new row), as Excel
    numbers them when it opens the file; blank records count. Cells stay as read, one row
    shorter or longer than another: columns.py reports rows that do not line up.
    """
    reader = csv.reader(_lines(text), delimiter=delimiter)
    header_row, header = _find_header(
        enumerate(reader, start=1), extra_synonyms, convert=lambda value: value
    )
    if header is None:
        return None
    _check_width(_used_width(header, 0), max_columns)
    rows: list[Row] = []
    cells_of = _CsvCells()
    number = header_row + 1  # the next record's
    # Near max_rows a block holds no more records than may still be read, so that the
    # too-many-rows error comes where row by row it would: before a csv.Error further on.
    while block := list(itertools.islice(reader, min(CSV_BLOCK_ROWS, max_rows - len(rows) + 1))):
        numbers: Iterable[int] = range(number, number + len(block))
        number += len(block)
        if blank := _blank_records(block):
            keep = [True] * len(block)
            for at in blank:
                keep[at] = False
            block = list(itertools.compress(block, keep))
            numbers = itertools.compress(numbers, keep)
        count = len(rows)
        # As row by row: progress(rows read) before each thousandth row, up to max_rows.
        start = -(-count // PROGRESS_EVERY) * PROGRESS_EVERY
        for done in range(start, min(count + len(block), max_rows), PROGRESS_EVERY):
            progress(done)
        if count + len(block) > max_rows:
            raise _too_many_rows(max_rows)
        rows.extend(map(Row, numbers, cells_of(block)))
    if not rows:
        raise FileError("empty_file", HEADER_ONLY_MESSAGE)
    return Table(header_row=header_row, headers=tuple(header), rows=tuple(rows), format="csv")


def _blank_records(block: list[list[str]]) -> list[int]:
    """Return the positions of the records in `block` whose every cell is blank."""
    try:
        firsts = list(map(operator.itemgetter(0), block))
    except IndexError:  # a blank line: no cell at all
        firsts = [cells[0] if cells else "" for cells in block]
    # Most records show a value in their first cell: one pass at C speed rules them all out.
    if all(map(str.strip, firsts, itertools.repeat(EDGE_CHARACTERS))):
        return []
    return [
        at
        for at, cells in enumerate(block)
        if not any(map(str.strip, cells, itertools.repeat(EDGE_CHARACTERS)))
    ]


class _CsvCells:
    """Turns blocks of CSV records into rows of cells, one object per repeated value.

    The csv module makes a new string for every cell; sharing one object per distinct value
    (departments, locations, managers, dates repeat down a column) halves a large file's cells.
    A block whose records are all one length is shared a column at a time (as slices of its
    cells in one list); a ragged block shares every cell. A column whose first values are
    nearly all distinct (IDs: see _SHARE_SAMPLE_ROWS) keeps its values as read from then on,
    unless another column's values were found among them: the people's own addresses stay
    shared, so that each manager's address in the table is the same object as their own.
    """

    def __init__(self) -> None:
        self._shared: dict[str, str] = {}
        self._unshared: set[int] = set()
        # For each column not decided yet: (values seen, new values among them).
        self._sample: dict[int, tuple[int, int] | None] = {}
        # While columns are sampled: the column that first held each shared object (by id:
        # the dict keeps them alive), and per column the values it shared with another column.
        self._origin: dict[int, int] | None = {}
        self._linked: collections.Counter[int] = collections.Counter()

    def __call__(self, block: list[list[str]]) -> Iterable[tuple[str, ...]]:
        share = self._shared.setdefault
        if not block or len(lengths := set(map(len, block))) != 1:
            return [tuple(map(share, cells, cells)) for cells in block]
        (width,) = lengths
        cells = list(itertools.chain.from_iterable(block))
        shared, unshared, sample = self._shared, self._unshared, self._sample
        for index in range(width):
            if index in unshared:
                continue
            column = cells[index::width]
            before = len(shared)
            cells[index::width] = column_cells = list(map(share, column, column))
            if (counts := sample.get(index, (0, 0))) is not None:
                self._note_origins(index, column_cells)
                seen, new = counts[0] + len(column), counts[1] + len(shared) - before
                sample[index] = (seen, new) if seen < _SHARE_SAMPLE_ROWS else None
                if (
                    seen >= _SHARE_SAMPLE_ROWS
                    and new > seen * _DISTINCT_SHARE
                    and self._linked[index] <= seen * _LINKED_SHARE
                ):
                    unshared.add(index)
        if self._origin is not None and not any(
            sample.get(index, (0, 0)) for index in range(width)
        ):
            self._origin = None  # every column decided
        # The rows again: `width` cells at a time.
        return zip(*[iter(cells)] * width, strict=True)

    def _note_origins(self, index: int, column_cells: list[str]) -> None:
        if (origin := self._origin) is None:
            return
        linked = self._linked
        for cell in column_cells:
            source = origin.setdefault(id(cell), index)
            if source != index:
                linked[source] += 1
                linked[index] += 1
