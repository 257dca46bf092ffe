"""Runs go to the queue of their size, so one company's large files never hold up a paste."""

import pytest
from django.conf import settings as django_settings

from config.celery import app
from importer import runs
from importer.models import ImportRun
from importer.tasks import apply_run_task, enqueue, preview_run_task
from tests.conftest import wait_for_run

SMALL = b"email,first_name\nana@acme.example,Ana\n"


def queue_of(task_name: str, *args) -> str:
    """Return the queue Celery's own router sends `task_name(*args)` to."""
    return app.amqp.router.route({}, task_name, args, {})["queue"].name


def run_of(organization, data: bytes, **fields) -> ImportRun:
    run = runs.create_run(
        organization=organization, data=data, name="people.csv", source=ImportRun.Source.UPLOAD
    )
    ImportRun.objects.filter(pk=run.pk).update(**fields)
    return run


def test_a_run_goes_to_the_queue_of_its_input_size(acme, settings):
    settings.IMPORT_LARGE_INPUT_BYTES = 1000
    small = run_of(acme, SMALL)
    large = run_of(acme, SMALL + b"ben@acme.example,Ben\n" * 60)

    assert queue_of("importer.preview_run", small.pk) == "runs"
    assert queue_of("importer.apply_run", small.pk) == "runs"
    assert queue_of("importer.preview_run", large.pk) == "runs-large"
    assert queue_of("importer.apply_run", large.pk) == "runs-large"
    # Anything else (a scheduled sync, a webhook, beat's tasks) goes to the default queue.
    assert queue_of("importer.sync_source", 1, "2026-01-01T00:00:00+00:00") == "celery"
    assert queue_of("importer.deliver_webhook", 1) == "celery"


def test_a_fetch_and_a_revert_are_sized_by_what_they_will_hold(acme, settings):
    settings.IMPORT_LARGE_INPUT_BYTES = 1000
    run_of(acme, SMALL * 100, status=ImportRun.Status.APPLIED)  # The last applied file: large.
    fetch = ImportRun.objects.create(organization=acme, source=ImportRun.Source.REMOTE)
    revert = ImportRun.objects.create(
        organization=acme, source=ImportRun.Source.REVERT, changed_count=5
    )

    assert queue_of("importer.fetch_remote", fetch.pk) == "runs-large"
    assert queue_of("importer.preview_run", revert.pk) == "runs"
    ImportRun.objects.filter(pk=revert.pk).update(changed_count=50)
    assert queue_of("importer.apply_run", revert.pk) == "runs-large"


@pytest.mark.worker
def test_the_test_worker_consumes_every_queue_a_run_is_routed_to(worker, acme, alice, settings):
    assert set(django_settings.ALL_QUEUES) == {"runs", "runs-large", "celery"}
    settings.IMPORT_LARGE_INPUT_BYTES = 30  # This file goes to "runs-large".
    run = run_of(acme, SMALL)
    assert queue_of("importer.preview_run", run.pk) == "runs-large"

    assert enqueue(preview_run_task, run.pk)
    run = wait_for_run(run)
    assert run.status == ImportRun.Status.READY
    # The file leaves Alice, the admin, out: her deactivation passes a limit, confirmed here.
    runs.request_apply(run, acting_user=alice, confirm_safeguard=True)
    assert enqueue(apply_run_task, run.pk)
    assert wait_for_run(run).status == ImportRun.Status.APPLIED


def test_the_shipped_workers_consume_every_queue_a_task_is_routed_to():
    import re
    from pathlib import Path

    root = Path(django_settings.BASE_DIR)
    for shipped in ("Procfile", "docker-compose.yml"):
        text = (root / shipped).read_text()
        consumed = {
            queue
            for queues in re.findall(r"celery -A config worker .*?-Q (\S+)", text)
            for queue in queues.split(",")
        }
        assert consumed == set(django_settings.ALL_QUEUES), shipped
