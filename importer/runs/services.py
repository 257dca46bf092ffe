"""The life of an import run: create, preview, apply. The only writer of ImportRun.status.

queued → previewing → ready | invalid | failed;  ready → applying → applied | failed | stale
A browser upload or paste whose columns are not all recognised: previewing → columns (the
column matching step) → queued again once matched (requeue_preview), or → ready | invalid (skipped).
A scheduled run goes on by itself: previewing → applying, or → held when it trips a safeguard;
held → applying (approved) | discarded. A scheduled run with a same-person pair to decide is
held too; ready | held → queued when an admin matches a pair (runs/same_person.py), and the same
run is previewed again with it.
"Apply what is within the limits, hold the rest" (a scheduled run with the option, or a manual
request_apply(hold_rest=True)): the run keeps the changes that passed no limit and goes on to
applying; split_held_part moves the others to a new run, born held, its held_part_of naming the
first. Approved, a held part refuses only the changes of people who changed since the preview.

A worker takes a step (preview, apply) up under a lease it renews (importer.runs.leases). A
transient database error leaves the run in its state and raises DatabaseUnavailable, for the
task to try again; any other failure ends the run failed, with words a person can act on.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import sqlite3
from collections import Counter
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Count
from django.utils import timezone

from importer import notify, progress
from importer.models import ApiToken, ImportChange, ImportConfig, ImportRun
from importer.pipeline.attributes import header_names
from importer.pipeline.columns import column_matching, file_headers, map_columns, releasable
from importer.pipeline.diff import (
    Matching,
    PeopleByEmail,
    created_rows,
    iter_changes,
    noting_rows,
    unchanged_count,
)
from importer.pipeline.mass_changes import LimitCheck, rows_limit_passed
from importer.pipeline.parse import read_table
from importer.pipeline.preview import Preview, compute_preview, unreadable_preview
from importer.pipeline.safeguards import safeguard_message
from importer.pipeline.same_person import MAX_STORED_PAIRS, same_person_pairs
from importer.pipeline.types import (
    FileError,
    ImportOptions,
    Limits,
    Record,
)
from importer.runs import events, leases, outbox, selectors
from importer.runs.limits import check_room
from importer.runs.selectors import attribute_specs
from importer.store import bulk
from importer.store.apply import apply_changes, touches_existing_users
from importer.store.changes import SKIPPED, insert_changes
from importer.store.snapshot import (
    changed_people,
    changed_people_changes,
    current_census,
    load_snapshot,
    users_census,
)
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


class DatabaseUnavailable(Exception):
    """A transient database error stopped a step; nothing was written and the run waits in its
    state for the step to be tried again (importer.tasks does, with backoff)."""

    def __init__(self, run_id: int, status: str):
        super().__init__(f"Run {run_id} ({status}) met a transient database error")
        self.run_id = run_id
        self.status = status


# SQLSTATE classes and codes of PostgreSQL errors that pass when the work is tried again:
# 08 connection exception, 40 transaction rollback (40001 serialization failure, 40P01
# deadlock), 57P01-57P03 the server shutting down or starting, 53300 too many connections.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "40")
_TRANSIENT_SQLSTATES = {"57P01", "57P02", "57P03", "53300"}


def is_transient(error: BaseException) -> bool:
    """Return whether a database error may pass when the same work is tried again.

    Connection lost, the server shut down by an administrator, serialization failures and
    deadlocks on PostgreSQL; "database is locked" on SQLite. Not a constraint violated or bad
    data: those fail the same way every time.
    """
    if isinstance(error, InterfaceError):
        return True  # The connection was already closed.
    if not isinstance(error, OperationalError):
        return False
    cause = error.__cause__
    if isinstance(cause, sqlite3.OperationalError):
        return "locked" in str(cause) or "busy" in str(cause)
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is None:
        return True  # psycopg: no answer from the server, the connection is gone.
    return sqlstate.startswith(_TRANSIENT_SQLSTATE_CLASSES) or sqlstate in _TRANSIENT_SQLSTATES


def _leave_for_retry(run_id: int, status: str, error: DatabaseError) -> DatabaseUnavailable:
    """Give up the run's lease after a transient error; return the exception to raise."""
    logger.warning("Run %s: transient database error while %s: %s", run_id, status, error)
    # A connection the server ended cannot run another query; the next one opens afresh.
    connection.close_if_unusable_or_obsolete()
    step = "importing" if status == Status.APPLYING else "previewing"
    try:
        leases.release(
            run_id,
            status,
            f"The database could not be reached while {step}; nothing was changed. "
            "Trying again in a few seconds.",
        )
    except DatabaseError:
        logger.warning("Run %s: its lease could not be released either", run_id)
        connection.close_if_unusable_or_obsolete()
    return DatabaseUnavailable(run_id, status)


def fail_database_unavailable(run_id: int) -> None:
    """End a run whose step met a transient database error on every try, saying so."""
    run = ImportRun.objects.filter(pk=run_id).only("status").first()
    if run is None or run.status not in ImportRun.RUNNING_STATUSES:
        return
    if run.status == Status.APPLYING:
        message = (
            "The database could not be reached while importing, several times over about half a "
            "minute, so the import was stopped. Nothing was changed. Upload the file again in a "
            "few minutes; if it keeps failing, contact support."
        )
    else:
        message = (
            "The database could not be reached while previewing, several times over about half a "
            "minute, so the preview was stopped. Nothing was imported. Upload the file again in "
            "a few minutes; if it keeps failing, contact support."
        )
    _fail(run_id, run.status, message)


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
    remote_etag: str = "",
    remote_last_modified: str = "",
) -> ImportRun:
    """Store an input and return its new run, queued for preview.

    Raise LimitReached when the organization has too many runs waiting or too little space left.
    `api_token` and `idempotency_key` record an upload through the API (the key is unique in
    the organization: a second run with it raises IntegrityError). A fetched file's ETag and
    Last-Modified come along, for its source's bookkeeping.
    """
    check_room(organization, new_bytes=len(data))
    run = ImportRun(
        organization=organization,
        source=source,
        trigger=trigger,
        created_by=acting_user,
        api_token=api_token,
        idempotency_key=idempotency_key,
        remote_etag=remote_etag[:500],
        remote_last_modified=remote_last_modified[:100],
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
    attributes = attribute_specs(organization.pk)
    if config is None:
        # Never configured: imports may change every profile field and every custom attribute
        # (creating an attribute adds its field to a configuration's update_fields).
        return ImportOptions(
            update_fields=ImportOptions.update_fields | {spec.field for spec in attributes},
            acting_user_id=acting_user_id,
            attributes=attributes,
        )
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
            max_field_change_percent=config.max_field_change_percent,
            max_field_change_count=config.max_field_change_count,
            hold_admin_changes=config.hold_admin_changes,
            apply_within_limits=config.apply_within_limits,
        ),
        attributes=attributes,
    )


def preview_run(run_id: int, *, report=progress.ignore) -> None:
    """Compute a run's preview: parse, map, diff, and store the changes it would make.

    Safe to repeat: a redelivered task recomputes the same preview, and a finished run is left
    as it is. A scheduled run goes on to applying (or held). Raise LeaseHeld while another
    worker previews it, DatabaseUnavailable after a transient database error.
    """
    try:
        if not leases.take_up(
            run_id, [Status.QUEUED, Status.PREVIEWING], becomes=Status.PREVIEWING
        ):
            return
        run = ImportRun.objects.select_related("organization", "created_by").get(pk=run_id)
        with leases.heartbeat(run_id), _cyclic_gc_paused():
            _compute_preview(run, report)
    except leases.LeaseHeld:
        raise
    except Exception as exc:
        if isinstance(exc, DatabaseError) and is_transient(exc):
            raise _leave_for_retry(run_id, Status.PREVIEWING, exc) from exc
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
    source of cycles, openpyxl, gets a single collection right after it read (in parse.py;
    calamine leaves none, and a collection after it cost 0.44 s at a million rows). At the
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
    columns: list[dict] = []
    confirmed = {int(user_id): email for user_id, email in run.same_person_confirmed.items()}
    pairs: list = []
    try:
        # The organization's column names, with its custom attributes' names.
        names = header_names(options.column_mapping, options.attributes)
        table = read_table(
            data,
            run.input_name,
            extra_synonyms=names,
            max_rows=settings.IMPORT_MAX_ROWS,
            max_xml_bytes=settings.IMPORT_MAX_XLSX_EXPANDED_BYTES,
            progress=lambda rows: report("reading", rows, 0),
        )
        del data  # Tens of megabytes for a large file, not needed past parsing.
        row_count = len(table.rows)
        columns = column_matching(table, options.column_mapping, options.attributes)
        report("checking", 0, row_count)
        # The rows are let go of as they are read: the records take their memory.
        table = releasable(table)
        records, issues = map_columns(
            table,
            extra_synonyms=options.column_mapping,
            attributes=options.attributes,
            progress=lambda done: report("checking", done, row_count),
            release=True,
        )
        headers = file_headers(table, options.column_mapping, options.attributes)
        del table  # The records hold what is needed; the cells' memory goes to the diff.
        emails = Record.column(records, "email")
        # An unchanged user holds the record's strings, not copies of them.
        shared = _update_in_batches({}, emails, emails)
        employee_ids = [text for text in Record.column(records, "employee_id") if text]
        _update_in_batches(shared, employee_ids, employee_ids)
        del employee_ids
        snapshot = load_snapshot(run.organization_id, today=today, emails=emails, shared=shared)
        del emails, shared
        preview = compute_preview(
            records,
            issues,
            snapshot,
            options,
            row_count=row_count,
            headers=headers,
            same_person=confirmed,
        )
        pairs = same_person_pairs(preview.matching, excluding=frozenset(confirmed))
        del records  # The matching keeps the usable ones.
        digest = users_census(snapshot)
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
        limits_passed: dict[str, int] = {}
        if preview.makes_changes:
            report("comparing", 0, row_count)
            last_row_count = selectors.last_applied_row_count(run.organization_id, excluding=run.pk)
            check = LimitCheck(
                options.limits,
                active_users=preview.active_users,
                admin_ids=User.objects.filter(
                    organization_id=run.organization_id, is_org_admin=True
                ).values_list("id", flat=True),
                rows_short=rows_limit_passed(
                    row_count=row_count, last_row_count=last_row_count, limits=options.limits
                ),
            )
            made, unchanged = _store_changes(
                locked.pk,
                preview.matching,
                options,
                progress=lambda done: report("comparing", done, row_count),
                limits_of=check.passed,
            )
            safeguard = " ".join(
                part
                for part in (
                    safeguard_message(
                        deactivations=made["deactivate"],
                        active_users=preview.active_users,
                        row_count=row_count,
                        last_row_count=last_row_count,
                        limits=options.limits,
                    ),
                    check.message(),
                )
                if part
            )
            limits_passed = {kind: check.counts[kind] for kind in check.limits_passed}
        report("saving", 0, 0)
        _save_preview(
            locked,
            preview,
            options,
            made=made,
            unchanged=unchanged,
            safeguard=safeguard or "",
            digest=digest,
            columns=columns,
            pairs=[pair.as_dict() for pair in pairs[:MAX_STORED_PAIRS]],
            limits_passed=limits_passed,
        )


# Pairs added to a large dictionary per call (see _update_in_batches).
DICT_BATCH = 50_000


def _update_in_batches(target: dict, keys: Sequence, values: Sequence) -> dict:
    """Add zip(keys, values) to `target`, a batch at a time, and return it.

    One C call over a million pairs holds the GIL for 0.6 s, and with it the thread that keeps
    the run's progress fresh: the page would go a second without news.
    """
    for start in range(0, len(keys), DICT_BATCH):
        target.update(
            zip(keys[start : start + DICT_BATCH], values[start : start + DICT_BATCH], strict=True)
        )
    return target


def matches_in_browser(run: ImportRun) -> bool:
    """Return whether a person waits for the run in a browser: an upload or a paste.

    Only those stop at the column matching step; other runs go on with the names in force.
    """
    return run.trigger == ImportRun.Trigger.MANUAL and run.source in (
        ImportRun.Source.UPLOAD,
        ImportRun.Source.PASTE,
    )


_NEEDS_COLUMNS_MESSAGE = (
    "Some columns of this file are not ones the import knows. Choose what each one holds; "
    "your choice is saved as your column names, so the next file with these columns goes "
    "straight to the preview."
)
_MATCH_ON_RUN_PAGE = (
    " The file has no email column: match its columns on this import's page, and the next "
    "import uses the names you choose."
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
    columns: list[dict] | None = None,
    pairs: list[dict] | None = None,
    limits_passed: dict[str, int] | None = None,
) -> None:
    """Save a preview's outcome on its locked run: ready, or invalid when it has errors; for an
    upload or paste with columns to match, the matching step (status columns) first. `pairs`
    are the undecided same-person pairs (same_person_pairs, as dicts): the page asks about
    each, and a scheduled run with any is held for a decision."""
    errors = preview.errors
    run.row_count = preview.row_count
    run.new_count = made["create"]
    run.changed_count = made["update"]
    run.deactivated_count = made["deactivate"]
    run.reactivated_count = made["reactivate"]
    run.skipped_count = made[SKIPPED]
    run.unchanged_count = unchanged
    run.error_count = len(errors)
    run.warning_count = len(preview.issues) - len(errors)
    run.issues = preview.issues_to_store()
    run.policy = _options_as_dict(options)
    run.same_person_pairs = list(pairs or [])
    run.safeguard_message = safeguard
    run.limits_passed = dict(limits_passed or {})
    run.users_digest = digest
    run.status = Status.INVALID if errors else Status.READY
    if any(error.row for error in errors):  # Rows can be corrected in the browser.
        run.message = (
            "Correct the errors below in the browser, or in the file and upload it again. "
            "Nothing was imported."
        )
    elif errors:
        run.message = "Correct the errors in the file and upload it again. Nothing was imported."
    else:
        run.message = ""
    run.column_matching = list(columns or [])
    if columns and matches_in_browser(run):
        run.status = Status.NEEDS_COLUMNS
        run.message = _NEEDS_COLUMNS_MESSAGE
    elif columns and any(issue.code == "missing_column" for issue in errors):
        run.message += _MATCH_ON_RUN_PAGE
    run.previewed_at = timezone.now()
    run.lease_expires_at = None  # The next step is leased afresh.
    run.attempts = 0
    if run.status == Status.READY and run.trigger == ImportRun.Trigger.SCHEDULED:
        _go_on_with_scheduled(run)
    run.save()
    if run.status == Status.APPLYING and run.safeguard_message:
        # "Apply what is within the limits": the rest waits as a held part of its own.
        held = split_held_part(run)
        run_id = held.pk
        transaction.on_commit(lambda: _email_held_run(run_id))
    outbox.record_run_event(run)  # Invalid, or a scheduled run held: endpoints hear of it.


def _go_on_with_scheduled(run: ImportRun) -> None:
    """Move a scheduled run's clean preview on, in its preview's transaction: held when it
    trips a safeguard (the admins are emailed), otherwise applying.

    A run with same-person pairs to decide is held too: a scheduled import never guesses.
    Nobody watches a scheduled run, and a worker that stops right after the preview must not
    leave it ready forever: applying is a running state that recovery finishes.
    """
    within_limits = run.policy.get("apply_within_limits") and run.limits_passed
    if (run.safeguard_message and not within_limits) or run.same_person_pairs:
        run.status = Status.HELD
        run.message = _HELD_MESSAGE if run.safeguard_message else _HELD_SAME_PERSON_MESSAGE
        run_id = run.pk
        transaction.on_commit(lambda: _email_held_run(run_id))
    elif run.same_person_confirmed:
        # An admin's decision on a held run re-computed it: it waits for their approval of
        # the changes it now shows (the email was sent when it was first held).
        run.status = Status.HELD
        run.message = _HELD_MATCHED_MESSAGE
    else:
        run.status = Status.APPLYING
        run.apply_requested_at = timezone.now()
        events.apply_requested_event(run=run, acting_user=None)


def _store_changes(
    run_id: int, matching: Matching, options: ImportOptions, *, progress, limits_of=None
) -> tuple[Counter, int]:
    """Store the changes as the diff makes them; return how many of each action are made, and
    how many records change nothing.

    Only for a preview without errors: any error blocks the import, and they are all known
    from the matching. The new people's ids are reserved first, then each change goes to the
    database as it is made, which writes a batch while the diff works out the next (on
    PostgreSQL, in its own process).
    """
    rows = created_rows(matching, options)
    reserved = _update_in_batches({}, rows, bulk.reserve_ids(User, len(rows)))
    changed: set[int] = set()
    changes = noting_rows(iter_changes(matching, options, progress), changed)
    people = PeopleByEmail(matching, reserved)
    made = insert_changes(run_id, changes, people, matching.users, limits_of=limits_of)
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


def requeue_preview(run: ImportRun) -> bool:
    """Queue the preview of an upload or paste again, from its stored input; return False when
    the run is not one to preview again (running, applied, …). The caller enqueues the task.

    For the column matching step: once the organization's column names are saved, the same
    file is read with them.
    """
    now = timezone.now()
    queued = ImportRun.objects.filter(
        pk=run.pk,
        status__in=[Status.NEEDS_COLUMNS, Status.READY, Status.INVALID],
        trigger=ImportRun.Trigger.MANUAL,
        source__in=[ImportRun.Source.UPLOAD, ImportRun.Source.PASTE],
        input_deleted_at__isnull=True,
    ).update(
        status=Status.QUEUED,
        message="",
        column_matching=[],
        issues=[],
        error_count=0,
        warning_count=0,
        lease_expires_at=None,
        attempts=0,
        updated_at=now,
    )
    run.refresh_from_db()
    return bool(queued)


def skip_column_matching(run: ImportRun) -> bool:
    """Leave the matching step for the preview as the file was read: the columns not recognised
    are not imported. Return False when the run was not at the step."""
    status = Status.INVALID if run.error_count else Status.READY
    message = (
        "Correct the errors in the file and upload it again. Nothing was imported."
        if run.error_count
        else ""
    )
    skipped = ImportRun.objects.filter(pk=run.pk, status=Status.NEEDS_COLUMNS).update(
        status=status, message=message, updated_at=timezone.now()
    )
    run.refresh_from_db()
    if skipped and status == Status.INVALID:
        outbox.record_run_event(run)
    return bool(skipped)


def request_apply(
    run: ImportRun,
    *,
    acting_user: User | None,
    confirm_safeguard: bool = False,
    hold_rest: bool = False,
    api_token: str = "",
) -> ImportRun | None:
    """Mark a ready run for applying, with its audit event; the caller then enqueues apply_run.

    Raise ApplyRefused when the run is not ready, has errors, or was already confirmed
    (a second click changes nothing), and when the preview tripped a safeguard but
    `confirm_safeguard` is not set: such an import needs a second, explicit confirmation.
    `acting_user` is None for the scheduled sync, the command line and the API, whose token's
    name `api_token` gives (the event names it).

    With `hold_rest`, a run that passed a limit applies only the changes within the limits;
    the ones that passed a limit wait as a held run of their own (split_held_part), which is
    returned (None otherwise).
    """
    if run.error_count:
        raise ApplyRefused("This preview has errors: correct the file and preview it again.")
    held = None
    if hold_rest and run.limits_passed and run.status == Status.READY:
        with transaction.atomic():
            locked = ImportRun.objects.select_for_update().get(pk=run.pk)
            if locked.status == Status.READY and locked.limits_passed:
                held = split_held_part(locked)
                if acting_user is None:
                    # Asked for by the command line or the API: the admins are told that the
                    # held part waits for their approval. An admin who chose it on the page
                    # sees it there, and is not emailed.
                    held_id = held.pk
                    transaction.on_commit(lambda: _email_held_run(held_id))
        run.refresh_from_db()
        confirm_safeguard = True
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
            lease_expires_at=None,
            attempts=0,
            updated_at=timezone.now(),
        )
        if confirmed:
            events.apply_requested_event(
                run=run,
                acting_user=acting_user,
                safeguard_confirmed=bool(run.safeguard_message and confirm_safeguard),
                api_token=api_token,
            )
    if not confirmed:
        run.refresh_from_db()
        raise ApplyRefused(
            f"This import is {run.get_status_display().lower()}; it cannot be applied."
        )
    run.refresh_from_db()
    return held


_COUNTED_ACTIONS = {
    "create": "new_count",
    "update": "changed_count",
    "deactivate": "deactivated_count",
    "reactivate": "reactivated_count",
}


def _recount(run_id: int) -> dict:
    """Return a run's made changes counted by action, as its count fields (one query)."""
    counts = dict.fromkeys(_COUNTED_ACTIONS.values(), 0)
    rows = (
        ImportChange.objects.filter(run_id=run_id, skipped_reason="")
        .values_list("action")
        .annotate(count=Count("id"))
    )
    for action, count in rows:
        counts[_COUNTED_ACTIONS[action]] = count
    return counts


def split_held_part(run: ImportRun) -> ImportRun:
    """Move the changes of a locked run that passed a limit to a new held run; return it.

    "Apply what is within the limits, hold the rest": `run` keeps the changes that passed no
    limit (and its skipped ones), to be applied now; the held part gets every made change that
    pushed a limit over (ImportChange.limits_passed, chosen in the diff's order by
    mass_changes.LimitCheck), with the same safeguard message, and waits for an admin. The two
    are linked both ways (held_part_of / held_parts). Call inside the run's transaction.
    """
    now = timezone.now()
    held = ImportRun.objects.create(
        organization_id=run.organization_id,
        source=run.source,
        trigger=run.trigger,
        created_by=run.created_by,
        input_name=run.input_name,
        held_part_of=run,
        status=Status.HELD,
        message=_HELD_PART_MESSAGE.format(run=run.pk),
        row_count=run.row_count,
        policy=run.policy,
        safeguard_message=run.safeguard_message,
        limits_passed=run.limits_passed,
        users_digest=run.users_digest,
        previewed_at=run.previewed_at or now,
    )
    ImportChange.objects.filter(run_id=run.pk, skipped_reason="").exclude(limits_passed="").update(
        run_id=held.pk
    )
    ImportRun.objects.filter(pk=held.pk).update(**_recount(held.pk))
    kept = _recount(run.pk)
    for name, value in kept.items():
        setattr(run, name, value)
    run.limits_passed = {}
    run.message = (
        f"The changes that passed a limit wait in import #{held.pk}; the changes within the "
        "limits are imported."
    )
    ImportRun.objects.filter(pk=run.pk).update(
        **kept, limits_passed={}, message=run.message, updated_at=now
    )
    held.refresh_from_db()
    outbox.record_run_event(held)
    return held


_HELD_PART_MESSAGE = (
    "These changes of import #{run} passed a limit, so they were held while its other changes "
    "were imported. Check them below, then approve or discard them. At approval each person is "
    "checked again: a change to someone who changed meanwhile is not made."
)


def import_now(
    run_id: int,
    *,
    apply: bool = True,
    confirm_safeguard: bool = False,
    hold_on_safeguard: bool = False,
    hold_rest: bool = False,
) -> ImportRun:
    """Preview a queued run in this process and, if `apply` and the preview is clean, apply it.

    For imports nobody watches in a browser: the command line and the scheduled sync. A preview
    that trips a safeguard is held (`hold_on_safeguard`, for scheduled runs) or applied only with
    `confirm_safeguard`; otherwise ApplyRefused says why. With `hold_rest`, as the run page's
    "Import what is within the limits, hold the rest": the changes that passed no limit are
    applied, the others wait in a held part (run.held_parts). Return the run as it ended.
    """
    preview_run(run_id)
    run = ImportRun.objects.get(pk=run_id)
    if run.status == Status.APPLYING:  # A scheduled run goes on by itself.
        apply_run(run.pk)
        run.refresh_from_db()
        return run
    if not apply or not run.can_apply:
        return run
    if run.safeguard_message and hold_on_safeguard:
        hold_run(run.pk)
    else:
        request_apply(
            run, acting_user=None, confirm_safeguard=confirm_safeguard, hold_rest=hold_rest
        )
        apply_run(run.pk)
    run.refresh_from_db()
    return run


_HELD_MESSAGE = (
    "This scheduled import was held by a safeguard: nothing has been changed. "
    "Check the changes below, then approve or discard it."
)


_HELD_SAME_PERSON_MESSAGE = (
    "This scheduled import is held for a decision: nothing has been changed. A person missing "
    "from the file may be the same person as a new row with another email. Decide below, "
    "then approve or discard it."
)

_HELD_MATCHED_MESSAGE = (
    "This scheduled import waits for your approval: nothing has been changed. The people you "
    "matched are shown below with their new email; approve to import these changes."
)


def hold_run(run_id: int) -> bool:
    """Hold a ready run instead of applying it, and email the organization's admins.

    For scheduled runs whose preview tripped a safeguard: nothing is applied until an admin
    approves. Return False when the run was not ready (already held, applied, …): a repeated
    call neither changes it nor sends a second email.
    """
    with transaction.atomic():
        held = ImportRun.objects.filter(pk=run_id, status=Status.READY).update(
            status=Status.HELD, message=_HELD_MESSAGE, updated_at=timezone.now()
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
            lease_expires_at=None,
            attempts=0,
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
    organization's users changed since the preview, the run ends stale instead. Raise LeaseHeld
    while another worker applies it, DatabaseUnavailable after a transient database error
    (rolled back: nothing was changed, the run stays applying for the retry).
    """
    try:
        if not leases.take_up(run_id, [Status.APPLYING], becomes=Status.APPLYING):
            return
        with leases.heartbeat(run_id):
            _apply(run_id, report)
    except leases.LeaseHeld:
        raise
    except DatabaseError as exc:
        if is_transient(exc):
            raise _leave_for_retry(run_id, Status.APPLYING, exc) from exc
        logger.exception("Apply of run %s failed", run_id)
        _fail(
            run_id,
            Status.APPLYING,
            "The import was rolled back: nothing was changed. The database refused one of the "
            f"changes ({type(exc).__name__}); support has the details in the logs.",
        )
    except Exception as exc:
        logger.exception("Apply of run %s failed", run_id)
        _fail(
            run_id,
            Status.APPLYING,
            f"The import was rolled back: nothing was changed ({type(exc).__name__}).",
        )
    finally:
        progress.clear(run_id)


REFUSED_CHANGED = "Not made: this person changed after the preview, so the change was refused."


def _refuse_changed_people(run: ImportRun) -> int:
    """Mark the changes of a held part whose person changed since the preview as skipped (with
    the reason why), recount the run, and say so in its message; return how many."""
    refused = changed_people_changes(run.pk, run.organization_id, today=timezone.localdate())
    if refused:
        for start in range(0, len(refused), 500):
            ImportChange.objects.filter(pk__in=refused[start : start + 500]).update(
                skipped_reason=REFUSED_CHANGED
            )
        counts = _recount(run.pk)
        counts["skipped_count"] = run.skipped_count + len(refused)
        ImportRun.objects.filter(pk=run.pk).update(**counts)
        for name, value in counts.items():
            setattr(run, name, value)
        run.message = (
            f"{len(refused):,} change{'' if len(refused) == 1 else 's'} refused: the "
            f"{'person' if len(refused) == 1 else 'people'} changed after the preview (listed "
            "as skipped). The other changes were imported."
        )
    else:
        run.message = ""
    return len(refused)


class _RunTakenAway(Exception):
    """The run stopped being applying while it was applied (recovery failed it): roll back."""


def _apply(run_id: int, report) -> None:
    with transaction.atomic():
        organization_id = ImportRun.objects.values_list("organization_id", flat=True).get(pk=run_id)
        # One import applies per organization at a time: the organization's row is the lock.
        # The run's own row is not locked, so that the lease's heartbeat can go on renewing it.
        Organization.objects.select_for_update().get(pk=organization_id)
        run = ImportRun.objects.get(pk=run_id)
        if run.status != Status.APPLYING:
            return  # Already applied or failed: a redelivered message changes nothing.
        report("verifying", 0, run.change_count)  # The page says what is checked first.
        # Only the census and the users the changes touch are read, not every user.
        if run.held_part_of_id is not None:
            # A held part: the rest of its import was applied since its preview, so the census
            # moved; each person is checked instead, and only those who changed are refused.
            _refuse_changed_people(run)
            apply_changes(run, report)
            status, message = Status.APPLIED, run.message
        elif current_census(run.organization_id) != run.users_digest or (
            # Only the users the run changes are compared: a run of new people has none.
            touches_existing_users(run)
            and changed_people(run.pk, run.organization_id, today=timezone.localdate())
        ):
            status = Status.STALE
            message = (
                "The organization's users changed after this preview was made, so it no "
                "longer shows what importing would do. Preview the file again."
            )
        else:
            apply_changes(run, report)
            status, message = Status.APPLIED, ""
        now = timezone.now()
        finished = ImportRun.objects.filter(pk=run_id, status=Status.APPLYING).update(
            status=status, message=message, finished_at=now, updated_at=now, lease_expires_at=None
        )
        if not finished:
            raise _RunTakenAway(f"Run {run_id} is no longer applying")
        # Applied, or outdated (refused): endpoints hear of either.
        outbox.record_run_event(ImportRun.objects.get(pk=run_id))
        if status == Status.APPLIED and run.change_count:
            _mark_superseded(run)


def _mark_superseded(applied: ImportRun) -> int:
    """Mark the organization's other ready or held previews outdated: `applied` changed the
    users they were compared with, so none of them shows what importing would do any more.
    Return how many. (Apply would refuse each anyway, by its users digest; this says so now.)
    Endpoints hear of each (run.outdated), in the apply's transaction."""
    now = timezone.now()
    superseded = (
        ImportRun.objects.filter(
            organization_id=applied.organization_id, status__in=[Status.READY, Status.HELD]
        )
        .exclude(pk=applied.pk)
        # A held part is checked person by person when approved, not by its census.
        .exclude(held_part_of__isnull=False)
    )
    # The ids first, to tell endpoints of exactly the runs marked: the update takes only those
    # still ready or held (one applied meanwhile by a click is not outdated).
    ids = list(superseded.values_list("pk", flat=True))
    marked = ImportRun.objects.filter(pk__in=ids, status__in=[Status.READY, Status.HELD]).update(
        status=Status.STALE,
        message=(
            f"Import #{applied.pk} was applied after this preview was made, so it no longer "
            "shows what importing would do. Preview this file again to see its changes now."
        ),
        finished_at=now,
        updated_at=now,
    )
    for outdated in ImportRun.objects.filter(pk__in=ids, status=Status.STALE):
        outbox.record_run_event(outdated)
    return marked


class NothingToPreviewAgain(Exception):
    """The run's input is no longer stored (or it never had one: a revert, a failed fetch)."""


def preview_again(run: ImportRun, *, acting_user: User | None) -> ImportRun:
    """Return a new run, queued for preview, of `run`'s stored input (the caller enqueues it).

    For an outdated preview: the same file, compared with the users as they are now. Raise
    NothingToPreviewAgain when the input is gone, LimitReached as create_run does.
    """
    if run.source == ImportRun.Source.REVERT or not run.input_file:
        raise NothingToPreviewAgain
    try:
        with run.input_file.open("rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise NothingToPreviewAgain from None
    return create_run(
        organization=run.organization,
        data=data,
        name=run.input_name,
        source=run.source,
        acting_user=acting_user,
    )


def _fail(run_id: int, expected: str, message: str) -> None:
    with transaction.atomic():
        failed = ImportRun.objects.filter(pk=run_id, status=expected).update(
            status=Status.FAILED,
            message=message,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
            lease_expires_at=None,
        )
        if failed:
            outbox.record_run_event(ImportRun.objects.get(pk=run_id))


def mark_sync_recorded(run_id: int) -> bool:
    """Note that a finished scheduled run's outcome was written on its source; return False if
    it already was (its bookkeeping is written once, whichever worker finishes it)."""
    return bool(
        ImportRun.objects.filter(pk=run_id, sync_recorded_at__isnull=True).update(
            sync_recorded_at=timezone.now()
        )
    )


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
