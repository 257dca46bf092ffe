"""Limits on every kind of mass change, and "apply what is within the limits, hold the rest",
on real runs: a manual confirmation naming the limits passed, the preview's filter, a
scheduled import split in two, and a held part approved against users who changed since."""

import datetime as dt
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from importer import runs
from importer.models import ImportChange, ImportConfig, ImportRun, RemoteSource
from importer.remote import services as sync
from importer.remote.secrets import encrypt_secret
from importer.runs.services import REFUSED_CHANGED
from importer.tasks import enqueue_due_fetches
from tests.conftest import wait_for_run
from tests.integration.https_server import Reply
from tests.integration.test_safeguards import preview_in_process, staff_of
from users.models import User

TOKEN = "t0ken-limits"


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
    assert "the first ones in the file's row order (deactivations by email)" in filtered
    assert twenty[3].email not in filtered and twenty[9].email in filtered


def test_an_admins_email_change_passes_a_limit_even_alone(acme, alice, twenty):
    lines = ["email,employee_id"] + [f"{p.email},{n}" for n, p in enumerate(twenty)]
    User.objects.filter(pk=alice.pk).update(employee_id="A1")
    lines.append("alice.new@acme.example,A1")
    run = preview_in_process(acme, ("\n".join(lines) + "\n").encode(), admin=None)

    assert run.limits_passed == {"admins": 1}
    assert "change the email of, or deactivate, 1 organization admin" in run.safeguard_message


def test_manual_hold_rest_applies_the_safe_part_and_holds_the_rest_linked_both_ways(
    acme, alice, twenty, django_capture_on_commit_callbacks
):
    run = preview_in_process(acme, titles_csv(alice, twenty, retitled=10), admin=alice)

    with django_capture_on_commit_callbacks(execute=True):
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


def test_a_discarded_held_part_changes_nobody_and_the_safe_part_stays_applied(
    acme, alice, alice_client, twenty
):
    run = preview_in_process(acme, titles_csv(alice, twenty, retitled=10), admin=alice)
    held = runs.request_apply(run, acting_user=alice, hold_rest=True)
    runs.apply_run(run.pk)

    alice_client.post(reverse("importer:run-discard", args=[held.pk]))
    held.refresh_from_db()
    run.refresh_from_db()

    assert (run.status, held.status) == (ImportRun.Status.APPLIED, ImportRun.Status.DISCARDED)
    assert [title_of(p.email) for p in twenty[:10]] == ["Engineer"] * 4 + [""] * 6
    history = alice_client.get(reverse("importer:history")).content.decode()
    assert reverse("importer:run-detail", args=[held.pk]) in history


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


@pytest.mark.worker
def test_an_upload_through_the_worker_asks_to_confirm_then_holds_the_rest_on_request(
    worker, acme, alice, alice_client, twenty
):
    """The upload's preview is made by the worker; the page's two buttons post as a browser."""
    alice_client.post(
        reverse("importer:create-preview"),
        {"text": titles_csv(alice, twenty, retitled=10).decode()},
    )
    run = wait_for_run(ImportRun.objects.get())
    assert (run.status, run.limits_passed) == (ImportRun.Status.READY, {"title": 6})
    page = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    assert "passes these limits: Title changes (6 past the limit)" in page

    alice_client.post(reverse("importer:run-apply", args=[run.pk]))  # Not confirmed: refused.
    run.refresh_from_db()
    assert run.status == ImportRun.Status.READY and not run.held_parts.exists()
    alice_client.post(reverse("importer:run-apply", args=[run.pk]), {"hold_rest": "1"})
    run = wait_for_run(run)

    held = run.held_parts.get()
    assert (run.status, run.changed_count) == (ImportRun.Status.APPLIED, 4)
    assert (held.status, held.changed_count) == (ImportRun.Status.HELD, 6)
    assert [title_of(p.email) for p in twenty[:10]] == ["Engineer"] * 4 + [""] * 6
    alice_client.post(reverse("importer:run-approve", args=[held.pk]))
    held = wait_for_run(held)
    assert held.status == ImportRun.Status.APPLIED
    assert [title_of(p.email) for p in twenty[:10]] == ["Engineer"] * 10


# From a scheduled pull: the HR server's file, fetched by the sync --------------------------------


def serve(https_server, acme, data: bytes, *, next_fetch_at) -> RemoteSource:
    def export(seen):
        if seen.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Reply(401, b"no")
        return Reply(200, data, {"Content-Type": "text/csv"})

    https_server.routes["/export.csv"] = export
    return RemoteSource.objects.create(
        organization=acme,
        enabled=True,
        url=https_server.url("/export.csv"),
        auth=RemoteSource.Auth.BEARER,
        secret_encrypted=encrypt_secret(TOKEN),
        cadence=RemoteSource.Cadence.HOURLY,
        next_fetch_at=next_fetch_at,
    )


def test_a_scheduled_pull_past_a_limit_is_held_whole_and_the_admins_emailed_naming_it(
    https_server, acme, alice, twenty, django_capture_on_commit_callbacks
):
    now = dt.datetime(2026, 3, 10, 14, 0, tzinfo=dt.UTC)
    source = serve(https_server, acme, titles_csv(alice, twenty, retitled=10), next_fetch_at=now)
    with django_capture_on_commit_callbacks(execute=True):
        sync.sync_source(source.pk, now=now)

    run = ImportRun.objects.get()
    assert (run.trigger, run.source, run.status) == ("scheduled", "remote", "held")
    assert run.limits_passed == {"title": 6} and not run.held_parts.exists()
    [email] = mail.outbox
    assert email.to == [alice.email]
    assert "change the title of 10 of 21 active users" in email.body
    assert [title_of(p.email) for p in twenty[:10]] == [""] * 10


@pytest.mark.worker
def test_a_scheduled_pull_split_by_the_worker_then_approved_refuses_only_the_changed(
    worker, https_server, acme, alice, alice_client, twenty
):
    """Everything after the set-up runs in the worker process: the dispatcher's sync (fetch,
    preview, apply within the limits, split, email), then the approval's apply."""
    ImportConfig.objects.create(organization=acme, apply_within_limits=True)
    data = titles_csv(alice, twenty, retitled=10)
    source = serve(https_server, acme, data, next_fetch_at=timezone.now())
    log = Path(settings.VAR_DIR) / "test-worker.log"

    assert enqueue_due_fetches(timezone.now()) == [source.pk]
    deadline = time.monotonic() + 60
    while not ImportRun.objects.filter(status=ImportRun.Status.APPLIED).exists():
        assert time.monotonic() < deadline, "the scheduled sync did not apply its safe part"
        time.sleep(0.2)
    run = ImportRun.objects.get(held_part_of=None)
    held = run.held_parts.get()
    assert (run.trigger, run.source, run.status, run.changed_count) == (
        "scheduled",
        "remote",
        "applied",
        4,
    )
    assert (held.status, held.changed_count, held.limits_passed) == ("held", 6, {"title": 6})
    # The first 4 retitled people in the file's order were within the limit: made at once.
    assert [title_of(p.email) for p in twenty[:10]] == ["Engineer"] * 4 + [""] * 6
    assert sorted(held.changes.values_list("email", flat=True)) == [p.email for p in twenty[4:10]]
    # The admins were emailed (by the worker: its console backend writes to its log).
    while f"/import/runs/{held.pk}/" not in log.read_text():
        assert time.monotonic() < deadline, "no email named the held part"
        time.sleep(0.2)
    page = alice_client.get(reverse("importer:run-detail", args=[held.pk])).content.decode()
    assert f'The held part of <a href="/import/runs/{run.pk}/">import #{run.pk}</a>' in page
    assert page.count("Passed a limit: Title changes") == 6
    assert "every one after them passes it" in page  # Why these six, on the held part's page.

    # Meanwhile two of the held people are edited, as a save in Django admin does (version + 1).
    for person, field in ((twenty[5], "title"), (twenty[8], "department")):
        person.refresh_from_db()
        setattr(person, field, "Set by hand")
        person.version += 1
        person.save()
    alice_client.post(reverse("importer:run-approve", args=[held.pk]))
    held = wait_for_run(held)

    assert held.status == ImportRun.Status.APPLIED, held.message
    assert "2 changes refused" in held.message
    refused = held.changes.filter(skipped_reason=REFUSED_CHANGED)
    assert sorted(refused.values_list("email", flat=True)) == [twenty[5].email, twenty[8].email]
    assert (held.changed_count, held.skipped_count) == (4, 2)
    assert title_of(twenty[5].email) == "Set by hand"
    assert title_of(twenty[8].email) == ""  # Refused: their new department is kept as it is.
    assert User.objects.get(email=twenty[8].email).department == "Set by hand"
    assert [title_of(p.email) for p in (twenty[4], twenty[6], twenty[7], twenty[9])] == [
        "Engineer"
    ] * 4


def test_the_same_file_twice_holds_the_same_people(acme, alice, twenty):
    """Which changes pass a limit depends on the file and the users alone, not on the run."""
    leavers = titles_csv(alice, twenty[:12], retitled=10)  # 8 leave: 3 allowed (the floor).
    first = preview_in_process(acme, leavers, admin=alice)
    second = preview_in_process(acme, leavers, admin=alice)

    def passed(run):
        return list(
            run.changes.exclude(limits_passed="")
            .order_by("action", "email")
            .values_list("action", "email", "limits_passed")
        )

    assert passed(first) == passed(second)
    assert first.limits_passed == second.limits_passed == {"deactivations": 5, "title": 6}
    # Of the deactivations, the last by email are the ones past the limit.
    deactivated = [email for action, email, _ in passed(first) if action == "deactivate"]
    assert deactivated == sorted(p.email for p in twenty[12:])[-5:]
