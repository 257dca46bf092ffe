"""Celery tasks: thin wrappers that load by id and call importer.runs.

Explicit names keep queued messages valid across a rename of the Python function.
"""

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from importer import progress, runs, webhooks
from importer.history import retention
from importer.models import ImportRun
from importer.remote import services as sync

logger = logging.getLogger(__name__)


@shared_task(name="importer.preview_run", acks_late=True, reject_on_worker_lost=True)
def preview_run_task(run_id: int) -> None:
    with progress.Reporter(run_id) as report:
        runs.preview_run(run_id, report=report)


@shared_task(name="importer.apply_run", acks_late=True, reject_on_worker_lost=True)
def apply_run_task(run_id: int) -> None:
    with progress.Reporter(run_id) as report:
        runs.apply_run(run_id, report=report)


@shared_task(name="importer.recover_stuck_runs")
def recover_stuck_runs_task() -> None:
    """Hand runs whose worker died (or whose message was lost) to a worker again."""
    for run in runs.stuck_runs():
        logger.warning("Run %s is stuck in %s; enqueueing it again", run.pk, run.status)
        runs.mark_retried(run)
        if run.status == ImportRun.Status.APPLYING:
            enqueue(apply_run_task, run.pk)
        else:
            enqueue(preview_task_for(run), run.pk)


@shared_task(name="importer.delete_expired_inputs")
def delete_expired_inputs_task() -> None:
    """Delete stored inputs past ROSTERSYNC_INPUT_RETENTION_DAYS (runs stay), and stray files."""
    deleted = retention.delete_expired_inputs(
        now=timezone.now(), retention_days=settings.INPUT_RETENTION_DAYS
    )
    logger.info("Deleted %s stored input file(s) past the retention period", deleted)
    orphans = retention.delete_orphan_inputs(now=timezone.now(), older_than=timedelta(days=1))
    logger.info("Deleted %s stored file(s) that belonged to no run", orphans)


def enqueue(task, run_id: int) -> bool:
    """Send a task for a run; return False when the broker cannot be reached.

    The run stays in its state, so nothing is lost: the page offers to try again, and
    recover_stuck_runs picks it up once the broker is back.
    """
    try:
        task.apply_async(args=[run_id], retry=False)
    except Exception:
        logger.exception("Could not enqueue %s for run %s", task.name, run_id)
        return False
    return True


# --- Remote import (importer.sync) ------------------------------------------------------------


@shared_task(name="importer.fetch_remote", acks_late=True, reject_on_worker_lost=True)
def fetch_remote_task(run_id: int) -> None:
    """Fetch the file into a queued remote run (the Fetch button), then preview it."""
    with progress.Reporter(run_id) as report:
        sync.fetch_into_run(run_id, report=report)


@shared_task(name="importer.enqueue_due_fetches")
def enqueue_due_fetches_task() -> None:
    enqueue_due_fetches(timezone.now())


def enqueue_due_fetches(now: datetime) -> list[int]:
    """Claim the due sources and enqueue one sync for each; return the ids of those claimed.

    A sync that cannot be enqueued keeps its lease and is tried again once the lease expires.
    """
    claimed = sync.claim_due_sources(now)
    for source_id, lease in claimed:
        enqueue_sync(source_id, lease)
    return [source_id for source_id, _lease_until in claimed]


@shared_task(name="importer.sync_source", acks_late=True, reject_on_worker_lost=True)
def sync_source_task(source_id: int, claimed_until: str) -> None:
    sync.sync_source(source_id, claimed_until=datetime.fromisoformat(claimed_until))


def enqueue_sync(source_id: int, claimed_until: datetime) -> bool:
    """Send the sync of a claimed source; return False when the broker cannot be reached.

    The source keeps its claim until the lease runs out, then the dispatcher claims it again.
    """
    try:
        sync_source_task.apply_async(args=[source_id, claimed_until.isoformat()], retry=False)
    except Exception:
        logger.exception("Could not enqueue the sync of remote source %s", source_id)
        return False
    return True


def preview_task_for(run: ImportRun):
    """Return the task that previews a queued run: a remote run without input is fetched first."""
    if run.source == ImportRun.Source.REMOTE and not run.input_file:
        return fetch_remote_task
    return preview_run_task


# --- Webhooks and Slack (importer.webhooks) ----------------------------------------------------


@shared_task(name="importer.deliver_webhook", acks_late=True, reject_on_worker_lost=True)
def deliver_webhook_task(delivery_id: int) -> None:
    """Make one attempt at a delivery; a failed one waits its backoff in the outbox, and the
    sweep below sends it again (one path for every attempt, so none is made twice)."""
    webhooks.deliver(delivery_id)


@shared_task(name="importer.deliver_due_webhooks")
def deliver_due_webhooks_task() -> None:
    """Send the outbox's due deliveries (new events and retries whose message was lost)."""
    for delivery_id in webhooks.claim_due():
        enqueue_webhook(delivery_id)


def enqueue_webhook(delivery_id: int) -> bool:
    """Send a delivery to the workers; return False when the broker cannot be reached.

    The delivery stays pending in the outbox: the next sweep sends it.
    """
    try:
        deliver_webhook_task.apply_async(args=[delivery_id], retry=False)
    except Exception:
        logger.exception("Could not enqueue webhook delivery %s", delivery_id)
        return False
    return True
