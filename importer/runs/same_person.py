"""An admin's answer to "Same person with a new email?": record the pairs, preview again.

The preview (services._compute_preview) lists the undecided pairs on the run; a confirmation
records them in `same_person_confirmed` and queues the same run's preview again, from its
stored input, which then matches each confirmed row to its user: an email change instead of a
deactivation and a new account. Nothing is matched without it.
"""

from __future__ import annotations

from collections.abc import Collection

from django.db import transaction
from django.utils import timezone

from importer.models import ImportRun
from importer.runs import events
from users.models import User

Status = ImportRun.Status


class SamePersonRefused(Exception):
    """The run is not one whose pairs can be decided now; the message says why."""


def confirm_same_person(
    run: ImportRun,
    *,
    acting_user: User | None,
    user_ids: Collection[int] | None = None,
    api_token: str = "",
) -> int:
    """Confirm the run's pairs of `user_ids` (every pair when None) as the same person with a
    new address, and queue its preview again; return how many pairs were confirmed. The
    caller enqueues the preview task. Each pair confirmed is an audit event of `acting_user`
    (None with `api_token`, the name of the API token that confirmed it).

    Only a ready preview or a held scheduled run, and only pairs the preview offered: raise
    SamePersonRefused otherwise (a run being applied, a pair no longer offered).
    """
    with transaction.atomic():
        locked = ImportRun.objects.select_for_update().get(pk=run.pk)
        if locked.status not in (Status.READY, Status.HELD) or locked.error_count:
            raise SamePersonRefused(
                f"This import is {locked.get_status_display().lower()}: its people can no "
                "longer be matched."
            )
        offered = {pair["user_id"]: pair for pair in locked.same_person_pairs}
        chosen = list(offered) if user_ids is None else [i for i in user_ids if i in offered]
        if not chosen:
            raise SamePersonRefused("This pair is no longer offered: nothing was changed.")
        confirmed = dict(locked.same_person_confirmed)
        for user_id in chosen:
            confirmed[str(user_id)] = offered[user_id]["new_email"]
            events.same_person_confirmed_event(
                run=locked, acting_user=acting_user, pair=offered[user_id], api_token=api_token
            )
        ImportRun.objects.filter(pk=locked.pk).update(
            status=Status.QUEUED,
            same_person_confirmed=confirmed,
            same_person_pairs=[],
            message="",
            issues=[],
            error_count=0,
            warning_count=0,
            lease_expires_at=None,
            attempts=0,
            updated_at=timezone.now(),
        )
    run.refresh_from_db()
    return len(chosen)
