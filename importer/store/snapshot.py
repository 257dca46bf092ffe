"""The organization's users as plain data for the diff: one query, plus one for taken emails."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable

from django.db import connection

from importer.pipeline.types import Snapshot, SnapshotUser
from users.managers import is_kept_out_of_sync
from users.models import User

USER_COLUMNS = (
    "id",
    "email",
    "first_name",
    "last_name",
    "title",
    "department",
    "location",
    "employee_id",
    "hire_date",
    "manager_id",
    "is_active",
    "is_sync_protected",
    "sync_protected_until",
    "is_staff",
)


def load_snapshot(organization_id: int, *, today: dt.date, emails: Iterable[str] = ()) -> Snapshot:
    """Return the organization's users, and which of `emails` other organizations already use."""
    columns = ", ".join(connection.ops.quote_name(column) for column in USER_COLUMNS)
    # Plain SQL rather than values_list(): this reads every user of the organization, and the
    # ORM's per-value converters cost more than the rest of the preview's reading.
    dates: dict = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {User._meta.db_table} WHERE organization_id = %s ORDER BY id",
            [organization_id],
        )
        users = []
        while rows := cursor.fetchmany(2000):
            users += [snapshot_user(row, today, dates) for row in rows]
    return Snapshot(
        users=tuple(users), emails_in_other_orgs=_emails_elsewhere(organization_id, emails)
    )


def users_digest(snapshot: Snapshot) -> str:
    """Return a digest that changes whenever any user of the snapshot changes."""
    digest = hashlib.sha256()
    for user in sorted(snapshot.users, key=lambda u: u.id):
        digest.update(repr(user).encode())
    return digest.hexdigest()


def _date(value, dates: dict) -> dt.date | None:
    """Return a date column's value as a date (SQLite gives ISO text; many users share one)."""
    if value is None or isinstance(value, dt.date):
        return value
    known = dates.get(value)
    if known is None:
        known = dates[value] = dt.date.fromisoformat(value)
    return known


def snapshot_user(row: tuple, today: dt.date, dates: dict) -> SnapshotUser:
    """Return a row of USER_COLUMNS as a SnapshotUser (`dates` caches the dates read)."""
    # Positional, in the order of USER_COLUMNS: this runs once per user of the organization.
    (
        id_, email, first_name, last_name, title, department, location, employee_id,
        hire_date, manager_id, is_active, is_sync_protected, protected_until, is_staff,
    ) = row  # fmt: skip
    return SnapshotUser(
        id_,
        email,
        first_name,
        last_name,
        title,
        department,
        location,
        employee_id,
        _date(hire_date, dates),
        manager_id,
        bool(is_active),
        is_kept_out_of_sync(is_sync_protected, _date(protected_until, dates), today),
        bool(is_staff),
    )


def _emails_elsewhere(organization_id: int, emails: Iterable[str]) -> frozenset[str]:
    """Return the `emails` that belong to users outside the organization, in one query.

    Users without an organization (support staff) count as outside it.
    """
    wanted = sorted(set(emails))
    if not wanted:
        return frozenset()
    table = User._meta.db_table
    if connection.vendor == "postgresql":
        # One text parameter: 100,000 addresses cost psycopg more as a list than as one string
        # (an email holds no line break: columns.py accepts none).
        matching, parameter = "email = ANY(string_to_array(%s, E'\\n'))", "\n".join(wanted)
    else:
        # One JSON array parameter: SQLite caps the number of parameters of a statement.
        matching, parameter = "email IN (SELECT value FROM json_each(%s))", json.dumps(wanted)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT email FROM {table} WHERE {matching} "
            "AND (organization_id IS NULL OR organization_id <> %s)",
            [parameter, organization_id],
        )
        return frozenset(email for (email,) in cursor.fetchall())
