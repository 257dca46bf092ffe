"""The Import and History screens, driven with Django's test client and a real worker."""

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from importer.models import ImportRun
from users.models import User

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def poll_panel(client, run, *, timeout=60):
    """Fetch the run's panel as htmx does until it stops asking to be polled."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(reverse("importer:run-panel", args=[run.pk]), HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        html = response.content.decode()
        if 'hx-trigger="every 1s"' not in html:
            return html
        assert time.monotonic() < deadline, f"run {run.pk} still running: {html[:500]}"
        time.sleep(0.2)


@pytest.mark.worker
def test_an_admin_uploads_previews_imports_and_finds_the_run_in_history(
    worker, alice_client, acme, fixture_path
):
    data = fixture_path("two_employees.xlsx").read_bytes()
    response = alice_client.post(
        reverse("importer:create-preview"),
        {
            "file": SimpleUploadedFile(
                "HR export.xlsx", data, content_type="application/octet-stream"
            )
        },
    )
    run = ImportRun.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("importer:run-detail", args=[run.pk])
    assert run.source == ImportRun.Source.UPLOAD
    assert run.input_name == "HR export.xlsx"
    assert run.input_file.name.endswith(".bin")  # Stored under a generated name.

    html = poll_panel(alice_client, run)
    assert "Ready to import" in html
    assert 'id="import-button"' in html
    run.refresh_from_db()
    assert run.new_count == 2

    response = alice_client.post(reverse("importer:run-apply", args=[run.pk]))
    assert response.status_code == 302
    html = poll_panel(alice_client, run)
    assert "Imported 2 changes" in html
    assert User.objects.filter(organization=acme).count() == 3

    history = alice_client.get(reverse("importer:history")).content.decode()
    assert reverse("importer:run-detail", args=[run.pk]) in history
    assert "HR export.xlsx" in history


@pytest.mark.worker
def test_pasted_csv_with_an_error_shows_the_row_and_offers_no_import(worker, alice_client):
    alice_client.post(
        reverse("importer:create-preview"),
        {"text": "email,first_name\nana@acme.example,Ana\nben(at)acme.example,Ben\n"},
    )
    run = ImportRun.objects.get()
    assert run.source == ImportRun.Source.PASTE

    html = poll_panel(alice_client, run)

    assert "1 error" in html
    assert "ben(at)acme.example" in html
    assert '<td data-label="Row">3</td>' in html  # The spreadsheet row of the bad address.
    assert 'id="import-button"' not in html
    response = alice_client.post(reverse("importer:run-apply", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == ImportRun.Status.INVALID
    assert response.status_code == 302


def test_the_preview_form_refuses_an_empty_submission(alice_client):
    response = alice_client.post(reverse("importer:create-preview"), {"text": "  "})
    assert response.status_code == 400
    assert "Drop a spreadsheet, choose one, or paste CSV." in response.content.decode()
    assert not ImportRun.objects.exists()


def test_the_preview_form_refuses_a_file_over_the_limit(alice_client, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 100
    upload = SimpleUploadedFile("big.csv", b"email\n" + b"a@example.com\n" * 20)
    response = alice_client.post(reverse("importer:create-preview"), {"file": upload})
    assert response.status_code == 400
    assert "the limit is 100" in response.content.decode()
    assert not ImportRun.objects.exists()


def test_anonymous_visitors_are_sent_to_log_in(client, db):
    response = client.get(reverse("importer:import"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_a_user_who_is_not_an_org_admin_is_refused(client, bob):
    client.force_login(bob)
    assert client.get(reverse("importer:import")).status_code == 403
    assert client.get(reverse("importer:history")).status_code == 403


def test_another_organizations_run_is_not_found(client, charlie, acme, alice):
    run = ImportRun.objects.create(
        organization=acme, source=ImportRun.Source.PASTE, created_by=alice
    )
    client.force_login(charlie)
    for name in ("run-detail", "run-panel", "run-input"):
        assert client.get(reverse(f"importer:{name}", args=[run.pk])).status_code == 404
    for name in ("run-apply", "run-retry"):
        assert client.post(reverse(f"importer:{name}", args=[run.pk])).status_code == 404
    history = client.get(reverse("importer:history")).content.decode()
    assert reverse("importer:run-detail", args=[run.pk]) not in history


def test_the_stored_input_downloads_for_its_organizations_admin(alice_client, acme, alice):
    from importer import runs

    run = runs.create_run(
        organization=acme,
        data=b"email\nana@acme.example\n",
        name="people.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=alice,
    )
    response = alice_client.get(reverse("importer:run-input", args=[run.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"email\nana@acme.example\n"
    assert 'filename="people.csv"' in response["Content-Disposition"]


def test_login_with_email_and_password(client, alice):
    response = client.post(
        reverse("login"), {"username": "ALICE@acme.example ", "password": "correct-horse-battery"}
    )
    assert response.status_code == 302
    assert response.url == reverse("importer:import")
