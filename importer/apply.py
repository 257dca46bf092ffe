"""Carry out a previewed run's ImportChange rows with bulk statements.

The caller holds the transaction and the locks (see runs.apply_run); this module only writes.
A constant number of statements, whatever the number of changes:

1. read which changes to make (ids, actions, emails; not their fields);
2. reserve the new users' ids, so that a new user's manager, new or not, is known before any
   row is written (foreign keys are checked at commit on both databases);
3. insert the new users, managers included (COPY on PostgreSQL, executemany on SQLite);
4. update the existing users, each only in the columns its change names;
5. point the creations' ImportChange rows at their new users.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from django.contrib.auth.hashers import make_password
from django.db import connection
from django.utils import timezone

from users.models import User

from . import bulk
from .models import ImportChange

ProgressCallback = Callable[[str, int, int], None]
# Progress is offered every so many rows; the reporter itself decides how often to write it.
PROGRESS_EVERY = 1000

CREATE = ImportChange.Action.CREATE
DEACTIVATE = ImportChange.Action.DEACTIVATE
REACTIVATE = ImportChange.Action.REACTIVATE
# The profile fields a change may set, as stored on the user (the manager is handled apart).
PROFILE_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "title",
    "department",
    "location",
    "employee_id",
    "hire_date",
)
UPDATED_COLUMNS = (*PROFILE_FIELDS, "manager_id", "is_active")


def apply_changes(run, progress: ProgressCallback) -> None:
    """Write every change of `run` to its organization's users, exactly as previewed."""
    total = run.change_count
    progress("applying", 0, total)
    # Skipped changes are in the preview only: an option or a protection keeps them from being made.
    changes = list(
        run.changes.filter(skipped_reason="")
        .order_by("id")
        .values_list("action", "email", "user_id")
    )
    new_emails = [email for action, email, _user_id in changes if action == CREATE]
    ids_by_email = dict(
        User.objects.filter(organization_id=run.organization_id).values_list("email", "id")
    )
    # A manager is named by their email after the import: a user's new address counts.
    for action, email, user_id in changes:
        if action != CREATE:
            ids_by_email[email] = user_id
    ids_by_email.update(zip(new_emails, bulk.reserve_ids(User, len(new_emails))))
    del changes

    counter = _Counter(progress, total)
    _insert_users(run, ids_by_email, counter)
    _update_users(run, ids_by_email, counter)
    if new_emails:
        _link_created_changes(run)
    progress("applying", total, total)


class _Counter:
    """Count written rows and offer progress every PROGRESS_EVERY of them."""

    def __init__(self, progress: ProgressCallback, total: int):
        self.progress = progress
        self.total = total
        self.done = 0

    def step(self) -> None:
        self.done += 1
        if not self.done % PROGRESS_EVERY:
            self.progress("applying", self.done, self.total)


def _changes_of(run, *, created: bool) -> Iterator[tuple]:
    """Return (email, user_id, action, fields) of the run's changes to make, creations or not.

    The query runs at once; the fields are decoded row by row as the iterator is consumed.
    """
    table = ImportChange._meta.db_table
    # Fields come as JSON text and are decoded one row at a time (PostgreSQL would decode jsonb).
    fields = "fields::text" if connection.vendor == "postgresql" else "fields"
    operator = "=" if created else "<>"
    rows = bulk.stream(
        f"SELECT email, user_id, action, {fields} FROM {table} WHERE run_id = %s "
        f"AND skipped_reason = '' AND action {operator} %s ORDER BY id",
        [run.pk, str(CREATE)],
    )
    return (
        (email, user_id, action, json.loads(text) if isinstance(text, str) else text)
        for email, user_id, action, text in rows
    )


def _stored(name: str, new: str):
    """Return a field's new value as stored: a blank hire date is none (ISO text otherwise)."""
    return (new or None) if name == "hire_date" else new


def _insert_users(run, ids_by_email: dict[str, int], counter: _Counter) -> None:
    """Insert the run's new users with their managers (new or existing) in one statement."""
    # One unusable password for all: the users sign in by a reset link or single sign-on.
    defaults = bulk.prepare(
        User,
        {
            field.attname: field.get_default()
            for field in User._meta.concrete_fields
            if field.attname not in ("id", *PROFILE_FIELDS, "manager_id")
        }
        | {
            "organization_id": run.organization_id,
            "password": make_password(None),
            "date_joined": timezone.now(),
        },
    )
    columns = ("id", *PROFILE_FIELDS, "manager_id", *defaults)
    constants = tuple(defaults.values())
    # The new values come out of the fields' JSON in SQL, one column each: no decoding here.
    names = [name for name in PROFILE_FIELDS if name != "email"]
    created = bulk.stream(
        f"SELECT email, {', '.join(_new_value(name) for name in (*names, 'manager_email'))} "
        f"FROM {ImportChange._meta.db_table} WHERE run_id = %s AND skipped_reason = '' "
        "AND action = %s ORDER BY id",
        [run.pk, str(CREATE)],
    )
    hire_date = names.index("hire_date")

    def rows() -> Iterator[tuple]:
        for email, *values, manager_email in created:
            # A field the file left blank is absent from the change: blank on the new user.
            values = [value or "" for value in values]
            values[hire_date] = values[hire_date] or None
            manager_id = ids_by_email.get(manager_email) if manager_email else None
            counter.step()
            yield (ids_by_email[email], email, *values, manager_id, *constants)

    bulk.insert_rows(User._meta.db_table, columns, rows())


def _new_value(name: str) -> str:
    """Return the SQL for the new value of field `name` in a change's fields, or NULL."""
    if connection.vendor == "postgresql":
        return f"fields -> '{name}' ->> 1"
    return f"json_extract(fields, '$.{name}[1]')"


def _update_users(run, ids_by_email: dict[str, int], counter: _Counter) -> None:
    """Update, deactivate and reactivate existing users in one statement."""

    changed = _changes_of(run, created=False)

    def rows() -> Iterator[tuple[int, dict]]:
        for _email, user_id, action, fields in changed:
            values = {}
            for name, (_old, new) in fields.items():
                if name == "manager_email":
                    values["manager_id"] = ids_by_email.get(new) if new else None
                else:
                    values[name] = _stored(name, new)
            if action == DEACTIVATE:
                values["is_active"] = False
            elif action == REACTIVATE:
                values["is_active"] = True
            counter.step()
            yield user_id, values

    bulk.update_rows(
        User._meta.db_table,
        "id",
        UPDATED_COLUMNS,
        rows(),
        where={"organization_id": run.organization_id},
    )


def _link_created_changes(run) -> None:
    """Point the run's creations at the users they created (emails are unique)."""
    changes = ImportChange._meta.db_table
    users = User._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {changes} AS c SET user_id = u.id FROM {users} AS u "
                "WHERE u.email = c.email AND c.run_id = %s AND c.action = %s "
                "AND c.skipped_reason = ''",
                [run.pk, str(CREATE)],
            )
        else:
            cursor.execute(
                f"UPDATE {changes} SET user_id = (SELECT u.id FROM {users} AS u "
                f"WHERE u.email = {changes}.email) "
                "WHERE run_id = %s AND action = %s AND skipped_reason = ''",
                [run.pk, str(CREATE)],
            )
