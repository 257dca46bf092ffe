"""The column matching step, driven with Django's test client and a real worker."""

import datetime as dt

import pytest
from django.urls import reverse

from importer import runs
from importer.history.retention import delete_expired_inputs
from importer.models import ImportConfig, ImportConfigChange, ImportRun
from importer.pipeline.headers import IGNORED
from tests.integration.test_web_flow import poll_panel

UNKNOWN = (
    "Mail Addr,Vorname,Deparment,Cost center\n"
    "ana@example.com,Ana,Sales,K1\n"
    "ben@example.com,Ben,IT,K2\n"
)


def paste(client, text):
    response = client.post(reverse("importer:create-preview"), {"text": text})
    assert response.status_code == 302
    return ImportRun.objects.order_by("-pk").first()


@pytest.mark.worker
def test_unknown_columns_are_matched_saved_and_the_next_paste_skips_the_step(
    worker, alice_client, acme
):
    run = paste(alice_client, UNKNOWN)
    html = poll_panel(alice_client, run)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.NEEDS_COLUMNS
    assert "Match the columns of your file" in html
    assert 'id="import-button"' not in html  # The step comes before the preview.
    assert "ana@example.com" in html  # A sample value.
    columns = {column["header"]: column for column in run.column_matching}
    assert columns["Mail Addr"]["suggested"] == "email"  # Its values are addresses.
    assert columns["Deparment"]["suggested"] == "department"  # A close spelling.

    # A choice without the email is refused, with the reason.
    refused = alice_client.post(
        reverse("importer:run_columns", args=[run.pk]),
        {
            "column_0": IGNORED,
            "column_1": "first_name",
            "column_2": "department",
            "column_3": IGNORED,
        },
    )
    assert refused.status_code == 400
    assert "it is required" in refused.content.decode()

    response = alice_client.post(
        reverse("importer:run_columns", args=[run.pk]),
        {
            "column_0": "email",
            "column_1": "first_name",
            "column_2": "department",
            "column_3": IGNORED,
        },
    )
    assert response.status_code == 302
    html = poll_panel(alice_client, run)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.READY, html
    assert run.new_count == 2
    assert run.warning_count == 0  # The ignored column is left out without a warning.
    config = ImportConfig.objects.get(organization=acme)
    # Vorname is a built-in name: only what the built-in names would not give is saved.
    assert config.column_mapping == {
        "Mail Addr": "email",
        "Deparment": "department",
        "Cost center": IGNORED,
    }
    change = ImportConfigChange.objects.filter(organization=acme).latest("pk")
    assert change.changes["column_mapping"][1] == config.column_mapping
    log = alice_client.get(reverse("importer:configuration")).content.decode()
    assert "“Cost center” → Not imported" in log

    again = paste(alice_client, UNKNOWN)
    poll_panel(alice_client, again)
    again.refresh_from_db()
    assert again.status == ImportRun.Status.READY
    assert again.column_matching == []


@pytest.mark.worker
def test_a_file_without_an_email_column_names_its_headers_and_can_be_skipped(
    worker, alice_client, acme
):
    run = paste(alice_client, "Login,First name,Last name\nana@example.com,Ana,Lima\n")
    poll_panel(alice_client, run)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.NEEDS_COLUMNS
    assert "'Login', 'First name', 'Last name'" in run.errors[0]["message"]
    assert "The closest is 'Login'" in run.errors[0]["message"]

    alice_client.post(reverse("importer:run_columns", args=[run.pk]), {"action": "skip"})
    run.refresh_from_db()
    assert run.status == ImportRun.Status.INVALID
    page = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    assert "Match the columns of your file" not in page
    assert "No email column found" in page


def test_a_scheduled_pull_without_an_email_column_points_to_its_run_where_the_names_are_saved(
    alice_client, acme
):
    # Alice, the admin, is in the file: leaving her out would deactivate an admin, which holds
    # a scheduled import.
    data = b"Login,First name,Last name\nana@example.com,Ana,Lima\nalice@acme.example,Alice,\n"
    run = runs.create_run(
        organization=acme,
        data=data,
        name="people.csv",
        source=ImportRun.Source.REMOTE,
        trigger=ImportRun.Trigger.SCHEDULED,
    )
    run = runs.import_now(run.pk, hold_on_safeguard=True)
    assert run.status == ImportRun.Status.INVALID  # Nobody watches: no step to stop at.
    assert "match its columns on this import's page" in run.message
    page = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    assert "Match the columns of your file" in page
    assert "scheduled pulls included" in page
    refused = alice_client.post(
        reverse("importer:run_columns", args=[run.pk]),
        {"column_0": "email", "column_1": "email", "column_2": "last_name"},
    )
    assert refused.status_code == 400
    assert "Email is chosen for “Login” and “First name”" in refused.content.decode()

    response = alice_client.post(
        reverse("importer:run_columns", args=[run.pk]),
        {"column_0": "email", "column_1": "first_name", "column_2": "last_name"},
    )
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == ImportRun.Status.INVALID  # Saved for the next pull; this one stays.
    assert ImportConfig.objects.get(organization=acme).column_mapping == {"Login": "email"}

    next_pull = runs.create_run(
        organization=acme,
        data=data,
        name="people.csv",
        source=ImportRun.Source.REMOTE,
        trigger=ImportRun.Trigger.SCHEDULED,
    )
    assert runs.import_now(next_pull.pk, hold_on_safeguard=True).status == (
        ImportRun.Status.APPLIED
    )
    assert acme.users.filter(email="ana@example.com").exists()


def test_the_step_is_only_for_a_run_at_it_and_of_the_admins_organization(alice_client, acme):
    run = runs.create_run(
        organization=acme, data=b"email\nana@example.com\n", name="", source=ImportRun.Source.PASTE
    )
    runs.preview_run(run.pk)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.READY and run.column_matching == []
    response = alice_client.post(
        reverse("importer:run_columns", args=[run.pk]), {"column_0": "email"}
    )
    assert response.status_code == 302
    assert not ImportConfig.objects.filter(organization=acme).exists()


def test_the_step_goes_with_the_stored_file(alice_client, acme):
    run = runs.create_run(
        organization=acme, data=UNKNOWN.encode(), name="", source=ImportRun.Source.PASTE
    )
    runs.preview_run(run.pk)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.NEEDS_COLUMNS and run.column_matching

    later = run.created_at + dt.timedelta(days=31)
    assert delete_expired_inputs(now=later, retention_days=30) == 1
    run.refresh_from_db()
    assert run.column_matching == []  # Its sample values were the file's.
    page = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    assert "This file is no longer stored" in page
    assert 'id="confirm-columns"' not in page
    assert not runs.requeue_preview(run)
