"""Custom attributes end to end on real processes: an upload previewed, applied and reverted by
a Celery worker, and a scheduled pull from the local HTTPS server synced by the worker."""

import datetime as dt
import time

import pytest
from django.utils import timezone

from importer import runs
from importer.models import ImportRun, RemoteSource
from importer.remote.secrets import encrypt_secret
from importer.tasks import apply_run_task, enqueue, enqueue_due_fetches, preview_run_task
from tests.conftest import wait_for_run
from tests.integration.https_server import Reply
from users.models import CustomAttribute, User

pytestmark = pytest.mark.worker


@pytest.fixture
def three_attributes(acme):
    CustomAttribute.objects.create(
        organization=acme, key="cost_centre", name="Cost centre", column_names=["Kostenstelle"]
    )
    CustomAttribute.objects.create(
        organization=acme, key="fte", name="FTE", type="number", position=1
    )
    CustomAttribute.objects.create(
        organization=acme,
        key="contract",
        name="Contract",
        type="choice",
        choices=["Permanent", "Fixed term"],
        position=2,
    )


def attributes_of(acme) -> dict[str, dict]:
    return dict(
        User.objects.filter(organization=acme)
        .exclude(email="alice@acme.example")
        .values_list("email", "attributes")
    )


def preview(acme, alice, text: str) -> ImportRun:
    run = runs.create_run(
        organization=acme,
        data=text.encode(),
        name="people.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=alice,
    )
    assert enqueue(preview_run_task, run.pk)
    return wait_for_run(run)


def apply(run: ImportRun, alice) -> ImportRun:
    runs.request_apply(run, acting_user=alice, confirm_safeguard=True)
    assert enqueue(apply_run_task, run.pk)
    return wait_for_run(run)


def test_an_upload_with_three_attributes_is_previewed_applied_and_reverted_by_the_worker(
    worker, acme, alice, three_attributes
):
    first = preview(
        acme,
        alice,
        "Email,First name,Kostenstelle,FTE,Contract\n"
        "alice@acme.example,Alice,,,\n"
        "ann@acme.example,Ann,CC-100,1.0,permanent\n"
        "ben@acme.example,Ben,CC-200,0.50,FIXED TERM\n",
    )
    assert first.status == ImportRun.Status.READY, first.issues
    assert first.new_count == 2
    ann = first.changes.get(email="ann@acme.example")
    assert ann.fields["attr_fte"] == ["", "1"]
    assert ann.fields["attr_contract"] == ["", "Permanent"]

    assert apply(first, alice).status == ImportRun.Status.APPLIED
    assert attributes_of(acme) == {
        "ann@acme.example": {"cost_centre": "CC-100", "fte": "1", "contract": "Permanent"},
        "ben@acme.example": {"cost_centre": "CC-200", "fte": "0.5", "contract": "Fixed term"},
    }
    imported = attributes_of(acme)

    second = preview(
        acme,
        alice,
        "Email,First name,Kostenstelle,FTE,Contract\n"
        "alice@acme.example,Alice,,,\n"
        "ann@acme.example,Ann,CC-100,0.8,Fixed term\n"
        "ben@acme.example,Ben,CC-300,,Fixed term\n",
    )
    assert (second.status, second.changed_count) == (ImportRun.Status.READY, 2), second.issues
    assert apply(second, alice).status == ImportRun.Status.APPLIED
    assert attributes_of(acme) == {
        "ann@acme.example": {"cost_centre": "CC-100", "fte": "0.8", "contract": "Fixed term"},
        # A blank FTE keeps the stored value.
        "ben@acme.example": {"cost_centre": "CC-300", "fte": "0.5", "contract": "Fixed term"},
    }

    reverting = runs.create_revert_run(second, acting_user=alice)
    assert apply(reverting, alice).status == ImportRun.Status.APPLIED
    assert attributes_of(acme) == imported


def test_an_attribute_error_in_an_upload_names_the_row_and_the_files_column(
    worker, acme, alice, three_attributes
):
    run = preview(
        acme,
        alice,
        "Email,Kostenstelle,FTE,Contract\n"
        "alice@acme.example,,,\n"
        'ann@acme.example,CC-1,"0,5",Permanent\n',
    )

    assert run.status == ImportRun.Status.INVALID
    (issue,) = run.errors
    assert (issue["row"], issue["column"], issue["code"]) == (3, "FTE", "invalid_number")
    assert "1234.5" in issue["message"]


def test_a_scheduled_pull_imports_the_attributes(
    worker, https_server, acme, alice, three_attributes
):
    body = (
        b"Employee ID,E-Mail,First Name,Cost centre,FTE,Contract\n"
        b",alice@acme.example,Alice,,,\n"
        b"1001,ana@acme.example,Ana,CC-7,0.75,Permanent\n"
        b"1002,ben@acme.example,Ben,CC-8,1,fixed term\n"
    )
    https_server.routes["/export.csv"] = lambda seen: (
        Reply(body=body, headers={"Content-Type": "text/csv", "ETag": '"a1"'})
        if seen.headers.get("Authorization") == "Bearer t0ken"
        else Reply(401, b"no")
    )
    source = RemoteSource.objects.create(
        organization=acme,
        enabled=True,
        url=https_server.url("/export.csv"),
        auth=RemoteSource.Auth.BEARER,
        secret_encrypted=encrypt_secret("t0ken"),
        cadence=RemoteSource.Cadence.HOURLY,
        next_fetch_at=timezone.now() - dt.timedelta(minutes=1),
    )

    assert enqueue_due_fetches(timezone.now()) == [source.pk]

    deadline = time.monotonic() + 60
    while not ImportRun.objects.filter(trigger="scheduled", status="applied").exists():
        assert time.monotonic() < deadline, list(ImportRun.objects.values("status", "issues"))
        time.sleep(0.2)
    assert attributes_of(acme) == {
        "ana@acme.example": {"cost_centre": "CC-7", "fte": "0.75", "contract": "Permanent"},
        "ben@acme.example": {"cost_centre": "CC-8", "fte": "1", "contract": "Fixed term"},
    }
