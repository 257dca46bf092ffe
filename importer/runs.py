"""The life of an import run: create, preview, apply. The only writer of ImportRun.status.

queued → previewing → ready | invalid | failed;  ready → applying → applied | failed | stale
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DatabaseError, transaction
from django.utils import timezone

from users.models import Organization, User

from . import progress
from .apply import apply_changes
from .columns import map_columns
from .diff import compute_changeset
from .models import ImportChange, ImportConfig, ImportRun
from .parse import read_table
from .snapshot import load_snapshot, users_digest
from .types import FileError, Policy, RowIssue

logger = logging.getLogger(__name__)
Status = ImportRun.Status


class ApplyRefused(Exception):
    """The run cannot be applied now; the message says why."""


def create_run(
    *,
    organization: Organization,
    data: bytes,
    name: str,
    source: ImportRun.Source,
    created_by: User | None = None,
    trigger: ImportRun.Trigger = ImportRun.Trigger.MANUAL,
) -> ImportRun:
    """Store an input and return its new run, queued for preview."""
    run = ImportRun(
        organization=organization,
        source=source,
        trigger=trigger,
        created_by=created_by,
        input_name=name[:255],
        input_size=len(data),
        input_sha256=hashlib.sha256(data).hexdigest(),
    )
    run.input_file.save("input", ContentFile(data), save=False)
    run.save()
    return run


def policy_for(organization: Organization, acting_user: User | None) -> Policy:
    """Return the options in force for an import into `organization`."""
    config = ImportConfig.objects.filter(organization=organization).first()
    acting_user_id = acting_user.pk if acting_user else None
    if config is None:
        return Policy(acting_user_id=acting_user_id)
    return Policy(
        create_users=config.create_users,
        update_fields=frozenset(config.update_fields),
        update_managers=config.update_managers,
        deactivate_missing=config.deactivate_missing,
        reactivate=config.reactivate,
        clear_blank_fields=frozenset(config.clear_blank_fields),
        acting_user_id=acting_user_id,
    )


def preview_run(run_id: int, *, report=progress.ignore) -> None:
    """Compute a run's preview: parse, map, diff, and store the changes it would make.

    Safe to repeat: a redelivered task recomputes the same preview, and a finished run is left
    as it is.
    """
    claimed = ImportRun.objects.filter(
        pk=run_id, status__in=[Status.QUEUED, Status.PREVIEWING]
    ).update(status=Status.PREVIEWING, updated_at=timezone.now())
    if not claimed:
        return
    run = ImportRun.objects.select_related("organization", "created_by").get(pk=run_id)
    try:
        _compute_preview(run, report)
    except Exception as exc:
        logger.exception("Preview of run %s failed", run_id)
        _fail(run_id, Status.PREVIEWING, f"The preview could not be computed ({type(exc).__name__}).")
    finally:
        progress.clear(run_id)


def _compute_preview(run: ImportRun, report) -> None:
    today = timezone.localdate()
    policy = policy_for(run.organization, run.created_by)
    report("reading", 0, run.input_size)
    with run.input_file.open("rb") as handle:
        data = handle.read()
    changes = []
    unchanged = 0
    row_count = 0
    try:
        table = read_table(data, run.input_name, max_rows=settings.IMPORT_MAX_ROWS)
        row_count = len(table.rows)
        report("checking", 0, row_count)
        records, issues = map_columns(table)
        snapshot = load_snapshot(
            run.organization_id, today=today, emails=[record.email for record in records]
        )
        report("comparing", 0, row_count)
        changeset = compute_changeset(records, snapshot, policy)
        issues = [*issues, *changeset.issues]
        digest = users_digest(snapshot)
        if not any(issue.is_error for issue in issues):
            changes, unchanged = changeset.changes, changeset.unchanged
        # Otherwise no change is shown: the rows with errors would count as missing people,
        # and the preview would list them as deactivated.
    except FileError as error:
        issues = [RowIssue(code=error.code, message=error.message, row=None)]
        digest = ""
    issues.sort(key=lambda issue: (issue.row is not None, issue.row or 0, issue.column))
    report("saving", 0, len(changes))
    with transaction.atomic():
        locked = ImportRun.objects.select_for_update().get(pk=run.pk)
        if locked.status != Status.PREVIEWING:
            return  # Another delivery of this task finished first.
        locked.changes.all().delete()
        ImportChange.objects.bulk_create(
            (
                ImportChange(
                    run=locked,
                    user_id=change.user_id,
                    email=change.email,
                    action=str(change.action),
                    fields={name: list(pair) for name, pair in change.fields.items()},
                    row=change.row,
                )
                for change in changes
            ),
            batch_size=2000,
        )
        errors = [issue for issue in issues if issue.is_error]
        counts = {action: 0 for action in ImportChange.Action.values}
        for change in changes:
            counts[str(change.action)] += 1
        locked.row_count = row_count
        locked.new_count = counts["create"]
        locked.changed_count = counts["update"]
        locked.deactivated_count = counts["deactivate"]
        locked.reactivated_count = counts["reactivate"]
        locked.unchanged_count = unchanged
        locked.error_count = len(errors)
        locked.warning_count = len(issues) - len(errors)
        locked.issues = [issue.as_dict() for issue in issues]
        locked.policy = _policy_as_dict(policy)
        locked.users_digest = digest
        locked.status = Status.INVALID if errors else Status.READY
        locked.message = (
            "Correct the errors in the file and upload it again. Nothing was imported."
            if errors
            else ""
        )
        locked.previewed_at = timezone.now()
        locked.save()


def _policy_as_dict(policy: Policy) -> dict:
    values = asdict(policy)
    values.pop("acting_user_id")
    return {
        name: sorted(value) if isinstance(value, frozenset) else value
        for name, value in values.items()
    }


def request_apply(run: ImportRun, *, user: User | None) -> None:
    """Mark a ready run for applying; the caller then enqueues apply_run.

    Raise ApplyRefused when the run is not ready, has errors, or was already confirmed
    (a second click changes nothing).
    """
    if run.error_count:
        raise ApplyRefused("This preview has errors: correct the file and preview it again.")
    confirmed = ImportRun.objects.filter(pk=run.pk, status=Status.READY, error_count=0).update(
        status=Status.APPLYING,
        applied_by=user,
        apply_requested_at=timezone.now(),
        updated_at=timezone.now(),
    )
    if not confirmed:
        run.refresh_from_db()
        raise ApplyRefused(f"This import is {run.get_status_display().lower()}; it cannot be applied.")
    run.refresh_from_db()


def apply_run(run_id: int, *, report=progress.ignore) -> None:
    """Apply a confirmed run once, all or nothing.

    A redelivered message finds the run no longer applying and changes nothing. If the
    organization's users changed since the preview, the run ends stale instead.
    """
    try:
        with transaction.atomic():
            run = ImportRun.objects.select_for_update().get(pk=run_id)
            if run.status != Status.APPLYING:
                return  # Already applied or failed: a redelivered message changes nothing.
            # One import applies per organization at a time: the organization's row is the lock.
            Organization.objects.select_for_update().get(pk=run.organization_id)
            snapshot = load_snapshot(run.organization_id, today=timezone.localdate())
            if users_digest(snapshot) != run.users_digest:
                run.status = Status.STALE
                run.message = (
                    "The organization's users changed after this preview was made, so it no "
                    "longer shows what importing would do. Preview the file again."
                )
            else:
                apply_changes(run, report)
                run.status = Status.APPLIED
                run.message = ""
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "message", "finished_at", "updated_at"])
    except DatabaseError as exc:
        logger.exception("Apply of run %s failed", run_id)
        _fail(run_id, Status.APPLYING, f"The import was rolled back: nothing was changed ({exc}).")
    except Exception as exc:
        logger.exception("Apply of run %s failed", run_id)
        _fail(
            run_id,
            Status.APPLYING,
            f"The import was rolled back: nothing was changed ({type(exc).__name__}).",
        )
    finally:
        progress.clear(run_id)


def _fail(run_id: int, expected: str, message: str) -> None:
    ImportRun.objects.filter(pk=run_id, status=expected).update(
        status=Status.FAILED, message=message, finished_at=timezone.now(), updated_at=timezone.now()
    )


def stuck_runs(now=None) -> list[ImportRun]:
    """Return runs that have sat queued or running longer than a worker would take."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.IMPORT_STUCK_AFTER_SECONDS)
    return list(
        ImportRun.objects.filter(status__in=ImportRun.RUNNING_STATUSES, updated_at__lt=cutoff)
    )


def mark_retried(run: ImportRun) -> None:
    """Note that a stuck run was handed to a worker again, so it is not retried at once."""
    ImportRun.objects.filter(pk=run.pk, status=run.status).update(updated_at=timezone.now())
