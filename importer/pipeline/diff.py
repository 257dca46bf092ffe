"""The diff: what importing a file would change. Pure: no database, settings or clock.

Phases, each a function of plain data, in the order an import calls them:

    match_records(records, snapshot, options) -> Matching    who each row is, and who stays
    manager_issues(matching, options) -> [RowIssue]          managers who will not be there
    manager_cycle_issues(matching, options) -> [RowIssue]    managers reporting in a circle
    iter_changes(matching, options) -> Change, Change, …     made and skipped, one at a time

Every issue is known from the matching alone, before the first change: a preview with an
error makes no change, and one without stores each change while the next is compared.
compute_changeset puts the phases together into one ChangeSet.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import operator
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from importer.pipeline.types import (
    ATTRIBUTE_PREFIX,
    FIELD_LABELS,
    OPTION_LABELS,
    PROFILE_FIELDS,
    Action,
    Change,
    ChangeSet,
    ImportOptions,
    Record,
    RecordFields,
    RowIssue,
    Severity,
    Snapshot,
    SnapshotUser,
    field_labels,
    is_attribute,
)

SKIPPED_CREATE = f"'{OPTION_LABELS['create_users']}' is off."
SKIPPED_REACTIVATE = f"'{OPTION_LABELS['reactivate']}' is off: the user stays inactive."
SKIPPED_DEACTIVATE = f"'{OPTION_LABELS['deactivate_missing']}' is off: the user stays active."
SKIPPED_MANAGER = f"'{OPTION_LABELS['update_managers']}' is off."
PROTECTED_CHANGE = "Kept out of sync: imports never change this user."
PROTECTED_DEACTIVATE = "Kept out of sync: imports never deactivate this user."


def skipped_fields_reason(names: Iterable[str], labels_of: Mapping[str, str] = FIELD_LABELS) -> str:
    """Return why changes to profile fields left out of the options' update_fields are skipped.

    `labels_of` names the fields: types.field_labels(options.attributes) for custom attributes.
    """
    labels = [labels_of.get(name, name) for name in names]
    listed = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    verb = "is" if len(labels) == 1 else "are"
    return f"{listed} {verb} not among the '{OPTION_LABELS['update_fields']}'."


# Records between two calls of the caller's progress callback.
PROGRESS_EVERY = 1000

# A person in the resulting user base: an existing user's id, or minus the row of a new one
# (ids and rows start at 1; a plain int keeps the diff's many dictionaries fast).
Key = int


def display(value: str | dt.date | None) -> str:
    """Return a value as the preview and History show it: dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _iso(date: dt.date, known: dict[dt.date, str]) -> str:
    known[date] = text = date.isoformat()
    return text


def compute_changeset(
    records: list[Record],
    snapshot: Snapshot,
    options: ImportOptions,
    *,
    progress: Callable[[int], None] | None = None,
) -> ChangeSet:
    """Return what applying `records` to the users in `snapshot` would change; read nothing else.

    Changes come in file order, then deactivations by email. Checks that need the whole user
    base (managers that exist, cycles, emails taken) are reported as row issues. What the
    options or a user's protection keep from happening come back in `skipped`, each change
    with the reason, so that the preview can say which option caused it. `progress(records
    done)` is called every PROGRESS_EVERY records.
    """
    matching = match_records(records, snapshot, options)
    issues = (
        *matching.issues,
        *manager_issues(matching, options),
        *manager_cycle_issues(matching, options),
    )
    changes: list[Change] = []
    skipped: list[Change] = []
    touched: set[int] = set()
    for change in noting_rows(iter_changes(matching, options, progress), touched):
        (skipped if change.skipped_reason else changes).append(change)
    return ChangeSet(
        changes=tuple(changes),
        issues=issues,
        unchanged=unchanged_count(matching, touched),
        skipped=tuple(skipped),
    )


# Matching --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Matching:
    """The file's usable records matched to the organization's users, before any change.

    It settles who the import creates and the address of everyone a change may name, so the
    changes can be made, and stored, one at a time.
    """

    snapshot: Snapshot
    records: tuple[Record, ...]  # the usable records, in file order
    issues: tuple[RowIssue, ...]  # the records that cannot be used, and why
    users: dict[int, SnapshotUser]  # the snapshot's users by id
    matches: dict[int, SnapshotUser]  # record row -> its user; a row left out is a new person
    matched_rows: dict[int, int]  # user id -> the row that describes them
    # Every email of the resulting user base that can be a manager, with its person (new
    # people only when the import creates them).
    staying: dict[str, Key]
    # Each person's email after the import: the file may name a manager by an address the
    # import does not store (email left out of update_fields, or a protected user).
    final_email: dict[Key, str]
    # The current address of each user whose row gives them a new one, with that row: a
    # report may still name the manager by it (it is in `staying` too, when nobody takes it).
    old_emails: dict[str, int] = field(default_factory=dict)
    # The email and employee ID of each row left out for an error, with the row.
    rejected: dict[str, int] = field(default_factory=dict)
    rejected_ids: dict[str, int] = field(default_factory=dict)


def match_records(
    records: Iterable[Record],
    snapshot: Snapshot,
    options: ImportOptions,
    *,
    rejected: Iterable[RowIssue] = (),
    same_person: Mapping[int, str] | None = None,
) -> Matching:
    """Return the records matched to the users of `snapshot`, by employee ID, else by email.

    `same_person` ({user id: new email}) are the pairs an admin confirmed as the same person
    with a new address (see same_person.py): a row with that email and no other match is
    matched to that user, so the import changes their email instead of replacing them.

    A record that cannot be used (its email belongs to a user outside the organization, support
    staff included; it describes a user another row describes; or it would take the email of a
    user who keeps it) is left out, with an error in `issues`. Users who swap addresses (each
    matched by employee ID to a row with the other's address) are no conflict: the apply parks
    the addresses first.
    A manager given by employee ID becomes that person's email in the record.

    `rejected` are the errors that kept rows out of `records` (see RowIssue.subject): a report
    naming such a row's person as manager is told about that row.
    """
    records = list(records)
    by_email = {user.email: user for user in snapshot.users}
    by_employee_id = {user.employee_id: user for user in snapshot.users if user.employee_id}
    users_by_id = {user.id: user for user in snapshot.users}
    rekeyed = {
        email: users_by_id[user_id]
        for user_id, email in (same_person or {}).items()
        if user_id in users_by_id and email not in by_email
    }
    elsewhere = snapshot.emails_in_other_orgs
    issues: list[RowIssue] = []
    kept: list[Record] = []
    matches: dict[int, SnapshotUser] = {}
    matched_rows: dict[int, int] = {}
    # (record, its user, the other user whose address the record gives it)
    taking: list[tuple[Record, SnapshotUser, SnapshotUser]] = []
    rejected_emails: dict[str, int] = {}
    rejected_ids: dict[str, int] = {}
    for issue in rejected:
        if issue.row is not None and issue.is_error:
            if issue.subject:
                rejected_emails.setdefault(issue.subject, issue.row)
            if issue.subject_id:
                rejected_ids.setdefault(issue.subject_id, issue.row)
    # Each record's employee ID, read a column at a time (a call per record costs more).
    for record, employee_id in zip(records, Record.column(records, "employee_id"), strict=True):
        email = record.email
        if email in elsewhere:
            issues.append(
                _error(
                    record,
                    "email_unavailable",
                    "email",
                    email,
                    # Says nothing of where the address lives: another company's, or support's.
                    "This email address can't be used for a person of your organization. "
                    "Use the person's work address at this company; if it is right, contact "
                    "support.",
                )
            )
            continue
        user = by_employee_id.get(employee_id) if employee_id else None
        if user is None:
            user = by_email.get(email)
        if user is None and rekeyed:
            user = rekeyed.get(email)
            if user is not None and user.id in matched_rows:
                user = None  # Described by a row of its own after all: this row is new.
        if user is None:
            kept.append(record)
            continue
        if user.id in matched_rows:
            issues.append(
                _error(
                    record,
                    "conflicting_match",
                    "email",
                    email,
                    f"This row and row {matched_rows[user.id]} both describe the existing user "
                    f"{user.email} (one by employee ID, one by email). Keep one row per person.",
                )
            )
            continue
        if email != user.email:
            other = by_email.get(email)
            if other is not None and other.id != user.id:
                taking.append((record, user, other))
        matches[record.row] = user
        matched_rows[user.id] = record.row
        kept.append(record)
    # Two maps of every user, not needed past the loop: a million users' take 100 MB.
    del by_email, by_employee_id
    if taking:
        left_out = _addresses_still_taken(taking, matches, matched_rows, options, issues)
        kept = [record for record in kept if record.row not in left_out]
        for row in left_out:
            del matched_rows[matches.pop(row).id]
    if any(record.has("manager_employee_id") for record in kept):
        kept = _managers_by_employee_id(kept, snapshot, matched_rows, options, issues)
        kept_rows = {record.row for record in kept}
        for row in [row for row in matches if row not in kept_rows]:
            del matched_rows[matches.pop(row).id]
    if len(kept) < len(records):  # Some rows were left out (usually none: then no set of rows).
        usable = {record.row for record in kept}
        for record in records:
            if record.row not in usable:
                rejected_emails.setdefault(record.email, record.row)
                if employee_id := record.get("employee_id"):
                    rejected_ids.setdefault(employee_id, record.row)
        del usable  # Not alive beside the maps made next.
    staying, final_email = _staying_emails(kept, snapshot, matches, matched_rows, options)
    old_emails: dict[str, int] = {}
    for row, user in matches.items():
        if final_email[user.id] != user.email and user.email not in staying:
            old_emails[user.email] = row
            staying[user.email] = user.id
    return Matching(
        snapshot=snapshot,
        records=tuple(kept),
        issues=tuple(issues),
        users=users_by_id,
        matches=matches,
        matched_rows=matched_rows,
        staying=staying,
        final_email=final_email,
        old_emails=old_emails,
        rejected=rejected_emails,
        rejected_ids=rejected_ids,
    )


def _addresses_still_taken(
    taking: list[tuple[Record, SnapshotUser, SnapshotUser]],
    matches: dict[int, SnapshotUser],
    matched_rows: dict[int, int],
    options: ImportOptions,
    issues: list[RowIssue],
) -> set[int]:
    """Return the rows that would take the address of a user who keeps it; report each.

    An address is free when its user is matched to another row that gives them a new one
    (a swap, or a longer rotation): the file describes both, and the apply parks the
    addresses before it writes them. Rows left out free nothing, so this runs until settled.
    """
    changes_email = "email" in options.update_fields
    left_out: set[int] = set()
    settled = False
    while not settled:
        settled = True
        for record, user, other in taking:
            if record.row in left_out:
                continue
            other_row = matched_rows.get(other.id)
            frees_address = (
                other_row is not None
                and other_row not in left_out
                and changes_email
                and not other.is_protected
                and not user.is_protected
            )
            if frees_address:
                continue
            left_out.add(record.row)
            settled = False
            employee_id = record.get("employee_id") or ""
            issues.append(
                _error(
                    record,
                    "email_taken",
                    "email",
                    record.email,
                    f"Employee ID {employee_id} belongs to {user.email}, but {record.email} is "
                    f"the address of another user, {_who(other)}, who keeps it: "
                    + (
                        f"their row {other_row} cannot be imported."
                        if other_row is not None and other_row in left_out
                        else "the file does not give them a new address. Give them one in "
                        "the file (two people may swap addresses in one import), or fix "
                        "this row's email or employee ID."
                    ),
                )
            )
    return left_out


def _who(user: SnapshotUser) -> str:
    name = f"{user.first_name} {user.last_name}".strip()
    return (
        f"{name} (employee ID {user.employee_id})"
        if user.employee_id and name
        else (name or (f"employee ID {user.employee_id}" if user.employee_id else "a user"))
    )


def _managers_by_employee_id(
    records: list[Record],
    snapshot: Snapshot,
    matched_rows: dict[int, int],
    options: ImportOptions,
    issues: list[RowIssue],
) -> list[Record]:
    """Return the records with each manager given by employee ID turned into their email.

    The ID is looked up among the file's rows first, then among the organization's users
    who stay. An ID nobody has, or a manager email column that names someone else, is an
    error, and the row is left out.
    """
    email_of_id: dict[str, str] = {}
    for user in snapshot.users:
        if (
            user.employee_id
            and user.id not in matched_rows
            and user.is_active
            and not _deactivates(user, matched_rows, options)
        ):
            email_of_id[user.employee_id] = user.email
    for record in records:
        if employee_id := record.get("employee_id"):
            email_of_id[employee_id] = record.email  # the file wins over the stored ID
    kept = []
    for record in records:
        values = record.values
        manager_id = values.pop("manager_employee_id", None)
        if not manager_id:
            values.setdefault("manager_email", "")
            kept.append(Record(record.row, values))
            continue
        manager_email = email_of_id.get(manager_id)
        if manager_email is None:
            issues.append(
                _error(
                    record,
                    "manager_not_found",
                    "manager_employee_id",
                    manager_id,
                    f"No one in the file or among the organization's active users has the "
                    f"employee ID {manager_id}. Add a row for the manager or correct the ID.",
                )
            )
            continue
        given = values.get("manager_email")
        if given and given != manager_email:
            issues.append(
                _error(
                    record,
                    "manager_columns_disagree",
                    "manager_employee_id",
                    manager_id,
                    f"The manager email column names {given}, but the manager employee ID "
                    f"{manager_id} is {manager_email}. Correct one of them, or delete one "
                    "of the two columns.",
                )
            )
            continue
        values["manager_email"] = manager_email
        kept.append(Record(record.row, values))
    return kept


def _staying_emails(
    records: list[Record],
    snapshot: Snapshot,
    matches: dict[int, SnapshotUser],
    matched_rows: dict[int, int],
    options: ImportOptions,
) -> tuple[dict[str, Key], dict[Key, str]]:
    """Return every email that can be a manager after the import, and each person's email."""
    staying: dict[str, Key] = {}
    final_email: dict[Key, str] = {}
    for user in snapshot.users:
        if (
            user.id not in matched_rows
            and user.is_active
            and not _deactivates(user, matched_rows, options)
        ):
            staying[user.email] = user.id
            final_email[user.id] = user.email
    keeps_emails = "email" not in options.update_fields
    for record in records:
        user = matches.get(record.row)
        if user is not None:
            staying[record.email] = user.id
            keeps_email = user.is_protected or keeps_emails
            final_email[user.id] = user.email if keeps_email else record.email
        elif options.create_users:
            staying[record.email] = -record.row
            final_email[-record.row] = record.email
    return staying, final_email


def _deactivates(user: SnapshotUser, matched_rows: dict[int, int], options: ImportOptions) -> bool:
    return (
        options.deactivate_missing
        and user.is_active
        and user.id not in matched_rows
        and not user.is_protected
        and not user.is_staff
        and user.id != options.acting_user_id
    )


def created_rows(matching: Matching, options: ImportOptions) -> list[int]:
    """Return the rows of the people the import creates (not skipped), in file order."""
    if not options.create_users:
        return []
    matches = matching.matches
    return [record.row for record in matching.records if record.row not in matches]


class PeopleByEmail:
    """Every address a change may name (its own, or a manager's), with its person's user id:
    `people[email]`.

    Users keep their current address here, and also get the one their row gives them; a
    person the import creates has the id `new_ids` gives their row (ids reserved for them).
    Each address is looked up rather than put in a map of them all: a next file's changes name
    a few thousand people, and the map of a million addresses took 0.6 s to make.
    """

    __slots__ = ("_current", "_new_ids", "_staying", "_users")

    def __init__(self, matching: Matching, new_ids: Mapping[int, int]):
        self._staying = matching.staying  # every row's address, new people when created
        self._new_ids = new_ids
        self._users = matching.snapshot.users
        self._current: dict[str, int] | None = None

    def __getitem__(self, email: str) -> int:
        key = self._staying.get(email)
        if key is not None:
            return key if key > 0 else self._new_ids[-key]
        if self._current is None:  # An address its user gives up: rare, so made when needed.
            self._current = {user.email: user.id for user in self._users}
        return self._current[email]


# Checks over the whole result ------------------------------------------------------------------


def manager_issues(matching: Matching, options: ImportOptions) -> list[RowIssue]:
    """Return an error for each row whose manager is neither in the file nor staying.

    Only where the import would set that manager: on a new person it creates, or on a user
    whose manager imports update. The manager of a user the import may not touch is compared
    quietly: an unknown manager there is no reason to block the import. A manager whose own
    row has an error is said so once, at the first row naming them; a manager named by the
    address their row replaces is that person, with a warning.
    """
    staying = matching.staying
    matches = matching.matches
    old_emails = matching.old_emails
    rejected = matching.rejected
    where = (
        "in the file"
        if options.deactivate_missing
        else "in the file or among the organization's active users"
    )
    issues = []
    told: set[str] = set()
    records = matching.records
    for record, manager_email in zip(records, Record.column(records, "manager_email"), strict=True):
        if not manager_email or manager_email == record.email:
            continue  # A person named as their own manager: columns.py reports self_manager.
        if manager_email in staying:
            if manager_email in old_emails and manager_email not in told:
                told.add(manager_email)
                row = old_emails[manager_email]
                new_email = matching.final_email[staying[manager_email]]
                issues.append(
                    replace(
                        _error(
                            record,
                            "manager_old_email",
                            "manager_email",
                            manager_email,
                            f"{manager_email} is the old address of row {row}, which changes it "
                            f"to {new_email}: the reports naming {manager_email} get that "
                            f"person as manager. Write {new_email} to avoid this warning.",
                        ),
                        severity=Severity.WARNING,
                    )
                )
            continue
        user = matches.get(record.row)
        if user is None:
            sets_manager = options.create_users
        else:
            sets_manager = options.update_managers and not user.is_protected
        if not sets_manager:
            continue
        if manager_email in rejected:
            if manager_email not in told:
                told.add(manager_email)
                row = rejected[manager_email]
                issues.append(
                    _error(
                        record,
                        "manager_row_invalid",
                        "manager_email",
                        manager_email,
                        f"The manager {manager_email} is in row {row}, which has an error: "
                        f"correct row {row}, and every row naming this manager can be imported.",
                    )
                )
            continue
        issues.append(
            _error(
                record,
                "manager_not_found",
                "manager_email",
                manager_email,
                f"The manager {manager_email} is not {where}. Add a row for the manager or "
                f"correct the address.",
            )
        )
    return issues


# A circle's message names this many people, then how many more.
CYCLE_NAMES_SHOWN = 10


def manager_cycle_issues(matching: Matching, options: ImportOptions) -> list[RowIssue]:
    """Return one error for each circle of managers reporting to each other.

    The error is on the circle's first row in the file; its message names the first
    CYCLE_NAMES_SHOWN people and rows of the circle and how many more. A circle the file
    does not touch is left alone.
    """
    staying = matching.staying
    users = matching.users
    # Each person's email after the import: final_email has every person of `staying` (an
    # old address there must not win), so it is the map of people the circles are among.
    email_of = matching.final_email
    matches = matching.matches
    # The row of each person the file describes: a matched user's, or minus a new person's key.
    row_of = _RowsOfPeople(matching.matched_rows)
    update_managers = options.update_managers
    # The managers the file sets where they differ from the stored ones; everyone else's is
    # read from their user (not copied into a map: a million people's would be 40 MB more).
    changed: dict[Key, Key] = {}
    records = matching.records
    for record, manager_email in zip(records, Record.column(records, "manager_email"), strict=True):
        row = record.row
        user = matches.get(row)
        key: Key = user.id if user is not None else -row
        if key not in email_of:
            continue
        if (
            manager_email
            and (user is None or (update_managers and not user.is_protected))
            and (manager := staying.get(manager_email)) is not None
            and (user is None or manager != user.manager_id)
        ):
            changed[key] = manager

    def manager_of(key: Key) -> Key | None:
        if key in changed:
            return changed[key]
        return users[key].manager_id if key > 0 and key in email_of else None

    # Everyone with a manager: the stored ones first, then those only the file gives one.
    with_managers = itertools.chain(
        (key for key in email_of if key > 0 and users[key].manager_id is not None),
        (key for key in changed if key < 0 or users[key].manager_id is None),
    )
    issues = []
    reported: set[Key] = set()
    for start in with_managers:
        if start in reported:
            continue
        path: list[Key] = []
        seen: dict[Key, int] = {}
        node: Key | None = start
        while node is not None and node not in seen and node not in reported:
            seen[node] = len(path)
            path.append(node)
            if node in changed:
                node = changed[node]
            else:
                node = users[node].manager_id if node > 0 and node in email_of else None
        if node is None or node in reported or node not in seen:
            reported.update(path)
            continue
        cycle = path[seen[node] :]
        reported.update(path)
        in_file = [key for key in cycle if key in row_of]
        if not in_file:
            continue  # A loop that already existed and that this file does not touch.
        # Start the circle at its first row in the file, so that the message reads in order.
        first = min(in_file, key=row_of.__getitem__)
        at = cycle.index(first)
        cycle = cycle[at:] + cycle[:at]
        shown = cycle[:CYCLE_NAMES_SHOWN]
        names = " → ".join(_in_circle(key, email_of, row_of) for key in shown)
        if len(cycle) > CYCLE_NAMES_SHOWN:
            names += f" → … {len(cycle) - CYCLE_NAMES_SHOWN:,} more → {email_of[first]}"
        else:
            names += f" → {email_of[first]}"
        issues.append(
            RowIssue(
                code="manager_cycle",
                message=f"{len(cycle):,} people would report to each other in a circle: {names}. "
                "Correct the manager of one of them.",
                row=row_of[first],
                column=FIELD_LABELS["manager_email"],
                value=email_of.get(manager_of(first), ""),
            )
        )
    return issues


class _RowsOfPeople:
    """The row of each person the file describes, by key, without a map of a million rows.

    A new person's key is minus their row; a matched user's row is in `matched_rows`. Only
    keys of people after the import are asked about (a new person is one when created).
    """

    __slots__ = ("matched_rows",)

    def __init__(self, matched_rows: dict[int, int]):
        self.matched_rows = matched_rows

    def __contains__(self, key: Key) -> bool:
        return key < 0 or key in self.matched_rows

    def __getitem__(self, key: Key) -> int:
        return -key if key < 0 else self.matched_rows[key]


def _in_circle(key: Key, email_of: dict[Key, str], row_of: _RowsOfPeople) -> str:
    email = email_of.get(key, "?")
    return f"{email} (row {row_of[key]})" if key in row_of else email


def _error(record: Record, code: str, field: str, value: str, message: str) -> RowIssue:
    return RowIssue(
        code=code, message=message, row=record.row, column=FIELD_LABELS[field], value=value
    )


# Changes ---------------------------------------------------------------------------------------


def iter_changes(
    matching: Matching,
    options: ImportOptions,
    progress: Callable[[int], None] | None = None,
) -> Iterator[Change]:
    """Yield every change, made or skipped: in file order, then deactivations by email.

    `options` are those `matching` was made with. `progress(records done)` is called every
    PROGRESS_EVERY records.
    """
    staying = matching.staying
    matches = matching.matches
    final_email = matching.final_email
    create_users = options.create_users
    iso_dates: dict[dt.date, str] = {}  # a file's hire dates repeat
    plan = _AttributePlan.of(options)
    # Without custom attributes, a record equal to its active user in every profile field it
    # gives, naming the same manager, changes nothing, whatever the options: most of a next
    # file, told apart without working out its changes and those the options skip.
    quick = not plan.updated and not plan.held
    for done, record in enumerate(matching.records):
        if progress is not None and not done % PROGRESS_EVERY:
            progress(done)
        user = matches.get(record.row)
        if user is None:  # A new person: the whole of a new file, so kept lean.
            yield _creation(record, create_users, staying, final_email, iso_dates)
            continue
        if quick and user.is_active:
            of_record, of_user = _compared(record.fields, PROFILE_FIELDS)
            if (
                of_record(record) == of_user(user)
                and _manager_change(record, user, matching, options) is None
            ):
                continue
        yield from _changes_for(record, user, matching, options, plan)
    yield from _deactivations(matching, options)


def noting_rows(changes: Iterable[Change], rows: set[int]) -> Iterator[Change]:
    """Yield `changes` as they come, adding to `rows` the row of each that names a matched user."""
    add = rows.add
    for change in changes:
        if change.user_id is not None and change.row is not None:
            add(change.row)
        yield change


def unchanged_count(matching: Matching, rows_changed: Collection[int]) -> int:
    """Return how many records describe a user the import leaves as they are.

    `rows_changed` holds the rows of every change to a matched user, made or skipped (see
    noting_rows).
    """
    return len(matching.matches) - len(rows_changed)


def _creation(
    record: Record,
    create_users: bool,
    staying: dict[str, Key],
    final_email: dict[Key, str],
    iso: dict[dt.date, str],
) -> Change:
    # Every cell of a new file passes here: one comprehension, display() inlined (a value
    # is text, or a date; blanks are left out).
    fields = {
        name: ("", value if value.__class__ is str else iso.get(value) or _iso(value, iso))
        for name, value in record.items()
        if value and name != "manager_email"
    }
    manager_email = record.get("manager_email")
    if not create_users:
        if manager_email:
            fields["manager_email"] = ("", manager_email)
        return Change(Action.CREATE, record.email, None, record.row, fields, SKIPPED_CREATE)
    if manager_email and manager_email != record.email:
        # A manager who is not staying is a manager_not_found error: no change is made then.
        manager_key = staying.get(manager_email)
        if manager_key is not None:
            fields["manager_email"] = ("", final_email[manager_key])
    return Change(Action.CREATE, record.email, None, record.row, fields)


@dataclass(frozen=True)
class _AttributePlan:
    """The custom attributes an import compares, worked out once: (field, key) of those it may
    change, and of those left out of update_fields (skipped, with their labels)."""

    updated: tuple[tuple[str, str], ...] = ()
    held: tuple[tuple[str, str], ...] = ()
    held_fields: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=lambda: FIELD_LABELS)
    # The profile fields imports leave out (compared, and shown as skipped).
    left_out: tuple[str, ...] = ()

    @classmethod
    def of(cls, options: ImportOptions) -> _AttributePlan:
        update_fields = options.update_fields
        left_out = tuple(name for name in PROFILE_FIELDS if name not in update_fields)
        if not options.attributes:
            return cls(left_out=left_out)
        pairs = [(spec.field, spec.key) for spec in options.attributes]
        held = tuple(pair for pair in pairs if pair[0] not in update_fields)
        return cls(
            updated=tuple(pair for pair in pairs if pair[0] in update_fields),
            held=held,
            held_fields=tuple(name for name, _key in held),
            labels=field_labels(options.attributes),
            left_out=left_out,
        )


def _changes_for(
    record: Record,
    user: SnapshotUser,
    matching: Matching,
    options: ImportOptions,
    plan: _AttributePlan | None = None,
) -> list[Change]:
    """Return the changes a record makes to its user, then those the options skip."""
    if plan is None:
        plan = _AttributePlan.of(options)
    fields = _profile_changes(record, user, options.update_fields, options, plan.updated)
    manager_change = _manager_change(record, user, matching, options)
    if manager_change is not None and options.update_managers:
        fields["manager_email"] = manager_change
    reactivates = not user.is_active and options.reactivate
    action = Action.REACTIVATE if reactivates else Action.UPDATE
    if user.is_protected:
        if fields or reactivates:
            return [Change(action, record.email, user.id, record.row, fields, PROTECTED_CHANGE)]
        return []
    changes = []
    if fields or reactivates:
        changes.append(Change(action, record.email, user.id, record.row, fields))
    if not user.is_active and not options.reactivate:
        changes.append(
            Change(Action.REACTIVATE, record.email, user.id, record.row, {}, SKIPPED_REACTIVATE)
        )
    held = _profile_changes(record, user, plan.left_out, options, plan.held)
    reasons = [skipped_fields_reason(held, plan.labels)] if held else []
    if manager_change is not None and not options.update_managers:
        held["manager_email"] = manager_change
        reasons.append(SKIPPED_MANAGER)
    if held:
        changes.append(
            Change(Action.UPDATE, record.email, user.id, record.row, held, " ".join(reasons))
        )
    return changes


def _profile_changes(
    record: Record,
    user: SnapshotUser,
    names: Iterable[str],
    options: ImportOptions,
    attributes: tuple[tuple[str, str], ...] = (),
) -> dict[str, tuple[str, str]]:
    """Return the differences between a record and its user in the profile fields `names` and
    the custom attributes `attributes` ((field, key) pairs)."""
    fields: dict[str, tuple[str, str]] = {}
    if attributes:
        _attribute_changes(record, user, attributes, options.clear_blank_fields, fields)
    if not names:
        return fields
    # The usual record, equal to its user in every field compared, is told by one comparison of
    # two tuples (made in C) instead of a step per field.
    of_record, of_user = _compared(record.fields, names)
    if of_record(record) == of_user(user):
        return fields
    wanted = set(names)
    position = record.fields.position
    clear_blank_fields = options.clear_blank_fields
    # Twice for each matched row (the fields imports update, then those they leave out): the
    # usual field, equal to the user's, goes no further than one comparison.
    for name in PROFILE_FIELDS:
        if name not in position or name not in wanted:
            continue
        new = record[position[name]]
        # A value is text, a date (never blank) or None: blank is what shows as "".
        if not new and (name not in clear_blank_fields or name == "email"):
            continue  # A blank cell keeps the stored value; an email is never cleared.
        old = getattr(user, name)
        if old == new:
            continue  # The same value shows the same.
        old_shown, new_shown = display(old), display(new)
        if old_shown != new_shown and (
            # A value stored decomposed (NFD) before files were normalised reads the same.
            old.__class__ is not str or unicodedata.normalize("NFC", old) != new
        ):
            fields[name] = (old_shown, new_shown)
    return fields


_ABSENT = object()


@functools.lru_cache(maxsize=256)
def _compared(fields: RecordFields, names: Collection[str]) -> tuple[Callable, Callable]:
    """Return getters of the profile fields among `names` that a record of `fields` gives: one
    of the record's values, one of the user's, in the same order (equal when all are)."""
    shown = [name for name in PROFILE_FIELDS if name in names and name in fields.position]
    if not shown:
        return _nothing, _nothing
    return operator.itemgetter(*(fields.position[name] for name in shown)), operator.attrgetter(
        *shown
    )


def _nothing(_value: object) -> tuple:
    return ()


def _attribute_changes(
    record: Record,
    user: SnapshotUser,
    attributes: tuple[tuple[str, str], ...],
    clear_blank_fields: Collection[str],
    fields: dict[str, tuple[str, str]],
) -> None:
    """Add to `fields` the differences between a record and its user in the custom attributes
    `attributes` ((field, key) pairs): old is the stored text (absent: ""), new the record's
    canonical text (a date in ISO form). A blank cell keeps the stored value unless its field
    is in clear_blank_fields."""
    get = record.get
    stored = user.attributes
    for name, key in attributes:
        new = get(name, _ABSENT)
        if new is _ABSENT:
            continue  # No column feeds it.
        if not new:
            if name not in clear_blank_fields:
                continue
            new = ""
        elif new.__class__ is not str:
            new = new.isoformat()  # a date
        old = stored.get(key, "") if stored else ""
        if old != new:
            fields[name] = (old, new)


def _manager_change(
    record: Record, user: SnapshotUser, matching: Matching, options: ImportOptions
) -> tuple[str, str] | None:
    """Return the (old, new) manager of a record's user when the file names another one.

    A manager who is not staying is no change (manager_issues reports them when it matters).
    """
    at = record.fields.position.get("manager_email")
    if at is None:
        return None  # No manager column.
    manager_email = record[at] or ""
    old_manager = matching.users.get(user.manager_id) if user.manager_id else None
    old_email = old_manager.email if old_manager else ""
    if not manager_email:
        if "manager_email" in options.clear_blank_fields and old_manager:
            return (old_email, "")
        return None
    new_key = matching.staying.get(manager_email) if manager_email != record.email else None
    if new_key is None or new_key == user.manager_id:
        return None
    return (old_email, matching.final_email[new_key])


def _deactivations(matching: Matching, options: ImportOptions) -> list[Change]:
    """Return the deactivations of active users missing from the file, made or skipped.

    The acting admin and support staff are left out silently: they are never deactivated
    by an import, whatever the options say.
    """
    changes = []
    matched_rows = matching.matched_rows
    acting_user_id = options.acting_user_id
    # Those missing first, then sorted: a next file names nearly everyone.
    missing = [
        user
        for user in matching.snapshot.users
        if user.is_active
        and user.id not in matched_rows
        and not user.is_staff
        and user.id != acting_user_id
    ]
    for user in sorted(missing, key=lambda u: u.email):
        if not options.deactivate_missing:
            reason = SKIPPED_DEACTIVATE
        elif user.is_protected:
            reason = PROTECTED_DEACTIVATE
        else:
            reason = ""
        changes.append(Change(Action.DEACTIVATE, user.email, user.id, None, {}, reason))
    return changes


def apply_to_snapshot(snapshot: Snapshot, changeset: ChangeSet) -> Snapshot:
    """Return the snapshot as it would be after applying `changeset` (for tests and checks)."""
    users = {user.id: user for user in snapshot.users}
    next_id = max(users, default=0) + 1
    by_email = {user.email: user.id for user in snapshot.users}
    manager_emails: dict[int, str | None] = {}
    for change in changeset.changes:
        if change.skipped_reason:
            continue  # Never made (a ChangeSet keeps them in `skipped`; this guards a mix-up).
        if change.action == Action.CREATE:
            user_id, next_id = next_id, next_id + 1
            users[user_id] = SnapshotUser(id=user_id, email=change.email)
        else:
            user_id = change.user_id
        values = {name: new for name, (_old, new) in change.fields.items()}
        manager = values.pop("manager_email", None)
        if manager is not None:
            manager_emails[user_id] = manager
        attributes = {name: values.pop(name) for name in list(values) if is_attribute(name)}
        updates: dict = {name: _stored(name, value) for name, value in values.items()}
        if attributes:
            merged = dict(users[user_id].attributes or {})
            for name, value in attributes.items():
                key = name.removeprefix(ATTRIBUTE_PREFIX)
                if value:
                    merged[key] = value
                else:
                    merged.pop(key, None)
            updates["attributes"] = merged or None
        if change.action == Action.DEACTIVATE:
            updates["is_active"] = False
        elif change.action == Action.REACTIVATE:
            updates["is_active"] = True
        users[user_id] = replace(users[user_id], **updates)
        by_email[users[user_id].email] = user_id
    for user_id, manager in manager_emails.items():
        users[user_id] = replace(users[user_id], manager_id=by_email[manager] if manager else None)
    return Snapshot(users=tuple(users.values()), emails_in_other_orgs=snapshot.emails_in_other_orgs)


def _stored(name: str, value: str):
    if name == "hire_date":
        return dt.date.fromisoformat(value) if value else None
    return value
