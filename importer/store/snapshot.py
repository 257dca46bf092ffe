"""The organization's users as plain data for the diff: one query, plus one for taken emails."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from operator import attrgetter

import orjson
from django.db import connection

from importer.models import ImportChange
from importer.pipeline.types import Snapshot, SnapshotUser
from users.managers import is_kept_out_of_sync
from users.models import User

# The columns whose values sqlite3 would convert one by one, read as stored instead.
_SQLITE_RAW = {
    "hire_date": "TEXT",
    "sync_protected_until": "TEXT",
    "is_active": "INTEGER",
    "is_sync_protected": "INTEGER",
    "is_staff": "INTEGER",
}


# Users read from the database at a time.
SNAPSHOT_BATCH = 5000
# Addresses looked for in other organizations per query.
EMAILS_BATCH = 100_000
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
    "version",
    "attributes",
)


def load_snapshot(
    organization_id: int,
    *,
    today: dt.date,
    emails: Iterable[str] = (),
    shared: dict[str, str] | None = None,
) -> Snapshot:
    """Return the organization's users, and which of `emails` other organizations already use.

    `shared` ({text: the same text}) is where each user's texts are looked up first: with the
    file's emails and employee IDs in it, a user the file describes holds the record's own
    strings rather than copies (a million users' addresses and IDs are 130 MB). Users' texts
    are added to it.
    """
    columns = ", ".join(map(_selected, USER_COLUMNS))
    # Plain SQL rather than values_list(): this reads every user of the organization, and the
    # ORM's per-value converters cost more than the rest of the preview's reading. A chunked
    # cursor (server-side on PostgreSQL, whose driver would otherwise hold the whole result:
    # a gigabyte for a million users) hands the rows over a batch at a time.
    dates: dict = {}
    if shared is None:
        shared = {}
    table = User._meta.db_table
    with connection.chunked_cursor() as cursor:
        # Sorted by id below, not by the database: rows come in the order of the index the
        # database reads them by, (organization, is_active, id) or id, one or two sorted runs
        # that Python merges in 0.1 s for a million (SQLite's sort took 0.7-1.5 s).
        cursor.execute(
            f"SELECT {columns} FROM {table} {_sqlite_scan(organization_id)} "
            "WHERE organization_id = %s",
            [organization_id],
        )
        users = []
        while rows := cursor.fetchmany(SNAPSHOT_BATCH):
            users += [snapshot_user(row, today, dates, shared) for row in rows]
    users.sort(key=_by_id)
    return Snapshot(
        users=tuple(users),
        emails_in_other_orgs=_emails_elsewhere(
            organization_id, emails, own={user.email for user in users}
        ),
    )


_by_id = attrgetter("id")


def _sqlite_scan(organization_id: int) -> str:
    """Return how SQLite should read the organization's users: "NOT INDEXED" (the whole table,
    in id order) when they are most of the table, else "" (by the organization index).

    SQLite has no statistics to choose by: it always took the index, and looking up each row
    from the index costs more than reading the rows it skips when they are few (a million
    users of one organization: 0.7 s more). PostgreSQL's planner chooses for itself.
    """
    if connection.vendor != "sqlite":
        return ""
    table = User._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT COUNT(*) FROM {table} WHERE organization_id = %s), "
            f"(SELECT COUNT(*) FROM {table})",
            [organization_id],
        )
        own, everyone = cursor.fetchone()
    return "NOT INDEXED" if own * 2 > everyone else ""


def _selected(column: str) -> str:
    """Return the snapshot query's SQL for `column` of the users table."""
    quoted = connection.ops.quote_name(column)
    if connection.vendor == "postgresql" and column == "attributes":
        # The custom attributes as their JSON text, which _attributes reads ("{}" for most
        # users): psycopg's jsonb loader runs json.loads for every row, 4 of the 6 s that
        # fetching a million users took.
        return f"{quoted}::text"
    if connection.vendor == "sqlite" and column in _SQLITE_RAW:
        # Without the declared type, sqlite3 calls no converter for each value (Django's turn
        # dates and booleans into objects one by one): _date reads each distinct day once.
        return f"CAST({quoted} AS {_SQLITE_RAW[column]})"
    return quoted


def users_census(snapshot: Snapshot) -> str:
    """Return the snapshot's census: how many users, the largest id, the sum of the versions.

    A user added to the organization (by an admin or another import), removed from it or
    moved out of it changes the census, and so does any import or admin save (each adds one to
    the user's version): the preview no longer shows what importing would do. `current_census`
    reads the same from the database in one aggregate, without bringing the users to Python.
    """
    users = snapshot.users
    return _census(len(users), users[-1].id if users else None, sum(user.version for user in users))


def _census(count: int, largest_id: int | None, versions: int | None) -> str:
    return f"{count} users up to id {largest_id or 0}, versions {versions or 0}"


def current_census(organization_id: int) -> str:
    """Return the organization's census (see `users_census`) as its users are now."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*), MAX(id), SUM(version) FROM {User._meta.db_table} "
            "WHERE organization_id = %s",
            [organization_id],
        )
        return _census(*cursor.fetchone())


def user_fingerprint(user: SnapshotUser) -> str:
    """Return 16 hex digits that change whenever anything the diff sees of `user` changes.

    Each change a preview stores keeps its user's fingerprint; apply compares it with the user
    as they are then (`changed_people`), whatever wrote the user (an admin's save, another
    import, a plain UPDATE that leaves `version` as it was). It is the MD5 of
    `fingerprint_text`, which PostgreSQL computes as well (`_fingerprint_sql`), so that apply
    compares there without bringing the users to Python.
    """
    return hashlib.md5(fingerprint_text(user).encode(), usedforsecurity=False).hexdigest()[:16]


def fingerprint_text(user: SnapshotUser) -> str:
    """Return the text a user's fingerprint digests: each field in order, texts prefixed by
    their length (so that no two users give the same text), dates in ISO form, none as ''."""
    texts = (
        user.email,
        user.first_name,
        user.last_name,
        user.title,
        user.department,
        user.location,
        user.employee_id,
    )
    return "|".join(
        (
            str(user.id),
            *(f"{len(text)}:{text}" for text in texts),
            user.hire_date.isoformat() if user.hire_date else "",
            "" if user.manager_id is None else str(user.manager_id),
            "1" if user.is_active else "0",
            "1" if user.is_protected else "0",
            "1" if user.is_staff else "0",
            str(user.version),
        )
    ) + _attributes_text(user.attributes)


def _attributes_text(attributes: dict[str, str] | None) -> str:
    """Return the custom attributes' part of fingerprint_text: "" for none (so a user without
    any keeps the fingerprint of before custom attributes), else "|" and each key=value by key,
    both prefixed by their length."""
    if not attributes:
        return ""
    return "|" + ",".join(
        f"{len(key)}:{key}={len(text)}:{text}"
        for key, text in sorted((key, str(value)) for key, value in attributes.items())
    )


def _fingerprint_sql() -> str:
    """Return PostgreSQL's `user_fingerprint` of the users row `u` (one parameter: today)."""
    texts = ("email", "first_name", "last_name", "title", "department", "location", "employee_id")
    parts = [
        "u.id::text",
        *(f"length(u.{name}) || ':' || u.{name}" for name in texts),
        "COALESCE(to_char(u.hire_date, 'YYYY-MM-DD'), '')",
        "COALESCE(u.manager_id::text, '')",
        "CASE WHEN u.is_active THEN '1' ELSE '0' END",
        # users.managers.is_kept_out_of_sync, on the day given.
        "CASE WHEN u.is_sync_protected AND (u.sync_protected_until IS NULL "
        "OR %s::date <= u.sync_protected_until) THEN '1' ELSE '0' END",
        "CASE WHEN u.is_staff THEN '1' ELSE '0' END",
        "u.version::text",
    ]
    text = " || '|' || ".join(parts)
    # _attributes_text: keys compared byte by byte, as Python sorts them (a key is ASCII). A user
    # without any (most) skips the subquery over jsonb_each_text: it was a third of the check.
    attributes = (
        "CASE WHEN u.attributes = '{}'::jsonb THEN '' ELSE "
        "COALESCE('|' || (SELECT string_agg(length(a.key) || ':' || a.key || '=' || "
        "length(a.value) || ':' || a.value, ',' ORDER BY a.key COLLATE \"C\") "
        "FROM jsonb_each_text(u.attributes) AS a), '') END"
    )
    return f"substr(md5({text} || {attributes}), 1, 16)"


def changed_people(run_id: int, organization_id: int, *, today: dt.date) -> int:
    """Return how many users a run's changes touch have changed since its preview.

    Only the run's own users are read, joined to its changes: a user whose fingerprint differs
    from the one the preview stored counts, and so does one who is gone from the organization.
    PostgreSQL compares the fingerprints itself and returns the count (100,000 users
    fingerprinted in Python took about 0.4 s); SQLite, which has no digest function, hands the
    users to Python.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT COUNT(*) {_changes_and_users()} "
                f"AND (u.id IS NULL OR {_fingerprint_sql()} <> c.user_seen)",
                [organization_id, run_id, today],
            )
            return cursor.fetchone()[0]
    return len(changed_people_changes(run_id, organization_id, today=today))


def changed_people_changes(run_id: int, organization_id: int, *, today: dt.date) -> list[int]:
    """Return the ids of a run's made changes whose user changed since the preview (or is gone),
    in id order: what changed_people counts, for a held part that refuses only those."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT c.id {_changes_and_users()} "
                f"AND (u.id IS NULL OR {_fingerprint_sql()} <> c.user_seen) ORDER BY c.id",
                [organization_id, run_id, today],
            )
            return [row[0] for row in cursor.fetchall()]
        quote = connection.ops.quote_name
        columns = ", ".join(f"u.{quote(column)}" for column in USER_COLUMNS)
        dates: dict = {}
        changed = []
        cursor.execute(
            f"SELECT c.id, c.user_seen, {columns} {_changes_and_users()} ORDER BY c.id",
            [organization_id, run_id],
        )
        while rows := cursor.fetchmany(2000):
            for row in rows:
                if (
                    row[2] is None
                    or user_fingerprint(snapshot_user(row[2:], today, dates)) != row[1]
                ):
                    changed.append(row[0])
    return changed


def _changes_and_users() -> str:
    """Return the FROM … WHERE of a run's made changes to existing users, each joined to its
    user in the organization (parameters: the organization's id, the run's id)."""
    return (
        f"FROM {ImportChange._meta.db_table} c "
        f"LEFT JOIN {User._meta.db_table} u ON u.id = c.user_id AND u.organization_id = %s "
        "WHERE c.run_id = %s AND c.skipped_reason = '' AND c.action <> 'create'"
    )


def _date(value, dates: dict) -> dt.date | None:
    """Return a date column's value as a date (SQLite gives ISO text; many users share one)."""
    known = dates.get(value)
    if known is None:
        if value is None:
            return None
        # A date from PostgreSQL is kept too: one object per day for all the users hired then.
        known = dates[value] = value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
    return known


def snapshot_user(
    row: tuple, today: dt.date, dates: dict, shared: dict | None = None
) -> SnapshotUser:
    """Return a row of USER_COLUMNS as a SnapshotUser (`dates` caches the dates read).

    With `shared`, the text of names, titles, departments and locations is one object per
    distinct value (the database gives a new string for each): a third less memory for a
    snapshot of a million users. So are the email and employee ID, when `shared` holds them
    (see load_snapshot).
    """
    # Positional, in the order of USER_COLUMNS: this runs once per user of the organization.
    (
        id_, email, first_name, last_name, title, department, location, employee_id,
        hire_date, manager_id, is_active, is_sync_protected, protected_until, is_staff, version,
        attributes,
    ) = row  # fmt: skip
    if shared is not None:
        share = shared.setdefault
        first_name = share(first_name, first_name)
        last_name = share(last_name, last_name)
        title = share(title, title)
        department = share(department, department)
        location = share(location, location)
        email = shared.get(email, email)
        employee_id = shared.get(employee_id, employee_id)
    return SnapshotUser(
        id_,
        email,
        first_name,
        last_name,
        title,
        department,
        location,
        employee_id,
        None if hire_date is None else _date(hire_date, dates),
        manager_id,
        bool(is_active),
        # Per user: the rule is called only for the few kept out of sync.
        bool(is_sync_protected)
        and is_kept_out_of_sync(is_sync_protected, _date(protected_until, dates), today),
        bool(is_staff),
        version,
        None if not attributes or attributes == "{}" else _attributes(attributes, shared),
    )


def _attributes(value, shared: dict | None) -> dict[str, str] | None:
    """Return a user's custom attributes as read from the database: None for none (most users
    of most organizations, and a dict each would cost memory at a million), else {key: text}.

    SQLite and PostgreSQL's raw cursor give JSON text; the ORM gives the dict.
    """
    if not value or value == "{}":
        return None
    if isinstance(value, str):
        value = orjson.loads(value)  # a third of json.loads' time, once per user
        if not value:
            return None
    if shared is not None:
        # Choices and the like repeat across users: one string object per distinct value.
        share = shared.setdefault
        return {share(key, key): share(text, text) for key, text in value.items()}
    return value


def _emails_elsewhere(
    organization_id: int, emails: Iterable[str], own: frozenset[str] | set[str] = frozenset()
) -> frozenset[str]:
    """Return the `emails` that belong to users outside the organization.

    Users without an organization (support staff) count as outside it. `own` are addresses of
    the organization's users, read with the snapshot: an address is unique among all users, so
    none of them is looked for (a next file's million addresses are nearly all its own; on
    PostgreSQL each is an index probe and a heap fetch, 3 s at a million).

    From the smaller side: when the other organizations' users are fewer than a
    READ_OTHERS_BELOW-th of the addresses looked for (a new company's first file of a million
    people, on a platform of smaller ones), their addresses are read and kept where the file
    has them; otherwise the file's addresses are looked for, EMAILS_BATCH per query. A million
    looked for took 1.2 s on SQLite.
    """
    wanted = {email for email in emails if email not in own}
    if not wanted:
        return frozenset()
    table = User._meta.db_table
    # By ranges of the organization index, which `<>` would not use.
    outside = "(organization_id IS NULL OR organization_id < %s OR organization_id > %s)"
    # At least 1, so that a preview runs as many statements whatever the size of its file.
    enough = max(1, len(wanted) // READ_OTHERS_BELOW)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE {outside} LIMIT %s) AS o",
            [organization_id, organization_id, enough],
        )
        if cursor.fetchone()[0] < enough:
            cursor.execute(
                f"SELECT email FROM {table} WHERE {outside}", [organization_id, organization_id]
            )
            return frozenset(email for (email,) in cursor.fetchall() if email in wanted)
        return _looked_for(cursor, sorted(wanted), outside, organization_id)


# The other organizations' users are read instead of the file's addresses looked for when they
# are fewer than the addresses divided by this (reading a row costs less than a look-up).
READ_OTHERS_BELOW = 4


def _looked_for(cursor, wanted: list[str], outside: str, organization_id: int) -> frozenset[str]:
    """Return those of `wanted` that users outside the organization have: a query for each
    EMAILS_BATCH of them."""
    table = User._meta.db_table
    taken: set[str] = set()
    # In batches: the parameter of a million addresses would be 80 MB of text more at the
    # preview's peak, beside the records and the snapshot.
    for start in range(0, len(wanted), EMAILS_BATCH):
        batch = wanted[start : start + EMAILS_BATCH]
        if connection.vendor == "postgresql":
            # One text parameter: 100,000 addresses cost psycopg more as a list than as one
            # string (an email holds no line break: columns.py accepts none).
            matching, parameter = "email = ANY(string_to_array(%s, E'\\n'))", "\n".join(batch)
        else:
            # One JSON array parameter: SQLite caps the number of parameters of a statement.
            matching, parameter = "email IN (SELECT value FROM json_each(%s))", json.dumps(batch)
        del batch
        cursor.execute(
            f"SELECT email FROM {table} WHERE {matching} AND {outside}",
            [parameter, organization_id, organization_id],
        )
        taken.update(email for (email,) in cursor.fetchall())
    return frozenset(taken)
