"""Custom attributes in the pipeline: their header names, and their values checked by type.

An organization's custom attribute (types.AttributeSpec) is fed by a column whose header is its
name or one of its column names (or that the organization's column names map to its field,
"attr_<key>"). Its values are read a column at a time, like the built-in fields' (see
columns._ColumnReader, which first trims the cells, drops control characters and spreadsheet
errors and checks the length): text as written, numbers and choices in their canonical spelling,
dates as `datetime.date` (read by columns.py, as hire dates are).

The canonical text is what User.attributes stores and the diff compares: a number "12", "12.5",
"-0.25" (no exponent, no trailing zeros, "12.0" is "12"), a choice spelled as in its list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation

from importer.pipeline.types import AttributeSpec, AttributeType, is_attribute

# Report(position, code, value as written, message): an error for the cell at `position`.
Report = Callable[[int, str, str, str], None]


def header_names(
    column_mapping: Mapping[str, str] | None, attributes: Iterable[AttributeSpec] = ()
) -> dict[str, str]:
    """Return the organization's own header names: each attribute's name and column names,
    then its column names mapping (which wins; a mapping to an attribute that no longer exists
    is left out). The result is what headers.normalised_extra reads as `extra_synonyms`."""
    names: dict[str, str] = {}
    fields = set()
    for spec in attributes:
        fields.add(spec.field)
        for text in (spec.name, *spec.column_names):
            names[text] = spec.field
    for header, field in (column_mapping or {}).items():
        if is_attribute(field) and field not in fields:
            continue
        names[header] = field
    return names


# A number as a person writes it: digits, at most one decimal point, an optional sign.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
# A number written with an exponent: 1e3, 1.5E-7.
_SCIENTIFIC = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)[eE][+-]?\d+")
# Digits grouped by commas, dots, spaces or apostrophes, or a decimal comma: 1,234.5, 1.234,5,
# 12,5, 1 234, 1'234.
_GROUPED = re.compile(r"[+-]?\d[\d.,' \u00a0\u202f]*[.,' \u00a0\u202f]\d+")
# Significant digits a spreadsheet keeps of a number (Excel shows 15).
_SPREADSHEET_DIGITS = 15


def canonical_number(value: Decimal) -> str:
    """Return a number's canonical text: "12", "12.5", "-0.25"; never an exponent."""
    if not value:
        return "0"
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def read_number(text: str, *, spreadsheet: bool) -> tuple[str, str]:
    """Return (canonical text, "") for a number, or ("", why it is not one, for a person).

    `spreadsheet`: the value comes from a spreadsheet's cell (an .xlsx), whose numbers the
    reader writes out with an exponent when they are very large or small and with a float's
    every digit: those are read to the 15 significant digits a spreadsheet shows.
    """
    if _PLAIN_NUMBER.fullmatch(text):
        number = Decimal(text)
        if spreadsheet and len(number.as_tuple().digits) > _SPREADSHEET_DIGITS and "." in text:
            number = Decimal(format(float(text), f".{_SPREADSHEET_DIGITS}g"))
        return canonical_number(number), ""
    if _SCIENTIFIC.fullmatch(text):
        if spreadsheet:
            try:
                number = Decimal(format(float(text), f".{_SPREADSHEET_DIGITS}g"))
            except (InvalidOperation, OverflowError, ValueError):
                pass
            else:
                if number.is_finite():
                    return canonical_number(number), ""
        return "", (
            f"'{text}' is a number in scientific notation. Write the number in full, "
            "e.g. 1500 rather than 1.5e3."
        )
    if _GROUPED.fullmatch(text):
        return "", (
            f"'{text}' groups its digits or uses a decimal comma. Write the number with a "
            "decimal point and no thousands separators, e.g. 1234.5."
        )
    return "", f"'{text}' is not a number. Write a number such as 12 or 1234.5."


def read_numbers(
    values: list[str],
    skip: Iterable[int],
    report: Report,
    known: dict[str, tuple[str, str]],
    *,
    spreadsheet: bool,
) -> list[str]:
    """Return a number column's values in canonical text; report each that is not a number.

    `known` caches the values read (a column repeats its values). A reported value is left as
    written: its row gives no record.
    """
    for value in {value for value in values if value and value not in known}:
        known[value] = read_number(value, spreadsheet=spreadsheet)
    read = [known[value][0] if value else "" for value in values]
    skipped = set(skip)
    for position, value in enumerate(values):
        if value and known[value][1] and position not in skipped:
            read[position] = value
            report(position, "invalid_number", value, known[value][1])
    return read


def choice_lookup(choices: Sequence[str]) -> dict[str, str]:
    """Return {a choice as matched (case and spaces left out): the choice as spelled}."""
    return {_choice_key(choice): choice for choice in choices}


def _choice_key(text: str) -> str:
    return " ".join(text.split()).casefold()


def read_choices(
    values: list[str],
    spec: AttributeSpec,
    skip: Iterable[int],
    report: Report,
    known: dict[str, str | None],
) -> list[str]:
    """Return a choice column's values spelled as in `spec.choices`; report each that is none.

    A value matches a choice whatever its case and spaces ("full  TIME" is "Full time").
    """
    lookup = choice_lookup(spec.choices)
    for value in {value for value in values if value and value not in known}:
        known[value] = lookup.get(_choice_key(value))
    read = [(known[value] or value) if value else "" for value in values]
    skipped = set(skip)
    listed = ", ".join(f"'{choice}'" for choice in spec.choices) or "(none defined yet)"
    for position, value in enumerate(values):
        if value and known[value] is None and position not in skipped:
            report(
                position,
                "invalid_choice",
                value,
                f"'{value}' is not one of the choices of {spec.name}: {listed}. Write one of "
                "them, or add it to the attribute's choices in Configuration.",
            )
    return read


def check_values(
    spec: AttributeSpec,
    values: list[str],
    skip: Iterable[int],
    report: Report,
    known: dict,
    *,
    spreadsheet: bool,
) -> list[str]:
    """Return a text, number or choice column's values as stored; report those refused.

    `values` are already trimmed and checked as text (see columns._ColumnReader._texts);
    `skip` are the positions already reported, left alone here.
    """
    if spec.type == AttributeType.NUMBER:
        return read_numbers(values, skip, report, known, spreadsheet=spreadsheet)
    if spec.type == AttributeType.CHOICE:
        return read_choices(values, spec, skip, report, known)
    return values
