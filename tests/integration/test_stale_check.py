"""Apply refuses a preview that no longer shows what importing would do, reading only the
organization's census and the users the run's changes touch (not every user)."""

import datetime as dt

import pytest
from django.db import connection
from django.db.models import F

from importer import runs
from importer.models import ImportRun
from tests.conftest import preview_text
from tests.factories import UserFactory
from users.models import User

PEOPLE = 100


def people_csv(titles: dict[int, str] | None = None) -> str:
    titles = titles or {}
    lines = ["Email,First name,Title"]
    lines += [
        f"p{n}@acme.example,Person {n},{titles.get(n, 'Engineer')}" for n in range(PEOPLE)
    ] + ["alice@acme.example,Alice,Admin"]
    return "\n".join(lines) + "\n"


def apply(run: ImportRun, admin) -> ImportRun:
    runs.request_apply(run, acting_user=admin, confirm_safeguard=True)
    runs.apply_run(run.pk)
    run.refresh_from_db()
    return run


@pytest.fixture
def imported(acme, alice):
    """Acme with PEOPLE users from an applied import, then the preview of a next file that
    changes the title of one person in a hundred (p7)."""
    first = apply(preview_text(acme, alice, people_csv()), alice)
    assert first.status == ImportRun.Status.APPLIED, first.message
    run = preview_text(acme, alice, people_csv({7: "Lead Engineer"}))
    assert run.status == ImportRun.Status.READY, run.issues
    assert run.changed_count == 1 and run.change_count == 1
    return run


def titles() -> dict[str, str]:
    return dict(User.objects.values_list("email", "title"))


def test_the_next_file_applies_when_nothing_changed_since_its_preview(imported, alice):
    run = apply(imported, alice)

    assert run.status == ImportRun.Status.APPLIED
    assert titles()["p7@acme.example"] == "Lead Engineer"


@pytest.mark.parametrize(
    "edit",
    [
        # As Django admin saves: only the changed field, one version up.
        lambda: User.objects.filter(email="p7@acme.example").update(
            department="Sales", version=F("version") + 1
        ),
        # A plain UPDATE that leaves the version as it was is caught by the fingerprint.
        lambda: User.objects.filter(email="p7@acme.example").update(department="Sales"),
        lambda: User.objects.filter(email="p7@acme.example").update(is_sync_protected=True),
    ],
    ids=["admin save", "update without version", "kept out of sync"],
)
def test_a_person_the_run_changes_edited_after_the_preview_makes_it_stale(imported, alice, edit):
    edit()

    run = apply(imported, alice)

    assert run.status == ImportRun.Status.STALE
    assert "Preview the file again" in run.message
    assert titles()["p7@acme.example"] == "Engineer"


def test_a_person_the_run_changes_deleted_after_the_preview_makes_it_stale(imported, alice, acme):
    # A person replaced at the same count: removed, and another added in their place.
    User.objects.filter(email="p7@acme.example").delete()
    UserFactory(organization=acme, email="instead@acme.example")

    run = apply(imported, alice)

    assert run.status == ImportRun.Status.STALE


def test_a_user_added_after_the_preview_makes_it_stale(imported, alice, acme):
    # The file does not name them: the import would deactivate them, which its preview never said.
    UserFactory(organization=acme, email="new.hire@acme.example")

    run = apply(imported, alice)

    assert run.status == ImportRun.Status.STALE
    assert User.objects.get(email="new.hire@acme.example").is_active


def test_an_admin_save_of_a_person_the_run_leaves_alone_makes_it_stale(imported, alice):
    User.objects.filter(email="p50@acme.example").update(
        title="Edited in admin", version=F("version") + 1
    )

    run = apply(imported, alice)

    assert run.status == ImportRun.Status.STALE


def test_another_import_applied_after_the_preview_makes_it_stale(imported, alice, acme):
    other = preview_text(acme, alice, people_csv({50: "Architect"}))
    assert apply(other, alice).status == ImportRun.Status.APPLIED
    imported.refresh_from_db()
    assert imported.status == ImportRun.Status.STALE  # Superseded: marked when the other applied.
    # A preview that finished while the other import was applying is still ready: apply's own
    # check is what refuses it.
    ImportRun.objects.filter(pk=imported.pk).update(status=ImportRun.Status.READY)

    run = apply(imported, alice)

    assert run.status == ImportRun.Status.STALE
    assert titles()["p7@acme.example"] == "Engineer"


def test_a_raw_edit_of_a_person_the_run_leaves_alone_is_not_seen(imported, alice):
    """The one write apply does not see: SQL outside the app, on a user the run does not touch,
    that leaves the version as it was. The run changes only its own users, so it cannot
    overwrite that edit."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE users_user SET title = 'Edited by SQL' WHERE email = 'p50@acme.example'"
        )

    run = apply(imported, alice)

    assert run.status == ImportRun.Status.APPLIED
    assert titles()["p50@acme.example"] == "Edited by SQL"
    assert titles()["p7@acme.example"] == "Lead Engineer"


def test_people_with_every_kind_of_value_apply_when_nothing_changed(acme, alice):
    """Fingerprints of users with dates, a manager, an ended protection, an employee ID and
    text that looks like the fingerprint's own separators: the preview's (in Python) and
    apply's (in the database on PostgreSQL) agree, so the run is not called stale."""
    first = apply(preview_text(acme, alice, people_csv()), alice)
    assert first.status == ImportRun.Status.APPLIED, first.message
    boss = User.objects.get(email="p0@acme.example")
    User.objects.filter(organization=acme).exclude(pk=boss.pk).update(
        manager=boss,
        hire_date=dt.date(2019, 2, 3),
        last_name="Ødegård|3:x",
        department="R&D, ünïcode 😀",
        location="",
        # Kept out of sync until a day now past: imports change them again.
        is_sync_protected=True,
        sync_protected_until=dt.date(2020, 1, 1),
    )
    User.objects.filter(email="p3@acme.example").update(employee_id="E-3", is_staff=True)
    run = preview_text(acme, alice, people_csv({7: "Lead Engineer", 3: "Architect"}))
    assert run.status == ImportRun.Status.READY, run.issues
    assert run.changed_count == 2

    run = apply(run, alice)

    assert run.status == ImportRun.Status.APPLIED, run.message
    assert titles()["p7@acme.example"] == "Lead Engineer"
    assert titles()["p3@acme.example"] == "Architect"
