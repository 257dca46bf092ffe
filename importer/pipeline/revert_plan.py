"""Plan the undoing of an applied run: its changes turned around, or the users in the way.

A revert's changes are the original run's, turned around: old ↔ new for every field,
deactivate ↔ reactivate, and users the run created are deactivated (they cannot be deleted:
History and other records point at them). A user that something else changed since the run (a
later applied run, or an edit outside imports to a value the run set) is a conflict, and with
any conflict nothing is planned: the revert would silently overwrite the later change.

Pure: plain changes and a snapshot in, a RevertPlan out. importer.runs.revert loads the inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from importer.pipeline.diff import display
from importer.pipeline.types import (
    ATTRIBUTE_PREFIX,
    FIELD_LABELS,
    Action,
    Change,
    Snapshot,
    SnapshotUser,
    is_attribute,
)

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
    original: Iterable[Change],
    snapshot: Snapshot,
    touched_later: Mapping[int, int],
    labels: Mapping[str, str] = FIELD_LABELS,
) -> RevertPlan:
    """Return the changes that undo `original` on the users of `snapshot`, or the conflicts.

    `original` are the changes an applied run made, each with its user's id (set for created
    users too). `touched_later` maps the id of a user a later applied run changed to that run's
    id. `snapshot` holds at least the run's users, their managers and the users that hold the
    emails the revert gives back to managers. With any conflict no change is planned.
    `labels` name the fields in a conflict's reason (types.field_labels for custom attributes).
    """
    users = {user.id: user for user in snapshot.users}
    conflicts: list[Conflict] = []
    changes: list[Change] = []
    for change in original:
        user = users.get(change.user_id) if change.user_id is not None else None
        reason = _conflict(change, user, users, touched_later, labels)
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
    labels: Mapping[str, str] = FIELD_LABELS,
) -> str:
    """Return why `change` cannot be undone, or "". Every reason is worded one way: what
    happened since this import ("Changed since this import, …"), then by what or how."""
    if user is None:
        return "Deleted since this import."
    if user.id in touched_later:
        return f"Changed since this import, by import #{touched_later[user.id]}."
    if user.is_protected:
        return "Kept out of sync since this import: no import may change this user."
    if change.action == Action.CREATE:
        return ""  # Deactivating a created user undoes it, whatever was edited since.
    for name, (_old, new) in change.fields.items():
        current = _current(user, name, users)
        if current != new:
            label = labels.get(name, name)
            return (
                f"Changed since this import, outside imports: {label} is now "
                f"“{current or '(empty)'}”, not “{new or '(empty)'}” as the import left it."
            )
    if change.action == Action.DEACTIVATE and user.is_active:
        return "Reactivated since this import, outside imports."
    if change.action == Action.REACTIVATE and not user.is_active:
        return "Deactivated since this import, outside imports."
    return ""


def _current(user: SnapshotUser, name: str, users: Mapping[int, SnapshotUser]) -> str:
    if name == "manager_email":
        manager = users.get(user.manager_id) if user.manager_id else None
        return manager.email if manager else ""
    if is_attribute(name):
        return (user.attributes or {}).get(name.removeprefix(ATTRIBUTE_PREFIX), "")
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
                    f"Changed since this import: the previous manager {manager_email} no longer "
                    "has that address.",
                )
            )
    return conflicts
