"""The life of an import run: create, preview, apply. The only writer of ImportRun.status.

queued → previewing → ready | invalid | failed;  ready → applying → applied | failed | stale
A scheduled run that trips a safeguard: ready → held → applying (approved) | discarded.
"""

from __future__ import annotations

import gc
import hashlib
import logging
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DatabaseError, transaction
from django.utils import timezone

from importer import notify, progress
from importer.models import ApiToken, ImportConfig, ImportRun
from importer.pipeline.columns import map_columns
from importer.pipeline.diff import (
    Matching,
    created_rows,
    iter_changes,
    noting_rows,
    people_by_email,
    unchanged_count,
)
from importer.pipeline.parse import read_table
from importer.pipeline.preview import Preview, compute_preview, unreadable_preview
from importer.pipeline.safeguards import safeguard_message
from importer.pipeline.types import FileError, ImportOptions, Limits
from importer.runs import events, outbox, selectors
from importer.runs.limits import check_room
from importer.store import bulk
from importer.store.apply import apply_changes
from importer.store.changes import insert_changes
from importer.store.snapshot import load_snapshot, users_digest
from users.models import Organization, User

logger = logging.getLogger(__name__)
Status = ImportRun.Status


class InputNotStored(Exception):
    """The input could not be written to storage (a full disk, say); nothing was created."""

    message = (
        "The file could not be stored on the server (its storage is full or failing), so "
        "nothing was imported. Try again in a few minutes; if it keeps happening, contact support."
    )


class ApplyRefused(Exception):
    """The run cannot be applied now; the message says why."""


def create_run(
    *,
    organization: Organization,
    data: bytes,
    name: str,
    source: ImportRun.Source,
    acting_user: User | None = None,
    trigger: ImportRun.Trigger = ImportRun.Trigger.MANUAL,
    api_token: ApiToken | None = None,
    idempotency_key: str = "",
) -> ImportRun:
    """Store an input and return its new run, queued for preview.

    Raise LimitReached when the organization has too many runs waiting or too little space left.
    `api_token` and `idempotency_key` record an upload through the API (the key is unique in
    the organization: a second run with it raises IntegrityError).
    """
    check_room(organization, new_bytes=len(data))
    run = ImportRun(
        organization=organization,
        source=source,
        trigger=trigger,
        created_by=acting_user,
        api_token=api_token,
        idempotency_key=idempotency_key,
        input_name=name[:255],
        input_size=len(data),
        input_sha256=hashlib.sha256(data).hexdigest(),
    )
    try:
        run.input_file.save("input", ContentFile(data), save=False)
    except OSError as error:
        logger.error("Could not store the input of a new run: %s", error)
        raise InputNotStored from error
    try:
        run.save()
    except Exception:
        run.input_file.delete(save=False)  # A stored file that no run names would stay forever.
        raise
    return run


def options_for(organization: Organization, acting_user: User | None) -> ImportOptions:
    """Return the options in force for an import into `organization` (defaults if never set)."""
    config = ImportConfig.objects.filter(organization=organization).first()
    acting_user_id = acting_user.pk if acting_user else None
    if config is None:
        return ImportOptions(acting_user_id=acting_user_id)
    return ImportOptions(
        create_users=config.create_users,
        update_fields=frozenset(config.update_fields),
        update_managers=config.update_managers,
        deactivate_missing=config.deactivate_missing,
        reactivate=config.reactivate,
        clear_blank_fields=frozenset(config.clear_blank_fields),
        acting_user_id=acting_user_id,
        column_mapping=dict(config.column_mapping or {}),
        limits=Limits(
            max_deactivation_percent=config.max_deactivation_percent,
            max_deactivation_count=config.max_deactivation_count,
            min_row_ratio_percent=config.min_row_ratio_percent,
        ),
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
        with _cyclic_gc_paused():
            _compute_preview(run, report)
    except Exception as exc:
        logger.exception("Preview of run %s failed", run_id)
        _fail(
            run_id, Status.PREVIEWING, f"The preview could not be computed ({type(exc).__name__})."
        )
    finally:
        progress.clear(run_id)


@contextmanager
def _cyclic_gc_paused():
    """Pause Python's cycle collector for a preview.

    A preview builds a few hundred thousand small objects (rows, records, changes) that form
    no reference cycles and are freed by reference counting. While they pile up, the collector
    keeps re-scanning them all: a fifth of a 100,000-row preview's time, for nothing. The one
    source of cycles, the .xlsx reader, gets a single collection right after reading. At the
    end the collector simply resumes: a full collection then would walk every object of the
    worker (Django's included) for the few cycles left, 50 ms each time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _compute_preview(run: ImportRun, report) -> None:
    """Read, check and compare the run's file, then save the preview on the locked run."""
    today = timezone.localdate()
    options = options_for(run.organization, run.created_by)
    report("reading", 0, run.input_size)
    with run.input_file.open("rb") as handle:
        data = handle.read()
    row_count = 0
    digest = ""
    try:
        table = read_table(
            data,
            run.input_name,
            extra_synonyms=options.column_mapping,
            max_rows=settings.IMPORT_MAX_ROWS,
            progress=lambda rows: report("reading", rows, 0),
        )
        del data  # Tens of megabytes for a large file, not needed past parsing.
        if table.format == "xlsx":
            # The .xlsx reader (openpyxl) leaves cyclic garbage, about one object per row: one
            # collection now returns that memory before the diff needs it.
            gc.collect()
        row_count = len(table.rows)
        report("checking", 0, row_count)
        records, issues = map_columns(
            table,
            extra_synonyms=options.column_mapping,
            progress=lambda done: report("checking", done, row_count),
        )
        del table  # The records hold what is needed; the cells' memory goes to the diff.
        snapshot = load_snapshot(
            run.organization_id, today=today, emails=[record.email for record in records]
        )
        preview = compute_preview(records, issues, snapshot, options, row_count=row_count)
        del records  # The matching keeps the usable ones.
        digest = users_digest(snapshot)
    except FileError as error:
        preview = unreadable_preview(error, row_count=row_count)
    with transaction.atomic():
        locked = ImportRun.objects.select_for_update().get(pk=run.pk)
        if locked.status != Status.PREVIEWING:
            return  # Another delivery of this task finished first.
        locked.changes.all().delete()
        made: Counter = Counter()
        unchanged = 0
        safeguard = None
        if preview.makes_changes:
            report("comparing", 0, row_count)
            made, unchanged = _store_changes(
                locked.pk,
                preview.matching,
                options,
                progress=lambda done: report("comparing", done, row_count),
            )
            safeguard = safeguard_message(
                deactivations=made["deactivate"],
                active_users=preview.active_users,
                row_count=row_count,
                last_row_count=selectors.last_applied_row_count(
                    run.organization_id, excluding=run.pk
                ),
                limits=options.limits,
            )
        report("saving", 0, 0)
        _save_preview(
            locked,
            preview,
            options,
            made=made,
            unchanged=unchanged,
            safeguard=safeguard or "",
            digest=digest,
        )


def _save_preview(
    run: ImportRun,
    preview: Preview,
    options: ImportOptions,
    *,
    made: Counter,
    unchanged: int,
    safeguard: str,
    digest: str,
) -> None:
    """Save a preview's outcome on its locked run: ready, or invalid when it has errors."""
    errors = preview.errors
    run.row_count = preview.row_count
    run.new_count = made["create"]
    run.changed_count = made["update"]
    run.deactivated_count = made["deactivate"]
    run.reactivated_count = made["reactivate"]
    run.unchanged_count = unchanged
    run.error_count = len(errors)
    run.warning_count = len(preview.issues) - len(errors)
    run.issues = preview.issues_to_store()
    run.policy = _options_as_dict(options)
    run.safeguard_message = safeguard
    run.users_digest = digest
    run.status = Status.INVALID if errors else Status.READY
    run.message = (
        "Correct the errors in the file and upload it again. Nothing was imported."
        if errors
        else ""
    )
    run.previewed_at = timezone.now()
    run.save()
    if errors:
        outbox.record_run_event(run)


def _store_changes(
    run_id: int, matching: Matching, options: ImportOptions, *, progress
) -> tuple[Counter, int]:
    """Store the changes as the diff makes them; return how many of each action are made, and
    how many records change nothing.

    Only for a preview without errors: any error blocks the import, and they are all known
    from the matching. The new people's ids are reserved first, then each change goes to the
    database as it is made, which writes a batch while the diff works out the next (on
    PostgreSQL, in its own process).
    """
    rows = created_rows(matching, options)
    reserved = dict(zip(rows, bulk.reserve_ids(User, len(rows)), strict=True))
    ids = {
        email: key if key > 0 else reserved[-key]
        for email, key in people_by_email(matching).items()
    }
    changed: set[int] = set()
    changes = noting_rows(iter_changes(matching, options, progress), changed)
    made = insert_changes(run_id, changes, ids)
    return made, unchanged_count(matching, changed)


def _options_as_dict(options: ImportOptions) -> dict:
    """Return the options in force as the run keeps them (later edits never change a run).

    The keys are OPTION_LABELS': the options' fields, with the limits' beside them.
    """
    values = asdict(options)
    values.pop("acting_user_id")
    limits = values.pop("limits")
    column_mapping = values.pop("column_mapping")
    snapshot = {
        name: sorted(value) if isinstance(value, frozenset) else value
        for name, value in values.items()
    }
    snapshot["column_mapping"] = dict(sorted(column_mapping.items()))
    snapshot.update(limits)
    return snapshot


def request_apply(
    run: ImportRun, *, acting_user: User | None, confirm_safeguard: bool = False
) -> None:
    """Mark a ready run for applying, with its audit event; the caller then enqueues apply_run.

    Raise ApplyRefused when the run is not ready, has errors, or was already confirmed
    (a second click changes nothing), and when the preview tripped a safeguard but
    `confirm_safeguard` is not set: such an import needs a second, explicit confirmation.
    `acting_user` is None for the scheduled sync and the command line.
    """
    if run.error_count:
        raise ApplyRefused("This preview has errors: correct the file and preview it again.")
    if run.safeguard_message and not confirm_safeguard and run.status == Status.READY:
        raise ApplyRefused(
            f"{run.safeguard_message} Nothing was imported. If these numbers are what you "
            f"expect, tick the confirmation box and click Import again."
        )
    with transaction.atomic():
        confirmed = ImportRun.objects.filter(pk=run.pk, status=Status.READY, error_count=0).update(
            status=Status.APPLYING,
            applied_by=acting_user,
            apply_requested_at=timezone.now(),
            updated_at=timezone.now(),
        )
        if confirmed:
            events.apply_requested_event(
                run=run,
                acting_user=acting_user,
                safeguard_confirmed=bool(run.safeguard_message and confirm_safeguard),
            )
    if not confirmed:
        run.refresh_from_db()
        raise ApplyRefused(
            f"This import is {run.get_status_display().lower()}; it cannot be applied."
        )
    run.refresh_from_db()


def import_now(
    run_id: int,
    *,
    apply: bool = True,
    confirm_safeguard: bool = False,
    hold_on_safeguard: bool = False,
) -> ImportRun:
    """Preview a queued run in this process and, if `apply` and the preview is clean, apply it.

    For imports nobody watches in a browser: the command line and the scheduled sync. A preview
    that trips a safeguard is held (`hold_on_safeguard`, for scheduled runs) or applied only with
    `confirm_safeguard`; otherwise ApplyRefused says why. Return the run as it ended.
    """
    preview_run(run_id)
    run = ImportRun.objects.get(pk=run_id)
    if not apply or not run.can_apply:
        return run
    if run.safeguard_message and hold_on_safeguard:
        hold_run(run.pk)
    else:
        request_apply(run, acting_user=None, confirm_safeguard=confirm_safeguard)
        apply_run(run.pk)
    run.refresh_from_db()
    return run


def hold_run(run_id: int) -> bool:
    """Hold a ready run instead of applying it, and email the organization's admins.

    For scheduled runs whose preview tripped a safeguard: nothing is applied until an admin
    approves. Return False when the run was not ready (already held, applied, …): a repeated
    call neither changes it nor sends a second email.
    """
    with transaction.atomic():
        held = ImportRun.objects.filter(pk=run_id, status=Status.READY).update(
            status=Status.HELD,
            message=(
                "This scheduled import was held by a safeguard: nothing has been changed. "
                "Check the changes below, then approve or discard it."
            ),
            updated_at=timezone.now(),
        )
        if held:
            outbox.record_run_event(ImportRun.objects.get(pk=run_id))
    if held:
        # After the commit, so that the email never announces a hold that was rolled back.
        transaction.on_commit(lambda: _email_held_run(run_id))
    return bool(held)


def _email_held_run(run_id: int) -> None:
    run = ImportRun.objects.select_related("organization").get(pk=run_id)
    notify.send_held_run_email(run)


def approve_held_run(run: ImportRun, *, acting_user: User | None) -> None:
    """Mark a held run for applying, on an admin's approval; the caller then enqueues apply_run.

    Raise ApplyRefused when the run is not held (already approved or discarded).
    """
    with transaction.atomic():
        approved = ImportRun.objects.filter(pk=run.pk, status=Status.HELD, error_count=0).update(
            status=Status.APPLYING,
            applied_by=acting_user,
            message="",
            apply_requested_at=timezone.now(),
            updated_at=timezone.now(),
        )
        if approved:
            events.held_run_approved_event(run=run, acting_user=acting_user)
    run.refresh_from_db()
    if not approved:
        raise ApplyRefused(
            f"This import is {run.get_status_display().lower()}, not held; it cannot be approved."
        )


def discard_held_run(run: ImportRun, *, acting_user: User) -> None:
    """Close a held run without applying anything; its audit event names `acting_user`.

    Raise ApplyRefused when the run is not held (already approved or discarded).
    """
    now = timezone.now()
    with transaction.atomic():
        discarded = ImportRun.objects.filter(pk=run.pk, status=Status.HELD).update(
            status=Status.DISCARDED,
            message=f"Discarded by {acting_user.get_full_name()} on "
            f"{timezone.localtime(now):%d %b %Y, %H:%M}. Nothing was imported.",
            finished_at=now,
            updated_at=now,
        )
        if discarded:
            events.held_run_discarded_event(run=run, acting_user=acting_user)
    run.refresh_from_db()
    if not discarded:
        raise ApplyRefused(
            f"This import is {run.get_status_display().lower()}, not held; it cannot be discarded."
        )


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
            report("applying", 0, run.change_count)
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
            if run.status == Status.APPLIED:
                outbox.record_run_event(run)
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
    with transaction.atomic():
        failed = ImportRun.objects.filter(pk=run_id, status=expected).update(
            status=Status.FAILED,
            message=message,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
        )
        if failed:
            outbox.record_run_event(ImportRun.objects.get(pk=run_id))


def mark_retried(run: ImportRun) -> None:
    """Note that a stuck run was handed to a worker again, so it is not retried at once.

    The retry is an audit event of the system's (no acting user).
    """
    with transaction.atomic():
        retried = ImportRun.objects.filter(pk=run.pk, status=run.status).update(
            updated_at=timezone.now()
        )
        if retried:
            events.run_retried_event(run=run, status=run.status)


# --- Runs whose input is fetched from a remote server (importer.remote.services) ---------


def create_fetch_run(
    *,
    organization: Organization,
    acting_user: User | None = None,
    trigger: ImportRun.Trigger = ImportRun.Trigger.MANUAL,
    name: str = "",
) -> ImportRun:
    """Return a new remote run, queued without input: a worker fetches the file into it.

    Raise LimitReached when the organization has too many runs waiting.
    """
    check_room(organization, new_bytes=0)
    return ImportRun.objects.create(
        organization=organization,
        source=ImportRun.Source.REMOTE,
        trigger=trigger,
        created_by=acting_user,
        input_name=name[:255],
    )


def attach_input(run: ImportRun, *, data: bytes, name: str) -> bool:
    """Store the fetched input of a queued run that has none; return False if it already had one.

    The status stays queued: preview_run comes next.
    """
    run.input_file.save("input", ContentFile(data), save=False)
    stored = ImportRun.objects.filter(pk=run.pk, status=Status.QUEUED, input_file="").update(
        input_file=run.input_file.name,
        input_name=name[:255],
        input_size=len(data),
        input_sha256=hashlib.sha256(data).hexdigest(),
        updated_at=timezone.now(),
    )
    if not stored:
        # Another delivery of the fetch got there first; its copy is the run's input.
        run.input_file.delete(save=False)
    run.refresh_from_db()
    return bool(stored)


def fail_fetch(run_id: int, message: str) -> None:
    """End a queued run whose input could not be fetched; `message` says what to do."""
    _fail(run_id, Status.QUEUED, message)
