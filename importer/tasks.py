"""Celery tasks: thin wrappers that load by id and call importer.runs.

Explicit names keep queued messages valid across a rename of the Python function. Retries live
here: a step that met a transient database error (runs.DatabaseUnavailable, the run left in its
state) is tried again after 2, 6, 18… seconds, settings.IMPORT_DATABASE_RETRIES times, then the
run fails with the reason; a run another worker holds the lease of (runs.LeaseHeld: this is a
redelivered message of a worker that may have stopped) is looked at again when the lease ends.
"""

import contextlib
import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone
from kombu.utils.uuid import uuid

from importer import progress, runs, webhooks
from importer.history import retention
from importer.models import ImportRun
from importer.remote import services as sync
from importer.runs import selectors

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="importer.preview_run", acks_late=True, reject_on_worker_lost=True)
def preview_run_task(self, run_id: int, database_retries: int = 0) -> None:
    with progress.Reporter(run_id) as report:
        _retrying(self, run_id, database_retries, runs.preview_run, report)


@shared_task(bind=True, name="importer.apply_run", acks_late=True, reject_on_worker_lost=True)
def apply_run_task(self, run_id: int, database_retries: int = 0) -> None:
    with progress.Reporter(run_id) as report:
        _retrying(self, run_id, database_retries, runs.apply_run, report)


def _retrying(task, run_id: int, database_retries: int, step, report) -> None:
    """Run a step of a run, then finish it if it is a scheduled sync's; retry transient faults."""
    try:
        step(run_id, report=report)
        sync.finish_scheduled_run(run_id, report=report)
    except runs.LeaseHeld as held:
        raise task.retry(countdown=held.seconds + 1, max_retries=None) from held
    except runs.DatabaseUnavailable as error:
        if database_retries >= settings.IMPORT_DATABASE_RETRIES:
            logger.error("Run %s: the database failed on every try; it fails", run_id)
            runs.fail_database_unavailable(run_id)
            sync.finish_scheduled_run(run_id)
            return
        countdown = database_backoff(database_retries)
        logger.warning("Run %s: trying again in %s s (database)", run_id, countdown)
        raise task.retry(
            args=[run_id],
            kwargs={"database_retries": database_retries + 1},
            countdown=countdown,
            max_retries=None,
        ) from error


def database_backoff(retries: int) -> int:
    """Return the seconds before retry number `retries + 1`: 2, 6, 18, 54…"""
    return 2 * 3**retries


@shared_task(name="importer.recover_stuck_runs")
def recover_stuck_runs_task() -> None:
    """Hand runs whose worker stopped (or whose message was lost) to a worker again."""
    recovery = runs.recover_abandoned_runs()
    for run in recovery.resend:
        logger.warning("Run %s (%s) goes to a worker again", run.pk, run.status)
        enqueue(task_for(run), run.pk)
    for run_id in recovery.failed:
        sync.finish_scheduled_run(run_id)  # A scheduled run's failure is its source's, too.


def task_for(run: ImportRun):
    """Return the task that takes a running run on from where it is."""
    if run.status == ImportRun.Status.APPLYING:
        return apply_run_task
    return preview_task_for(run)


@shared_task(name="importer.delete_expired_inputs")
def delete_expired_inputs_task() -> None:
    """Delete stored inputs past ROSTERSYNC_INPUT_RETENTION_DAYS (runs stay), and stray files."""
    deleted = retention.delete_expired_inputs(
        now=timezone.now(), retention_days=settings.INPUT_RETENTION_DAYS
    )
    logger.info("Deleted %s stored input file(s) past the retention period", deleted)
    orphans = retention.delete_orphan_inputs(now=timezone.now(), older_than=timedelta(days=1))
    logger.info("Deleted %s stored file(s) that belonged to no run", orphans)


RUN_TASKS = ("importer.preview_run", "importer.apply_run", "importer.fetch_remote")


def route_run_task(name, args, kwargs, options, task=None, **extra) -> dict | None:
    """Send a run's preview or import to the queue of its size (Celery's task router).

    A run whose file is settings.IMPORT_LARGE_INPUT_BYTES or more (for a Fetch, which has no
    file yet: the organization's last applied one; for a revert: its changes, at about 100
    bytes each) goes to IMPORT_LARGE_QUEUE, any other to IMPORT_QUEUE; other tasks to the
    default queue. A queue given to apply_async wins.
    """
    if name not in RUN_TASKS or not args:
        return None
    return {"queue": queue_for_run(args[0])}


def queue_for_run(run_id: int) -> str:
    """Return the queue of a run's preview and import: by the size of its input."""
    found = (
        ImportRun.objects.filter(pk=run_id)
        .values_list(
            "organization_id",
            "source",
            "input_size",
            "new_count",
            "changed_count",
            "deactivated_count",
            "reactivated_count",
        )  # fmt: skip
        .first()
    )
    if found is None:
        return settings.IMPORT_QUEUE
    organization_id, source, size, *counts = found
    if source == ImportRun.Source.REVERT:
        size = 100 * sum(counts)
    elif not size and source == ImportRun.Source.REMOTE:
        last = selectors.last_applied_file_runs(organization_id).values_list("input_size")
        size = (last.first() or (0,))[0]
    return (
        settings.IMPORT_LARGE_QUEUE
        if size >= settings.IMPORT_LARGE_INPUT_BYTES
        else settings.IMPORT_QUEUE
    )


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


# --- Remote import (importer.remote.services) ---------------------------------------------


@shared_task(bind=True, name="importer.fetch_remote", acks_late=True, reject_on_worker_lost=True)
def fetch_remote_task(self, run_id: int, database_retries: int = 0) -> None:
    """Fetch the file into a queued remote run (the Fetch button), then preview it."""
    with progress.Reporter(run_id) as report:
        _retrying(self, run_id, database_retries, sync.fetch_into_run, report)


@shared_task(name="importer.enqueue_due_fetches")
def enqueue_due_fetches_task() -> None:
    enqueue_due_fetches(timezone.now())


def enqueue_due_fetches(now: datetime) -> list[int]:
    """Claim the due sources and enqueue one sync for each; return the ids of those claimed.

    The claim is one statement and the messages go out through one producer (one broker
    connection), so a tick's cost is a few milliseconds per thousand sources. A sync that
    cannot be enqueued keeps its lease and is tried again once the lease expires.
    """
    claimed = sync.claim_due_sources(now)
    if claimed:
        try:
            _publish_syncs(claimed)
        except Exception:
            logger.exception("Could not enqueue the syncs of %s remote sources", len(claimed))
    return [source_id for source_id, _lease_until in claimed]


def _publish_syncs(claimed: list[tuple[int, datetime]]) -> None:
    """Send one sync_source message per claimed source, through one producer.

    The messages are what sync_source_task.apply_async sends, made by Celery's own
    create_task_message and send_task_message, without apply_async's option handling around
    them and with the queue declared once; on Redis they go out in pipelines of 1,000 (kombu's
    publish batch, kombu 5.7 and later) instead of a round trip each.
    """
    app = sync_source_task.app
    name = sync_source_task.name
    queue = app.amqp.queues[settings.CELERY_TASK_DEFAULT_QUEUE]
    with app.producer_or_acquire() as producer, _batch(producer):
        producer.maybe_declare(queue)  # Once, not for every message.
        for source_id, lease in claimed:
            args = [source_id, lease.isoformat()]
            message = app.amqp.create_task_message(
                uuid(), name, args, {}, argsrepr=repr(args), kwargsrepr="{}"
            )
            app.amqp.send_task_message(
                producer, name, message, queue=queue.name, declare=[], retry=False
            )


def _batch(producer):
    """Return the producer's publish batch, or nothing where kombu has none (before 5.7)."""
    batch = getattr(producer, "batch", None)
    return batch(1000) if batch is not None else contextlib.nullcontext()


@shared_task(name="importer.sync_source", acks_late=True, reject_on_worker_lost=True)
def sync_source_task(source_id: int, claimed_until: str) -> None:
    try:
        sync.sync_source(source_id, claimed_until=datetime.fromisoformat(claimed_until))
    except (runs.DatabaseUnavailable, runs.LeaseHeld) as error:
        # The sync's run waits in its state: its step's task retries it and finishes the sync.
        run = ImportRun.objects.get(pk=error.run_id)
        task_for(run).apply_async(args=[run.pk], countdown=database_backoff(0), retry=False)


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
