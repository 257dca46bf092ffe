"""The organization's users as plain data for the diff: one query, plus one for taken emails."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable

from users.models import User

from .types import Snapshot, SnapshotUser

_COLUMNS = (
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
_EMAIL_BATCH = 5000


def load_snapshot(organization_id: int, *, today: dt.date, emails: Iterable[str] = ()) -> Snapshot:
    """Return the organization's users, and which of `emails` other organizations already use."""
    users = tuple(
        _snapshot_user(row, today)
        for row in User.objects.filter(organization_id=organization_id)
        .order_by("id")
        .values_list(*_COLUMNS)
    )
    return Snapshot(users=users, emails_in_other_orgs=_emails_elsewhere(organization_id, emails))


def users_digest(snapshot: Snapshot) -> str:
    """Return a digest that changes whenever any user of the snapshot changes."""
    digest = hashlib.sha256()
    for user in sorted(snapshot.users, key=lambda u: u.id):
        digest.update(repr(user).encode())
    return digest.hexdigest()


def _snapshot_user(row: tuple, today: dt.date) -> SnapshotUser:
    values = dict(zip(_COLUMNS, row))
    protected_until = values.pop("sync_protected_until")
    is_protected = values.pop("is_sync_protected") and (
        protected_until is None or today <= protected_until
    )
    return SnapshotUser(**values, is_protected=is_protected)


def _emails_elsewhere(organization_id: int, emails: Iterable[str]) -> frozenset[str]:
    wanted = sorted(set(emails))
    taken: set[str] = set()
    for start in range(0, len(wanted), _EMAIL_BATCH):
        batch = wanted[start : start + _EMAIL_BATCH]
        taken.update(
            User.objects.filter(email__in=batch)
            .exclude(organization_id=organization_id)
            .values_list("email", flat=True)
        )
    return frozenset(taken)
