"""Carry out a previewed run's ImportChange rows with bulk statements.

The caller holds the transaction and the locks (see runs.apply_run); this module only writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.contrib.auth.hashers import make_password

from users.models import User

from .models import ImportChange, ImportRun

BATCH_SIZE = 1000
ProgressCallback = Callable[[str, int, int], None]


def apply_changes(run: ImportRun, progress: ProgressCallback) -> None:
    """Write every change of `run` to its organization's users, exactly as previewed."""
    changes = list(run.changes.order_by("id"))
    total = len(changes)
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        progress("applying", done, total)

    progress("applying", 0, total)
    created = _create_users(run, [c for c in changes if c.action == ImportChange.Action.CREATE])
    advance(len(created))
    existing = [c for c in changes if c.action != ImportChange.Action.CREATE]
    for start in range(0, len(existing), BATCH_SIZE):
        batch = existing[start : start + BATCH_SIZE]
        _update_users(run, batch)
        advance(len(batch))
    _set_managers(run, changes)
    for change in changes:
        if change.action == ImportChange.Action.CREATE:
            change.user_id = created[change.email]
    ImportChange.objects.bulk_update(
        [c for c in changes if c.action == ImportChange.Action.CREATE], ["user"], batch_size=BATCH_SIZE
    )


def _new_values(change: ImportChange) -> dict:
    values = {}
    for name, (_old, new) in change.fields.items():
        if name == "manager_email":
            continue
        values[name] = (dt.date.fromisoformat(new) if new else None) if name == "hire_date" else new
    return values


def _create_users(run: ImportRun, changes: list[ImportChange]) -> dict[str, int]:
    """Create the run's new users (managers come later); return their ids by email."""
    # One unusable password for all: the users sign in by a reset link or single sign-on.
    password = make_password(None)
    users = [
        User(
            organization_id=run.organization_id,
            email=change.email,
            password=password,
            **{name: value for name, value in _new_values(change).items() if name != "email"},
        )
        for change in changes
    ]
    User.objects.bulk_create(users, batch_size=BATCH_SIZE)
    return dict(
        User.objects.filter(
            organization_id=run.organization_id, email__in=[c.email for c in changes]
        ).values_list("email", "id")
    ) if changes else {}


def _update_users(run: ImportRun, changes: list[ImportChange]) -> None:
    users = User.objects.filter(organization_id=run.organization_id).in_bulk(
        [change.user_id for change in changes]
    )
    touched: set[str] = set()
    for change in changes:
        user = users[change.user_id]
        for name, value in _new_values(change).items():
            setattr(user, name, value)
            touched.add(name)
        if change.action == ImportChange.Action.DEACTIVATE:
            user.is_active = False
            touched.add("is_active")
        elif change.action == ImportChange.Action.REACTIVATE:
            user.is_active = True
            touched.add("is_active")
    if touched:
        User.objects.bulk_update(users.values(), sorted(touched), batch_size=BATCH_SIZE)


def _set_managers(run: ImportRun, changes: list[ImportChange]) -> None:
    with_manager = [c for c in changes if "manager_email" in c.fields]
    if not with_manager:
        return
    ids_by_email = dict(
        User.objects.filter(organization_id=run.organization_id).values_list("email", "id")
    )
    users = []
    for change in with_manager:
        manager_email = change.fields["manager_email"][1]
        users.append(
            User(id=ids_by_email[change.email], manager_id=ids_by_email.get(manager_email))
        )
    User.objects.bulk_update(users, ["manager"], batch_size=BATCH_SIZE)
