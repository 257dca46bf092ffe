"""Leases: a worker's claim on the run it works on, renewed while it works (the heartbeat).

A worker takes a run up with a conditional UPDATE that sets `lease_expires_at`; a thread renews
the lease every third of settings.IMPORT_LEASE_SECONDS until the work ends. A lease that ran out
means the worker stopped (killed, out of memory, its machine gone): `recover_abandoned_runs`
(beat, every minute) hands the run to a worker again, at most settings.IMPORT_MAX_ATTEMPTS times
for one step, then fails it with the reason. `attempts` counts the workers that took the step up.

A live import is never taken from its worker, even while its heartbeat cannot write: on SQLite
the import holds the database's write lock, so a takeover (a conditional UPDATE) waits for it to
commit and then finds the run finished; on PostgreSQL the import does not lock the run's row
(the organization's row is its lock), so the heartbeat goes on.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from importer.models import ImportRun
from importer.runs import events, outbox

logger = logging.getLogger(__name__)
Status = ImportRun.Status


class LeaseHeld(Exception):
    """Another worker's lease on the run is live; try again in `seconds` if it still matters."""

    def __init__(self, run_id: int, seconds: float):
        super().__init__(f"Run {run_id} is leased for {seconds:.0f} s more")
        self.run_id = run_id
        self.seconds = seconds


def _lease_until(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.IMPORT_LEASE_SECONDS)


def _step(status: str) -> str:
    return "importing" if status == Status.APPLYING else "previewing"


def retrying_message(status: str, attempt: int) -> str:
    """Return what the run's page says while a step is tried again after its worker stopped."""
    return (
        f"A worker stopped while {_step(status)}; retrying "
        f"(attempt {attempt} of {settings.IMPORT_MAX_ATTEMPTS})."
    )


def abandoned_message(status: str) -> str:
    """Return the reason a run failed after its workers stopped on every attempt."""
    tries = settings.IMPORT_MAX_ATTEMPTS
    if status == Status.APPLYING:
        return (
            f"A worker stopped while importing, on each of {tries} attempts, so the import was "
            "stopped. Nothing was changed. The file may be too large for the workers: contact "
            "support with this import's number."
        )
    return (
        f"A worker stopped while previewing this file, on each of {tries} attempts, so the "
        "preview was stopped. Nothing was imported. The file may be too large for the workers: "
        "contact support with this import's number."
    )


def take_up(run_id: int, statuses: list[str], *, becomes: str) -> bool:
    """Take the lease of a run in one of `statuses`, which then becomes `becomes`.

    Return False when the run is in none of them (finished, or failed here because its workers
    stopped on every attempt). Raise LeaseHeld when another worker's lease on it is live. A
    lease that ran out is taken over: this is the redelivered message of a worker that stopped.
    """
    for _race in range(5):
        now = timezone.now()
        current = (
            ImportRun.objects.filter(pk=run_id, status__in=statuses)
            .values("status", "attempts", "lease_expires_at")
            .first()
        )
        if current is None:
            return False
        lease, attempts = current["lease_expires_at"], current["attempts"]
        same = ImportRun.objects.filter(
            pk=run_id, status=current["status"], attempts=attempts, lease_expires_at=lease
        )
        if lease is None:
            fields = {"attempts": max(attempts, 1)}
        elif lease > now:
            raise LeaseHeld(run_id, (lease - now).total_seconds())
        elif attempts >= settings.IMPORT_MAX_ATTEMPTS:
            if _fail_abandoned(same, current["status"], now):
                return False
            continue
        else:
            fields = {
                "attempts": attempts + 1,
                "message": retrying_message(becomes, attempts + 1),
            }
        if same.update(
            status=becomes, lease_expires_at=_lease_until(now), updated_at=now, **fields
        ):
            return True
    return False


def renew(run_id: int) -> bool:
    """Push the run's lease forward; return False when it is no longer leased (or running)."""
    return bool(
        ImportRun.objects.filter(
            pk=run_id, status__in=ImportRun.RUNNING_STATUSES, lease_expires_at__isnull=False
        ).update(lease_expires_at=_lease_until(timezone.now()))
    )


@contextmanager
def heartbeat(run_id: int):
    """Renew the run's lease from a thread of its own while the block runs.

    The thread has its own database connection: the work's transaction does not hide its writes.
    A renewal that fails (the database busy or gone) is logged and tried again at the next beat.
    """
    stopped = threading.Event()
    interval = settings.IMPORT_LEASE_SECONDS / 3

    def beat() -> None:
        try:
            while not stopped.wait(interval):
                try:
                    renew(run_id)
                except Exception:
                    logger.warning(
                        "The lease of run %s could not be renewed", run_id, exc_info=True
                    )
        finally:
            connections.close_all()  # This thread's own connections only.

    thread = threading.Thread(target=beat, name=f"lease-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopped.set()
        thread.join()


def release(run_id: int, status: str, message: str) -> None:
    """Give up the lease of a run left in `status` for a retry, saying why on its page."""
    ImportRun.objects.filter(pk=run_id, status=status).update(
        lease_expires_at=None, message=message, updated_at=timezone.now()
    )


@dataclass
class Recovery:
    """What recover_abandoned_runs did: runs to send to a worker again, and runs it failed."""

    resend: list[ImportRun] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def recover_abandoned_runs(now: datetime | None = None) -> Recovery:
    """Hand runs whose worker stopped to a worker again; fail those out of attempts.

    A run whose lease ran out had a worker that stopped: its next attempt is noted (message and
    audit event) and it is to be sent again, or it fails once its attempts are used up. A run no
    worker took up for settings.IMPORT_RESEND_AFTER_SECONDS (a lost message) is to be sent again.
    The caller sends them. Every change is a conditional UPDATE: a run a worker took up meanwhile
    (or whose live import holds SQLite's write lock) is left alone.
    """
    now = now or timezone.now()
    recovery = Recovery()
    running = ImportRun.objects.filter(status__in=ImportRun.RUNNING_STATUSES)
    for run in running.filter(lease_expires_at__lt=now):
        same = ImportRun.objects.filter(
            pk=run.pk,
            status=run.status,
            attempts=run.attempts,
            lease_expires_at=run.lease_expires_at,
        )
        if run.attempts >= settings.IMPORT_MAX_ATTEMPTS:
            if _fail_abandoned(same, run.status, now):
                logger.error("Run %s failed: its workers stopped on every attempt", run.pk)
                recovery.failed.append(run.pk)
            continue
        attempt = run.attempts + 1
        with transaction.atomic():
            taken = same.update(
                lease_expires_at=None,
                attempts=attempt,
                message=retrying_message(run.status, attempt),
                updated_at=now,
            )
            if taken:
                events.run_retried_event(
                    run=run,
                    status=run.status,
                    attempt=attempt,
                    of=settings.IMPORT_MAX_ATTEMPTS,
                )
        if taken:
            logger.warning("The worker of run %s stopped; attempt %s", run.pk, attempt)
            recovery.resend.append(run)
    cutoff = now - timedelta(seconds=settings.IMPORT_RESEND_AFTER_SECONDS)
    for run in running.filter(lease_expires_at__isnull=True, updated_at__lt=cutoff):
        with transaction.atomic():
            resent = ImportRun.objects.filter(
                pk=run.pk,
                status=run.status,
                lease_expires_at__isnull=True,
                updated_at=run.updated_at,
            ).update(updated_at=now)
            if resent:
                events.run_retried_event(run=run, status=run.status)
        if resent:
            logger.warning("Run %s was never taken up in %s; sending it again", run.pk, run.status)
            recovery.resend.append(run)
    return recovery


def _fail_abandoned(same, status: str, now: datetime) -> bool:
    """Fail the run `same` selects; its webhook endpoints hear of it in the same transaction."""
    run_id = same.values_list("pk", flat=True).first()
    with transaction.atomic():
        failed = same.update(
            status=Status.FAILED,
            message=abandoned_message(status),
            lease_expires_at=None,
            finished_at=now,
            updated_at=now,
        )
        if failed:
            outbox.record_run_event(ImportRun.objects.get(pk=run_id))
    return bool(failed)
