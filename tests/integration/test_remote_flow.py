"""Automatic import end to end: Django admin, the settings page, Fetch and the scheduled sync,
with a real Celery worker and the local HTTPS server."""

import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from importer.models import ImportRun, RemoteSource
from importer.tasks import enqueue_due_fetches
from tests.factories import UserFactory
from tests.integration.https_server import Reply
from tests.integration.test_web_flow import poll_panel
from users.models import User

pytestmark = pytest.mark.worker

PASSWORD = "hr-Exp0rt-pass!"
CSV = (
    b"Employee ID,First Name,Last Name,E-Mail,Reports To\n"
    # A scheduled import has no acting admin to spare: the company's admin is in the HR file too.
    b"1000,Alice,Admin,alice@acme.example,\n"
    b"1001,Ana,Silva,ana@acme.example,\n"
    b"1002,Ben,Okafor,ben@acme.example,ana@acme.example\n"
)


def serve_with_basic_auth(server):
    def export(seen):
        if seen.headers.get("Authorization") != "Basic aHI6aHItRXhwMHJ0LXBhc3Mh":  # hr:PASSWORD
            return Reply(401, b"Unauthorized")
        return Reply(body=CSV, headers={"Content-Type": "text/csv", "ETag": '"e1"'})

    server.routes["/export.csv"] = export


def wait_until(predicate, *, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_support_enables_the_admin_connects_fetches_and_hourly_syncs_land_in_history(
    worker, https_server, acme, alice, alice_client
):
    staff = UserFactory(
        organization=None, email="support@rostersync.example", is_staff=True, is_superuser=True
    )
    support = Client()
    support.force_login(staff)
    serve_with_basic_auth(https_server)

    # Support staff switch automatic import on for Acme in Django admin.
    response = support.post(
        reverse("admin:users_organization_change", args=[acme.pk]),
        {
            "name": acme.name,
            "slug": acme.slug,
            "created_at_0": f"{acme.created_at:%Y-%m-%d}",
            "created_at_1": f"{acme.created_at:%H:%M:%S}",
            "remote_source-TOTAL_FORMS": "1",
            "remote_source-INITIAL_FORMS": "0",
            "remote_source-MIN_NUM_FORMS": "0",
            "remote_source-MAX_NUM_FORMS": "1",
            "remote_source-0-id": "",
            "remote_source-0-organization": str(acme.pk),
            "remote_source-0-enabled": "on",
        },
    )
    assert response.status_code == 302

    # The company admin connects the HR server.
    form = {
        "url": https_server.url("/export.csv"),
        "auth": "basic",
        "username": "hr",
        "header_name": "",
        "secret": PASSWORD,
        "file_format": "auto",
        "cadence": "manual",
        "daily_hour": "6",
    }
    assert alice_client.post(reverse("importer:remote-save"), form).status_code == 302
    assert PASSWORD not in alice_client.get(reverse("importer:remote")).content.decode()

    # Fetch: a worker downloads the file into an ordinary preview run.
    response = alice_client.post(reverse("importer:remote-fetch"))
    fetched = ImportRun.objects.get()
    assert response.url == reverse("importer:run-detail", args=[fetched.pk])
    html = poll_panel(alice_client, fetched)
    assert "Ready to import" in html
    assert 'id="import-button"' in html
    assert PASSWORD not in html
    fetched.refresh_from_db()
    assert (fetched.source, fetched.trigger, fetched.created_by) == ("remote", "manual", alice)
    assert fetched.new_count == 2
    assert not User.objects.filter(email="ana@acme.example").exists()  # A preview changes nothing.

    # Hourly: the first sync is due at once; two dispatchers at the same moment start one sync.
    response = alice_client.post(
        reverse("importer:remote-save"), {**form, "secret": "", "cadence": "hourly"}
    )
    assert response.status_code == 302
    claimed = []
    start = threading.Barrier(2)

    def dispatch():
        try:
            start.wait()
            claimed.extend(enqueue_due_fetches(timezone.now()))
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    source = RemoteSource.objects.get(organization=acme)
    assert claimed == [source.pk]

    def synced():
        source.refresh_from_db()
        return source.last_checked_at is not None

    wait_until(synced)
    scheduled = ImportRun.objects.get(trigger="scheduled")
    assert (scheduled.source, scheduled.status, scheduled.new_count) == ("remote", "applied", 2)
    ben = User.objects.get(email="ben@acme.example")
    assert ben.manager.email == "ana@acme.example"
    assert source.etag == '"e1"' and source.consecutive_failures == 0
    assert ImportRun.objects.count() == 2  # Exactly one sync ran.

    response = alice_client.get(reverse("importer:history"))
    assert response.status_code == 200, response
    history = response.content.decode()
    assert reverse("importer:run-detail", args=[scheduled.pk]) in history
    assert "Remote server" in history
    admin_html = support.get(
        reverse("admin:users_organization_change", args=[acme.pk])
    ).content.decode()
    assert PASSWORD not in admin_html


def test_a_fetch_that_fails_ends_its_run_with_the_reason(worker, https_server, acme, alice_client):
    https_server.routes["/export.csv"] = Reply(503, b"maintenance")
    RemoteSource.objects.create(
        organization=acme, enabled=True, url=https_server.url("/export.csv")
    )

    alice_client.post(reverse("importer:remote-fetch"))

    run = ImportRun.objects.get()
    html = poll_panel(alice_client, run)
    run.refresh_from_db()
    assert (run.source, run.status) == ("remote", "failed")
    assert "internal error (HTTP 503)" in html
    assert User.objects.filter(organization=acme).count() == 1  # Only alice.
