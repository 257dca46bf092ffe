"""The scheduled sync, run in this process against the local HTTPS server."""

import datetime as dt
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from importer import runs
from importer.models import ImportRun, RemoteCheck, RemoteSource
from importer.remote import services as sync
from importer.remote.secrets import encrypt_secret
from tests.factories import UserFactory
from tests.integration.https_server import Reply
from users.models import User

TOKEN = "t0ken-4a9c"
CSV = (
    b"Employee ID,First Name,Last Name,E-Mail\n"
    b"1001,Ana,Silva,ana@acme.example\n"
    b"1002,Ben,Okafor,ben@acme.example\n"
    # The organization's admin is in the file: a file that left her out would deactivate an
    # admin, which holds a scheduled import (mass_changes.ADMINS).
    b",Alice,,alice@acme.example\n"
)
NOW = dt.datetime(2026, 3, 10, 14, 0, tzinfo=dt.UTC)


def serve(server, body=CSV, *, etag='"v1"', status=200, content_type="text/csv"):
    """Serve `body` at /export.csv to bearer TOKEN only, answering 304 to a matching ETag."""

    def export(seen):
        if seen.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Reply(401, b"no")
        if etag and seen.headers.get("If-None-Match") == etag:
            return Reply(304, headers={"ETag": etag})
        headers = {"Content-Type": content_type, **({"ETag": etag} if etag else {})}
        return Reply(status, body, headers)

    server.routes["/export.csv"] = export


@pytest.fixture
def source(https_server, acme, alice):
    return RemoteSource.objects.create(
        organization=acme,
        enabled=True,
        url=https_server.url("/export.csv"),
        auth=RemoteSource.Auth.BEARER,
        secret_encrypted=encrypt_secret(TOKEN),
        cadence=RemoteSource.Cadence.HOURLY,
        next_fetch_at=NOW,
    )


def test_a_sync_applies_a_clean_file_as_a_scheduled_run(https_server, source):
    serve(https_server)

    outcome = sync.sync_source(source.pk, now=NOW)

    run = ImportRun.objects.get()
    assert outcome.ok and outcome.run_id == run.pk
    assert (run.source, run.trigger, run.status, run.created_by) == (
        "remote",
        "scheduled",
        "applied",
        None,
    )
    assert run.input_name == "127.0.0.1"
    assert set(
        User.objects.filter(organization=source.organization).values_list("email", flat=True)
    ) >= {
        "ana@acme.example",
        "ben@acme.example",
    }
    source.refresh_from_db()
    assert (source.last_success_at, source.consecutive_failures, source.last_error) == (NOW, 0, "")
    assert source.etag == '"v1"'
    assert source.next_fetch_at == NOW + dt.timedelta(hours=1)


def test_a_304_records_a_check_and_no_run(https_server, source):
    serve(https_server)
    sync.sync_source(source.pk, now=NOW)

    outcome = sync.sync_source(source.pk, now=NOW + dt.timedelta(hours=1))

    assert ImportRun.objects.count() == 1
    check = RemoteCheck.objects.get()
    assert outcome.check_id == check.pk
    assert (check.http_status, check.message) == (
        304,
        "Not modified since the last import (HTTP 304).",
    )
    assert https_server.requests_to("/export.csv")[1].headers["If-None-Match"] == '"v1"'
    source.refresh_from_db()
    assert source.last_checked_at == NOW + dt.timedelta(hours=1)
    assert source.next_fetch_at == NOW + dt.timedelta(hours=2)


def test_the_same_file_again_without_validators_records_a_check(https_server, source):
    serve(https_server, etag="")
    sync.sync_source(source.pk, now=NOW)

    sync.sync_source(source.pk, now=NOW + dt.timedelta(hours=1))

    assert ImportRun.objects.count() == 1
    assert RemoteCheck.objects.get().message == "Unchanged: the same file as last time."


def test_a_claimed_sync_of_an_unchanged_file_writes_its_check_in_five_statements(
    https_server, source
):
    serve(https_server, etag="")
    sync.sync_source(source.pk, now=NOW)
    later = NOW + dt.timedelta(hours=1)
    RemoteSource.objects.filter(pk=source.pk).update(next_fetch_at=later)
    [(source_id, lease)] = sync.claim_due_sources(later)

    with CaptureQueriesContext(connection) as queries:
        outcome = sync.sync_source(source_id, claimed_until=lease, now=later)

    # Claim, read the source, look for an unfinished run, write the check, schedule the next.
    assert len(queries) == 5, [query["sql"] for query in queries]
    assert outcome.check_id == RemoteCheck.objects.get().pk
    source.refresh_from_db()
    assert (source.last_checked_at, source.next_fetch_at) == (later, later + dt.timedelta(hours=1))
    assert source.consecutive_failures == 0


def test_a_file_already_applied_from_an_upload_is_not_imported_again(https_server, source, alice):
    from importer import runs

    upload = runs.create_run(
        organization=source.organization,
        data=CSV,
        name="people.csv",
        source="upload",
        acting_user=alice,
    )
    runs.preview_run(upload.pk)
    upload.refresh_from_db()
    runs.request_apply(upload, acting_user=alice)
    runs.apply_run(upload.pk)
    serve(https_server, etag="")

    sync.sync_source(source.pk, now=NOW)

    assert ImportRun.objects.count() == 1
    assert RemoteCheck.objects.count() == 1


def test_a_changed_file_is_imported_again(https_server, source):
    serve(https_server)
    sync.sync_source(source.pk, now=NOW)
    serve(https_server, CSV + b"1003,Chloe,Martin,chloe@acme.example\n", etag='"v2"')

    sync.sync_source(source.pk, now=NOW + dt.timedelta(hours=1))

    assert list(ImportRun.objects.values_list("status", "new_count")) == [
        ("applied", 1),
        ("applied", 2),
    ]
    assert User.objects.filter(email="chloe@acme.example").exists()


@pytest.mark.parametrize(
    "reply, says",
    [
        (Reply(500, b"boom"), "internal error (HTTP 500)"),
        (Reply(404, b"gone"), "no file at this address"),
        (
            Reply(
                200,
                b"<!doctype html><html><form>Log in</form></html>",
                {"Content-Type": "text/html"},
            ),
            "login page",
        ),
    ],
)
def test_a_failed_fetch_ends_as_a_failed_run_that_changes_no_user(
    https_server, source, bob, reply, says
):
    https_server.routes["/export.csv"] = reply

    outcome = sync.sync_source(source.pk, now=NOW)

    run = ImportRun.objects.get()
    assert not outcome.ok
    assert (run.source, run.trigger, run.status) == ("remote", "scheduled", "failed")
    assert says in run.message
    assert TOKEN not in run.message
    assert list(User.objects.values_list("email", flat=True)) == [
        "alice@acme.example",
        "bob@acme.example",
    ]
    source.refresh_from_db()
    assert source.consecutive_failures == 1
    assert source.last_error == run.message
    assert source.next_fetch_at == NOW + dt.timedelta(minutes=5)  # Retried sooner than hourly.


def test_refused_credentials_fail_the_run_without_revealing_the_secret(https_server, source):
    serve(https_server)
    source.secret_encrypted = encrypt_secret("wrong-token-77")
    source.save()

    sync.sync_source(source.pk, now=NOW)

    run = ImportRun.objects.get()
    assert run.status == "failed"
    assert "refused the credentials" in run.message
    assert "wrong-token-77" not in run.message


def test_row_errors_leave_an_invalid_run_and_count_as_a_failure(https_server, source):
    serve(https_server, b"email,first_name\nana@acme.example,Ana\nnot-an-email,Ben\n")

    outcome = sync.sync_source(source.pk, now=NOW)

    run = ImportRun.objects.get()
    assert run.status == "invalid"
    assert not User.objects.filter(email="ana@acme.example").exists()
    assert "1 error" in outcome.message and "row 3" in outcome.message
    source.refresh_from_db()
    assert source.consecutive_failures == 1
    assert source.etag == ""  # Not remembered: the next attempt previews the file again.


def test_retries_back_off_and_a_success_resets_the_count(https_server, source):
    https_server.routes["/export.csv"] = Reply(503, b"busy")
    now = NOW
    delays = []
    for _attempt in range(3):
        sync.sync_source(source.pk, now=now)
        source.refresh_from_db()
        delays.append(source.next_fetch_at - now)
        now = source.next_fetch_at
    serve(https_server)

    sync.sync_source(source.pk, now=now)

    assert delays == [dt.timedelta(minutes=5), dt.timedelta(minutes=10), dt.timedelta(minutes=20)]
    source.refresh_from_db()
    assert (source.consecutive_failures, source.last_error) == (0, "")
    assert source.next_fetch_at == now + dt.timedelta(hours=1)


def test_the_admins_get_one_email_after_three_failures_in_a_row(
    https_server, source, bob, mailoutbox, settings
):
    settings.REMOTE_FAILURE_EMAIL_AFTER = 3
    https_server.routes["/export.csv"] = Reply(500, b"boom")

    for attempt in range(4):
        sync.sync_source(source.pk, now=NOW + dt.timedelta(hours=attempt))
        assert len(mailoutbox) == (1 if attempt >= 2 else 0)

    email = mailoutbox[0]
    assert email.to == ["alice@acme.example"]  # Active admins only, not bob.
    assert "failing" in email.subject
    assert "internal error (HTTP 500)" in email.body
    assert TOKEN not in email.body


def test_a_file_that_trips_a_safeguard_is_held_and_the_admins_emailed(
    https_server, source, mailoutbox, django_capture_on_commit_callbacks
):
    for number in range(6):
        UserFactory(organization=source.organization, email=f"leaver{number}@acme.example")
    serve(https_server)

    with django_capture_on_commit_callbacks(execute=True):
        outcome = sync.sync_source(source.pk, now=NOW)

    run = ImportRun.objects.get()
    assert outcome.ok
    assert run.status == "held"
    assert User.objects.filter(email__startswith="leaver", is_active=True).count() == 6
    assert [email.to for email in mailoutbox] == [["alice@acme.example"]]
    source.refresh_from_db()
    assert source.etag == '"v1"'  # The same file is not held (and emailed about) again.


# --- claiming -----------------------------------------------------------------------------------


def test_only_enabled_sources_that_are_due_and_scheduled_are_claimed(source, globex):
    later = RemoteSource.objects.create(
        organization=globex,
        enabled=True,
        url=source.url,
        cadence="hourly",
        next_fetch_at=NOW + dt.timedelta(minutes=1),
    )
    claimed = sync.claim_due_sources(NOW)

    assert [source_id for source_id, _lease in claimed] == [source.pk]
    RemoteSource.objects.filter(pk=later.pk).update(next_fetch_at=NOW, enabled=False)
    RemoteSource.objects.filter(pk=source.pk).update(next_fetch_at=NOW, cadence="manual")
    assert sync.claim_due_sources(NOW) == []


def test_every_due_source_is_claimed_by_one_statement_with_one_lease(acme):
    from tests.factories import OrganizationFactory

    due = [
        RemoteSource.objects.create(
            organization=OrganizationFactory(slug=f"due-{index}"),
            enabled=True,
            url="https://hr.example.com/x.csv",
            cadence="daily" if index % 2 else "hourly",
            next_fetch_at=NOW - dt.timedelta(minutes=index),
        ).pk
        for index in range(30)
    ]
    with CaptureQueriesContext(connection) as queries:
        claimed = sync.claim_due_sources(NOW)

    assert [source_id for source_id, _lease in claimed] == sorted(due)
    assert len(queries) == 1
    [lease] = {lease for _source_id, lease in claimed}
    assert set(RemoteSource.objects.values_list("next_fetch_at", flat=True)) == {lease}
    assert sync.claim_due_sources(NOW) == []


def test_a_claimed_sync_runs_once_however_often_its_message_is_delivered(https_server, source):
    serve(https_server)
    [(source_id, lease)] = sync.claim_due_sources(NOW)

    first = sync.sync_source(source_id, claimed_until=lease, now=NOW)
    second = sync.sync_source(source_id, claimed_until=lease, now=NOW)

    assert first.ok and second is None
    assert ImportRun.objects.count() == 1
    assert len(https_server.seen) == 1


def test_a_source_disabled_after_its_claim_is_not_synced(https_server, source):
    serve(https_server)
    [(source_id, lease)] = sync.claim_due_sources(NOW)
    RemoteSource.objects.filter(pk=source_id).update(enabled=False)

    assert sync.sync_source(source_id, claimed_until=lease, now=NOW) is None
    assert https_server.seen == []


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_claim_a_due_source_once(acme):
    source = RemoteSource.objects.create(
        organization=acme,
        enabled=True,
        url="https://hr.example.com/x.csv",
        cadence="hourly",
        next_fetch_at=NOW,
    )
    start = threading.Barrier(2)
    claims = []

    def dispatch():
        try:
            start.wait()
            claims.extend(sync.claim_due_sources(NOW + dt.timedelta(seconds=1)))
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [source_id for source_id, _lease in claims] == [source.pk]
    source.refresh_from_db()
    assert source.next_fetch_at == claims[0][1]


def test_of_two_dispatchers_that_read_the_same_due_source_only_one_claims_it(source):
    first_read = sync.due_sources(NOW)
    second_read = sync.due_sources(NOW)  # The second dispatcher reads before the first claims.

    leases = [sync.claim_source(*due, NOW) for due in first_read + second_read]

    assert first_read == second_read == [(source.pk, NOW)]
    assert leases[0] is not None and leases[1] is None


def test_a_manual_fetch_that_downloads_the_file_is_the_last_successful_fetch(
    https_server, source, alice, alice_client
):
    serve(https_server)
    assert source.last_success_at is None
    run = runs.create_fetch_run(organization=source.organization, acting_user=alice)

    sync.fetch_into_run(run.pk)  # What the worker does after the Fetch button.

    run.refresh_from_db()
    source.refresh_from_db()
    assert run.status == ImportRun.Status.READY
    assert source.last_success_at is not None
    status = alice_client.get(reverse("importer:remote")).content.decode()
    assert "Last successful fetch</dt><dd>Never" not in status
    assert "Last successful fetch</dt><dd>" + f"{source.last_success_at:%-d}" in status
