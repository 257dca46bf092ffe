"""The fast .xlsx reader: python-calamine (Rust), behind a scan that decides whether it may read.

calamine reads a workbook 14–15× faster than openpyxl, with the same values for the cells that
people import — but it would read some cells differently, and it keeps a sheet in memory as a
dense grid (every cell of the rectangle from A1 to the last cell takes room). So every part of
the workbook is first unpacked once, as a stream, and the scan:

- sends a workbook with a DOCTYPE or entity declaration anywhere in an XML part to openpyxl,
  whose defusedxml refuses it (calamine's parser would not), and refuses a part whose data unpacks
  to anything but its declared size (so the declared sizes, which bound the work, are what
  calamine reads too);
- sends the workbook to the exact reader (openpyxl) when a sheet has a cell calamine reads
  differently: an error cell (calamine gives a blank, which would mean "keep the stored value";
  openpyxl gives its text, which is reported), a number with 16 digits or more (calamine gives a
  float: an ID above 2^53 would change), an ISO date cell (`t="d"`), phonetic text, a value
  with blank space at either end (`<v> 3</v>`: calamine reads a shared string's index as 0), or
  a cell without its position first (`<c r="…"`), which the bounds below need;
- bounds the grid: a cell beyond the columns read (`max_columns + 1`) or below the rows a file
  within `max_rows` can use sends the workbook to openpyxl, which reads only the columns it needs;
  and a grid larger than GRID_CELLS_LIMIT does too (at 1,000,000 rows allowed, a sheet wider
  than 23 columns).

A sheet of more than BLOCKS_FROM_BYTES of XML is read a block of rows at a time, each block a
workbook of its own, so that calamine holds one block's grid at once. A thread unpacks, scans
and parses the blocks (calamine lets go of Python's lock while it parses) while the reader
converts the block before; such a sheet is left out of the scan before reading
(`deferred_parts`) and scanned as it is unpacked, each piece before calamine sees it, and to
its end before calamine's answer stands.

A block gets only the shared strings its rows use: the shared-strings table is parsed once (its
bytes and where each `<si>` starts), and each block's `t="s"` cells are numbered again, in
order of first use, into a table of the block's own (`_SharedStrings`, `_Renumbering`), so that
calamine does not parse the whole table (two million strings in a million-row workbook) for
every block. A block whose shared-string cells are not all in the form expected, or whose index
lies past the table, goes to openpyxl; a table not in the form expected is given whole, as it is.
With such a sheet, calamine lists the sheets from an outline of the workbook without the table
(`_outline`), and opens the workbook itself only if a sheet read whole is read (`_Workbook`).

`scan_workbook` returns whether calamine may read; `read_with_calamine` reads with it. The
sheets hand their rows over in lists of BLOCK_ROWS (`CalamineSheet.blocks`).
"""

from __future__ import annotations

import io
import itertools
import posixpath
import queue
import re
import struct
import threading
import zipfile
import zlib
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar
from xml.etree import ElementTree

import python_calamine

from importer.pipeline.types import FileError

# Unpacked XML is scanned in pieces of this size, each with the end of the one before.
SCAN_CHUNK_BYTES = 1024 * 1024
SCAN_OVERLAP_BYTES = 64
# Cells of the grid calamine may hold for one sheet (about 32 bytes each, plus their text).
GRID_CELLS_LIMIT = 24_000_000
# A large sheet is read a block of rows of about this many bytes of XML at a time (half as many
# when its shared strings are given to each block: see _sheet_blocks).
BLOCK_XML_BYTES = 12 * 1024 * 1024
# Sheets unpacking to more than this are read in blocks: below it the whole grid (about the size
# of the sheet's XML) takes less than the copies of one block.
BLOCKS_FROM_BYTES = 160 * 1024 * 1024
# Rows beyond max_rows a sheet may use for its header, title rows and blank rows.
SPARE_ROWS = 10_000
# Rows are handed to the reader in lists of this many.
BLOCK_ROWS = 1000
# A block's shared-string cells are numbered again in pieces of about this many bytes of XML.
RENUMBER_BYTES = 1024 * 1024

# A declaration past the first bytes (parse.py refuses one there): calamine's parser would not
# refuse it; openpyxl's defusedxml refuses it (unsafe_xml), or its parser finds the XML broken
# (unreadable_file), as before the scan.
_DECLARATION = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
# That, a number of 16 digits or more, phonetic text (see the module's docstring), or a value
# with blank space at either end (calamine reads a shared string's index " 3" as 0, a number
# " 5 " as text; openpyxl leaves the space out).
_EXACT_READER_MARKUP = re.compile(
    rb"<(?:v>(?:\s|[-+]?[0-9]{16})|/v>(?<=\s</v>)|rPh\b"
    rb"|!\s*(?:[Dd][Oo][Cc][Tt][Yy][Pp][Ee]|[Ee][Nn][Tt][Ii][Tt][Yy]))"
)
_ERROR_OR_DATE_VALUE = re.compile(rb"""=\s*["'][ed]["']""")
_TYPE_ATTRIBUTE_END = re.compile(rb"\st\s*$")
_CELL_REF = re.compile(rb'<c r="([A-Z]{1,3})[0-9]')
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CalamineSheet:
    name: str
    visible: bool
    workbook: _Workbook
    # For a sheet unpacking past BLOCKS_FROM_BYTES: the workbook's bytes and the sheet's part.
    data: bytes = b""
    part: zipfile.ZipInfo | None = None
    # The scan of a deferred part (deferred_parts), fed as the blocks are unpacked.
    scan: _PartScan | None = None

    def rows(self) -> Iterator[Sequence]:
        """Yield the sheet's rows from row 1, each from column A, as openpyxl's values_only."""
        return itertools.chain.from_iterable(self.blocks())

    def blocks(self) -> Iterator[list]:
        """Yield the sheet's rows from row 1 in lists of at most BLOCK_ROWS rows."""
        if self.part is None or self.part.file_size <= BLOCKS_FROM_BYTES:
            sheet = self.workbook.sheet(self.name)
            if sheet.start is None:
                return
            # calamine yields every row from the first, but only the columns from the first
            # used one.
            yield from _batched(sheet.iter_rows(), sheet.start[1])
            return
        # calamine holds a sheet as a dense grid; a large one is read a block of rows at a
        # time, each block a workbook of its own, so that one block's grid is in memory at once.
        yield from _read_ahead(self._parsed_blocks)

    def _parsed_blocks(self) -> Iterator[list[list]]:
        """Yield, for each block workbook of a large sheet, its rows in lists of BLOCK_ROWS."""
        rows_before = 0
        for block in _sheet_blocks(self.data, self.part, self.scan):
            with python_calamine.CalamineWorkbook.from_filelike(block) as workbook:
                sheet = workbook.get_sheet_by_name(workbook.sheets_metadata[0].name)
                if sheet.start is None:
                    continue
                (first, lead), (last, _) = sheet.start, sheet.end
                # From the block's first row and first used column: only the block's rows.
                rows = sheet.to_python(skip_empty_area=True)
            yield [
                *_batched(itertools.repeat((), first - rows_before), 0),
                *_batched(iter(rows), lead),
            ]
            del rows
            rows_before = last + 1


_DONE = object()


def _read_ahead(produce: Callable[[], Iterator[list[list]]]) -> Iterator[list]:
    """Yield the lists of the lists `produce()` yields, `produce` running in a thread of its own.

    calamine parses without Python's lock: the next block is parsed while this one is read. At
    most one parsed block waits. An exception in the thread is raised here; a reader that
    stops early stops the thread.
    """
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in produce():
                if not hand_over(item):
                    return
            hand_over(_DONE)
        except BaseException as error:  # raised again in the reading thread
            hand_over(error)

    thread = threading.Thread(target=run, name="calamine-blocks", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield from item
            del item
    finally:
        stop.set()
        thread.join()


def _batched(rows: Iterator[Sequence], lead: int) -> Iterator[list]:
    """Yield `rows` in lists of BLOCK_ROWS, each row after `lead` Nones (the empty columns)."""
    if lead:
        before = (None,) * lead
        rows = (before + tuple(row) for row in rows)
    while block := list(itertools.islice(rows, BLOCK_ROWS)):
        yield block


def scan_workbook(
    data: bytes,
    members: Sequence[zipfile.ZipInfo],
    *,
    max_rows: int,
    max_columns: int,
    deferred: frozenset[str] = frozenset(),
) -> bool:
    """Return whether calamine may read the workbook; raise FileError for a damaged part.

    Every member is unpacked once, in pieces (its declared size was checked before), until one
    shows that calamine may not read: openpyxl, which needs no scan, reads the workbook then.
    The members named in `deferred` (see `deferred_parts`) are left for read_with_calamine,
    which scans each piece of them before calamine reads it.
    """
    for member in members:
        if member.is_dir():
            continue
        if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return False  # openpyxl (zipfile) reads bzip2 and lzma members; calamine may not
        if member.flag_bits & 0x1:
            continue  # encrypted: zipfile refuses it when openpyxl reads it
        if member.filename in deferred:
            continue
        if not _scan_member(data, member, max_rows=max_rows, max_columns=max_columns):
            return False
    return True


def deferred_parts(members: Sequence[zipfile.ZipInfo]) -> frozenset[str]:
    """Return the worksheets read a block at a time, whose scan goes with their reading.

    Each piece of such a sheet is scanned as the block thread unpacks it, before calamine reads
    the block it is in: the sheet is unpacked once instead of twice, and scanned while calamine
    parses the block before.
    """
    return frozenset(
        member.filename
        for member in members
        if _is_worksheet(member)
        and member.file_size > BLOCKS_FROM_BYTES
        and member.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
        and not member.flag_bits & 0x1
    )


def _scan_member(data: bytes, member: zipfile.ZipInfo, *, max_rows: int, max_columns: int) -> bool:
    scan = _PartScan(member, max_rows=max_rows, max_columns=max_columns)
    return all(scan.feed(piece) for piece in _unpacked(data, member)) and scan.end()


class _PartScan:
    """The scan of one member (see the module's docstring), fed its unpacked pieces in order."""

    def __init__(self, member: zipfile.ZipInfo, *, max_rows: int, max_columns: int) -> None:
        self.member = member
        self.finished = False  # every piece fed, and none kept calamine away
        self._scanned = member.filename.endswith((".xml", ".rels", ".vml"))
        # Every XML part, not only xl/worksheets/: a workbook may keep its sheets elsewhere,
        # and phonetic text may be in the shared strings. The other parts hold no <c> or <v>.
        self._cells = member.filename.endswith(".xml")
        self._last_row = max_rows + SPARE_ROWS
        self._max_columns = max_columns
        self._outside: re.Pattern | None = None
        self._tail = b""

    def feed(self, piece: bytes) -> bool:
        """Return False when `piece` shows that calamine may not read the workbook."""
        if not self._scanned:
            return True
        chunk = self._tail + piece
        if b"\x00" in chunk:
            return False  # UTF-16 markup (or none): openpyxl decides what it is
        if self._cells:
            if self._outside is None:
                width = max(map(_column_number, _CELL_REF.findall(chunk)), default=0)
                # No cell in the first piece: a later one beyond column A is outside.
                width = min(width or 1, self._max_columns + 1)
                if width * self._last_row > GRID_CELLS_LIMIT:
                    return False
                self._outside = _cells_outside(width, self._last_row)
            # A cell at the very end of the piece may lack the bytes that place it inside:
            # the next piece starts with these bytes again.
            found = self._outside.search(chunk)
            if (
                (found and found.start() + SCAN_OVERLAP_BYTES // 2 <= len(chunk))
                or _EXACT_READER_MARKUP.search(chunk)
                or _has_error_or_date_type(chunk)
            ):
                return False
        elif _DECLARATION.search(chunk):
            return False
        self._tail = chunk[-SCAN_OVERLAP_BYTES:]
        return True

    def end(self) -> bool:
        """Return False when the member's last bytes keep calamine away; else it is finished."""
        if self._cells and self._outside is not None and self._outside.search(self._tail):
            return False
        self.finished = True
        return True


def _cells_outside(width: int, last_row: int) -> re.Pattern:
    """Return a pattern for a cell right of column `width`, below `last_row`, or unplaced.

    A cell whose position is missing or not its first attribute counts as outside: calamine
    would place it by counting, which the bounds cannot check.
    """
    inside = _letters_at_most(width) + b"0*" + _digits_at_most(last_row)
    return re.compile(rb'<c(?=[\s/>])(?!\s+r="' + inside + rb'")')


def _has_error_or_date_type(chunk: bytes) -> bool:
    """Return whether a cell in `chunk` is typed as an error (t="e") or an ISO date (t="d")."""
    for found in _ERROR_OR_DATE_VALUE.finditer(chunk):
        if _TYPE_ATTRIBUTE_END.search(chunk, max(0, found.start() - 16), found.start()):
            return True
    return False


class ExactReaderNeeded(Exception):
    """calamine could not read the workbook: openpyxl reads it (and finds any error exactly)."""


def read_with_calamine(
    data: bytes,
    read_workbook: Callable[[list[CalamineSheet]], T],
    *,
    deferred: Sequence[zipfile.ZipInfo] = (),
    max_rows: int = 0,
    max_columns: int = 0,
) -> T:
    """Return `read_workbook(the worksheets)`, the workbook opened with calamine.

    The worksheets are in workbook order, chartsheets left out, as openpyxl lists them. A
    FileError from `read_workbook` goes through; any failure of calamine raises
    ExactReaderNeeded. The `deferred` members, which scan_workbook left, are scanned as their
    blocks are read, and to their end once `read_workbook` is done (a sheet it did not read to
    its end, or at all): calamine's answer stands only if the whole workbook passed the scan.
    """
    parts = _worksheet_parts(data)
    in_blocks = any(part.file_size > BLOCKS_FROM_BYTES for part in parts.values())
    try:
        # With a sheet read in blocks, the list of sheets comes from an outline of the workbook
        # (no shared strings, the large sheets empty): opening the workbook itself would parse
        # its whole shared-strings table, which the blocks do not need. A small sheet read
        # opens the workbook then (`_Workbook`).
        listing = python_calamine.CalamineWorkbook.from_filelike(
            _outline(data) if in_blocks else io.BytesIO(data)
        )
    except Exception:
        raise ExactReaderNeeded from None
    scans = {
        member.filename: _PartScan(member, max_rows=max_rows, max_columns=max_columns)
        for member in deferred
    }
    workbook = _Workbook(data, None if in_blocks else listing)
    with listing, workbook:
        if any(
            metadata.typ not in (_WORKSHEET, _CHARTSHEET) for metadata in listing.sheets_metadata
        ):
            raise ExactReaderNeeded  # dialog or macro sheets: openpyxl decides what they are
        sheets = [
            CalamineSheet(
                name=metadata.name,
                visible=metadata.visible == python_calamine.SheetVisibleEnum.Visible,
                workbook=workbook,
                data=data,
                part=(part := parts.get(metadata.name)),
                scan=scans.get(part.filename) if part is not None else None,
            )
            for metadata in listing.sheets_metadata
            if metadata.typ == _WORKSHEET
        ]
        try:
            result = read_workbook(sheets)
        except FileError:
            _finish_scans(data, scans.values(), max_rows=max_rows, max_columns=max_columns)
            raise
        except Exception:
            raise ExactReaderNeeded from None
    _finish_scans(data, scans.values(), max_rows=max_rows, max_columns=max_columns)
    return result


class _Workbook:
    """The workbook opened with calamine, for the sheets read whole: opened when one first is."""

    def __init__(self, data: bytes, opened: python_calamine.CalamineWorkbook | None) -> None:
        self._data = data
        self._opened = opened  # the caller's to close
        self._own: python_calamine.CalamineWorkbook | None = None

    def sheet(self, name: str) -> python_calamine.CalamineSheet:
        if self._opened is None:
            self._own = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(self._data))
            self._opened = self._own
        return self._opened.get_sheet_by_name(name)

    def __enter__(self) -> _Workbook:
        return self

    def __exit__(self, *exception) -> None:
        if self._own is not None:
            self._own.close()


def _outline(data: bytes) -> io.BytesIO:
    """Return a stored zip of the workbook's XML parts without its shared strings, every
    worksheet emptied: enough for calamine to list the sheets."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_STORED) as target:
        for member in archive.infolist():
            name = member.filename
            if name == _SHARED_STRINGS_PART or not name.endswith((".xml", ".rels")):
                continue
            target.writestr(name, _EMPTY_SHEET if _is_worksheet(member) else archive.read(member))
    output.seek(0)
    return output


def _finish_scans(data: bytes, scans, *, max_rows: int, max_columns: int) -> None:
    """Raise ExactReaderNeeded unless every deferred part passes the scan to its end."""
    for scan in scans:
        if not scan.finished and not _scan_member(
            data, scan.member, max_rows=max_rows, max_columns=max_columns
        ):
            raise ExactReaderNeeded


def _worksheet_parts(data: bytes) -> dict[str, zipfile.ZipInfo]:
    """Return each sheet's zip member by the sheet's name, for the sheets found (else none).

    The scan has refused any DOCTYPE, so ElementTree has no entity to expand.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        relations = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except Exception:
        return {}
    targets = {
        relation.get("Id"): relation.get("Target", "")
        for relation in relations
        if relation.tag.endswith("}Relationship")
    }
    members = {member.filename: member for member in archive.infolist()}
    parts = {}
    for sheet in workbook.iter():
        if not sheet.tag.endswith("}sheet"):
            continue
        target = targets.get(sheet.get(_RELATION_ID), "")
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath("xl/" + target)
        if path in members:
            parts[sheet.get("name")] = members[path]
    return parts


_RELATION_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_EMPTY_SHEET = (
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b"<sheetData/></worksheet>"
)
_SHEET_DATA = re.compile(rb"<sheetData\b[^>]*>")
_SHEET_DATA_END = b"</sheetData>"


def _sheet_blocks(
    data: bytes, part: zipfile.ZipInfo, scan: _PartScan | None = None
) -> Iterator[io.BytesIO]:
    """Yield workbooks (stored zips) holding the sheet's rows a block at a time, in order.

    Each is the workbook's XML parts with this sheet cut down to its start (up to <sheetData>),
    a run of whole rows, and its end; the other sheets emptied. A sheet whose markup is not
    found as expected raises ExactReaderNeeded. With `scan`, every piece is scanned as it is
    unpacked, a block never takes the last bytes not judged yet, and the last block comes once
    the whole part is scanned; a piece that keeps calamine away raises ExactReaderNeeded.
    """
    archive = zipfile.ZipFile(io.BytesIO(data))
    others = [
        (member.filename, _EMPTY_SHEET if _is_worksheet(member) else archive.read(member))
        for member in archive.infolist()
        if member.filename != part.filename and member.filename.endswith((".xml", ".rels"))
    ]
    strings = None
    for position, (other_name, content) in enumerate(others):
        if other_name == _SHARED_STRINGS_PART:
            strings = _SharedStrings.parse(content)
            if strings is not None:
                del others[position]  # each block gets a table of its own
            break
    # A shared-string cell takes about half the XML of an inline one: blocks of half the bytes
    # hold about as many cells (calamine's grid, the rows handed over) as those of inline text.
    block_bytes = BLOCK_XML_BYTES // 2 if strings is not None else BLOCK_XML_BYTES
    head = b""
    pieces: list[bytes] = []
    size = 0
    tail = b""
    unpacked = _unpacked(data, part)
    for piece in unpacked:
        if scan is not None and not scan.feed(piece):
            raise ExactReaderNeeded
        pieces.append(piece)
        size += len(piece)
        if not head:
            pending = b"".join(pieces)
            found = _SHEET_DATA.search(pending)
            if found is None:
                if size > SCAN_CHUNK_BYTES * 4:
                    raise ExactReaderNeeded
                continue
            head, piece = pending[: found.end()], pending[found.end() :]
            pieces, size = [piece], len(piece)
        ended = _SHEET_DATA_END in tail + piece
        tail = piece[-len(_SHEET_DATA_END) :]
        if size < block_bytes and not ended:
            continue
        pending = b"".join(pieces)
        # The bytes the scan has not judged yet (the tail it takes into the next piece).
        unjudged = len(pending) - SCAN_OVERLAP_BYTES if scan is not None else len(pending)
        if ended:
            pending = pending[: pending.find(_SHEET_DATA_END)]
            if scan is not None:
                # The rest of the part (after the rows) is scanned before any block is read.
                for rest in unpacked:
                    if not scan.feed(rest):
                        raise ExactReaderNeeded
                if not scan.end():
                    raise ExactReaderNeeded
                unjudged = len(pending)
        view = memoryview(pending)
        start = 0
        while len(pending) - start > block_bytes:
            cut = _row_start(pending, start, start + block_bytes)
            if cut < 0 or cut > unjudged:
                break
            yield _block_workbook(others, part.filename, head, view[start:cut], strings)
            start = cut
        if ended:
            yield _block_workbook(others, part.filename, head, view[start:], strings)
            return
        pieces = [pending[start:]]
        size = len(pieces[0])
        del pending
    raise ExactReaderNeeded  # no end of the sheet's data


def _row_start(xml: bytes, start: int, limit: int) -> int:
    """Return where the last row element after `start` and before `limit` starts (or -1).

    For a row longer than the whole block, where the first row after `limit` starts.
    """
    found = max(xml.rfind(b"<row ", start + 1, limit), xml.rfind(b"<row>", start + 1, limit))
    if found < 0:
        later = [at for at in (xml.find(b"<row ", limit), xml.find(b"<row>", limit)) if at >= 0]
        found = min(later, default=-1)
    return found


def _block_workbook(
    others: list[tuple[str, bytes]],
    name: str,
    head: bytes,
    rows: memoryview | bytes,
    strings: _SharedStrings | None = None,
) -> io.BytesIO:
    """Return a stored zip of the other parts and the sheet's `head`, `rows` and end.

    With `strings`, the workbook's shared strings, the rows' shared-string cells are numbered
    again into a table of the strings they use, which the zip holds.
    """
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_STORED) as target:
        for other_name, content in others:
            target.writestr(other_name, content)
        renumbering = _Renumbering(strings) if strings is not None else None
        with target.open(name, "w", force_zip64=True) as sheet:
            sheet.write(head)
            if renumbering is None:
                sheet.write(rows)
            else:
                # A piece at a time, so that the pieces of the split are few at once.
                for piece in _pieces(rows):
                    sheet.write(renumbering.rows(piece))
            sheet.write(b"</sheetData></worksheet>")
        if renumbering is not None:
            target.writestr(_SHARED_STRINGS_PART, renumbering.table())
    output.seek(0)
    return output


def _pieces(rows: memoryview | bytes) -> Iterator[bytes]:
    """Yield `rows` in pieces of at most RENUMBER_BYTES, each cut before a `<c` or `<r` (no
    shared-string cell's type, index or `</v>` is cut), else raise ExactReaderNeeded."""
    start = 0
    while start < len(rows):
        piece = bytes(rows[start : start + RENUMBER_BYTES])
        if start + len(piece) < len(rows):
            cut = max(piece.rfind(b"<c"), piece.rfind(b"<r"))
            if cut <= 0:
                raise ExactReaderNeeded  # no cell or row starts in a megabyte: no sheet's XML
            piece = piece[:cut]
        yield piece
        start += len(piece)


# calamine reads the shared strings from this part (under the workbook's folder, which a block
# is read only for: see _worksheet_parts).
_SHARED_STRINGS_PART = "xl/sharedStrings.xml"
_TABLE_START = re.compile(rb"<sst\b[^<>]*>")
_TABLE_COUNTS = re.compile(rb"""\s(?:count|uniqueCount)\s*=\s*(?:"[^"]*"|'[^']*')""")
_STRING_START = re.compile(rb"<si>")
# A shared-string cell as Excel, LibreOffice, Google Sheets and openpyxl write it: its type the
# last attribute, its index alone in <v>. Split on it, the pieces are the markup before and the
# index. When `t="s"` is found elsewhere too, or a type written another way (_ODD_TYPE):
_PLAIN_SHARED_CELL = re.compile(rb' t="s"><v>([0-9]+)(?=</v>)')
_ODD_TYPE = re.compile(rb"""t(?:\s+=|=\s|='s')""")
# a shared-string cell with its type anywhere among its attributes, spaces around its index
# (left out): split on it, the pieces are the markup before, the cell's markup up to the
# index, and the index. Any cell typed as a shared string must then be one of those.
_SHARED_CELL = re.compile(rb'(\st="s"[^<>/]*>\s*<v>)\s*([0-9]+)\s*(?=</v>)')
_SHARED_TYPE = re.compile(rb"""\st\s*=\s*(?:"s"|'s')""")


class _SharedStrings:
    """A workbook's shared-strings table, parsed once: its bytes and where each string lies.

    `bounds[i]` is where the i-th `<si>` element starts, `bounds[i + 1]` where it ends (with the
    blank space after it); no Python object per string is made. `table(used)` is the markup of
    a table holding the strings `used`, in that order, each `<si>` copied as it is (rich text
    and all).
    """

    __slots__ = ("_head", "_xml", "bounds", "count")

    def __init__(self, head: bytes, xml: bytes, bounds: array) -> None:
        self._head = head
        self._xml = xml
        self.bounds = bounds
        self.count = len(bounds) - 1

    @classmethod
    def parse(cls, xml: bytes) -> _SharedStrings | None:
        """Return the table of `xml`, or None when it is not in the form expected.

        Expected: `<sst …>`, then only `<si>` elements (no `<si/>`, no attributes) and blank
        space, then `</sst>`; no comment, CDATA section or processing instruction among them,
        so that every `<si>` found starts a string.
        """
        start = _TABLE_START.search(xml)
        end = xml.rfind(b"</sst>")
        if start is None or start.group().endswith(b"/>") or end < start.end():
            return None
        first = start.end()
        if (
            xml.find(b"<!", first, end) >= 0
            or xml.find(b"<?", first, end) >= 0
            or xml.count(b"<si", first, end) != xml.count(b"<si>", first, end)
        ):
            return None
        starts = _STRING_START.finditer(xml, first, end)
        bounds = array("I" if len(xml) < 2**32 else "q", map(re.Match.start, starts))
        last = xml.rfind(b"</si>", first, end) + len(b"</si>") if bounds else first
        if xml[last:end].strip() or (bounds and last <= bounds[-1]):
            return None  # something after the strings (extLst, say): given whole instead
        bounds.append(last)
        tag = _TABLE_COUNTS.sub(b"", start.group())
        head = xml[: start.start()].replace(b"%", b"%%") + tag[:-1] + b' uniqueCount="%d">'
        return cls(head, xml, bounds)

    def table(self, used: Sequence[int]) -> bytes:
        """Return the markup of a table of the strings numbered `used`, in that order."""
        bounds, xml = self.bounds, self._xml
        strings = [xml[bounds[index] : bounds[index + 1]] for index in used]
        return b"".join((self._head % len(used), *strings, b"</sst>"))


class _Renumbering:
    """A block's shared-string cells numbered 0, 1, … in order of first use, a piece of its
    rows at a time (`rows`), and the table of the strings they use, in that order (`table`).

    Raise ExactReaderNeeded (openpyxl reads, and decides) for a cell typed as a shared string
    in a form _SHARED_CELL does not take, or an index past the table.
    """

    def __init__(self, strings: _SharedStrings) -> None:
        self._strings = strings
        self._numbers: dict[bytes, int] = {}  # the index in the workbook's table → the new one
        self._used: list[int] = []  # the workbook's indexes of the new table's strings

    def rows(self, rows: memoryview | bytes) -> bytes:
        rows = bytes(rows)
        pieces = _PLAIN_SHARED_CELL.split(rows)
        step, cell = 2, b' t="s"><v>%d'  # the markup split on, given back with the new index
        if len(pieces) // 2 != rows.count(b't="s"') or _ODD_TYPE.search(rows):
            pieces = _SHARED_CELL.split(rows)
            step, cell = 3, b"%d"
            if len(pieces) // 3 != len(_SHARED_TYPE.findall(rows)):
                raise ExactReaderNeeded
        del rows
        indexes = pieces[step - 1 :: step]
        here = dict.fromkeys(indexes)
        numbers = self._numbers
        fresh = [index for index in here if index not in numbers]
        numbers.update(zip(fresh, range(len(numbers), len(numbers) + len(fresh)), strict=True))
        used = list(map(int, fresh))
        if used and max(used) >= self._strings.count:
            raise ExactReaderNeeded
        self._used += used
        written = dict(zip(here, map(cell.__mod__, map(numbers.__getitem__, here)), strict=True))
        pieces[step - 1 :: step] = map(written.__getitem__, indexes)
        return b"".join(pieces)

    def table(self) -> bytes:
        return self._strings.table(self._used)


def _is_worksheet(member: zipfile.ZipInfo) -> bool:
    return member.filename.startswith("xl/worksheets/") and member.filename.endswith(".xml")


_WORKSHEET = python_calamine.SheetTypeEnum.WorkSheet
_CHARTSHEET = python_calamine.SheetTypeEnum.ChartSheet


DAMAGED_WORKBOOK_MESSAGE = (
    "The file could not be read as an Excel workbook: it is damaged or not a real .xlsx file. "
    "Open it in Excel and save it again with File → Save As → Excel Workbook (.xlsx), or save "
    "it as CSV."
)


def _unpacked(data: bytes, member: zipfile.ZipInfo) -> Iterator[bytes]:
    """Yield the member's unpacked bytes in pieces, from its raw compressed data.

    Refuse (unreadable_file) data that unpacks past its declared size or ends early: every reader
    of the zip then unpacks exactly the declared size. (The checksum is calamine's to check; a
    failure there sends the workbook to openpyxl, which refuses it.)
    """
    damaged = FileError("unreadable_file", DAMAGED_WORKBOOK_MESSAGE)
    offset = member.header_offset
    header = data[offset : offset + _LOCAL_HEADER.size]
    if len(header) < _LOCAL_HEADER.size:
        raise damaged
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != b"PK\x03\x04":
        raise damaged
    start = offset + _LOCAL_HEADER.size + fields[9] + fields[10]
    compressed = memoryview(data)[start : start + member.compress_size]
    if len(compressed) < member.compress_size:
        raise damaged
    size = 0
    if member.compress_type == zipfile.ZIP_STORED:
        pieces: Iterator[bytes] = (
            bytes(compressed[at : at + SCAN_CHUNK_BYTES])
            for at in range(0, len(compressed), SCAN_CHUNK_BYTES)
        )
        decompressor = None
    else:
        decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
        pieces = _inflated(decompressor, compressed, member.file_size)
    try:
        for piece in pieces:
            size += len(piece)
            if size > member.file_size:
                raise damaged
            yield piece
    except zlib.error:
        raise damaged from None
    if size != member.file_size:
        raise damaged
    if decompressor is not None and not decompressor.eof:
        raise damaged


def _inflated(decompressor, compressed: memoryview, limit: int) -> Iterator[bytes]:
    """Yield the inflated pieces, never more than one piece past `limit` bytes in all."""
    produced = 0
    for at in range(0, len(compressed), SCAN_CHUNK_BYTES):
        pending = compressed[at : at + SCAN_CHUNK_BYTES]
        while pending:
            piece = decompressor.decompress(pending, SCAN_CHUNK_BYTES)
            pending = decompressor.unconsumed_tail
            produced += len(piece)
            if piece:
                yield piece
            if produced > limit or decompressor.eof:
                return
            if not piece and not pending:
                break


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _column_letters(number: int) -> bytes:
    letters = b""
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = bytes([65 + remainder]) + letters
    return letters


def _letters_at_most(number: int) -> bytes:
    """Return a pattern for the column names from A to column `number` (at least 1)."""
    name = _column_letters(number)
    choices = [rb"[A-Z]{1,%d}" % (len(name) - 1)] if len(name) > 1 else []
    for index, letter in enumerate(name):
        if letter > ord("A"):
            rest = len(name) - index - 1
            choices.append(
                name[:index] + b"[A-" + bytes([letter - 1]) + b"]" + (b"[A-Z]{%d}" % rest)
            )
    choices.append(name)
    return b"(?:" + b"|".join(choices) + b")"


def _digits_at_most(number: int) -> bytes:
    """Return a pattern for the whole numbers from 1 to `number` (no leading zeros)."""
    digits = str(number).encode()
    choices = [rb"[1-9][0-9]{0,%d}" % (len(digits) - 2)] if len(digits) > 1 else []
    for index, digit in enumerate(digits):
        low = b"1" if index == 0 else b"0"
        if digit > low[0]:
            rest = len(digits) - index - 1
            lower = b"[" + low + b"-" + bytes([digit - 1]) + b"]"
            choices.append(digits[:index] + lower + (b"[0-9]{%d}" % rest))
    choices.append(digits)
    return b"(?:" + b"|".join(choices) + b")"
