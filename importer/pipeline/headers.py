"""The header vocabulary: which header text names which field.

Header cells are matched to fields through synonyms ("E-Mail", "Work Email", "Vorname",
"Reports To") after normalising case, spaces and punctuation; an organization's own column names
win over the built-in ones. Also the small cell facts both the reader (parse) and the row checks
(columns) need: what counts as blank, and the edge characters a cell is trimmed of.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

from importer.pipeline.types import FILE_FIELDS, Cell

MISSING_EMAIL_COLUMN_MESSAGE = (
    "No email column found. The first row of the table must name its columns, one of them the "
    "email, e.g. 'Email' or 'E-Mail'."
)


def normalise_header(text: str) -> str:
    """Return the form of a header used for matching: casefolded letters and digits only.

    "E-Mail " → "email", "Work Email" → "workemail", "Büro" → "büro". Accents survive; the text is
    NFKC-normalised first so that a decomposed "ü" (as macOS writes it) matches a composed one.
    A "#" reads as "number": "Employee #" → "employeenumber".
    """
    text = unicodedata.normalize("NFKC", text).replace("#", "number").casefold()
    return "".join(char for char in text if char.isalnum())


_SYNONYMS_BY_FIELD: dict[str, tuple[str, ...]] = {
    "email": (
        "Email",
        "E-Mail",
        "Mail",
        "Email address",
        "E-mail address",
        "Work email",
        "Work email address",
        "Business email",
        "Primary email",
        "User email",
        "Email ID",
        "E-Mail-Adresse",
        "Emailadresse",
        "E-Mail (geschäftlich)",
        "E-Mail-Adresse (geschäftlich)",
        "Geschäftliche E-Mail",
        "Dienstliche E-Mail",
        "Mitarbeiter E-Mail",
    ),
    "first_name": (
        "First name",
        "Given name",
        "First",
        "Forename",
        "Legal first name",
        "Preferred first name",
        "Vorname",
        "Rufname",
    ),
    "last_name": (
        "Last name",
        "Surname",
        "Family name",
        "Legal last name",
        "Last",
        "Nachname",
        "Familienname",
        "Zuname",
    ),
    "title": (
        "Title",
        "Job title",
        "Position",
        "Role",
        "Job role",
        "Designation",
        "Berufsbezeichnung",
        "Stellenbezeichnung",
        "Positionsbezeichnung",
        "Funktion",
        "Titel",
    ),
    "department": (
        "Department",
        "Dept",
        "Department name",
        "Team",
        "Division",
        "Abteilung",
        "Bereich",
    ),
    "location": (
        "Location",
        "Office",
        "Office location",
        "Work location",
        "Site",
        "City",
        "Standort",
        "Arbeitsort",
        "Dienstort",
        "Ort",
        "Büro",
    ),
    "employee_id": (
        "Employee ID",
        "Employee number",
        "Employee no",
        "Employee no.",
        "Employee code",
        "Emp ID",
        "Emp no",
        "Staff ID",
        "Staff number",
        "Personnel number",
        "Personnel no",
        "Personalnummer",
        "Personal-Nr.",
        "Mitarbeiternummer",
        "Mitarbeiter-ID",
        "Pers.-Nr.",
        "Associate ID",
        "Worker ID",
        "ID",
    ),
    "hire_date": (
        "Hire date",
        "Start date",
        "Date of hire",
        "Join date",
        "Joining date",
        "Date joined",
        "Date of joining",
        "Employment start date",
        "Original hire date",
        "Eintrittsdatum",
        "Startdatum",
        "Eintritt",
    ),
    "manager_email": (
        "Manager email",
        "Manager e-mail",
        "Manager",
        "Reports to",
        "Reports to email",
        "Reporting to",
        "Reporting manager",
        "Supervisor",
        "Supervisor email",
        "Line manager",
        "Line manager email",
        "Vorgesetzter",
        "Vorgesetzte",
        "Vorgesetzter E-Mail",
        "E-Mail Vorgesetzter",
        "Führungskraft",
        "Führungskraft E-Mail",
    ),
    "manager_employee_id": (
        "Manager ID",
        "Manager employee ID",
        "Manager employee number",
        "Manager number",
        "Manager no",
        "Manager personnel number",
        "Manager staff ID",
        "Reports to ID",
        "Reports to employee ID",
        "Supervisor ID",
        "Supervisor employee ID",
        "Supervisor number",
        "Line manager ID",
        "Vorgesetzter ID",
        "Vorgesetzter Personalnummer",
        "Personalnummer Vorgesetzter",
        "Personalnummer des Vorgesetzten",
        "Führungskraft ID",
        "Führungskraft Personalnummer",
    ),
}

HEADER_SYNONYMS: dict[str, str] = {
    normalise_header(synonym): field
    for field, synonyms in _SYNONYMS_BY_FIELD.items()
    for synonym in synonyms
}

# Headers that hold a whole name: ambiguous, so they are not imported, but the warning says why.
FULL_NAME_HEADERS = frozenset(
    normalise_header(text)
    for text in ("Name", "Full name", "Display name", "Employee name", "Employee", "Mitarbeiter")
)

# Every Unicode whitespace character (the non-breaking space among them) plus the zero-width ones
# that copy-pasting from web pages and PDFs leaves at the ends of cells. One str.strip() with an
# explicit set takes linear time, which a regular expression anchored at the end does not.
EDGE_CHARACTERS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"  # str.isspace()
    "\u200b\u200c\u200d\u2060\ufeff"  # zero-width space, non-joiner, joiner, word joiner, BOM
)


def clean_text(text: str) -> str:
    """Return `text` without whitespace or zero-width characters at either end."""
    return text.strip(EDGE_CHARACTERS)


# An apostrophe that a download put in front of a formula start (see importer.history.exports).
_ESCAPED_FORMULA = re.compile(r"'(?='*[=+\-@\t\r])")


def unescape_formula_prefix(text: str) -> str:
    """Return `text` without the one apostrophe an export adds in front of = + - @ tab CR.

    importer.history.exports writes "-Lead-" to CSV as "'-Lead-" so that a spreadsheet never runs
    it as a formula; removing exactly that apostrophe makes an unedited download import with zero
    changes. A value the export gave two apostrophes ("''-x") keeps one.
    """
    return text[1:] if _ESCAPED_FORMULA.match(text) else text


def is_blank(cell: Cell | None) -> bool:
    """Return True for a cell a person would call empty: nothing, or only spaces."""
    if cell is None:
        return True
    return isinstance(cell, str) and not clean_text(cell)


def normalised_extra(extra_synonyms: Mapping[str, str] | None) -> dict[str, str]:
    if not extra_synonyms:
        return {}
    # A mapping to something that is not a field (a stale configuration) is ignored.
    return {
        normalise_header(header): field
        for header, field in extra_synonyms.items()
        if field in FILE_FIELDS and normalise_header(header)
    }


def field_for_header(text: str, extra_synonyms: Mapping[str, str] | None = None) -> str | None:
    """Return the field a header names, or None.

    `extra_synonyms` maps an organization's own headers to fields; it wins over the built-in names.
    """
    key = normalise_header(text)
    if not key:
        return None
    extra = normalised_extra(extra_synonyms)
    return extra.get(key) or HEADER_SYNONYMS.get(key)


def fields_of(cells: Iterable[Cell], extra: dict[str, str]) -> list[str | None]:
    fields = []
    for cell in cells:
        key = normalise_header(cell) if isinstance(cell, str) else ""
        fields.append((extra.get(key) or HEADER_SYNONYMS.get(key)) if key else None)
    return fields


def is_header_row(cells: Iterable[Cell], extra_synonyms: Mapping[str, str] | None = None) -> bool:
    """Return True if some cell of the row names the email column."""
    return "email" in fields_of(cells, normalised_extra(extra_synonyms))


def column_letter(index: int) -> str:
    """Return the spreadsheet letter of a 0-based column index: 0 → "A", 27 → "AB"."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters
