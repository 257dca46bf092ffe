"""Limits on every kind of mass change, and "apply what is within the limits, hold the rest",
on real runs: a manual confirmation naming the limits passed, the preview's filter, a
scheduled import split in two, and a held part approved against users who changed since."""

import pytest
from django.core import mail
from django.urls import reverse

from importer import runs
from importer.models import ImportChange, ImportConfig, ImportRun
from importer.runs.services import REFUSED_CHANGED
from tests.conftest import wait_for_run
from tests.integration.test_safeguards import preview_in_process, staff_of
from users.models import User


def titles_csv(admin, people, *, retitled: int) -> bytes:
    """Everyone in the file; the first `retitled` people get a new title."""
    lines = ["email,title", f"{admin.email},Admin"]
    lines += [
        f"{person.email},{'Engineer' if number < retitled else ''}"
        for number, person in enumerate(people)
    ]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def twenty(acme, alice):
    """Acme with 20 active people (and Alice, titled Admin already): 20 % of 21 allows 4."""
    User.objects.filter(pk=alice.pk).update(title="Admin")
    return staff_of(acme, 20)


def title_of(email: str) -> str:
    return User.objects.get(email=email).title


def test_a_manual_import_past_the_title_limit_asks_for_a_confirmation_naming_it(
    acme, alice, alice_client, twenty
):
    run = preview_in_process(acme, titles_csv(alice, twenty, retitled=10), admin=alice)

    assert run.status == ImportRun.Status.READY
    assert run.limits_passed == {"title": 6}
    assert "change the title of 10 of 21 active users" in run.safeguard_message
    # The first 4 in the file's order are within the limit; the 6 after them passed it.
    passed = run.changes.exclude(limits_passed="").order_by("row")
    assert [change.email for change in passed] == [person.email for person in twenty[4:10]]
    with pytest.raises(runs.ApplyRefused, match="tick the confirmation box"):
        runs.request_apply(run, acting_user=alice)

    page = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    assert "I understand this import passes these limits: Title changes (6 past the limit)" in page
    assert 'id="hold-rest-button"' in page
    filtered = alice_client.get(
        reverse("importer:run-detail", args=[run.pk]), {"limit": "title"}
    ).content.decode()
    assert filtered.count("Passed a limit: Title changes") == 6
    assert twenty[3].email not in filtered and twenty[9].email in filtered


def test_an_admins_email_change_passes_a_limit_even_alone(acme, alice, twenty):
    lines = ["email,employee_id"] + [f"{p.email},{n}" for n, p in enumerate(twenty)]
    User.objects.filter(pk=alice.pk).update(employee_id="A1")
    lines.append("alice.new@acme.example,A1")
    run = preview_in_process(acme, ("\n".join(lines) + "\n").encode(), admin=None)

    assert run.limits_passed == {"admins": 1}
    assert "change the email of, or deactivate, 1 organization admin" in run.safeguard_message


def test_manual_hold_rest_applies_the_safe_part_and_holds_the_rest_linked_both_ways(
    acme, alice, twenty
):
    run = preview_in_process(acme, titles_csv(alice, twenty, retitled=10), admin=alice)

    held = runs.request_apply(run, acting_user=alice, hold_rest=True)
    runs.apply_run(run.pk)
    run.refresh_from_db()

    assert run.status == ImportRun.Status.APPLIED and run.changed_count == 4
    assert held.status == ImportRun.Status.HELD and held.changed_count == 6
    assert held.held_part_of == run and list(run.held_parts.all()) == [held]
    assert mail.outbox == []  # The admin chose it: nobody is emailed.
    assert [title_of(p.email) for p in twenty[:10]] == ["Engineer"] * 4 + [""] * 6
    # Applying the safe part does not make its held part outdated.
    held.refresh_from_db()
    assert held.status == ImportRun.Status.HELD


@pytest.mark.worker
def test_a_scheduled_import_applies_within_the_limits_and_an_approval_refuses_changed_people(
    worker, acme, alice, alice_client, twenty
):
    ImportConfig.objects.create(organization=acme, apply_within_limits=True)

    run = preview_in_process(
        acme, titles_csv(alice, twenty, retitled=10), trigger=ImportRun.Trigger.SCHEDULED
    )
    assert run.status == ImportRun.Status.APPLYING  # The safe part goes on by itself.
    runs.apply_run(run.pk)
    run.refresh_from_db()
    held = run.held_parts.get()

    assert run.status == ImportRun.Status.APPLIED and run.changed_count == 4
    assert held.status == ImportRun.Status.HELD and held.changed_count == 6
    assert len(mail.outbox) == 1 and f"/runs/{held.pk}/" in mail.outbox[0].body
    assert "the 6 that passed a limit are held" in mail.outbox[0].body
    import_tab = alice_client.get(reverse("importer:import")).content.decode()
    assert f"Import #{held.pk} holds the changes of import #{run.pk}" in import_tab
    history = alice_client.get(reverse("importer:history")).content.decode()
    assert "Held part of" in history

    # One of the held people is edited by an admin before the approval.
    User.objects.filter(email=twenty[5].email).update(title="Set by hand", version=99)
    alice_client.post(reverse("importer:run-approve", args=[held.pk]))
    held = wait_for_run(held)

    assert held.status == ImportRun.Status.APPLIED, held.message
    assert "1 change refused" in held.message
    assert title_of(twenty[5].email) == "Set by hand"
    assert [title_of(p.email) for p in twenty[4:10] if p != twenty[5]] == ["Engineer"] * 5
    refused = ImportChange.objects.get(run=held, email=twenty[5].email)
    assert refused.skipped_reason == REFUSED_CHANGED
    assert held.changed_count == 5 and held.skipped_count == 1


def test_a_scheduled_import_past_a_limit_is_held_whole_by_default(acme, alice, twenty):
    run = preview_in_process(
        acme, titles_csv(alice, twenty, retitled=10), trigger=ImportRun.Trigger.SCHEDULED
    )

    assert run.status == ImportRun.Status.HELD and run.changed_count == 10
    assert not run.held_parts.exists()
