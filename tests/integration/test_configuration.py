"""The Configuration tab: options saved and logged, column names, people kept out of sync,
scoping to the admin's organization, and the options in force kept on each run."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from importer import runs
from importer.models import ImportChange, ImportConfig, ImportConfigChange, ImportRun
from tests.factories import UserFactory
from users.models import User

DEFAULT_FORM = {
    "create_users": "True",
    "update_fields": [
        "email",
        "first_name",
        "last_name",
        "title",
        "department",
        "location",
        "employee_id",
        "hire_date",
    ],
    "update_managers": "True",
    "deactivate_missing": "True",
    "reactivate": "True",
    "clear_blank_fields": [],
    "max_deactivation_percent": "10",
    "max_deactivation_count": "",
    "min_row_ratio_percent": "80",
    "max_field_change_percent": "20",
    "max_field_change_count": "",
    "hold_admin_changes": "True",
    "apply_within_limits": "False",
}


def columns_data(rows=(), *, initial=0):
    """Return the POST data of the column names table: rows of (header, field[, remove])."""
    data = {
        "columns-TOTAL_FORMS": str(len(rows)),
        "columns-INITIAL_FORMS": str(initial),
        "columns-MIN_NUM_FORMS": "0",
        "columns-MAX_NUM_FORMS": "200",
    }
    for index, row in enumerate(rows):
        data[f"columns-{index}-header"] = row[0]
        data[f"columns-{index}-field"] = row[1]
        if len(row) > 2 and row[2]:
            data[f"columns-{index}-DELETE"] = "on"
    return data


def save(client, columns=(), *, initial=0, **options):
    data = {**DEFAULT_FORM, **options, **columns_data(columns, initial=initial)}
    return client.post(reverse("importer:configuration-save"), data)


def preview_in_process(organization, admin, text: str) -> ImportRun:
    run = runs.create_run(
        organization=organization,
        data=text.encode(),
        name="people.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=admin,
    )
    runs.preview_run(run.pk)
    run.refresh_from_db()
    return run


# The page --------------------------------------------------------------------------------------


def test_it_shows_every_option_grouped_with_its_help_text(alice_client, acme):
    response = alice_client.get(reverse("importer:configuration"))
    html = response.content.decode()
    assert response.status_code == 200
    for group in (
        "New people",
        "Profile updates",
        "Managers",
        "People missing from the file",
        "Returning people",
        "Blank cells",
        "Safeguards",
        "Column names",
    ):
        assert f">{group}</h3>" in html
    assert "People in the file who have no account yet." in html
    assert "Keep them, for example during a review cycle" in html
    assert "100 turns this check off" in html
    # Each limit's help has an example.
    for example in (
        "a file that leaves out 21 people passes the limit (20 are allowed)",
        "for example 5 makes a file that deactivates 6 people ask first",
        "a file of 799 rows trips it (800 pass)",
        "a file that gives 101 people a new manager passes the limit (100 are allowed)",
        "50 lets an import change at most 50 people",
        "a file that leaves out one admin asks first",
        "the first 20 deactivations (by email) and every other change are applied at once",
    ):
        assert example in html.replace("&#x27;", "'"), example
    assert "Changes apply to the next preview." in html
    assert 'aria-current="page" class="active">Configuration</a>' in html
    assert "No changes yet" in html
    assert ImportConfig.objects.filter(organization=acme).count() == 1  # Created with defaults.


def test_the_configuration_tab_sits_between_import_and_history(alice_client):
    html = alice_client.get(reverse("importer:import")).content.decode()
    assert html.index(">Import</a>") < html.index(">Configuration</a>") < html.index(">History</a>")


# Saving and the change log ---------------------------------------------------------------------


def test_it_saves_the_options_and_logs_who_changed_what(alice_client, acme, alice):
    response = save(
        alice_client,
        update_managers="False",
        deactivate_missing="False",
        update_fields=["first_name", "last_name"],
        clear_blank_fields=["title", "manager_email"],
        max_deactivation_percent="25",
        max_deactivation_count="40",
        min_row_ratio_percent="50",
    )
    assert response.status_code == 302
    config = ImportConfig.objects.get(organization=acme)
    assert (config.update_managers, config.deactivate_missing, config.create_users) == (
        False,
        False,
        True,
    )
    assert config.update_fields == ["first_name", "last_name"]
    assert config.clear_blank_fields == ["manager_email", "title"]
    assert (
        config.max_deactivation_percent,
        config.max_deactivation_count,
        config.min_row_ratio_percent,
    ) == (25, 40, 50)
    assert config.updated_by == alice
    [entry] = ImportConfigChange.objects.filter(organization=acme)
    assert entry.changed_by == alice
    assert entry.changes["update_managers"] == [True, False]
    assert entry.changes["max_deactivation_count"] == [None, 40]
    assert "create_users" not in entry.changes

    html = alice_client.get(reverse("importer:configuration")).content.decode()
    assert "Saved. The new options apply from the next preview on." in html
    assert "Update manager relationships:" in html
    assert 'No limit</del> → <ins class="new">40</ins>' in html
    assert "Alice" in html


def test_saving_the_same_options_again_logs_nothing(alice_client, acme):
    save(alice_client, reactivate="False")
    save(alice_client, reactivate="False")
    assert ImportConfigChange.objects.filter(organization=acme).count() == 1
    html = alice_client.get(reverse("importer:configuration")).content.decode()
    assert "Nothing to save" in html


def test_it_refuses_out_of_range_limits_in_plain_words_and_saves_nothing(alice_client, acme):
    response = save(alice_client, max_deactivation_percent="150", min_row_ratio_percent="-1")
    html = response.content.decode()
    assert response.status_code == 400
    assert "Nothing was saved: correct the fields marked below" in html
    assert "Ensure this value is less than or equal to 100." in html
    assert not ImportConfigChange.objects.exists()
    assert runs.options_for(acme, None).limits.max_deactivation_percent == 10


def test_it_refuses_a_field_that_is_not_a_profile_field(alice_client, acme):
    response = save(alice_client, update_fields=["first_name", "is_staff"])
    assert response.status_code == 400
    assert "is_staff is not one of the available choices" in response.content.decode()
    assert "is_staff" not in runs.options_for(acme, None).update_fields


# Column names ----------------------------------------------------------------------------------


def test_it_adds_and_removes_the_organizations_column_names(alice_client, acme):
    save(alice_client, [("Kostenstelle", "department"), ("Firmen-Mail", "email")])
    config = ImportConfig.objects.get(organization=acme)
    assert config.column_mapping == {"Firmen-Mail": "email", "Kostenstelle": "department"}
    html = alice_client.get(reverse("importer:configuration")).content.decode()
    assert 'value="Kostenstelle"' in html

    save(alice_client, [("Firmen-Mail", "email"), ("Kostenstelle", "department", True)], initial=2)
    config.refresh_from_db()
    assert config.column_mapping == {"Firmen-Mail": "email"}
    assert ImportConfigChange.objects.filter(organization=acme).count() == 2


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("Kostenstelle", "")], "Choose the field this column fills."),
        ([("", "department")], "Enter the column name exactly as your file shows it."),
        ([("Kostenstelle", "salary")], "Select a valid choice."),
        ([("--", "department")], "Use a column name with at least one letter or digit."),
        (
            [("Kosten stelle", "department"), ("kostenstelle", "location")],
            "are the same column name",
        ),
    ],
)
def test_it_refuses_an_incomplete_or_ambiguous_column_name(alice_client, acme, rows, message):
    response = save(alice_client, rows)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert runs.options_for(acme, None).column_mapping == {}


def test_the_organizations_column_names_are_used_by_the_next_preview(alice_client, acme, alice):
    save(alice_client, [("Firmen-Mail", "email"), ("Kostenstelle", "department")])
    run = preview_in_process(acme, alice, "Firmen-Mail;Kostenstelle\nana@acme.example;Einkauf\n")
    assert run.status == ImportRun.Status.READY
    [change] = run.changes.all()
    assert change.fields["department"] == ["", "Einkauf"]
    assert run.policy["column_mapping"] == {"Firmen-Mail": "email", "Kostenstelle": "department"}


# Options on each run ---------------------------------------------------------------------------


def test_each_run_keeps_the_options_it_was_previewed_with(alice_client, acme, alice, bob):
    save(alice_client, deactivate_missing="False", max_deactivation_count="5")
    run = preview_in_process(acme, alice, "email\nana@acme.example\n")
    save(alice_client, deactivate_missing="True", reactivate="False")
    run.refresh_from_db()

    assert run.policy["deactivate_missing"] is False
    assert run.policy["reactivate"] is True
    assert run.policy["max_deactivation_count"] == 5
    html = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    assert "Options in force for this import" in html
    assert "<dt>People missing from the file</dt><dd>Left as they were</dd>" in html
    assert "and at most 5" in html


def test_options_change_what_the_preview_makes_and_skipped_changes_are_shown_apart(
    alice_client, acme, alice, bob
):
    UserFactory(organization=acme, email="old@acme.example", is_active=False)
    save(alice_client, create_users="False", reactivate="False")
    run = preview_in_process(
        acme,
        alice,
        "email,first_name\nbob@acme.example,Bob\nnew@acme.example,New\nold@acme.example,\n",
    )
    assert (run.new_count, run.reactivated_count, run.change_count) == (0, 0, 0)
    skipped = run.changes.exclude(skipped_reason="")
    assert sorted(skipped.values_list("email", "action")) == [
        ("new@acme.example", "create"),
        ("old@acme.example", "reactivate"),
    ]
    assert run.skipped_count == 2

    with CaptureQueriesContext(connection) as queries:
        html = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    assert "<dt>Skipped</dt><dd>2</dd>" in html
    # Every count on the page is the run's own: none of its changes is counted on a view.
    assert not [q["sql"] for q in queries if "COUNT(" in q["sql"] and "importchange" in q["sql"]]
    assert "Everyone in the file is already up to date" in html
    skipped_html = alice_client.get(
        reverse("importer:run-detail", args=[run.pk]), {"action": "skipped"}
    ).content.decode()
    assert "Would create — skipped" in skipped_html
    assert "&#x27;Create new users&#x27; is off." in skipped_html
    assert "Would reactivate — skipped" in skipped_html


def test_applying_leaves_skipped_changes_out(alice_client, acme, alice, bob):
    bob.is_sync_protected = True
    bob.title = "Founder"
    bob.save()
    gone = UserFactory(organization=acme, email="gone@acme.example")
    save(alice_client, create_users="False")
    run = preview_in_process(
        acme, alice, "email,title\nbob@acme.example,Intern\nnew@acme.example,Engineer\n"
    )
    assert run.deactivated_count == 1
    assert run.changes.exclude(skipped_reason="").count() == 2

    runs.request_apply(run, acting_user=alice)
    runs.apply_run(run.pk)
    run.refresh_from_db()

    assert run.status == ImportRun.Status.APPLIED
    bob.refresh_from_db()
    gone.refresh_from_db()
    assert (bob.title, bob.is_active) == ("Founder", True)
    assert not gone.is_active
    assert not User.objects.filter(email="new@acme.example").exists()
    assert ImportChange.objects.get(run=run, email="new@acme.example").user is None


# People kept out of sync -----------------------------------------------------------------------


def test_the_people_list_searches_and_pages_through_the_organizations_users(
    alice_client, acme, globex
):
    User.objects.bulk_create(  # An unusable password: hashing 60 real ones would be slow.
        User(
            organization=acme,
            email=f"person{number:02}@acme.example",
            last_name=f"Zed{number:02}",
            password="!",
        )
        for number in range(60)
    )
    UserFactory(
        organization=acme, email="dora@acme.example", first_name="Dora", department="Einkauf"
    )
    UserFactory(organization=globex, email="dora@globex.example", first_name="Dora")

    html = alice_client.get(reverse("importer:people")).content.decode()
    assert "62 people" in html
    assert "1–50 of 62" in html
    found = alice_client.get(reverse("importer:people"), {"q": "einkauf"}).content.decode()
    assert "dora@acme.example" in found
    assert "dora@globex.example" not in found
    assert "1 person matching “einkauf”" in found
    nobody = alice_client.get(reverse("importer:people"), {"q": "nobody"}).content.decode()
    assert "Nobody matches “nobody”" in nobody


def test_an_admin_keeps_a_user_out_of_sync_until_a_day_and_the_change_is_logged(
    alice_client, acme, alice, bob
):
    until = timezone.localdate() + dt.timedelta(days=30)
    response = alice_client.post(
        reverse("importer:people-protection", args=[bob.pk]),
        {"protected": "1", "until": until.isoformat(), "q": "bob", "page": "1"},
    )
    assert response.status_code == 302
    assert response.url == reverse("importer:people") + "?q=bob&page=1"
    bob.refresh_from_db()
    assert (bob.is_sync_protected, bob.sync_protected_until) == (True, until)
    [entry] = ImportConfigChange.objects.filter(organization=acme)
    assert entry.changed_by == alice
    assert entry.changes == {
        "kept_out_of_sync:bob@acme.example": ["No", f"Yes, until {until:%d %b %Y}"]
    }

    html = alice_client.get(reverse("importer:people"), {"only": "protected"}).content.decode()
    assert "bob@acme.example" in html
    assert "alice@acme.example" not in html
    assert "1 person is kept out of sync" in html
    log = alice_client.get(reverse("importer:configuration")).content.decode()
    assert "Kept out of sync: bob@acme.example:" in log

    alice_client.post(reverse("importer:people-protection", args=[bob.pk]), {"protected": "0"})
    bob.refresh_from_db()
    assert (bob.is_sync_protected, bob.sync_protected_until) == (False, None)


def test_a_protected_user_is_left_alone_by_the_next_preview(alice_client, acme, alice, bob):
    alice_client.post(reverse("importer:people-protection", args=[bob.pk]), {"protected": "1"})
    run = preview_in_process(acme, alice, "email\nana@acme.example\n")
    assert run.deactivated_count == 0
    skipped = run.changes.get(email="bob@acme.example")
    assert skipped.skipped_reason == "Kept out of sync: imports never deactivate this user."


def test_an_end_date_in_the_past_is_refused(alice_client, bob):
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    alice_client.post(
        reverse("importer:people-protection", args=[bob.pk]),
        {"protected": "1", "until": yesterday.isoformat()},
    )
    bob.refresh_from_db()
    assert not bob.is_sync_protected
    html = alice_client.get(reverse("importer:people")).content.decode()
    assert "bob@acme.example was not changed: The end date" in html
    assert "has passed" in html


def test_an_ended_protection_shows_as_ended(alice_client, bob):
    bob.is_sync_protected = True
    bob.sync_protected_until = dt.date(2020, 1, 31)
    bob.save()
    html = alice_client.get(reverse("importer:people")).content.decode()
    assert "No (ended 31 Jan 2020)" in html


# Scoping ---------------------------------------------------------------------------------------


def test_an_admin_sees_and_changes_only_their_own_organizations_configuration(
    client, alice, charlie, acme, globex
):
    client.force_login(charlie)
    save(client, create_users="False", columns=[("Abteilung X", "department")])
    client.force_login(alice)
    html = client.get(reverse("importer:configuration")).content.decode()

    assert ImportConfig.objects.get(organization=globex).create_users is False
    assert ImportConfig.objects.get(organization=acme).create_users is True
    assert "Abteilung X" not in html
    assert not ImportConfigChange.objects.filter(organization=acme).exists()


def test_another_organizations_user_cannot_be_protected(alice_client, globex):
    outsider = UserFactory(organization=globex, email="x@globex.example")
    response = alice_client.post(
        reverse("importer:people-protection", args=[outsider.pk]), {"protected": "1"}
    )
    assert response.status_code == 404
    outsider.refresh_from_db()
    assert not outsider.is_sync_protected
    assert "x@globex.example" not in alice_client.get(reverse("importer:people")).content.decode()


def test_only_organization_admins_reach_the_configuration(client, bob, db):
    for name in ("configuration", "people"):
        assert client.get(reverse(f"importer:{name}")).status_code == 302  # To log in.
    client.force_login(bob)
    assert client.get(reverse("importer:configuration")).status_code == 403
    assert client.get(reverse("importer:people")).status_code == 403
    assert save(client).status_code == 403
    assert (
        client.post(
            reverse("importer:people-protection", args=[bob.pk]), {"protected": "1"}
        ).status_code
        == 403
    )


def test_saving_needs_a_post(alice_client):
    assert alice_client.get(reverse("importer:configuration-save")).status_code == 405
