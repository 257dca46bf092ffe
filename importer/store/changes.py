"""A run's changes as ImportChange rows: written in bulk, as the preview makes them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

import orjson

from importer.models import ImportChange
from importer.pipeline.types import SnapshotUser
from importer.store import bulk
from importer.store.snapshot import user_fingerprint

# The key of insert_changes' count of skipped changes (not an action: none is "skipped").
SKIPPED = "skipped"


def insert_changes(
    run_id: int,
    changes: Iterable,
    ids_by_email: Mapping[str, int],
    users: Mapping[int, SnapshotUser],
    progress=None,
    *,
    every: int = 1000,
    limits_of=None,
) -> Counter:
    """Store a run's changes (importer.pipeline.types.Change) as its ImportChange rows.

    `ids_by_email` gives the user id of everyone the changes name, by their email once the run
    is applied (new people by their reserved ids): a creation stores its new user's id, and a
    change that sets a manager stores the manager's id. Skipped changes are never made, so they
    name no new user or manager. `users` are the users the changes were made against, by id:
    each change made to one keeps that user's fingerprint, which apply checks.
    `limits_of(change)`, when given, returns the limits a change passes
    (importer.pipeline.mass_changes.LimitCheck.passed), stored with it.
    `progress(done)` is offered every `every` rows. Return how many changes of each action are
    made, and under SKIPPED how many are skipped: the run keeps these counts, so that its pages
    never count its changes.
    """
    columns = (
        "run_id", "user_id", "email", "action", "fields", "row", "skipped_reason", "manager_id",
        "search_text", "user_seen", "limits_passed",
    )  # fmt: skip

    def rows() -> Iterator[tuple]:
        for done, change in enumerate(changes, start=1):
            if progress is not None and not done % every:
                progress(done)
            user_id, manager_id, seen = change.user_id, None, ""
            if not change.skipped_reason:
                made[change.action] += 1
                if user_id is None:
                    user_id = ids_by_email[change.email]
                else:
                    seen = user_fingerprint(users[user_id])
                manager = change.fields.get("manager_email")
                if manager and manager[1]:
                    manager_id = ids_by_email[manager[1]]
            else:
                made[SKIPPED] += 1
            yield (
                run_id,
                user_id,
                change.email,
                str(change.action),
                # (old, new) pairs come out as JSON arrays, as the ORM would store [old, new].
                orjson.dumps(change.fields).decode(),
                change.row,
                change.skipped_reason[:200],
                manager_id,
                search_text(change.email, change.fields),
                seen,
                _between_commas(limits_of(change) if limits_of is not None else ()),
            )

    made: Counter = Counter()
    bulk.insert_rows(ImportChange._meta.db_table, columns, rows())
    return made


def _between_commas(kinds) -> str:
    return f",{','.join(kinds)}," if kinds else ""


SEARCHED_FIELDS = ("first_name", "last_name")


def search_text(email: str, fields: Mapping) -> str:
    """Return what the run page's search looks in for a change: its email and the old and new
    first and last names, lower-cased, one space apart (ImportChange.search_text)."""
    text = email
    for name in SEARCHED_FIELDS:
        pair = fields.get(name)
        if pair:  # Once per change: no list made for the two values.
            old, new = pair
            if old:
                text += " " + old
            if new:
                text += " " + new
    return text.lower()
