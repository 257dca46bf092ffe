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
  float: an ID above 2^53 would change), an ISO date cell (`t="d"`), phonetic text, or a cell
  without its position first (`<c r="…"`), which the bounds below need;
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
# A large sheet is read a block of rows of about this many bytes of XML at a time.
BLOCK_XML_BYTES = 12 * 1024 * 1024
# Sheets unpacking to more than this are read in blocks: below it the whole grid (about the size
# of the sheet's XML) takes less than the copies of one block.
BLOCKS_FROM_BYTES = 160 * 1024 * 1024
# Rows beyond max_rows a sheet may use for its header, title rows and blank rows.
SPARE_ROWS = 10_000
# Rows are handed to the reader in lists of this many.
BLOCK_ROWS = 1000

# A declaration past the first bytes (parse.py refuses one there): calamine's parser would not
# refuse it; openpyxl's defusedxml refuses it (unsafe_xml), or its parser finds the XML broken
# (unreadable_file), as before the scan.
_DECLARATION = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
# That, a number of 16 digits or more, or phonetic text (see the module's docstring).
_EXACT_READER_MARKUP = re.compile(
    rb"<(?:v>\s*[-+]?[0-9]{16}|rPh\b|!\s*(?:[Dd][Oo][Cc][Tt][Yy][Pp][Ee]|[Ee][Nn][Tt][Ii][Tt][Yy]))"
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
    workbook: python_calamine.CalamineWorkbook
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
            sheet = self.workbook.get_sheet_by_name(self.name)
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
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except Exception:
        raise ExactReaderNeeded from None
    scans = {
        member.filename: _PartScan(member, max_rows=max_rows, max_columns=max_columns)
        for member in deferred
    }
    with workbook:
        if any(
            metadata.typ not in (_WORKSHEET, _CHARTSHEET) for metadata in workbook.sheets_metadata
        ):
            raise ExactReaderNeeded  # dialog or macro sheets: openpyxl decides what they are
        parts = _worksheet_parts(data)
        sheets = [
            CalamineSheet(
                name=metadata.name,
                visible=metadata.visible == python_calamine.SheetVisibleEnum.Visible,
                workbook=workbook,
                data=data,
                part=(part := parts.get(metadata.name)),
                scan=scans.get(part.filename) if part is not None else None,
            )
            for metadata in workbook.sheets_metadata
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
        if size < BLOCK_XML_BYTES and not ended:
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
        while len(pending) - start > BLOCK_XML_BYTES:
            cut = _row_start(pending, start, start + BLOCK_XML_BYTES)
            if cut < 0 or cut > unjudged:
                break
            yield _block_workbook(others, part.filename, head, view[start:cut])
            start = cut
        if ended:
            yield _block_workbook(others, part.filename, head, view[start:])
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
    others: list[tuple[str, bytes]], name: str, head: bytes, rows: memoryview
) -> io.BytesIO:
    """Return a stored zip of the other parts and the sheet's `head`, `rows` and end."""
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_STORED) as target:
        for other_name, content in others:
            target.writestr(other_name, content)
        with target.open(name, "w", force_zip64=True) as sheet:
            sheet.write(head)
            sheet.write(rows)
            sheet.write(b"</sheetData></worksheet>")
    output.seek(0)
    return output


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
