"""Same person with a new email, on real runs: the question, the click, the email change."""

import datetime as dt
import time

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from importer import runs, tokens
from importer.models import AuditEvent, ImportRun, RemoteSource
from importer.remote import services as sync
from importer.remote.secrets import encrypt_secret
from importer.tasks import enqueue_due_fetches
from tests.conftest import preview_text, wait_for_run
from tests.factories import UserFactory
from tests.integration.https_server import Reply
from users.models import User

NOW = dt.datetime(2026, 3, 10, 14, 0, tzinfo=dt.UTC)
TOKEN = "t0ken-same-person"


@pytest.fixture
def team(acme, alice):
    """Alice's Acme: María García of Sales (manager of Tom, reporting to Alice), María García
    of Legal, and Tom."""
    maria = UserFactory(
        organization=acme,
        email="maria.garcia@acme.example",
        first_name="María",
        last_name="García",
        department="Sales",
        manager=alice,
    )
    legal = UserFactory(
        organization=acme,
        email="m.garcia@acme.example",
        first_name="María",
        last_name="García",
        department="Legal",
    )
    tom = UserFactory(
        organization=acme,
        email="tom@acme.example",
        first_name="Tom",
        last_name="Berg",
        department="Sales",
        manager=maria,
    )
    return maria, legal, tom


# María of Sales comes back as maria.g@…; María of Legal keeps her address; Tom still reports
# to María, by her new address.
FILE = (
    "email,first name,last name,department,manager email\n"
    "alice@acme.example,Alice,,,\n"
    "maria.g@acme.example,Maria,Garcia,Sales,alice@acme.example\n"
    "m.garcia@acme.example,María,García,Legal,\n"
    "tom@acme.example,Tom,Berg,Sales,maria.g@acme.example\n"
)


def test_the_preview_asks_about_the_one_pair_the_departments_allow(acme, alice, team):
    maria, _legal, _tom = team
    run = preview_text(acme, alice, FILE)
    assert run.status == ImportRun.Status.READY
    assert [
        (pair["user_id"], pair["new_email"], pair["row"]) for pair in run.same_person_pairs
    ] == [(maria.pk, "maria.g@acme.example", 3)]
    # Unconfirmed, the preview is what the file says: a deactivation and a new account.
    assert (run.new_count, run.deactivated_count) == (1, 1)


def test_the_run_page_shows_the_question_with_its_evidence(acme, alice, alice_client, team):
    run = preview_text(acme, alice, FILE)
    html = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    assert "Same person with a new email?" in html
    assert "maria.garcia@acme.example" in html and "maria.g@acme.example" in html
    assert "Both have the same name, department Sales." in html
    assert reverse("importer:run-same-person", args=[run.pk]) in html


def test_a_confirmed_pair_is_applied_as_an_email_change_keeping_the_user_and_manager_links(
    acme, alice, team
):
    maria, legal, tom = team
    run = preview_text(acme, alice, FILE)
    assert runs.confirm_same_person(run, acting_user=alice, user_ids=[maria.pk]) == 1
    assert run.status == ImportRun.Status.QUEUED
    runs.preview_run(run.pk)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.READY
    assert run.same_person_pairs == []
    assert (run.new_count, run.deactivated_count, run.changed_count) == (0, 0, 1)
    [change] = run.changes.all()
    assert (change.user_id, change.action) == (maria.pk, "update")
    assert change.fields["email"] == ["maria.garcia@acme.example", "maria.g@acme.example"]

    runs.request_apply(run, acting_user=alice)
    runs.apply_run(run.pk)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.APPLIED
    maria.refresh_from_db()
    tom.refresh_from_db()
    assert (maria.email, maria.is_active, maria.manager_id) == (
        "maria.g@acme.example",
        True,
        alice.pk,
    )
    assert tom.manager_id == maria.pk
    assert User.objects.filter(organization=acme).count() == 4  # Nobody new.
    legal.refresh_from_db()
    assert (legal.email, legal.is_active) == ("m.garcia@acme.example", True)


def test_a_confirmed_pair_is_an_audit_event_on_the_run_page_and_in_history(
    acme, alice, alice_client, team
):
    maria, _legal, _tom = team
    run = preview_text(acme, alice, FILE)
    alice_client.post(reverse("importer:run-same-person", args=[run.pk]), {"user_id": "all"})

    [event] = AuditEvent.objects.filter(organization=acme)
    assert (event.kind, event.acting_user_id, event.run_id) == (
        AuditEvent.Kind.SAME_PERSON_CONFIRMED,
        alice.pk,
        run.pk,
    )
    assert event.data == {
        "user_id": maria.pk,
        "old_email": "maria.garcia@acme.example",
        "new_email": "maria.g@acme.example",
        "row": 3,
        "name": "Maria Garcia",
    }
    detail = "Maria Garcia: maria.garcia@acme.example → maria.g@acme.example (row 3)"
    runs.preview_run(run.pk)  # The page shows the event whatever the run's state.
    page = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    assert "Matched as the same person" in page and detail in page
    activity = alice_client.get(reverse("importer:history-activity")).content.decode()
    assert "Matched as the same person" in activity and detail in activity


def test_without_the_click_the_import_deactivates_and_creates(acme, alice, team):
    maria, _legal, tom = team
    run = preview_text(acme, alice, FILE)
    runs.request_apply(run, acting_user=alice)
    runs.apply_run(run.pk)
    maria.refresh_from_db()
    tom.refresh_from_db()
    assert maria.is_active is False
    new = User.objects.get(email="maria.g@acme.example")
    assert new.pk != maria.pk and tom.manager_id == new.pk


def test_a_pair_the_preview_did_not_offer_cannot_be_confirmed(acme, alice, team):
    _maria, legal, _tom = team
    run = preview_text(acme, alice, FILE)
    with pytest.raises(runs.SamePersonRefused, match="no longer offered"):
        runs.confirm_same_person(run, acting_user=alice, user_ids=[legal.pk])
    run.refresh_from_db()
    assert (run.status, run.same_person_confirmed) == (ImportRun.Status.READY, {})


def test_another_company_cannot_confirm_a_pair(acme, alice, team, client, charlie):
    maria, _legal, _tom = team
    run = preview_text(acme, alice, FILE)
    client.force_login(charlie)
    url = reverse("importer:run-same-person", args=[run.pk])
    assert client.post(url, {"user_id": str(maria.pk)}).status_code == 404
    run.refresh_from_db()
    assert (run.status, run.same_person_confirmed) == (ImportRun.Status.READY, {})


@pytest.mark.worker
def test_an_upload_matched_by_the_click_in_the_browser_then_imported(
    worker, acme, alice, alice_client, team
):
    maria, _legal, tom = team
    alice_client.post(reverse("importer:create-preview"), {"text": FILE})
    run = wait_for_run(ImportRun.objects.get())
    assert run.same_person_pairs
    alice_client.post(reverse("importer:run-same-person", args=[run.pk]), {"user_id": "all"})
    run = wait_for_run(run)
    assert (run.status, run.new_count, run.deactivated_count) == (ImportRun.Status.READY, 0, 0)
    alice_client.post(reverse("importer:run-apply", args=[run.pk]))
    run = wait_for_run(run)
    assert run.status == ImportRun.Status.APPLIED
    maria.refresh_from_db()
    assert maria.email == "maria.g@acme.example"
    tom.refresh_from_db()
    assert tom.manager_id == maria.pk


# Scheduled pulls never guess -------------------------------------------------------------------


@pytest.fixture
def pulled(https_server, acme):
    def export(seen):
        if seen.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Reply(401, b"no")
        return Reply(200, FILE.encode(), {"Content-Type": "text/csv"})

    https_server.routes["/export.csv"] = export
    return RemoteSource.objects.create(
        organization=acme,
        enabled=True,
        url=https_server.url("/export.csv"),
        auth=RemoteSource.Auth.BEARER,
        secret_encrypted=encrypt_secret(TOKEN),
        cadence=RemoteSource.Cadence.HOURLY,
        next_fetch_at=NOW,
    )


def test_a_scheduled_pull_holds_the_pair_for_a_decision_then_applies_the_email_change(
    pulled, acme, alice, team, settings, django_capture_on_commit_callbacks
):
    settings.ROSTERSYNC_BASE_URL = "https://rostersync.example.com"
    maria, _legal, tom = team
    with django_capture_on_commit_callbacks(execute=True):
        sync.sync_source(pulled.pk, now=NOW)
    run = ImportRun.objects.get()
    assert (run.trigger, run.status, run.safeguard_message) == ("scheduled", "held", "")
    assert "held for a decision" in run.message
    assert [pair["user_id"] for pair in run.same_person_pairs] == [maria.pk]
    [email] = mail.outbox
    assert "is held for a decision" in email.body
    assert "may be the same person as a new row with another email" in email.body
    maria.refresh_from_db()
    assert (maria.email, maria.is_active) == ("maria.garcia@acme.example", True)

    runs.confirm_same_person(run, acting_user=alice)  # "Match all"
    runs.preview_run(run.pk)
    run.refresh_from_db()
    # Re-computed, it waits for the admin's approval of what it now shows.
    assert (run.status, run.new_count, run.deactivated_count, run.changed_count) == (
        ImportRun.Status.HELD,
        0,
        0,
        1,
    )
    runs.approve_held_run(run, acting_user=alice)
    runs.apply_run(run.pk)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.APPLIED
    maria.refresh_from_db()
    tom.refresh_from_db()
    assert (maria.email, maria.is_active, tom.manager_id) == (
        "maria.g@acme.example",
        True,
        maria.pk,
    )


@pytest.mark.worker
def test_a_pull_through_the_worker_held_for_the_pair_answered_by_an_api_token_then_approved(
    worker, pulled, acme, alice, alice_client, client, team
):
    """The worker syncs, previews again after the token's answer, and applies the approval."""
    maria, _legal, tom = team
    _token, secret = tokens.create_token(
        organization=acme,
        name="HR script",
        scopes=["imports:apply"],
        acting_user=alice,
        expires_at=None,
    )
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert enqueue_due_fetches(timezone.now()) == [pulled.pk]
    deadline = time.monotonic() + 60
    while not ImportRun.objects.filter(status=ImportRun.Status.HELD).exists():
        assert time.monotonic() < deadline, "the scheduled sync did not hold its run"
        time.sleep(0.2)
    run = ImportRun.objects.get()
    body = client.get(reverse("api:run", args=[run.pk]), **auth).json()
    assert [(p["user_id"], p["confirmed"]) for p in body["same_person_pairs"]] == [
        (maria.pk, False)
    ]

    url = reverse("api:run-same-person", args=[run.pk])
    assert client.post(f"{url}?user_id={maria.pk}", **auth).status_code == 202
    run = wait_for_run(run)
    assert (run.status, run.new_count, run.deactivated_count, run.changed_count) == (
        ImportRun.Status.HELD,
        0,
        0,
        1,
    )
    page = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    assert "Matched as the same person, by API token HR script" in page
    alice_client.post(reverse("importer:run-approve", args=[run.pk]))
    run = wait_for_run(run)

    assert run.status == ImportRun.Status.APPLIED, run.message
    maria.refresh_from_db()
    tom.refresh_from_db()
    assert (maria.email, maria.is_active, tom.manager_id) == (
        "maria.g@acme.example",
        True,
        maria.pk,
    )
    assert not User.objects.filter(organization=acme, is_active=False).exists()


def test_the_held_runs_page_says_why_and_asks_about_the_pair(
    pulled, acme, alice, alice_client, team, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sync.sync_source(pulled.pk, now=NOW)
    run = ImportRun.objects.get()
    html = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    assert "Held for a decision." in html
    assert "Held by a safeguard" not in html
    assert "Same person with a new email?" in html
    assert 'id="approve-button"' in html


def test_a_held_scheduled_pull_approved_as_it_is_keeps_them_two_people(
    pulled, acme, alice, team, django_capture_on_commit_callbacks
):
    maria, _legal, _tom = team
    with django_capture_on_commit_callbacks(execute=True):
        sync.sync_source(pulled.pk, now=NOW)
    run = ImportRun.objects.get()
    runs.approve_held_run(run, acting_user=alice)
    runs.apply_run(run.pk)
    maria.refresh_from_db()
    assert maria.is_active is False
    assert User.objects.filter(email="maria.g@acme.example").exists()
