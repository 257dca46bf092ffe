"""Preview and apply through a real Celery worker process and a real broker."""

import datetime as dt

import pytest

from importer import runs
from importer.models import ImportChange, ImportRun
from importer.tasks import apply_run_task, enqueue, preview_run_task
from tests.conftest import wait_for_run
from tests.factories import UserFactory
from users.models import User

pytestmark = pytest.mark.worker

CSV = (
    "Employee ID,First Name,Last Name,E-Mail,Job Title,Start Date,Reports To\n"
    "1001,Ana,Silva,ana@acme.example,CEO,2019-04-01,\n"
    "1002,Ben,Okafor,ben@acme.example,Engineer,2021-09-15,ana@acme.example\n"
    "00042,Chloé,Martin,chloe@acme.example,Designer,,ben@acme.example\n"
)


def preview(organization, admin, data: bytes, name="people.csv") -> ImportRun:
    run = runs.create_run(
        organization=organization,
        data=data,
        name=name,
        source=ImportRun.Source.UPLOAD,
        acting_user=admin,
    )
    assert enqueue(preview_run_task, run.pk)
    return wait_for_run(run)


def apply(run, admin) -> ImportRun:
    runs.request_apply(run, acting_user=admin)
    assert enqueue(apply_run_task, run.pk)
    return wait_for_run(run)


def test_it_previews_then_applies_exactly_the_previewed_changes(worker, acme, alice):
    gone = UserFactory(organization=acme, email="gone@acme.example")
    run = preview(acme, alice, CSV.encode())

    assert run.status == ImportRun.Status.READY
    assert run.counts == {
        "new": 3,
        "changed": 0,
        "deactivated": 1,
        "reactivated": 0,
        "unchanged": 0,
        "errors": 0,
        "warnings": 0,
    }
    assert User.objects.filter(organization=acme).count() == 2  # Nothing applied yet.

    run = apply(run, alice)

    assert run.status == ImportRun.Status.APPLIED
    ana = User.objects.get(email="ana@acme.example")
    ben = User.objects.get(email="ben@acme.example")
    chloe = User.objects.get(email="chloe@acme.example")
    assert (ben.employee_id, ben.hire_date, ben.manager, ben.title) == (
        "1002",
        dt.date(2021, 9, 15),
        ana,
        "Engineer",
    )
    assert (chloe.employee_id, chloe.first_name, chloe.manager) == ("00042", "Chloé", ben)
    gone.refresh_from_db()
    alice.refresh_from_db()
    assert not gone.is_active
    assert alice.is_active  # The admin running the import is never deactivated by it.
    assert set(run.changes.values_list("user__email", flat=True)) == {
        "ana@acme.example",
        "ben@acme.example",
        "chloe@acme.example",
        "gone@acme.example",
    }


def test_importing_the_same_file_again_changes_nothing(worker, acme, alice):
    apply(preview(acme, alice, CSV.encode()), alice)

    again = preview(acme, alice, CSV.encode())

    assert again.status == ImportRun.Status.READY
    assert again.change_count == 0
    assert again.unchanged_count == 3


def test_a_run_with_row_errors_is_invalid_and_cannot_be_applied(worker, acme, alice):
    run = preview(acme, alice, b"email,first_name\nana@acme.example,Ana\nnot-an-email,Ben\n")

    assert run.status == ImportRun.Status.INVALID
    assert [(e["row"], e["code"]) for e in run.errors] == [(3, "invalid_email")]
    with pytest.raises(runs.ApplyRefused):
        runs.request_apply(run, acting_user=alice)
    assert not User.objects.filter(email="ana@acme.example").exists()


def test_a_file_error_is_reported_without_a_row(worker, acme, alice):
    run = preview(acme, alice, b"first_name,last_name\nAna,Silva\n")

    # An upload stops at the column matching step, with the file's error.
    assert run.status == ImportRun.Status.NEEDS_COLUMNS
    assert [(e["row"], e["code"]) for e in run.errors] == [(None, "missing_column")]


def test_a_run_whose_users_changed_after_the_preview_ends_stale(worker, acme, alice, bob):
    run = preview(acme, alice, CSV.encode())
    bob.title = "Edited in Django admin"
    bob.save()

    run = apply(run, alice)

    assert run.status == ImportRun.Status.STALE
    assert not User.objects.filter(email="ana@acme.example").exists()
    bob.refresh_from_db()
    assert bob.is_active


def test_a_second_delivery_of_the_apply_task_applies_nothing_twice(worker, acme, alice):
    run = preview(acme, alice, CSV.encode())
    runs.request_apply(run, acting_user=alice)
    assert enqueue(apply_run_task, run.pk)
    assert enqueue(apply_run_task, run.pk)
    run = wait_for_run(run)
    apply_run_task.apply(args=[run.pk])  # A third delivery, run here, after the first finished.

    assert run.status == ImportRun.Status.APPLIED
    assert User.objects.filter(organization=acme).count() == 4
    assert ImportChange.objects.filter(run=run).count() == 3
