"""Undo an applied run: the changes that restore every user it touched to their state before it.

A revert is a run of its own (source: revert) whose changes are the original run's, turned
around: old ↔ new for every field, deactivate ↔ reactivate, and users the run created are
deactivated (they cannot be deleted: History and other records point at them). It is previewed
like any other run and applied by the same code (importer.apply), so staleness and the
one-import-per-organization lock protect it too.

A run can be reverted only while nothing else changed the same users since: a later applied
run touching one of them, or an edit outside imports to a value the run set (Django admin, say).
Those users are reported as conflicts and nothing is reverted, since the revert would silently
overwrite the later change.

`plan_revert` is pure; `revert_plan` loads its inputs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from importer.models import ImportChange, ImportRun
from importer.pipeline.diff import display
from importer.pipeline.types import FIELD_LABELS, Action, Change, Snapshot, SnapshotUser
from importer.store.snapshot import USER_COLUMNS, snapshot_user
from users.models import User

_REVERSED_ACTION = {
    Action.UPDATE: Action.UPDATE,
    Action.DEACTIVATE: Action.REACTIVATE,
    Action.REACTIVATE: Action.DEACTIVATE,
    Action.CREATE: Action.DEACTIVATE,
}


@dataclass(frozen=True)
class Conflict:
    """A user the revert cannot restore, and why, in words for the run page."""

    email: str
    reason: str


@dataclass(frozen=True)
class RevertPlan:
    changes: tuple[Change, ...]
    conflicts: tuple[Conflict, ...]

    @property
    def is_possible(self) -> bool:
        return not self.conflicts and bool(self.changes)


def plan_revert(
    original: Iterable[Change], snapshot: Snapshot, touched_later: Mapping[int, int]
) -> RevertPlan:
    """Return the changes that undo `original` on the users of `snapshot`, or the conflicts.

    `original` are the changes an applied run made, each with its user's id (set for created
    users too). `touched_later` maps the id of a user a later applied run changed to that run's
    id. `snapshot` holds at least the run's users, their managers and the users that hold the
    emails the revert gives back to managers. With any conflict no change is planned.
    """
    users = {user.id: user for user in snapshot.users}
    conflicts: list[Conflict] = []
    changes: list[Change] = []
    for change in original:
        user = users.get(change.user_id) if change.user_id is not None else None
        reason = _conflict(change, user, users, touched_later)
        if reason:
            conflicts.append(Conflict(user.email if user else change.email, reason))
            continue
        reverse = _reverse(change, user)
        if reverse is not None:
            changes.append(reverse)
    if not conflicts:
        conflicts = _missing_managers(changes, users)
    if conflicts:
        return RevertPlan(changes=(), conflicts=tuple(conflicts))
    return RevertPlan(changes=tuple(changes), conflicts=())


def _conflict(
    change: Change,
    user: SnapshotUser | None,
    users: Mapping[int, SnapshotUser],
    touched_later: Mapping[int, int],
) -> str:
    if user is None:
        return "This user no longer exists."
    if user.id in touched_later:
        return f"Import #{touched_later[user.id]} changed this user later."
    if user.is_protected:
        return "This user is now kept out of sync, so imports may not change them."
    if change.action == Action.CREATE:
        return ""  # Deactivating a created user undoes it, whatever was edited since.
    for name, (_old, new) in change.fields.items():
        current = _current(user, name, users)
        if current != new:
            label = FIELD_LABELS.get(name, name)
            return (
                f"{label} is now “{current or '(empty)'}”, not “{new or '(empty)'}” as the import "
                "left it: it was changed outside imports since."
            )
    if change.action == Action.DEACTIVATE and user.is_active:
        return "This user was reactivated outside imports since."
    if change.action == Action.REACTIVATE and not user.is_active:
        return "This user was deactivated outside imports since."
    return ""


def _current(user: SnapshotUser, name: str, users: Mapping[int, SnapshotUser]) -> str:
    if name == "manager_email":
        manager = users.get(user.manager_id) if user.manager_id else None
        return manager.email if manager else ""
    return display(getattr(user, name))


def _reverse(change: Change, user: SnapshotUser) -> Change | None:
    if change.action == Action.CREATE:
        if not user.is_active:
            return None  # Already deactivated since: nothing left to undo.
        return Change(Action.DEACTIVATE, user.email, user.id)
    fields = {name: (new, old) for name, (old, new) in change.fields.items()}
    # apply.py finds a user's row by the email they have once the change is made.
    email = fields["email"][1] if "email" in fields else user.email
    return Change(_REVERSED_ACTION[change.action], email, user.id, None, fields)


def _missing_managers(
    changes: Sequence[Change], users: Mapping[int, SnapshotUser]
) -> list[Conflict]:
    """Report restored managers whose email no user will have (apply finds managers by email)."""
    email_of = {user.id: user.email for user in users.values()}
    for change in changes:
        if "email" in change.fields:
            email_of[change.user_id] = change.fields["email"][1]
    emails = set(email_of.values())
    conflicts = []
    for change in changes:
        manager_email = change.fields.get("manager_email", ("", ""))[1]
        if manager_email and manager_email not in emails:
            conflicts.append(
                Conflict(
                    change.email,
                    f"The previous manager {manager_email} no longer has that address.",
                )
            )
    return conflicts


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


def touched_later(run: ImportRun) -> dict[int, int]:
    """Return {user id: id of the first applied run after `run` that changed the user}."""
    if run.finished_at is None:
        return {}
    rows = (
        ImportChange.objects.filter(
            run__organization_id=run.organization_id,
            run__status=ImportRun.Status.APPLIED,
            run__finished_at__gt=run.finished_at,
            skipped_reason="",
            user_id__in=run.changes.exclude(user=None).values("user_id"),
        )
        .order_by("-run__finished_at", "-run_id")
        .values_list("user_id", "run_id")
    )
    # Newest first, so the dictionary ends up holding the earliest later run of each user.
    return dict(rows)


def later_run_conflicts(run: ImportRun) -> tuple[Conflict, ...]:
    """Return the run's users that later applied runs changed: the cheap part of the check.

    For runs too large to plan on every page view; creating the revert run checks the rest.
    """
    touched = touched_later(run)
    emails: dict[int, str] = {}
    for batch in _batches(sorted(touched)):
        emails.update(User.objects.filter(id__in=batch).values_list("id", "email"))
    return tuple(
        Conflict(
            emails.get(user_id, "(deleted user)"), f"Import #{run_id} changed this user later."
        )
        for user_id, run_id in sorted(touched.items(), key=lambda item: emails.get(item[0], ""))
    )


def revert_plan(run: ImportRun, *, today: dt.date, snapshot: Snapshot | None = None) -> RevertPlan:
    """Return how to undo `run` now, or which users stand in the way.

    Without `snapshot`, only the users the plan needs are loaded (a few queries, whatever the
    size of the organization), which is what the run page uses.
    """
    original = original_changes(run)
    if snapshot is None:
        snapshot = _users_for(run.organization_id, original, today=today)
    return plan_revert(original, snapshot, touched_later(run))


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
