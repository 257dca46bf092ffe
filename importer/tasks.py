"""Celery tasks: thin wrappers that load by id and call importer.runs.

Explicit names keep queued messages valid across a rename of the Python function.
"""

import logging

from celery import shared_task

from . import progress, runs
from .models import ImportRun

logger = logging.getLogger(__name__)


@shared_task(name="importer.preview_run", acks_late=True, reject_on_worker_lost=True)
def preview_run_task(run_id: int) -> None:
    runs.preview_run(run_id, report=progress.Reporter(run_id))


@shared_task(name="importer.apply_run", acks_late=True, reject_on_worker_lost=True)
def apply_run_task(run_id: int) -> None:
    runs.apply_run(run_id, report=progress.Reporter(run_id))


@shared_task(name="importer.recover_stuck_runs")
def recover_stuck_runs_task() -> None:
    """Hand runs whose worker died (or whose message was lost) to a worker again."""
    for run in runs.stuck_runs():
        logger.warning("Run %s is stuck in %s; enqueueing it again", run.pk, run.status)
        runs.mark_retried(run)
        if run.status == ImportRun.Status.APPLYING:
            enqueue(apply_run_task, run.pk)
        else:
            enqueue(preview_run_task, run.pk)


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
