"""Write the benchmark's employee files: deterministic, with a realistic manager tree.

For each size N: `employees-N.csv` / `.xlsx` (a company of N people) and `employees-N-next.csv`
/ `.xlsx` (the same company a week later: 1 % of the rows with a changed field, 0.5 % removed,
0.5 % added), and `employees-N-all.csv` (the same company with every title changed). The same
size always gives the same bytes of CSV, so runs compare.

With custom attributes (`bench/run.py --attributes 5`), `employees-N-a5.csv` and the others
have five more columns, one per attribute of ATTRIBUTES (text, number, date, choice, text),
and the people the next file changes (1 %) change one attribute each too.

The workbooks have a shared-strings table by default (`strings="shared"`, `employees-N-sst.xlsx`):
every text cell is an index (`t="s"`) into `xl/sharedStrings.xml`, which holds each distinct
text once in order of first appearance, as Excel, LibreOffice and Google Sheets write them
(`write_xlsx_shared`, a streaming writer: a million rows in well under a minute). With
`strings="inline"` (`employees-N.xlsx`) openpyxl's write-only mode writes them, every text in its
cell (`t="inlineStr"`), as the bench's workbooks were until issue 17's last round.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import unicodedata
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

HEADERS = (
    "Email",
    "First Name",
    "Last Name",
    "Job Title",
    "Department",
    "Location",
    "Employee ID",
    "Hire Date",
    "Manager Email",
)

FIRST_NAMES = (
    "Ana",
    "Ben",
    "Chloé",
    "Dmitri",
    "Emma",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemal",
    "Lena",
    "Marco",
    "Nadia",
    "Oskar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tariq",
    "Uma",
    "Viktor",
    "Wen",
    "Xenia",
    "Yusuf",
    "Zoë",
)
LAST_NAMES = (
    "Okafor",
    "Müller",
    "García",
    "Nguyen",
    "Smith",
    "Kowalski",
    "Rossi",
    "Dubois",
    "Yilmaz",
    "Andersson",
    "Tanaka",
    "O'Brien",
    "Novak",
    "Silva",
    "Kim",
    "Schmidt",
    "Haddad",
    "Ivanova",
)
DEPARTMENTS = (
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "People",
    "Legal",
    "Support",
    "Operations",
    "Product",
    "Design",
    "Research",
    "Facilities",
)
LOCATIONS = ("Berlin", "London", "Lisbon", "New York", "Toronto", "Singapore", "Remote")
TITLES = (
    "Engineer",
    "Senior Engineer",
    "Analyst",
    "Account Executive",
    "Designer",
    "Specialist",
    "Consultant",
    "Coordinator",
    "Associate",
    "Advisor",
)
MANAGER_TITLES = ("Team Lead", "Manager", "Senior Manager", "Director", "VP")
REPORTS_PER_MANAGER = (5, 11)  # uniform: about 8 on average

# The custom attributes of the files with attributes, in their columns' order: (key, name,
# type, choices). bench/step.py's setup defines the first N for the organization.
ATTRIBUTES = (
    ("cost_centre", "Cost Centre", "text", ()),
    ("fte", "FTE", "number", ()),
    ("next_review", "Next Review", "date", ()),
    ("employment_type", "Employment Type", "choice", ("Full time", "Part time", "Contractor")),
    ("pronouns", "Pronouns", "text", ()),
)
_FTE = ("1", "1", "1", "0.8", "0.5", "0.75", "1", "0.6")
_PRONOUNS = ("she/her", "he/him", "they/them", "")  # one in four left blank


def attribute_values(index: int, count: int, changed: int | None = None) -> list:
    """Return person `index`'s values of the first `count` attributes (dates as dates); with
    `changed`, that attribute's value is another one (the next file's change)."""
    values = [
        f"CC-{(index * 7919) % 600:03d}",
        _FTE[(index * 31) % len(_FTE)],
        dt.date(2025, 1, 1) + dt.timedelta(days=(index * 37) % 700),
        ATTRIBUTES[3][3][(index * 13) % 3],
        _PRONOUNS[(index * 17) % 4],
    ]
    if changed is not None:
        values[changed] = [
            f"CC-{(index * 7919 + 1) % 600:03d}",
            "0.9" if values[1] != "0.9" else "1",
            values[2] + dt.timedelta(days=30),
            ATTRIBUTES[3][3][(index * 13 + 1) % 3],
            _PRONOUNS[(index * 17 + 1) % 4],
        ][changed]
    return values[:count]


def people(size: int) -> list[dict]:
    """Return `size` people in breadth-first order of the manager tree (managers first)."""
    rng = random.Random(size)
    rows: list[dict] = []
    managers: list[int] = []  # indexes of people still taking reports
    capacity: dict[int, int] = {}
    for index in range(size):
        manager = None
        if index:
            manager = managers[0]
            capacity[manager] -= 1
            if not capacity[manager]:
                managers.pop(0)
        managers.append(index)
        capacity[index] = rng.randint(*REPORTS_PER_MANAGER)
        rows.append(_person(rng, index, manager))
    reports = {row["manager"] for row in rows if row["manager"] is not None}
    for index, row in enumerate(rows):
        if index in reports:
            row["title"] = rng.choice(MANAGER_TITLES)
    return rows


def _person(rng: random.Random, index: int, manager: int | None) -> dict:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return {
        "index": index,
        "email": f"{_ascii(first)}.{_ascii(last)}.{index}@example.com",
        "first_name": first,
        "last_name": last,
        "title": rng.choice(TITLES),
        "department": rng.choice(DEPARTMENTS),
        "location": rng.choice(LOCATIONS),
        "employee_id": f"E{100000 + index}",
        "hire_date": dt.date(2005, 1, 1) + dt.timedelta(days=rng.randrange(7000)),
        "manager": manager,
    }


def _ascii(name: str) -> str:
    """Return a name as it appears in an email address: "Zoë O'Brien" → "zoe", "obrien"."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return plain.lower().replace("'", "")


def next_people(current: list[dict]) -> list[dict]:
    """Return the company a week later: 1 % changed, 0.5 % removed (leaves), 0.5 % added."""
    size = len(current)
    rng = random.Random(size * 7 + 1)
    rows = [dict(row) for row in current]
    managers = sorted({row["manager"] for row in rows if row["manager"] is not None})
    is_manager = set(managers)
    leaves = [row["index"] for row in rows if row["index"] not in is_manager and row["index"]]
    count = max(1, size // 200)
    removed = set(rng.sample(leaves, count))
    candidates = [index for index in range(1, size) if index not in removed]
    for index in rng.sample(candidates, max(1, size // 100)):
        row = rows[index]
        kind = rng.randrange(5)
        if kind == 0:
            row["title"] = _other(rng, TITLES, row["title"])
        elif kind == 1:
            row["department"] = _other(rng, DEPARTMENTS, row["department"])
        elif kind == 2:
            row["location"] = _other(rng, LOCATIONS, row["location"])
        elif kind == 3:
            row["last_name"] = _other(rng, LAST_NAMES, row["last_name"])
        else:
            # A manager listed earlier is never one of this person's reports: no cycle.
            earlier = [m for m in managers if m < index and m != row["manager"]]
            if earlier:
                row["manager"] = rng.choice(earlier)
    rows = [row for row in rows if row["index"] not in removed]
    for offset in range(count):
        rows.append(_person(rng, size + offset, rng.choice(managers)))
    return rows


def all_changed_people(current: list[dict]) -> list[dict]:
    """Return the same company with every person's title changed (nobody added or removed)."""
    rng = random.Random(len(current) * 11 + 3)
    return [{**row, "title": _other(rng, TITLES, row["title"])} for row in current]


def _other(rng: random.Random, choices: tuple[str, ...], current: str) -> str:
    return rng.choice([choice for choice in choices if choice != current])


def _cells(row: dict, email_of: dict[int, str], attributes: int = 0) -> list:
    manager = email_of[row["manager"]] if row["manager"] is not None else ""
    extra = (
        attribute_values(row["index"], attributes, row.get("attribute_changed"))
        if attributes
        else []
    )
    return [
        row["email"],
        row["first_name"],
        row["last_name"],
        row["title"],
        row["department"],
        row["location"],
        row["employee_id"],
        row["hire_date"],
        manager,
        *extra,
    ]


def headers(attributes: int = 0) -> tuple[str, ...]:
    return (*HEADERS, *(name for _key, name, _type, _choices in ATTRIBUTES[:attributes]))


def write_csv(rows: list[dict], email_of: dict[int, str], attributes: int = 0) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(headers(attributes))
    for row in rows:
        cells = _cells(row, email_of, attributes)
        cells = [cell.isoformat() if isinstance(cell, dt.date) else cell for cell in cells]
        writer.writerow(cells)
    return text.getvalue().encode()


def write_xlsx(rows: list[dict], email_of: dict[int, str], path: Path, attributes: int = 0) -> None:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Employees")
    sheet.append(headers(attributes))
    number = len(HEADERS) + 1  # the FTE column: a number cell, as a spreadsheet has it
    for row in rows:
        cells = _cells(row, email_of, attributes)
        if attributes > 1:
            cells[number] = float(cells[number])
        sheet.append(cells)
    workbook.save(path)


_XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Employees" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/styles" Target="styles.xml"/>'
        '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/sharedStrings" Target="sharedStrings.xml"/>'
        "</Relationships>"
    ),
    # Style 1 is a date (built-in number format 14, Excel's short date).
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
        "</cellStyleXfs>"
        '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        "</cellXfs></styleSheet>"
    ),
}
_SHEET_START = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<dimension ref="A1:{last}"/><sheetData>'
)
_EXCEL_EPOCH = dt.date(1899, 12, 30)


def write_xlsx_shared(
    rows: list[dict], email_of: dict[int, str], path: Path, attributes: int = 0
) -> None:
    """Write the workbook as Excel does: its texts in a shared-strings table (`t="s"` cells,
    each distinct text once, in order of first appearance), dates as serial numbers with a date
    style, numbers as numbers, empty texts as no cell. The sheet is written as a stream."""
    strings: dict[str, int] = {}
    references = 0
    width = len(headers(attributes))
    letters = [chr(65 + column) for column in range(width)]
    number_column = len(HEADERS) + 1 if attributes > 1 else -1  # FTE, a number cell

    def row_xml(number: int, values) -> str:
        nonlocal references
        cells = []
        for column, value in enumerate(values):
            if isinstance(value, str):
                if not value:
                    continue
                if column == number_column and number > 1:
                    cells.append(f'<c r="{letters[column]}{number}"><v>{value}</v></c>')
                    continue
                index = strings.setdefault(value, len(strings))
                references += 1
                cells.append(f'<c r="{letters[column]}{number}" t="s"><v>{index}</v></c>')
            elif isinstance(value, dt.date):
                serial = (value - _EXCEL_EPOCH).days
                cells.append(f'<c r="{letters[column]}{number}" s="1"><v>{serial}</v></c>')
            else:
                cells.append(f'<c r="{letters[column]}{number}"><v>{value}</v></c>')
        return f'<row r="{number}">{"".join(cells)}</row>'

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, content in _XLSX_PARTS.items():
            target.writestr(name, content)
        last = f"{letters[-1]}{len(rows) + 1}"
        with target.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(_SHEET_START.format(last=last).encode())
            sheet.write(row_xml(1, headers(attributes)).encode())
            for start in range(0, len(rows), 10_000):
                chunk = [
                    row_xml(number, _cells(row, email_of, attributes))
                    for number, row in enumerate(rows[start : start + 10_000], start=start + 2)
                ]
                sheet.write("".join(chunk).encode())
            sheet.write(b"</sheetData></worksheet>")
        with target.open("xl/sharedStrings.xml", "w", force_zip64=True) as table:
            table.write(
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                f'count="{references}" uniqueCount="{len(strings)}">'.encode()
            )
            texts = list(strings)
            for start in range(0, len(texts), 10_000):
                table.write(
                    "".join(
                        f'<si><t xml:space="preserve">{escape(text)}</t></si>'
                        if text != text.strip()
                        else f"<si><t>{escape(text)}</t></si>"
                        for text in texts[start : start + 10_000]
                    ).encode()
                )
            table.write(b"</sst>")


def file_path(
    folder: Path,
    size: int,
    *,
    version: str,
    fmt: str,
    attributes: int = 0,
    strings: str = "shared",
) -> Path:
    """Return the path of a file: version "new", "next", or "all" (every title changed, CSV);
    with `attributes`, the file with that many custom attributes' columns. A workbook with a
    shared-strings table (`strings="shared"`) is named employees-N-sst.xlsx, one with inline
    strings employees-N.xlsx."""
    suffix = {"new": "", "next": "-next", "all": "-all"}[version]
    with_attributes = f"-a{attributes}" if attributes else ""
    shared = "-sst" if fmt == "xlsx" and strings == "shared" else ""
    return folder / f"employees-{size}{with_attributes}{suffix}{shared}.{fmt}"


def ensure_files(
    folder: Path,
    size: int,
    formats: tuple[str, ...] = ("csv", "xlsx"),
    attributes: int = 0,
    strings: str = "shared",
) -> None:
    """Write the files of `size` (new and next, in each of `formats`) into `folder` unless they
    are there already; the workbooks with `strings` "shared" (a shared-strings table, as office
    software writes them, about 40 s for a million rows) or "inline" (openpyxl, minutes)."""
    if strings not in ("shared", "inline"):
        raise ValueError(f"strings must be 'shared' or 'inline', not {strings!r}")
    folder.mkdir(parents=True, exist_ok=True)
    named = {"attributes": attributes, "strings": strings}
    paths = [
        file_path(folder, size, version=version, fmt=fmt, **named)
        for version in ("new", "next")
        for fmt in formats
    ] + [file_path(folder, size, version="all", fmt="csv", attributes=attributes)]
    if all(path.exists() for path in paths):
        return
    current = people(size)
    upcoming = next_people(current)
    if attributes:
        # The 1 % of the people whom next_people changed change one attribute too: the next file
        # still changes 1 % of the people (the apply target's), with an attribute among them.
        rng = random.Random(size * 13 + 5)
        before = {row["index"]: row for row in current}
        for row in upcoming:
            if row["index"] in before and row != before[row["index"]]:
                row["attribute_changed"] = rng.randrange(attributes)
    email_of = {row["index"]: row["email"] for row in (*current, *upcoming)}
    file_path(folder, size, version="all", fmt="csv", attributes=attributes).write_bytes(
        write_csv(all_changed_people(current), email_of, attributes)
    )
    for version, rows in (("new", current), ("next", upcoming)):
        csv_path = file_path(folder, size, version=version, fmt="csv", attributes=attributes)
        csv_path.write_bytes(write_csv(rows, email_of, attributes))
        if "xlsx" in formats:
            xlsx_path = file_path(folder, size, version=version, fmt="xlsx", **named)
            writer = write_xlsx_shared if strings == "shared" else write_xlsx
            writer(rows, email_of, xlsx_path.with_suffix(".tmp"), attributes)
            xlsx_path.with_suffix(".tmp").rename(xlsx_path)
