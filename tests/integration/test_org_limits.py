"""Per-company limits: runs waiting for a preview, and the space of stored input files. One
company at its limits gets a clear message; another company is not affected."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from importer import runs
from importer.models import ImportRun, RemoteSource
from importer.remote import services as sync
from tests.integration.https_server import Reply

CSV = b"email,first_name\nana@acme.example,Ana\n"


def queue_runs(organization, count):
    for _ in range(count):
        runs.create_run(
            organization=organization, data=CSV, name="x.csv", source=ImportRun.Source.PASTE
        )


@pytest.fixture
def limits(settings):
    settings.IMPORT_MAX_QUEUED_RUNS_PER_ORG = 3
    settings.IMPORT_ORG_STORAGE_QUOTA_BYTES = 1000
    return settings


def test_uploads_and_pastes_past_the_queued_runs_cap_are_refused_with_a_message(
    alice_client, acme, limits
):
    queue_runs(acme, 3)

    pasted = alice_client.post(reverse("importer:create-preview"), {"text": CSV.decode()})
    uploaded = alice_client.post(
        reverse("importer:create-preview"), {"file": SimpleUploadedFile("people.csv", CSV)}
    )

    for response in (pasted, uploaded):
        assert response.status_code == 429
        assert "already has 3 imports waiting for their preview" in response.content.decode()
    assert ImportRun.objects.filter(organization=acme).count() == 3


def test_finished_runs_do_not_count_and_another_company_is_not_affected(
    alice_client, client, acme, globex, charlie, limits
):
    queue_runs(acme, 3)
    client.force_login(charlie)

    assert (
        client.post(reverse("importer:create-preview"), {"text": CSV.decode()}).status_code == 302
    )

    ImportRun.objects.filter(organization=acme).update(status=ImportRun.Status.READY)
    response = alice_client.post(reverse("importer:create-preview"), {"text": CSV.decode()})
    assert response.status_code == 302


def test_fetch_past_the_queued_runs_cap_is_refused_with_a_message(alice_client, acme, limits):
    RemoteSource.objects.create(organization=acme, enabled=True, url="https://hr.example.com/x")
    queue_runs(acme, 3)

    response = alice_client.post(reverse("importer:remote-fetch"), follow=True)

    assert "already has 3 imports waiting" in response.content.decode()
    assert not ImportRun.objects.filter(source=ImportRun.Source.REMOTE).exists()


def test_a_file_past_the_storage_quota_is_refused_with_a_message(alice_client, acme, limits):
    queue_runs(acme, 1)  # len(CSV) bytes stored.
    ImportRun.objects.update(status=ImportRun.Status.APPLIED)
    big = CSV + b"ben@acme.example,Ben\n" * 45  # 984 bytes: more than the 961 left.

    response = alice_client.post(
        reverse("importer:create-preview"), {"file": SimpleUploadedFile("people.csv", big)}
    )

    html = response.content.decode()
    assert response.status_code == 429
    assert "stored import files take" in html and "ask support to raise the quota" in html
    # Files whose input was deleted (retention) free their space.
    ImportRun.objects.update(input_file="")
    again = alice_client.post(
        reverse("importer:create-preview"), {"file": SimpleUploadedFile("people.csv", big)}
    )
    assert again.status_code == 302


def test_a_fetched_file_past_the_storage_quota_fails_its_run(acme, alice, limits, https_server):
    https_server.routes["/x.csv"] = Reply(body=CSV * 40)
    RemoteSource.objects.create(organization=acme, enabled=True, url=https_server.url("/x.csv"))
    run = runs.create_fetch_run(organization=acme, acting_user=alice)

    sync.fetch_into_run(run.pk)

    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED
    assert "ask support to raise the quota" in run.message


def test_the_command_line_reports_the_limit(acme, limits, tmp_path):
    queue_runs(acme, 3)
    path = tmp_path / "people.csv"
    path.write_bytes(CSV)

    with pytest.raises(CommandError, match="already has 3 imports waiting"):
        call_command("import_users", str(path), "--org", "acme", stdout=io.StringIO())
