"""Undo: an applied run is reverted by a run of its own, previewed first, applied like any other."""

import dataclasses
import datetime as dt
import time

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from importer import runs
from importer.models import ImportRun
from importer.runs import revert
from importer.store.snapshot import load_snapshot
from tests.conftest import preview_text
from tests.factories import UserFactory
from users.models import User

CSV = (
    "Employee ID,Email,First name,Last name,Title,Hire date,Manager email\n"
    "1001,ana@acme.example,Ana,Silva,CEO,2019-04-01,\n"
    "1002,ben@acme.example,Ben,Okafor,Lead Engineer,2021-09-15,mia.new@acme.example\n"
    "1003,cara@acme.example,Cara,Lima,Designer,,zoe@acme.example\n"
    "1005,eve@acme.example,Eve,Adams,Returning,,ben@acme.example\n"
    "1006,mia.new@acme.example,Mia,Wong,,,ana@acme.example\n"
    "1007,zoe@acme.example,Zoe,Park,Intern,2024-01-01,mia.new@acme.example\n"
)


def import_text(organization, admin, text: str) -> ImportRun:
    """Preview and apply a CSV in this process, with the same functions the worker runs."""
    run = preview_text(organization, admin, text)
    assert run.status == ImportRun.Status.READY, run.issues
    return apply(run, admin)


def apply(run: ImportRun, admin) -> ImportRun:
    runs.request_apply(run, acting_user=admin, confirm_safeguard=True)
    runs.apply_run(run.pk)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.APPLIED, run.message
    return run


@pytest.fixture
def staff(acme):
    """Acme before the import: managers, an inactive user, a user whose email will change."""
    ana = UserFactory(
        organization=acme,
        email="ana@acme.example",
        first_name="Ana",
        last_name="Silva",
        employee_id="1001",
        title="CEO",
        hire_date=dt.date(2019, 4, 1),
    )
    ben = UserFactory(
        organization=acme,
        email="ben@acme.example",
        first_name="Ben",
        last_name="Okafor",
        employee_id="1002",
        title="Engineer",
        hire_date=dt.date(2021, 9, 15),
        manager=ana,
    )
    cara = UserFactory(
        organization=acme,
        email="cara@acme.example",
        first_name="Cara",
        last_name="Lima",
        employee_id="1003",
        title="Designer",
        manager=ben,
    )
    UserFactory(organization=acme, email="dan@acme.example", employee_id="1004", manager=ben)
    UserFactory(
        organization=acme,
        email="eve@acme.example",
        first_name="Eve",
        last_name="Adams",
        employee_id="1005",
        title="Left",
        is_active=False,
        manager=cara,
    )
    UserFactory(
        organization=acme,
        email="mia@acme.example",
        first_name="Mia",
        last_name="Wong",
        employee_id="1006",
        manager=ana,
    )
    return acme


def snapshot(organization):
    """Return the organization's users by id, as the import sees them (row versions aside)."""
    users = load_snapshot(organization.pk, today=timezone.localdate()).users
    return {user.id: dataclasses.replace(user, version=0) for user in users}


def test_it_restores_exactly_the_state_before_a_run(staff, alice):
    before = snapshot(staff)
    run = import_text(staff, alice, CSV)
    # Zoe is new; Ben, Cara and Mia (whose email changes) change; Dan leaves; Eve returns.
    assert (run.new_count, run.changed_count, run.deactivated_count, run.reactivated_count) == (
        1,
        3,
        1,
        1,
    )
    assert User.objects.get(email="mia.new@acme.example").employee_id == "1006"

    reverting = runs.create_revert_run(run, acting_user=alice)

    assert reverting.status == ImportRun.Status.READY
    assert (reverting.source, reverting.reverts) == (ImportRun.Source.REVERT, run)
    assert snapshot(staff) != before  # Previewed only: nothing changed yet.
    apply(reverting, alice)
    after = snapshot(staff)
    created = set(after) - set(before)
    assert {after[user_id].email for user_id in created} == {"zoe@acme.example"}
    assert not any(after[user_id].is_active for user_id in created)
    assert {user_id: after[user_id] for user_id in before} == before


def test_reverting_the_revert_makes_the_run_again(staff, alice):
    run = import_text(staff, alice, CSV)
    after_run = snapshot(staff)
    reverting = apply(runs.create_revert_run(run, acting_user=alice), alice)

    apply(runs.create_revert_run(reverting, acting_user=alice), alice)

    assert snapshot(staff) == after_run


def test_the_revert_run_is_stale_if_users_change_before_it_is_imported(staff, alice):
    run = import_text(staff, alice, CSV)
    reverting = runs.create_revert_run(run, acting_user=alice)
    # Ana is not among the revert's users; an edit (which adds one to her version) still counts.
    User.objects.filter(email="ana@acme.example").update(
        title="Edited meanwhile", version=F("version") + 1
    )

    runs.request_apply(reverting, acting_user=alice)
    runs.apply_run(reverting.pk)

    reverting.refresh_from_db()
    assert reverting.status == ImportRun.Status.STALE
    assert User.objects.get(email="ben@acme.example").title == "Lead Engineer"


@pytest.mark.parametrize("check_limit", [5000, 0], ids=["full check", "large run: later runs only"])
def test_a_later_run_touching_the_same_users_blocks_the_revert_and_the_page_names_them(
    staff, alice, alice_client, monkeypatch, check_limit
):
    monkeypatch.setattr("importer.runs.revert.REVERT_CHECK_MAX_CHANGES", check_limit)
    run = import_text(staff, alice, CSV)
    later = import_text(staff, alice, CSV.replace("Lead Engineer", "Principal Engineer"))

    html = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()

    assert "cannot be reverted" in html
    assert (
        "ben@acme.example" in html and f"Changed since this import, by import #{later.pk}." in html
    )
    assert 'id="revert-button"' not in html
    response = alice_client.post(reverse("importer:run-revert", args=[run.pk]))
    assert response.status_code == 302
    assert response.url == reverse("importer:run-detail", args=[run.pk])
    assert not ImportRun.objects.filter(source=ImportRun.Source.REVERT).exists()
    # The later run itself touched nobody after it: it can be reverted.
    later_html = alice_client.get(reverse("importer:run-detail", args=[later.pk])).content.decode()
    assert 'id="revert-button"' in later_html


@pytest.mark.parametrize("runs_per_query", [500, 1], ids=["one query", "a query per run"])
def test_a_conflict_names_the_first_later_run_that_changed_the_user(
    staff, alice, alice_client, monkeypatch, runs_per_query
):
    monkeypatch.setattr("importer.runs.revert.REVERT_CHECK_MAX_CHANGES", 0)
    monkeypatch.setattr("importer.runs.revert.RUNS_PER_QUERY", runs_per_query)
    run = import_text(staff, alice, CSV)
    first = import_text(staff, alice, CSV.replace("Lead Engineer", "Principal Engineer"))
    second = import_text(staff, alice, CSV.replace("Lead Engineer", "Staff Engineer"))

    html = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()

    assert f"Changed since this import, by import #{first.pk}." in html
    assert f"by import #{second.pk}." not in html
    # The second run is in the way of undoing the first, by its own number.
    first_html = alice_client.get(reverse("importer:run-detail", args=[first.pk])).content.decode()
    assert f"Changed since this import, by import #{second.pk}." in first_html


def test_a_large_run_page_counts_every_later_conflict_and_names_only_the_first_ones(
    staff, alice, alice_client, globex, monkeypatch
):
    monkeypatch.setattr("importer.runs.revert.REVERT_CHECK_MAX_CHANGES", 0)
    monkeypatch.setattr("importer.runs.revert.CONFLICTS_SHOWN", 2)
    run = import_text(staff, alice, CSV)
    later = import_text(
        staff,
        alice,
        CSV.replace("Lead Engineer", "Principal")
        .replace("Intern", "Analyst")
        .replace("Designer", "Art Director"),
    )
    # Touched by both runs: Ben, Cara and Zoe.
    touched = revert.touched_later(run)
    assert set(touched) == set(
        User.objects.filter(
            email__in=["ben@acme.example", "cara@acme.example", "zoe@acme.example"]
        ).values_list("pk", flat=True)
    )
    assert set(touched.values()) == {later.pk}
    first_two = sorted(touched)[:2]
    # One of the first two left the organization since: its email is not shown.
    User.objects.filter(pk=first_two[0]).update(organization=globex)
    gone = User.objects.get(pk=first_two[0]).email
    kept = User.objects.get(pk=first_two[1]).email

    html = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()

    assert f"{len(touched)} of its users changed since" in html
    assert kept in html and "(no longer in this organization)" in html
    assert f"<strong>{gone}</strong>" not in html
    assert f"… and {len(touched) - 2} more." in html
    shown_elsewhere = [
        email
        for email in User.objects.filter(pk__in=touched).values_list("email", flat=True)
        if email not in (kept, gone) and f"<strong>{email}</strong>" in html
    ]
    assert shown_elsewhere == []


def test_an_edit_outside_imports_since_the_run_is_named_as_a_conflict(staff, alice, alice_client):
    run = import_text(staff, alice, CSV)
    cara = User.objects.get(email="cara@acme.example")
    cara.title = "Edited in Django admin"  # A field the run did not change: no conflict.
    cara.save()
    assert revert.revert_plan(run, today=timezone.localdate()).is_possible
    cara.manager = User.objects.get(email="ana@acme.example")  # The run set it to Zoe.
    cara.save()

    html = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()

    assert "cara@acme.example" in html and "Changed since this import, outside imports" in html
    with pytest.raises(runs.RevertRefused, match="cara@acme.example"):
        runs.create_revert_run(run, acting_user=alice)


def test_only_applied_runs_with_changes_can_be_reverted(staff, alice):
    run = runs.create_run(
        organization=staff,
        data=CSV.encode(),
        name="people.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=alice,
    )
    runs.preview_run(run.pk)
    run.refresh_from_db()

    with pytest.raises(runs.RevertRefused, match="applied"):
        runs.create_revert_run(run, acting_user=alice)


def poll_panel(client, run, *, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        html = client.get(
            reverse("importer:run-panel", args=[run.pk]), HTTP_HX_REQUEST="true"
        ).content.decode()
        if 'hx-trigger="every 1s"' not in html:
            return html
        assert time.monotonic() < deadline, html[:500]
        time.sleep(0.2)


@pytest.mark.worker
def test_an_admin_previews_the_revert_then_imports_it_with_the_import_button(
    worker, staff, alice, alice_client
):
    before = snapshot(staff)
    run = import_text(staff, alice, CSV)
    page = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    assert 'id="revert-button"' in page

    response = alice_client.post(reverse("importer:run-revert", args=[run.pk]))

    reverting = ImportRun.objects.get(source=ImportRun.Source.REVERT)
    assert response.url == reverse("importer:run-detail", args=[reverting.pk])
    html = alice_client.get(response.url).content.decode()
    assert "Ready to import" in html and 'id="import-button"' in html
    assert "Nothing has changed yet" in html
    assert "Lead Engineer" in html  # Field by field, old → new.

    alice_client.post(reverse("importer:run-apply", args=[reverting.pk]))
    html = poll_panel(alice_client, reverting)

    assert "Imported 6 changes" in html
    after = snapshot(staff)
    assert {user_id: after[user_id] for user_id in before} == before
    original = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    reverting_url = reverse("importer:run-detail", args=[reverting.pk])
    assert f'reverted by <a href="{reverting_url}">import #{reverting.pk}' in original
    history = alice_client.get(reverse("importer:history")).content.decode()
    assert (
        f'Revert of <a href="{reverse("importer:run-detail", args=[run.pk])}">#{run.pk}</a>'
        in history
    )


def test_undoing_a_large_import_asks_for_the_safeguard_confirmation_first(acme, alice):
    rows = "".join(f"person{n}@acme.example,Person,{n}\n" for n in range(20))
    run = import_text(acme, alice, "Email,First name,Last name\nalice@acme.example,Alice,\n" + rows)
    assert run.new_count == 20

    reverting = runs.create_revert_run(run, acting_user=alice)

    assert reverting.deactivated_count == 20
    assert "deactivate 20 of 21 active users" in reverting.safeguard_message
    with pytest.raises(runs.ApplyRefused, match="tick the confirmation box"):
        runs.request_apply(reverting, acting_user=alice)
    assert User.objects.filter(organization=acme, is_active=True).count() == 21
    apply(reverting, alice)  # Confirmed: the 20 people are deactivated.
    assert User.objects.filter(organization=acme, is_active=True).count() == 1
