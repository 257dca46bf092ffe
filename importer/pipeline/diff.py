"""The diff: what importing a file would change. Pure: no database, settings or clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

from importer.pipeline.types import (
    FIELD_LABELS,
    OPTION_LABELS,
    PROFILE_FIELDS,
    Action,
    Change,
    ChangeSet,
    ImportOptions,
    Record,
    RowIssue,
    Snapshot,
    SnapshotUser,
)

SKIPPED_CREATE = f"'{OPTION_LABELS['create_users']}' is off."
SKIPPED_REACTIVATE = f"'{OPTION_LABELS['reactivate']}' is off: the user stays inactive."
SKIPPED_DEACTIVATE = f"'{OPTION_LABELS['deactivate_missing']}' is off: the user stays active."
SKIPPED_MANAGER = f"'{OPTION_LABELS['update_managers']}' is off."
PROTECTED_CHANGE = "Kept out of sync: imports never change this user."
PROTECTED_DEACTIVATE = "Kept out of sync: imports never deactivate this user."


def skipped_fields_reason(names: Iterable[str]) -> str:
    """Return why changes to profile fields left out of the options's update_fields are skipped."""
    labels = [FIELD_LABELS[name] for name in names]
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
    base (managers that exist, cycles, emails taken) are reported as row issues. What the options
    or a user's protection keeps from happening comes back in `skipped`, each change with the
    reason, so that the preview can say which option caused it. `progress(records done)` is
    called every PROGRESS_EVERY records.
    """
    diff = Diff(records, snapshot, options)
    changes: list[Change] = []
    skipped: list[Change] = []
    for change in diff.changes(progress):
        (skipped if change.skipped_reason else changes).append(change)
    return ChangeSet(
        changes=tuple(changes),
        issues=tuple(diff.issues),
        unchanged=diff.unchanged,
        skipped=tuple(skipped),
    )


class Diff:
    """The diff of `records` against `snapshot`, whose changes come one at a time.

    The records are matched to users at once (their issues are in `issues` from then on), so
    that the people the import creates, and the address of everyone a change may name, are
    known before the first change: a preview stores the changes as they come, while the
    database works on the ones before. `issues` is complete, and `unchanged` counted, once
    `changes()` has been gone through, once.
    """

    def __init__(self, records: list[Record], snapshot: Snapshot, options: ImportOptions):
        self.records = records
        self.snapshot = snapshot
        self.options = options
        self.users = {user.id: user for user in snapshot.users}
        self.by_email = {user.email: user for user in snapshot.users}
        self.by_employee_id = {u.employee_id: u for u in snapshot.users if u.employee_id}
        self.issues: list[RowIssue] = []
        self.unchanged = 0
        self.matches: dict[int, SnapshotUser] = {}  # record row -> user
        self.matched_rows: dict[int, int] = {}  # user id -> record row
        # Each person's email after the import: the file may name a manager by an address the
        # import does not store (email left out of update_fields, or a protected user).
        self.final_email: dict[Key, str] = {}
        self.iso_dates: dict[dt.date, str] = {}  # a file's hire dates repeat
        self.kept_records = [record for record in records if self._match(record)]
        self.staying = self._staying_emails(self.kept_records)

    def created_rows(self) -> list[int]:
        """Return the rows of the people the import creates (not skipped), in file order."""
        if not self.options.create_users:
            return []
        matches = self.matches
        return [record.row for record in self.kept_records if record.row not in matches]

    def people_by_email(self) -> dict[str, Key]:
        """Return every address a change may name (its own, or a manager's), with its person.

        Users keep their current address here, and also get the one their row gives them;
        a person the import creates is minus their row.
        """
        people: dict[str, Key] = {user.email: user.id for user in self.snapshot.users}
        # `staying` holds every row's address with its person (new people when created).
        people.update(self.staying)
        return people

    def changes(self, progress: Callable[[int], None] | None = None) -> Iterator[Change]:
        """Yield every change, made or skipped: in file order, then deactivations by email."""
        staying = self.staying
        matches = self.matches
        for done, record in enumerate(self.kept_records):
            if progress is not None and not done % PROGRESS_EVERY:
                progress(done)
            user = matches.get(record.row)
            if user is None:  # A new person: the whole of a new file, so kept lean.
                yield self._creation(record, staying)
                continue
            found = self._changes_for(record, user, staying)
            if not found:
                self.unchanged += 1
            yield from found
        yield from self._deactivations()
        self._check_manager_cycles(self.kept_records, staying)

    # Matching ----------------------------------------------------------------------------------

    def _match(self, record: Record) -> bool:
        """Find the user a record describes; return False when the record cannot be used."""
        email = record.email
        if email in self.snapshot.emails_in_other_orgs:
            self._error(
                record,
                "email_in_other_org",
                "email",
                email,
                "This email belongs to a user of another organization on the platform. "
                "Use the person's address at this company, or contact support.",
            )
            return False
        employee_id = record.get("employee_id") or ""
        user = self.by_employee_id.get(employee_id) if employee_id else None
        if user is None:
            user = self.by_email.get(email)
        if user is None:
            return True
        if user.id in self.matched_rows:
            first_row = self.matched_rows[user.id]
            self._error(
                record,
                "conflicting_match",
                "email",
                email,
                f"This row and row {first_row} both describe the existing user {user.email} "
                f"(one by employee ID, one by email). Keep one row per person.",
            )
            return False
        if email != user.email:
            other = self.by_email.get(email)
            if other is not None and other.id != user.id:
                self._error(
                    record,
                    "email_taken",
                    "email",
                    email,
                    f"Employee ID {employee_id} belongs to {user.email}, but {email} is already "
                    f"the address of another user. Fix the email or the employee ID.",
                )
                return False
        self.matches[record.row] = user
        self.matched_rows[user.id] = record.row
        return True

    def _staying_emails(self, records: list[Record]) -> dict[str, Key]:
        """Return every email of the resulting user base that can be a manager, with its person."""
        staying: dict[str, Key] = {}
        for user in self.snapshot.users:
            if user.id not in self.matched_rows and user.is_active and not self._deactivates(user):
                staying[user.email] = user.id
                self.final_email[user.id] = user.email
        for record in records:
            user = self.matches.get(record.row)
            if user is not None:
                staying[record.email] = user.id
                keeps_email = user.is_protected or "email" not in self.options.update_fields
                self.final_email[user.id] = user.email if keeps_email else record.email
            elif self.options.create_users:
                staying[record.email] = -record.row
                self.final_email[-record.row] = record.email
        return staying

    def _deactivates(self, user: SnapshotUser) -> bool:
        return (
            self.options.deactivate_missing
            and user.is_active
            and user.id not in self.matched_rows
            and not user.is_protected
            and not user.is_staff
            and user.id != self.options.acting_user_id
        )

    # Changes ------------------------------------------------------------------------------------

    def _changes_for(
        self, record: Record, user: SnapshotUser | None, staying: dict[str, Key]
    ) -> list[Change]:
        """Return the changes a record makes to its user, then those the options skips."""
        if user is None:
            return [self._creation(record, staying)]
        options = self.options
        # Managers of a user the import may not touch are compared quietly: an unknown manager
        # there is no reason to block the import.
        sets_manager = options.update_managers and not user.is_protected
        fields = self._profile_changes(record, user, options.update_fields)
        manager_change = self._manager_change(record, user, staying, report=sets_manager)
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
        left_out = [name for name in PROFILE_FIELDS if name not in options.update_fields]
        held = self._profile_changes(record, user, left_out)
        reasons = [skipped_fields_reason(held)] if held else []
        if manager_change is not None and not options.update_managers:
            held["manager_email"] = manager_change
            reasons.append(SKIPPED_MANAGER)
        if held:
            changes.append(
                Change(Action.UPDATE, record.email, user.id, record.row, held, " ".join(reasons))
            )
        return changes

    def _creation(self, record: Record, staying: dict[str, Key]) -> Change:
        values = record.values
        # Every cell of a new file passes here: one comprehension, display() inlined (a value
        # is text, or a date; blanks are left out).
        iso = self.iso_dates
        fields = {
            name: ("", value if value.__class__ is str else iso.get(value) or _iso(value, iso))
            for name, value in values.items()
            if value and name != "manager_email"
        }
        manager_email = values.get("manager_email")
        if not self.options.create_users:
            if manager_email:
                fields["manager_email"] = ("", manager_email)
            return Change(Action.CREATE, record.email, None, record.row, fields, SKIPPED_CREATE)
        if manager_email:
            manager_key = staying.get(manager_email)
            if manager_key is None or manager_email == record.email:
                manager_key = self._manager_key(record, manager_email, staying)
            if manager_key is not None:
                fields["manager_email"] = ("", self.final_email[manager_key])
        return Change(Action.CREATE, record.email, None, record.row, fields)

    def _profile_changes(
        self, record: Record, user: SnapshotUser, names: Iterable[str]
    ) -> dict[str, tuple[str, str]]:
        """Return the differences between a record and its user in the fields `names`."""
        fields: dict[str, tuple[str, str]] = {}
        wanted = set(names)
        for name in PROFILE_FIELDS:
            if name not in record.values or name not in wanted:
                continue
            new = record.values[name]
            if not display(new) and name not in self.options.clear_blank_fields:
                continue  # A blank cell keeps the stored value.
            if name == "email" and not new:
                continue  # An email is never cleared.
            old = getattr(user, name)
            if display(old) != display(new):
                fields[name] = (display(old), display(new))
        return fields

    def _manager_change(
        self, record: Record, user: SnapshotUser, staying: dict[str, Key], *, report: bool = True
    ) -> tuple[str, str] | None:
        if "manager_email" not in record.values:
            return None
        manager_email = record.get("manager_email") or ""
        old_manager = self.users.get(user.manager_id) if user.manager_id else None
        old_email = old_manager.email if old_manager else ""
        if not manager_email:
            if "manager_email" in self.options.clear_blank_fields and old_manager:
                return (old_email, "")
            return None
        if report:
            new_key = self._manager_key(record, manager_email, staying)
        else:
            new_key = staying.get(manager_email) if manager_email != record.email else None
        if new_key is None or new_key == user.manager_id:
            return None
        return (old_email, self.final_email[new_key])

    def _manager_key(
        self, record: Record, manager_email: str, staying: dict[str, Key]
    ) -> Key | None:
        """Return the person a manager email names, reporting a row error when there is none."""
        if manager_email == record.email:
            return None  # columns.py reports self_manager.
        key = staying.get(manager_email)
        if key is None:
            where = (
                "in the file"
                if self.options.deactivate_missing
                else "in the file or among the organization's active users"
            )
            self._error(
                record,
                "manager_not_found",
                "manager_email",
                manager_email,
                f"The manager {manager_email} is not {where}. Add a row for the manager or "
                f"correct the address.",
            )
        return key

    def _deactivations(self) -> list[Change]:
        """Return the deactivations of active users missing from the file, made or skipped.

        The acting admin and support staff are left out silently: they are never deactivated
        by an import, whatever the options say.
        """
        changes = []
        for user in sorted(self.snapshot.users, key=lambda u: u.email):
            if (
                not user.is_active
                or user.id in self.matched_rows
                or user.is_staff
                or user.id == self.options.acting_user_id
            ):
                continue
            if not self.options.deactivate_missing:
                reason = SKIPPED_DEACTIVATE
            elif user.is_protected:
                reason = PROTECTED_DEACTIVATE
            else:
                reason = ""
            changes.append(Change(Action.DEACTIVATE, user.email, user.id, None, {}, reason))
        return changes

    # Checks over the whole result ----------------------------------------------------------------

    def _check_manager_cycles(self, records: list[Record], staying: dict[str, Key]) -> None:
        """Report managers that would report to each other, naming everyone in the circle."""
        manager_of: dict[Key, Key] = {}
        users = self.users
        email_of: dict[Key, str] = {key: email for email, key in staying.items()}
        for key in email_of:
            if key > 0 and (manager_id := users[key].manager_id) is not None:
                manager_of[key] = manager_id
        row_of: dict[Key, int] = {}
        matches = self.matches
        update_managers = self.options.update_managers
        for record in records:
            row = record.row
            user = matches.get(row)
            key: Key = user.id if user is not None else -row
            if key not in email_of:
                continue
            row_of[key] = row
            manager_email = record.values.get("manager_email")
            if (
                manager_email
                and (user is None or (update_managers and not user.is_protected))
                and (manager := staying.get(manager_email)) is not None
            ):
                manager_of[key] = manager
        reported: set[Key] = set()
        for start in manager_of:
            if start in reported:
                continue
            path: list[Key] = []
            seen: dict[Key, int] = {}
            node: Key | None = start
            while node is not None and node not in seen and node not in reported:
                seen[node] = len(path)
                path.append(node)
                node = manager_of.get(node)
            if node is None or node in reported or node not in seen:
                reported.update(path)
                continue
            cycle = path[seen[node] :]
            reported.update(path)
            if not any(key in row_of for key in cycle):
                continue  # A loop that already existed and that this file does not touch.
            names = " → ".join(email_of.get(key, "?") for key in [*cycle, cycle[0]])
            for key in cycle:
                if key in row_of:
                    self.issues.append(
                        RowIssue(
                            code="manager_cycle",
                            message=f"Managers would report to each other in a circle: {names}. "
                            f"Correct the manager of one of them.",
                            row=row_of[key],
                            column=FIELD_LABELS["manager_email"],
                            value=email_of.get(manager_of[key], ""),
                        )
                    )

    def _error(self, record: Record, code: str, field: str, value: str, message: str) -> None:
        self.issues.append(
            RowIssue(
                code=code, message=message, row=record.row, column=FIELD_LABELS[field], value=value
            )
        )


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
        updates: dict = {name: _stored(name, value) for name, value in values.items()}
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


def users_in(changes: Iterable[Change]) -> set[int]:
    """Return the ids of the existing users that `changes` touch."""
    return {change.user_id for change in changes if change.user_id is not None}
