"""Safeguards on real runs: the second confirmation of a manual import, and held scheduled runs
(emailed to the organization's admins, then approved or discarded)."""

import pytest
from django.core import mail
from django.urls import reverse

from importer import runs
from importer.models import ImportConfig, ImportRun
from tests.conftest import wait_for_run
from tests.factories import OrgAdminFactory
from users.models import User


def staff_of(organization, count: int) -> list[User]:
    # Created in bulk with an unusable password: hashing one per user would make these tests slow.
    return User.objects.bulk_create(
        User(organization=organization, email=f"p{number:02}@acme.example", password="!")
        for number in range(count)
    )


def csv_of(users) -> bytes:
    return ("email\n" + "".join(f"{user.email}\n" for user in users)).encode()


def preview_in_process(organization, data: bytes, *, admin=None, trigger=ImportRun.Trigger.MANUAL):
    run = runs.create_run(
        organization=organization,
        data=data,
        name="people.csv",
        source=ImportRun.Source.REMOTE
        if trigger == ImportRun.Trigger.SCHEDULED
        else ImportRun.Source.UPLOAD,
        acting_user=admin,
        trigger=trigger,
    )
    runs.preview_run(run.pk)
    run.refresh_from_db()
    return run


def applied(run, admin) -> ImportRun:
    runs.request_apply(run, acting_user=admin, confirm_safeguard=True)
    runs.apply_run(run.pk)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.APPLIED
    return run


# Where the limits lie, on real previews --------------------------------------------------------


def test_deactivating_exactly_the_share_limit_needs_no_second_confirmation(acme, alice):
    people = staff_of(acme, 39)  # 40 active users with alice: 10 % is 4.
    run = preview_in_process(acme, csv_of(people[4:]), admin=alice)
    assert (run.status, run.deactivated_count, run.safeguard_message) == (
        ImportRun.Status.READY,
        4,
        "",
    )
    runs.request_apply(run, acting_user=alice)
    assert run.status == ImportRun.Status.APPLYING


def test_deactivating_one_more_than_the_share_limit_needs_a_second_confirmation(acme, alice):
    people = staff_of(acme, 39)
    run = preview_in_process(acme, csv_of(people[5:]), admin=alice)
    assert run.status == ImportRun.Status.READY
    assert run.safeguard_message == (
        "This import would deactivate 5 of 40 active users (12.5 %); the limit is 10 %."
    )
    with pytest.raises(runs.ApplyRefused, match="tick the confirmation box"):
        runs.request_apply(run, acting_user=alice)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.READY
    runs.request_apply(run, acting_user=alice, confirm_safeguard=True)
    assert run.status == ImportRun.Status.APPLYING


def test_the_count_limit_trips_at_one_over(acme, alice):
    people = staff_of(acme, 39)
    ImportConfig.objects.create(
        organization=acme, max_deactivation_count=2, max_deactivation_percent=100
    )
    assert preview_in_process(acme, csv_of(people[2:]), admin=alice).safeguard_message == ""
    assert preview_in_process(acme, csv_of(people[3:]), admin=alice).safeguard_message == (
        "This import would deactivate 3 users; the limit is 2 per import."
    )


def test_a_file_much_shorter_than_the_last_applied_one_needs_a_second_confirmation(acme, alice):
    ImportConfig.objects.create(organization=acme, deactivate_missing=False)
    people = staff_of(acme, 20)
    applied(preview_in_process(acme, csv_of(people), admin=alice), alice)

    at_limit = preview_in_process(acme, csv_of(people[:16]), admin=alice)
    under = preview_in_process(acme, csv_of(people[:15]), admin=alice)

    assert at_limit.safeguard_message == ""
    assert under.safeguard_message == (
        "The file has 15 rows, 75 % of the 20 rows of the last import; the minimum is 80 %."
    )


def test_a_run_with_errors_trips_no_safeguard(acme, alice):
    staff_of(acme, 39)
    run = preview_in_process(acme, b"email\nnot-an-email\n", admin=alice)
    assert run.status == ImportRun.Status.INVALID
    assert run.safeguard_message == ""


# The second confirmation in the browser flow ---------------------------------------------------


@pytest.mark.worker
def test_a_manual_import_past_a_safeguard_is_refused_until_the_admin_ticks_the_box(
    worker, alice_client, acme, alice
):
    people = staff_of(acme, 19)  # 20 active users with alice.
    alice_client.post(reverse("importer:create-preview"), {"text": csv_of(people[10:]).decode()})
    run = wait_for_run(ImportRun.objects.get())
    page = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    assert "This import would deactivate 10 of 20 active users (50 %); the limit is 10 %." in page
    assert 'name="confirm_safeguard" value="1" required' in page
    assert "I understand that 10 users will be deactivated" in page

    response = alice_client.post(reverse("importer:run-apply", args=[run.pk]), follow=True)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.READY
    assert (
        "Nothing was imported. If these numbers are what you expect, tick the confirmation box"
        in (response.content.decode())
    )
    assert User.objects.filter(organization=acme, is_active=True).count() == 20

    alice_client.post(reverse("importer:run-apply", args=[run.pk]), {"confirm_safeguard": "1"})
    run = wait_for_run(run)
    assert run.status == ImportRun.Status.APPLIED
    assert run.applied_by == alice
    assert User.objects.filter(organization=acme, is_active=True).count() == 10


# Held scheduled runs ---------------------------------------------------------------------------


@pytest.fixture
def held_run(acme, alice, settings, django_capture_on_commit_callbacks):
    """A scheduled run that would deactivate half of Acme, held by the safeguard."""
    settings.ROSTERSYNC_BASE_URL = "https://rostersync.example.com"
    people = staff_of(acme, 19)
    # A scheduled preview that trips the safeguard holds its run, in the preview's transaction.
    with django_capture_on_commit_callbacks(execute=True):
        run = preview_in_process(
            acme, csv_of([alice, *people[:9]]), trigger=ImportRun.Trigger.SCHEDULED
        )
    assert run.safeguard_message
    return run


def test_a_held_run_applies_nothing_and_emails_the_organizations_active_admins(
    acme, alice, bob, charlie, settings, django_capture_on_commit_callbacks
):
    settings.ROSTERSYNC_BASE_URL = "https://rostersync.example.com"
    second = OrgAdminFactory(organization=acme, email="second-admin@acme.example")
    OrgAdminFactory(organization=acme, email="former-admin@acme.example", is_active=False)
    people = staff_of(acme, 18)  # 22 users, 21 active.
    with django_capture_on_commit_callbacks(execute=True):
        run = preview_in_process(
            acme, csv_of([alice, second, *people[:8]]), trigger=ImportRun.Trigger.SCHEDULED
        )

    assert run.status == ImportRun.Status.HELD
    assert User.objects.filter(organization=acme, is_active=False).count() == 1  # The former admin.
    [email] = mail.outbox
    assert sorted(email.to) == ["alice@acme.example", "second-admin@acme.example"]
    assert email.subject == f"Import #{run.pk} for Acme is waiting for your approval"
    assert "This import would deactivate 11 of 21 active users (52.4 %)" in email.body
    assert f"https://rostersync.example.com/import/runs/{run.pk}/" in email.body


def test_holding_a_held_run_again_sends_no_second_email(
    held_run, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert runs.hold_run(held_run.pk) is False
    assert len(mail.outbox) == 1


def test_a_held_run_cannot_be_applied_through_the_import_button(held_run, alice_client):
    alice_client.post(reverse("importer:run-apply", args=[held_run.pk]), {"confirm_safeguard": "1"})
    held_run.refresh_from_db()
    assert held_run.status == ImportRun.Status.HELD


def test_the_run_page_offers_approve_and_discard_for_a_held_run(held_run, alice_client):
    html = alice_client.get(reverse("importer:run-detail", args=[held_run.pk])).content.decode()
    assert "Held by a safeguard" in html
    assert 'id="approve-button"' in html
    assert 'id="discard-button"' in html
    assert 'id="import-button"' not in html


@pytest.mark.worker
def test_an_admin_approves_a_held_run_and_it_is_applied(
    worker, acme, alice, alice_client, settings
):
    people = staff_of(acme, 19)
    run = preview_in_process(
        acme, csv_of([alice, *people[:9]]), trigger=ImportRun.Trigger.SCHEDULED
    )
    assert run.status == ImportRun.Status.HELD  # By its preview; autocommit: the email is sent.
    assert len(mail.outbox) == 1

    alice_client.post(reverse("importer:run-approve", args=[run.pk]))
    run = wait_for_run(run)

    assert run.status == ImportRun.Status.APPLIED
    assert run.applied_by == alice
    assert User.objects.filter(organization=acme, is_active=False).count() == 10


def test_approving_marks_the_held_run_for_applying(held_run, alice):
    runs.approve_held_run(held_run, acting_user=alice)
    assert (held_run.status, held_run.applied_by) == (ImportRun.Status.APPLYING, alice)
    with pytest.raises(runs.ApplyRefused, match="not held"):
        runs.approve_held_run(held_run, acting_user=alice)


def test_an_admin_discards_a_held_run_and_nothing_is_applied(held_run, alice_client, acme):
    response = alice_client.post(reverse("importer:run-discard", args=[held_run.pk]), follow=True)
    held_run.refresh_from_db()

    assert held_run.status == ImportRun.Status.DISCARDED
    assert held_run.finished_at is not None
    assert "Discarded by Alice" in held_run.message
    assert (
        f"Import #{held_run.pk} was discarded. Nothing was imported." in response.content.decode()
    )
    assert User.objects.filter(organization=acme, is_active=False).count() == 0
    refused = alice_client.post(reverse("importer:run-approve", args=[held_run.pk]), follow=True)
    held_run.refresh_from_db()
    assert held_run.status == ImportRun.Status.DISCARDED
    assert "cannot be approved" in refused.content.decode()


def test_another_organizations_admin_can_neither_approve_nor_discard(held_run, client, charlie):
    client.force_login(charlie)
    assert client.post(reverse("importer:run-approve", args=[held_run.pk])).status_code == 404
    assert client.post(reverse("importer:run-discard", args=[held_run.pk])).status_code == 404
    held_run.refresh_from_db()
    assert held_run.status == ImportRun.Status.HELD


def test_only_a_ready_run_can_be_held(acme, alice):
    run = preview_in_process(acme, b"email\nnot-an-email\n", trigger=ImportRun.Trigger.SCHEDULED)
    assert runs.hold_run(run.pk) is False
    run.refresh_from_db()
    assert run.status == ImportRun.Status.INVALID
    assert mail.outbox == []
