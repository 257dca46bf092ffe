"""Plain data passed between the pipeline's stages.

parse → Table → map columns → Records + RowIssues → diff(snapshot, options) → ChangeSet → apply.
Nothing here touches Django's ORM, settings, requests or the clock.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# A cell as a person reads it: text, or a date for a date-formatted spreadsheet cell.
Cell = str | dt.date

# The user fields an import can fill, in the order of the import format's columns.
FIELDS: tuple[str, ...] = (
    "email",
    "first_name",
    "last_name",
    "title",
    "department",
    "location",
    "employee_id",
    "hire_date",
    "manager_email",
)

# The fields stored on the user as they are; the manager is a relation, handled apart.
PROFILE_FIELDS: tuple[str, ...] = FIELDS[:-1]

# The fields a file's columns may name: the import format's, and the manager by employee ID
# (as HR systems export it), which the diff turns into the manager's email.
FILE_FIELDS: tuple[str, ...] = (*FIELDS, "manager_employee_id")

FIELD_LABELS: dict[str, str] = {
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "title": "Title",
    "department": "Department",
    "location": "Location",
    "employee_id": "Employee ID",
    "hire_date": "Hire date",
    "manager_email": "Manager email",
    "manager_employee_id": "Manager employee ID",
}

# Longest value each text field accepts: the User model's max_length, written out because the
# pipeline reads no model (tests/integration/test_user_rules.py checks that they agree).
MAX_LENGTHS: dict[str, int] = {
    "email": 254,
    "first_name": 150,
    "last_name": 150,
    "title": 150,
    "department": 150,
    "location": 150,
    "employee_id": 64,
    "manager_email": 254,
    "manager_employee_id": 64,
}


# Custom attributes: fields a company defines for itself (cost centre, level, pronouns…). In the
# pipeline each is a field named ATTRIBUTE_PREFIX + its key ("attr_cost_centre"): in a record's
# values, a change's fields, the options' update_fields and clear_blank_fields. Stored on the
# user in `User.attributes`, {key: value as text}, a blank value absent.
ATTRIBUTE_PREFIX = "attr_"
MAX_ATTRIBUTES = 20  # per organization
ATTRIBUTE_MAX_LENGTH = 255  # the longest value of any attribute, as text


class AttributeType(enum.StrEnum):
    TEXT = "text"
    NUMBER = "number"  # stored in a canonical form: "12", "12.5", "-0.25" (no exponent)
    DATE = "date"  # a datetime.date in a record; stored as ISO text
    CHOICE = "choice"  # one of `choices`, stored as the choice is spelled there


@dataclass(frozen=True)
class AttributeSpec:
    """One custom attribute of an organization, as the pipeline reads it (plain data).

    `key` is stable once made (values and past runs name it); `name` is what people see and may
    change. `column_names` are the file headers that feed it, besides its name.
    """

    key: str
    name: str
    type: AttributeType = AttributeType.TEXT
    choices: tuple[str, ...] = ()
    column_names: tuple[str, ...] = ()

    @property
    def field(self) -> str:
        return ATTRIBUTE_PREFIX + self.key


def is_attribute(field_name: str) -> bool:
    return field_name.startswith(ATTRIBUTE_PREFIX)


def field_labels(attributes: Iterable[AttributeSpec] = ()) -> dict[str, str]:
    """Return FIELD_LABELS with the names of an organization's custom attributes."""
    return {**FIELD_LABELS, **{spec.field: spec.name for spec in attributes}}


class FileError(Exception):
    """The input as a whole cannot be read; nothing in it is imported.

    `code` is stable (unreadable_file, unsupported_format, empty_file, missing_column,
    unsafe_xml, file_too_large); `message` tells a person what to do.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# Not frozen, but never assigned to once made (dataclasses.replace makes a changed copy): a
# frozen dataclass sets each field through object.__setattr__, which made a million of these
# five times slower to create (2.4 s more for a million users). Slots: a file makes that many.
@dataclass(slots=True, unsafe_hash=True)
class Row:
    """One data row of the input, numbered as the spreadsheet shows it (1-based)."""

    number: int
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Table:
    """The header and data rows of the first sheet (or the CSV) that holds data."""

    header_row: int
    headers: tuple[str, ...]
    # A tuple; a list in a table made by columns.releasable, which map_columns lets go of.
    rows: tuple[Row, ...] | list[Row]
    # Ragged rows can only happen in CSV: a spreadsheet pads rows to its width.
    format: str = "csv"  # "csv" or "xlsx"
    # Cells of a UTF-8 file with bytes that are not UTF-8: (row, column index, the bytes in hex).
    # The cells show each such byte as "\ufffd"; columns.py reports those it would import.
    undecodable: tuple[tuple[int, int, str], ...] = ()


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class RowIssue:
    """A problem found in the input. `row` is None for a problem with the whole file."""

    code: str
    message: str
    row: int | None = None
    column: str = ""
    value: str = ""
    severity: Severity = Severity.ERROR
    # The email and employee ID of the row an error keeps out, when known: a report naming
    # that person as manager is then told that the manager's row has an error. Not stored.
    subject: str = field(default="", compare=False, repr=False)
    subject_id: str = field(default="", compare=False, repr=False)

    @property
    def is_error(self) -> bool:
        return self.severity == Severity.ERROR

    def as_dict(self) -> dict:
        return {
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "code": self.code,
            "message": self.message,
            "severity": str(self.severity),
        }


class RecordFields:
    """The field names of a file's records, in the order of their values: one object per file.

    The email comes first. `position` gives each name's place in a Record (after its row and
    this object).
    """

    __slots__ = ("names", "position")

    def __init__(self, names: tuple[str, ...]):
        if not names or names[0] != "email":
            raise ValueError("A record's first field is its email.")
        self.names = names
        self.position = {name: at for at, name in enumerate(names, start=2)}

    def __repr__(self) -> str:
        return f"RecordFields({self.names!r})"


@functools.lru_cache(maxsize=1024)
def record_fields(names: tuple[str, ...]) -> RecordFields:
    """Return the one RecordFields of `names` (records of the same fields share it)."""
    return RecordFields(names)


class Record(tuple):
    """One person as the file describes them.

    Only the fields whose column is in the file have a value; a blank cell is "" (None for
    hire_date). Emails are normalised (trimmed, lower-cased); dates are `datetime.date`.

    A tuple (row, fields, email, other values…) against one RecordFields per file, rather than
    a dict each: a million-row file makes a million records, and a dict of nine fields takes
    272 bytes where these values take 72. `Record(row, {field: value})` makes one from a dict
    (the email first or not); `Record.of(fields, row, values)` from values in the order of
    `fields`.
    """

    __slots__ = ()

    def __new__(cls, row: int, values: dict[str, str | dt.date | None]):
        names = ("email", *(name for name in values if name != "email"))
        return tuple.__new__(cls, (row, record_fields(names), *map(values.__getitem__, names)))

    @classmethod
    def of(cls, fields: RecordFields, row: int, values: Iterable) -> Record:
        return tuple.__new__(cls, (row, fields, *values))

    row = property(operator.itemgetter(0), doc="The file's row number.")
    fields = property(operator.itemgetter(1), doc="The record's RecordFields.")
    email = property(operator.itemgetter(2), doc="The email (normalised).")

    @property
    def values(self) -> dict[str, str | dt.date | None]:
        """Return {field: value} for the fields the file gives (a new dict)."""
        return dict(zip(self[1].names, self[2:], strict=True))

    def items(self) -> Iterable[tuple[str, str | dt.date | None]]:
        return zip(self[1].names, self[2:], strict=True)

    def has(self, name: str) -> bool:
        """Return whether the file gives this field (a column of it, its cell not left out)."""
        return name in self[1].position

    def get(self, name: str, default=None):
        at = self[1].position.get(name)
        return default if at is None else self[at]

    @staticmethod
    def column(records: Sequence[Record], name: str) -> list:
        """Return each record's value of `name` (None where it has none), in order.

        Records of one file share their RecordFields: then one C-level pass reads them all.
        """
        fields = records[0][1] if records else None
        if fields is not None and all(record[1] is fields for record in records):
            at = fields.position.get(name)
            return (
                [None] * len(records) if at is None else list(map(operator.itemgetter(at), records))
            )
        return [record.get(name) for record in records]

    def replacing(self, name: str, value) -> Record:
        """Return the record with `name` (one of its fields) set to `value`."""
        at = self[1].position[name]
        return tuple.__new__(Record, (*self[:at], value, *self[at + 1 :]))

    def without(self, names: Iterable[str]) -> Record:
        """Return the record without the fields `names` (cells left out: the stored value stays)."""
        values = self.values
        for name in names:
            values.pop(name, None)
        return Record(self[0], values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return self[0] == other[0] and self.values == other.values

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]  # equal records may hold their fields apart

    def __repr__(self) -> str:
        return f"Record(row={self[0]!r}, values={self.values!r})"

    def __reduce__(self):
        return (Record, (self[0], self.values))


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see Row
class SnapshotUser:
    """A user of the organization as the diff sees them."""

    id: int
    email: str
    first_name: str = ""
    last_name: str = ""
    title: str = ""
    department: str = ""
    location: str = ""
    employee_id: str = ""
    hire_date: dt.date | None = None
    manager_id: int | None = None
    is_active: bool = True
    is_protected: bool = False  # kept out of sync: an import never changes this user
    is_staff: bool = False
    version: int = 0  # the user's row version: every import and admin save adds one
    # The custom attributes' values, {key: text}; None when the user has none.
    attributes: dict[str, str] | None = None


@dataclass(frozen=True)
class Snapshot:
    """The organization's users, plus the file's emails already taken by other organizations."""

    users: tuple[SnapshotUser, ...]
    emails_in_other_orgs: frozenset[str] = frozenset()


# The options of an import as the Configuration tab names them, in its order. The diff's skip
# reasons quote them; the form, the change log and the run's stored copy use the same names.
OPTION_LABELS: dict[str, str] = {
    "create_users": "Create new users",
    "update_fields": "Profile fields imports may change",
    "update_managers": "Update manager relationships",
    "deactivate_missing": "Deactivate users missing from the file",
    "reactivate": "Reactivate inactive users present in the file",
    "clear_blank_fields": "Blank cells clear the stored value",
    "max_deactivation_percent": "Most deactivations, as a share of active users",
    "max_deactivation_count": "Most deactivations, as a number of users",
    "min_row_ratio_percent": "Least rows, as a share of the last import's",
    "max_field_change_percent": "Most manager, email, department, title or location changes, "
    "as a share of active users",
    "max_field_change_count": "Most manager, email, department, title or location changes, "
    "as a number of users",
    "hold_admin_changes": "Hold changes to an admin's email, and admins' deactivations",
    "apply_within_limits": "When a limit is passed, apply what is within the limits and hold "
    "the rest",
    "column_mapping": "Your column names",
}


@dataclass(frozen=True)
class Limits:
    """The organization's safeguard settings, as the Configuration tab sets them."""

    max_deactivation_percent: int = 10  # of the active users; 100 turns the check off
    max_deactivation_count: int | None = None  # None: no count limit
    min_row_ratio_percent: int = 80  # of the last applied file's rows; 0 turns the check off
    # Of the active users whose manager, email, department, title or location changes (each
    # field counted on its own); 100 turns the check off.
    max_field_change_percent: int = 20
    max_field_change_count: int | None = None  # None: no count limit
    hold_admin_changes: bool = True  # an admin's email change or deactivation passes a limit
    # False: an import that passes a limit waits whole; True: the changes within the limits
    # are made and the ones that passed a limit wait, as a held part of their own.
    apply_within_limits: bool = False


@dataclass(frozen=True)
class ImportOptions:
    """The options in force for one import: how it treats users, column names, safeguards.

    Plain data: runs.options_for reads it from the organization's ImportConfig (its stored
    form), and each run keeps a copy of it as it was.
    """

    create_users: bool = True
    update_fields: frozenset[str] = frozenset(FIELDS) - {"manager_email"}
    update_managers: bool = True
    deactivate_missing: bool = True
    reactivate: bool = True
    # Fields whose blank cell clears the stored value; every other blank cell keeps it.
    clear_blank_fields: frozenset[str] = frozenset()
    # The acting admin is never deactivated by their own import.
    acting_user_id: int | None = None
    # The organization's own header names: {"Kostenstelle": "department"}.
    column_mapping: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    # The organization's custom attributes, in their order.
    attributes: tuple[AttributeSpec, ...] = ()


class Action(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DEACTIVATE = "deactivate"
    REACTIVATE = "reactivate"


@dataclass(slots=True)  # not frozen: see Row (and its `fields` make it unhashable)
class Change:
    """One user touched by an import.

    `fields` maps a field name to (old, new) as display text: dates in ISO form, the manager
    as their email. `user_id` is None when the action is CREATE.
    """

    action: Action
    email: str
    user_id: int | None = None
    row: int | None = None
    fields: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Set when an option or a protection keeps the change from being made: the preview shows
    # it with this reason, and apply leaves it out.
    skipped_reason: str = ""


@dataclass(frozen=True)
class ChangeSet:
    """What an import would do. `changes` are made; `skipped` are shown in the preview only."""

    changes: tuple[Change, ...]
    issues: tuple[RowIssue, ...]
    unchanged: int = 0
    skipped: tuple[Change, ...] = ()

    @property
    def errors(self) -> list[RowIssue]:
        return [issue for issue in self.issues if issue.is_error]

    @property
    def warnings(self) -> list[RowIssue]:
        return [issue for issue in self.issues if not issue.is_error]

    def of(self, action: Action) -> list[Change]:
        return [change for change in self.changes if change.action == action]

    @property
    def counts(self) -> dict[str, int]:
        by_action = {action: 0 for action in Action}
        for change in self.changes:
            by_action[change.action] += 1
        return {
            "new": by_action[Action.CREATE],
            "changed": by_action[Action.UPDATE],
            "deactivated": by_action[Action.DEACTIVATE],
            "reactivated": by_action[Action.REACTIVATE],
            "unchanged": self.unchanged,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
        }
