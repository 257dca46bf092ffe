"""Audit events: every audited action writes one event, with who did it, and History shows them."""

import datetime as dt

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from importer import configuration, runs
from importer.history import activity
from importer.models import AuditEvent, ImportConfigChange, ImportRun, RemoteSource
from importer.remote import services as sync
from tests.conftest import preview_text
from tests.factories import UserFactory

Kind = AuditEvent.Kind


def events_of(organization) -> list[tuple]:
    return list(
        AuditEvent.objects.filter(organization=organization)
        .order_by("id")
        .values_list("kind", "acting_user_id", "run_id")
    )


@pytest.fixture
def sam(db):
    return UserFactory(
        email="sam@rostersync.example",
        first_name="Sam",
        last_name="Support",
        organization=None,
        is_staff=True,
        is_superuser=True,
    )


@pytest.fixture
def held(acme, alice):
    run = preview_text(acme, None, "email\nalice@acme.example\nana@acme.example\n")
    ImportRun.objects.filter(pk=run.pk).update(trigger=ImportRun.Trigger.SCHEDULED)
    assert runs.hold_run(run.pk)
    run.refresh_from_db()
    return run


# --- runs ---------------------------------------------------------------------------------------


def test_requesting_an_apply_records_who_asked_once(acme, alice):
    run = preview_text(acme, alice, "email\nalice@acme.example\nana@acme.example\n")

    runs.request_apply(run, acting_user=alice)
    with pytest.raises(runs.ApplyRefused):
        runs.request_apply(run, acting_user=alice)  # A second click changes nothing.

    assert events_of(acme) == [(Kind.APPLY_REQUESTED, alice.pk, run.pk)]
    assert AuditEvent.objects.get().data == {"safeguard_confirmed": False}


def test_a_refused_apply_records_nothing(acme, alice):
    run = preview_text(acme, alice, "email\nnot-an-email\n")

    with pytest.raises(runs.ApplyRefused):
        runs.request_apply(run, acting_user=alice)

    assert events_of(acme) == []


def test_approving_a_held_run_records_the_admin(held, acme, alice):
    runs.approve_held_run(held, acting_user=alice)

    assert events_of(acme) == [(Kind.HELD_RUN_APPROVED, alice.pk, held.pk)]


def test_discarding_a_held_run_records_the_admin_and_keeps_the_message(held, acme, alice):
    runs.discard_held_run(held, acting_user=alice)
    with pytest.raises(runs.ApplyRefused):
        runs.discard_held_run(held, acting_user=alice)

    assert events_of(acme) == [(Kind.HELD_RUN_DISCARDED, alice.pk, held.pk)]
    assert held.message.startswith(f"Discarded by {alice.get_full_name()} on ")
    assert held.message.endswith(". Nothing was imported.")


def test_creating_a_revert_records_the_admin_and_the_run_it_undoes(acme, alice):
    run = preview_text(acme, alice, "email\nalice@acme.example\nana@acme.example\n")
    runs.request_apply(run, acting_user=alice)
    runs.apply_run(run.pk)
    run.refresh_from_db()

    reverting = runs.create_revert_run(run, acting_user=alice)

    event = AuditEvent.objects.get(kind=Kind.REVERT_CREATED)
    assert (event.acting_user, event.run, event.data) == (alice, reverting, {"reverts": run.pk})


def test_retrying_a_stuck_run_is_recorded_as_the_systems(acme, alice):
    run = preview_text(acme, alice, "email\nalice@acme.example\nana@acme.example\n")
    runs.request_apply(run, acting_user=alice)
    ImportRun.objects.filter(pk=run.pk).update(updated_at=timezone.now() - dt.timedelta(hours=1))

    runs.recover_abandoned_runs()

    event = AuditEvent.objects.get(kind=Kind.RUN_RETRIED)
    assert (event.acting_user, event.run, event.data) == (None, run, {"status": "applying"})


def test_retrying_a_run_whose_worker_stopped_is_recorded_with_its_attempt(acme, alice):
    run = preview_text(acme, alice, "email\nalice@acme.example\nana@acme.example\n")
    runs.request_apply(run, acting_user=alice)
    ImportRun.objects.filter(pk=run.pk).update(
        attempts=1, lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    runs.recover_abandoned_runs()

    event = AuditEvent.objects.get(kind=Kind.RUN_RETRIED)
    assert event.data == {"status": "applying", "attempt": 2, "of": 3}
    assert activity.activities([event])[0].detail == (
        "A worker stopped while importing; retrying (attempt 2 of 3)"
    )


# --- configuration ------------------------------------------------------------------------------


def test_changing_options_writes_the_change_log_entry_and_the_event(acme, alice):
    changes = configuration.update_config(acme, {"reactivate": False}, acting_user=alice)

    [entry] = ImportConfigChange.objects.filter(organization=acme)
    assert (entry.kind, entry.changed_by, entry.changes) == (
        ImportConfigChange.Kind.OPTIONS,
        alice,
        changes,
    )
    event = AuditEvent.objects.get(organization=acme)
    assert (event.kind, event.acting_user, event.data) == (
        Kind.OPTIONS_CHANGED,
        alice,
        {"changes": {"reactivate": [True, False]}},
    )


def test_keeping_a_user_out_of_sync_writes_the_entry_and_the_event(acme, alice, bob):
    today = timezone.localdate()
    until = today + dt.timedelta(days=7)
    configuration.set_sync_protection(
        bob, protected=True, until=until, acting_user=alice, today=today
    )

    assert ImportConfigChange.objects.get().kind == ImportConfigChange.Kind.SYNC_PROTECTION
    event = AuditEvent.objects.get()
    assert (event.kind, event.acting_user) == (Kind.SYNC_PROTECTION_CHANGED, alice)
    assert event.data == {
        "user_id": bob.pk,
        "email": "bob@acme.example",
        "old": "No",
        "new": f"Yes, until {until:%d %b %Y}",
    }


def test_changing_the_automatic_import_settings_writes_the_entry_and_the_event(acme, alice):
    source = RemoteSource.objects.create(organization=acme, enabled=True)

    sync.configure_source(
        source,
        url="https://hr.example.com/x.csv",
        auth="none",
        username="",
        header_name="",
        secret="",
        keep_secret=False,
        file_format="auto",
        cadence="hourly",
        daily_hour=6,
        acting_user=alice,
        now=timezone.now(),
    )

    assert ImportConfigChange.objects.get().kind == ImportConfigChange.Kind.REMOTE_SETTINGS
    event = AuditEvent.objects.get()
    assert (event.kind, event.acting_user, event.source) == (
        Kind.REMOTE_SETTINGS_CHANGED,
        alice,
        source,
    )
    assert event.data == {"changed": ["url", "cadence"]}


# --- support staff ------------------------------------------------------------------------------


def test_support_staffs_switch_records_who_turned_automatic_import_on_and_off(client, sam, acme):
    from tests.integration.test_remote_web import organization_form

    client.force_login(sam)
    url = reverse("admin:users_organization_change", args=[acme.pk])
    client.post(url, organization_form(acme, enabled=True))
    source = RemoteSource.objects.get(organization=acme)
    client.post(url, organization_form(acme, enabled=False, source=source))

    assert list(
        AuditEvent.objects.order_by("id").values_list("kind", "acting_user_id", "source_id")
    ) == [
        (Kind.REMOTE_ENABLED, sam.pk, source.pk),
        (Kind.REMOTE_DISABLED, sam.pk, source.pk),
    ]


def test_acting_for_a_company_and_leaving_it_are_the_companys_events(client, sam, acme):
    client.force_login(sam)

    client.post(reverse("importer:act-as", args=[acme.pk]))
    client.post(reverse("importer:act-as-stop"))
    client.post(reverse("importer:act-as-stop"))  # No longer acting for anyone: nothing more.

    assert events_of(acme) == [
        (Kind.ACTING_AS_STARTED, sam.pk, None),
        (Kind.ACTING_AS_STOPPED, sam.pk, None),
    ]


# --- where they are shown -----------------------------------------------------------------------


def test_the_activity_page_lists_the_organizations_actions_and_no_other(
    alice_client, acme, alice, bob, globex, charlie
):
    run = preview_text(acme, alice, "email\nalice@acme.example\nana@acme.example\n")
    runs.request_apply(run, acting_user=alice)
    today = timezone.localdate()
    configuration.set_sync_protection(
        bob, protected=True, until=None, acting_user=alice, today=today
    )
    configuration.update_config(globex, {"reactivate": False}, acting_user=charlie)

    history = alice_client.get(reverse("importer:history")).content.decode()
    html = alice_client.get(reverse("importer:history-activity")).content.decode()

    assert reverse("importer:history-activity") in history
    assert "Import requested" in html
    assert f'<a href="{reverse("importer:run-detail", args=[run.pk])}">#{run.pk}</a>' in html
    assert "Kept out of sync changed" in html
    assert "bob@acme.example: No → Yes, with no end date" in html
    assert "Import options changed" not in html  # Globex's.


def test_the_activity_page_names_the_schedule_when_no_person_acted(alice_client, acme, alice, bob):
    configuration.update_config(acme, {"max_deactivation_count": 0}, acting_user=alice)
    run = preview_text(acme, None, "email\nalice@acme.example\nana@acme.example\n")
    ImportRun.objects.filter(pk=run.pk).update(trigger=ImportRun.Trigger.SCHEDULED)
    assert run.safeguard_message  # Bob would be deactivated, past the limit of none.
    runs.request_apply(run, acting_user=None, confirm_safeguard=True)

    html = alice_client.get(reverse("importer:history-activity")).content.decode()

    assert "Import requested" in html
    assert '<span class="muted">Automatic</span>' in html
    assert "The safeguard&#x27;s warning was confirmed" in html


def test_the_run_page_lists_what_was_done_to_the_run(alice_client, held, alice):
    runs.discard_held_run(held, acting_user=alice)

    html = alice_client.get(reverse("importer:run-detail", args=[held.pk])).content.decode()

    assert "Held import discarded, by Alice" in html


def test_django_admin_lists_the_events_and_no_one_may_add_change_or_delete_them(
    client, sam, acme, alice
):
    configuration.update_config(acme, {"reactivate": False}, acting_user=alice)
    client.force_login(sam)

    page = client.get(
        reverse("admin:importer_auditevent_changelist"), {"kind": Kind.OPTIONS_CHANGED}
    )

    assert page.status_code == 200
    assert "Import options changed" in page.content.decode()
    model_admin = admin.site._registry[AuditEvent]
    request = page.wsgi_request
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
