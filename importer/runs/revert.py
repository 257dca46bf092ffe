"""Undo an applied run: a run of its own (source: revert) that restores its users.

The plan is pure (importer.pipeline.revert_plan); this module loads what it needs and creates
the revert run, previewed at once and applied by the same code as any import (importer.store),
so staleness and the one-import-per-organization lock protect it too.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterable, Sequence

from django.db import connection, transaction
from django.utils import timezone

from importer.models import ImportChange, ImportRun
from importer.pipeline.revert_plan import Conflict, RevertPlan, plan_revert
from importer.pipeline.safeguards import safeguard_message
from importer.pipeline.types import Action, Change, Snapshot, SnapshotUser, field_labels
from importer.runs import events
from importer.runs.selectors import attribute_specs
from importer.runs.services import options_for
from importer.store.changes import SKIPPED, insert_changes
from importer.store.snapshot import USER_COLUMNS, load_snapshot, snapshot_user, users_census
from users.models import User

# --- loading ------------------------------------------------------------------------------------


def can_be_reverted(run: ImportRun) -> bool:
    """Return whether a run is of the kind that can be undone (applied, with changes)."""
    return run.status == ImportRun.Status.APPLIED and run.change_count > 0


def original_changes(run: ImportRun) -> list[Change]:
    """Return the changes a run made, as plain data (skipped ones were never made)."""
    return [
        Change(
            action=Action(change.action),
            email=change.email,
            user_id=change.user_id,
            row=change.row,
            fields={name: (pair[0], pair[1]) for name, pair in change.fields.items()},
        )
        for change in run.changes.filter(skipped_reason="").order_by("id")
    ]


# Later runs whose changes one statement of touched_later reads.
RUNS_PER_QUERY = 500
# The users a run's page names when later runs stand in the way of undoing it; the rest are
# counted.
CONFLICTS_SHOWN = 50


def touched_later(run: ImportRun) -> dict[int, int]:
    """Return {user id: id of the first applied run after `run` that changed the user}.

    One statement, from the later runs' side: their made changes (by the index of a run's
    changes), each kept when `run` changed that user too (a probe of the index on the change's
    user; the unary `+`, as in store.apply, keeps the run's index out, through which SQLite
    read all of `run`'s changes). The users themselves are not read: on PostgreSQL, joining
    them for their emails was half of the 0.17 s this took for a run of a million whose users a
    later run changed 15,000 of.
    """
    if run.finished_at is None:
        return {}
    later_runs = ImportRun.objects.filter(
        organization_id=run.organization_id,
        status=ImportRun.Status.APPLIED,
        finished_at__gt=run.finished_at,
    ).order_by("-finished_at", "-id")
    rank = {run_id: index for index, run_id in enumerate(later_runs.values_list("id", flat=True))}
    if not rank:
        return {}
    changes = ImportChange._meta.db_table
    rows = []
    with connection.cursor() as cursor:
        # The later runs by their ids: with a subquery PostgreSQL read every change there is.
        for batch in _batches(list(rank), RUNS_PER_QUERY):
            cursor.execute(
                f"SELECT l.user_id, l.run_id FROM {changes} l "
                f"WHERE l.run_id IN ({', '.join(['%s'] * len(batch))}) "
                "AND l.skipped_reason = '' AND l.user_id IS NOT NULL AND EXISTS ("
                f"SELECT 1 FROM {changes} m WHERE m.user_id = l.user_id AND +m.run_id = %s)",
                [*batch, run.pk],
            )
            rows += cursor.fetchall()
    # Newest first, so the dictionary ends up holding the earliest later run of each user.
    rows.sort(key=lambda row: rank[row[1]])
    return dict(rows)


def later_run_conflicts(run: ImportRun) -> tuple[int, tuple[Conflict, ...]]:
    """Return how many of the run's users later applied runs changed, and CONFLICTS_SHOWN of
    them (those of the lowest ids, by email): the cheap part of the check.

    For runs too large to plan on every page view; creating the revert run checks the rest.
    Only the users shown are read, for their emails.
    """
    touched = touched_later(run)
    shown = heapq.nsmallest(CONFLICTS_SHOWN, touched)
    emails = dict(
        User.objects.filter(pk__in=shown, organization_id=run.organization_id).values_list(
            "pk", "email"
        )
    )
    conflicts = (
        Conflict(
            emails.get(user_id, "(no longer in this organization)"),
            f"Changed since this import, by import #{touched[user_id]}.",
        )
        for user_id in shown
    )
    return len(touched), tuple(sorted(conflicts, key=lambda conflict: conflict.email))


def revert_plan(run: ImportRun, *, today: dt.date, snapshot: Snapshot | None = None) -> RevertPlan:
    """Return how to undo `run` now, or which users stand in the way.

    Without `snapshot`, only the users the plan needs are loaded (a few queries, whatever the
    size of the organization), which is what the run page uses.
    """
    original = original_changes(run)
    if snapshot is None:
        snapshot = _users_for(run.organization_id, original, today=today)
    labels = field_labels(attribute_specs(run.organization_id))
    return plan_revert(original, snapshot, touched_later(run), labels)


def _users_for(organization_id: int, original: Sequence[Change], *, today: dt.date) -> Snapshot:
    ids = {change.user_id for change in original if change.user_id is not None}
    emails = {
        change.fields["manager_email"][0]
        for change in original
        if change.fields.get("manager_email", ("", ""))[0]
    }
    found: dict[int, SnapshotUser] = {}
    dates: dict = {}

    def load(**lookup) -> list[SnapshotUser]:
        rows = User.objects.filter(organization_id=organization_id, **lookup).values_list(
            *USER_COLUMNS
        )
        loaded = [snapshot_user(row, today, dates) for row in rows]
        found.update((user.id, user) for user in loaded)
        return loaded

    # The ids and emails can be many: the database takes them in batches.
    for batch in _batches(sorted(ids)):
        load(id__in=batch)
    manager_ids = {u.manager_id for u in found.values() if u.manager_id} - found.keys()
    for batch in _batches(sorted(manager_ids)):
        load(id__in=batch)
    for batch in _batches(sorted(emails)):
        load(email__in=batch)
    return Snapshot(users=tuple(found.values()))


def _batches(values: list, size: int = 5000):
    for start in range(0, len(values), size):
        yield values[start : start + size]


# Runs with more changes get only the check against later runs on their page.
REVERT_CHECK_MAX_CHANGES = 5000


class RevertRefused(Exception):
    """The run cannot be reverted now; the message says why."""


def create_revert_run(run: ImportRun, *, acting_user: User | None) -> ImportRun:
    """Return a new run, ready to import, whose changes undo the applied run `run`.

    The revert run is previewed at once (status READY, the census of now), so the normal
    Import button applies it through apply_run, which refuses it as stale if users change
    meanwhile. Raise RevertRefused when the run cannot be undone, naming the users in conflict.
    """
    if not can_be_reverted(run):
        raise RevertRefused(
            "Only an import that was applied and changed something can be reverted."
        )
    today = timezone.localdate()
    with transaction.atomic():
        snapshot = load_snapshot(run.organization_id, today=today)
        plan = revert_plan(run, today=today, snapshot=snapshot)
        if plan.conflicts:
            named = "; ".join(f"{c.email}: {c.reason}" for c in plan.conflicts[:10])
            more = len(plan.conflicts) - 10
            raise RevertRefused(
                f"Import #{run.pk} cannot be reverted: {len(plan.conflicts)} of its users changed "
                f"since. {named}{f' … and {more} more' if more > 0 else ''}"
            )
        if not plan.changes:
            raise RevertRefused(
                f"Nothing of import #{run.pk} is left to undo: its users are already as before it."
            )
        counts = {action: 0 for action in ImportChange.Action.values}
        for change in plan.changes:
            counts[str(change.action)] += 1
        # Undoing a large import deactivates the people it created: the same safeguard as an
        # import's asks for a second confirmation before that happens.
        safeguard = safeguard_message(
            deactivations=counts["deactivate"],
            active_users=sum(1 for user in snapshot.users if user.is_active),
            row_count=0,
            last_row_count=None,  # A revert has no file: the row-count check does not apply.
            limits=options_for(run.organization, acting_user).limits,
        )
        now = timezone.now()
        reverting = ImportRun.objects.create(
            organization_id=run.organization_id,
            source=ImportRun.Source.REVERT,
            trigger=ImportRun.Trigger.MANUAL,
            created_by=acting_user,
            reverts=run,
            input_name=f"Revert of import #{run.pk}",
            status=ImportRun.Status.READY,
            new_count=counts["create"],
            changed_count=counts["update"],
            deactivated_count=counts["deactivate"],
            reactivated_count=counts["reactivate"],
            users_digest=users_census(snapshot),
            safeguard_message=safeguard or "",
            previewed_at=now,
        )
        made = insert_changes(
            reverting.pk,
            plan.changes,
            ids_after(plan.changes, snapshot.users),
            {user.id: user for user in snapshot.users},
        )
        if made[SKIPPED]:
            reverting.skipped_count = made[SKIPPED]
            reverting.save(update_fields=["skipped_count"])
        events.revert_created_event(run=reverting, acting_user=acting_user)
    return reverting


def ids_after(changes: Sequence[Change], users: Iterable[SnapshotUser]) -> dict[str, int]:
    """Return the user id of everyone a revert's `changes` may name, by their email then.

    A manager may be named by an address the revert gives back to them, or by the one they
    keep. A revert creates no one (it deactivates whom the import created); a preview's ids
    come from diff.PeopleByEmail.
    """
    ids = {user.email: user.id for user in users}
    ids.update((change.email, change.user_id) for change in changes)
    return ids


def revert_state(run: ImportRun) -> dict:
    """Return what the run page shows of undoing `run`: whether it can be, or was, undone.

    `reverted_in` is the applied run that undid this one, `revert_waiting` a revert previewed
    but not imported yet. For an applied run with changes, `revert_checked` is set with
    `revert_conflicts` (CONFLICTS_SHOWN of the users in the way), `revert_conflict_count` (all
    of them), `revert_conflicts_not_shown` and `revert_nothing_left`. Runs with more than
    REVERT_CHECK_MAX_CHANGES changes get only the check against later runs here; creating the
    revert run checks the rest.
    """
    reverts = {
        status: run_id
        for run_id, status in run.reverted_by.filter(
            status__in=[ImportRun.Status.READY, ImportRun.Status.APPLYING, ImportRun.Status.APPLIED]
        )
        .order_by("id")
        .values_list("id", "status")
    }
    context = {
        "reverted_in": reverts.get(ImportRun.Status.APPLIED),
        "revert_waiting": reverts.get(ImportRun.Status.APPLYING)
        or reverts.get(ImportRun.Status.READY),
    }
    if can_be_reverted(run) and not context["reverted_in"] and not context["revert_waiting"]:
        if run.change_count <= REVERT_CHECK_MAX_CHANGES:
            plan = revert_plan(run, today=timezone.localdate())
            count, conflicts = len(plan.conflicts), plan.conflicts[:CONFLICTS_SHOWN]
            nothing_left = not plan.conflicts and not plan.changes
        else:
            (count, conflicts), nothing_left = later_run_conflicts(run), False
        context.update(
            revert_checked=True,
            revert_conflicts=conflicts,
            revert_conflict_count=count,
            revert_conflicts_not_shown=count - len(conflicts),
            revert_nothing_left=nothing_left,
        )
    return context
