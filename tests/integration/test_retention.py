"""Retention: stored inputs past the retention period are deleted; runs and changes stay."""

import datetime as dt

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone

from importer import runs
from importer.models import ImportRun
from importer.tasks import delete_expired_inputs_task


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def stored_run(organization, admin, *, age_days: int, **fields) -> ImportRun:
    run = runs.create_run(
        organization=organization,
        data=b"email\nana@acme.example\n",
        name="people.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=admin,
    )
    ImportRun.objects.filter(pk=run.pk).update(
        created_at=timezone.now() - dt.timedelta(days=age_days), **fields
    )
    run.refresh_from_db()
    return run


def test_the_daily_task_deletes_inputs_older_than_the_setting_and_keeps_the_runs(
    acme, alice, settings, media
):
    settings.INPUT_RETENTION_DAYS = 30
    old = stored_run(acme, alice, age_days=31, status=ImportRun.Status.APPLIED, changed_count=4)
    recent = stored_run(acme, alice, age_days=29, status=ImportRun.Status.APPLIED)
    old_path = media / old.input_file.name

    delete_expired_inputs_task.apply()

    old.refresh_from_db()
    recent.refresh_from_db()
    assert not old_path.exists()
    assert old.input_file.name == "" and old.input_deleted_at is not None
    assert (old.input_name, old.input_size, old.changed_count) == ("people.csv", 23, 4)
    assert recent.input_file and (media / recent.input_file.name).exists()
    assert recent.input_deleted_at is None


def test_a_run_still_under_way_keeps_its_input(acme, alice, settings):
    settings.INPUT_RETENTION_DAYS = 1
    queued = stored_run(acme, alice, age_days=10, status=ImportRun.Status.QUEUED)

    delete_expired_inputs_task.apply()

    queued.refresh_from_db()
    assert queued.input_file


def test_zero_days_keeps_inputs_forever(acme, alice, settings):
    settings.INPUT_RETENTION_DAYS = 0
    old = stored_run(acme, alice, age_days=5000, status=ImportRun.Status.APPLIED)

    delete_expired_inputs_task.apply()

    old.refresh_from_db()
    assert old.input_file


def test_the_run_page_says_the_input_is_no_longer_stored(acme, alice, alice_client, settings):
    settings.INPUT_RETENTION_DAYS = 30
    old = stored_run(acme, alice, age_days=400, status=ImportRun.Status.APPLIED)
    delete_expired_inputs_task.apply()

    html = alice_client.get(reverse("importer:run-detail", args=[old.pk])).content.decode()

    assert "The file is no longer stored" in html
    assert reverse("importer:run-input", args=[old.pk]) not in html
    assert old.input_sha256 in html  # The checksum stays, so a kept copy can still be matched.
    assert alice_client.get(reverse("importer:run-input", args=[old.pk])).status_code == 404


def test_the_task_is_scheduled_daily():
    schedule = django_settings.CELERY_BEAT_SCHEDULE["delete-expired-inputs"]

    assert schedule["task"] == delete_expired_inputs_task.name == "importer.delete_expired_inputs"
    assert schedule["schedule"] == 24 * 60 * 60
