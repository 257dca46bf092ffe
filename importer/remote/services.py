"""Import from an organization's HR server: Fetch, Test connection and the scheduled sync.

Scheduled sync, in order:

1. Celery beat runs importer.tasks.enqueue_due_fetches(now) every few minutes. Each enabled
   source whose next_fetch_at has come is claimed by a conditional UPDATE of next_fetch_at (to
   a lease a little longer than a task may run); 0 rows updated means another dispatcher took it.
2. sync_source(source_id, claimed_until=…) takes over that claim the same way, so a redelivered
   message finds it gone and does nothing; a worker that dies leaves the lease to expire, and
   the source is due again.
3. The file is fetched with If-None-Match / If-Modified-Since. A 304, or a body with the same
   SHA-256 as the last file applied (or held), is a RemoteCheck: no run.
4. Otherwise the file becomes a run (source remote, trigger scheduled), previewed here; a clean
   preview goes on to applying, in the preview's transaction; one that trips a safeguard is held
   and the admins are emailed (with "apply what is within the limits", only the changes that
   passed a limit are held, as a run of their own: runs.split_held_part); errors leave it
   invalid. Nothing changes a user unless the preview was clean. While a scheduled run of the
   organization is unfinished, no new file is fetched: a second run is never made from the same
   file.
5. The sync is one unit with its run. When the run ends (applied, held, invalid, failed, stale)
   finish_scheduled_run writes the source's bookkeeping (last success, file SHA-256, ETag,
   failures, next fetch), once. If the sync's worker stopped, recovery (importer.runs.leases)
   sends the run to a worker again, and the task that ends it calls finish_scheduled_run; a run
   whose workers stopped on every attempt is failed with its reason and recorded the same way.
6. Failures count up; retries come sooner than the cadence, backing off (5, 10, 20… minutes);
   after settings.REMOTE_FAILURE_EMAIL_AFTER failures in a row the admins get one email.
"""

from __future__ import annotations

import hashlib
import logging
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, DateTimeField, F, Value, When
from django.utils import timezone

from importer import notify, progress, runs
from importer.configuration import REMOTE_KEY
from importer.models import ImportConfigChange, ImportRun, RemoteCheck, RemoteSource
from importer.pipeline.parse import read_table
from importer.pipeline.types import FileError
from importer.remote import http as remote
from importer.remote.http import host_of
from importer.remote.schedule import first_fetch, next_fetch_after_failure, next_regular_fetch
from importer.remote.secrets import SecretUnreadable, decrypt_secret, encrypt_secret
from importer.runs import events, outbox, selectors
from users.models import User

logger = logging.getLogger(__name__)
Cadence = RemoteSource.Cadence
Status = ImportRun.Status


def _lease() -> timedelta:
    # Longer than a task may run (Celery's hard time limit), so a live sync is never taken over.
    return timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 5 * 60)


# --- dispatcher ---------------------------------------------------------------------------------


def due_sources(now: datetime) -> list[tuple[int, datetime]]:
    """Return (source id, next_fetch_at) of every enabled, scheduled source due at `now`."""
    return list(
        RemoteSource.objects.filter(enabled=True, next_fetch_at__lte=now)
        .exclude(cadence=Cadence.MANUAL)
        .exclude(url="")
        .values_list("pk", "next_fetch_at")
    )


def claim_source(source_id: int, due_at: datetime, now: datetime) -> datetime | None:
    """Claim a due source read with next_fetch_at `due_at`; return the lease, or None if taken.

    One conditional UPDATE moves next_fetch_at from `due_at` to the lease: when two dispatchers
    read the same due source, one updates 1 row and the other 0.
    """
    lease = now + _lease()
    taken = RemoteSource.objects.filter(pk=source_id, next_fetch_at=due_at).update(
        next_fetch_at=lease
    )
    return lease if taken else None


def claim_due_sources(now: datetime) -> list[tuple[int, datetime]]:
    """Claim every source that is due; return (source id, claimed_until) of each one claimed.

    One UPDATE … RETURNING moves next_fetch_at of every due source to the lease (10,000 sources
    in one statement, not one each). The conditions are the UPDATE's own, so a second
    dispatcher running at once re-checks each row the first one claimed and skips it.
    """
    lease = now + _lease()
    table = connection.ops.quote_name(RemoteSource._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET next_fetch_at = %s "
            "WHERE enabled = %s AND next_fetch_at <= %s AND cadence <> %s AND url <> '' "
            "RETURNING id",
            [adapt(lease), True, adapt(now), Cadence.MANUAL],
        )
        claimed = sorted(source_id for (source_id,) in cursor.fetchall())
    return [(source_id, lease) for source_id in claimed]


# --- the scheduled sync -------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one sync came to: a run, a check, or a failure (with its message)."""

    ok: bool
    message: str = ""
    run_id: int | None = None
    check_id: int | None = None
    # The file's SHA-256, ETag and Last-Modified: remembered only when it was applied or held,
    # so that it is not taken up again.
    remember: tuple[str, str, str] | None = None
    # Already written on the source (by finish_scheduled_run), or left to the worker ending the run.
    recorded: bool = False


def sync_source(
    source_id: int, *, claimed_until: datetime | None = None, now: datetime | None = None
) -> Outcome | None:
    """Fetch a source's file and import it as a scheduled run; return what happened.

    With `claimed_until` (from the dispatcher), proceed only if the source is still claimed with
    that lease; return None when it is not (a redelivered message, or a source that was disabled).
    """
    now = now or timezone.now()
    lease = now + _lease()
    claim = RemoteSource.objects.filter(pk=source_id, enabled=True)
    if claimed_until is not None:
        claim = claim.filter(next_fetch_at=claimed_until)
    if not claim.update(next_fetch_at=lease):
        return None
    source = RemoteSource.objects.select_related("organization").get(pk=source_id)
    unfinished = unfinished_scheduled_run(source.organization_id)
    if unfinished is not None:
        # Its worker stopped and recovery is finishing it: fetching now could make a second run
        # of the same file. Look again in a few minutes; the run writes the bookkeeping.
        RemoteSource.objects.filter(pk=source_id, next_fetch_at=lease).update(
            next_fetch_at=now + timedelta(minutes=5)
        )
        return Outcome(
            ok=True,
            message=f"Import #{unfinished} is still under way.",
            run_id=unfinished,
            recorded=True,
        )
    try:
        outcome = _sync(source, now)
    except runs.DatabaseUnavailable:
        raise  # The run waits in its state; the task hands it to a worker to retry.
    except Exception as error:
        _log_unexpected(f"Sync of remote source {source_id} failed", error, _secrets_of(source))
        outcome = Outcome(
            ok=False,
            message=f"The scheduled import failed unexpectedly ({type(error).__name__}). "
            "Nothing was changed. Support has the details in the logs.",
        )
    if not outcome.recorded:
        _record(source, outcome, now=now, lease=lease)
    return outcome


def unfinished_scheduled_run(organization_id: int) -> int | None:
    """Return the id of the organization's scheduled run that is not finished yet, if any."""
    return (
        ImportRun.objects.filter(
            organization_id=organization_id,
            trigger=ImportRun.Trigger.SCHEDULED,
            status__in=[*ImportRun.RUNNING_STATUSES, Status.READY],
            sync_recorded_at__isnull=True,
        )
        .values_list("pk", flat=True)
        .first()
    )


def finish_scheduled_run(
    run_id: int, *, now: datetime | None = None, report=progress.ignore
) -> Outcome | None:
    """Carry a scheduled run to its end, then write its source's bookkeeping; return the outcome.

    The sync's own worker calls it, and so does whichever task ends a run whose sync's worker
    stopped. None for a run that is not scheduled, is still under way elsewhere, or whose
    outcome was already recorded (it is recorded once). Raise DatabaseUnavailable or LeaseHeld
    as preview_run and apply_run do.
    """
    run = ImportRun.objects.get(pk=run_id)
    if run.trigger != ImportRun.Trigger.SCHEDULED or run.sync_recorded_at is not None:
        return None
    if run.status in (Status.QUEUED, Status.PREVIEWING):
        runs.preview_run(run_id, report=report)
        run.refresh_from_db()
    if run.status == Status.APPLYING:
        runs.apply_run(run_id, report=report)
        run.refresh_from_db()
    if run.is_running:
        return None
    source = RemoteSource.objects.filter(organization_id=run.organization_id).first()
    if source is None:
        return None
    if run.status in (Status.HELD, Status.APPLIED):
        outcome = Outcome(
            ok=True,
            run_id=run.pk,
            remember=(run.input_sha256, run.remote_etag, run.remote_last_modified),
            recorded=True,
        )
    else:
        outcome = Outcome(ok=False, message=_run_failure_message(run), run_id=run.pk, recorded=True)
    with transaction.atomic():
        if runs.mark_sync_recorded(run_id):
            _record(source, outcome, now=now or timezone.now(), lease=None)
            return outcome
    return None


def _sync(source: RemoteSource, now: datetime) -> Outcome:
    organization = source.organization
    try:
        download = remote.download(
            source.url,
            headers=credentials(source),
            etag=source.etag,
            last_modified=source.last_modified,
        )
        if download.not_modified:
            return _check(source, now, 304, "Not modified since the last import (HTTP 304).")
        sha256 = hashlib.sha256(download.data).hexdigest()
        # The source's own record first: the query is only for a file applied another way.
        if sha256 == source.last_sha256 or sha256 == selectors.last_applied_sha256(
            source.organization_id
        ):
            return _check(source, now, download.status, "Unchanged: the same file as last time.")
        remote.check_spreadsheet(download, source.file_format)
    except (remote.FetchError, SecretUnreadable) as error:
        message = str(error.message if isinstance(error, remote.FetchError) else error)
        try:
            run = runs.create_fetch_run(
                organization=organization,
                trigger=ImportRun.Trigger.SCHEDULED,
                name=host_of(source.url),
            )
        except runs.LimitReached:
            return Outcome(ok=False, message=message)
        runs.fail_fetch(run.pk, message)
        runs.mark_sync_recorded(run.pk)  # sync_source records it, next.
        return Outcome(ok=False, message=message, run_id=run.pk)

    try:
        run = runs.create_run(
            organization=organization,
            data=download.data,
            name=host_of(source.url),
            source=ImportRun.Source.REMOTE,
            trigger=ImportRun.Trigger.SCHEDULED,
            remote_etag=download.etag,
            remote_last_modified=download.last_modified,
        )
    except runs.LimitReached as limit:
        return Outcome(ok=False, message=f"The file was not imported: {limit}")
    outcome = finish_scheduled_run(run.pk, now=now)
    # None: another worker is finishing the run (and records it).
    return outcome or Outcome(ok=True, run_id=run.pk, recorded=True)


def _run_failure_message(run: ImportRun) -> str:
    if run.status == Status.INVALID:
        first = run.errors[0] if run.errors else {}
        where = f"row {first['row']}: " if first.get("row") else ""
        detail = f" First error, {where}{first.get('message', '')}" if first else ""
        match = (
            " Match its columns on the import's page: the next pull uses the names you choose."
            if run.column_matching
            else ""
        )
        return (
            f"Import #{run.pk}: the file on the server has {run.error_count} "
            f"error{'s' if run.error_count != 1 else ''}, so nothing was imported.{detail}{match}"
        )
    return f"Import #{run.pk} ended {run.get_status_display().lower()}: {run.message}"


def _check(source: RemoteSource, now: datetime, http_status: int, message: str) -> Outcome:
    check = RemoteCheck.objects.create(
        source=source, checked_at=now, http_status=http_status, message=message
    )
    return Outcome(ok=True, message=message, check_id=check.pk)


def _record(
    source: RemoteSource, outcome: Outcome, *, now: datetime, lease: datetime | None
) -> None:
    """Store the outcome on the source, schedule the next sync, email after repeated failures.

    With `lease`, the next sync is scheduled only if the source still holds that lease (an admin
    who changed the cadence meanwhile set a new time); without it (a run that recovery finished,
    long after its lease), from the source's cadence as it is now.
    """
    fields = {"last_checked_at": now, "updated_at": timezone.now()}
    if outcome.ok:
        fields.update(consecutive_failures=0, last_success_at=now, last_error="")
        if outcome.remember is not None:
            sha256, etag, last_modified = outcome.remember
            fields.update(etag=etag[:500], last_modified=last_modified[:100], last_sha256=sha256)
        if lease is not None:
            # One UPDATE for a success (every unchanged file's check): the cadence is the one
            # read with the claim, since changing it moves next_fetch_at off the lease.
            due = next_regular_fetch(source.cadence, source.daily_hour, now)
            RemoteSource.objects.filter(pk=source.pk).update(
                **fields,
                next_fetch_at=Case(
                    When(next_fetch_at=lease, then=Value(due, output_field=DateTimeField())),
                    default=F("next_fetch_at"),
                ),
            )
            return
    else:
        fields.update(
            consecutive_failures=F("consecutive_failures") + 1, last_error=outcome.message
        )
    with transaction.atomic():
        RemoteSource.objects.filter(pk=source.pk).update(**fields)
        source.refresh_from_db()
        if not outcome.ok:
            outbox.record_sync_failed(source)
    if outcome.ok:
        due = next_regular_fetch(source.cadence, source.daily_hour, now)
    else:
        due = next_fetch_after_failure(
            source.cadence, source.daily_hour, source.consecutive_failures, now
        )
    schedule = RemoteSource.objects.filter(pk=source.pk)
    if lease is not None:
        schedule = schedule.filter(next_fetch_at=lease)
    schedule.update(next_fetch_at=due)
    if not outcome.ok and source.consecutive_failures == settings.REMOTE_FAILURE_EMAIL_AFTER:
        notify.send_remote_failures_email(source)


# --- the Fetch button ---------------------------------------------------------------------------


def fetch_into_run(run_id: int, *, report=progress.ignore) -> None:
    """Fetch the organization's file into a queued remote run, then preview it.

    A run that already has its input (a redelivered message) is only previewed; a fetch that
    fails ends the run failed, with the reason.
    """
    run = ImportRun.objects.select_related("organization").get(pk=run_id)
    if run.status == Status.QUEUED and not run.input_file:
        source = RemoteSource.objects.filter(
            organization_id=run.organization_id, enabled=True
        ).first()
        if source is None or not source.url:
            runs.fail_fetch(
                run_id,
                "Automatic import is not set up for your organization: nothing was fetched.",
            )
            return
        report("fetching", 0, 0)
        try:
            download = remote.download(source.url, headers=credentials(source))
            if download.not_modified:
                raise remote.FetchError(
                    "http_status",
                    "The server answered “not modified” without sending the file. Try again.",
                )
            remote.check_spreadsheet(download, source.file_format)
        except (remote.FetchError, SecretUnreadable) as error:
            runs.fail_fetch(run_id, str(getattr(error, "message", error)))
            return
        except Exception as error:  # Never a run left queued without a word.
            _log_unexpected(f"Fetch into run {run_id} failed", error, _secrets_of(source))
            runs.fail_fetch(
                run_id,
                f"The fetch failed unexpectedly ({type(error).__name__}). Nothing was changed. "
                "Support has the details in the logs.",
            )
            return
        try:
            runs.check_room(run.organization, new_bytes=download.size, new_run=False)
        except runs.LimitReached as limit:
            runs.fail_fetch(run_id, str(limit))
            return
        if runs.attach_input(run, data=download.data, name=host_of(source.url)):
            # The server answered with the file: the status shows when it last did.
            now = timezone.now()
            # Only that: the scheduled sync's own bookkeeping (checks, failures, ETag) stays.
            RemoteSource.objects.filter(pk=source.pk).update(last_success_at=now, updated_at=now)
    runs.preview_run(run_id, report=report)


# --- Test connection ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionReport:
    """What Test connection found: the server's answer and the file's rows, or what went wrong."""

    ok: bool
    message: str = ""
    http_status: int | None = None
    content_type: str = ""
    size: int | None = None
    row_count: int | None = None


def check_connection(
    url: str,
    *,
    headers: dict[str, str],
    file_format: str,
    column_mapping: dict[str, str] | None = None,
) -> ConnectionReport:
    """Download the file once and count its rows; create no run and remember nothing.

    It runs while the admin waits, in a web process: the whole download is cut off after
    settings.REMOTE_TEST_TIMEOUT seconds (10 by default), connect and reads included.
    """
    limits = remote.Limits.from_settings(
        total_timeout=min(settings.REMOTE_TOTAL_TIMEOUT, settings.REMOTE_TEST_TIMEOUT)
    )
    try:
        download = remote.download(url, headers=headers, limits=limits)
    except remote.FetchError as error:
        return ConnectionReport(ok=False, message=error.message, http_status=error.http_status)
    except Exception as error:
        _log_unexpected("Test connection failed", error, list(headers.values()))
        return ConnectionReport(
            ok=False,
            message=f"The test failed unexpectedly ({type(error).__name__}). Support has the "
            "details in the logs.",
        )
    found = {
        "http_status": download.status,
        "content_type": download.content_type,
        "size": download.size,
    }
    try:
        remote.check_spreadsheet(download, file_format)
        table = read_table(
            download.data,
            extra_synonyms=column_mapping or None,
            max_rows=settings.IMPORT_MAX_ROWS,
            max_xml_bytes=settings.IMPORT_MAX_XLSX_EXPANDED_BYTES,
        )
    except remote.FetchError as error:
        return ConnectionReport(ok=False, message=error.message, **found)
    except FileError as error:
        return ConnectionReport(ok=False, message=error.message, **found)
    return ConnectionReport(ok=True, row_count=len(table.rows), **found)


# --- the company admin's settings ---------------------------------------------------------------


def configure_source(
    source: RemoteSource,
    *,
    url: str,
    auth: str,
    username: str,
    header_name: str,
    secret: str,
    keep_secret: bool,
    file_format: str,
    cadence: str,
    daily_hour: int,
    acting_user: User | None,
    now: datetime,
) -> list[str]:
    """Save a source's settings from the validated form; return the names of what changed.

    A new secret is encrypted; `keep_secret` keeps the stored one. A new server or new
    credentials forget what was remembered of the old file (ETag, hash) and the failure count;
    a new cadence or hour reschedules the next sync.
    """
    Auth = RemoteSource.Auth
    values = {
        "url": url,
        "auth": auth,
        "username": username if auth == Auth.BASIC else "",
        "header_name": header_name if auth == Auth.HEADER else "",
        "file_format": file_format,
        "cadence": cadence,
        "daily_hour": daily_hour,
    }
    before = {name: getattr(source, name) for name in values}
    changed = [name for name, value in values.items() if before[name] != value]
    if auth == Auth.NONE:
        secret_encrypted = ""
    elif keep_secret:
        secret_encrypted = source.secret_encrypted
    else:
        secret_encrypted = encrypt_secret(secret)
    before_secret = source.secret_encrypted
    if secret_encrypted != before_secret:
        changed.append("secret")
    for name, value in values.items():
        setattr(source, name, value)
    source.secret_encrypted = secret_encrypted
    if {"url", "auth", "username", "header_name", "secret"} & set(changed):
        source.etag = source.last_modified = source.last_sha256 = ""
        source.consecutive_failures = 0
        source.last_error = ""
    if {"cadence", "daily_hour"} & set(changed) or (
        source.next_fetch_at is None and cadence != Cadence.MANUAL
    ):
        source.next_fetch_at = first_fetch(cadence, daily_hour, now)
    source.updated_by = acting_user
    with transaction.atomic():
        source.save()
        if changed:
            log = {
                f"{REMOTE_KEY}{name}": [
                    _setting_text(name, before[name]),
                    _setting_text(name, values[name]),
                ]
                for name in changed
                if name != "secret"
            }
            if "secret" in changed:
                # Never the secret itself, old or new: only that it changed.
                log[f"{REMOTE_KEY}secret"] = [
                    "Saved (not shown)" if before_secret else "",
                    "A new one (not shown)" if secret_encrypted else "",
                ]
            ImportConfigChange.objects.create(
                organization_id=source.organization_id,
                changed_by=acting_user,
                kind=ImportConfigChange.Kind.REMOTE_SETTINGS,
                changes=log,
            )
            events.remote_settings_changed_event(
                source=source, acting_user=acting_user, changed=changed
            )
    return changed


def _setting_text(name: str, value) -> str:
    """Return a remote setting as the change log shows it: a choice's label, the hour."""
    if name == "daily_hour":
        return f"{value:02d}:00"
    if name == "url":
        return remote.masked_url(value)
    return dict(RemoteSource._meta.get_field(name).flatchoices).get(value, value)


# --- shared -------------------------------------------------------------------------------------


def _secrets_of(source: RemoteSource) -> list[str]:
    """Return the source's secret and the header values made of it ([] if they cannot be read)."""
    try:
        return [decrypt_secret(source.secret_encrypted), *credentials(source).values()]
    except Exception:
        return []


def _log_unexpected(what: str, error: BaseException, secrets: list[str]) -> None:
    """Log an unexpected failure with its traceback, unless any of `secrets` appears in it.

    An exception raised while sending credentials may quote them (an HTTP library's error about
    a header value, say): then only the kind of error is logged.
    """
    details = "".join(traceback.format_exception(error))
    if any(secret and secret in details for secret in secrets):
        logger.error(
            "%s: %s (details not logged: they contain the source's credentials)",
            what,
            type(error).__name__,
        )
    else:
        logger.error("%s", what, exc_info=error)


def credentials(source: RemoteSource) -> dict[str, str]:
    """Return the headers carrying the source's credentials (decrypting its secret).

    Raise SecretUnreadable when the encryption keys no longer open the stored secret.
    """
    return remote.auth_headers(
        source.auth,
        username=source.username,
        header_name=source.header_name,
        secret=decrypt_secret(source.secret_encrypted),
    )
