"""Carry out a previewed run's ImportChange rows with bulk statements.

The caller holds the transaction and the locks (see runs.apply_run); this module only writes.
The preview stored everything apply needs: each new user's reserved id, and the id of every
manager a change sets. So a handful of statements, and no row through Python:

1. insert the new users straight from their changes, in SQL (`INSERT … SELECT`: the values
   come out of the changes' JSON in the database, and never pass through Python);
2. give a placeholder address to the users whose address another change takes (people who
   swap addresses): one statement, which changes no row when nobody does;
3. update, deactivate and reactivate the existing users (`UPDATE … FROM` the changes, again in
   SQL, one statement per 10,000 changes), each only in the columns its change names.

Foreign keys are checked at commit on both databases, so a report may come before their manager.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.utils import timezone

from importer.models import ImportChange
from importer.pipeline.types import ATTRIBUTE_PREFIX, PROFILE_FIELDS
from importer.store import bulk
from users.models import User

ProgressCallback = Callable[[str, int, int], None]

CREATE = ImportChange.Action.CREATE
DEACTIVATE = ImportChange.Action.DEACTIVATE
REACTIVATE = ImportChange.Action.REACTIVATE


# SQLite's page cache while apply writes, in KiB (its default is 2,000). A million new users'
# INSERT … SELECT writes the email and manager indexes in no order; with the default cache most
# index pages were read back from the file for each row: 6.6 s, and 5.1 s with 32 MB (64 MB
# gained nothing more). The memory stays with the process for its next apply.
SQLITE_APPLY_CACHE_KIB = 32 * 1024


def apply_changes(run, progress: ProgressCallback) -> None:
    """Write every change of `run` to its organization's users, exactly as previewed."""
    with bulk.sqlite_page_cache(SQLITE_APPLY_CACHE_KIB):
        _apply_changes(run, progress)


def _apply_changes(run, progress: ProgressCallback) -> None:
    total = run.change_count
    # One statement: no row count until it returns; the page says what it does meanwhile.
    progress("inserting", 0, total)
    created = _insert_users(run) if run.new_count else 0
    progress("applying", created, total)
    if run.changed_count or run.reactivated_count:
        _park_given_away_emails(run)
    done = created
    # A run of new people only skips the statements over its changes to existing users (each
    # reads the run's changes: 0.2 s for a million new people).
    if touches_existing_users(run):
        for updated in _update_users(run):
            done += updated
            progress("applying", done, total)
    progress("applying", total, total)


def touches_existing_users(run) -> bool:
    """Return whether the run changes, deactivates or reactivates anyone already there."""
    return bool(run.changed_count or run.deactivated_count or run.reactivated_count)


def _insert_users(run) -> int:
    """Insert the run's new users, managers included, in one statement; return how many."""
    # One unusable password for all: the users sign in by a reset link or single sign-on.
    constants = bulk.prepare(
        User,
        {
            field.attname: field.get_default()
            for field in User._meta.concrete_fields
            if field.attname not in ("id", *PROFILE_FIELDS, "manager_id", "attributes")
        }
        | {
            "organization_id": run.organization_id,
            "password": make_password(None),
            "date_joined": timezone.now(),
        },
    )
    names = [name for name in PROFILE_FIELDS if name != "email"]
    # A field the file left blank is absent from the change: blank on the new user.
    values = [
        _new_value(name) if name == "hire_date" else f"COALESCE({_new_value(name)}, '')"
        for name in names
    ]
    quote = connection.ops.quote_name
    columns = ", ".join(map(quote, ("id", "email", *names, "manager_id", "attributes", *constants)))
    placeholders = ", ".join(["%s"] * len(constants))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(User._meta.db_table)} ({columns}) "
            f"SELECT user_id, email, {', '.join(values)}, manager_id, {_new_attributes(run)}, "
            f"{placeholders} "
            f"FROM {quote(ImportChange._meta.db_table)} "
            "WHERE run_id = %s AND action = %s AND skipped_reason = '' ORDER BY id",
            [*constants.values(), run.pk, str(CREATE)],
        )
        created = cursor.rowcount
        if connection.vendor == "postgresql" and created >= bulk.ANALYZE_AFTER_ROWS:
            # Fresh planner statistics for the pages opened right after a large import.
            bulk.refresh_statistics(cursor, User._meta.db_table)
    return created


def _new_value(name: str) -> str:
    """Return the SQL for the new value of field `name` in a change's fields, or NULL."""
    if connection.vendor == "postgresql":
        cast = "::date" if name == "hire_date" else ""
        return f"(fields -> '{name}' ->> 1){cast}"
    return f"json_extract(fields, '$.{name}[1]')"


# %% for the driver's placeholders.
def _is_attribute_key(alias: str) -> str:
    """Return the SQL condition that the key `alias.key` of a change's fields is a custom
    attribute's: "attr_<key>" (importer.pipeline.types.ATTRIBUTE_PREFIX)."""
    return rf"{alias}.key LIKE 'attr\_%%' ESCAPE '\'"


# A custom attribute's key (users.CustomAttribute.key), safe to write into the statement.
_KEY = re.compile(r"[a-z][a-z0-9_]*")


def _reads_attributes(run) -> bool:
    """Return whether the run's changes may name custom attributes: False when its preview read
    none (the options it kept list no attribute), True when they do or do not say (a run
    previewed before the options kept them).

    Without attributes, the statements leave the column alone: looking for attr_ keys in each
    change's fields (a `jsonb_each` per row) was about a tenth of a million-row insert.
    """
    return (run.policy or {}).get("attributes", True) != []


def _new_attributes(run) -> str:
    """Return the SQL for a new user's custom attributes: {key: new value} of the change's
    attr_ fields (a creation carries no blank value), {} when it names none.

    The run's copy of its options names the attributes its changes may carry: one JSON object
    built from them per row (absent ones dropped), a third of the time of going through every
    field of the change, and nothing at all for an organization without attributes.
    """
    attributes = (run.policy or {}).get("attributes")
    keys = [attribute["key"] for attribute in attributes or ()]
    if attributes is not None and all(_KEY.fullmatch(key) for key in keys):
        postgresql = connection.vendor == "postgresql"
        if not keys:
            return "'{}'::jsonb" if postgresql else "'{}'"
        if postgresql:
            pairs = ", ".join(f"'{key}', fields -> '{ATTRIBUTE_PREFIX}{key}' -> 1" for key in keys)
            return f"jsonb_strip_nulls(jsonb_build_object({pairs}))"
        pairs = ", ".join(
            f"'{key}', json_extract(fields, '$.{ATTRIBUTE_PREFIX}{key}[1]')" for key in keys
        )
        # json_patch (RFC 7396) leaves out the members that are null: the attributes absent.
        return f"json_patch('{{}}', json_object({pairs}))"
    # A run that kept no list of attributes: each attr_ field of the change.
    if connection.vendor == "postgresql":
        return (
            "COALESCE((SELECT jsonb_object_agg(substr(a.key, 6), a.value -> 1) "
            f"FROM jsonb_each(fields) AS a WHERE {_is_attribute_key('a')}), '{{}}'::jsonb)"
        )
    return (
        "COALESCE((SELECT json_group_object(substr(a.key, 6), json_extract(a.value, '$[1]')) "
        f"FROM json_each(fields) AS a WHERE {_is_attribute_key('a')}), '{{}}')"
    )


def _merged_attributes() -> str:
    """Return the SQL for an updated user's custom attributes: theirs, with each attr_ field of
    the change `c` set to its new value, or removed when that value is blank. Only a change
    that names an attribute touches the column."""
    if connection.vendor == "postgresql":
        return (
            "CASE WHEN EXISTS (SELECT FROM jsonb_each(c.fields) AS a "
            f"WHERE {_is_attribute_key('a')}) THEN (u.attributes - ARRAY(SELECT "
            f"substr(a.key, 6) FROM jsonb_each(c.fields) AS a WHERE {_is_attribute_key('a')})) "
            "|| COALESCE((SELECT jsonb_object_agg(substr(a.key, 6), a.value -> 1) "
            f"FROM jsonb_each(c.fields) AS a WHERE {_is_attribute_key('a')} "
            "AND a.value ->> 1 <> ''), '{}'::jsonb) ELSE u.attributes END"
        )
    # json_patch (RFC 7396) removes the keys whose value is null: the blank ones. A LIKE on
    # the JSON text is the quick test; what it lets through by mistake patches nothing.
    return (
        r"""CASE WHEN c.fields LIKE '%%"attr\_%%' ESCAPE '\' THEN json_patch(u.attributes, """
        "(SELECT json_group_object(substr(a.key, 6), NULLIF(json_extract(a.value, '$[1]'), '')) "
        f"FROM json_each(c.fields) AS a WHERE {_is_attribute_key('a')})) ELSE u.attributes END"
    )


def _park_given_away_emails(run) -> None:
    """Park the address of each user whose address another change of `run` gives away.

    Email is unique, and the users are updated one row at a time: when two people swap
    addresses, the first update would find the other still holding its new address. Parked
    first (as parked-<id>@rostersync.invalid), they take their new addresses one by one.
    """
    quote = connection.ops.quote_name
    new_email = _new_value("email")
    changes = quote(ImportChange._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(User._meta.db_table)} SET email = 'parked-' || id || "
            "'@rostersync.invalid' WHERE organization_id = %s AND id IN ("
            f"SELECT user_id FROM {changes} WHERE run_id = %s AND skipped_reason = '' "
            f"AND action <> %s AND {new_email} IS NOT NULL) AND email IN ("
            f"SELECT {new_email} FROM {changes} WHERE run_id = %s AND skipped_reason = '' "
            f"AND action <> %s AND {new_email} IS NOT NULL)",
            [run.organization_id, run.pk, str(CREATE), run.pk, str(CREATE)],
        )


def _update_users(run) -> Iterator[int]:
    """Update, deactivate and reactivate existing users; yield how many, batch by batch.

    `UPDATE … FROM` the run's changes: each column takes the change's new value when the
    change names the field and keeps its own otherwise, and the values come out of the
    changes' JSON in the database, as for new users. Row by row (an `executemany` of a CASE
    WHEN per column, the values parsed in Python) a change of every user of 100,000 took
    4.2 s on PostgreSQL. One statement per IMPORT_APPLY_BATCH changes (by id), so that progress
    moves during a large apply.
    """
    quote = connection.ops.quote_name
    assignments = []
    for name in PROFILE_FIELDS:
        value = _new_value(name) if name != "hire_date" else _new_date()
        assignments.append(
            f"{quote(name)} = CASE WHEN {_names(name)} THEN {value} ELSE u.{quote(name)} END"
        )
    assignments += [
        f"manager_id = CASE WHEN {_names('manager_email')} THEN c.manager_id ELSE u.manager_id END",
        "is_active = CASE c.action WHEN %s THEN %s WHEN %s THEN %s ELSE u.is_active END",
        # An admin form opened before the import is refused on save.
        "version = u.version + 1",
    ]
    if _reads_attributes(run):
        assignments.append(f"attributes = {_merged_attributes()}")
    changes = quote(ImportChange._meta.db_table)
    # The unary + keeps the run's and the organization's indexes out of the plan: each batch is
    # found by its range of change ids, each user by id. Through the run's index SQLite read
    # every change of the run for each batch (a 100,000-row apply took 2.7 times as long).
    sql = (
        f"UPDATE {quote(User._meta.db_table)} AS u SET {', '.join(assignments)} "
        f"FROM {changes} AS c "
        "WHERE c.id >= %s AND c.id < %s AND +c.run_id = %s AND c.skipped_reason = '' "
        "AND c.action <> %s AND u.id = c.user_id AND +u.organization_id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MIN(id), MAX(id) FROM {changes} "
            "WHERE run_id = %s AND skipped_reason = '' AND action <> %s",
            [run.pk, str(CREATE)],
        )
        first, last = cursor.fetchone()
        if first is None:
            return
        batch = settings.IMPORT_APPLY_BATCH
        for start in range(first, last + 1, batch):
            cursor.execute(
                sql,
                [
                    str(DEACTIVATE),
                    False,
                    str(REACTIVATE),
                    True,
                    start,
                    start + batch,
                    run.pk,
                    str(CREATE),
                    run.organization_id,
                ],
            )
            yield cursor.rowcount


def _names(name: str) -> str:
    """Return the SQL condition that a change's fields name field `name`."""
    if connection.vendor == "postgresql":
        return f"(c.fields -> '{name}') IS NOT NULL"
    return f"json_type(c.fields, '$.{name}') IS NOT NULL"


def _new_date() -> str:
    """Return the SQL for a change's new hire date: a blank one is none."""
    if connection.vendor == "postgresql":
        return "NULLIF(c.fields -> 'hire_date' ->> 1, '')::date"
    return "NULLIF(json_extract(c.fields, '$.hire_date[1]'), '')"
