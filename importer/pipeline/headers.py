"""The header vocabulary: which header text names which field.

Header cells are matched to fields through synonyms ("E-Mail", "Work Email", "Vorname",
"Reports To") after normalising case, spaces and punctuation; an organization's own column names
win over the built-in ones. Also the small cell facts both the reader (parse) and the row checks
(columns) need: what counts as blank, and the edge characters a cell is trimmed of.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

from importer.pipeline.types import FILE_FIELDS, Cell, is_attribute

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
        # HR reports (Workday and the like) name the kind of address after a dash.
        "Email - Primary Work",
        "Email - Work",
        "Primary Work Email",
        "Work Email - Primary",
        "Email Address - Work",
    ),
    "first_name": (
        "First name",
        "Given name",
        "First",
        "Forename",
        "Legal first name",
        "Preferred first name",
        "Legal Name - First Name",
        "Preferred Name - First Name",
        "Vorname",
        "Rufname",
    ),
    "last_name": (
        "Last name",
        "Surname",
        "Family name",
        "Legal last name",
        "Legal Name - Last Name",
        "Preferred Name - Last Name",
        "Last",
        "Nachname",
        "Familienname",
        "Zuname",
    ),
    "title": (
        "Title",
        "Job title",
        "Business title",
        "Employee title",
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


# The field an organization gives a column it chose not to import (the column matching step's
# "Ignore"): the column is left out without the unknown-column warning.
IGNORED = "ignore"

# Bulk templates of directory tools name the attribute a column fills in brackets:
# "User name [userPrincipalName] Required", "First name [givenName]" (Microsoft Entra ID).
_DIRECTORY_ATTRIBUTES: dict[str, str] = {
    "userprincipalname": "email",
    "mail": "email",
    "primaryemail": "email",
    "givenname": "first_name",
    "surname": "last_name",
    "sn": "last_name",
    "jobtitle": "title",
    "department": "department",
    "physicaldeliveryofficename": "location",
    "officelocation": "location",
    "employeeid": "employee_id",
    "employeehiredate": "hire_date",
}
_BRACKETED = re.compile(r"\[([^\]]*)\]")
# What templates add to a column's name to say it must be filled: "[Required]", "(required)",
# "Required", "*" (and the optional ones' "(optional)").
_MARKERS = re.compile(r"\[[^\]]*\]|\((?:required|optional)\)|\b(?:required|optional)\b|\*", re.I)


def normalised_extra(extra_synonyms: Mapping[str, str] | None) -> dict[str, str]:
    if not extra_synonyms:
        return {}
    # A mapping to something that is not a field (a stale configuration) is ignored. A custom
    # attribute's field ("attr_<key>") is one: attributes.header_names leaves out those of
    # attributes the organization no longer has.
    return {
        normalise_header(header): field
        for header, field in extra_synonyms.items()
        if (field in FILE_FIELDS or field == IGNORED or is_attribute(field))
        and normalise_header(header)
    }


def bare_header(text: str) -> str:
    """Return a header without the marks templates add: "Email Address [Required]" → "Email
    Address", "User name [userPrincipalName] Required" → "User name"."""
    return clean_text(_MARKERS.sub(" ", text))


def header_field(text: str, extra: Mapping[str, str]) -> str | None:
    """Return the field a header names, IGNORED for a column the organization ignores, or None.

    `extra` is normalised_extra()'s: the organization's own names, which win. Then the built-in
    names, then a directory attribute in brackets, then the header without its template marks.
    """
    key = normalise_header(text)
    if not key:
        return None
    found = extra.get(key) or HEADER_SYNONYMS.get(key)
    if found:
        return found
    for attribute in _BRACKETED.findall(text):
        if field := _DIRECTORY_ATTRIBUTES.get(normalise_header(attribute)):
            return field
    bare = normalise_header(_MARKERS.sub(" ", text))
    if bare and bare != key:
        return extra.get(bare) or HEADER_SYNONYMS.get(bare)
    return None


def is_full_name_header(text: str) -> bool:
    """Return whether a header holds whole names ("Name", "Name [displayName] Required")."""
    return (
        normalise_header(text) in FULL_NAME_HEADERS
        or normalise_header(bare_header(text)) in FULL_NAME_HEADERS
    )


def field_for_header(text: str, extra_synonyms: Mapping[str, str] | None = None) -> str | None:
    """Return the field a header names, or None (also for a column the organization ignores).

    `extra_synonyms` maps an organization's own headers to fields; it wins over the built-in names.
    """
    found = header_field(text, normalised_extra(extra_synonyms))
    return None if found == IGNORED else found


def fields_of(cells: Iterable[Cell], extra: dict[str, str]) -> list[str | None]:
    """Return the field each header cell names (None for none, and for an ignored column)."""
    fields = []
    for cell in cells:
        found = header_field(cell, extra) if isinstance(cell, str) else None
        fields.append(None if found == IGNORED else found)
    return fields


def is_header_row(cells: Iterable[Cell], extra_synonyms: Mapping[str, str] | None = None) -> bool:
    """Return True if the row names the email column, or at least two other fields.

    A misspelt name counts when another is known. A header without an email column is still
    the header: the file then gets an error that quotes its columns (or, on the Import tab,
    the column matching step) instead of one that says no header row was found.
    """
    extra = normalised_extra(extra_synonyms)
    cells = list(cells)
    named = fields_of(cells, extra)
    fields = {field for field in named if field}
    if len(fields) == 1:
        # One name known: a misspelt one beside it ("Deparment", "Emial") makes it the header.
        fields |= {
            close[0]
            for cell, field in zip(cells, named, strict=True)
            if field is None and isinstance(cell, str) and (close := close_spelling(cell, extra))
        }
    return "email" in fields or len(fields) >= 2


# --- suggestions for columns the import does not recognise ------------------------------------

_SYNONYM_TEXT: dict[str, str] = {}  # A normalised name → the first name written so.
for _synonyms in _SYNONYMS_BY_FIELD.values():
    for _synonym in _synonyms:
        _SYNONYM_TEXT.setdefault(normalise_header(_synonym), _synonym)

_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _typos(first: str, second: str, limit: int) -> int:
    """Return the edits (insert, delete, replace, swap two neighbours) from one to the other,
    or limit + 1 once they are more than `limit`."""
    if abs(len(first) - len(second)) > limit:
        return limit + 1
    before: list[int] = []
    previous = list(range(len(second) + 1))
    for i, a in enumerate(first, start=1):
        current = [i] + [0] * len(second)
        for j, b in enumerate(second, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b))
            if i > 1 and j > 1 and a == second[j - 2] and first[i - 2] == b:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return previous[-1]


def _is_affix(first: str, second: str) -> bool:
    """Return whether one text begins or ends the other ("positionid" and "position")."""
    short, long = sorted((first, second), key=len)
    return long.startswith(short) or long.endswith(short)


def close_spelling(text: str, extra: Mapping[str, str]) -> tuple[str, str] | None:
    """Return (field, the known name) for a header that is a known name with a typo, or None.

    "Emial" → ("email", "Email"), "Deparment" → ("department", "Department"): one typo (a
    letter added, left out, changed, or two swapped), two in names of ten letters or more, and
    never a known name with a word added or left out ("Position ID" is no "Position").
    """
    key = normalise_header(bare_header(text)) or normalise_header(text)
    if len(key) < 4 or key in FULL_NAME_HEADERS:  # "Name" is no misspelt "Zuname".
        return None
    limit = 2 if len(key) >= 10 else 1
    best: tuple[int, str] | None = None
    for name in (*extra, *HEADER_SYNONYMS):
        if abs(len(name) - len(key)) > 1 and _is_affix(name, key):
            continue
        distance = _typos(key, name, limit)
        if distance <= limit and (best is None or distance < best[0]):
            best = (distance, name)
    if best is None:
        return None
    field = extra.get(best[1]) or HEADER_SYNONYMS[best[1]]
    if field == IGNORED:
        return None
    return field, _SYNONYM_TEXT.get(best[1], best[1])


def looks_like_addresses(samples: Sequence[str]) -> bool:
    """Return whether most non-blank sample values are email addresses."""
    values = [value for value in samples if value]
    return bool(values) and sum(bool(_ADDRESS.fullmatch(value)) for value in values) * 2 > len(
        values
    )


def first_row_without_email_message(
    rows: Iterable[Sequence[object]], extra_synonyms: Mapping[str, str] | None
) -> str:
    """Return the error for a file in which no row names an email column: the first non-blank
    row taken for its header (its cells quoted) and the closest column, by spelling or by
    values that are addresses in the next rows."""
    texts = [[clean_text("" if cell is None else str(cell)) for cell in row] for row in rows]
    texts = [row for row in texts if any(row)]
    if not texts:
        return MISSING_EMAIL_COLUMN_MESSAGE
    headers, below = texts[0], texts[1:6]
    extra = normalised_extra(extra_synonyms)
    closest = next(
        (h for h in headers if h and (close := close_spelling(h, extra)) and close[0] == "email"),
        None,
    )
    if closest is None:
        closest = next(
            (
                header
                for index, header in enumerate(headers)
                if header
                and looks_like_addresses([row[index] for row in below if index < len(row)])
            ),
            None,
        )
    return missing_email_message(headers, closest)


def missing_email_message(headers: Sequence[str], closest: str | None) -> str:
    """Return the error for a header row without an email column: its columns, and the closest."""
    found = [header for header in headers if header]
    shown = ", ".join(f"'{header}'" for header in found[:12])
    if len(found) > 12:
        shown += f" and {len(found) - 12} more"
    message = (
        f"No email column found. The columns in the file are {shown}; one of them must hold "
        "each person's email, named e.g. 'Email' or 'E-Mail'."
    )
    if closest:
        message += (
            f" The closest is '{closest}': rename it to 'Email', or choose its field when the "
            "Import tab asks you to match the columns."
        )
    return message


def column_letter(index: int) -> str:
    """Return the spreadsheet letter of a 0-based column index: 0 → "A", 27 → "AB"."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters
