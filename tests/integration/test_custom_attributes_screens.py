"""Configuration › Custom attributes: add, edit and delete an organization's own fields.

Validation (names, choices, column names), the limit of MAX_ATTRIBUTES, scoping to the admin's
organization, the options they join, the values a deletion removes, and the change log and
Activity that record every change.
"""

import re

import pytest
from django.urls import reverse

from importer.models import AuditEvent, ImportConfig, ImportConfigChange
from importer.pipeline.types import MAX_ATTRIBUTES
from tests.factories import UserFactory
from users.models import CustomAttribute, User

pytestmark = pytest.mark.django_db


def add(client, name, type="text", choices="", column_names=""):
    return client.post(
        reverse("importer:attribute-create"),
        {"name": name, "type": type, "choices": choices, "column_names": column_names},
    )


def test_the_page_lists_the_attributes_and_explains_each_input(alice_client, acme):
    CustomAttribute.objects.create(
        organization=acme, key="level", name="Level", type="choice", choices=["1", "2"]
    )
    response = alice_client.get(reverse("importer:attributes"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Level" in page and "One of a list: 1, 2" in page
    assert f"at most {MAX_ATTRIBUTES}" in page
    # Each input has its help with an example, tied to it for screen readers.
    assert "“Cost centre”" in page and "Full-time" in page and "“KST”" in page
    assert 'aria-describedby="id_name_helptext"' in page


def test_adding_an_attribute_makes_its_key_and_lets_imports_change_it(alice_client, acme, alice):
    ImportConfig.objects.create(organization=acme, update_fields=["title"])
    response = add(
        alice_client,
        "Cost centre",
        column_names="KST\nKostenstelle",
    )
    assert response.status_code == 302
    attribute = CustomAttribute.objects.get(organization=acme)
    assert (attribute.key, attribute.name, attribute.type) == ("cost_centre", "Cost centre", "text")
    assert attribute.column_names == ["KST", "Kostenstelle"]
    config = ImportConfig.objects.get(organization=acme)
    assert config.update_fields == ["attr_cost_centre", "title"]
    # One log entry names the attribute and the option it joined; Activity has the event.
    entry = ImportConfigChange.objects.get(organization=acme)
    assert entry.kind == ImportConfigChange.Kind.ATTRIBUTES and entry.changed_by == alice
    assert entry.changes["attribute:cost_centre"] == [
        "",
        "Cost centre (Text; also read from “KST”, “Kostenstelle”)",
    ]
    assert entry.changes["update_fields"] == [["title"], ["attr_cost_centre", "title"]]
    event = AuditEvent.objects.get(organization=acme)
    assert event.kind == AuditEvent.Kind.ATTRIBUTE_CREATED and event.acting_user == alice
    page = alice_client.get(reverse("importer:attributes")).content.decode()
    assert "Custom attribute" in page and "Cost centre (Text" in page
    assert "Cost centre, Title" in page  # the option's new value, labelled by name
    activity = alice_client.get(reverse("importer:history-activity")).content.decode()
    assert "Custom attribute added" in activity and "Cost centre" in activity


def test_without_saved_options_adding_an_attribute_writes_no_options(alice_client, acme):
    assert add(alice_client, "Pronouns").status_code == 302
    # No configuration row: options_for lets imports change every attribute.
    assert not ImportConfig.objects.filter(organization=acme).exists()
    assert CustomAttribute.objects.get(organization=acme).key == "pronouns"
    # Opening the options makes the row as imports behaved without it: the attribute ticked.
    page = alice_client.get(reverse("importer:configuration")).content.decode()
    assert re.search(r'name="update_fields" value="attr_pronouns"[^>]*checked', page)
    assert "attr_pronouns" in ImportConfig.objects.get(organization=acme).update_fields


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Email", "already read as the built-in field Email"),
        ("department", "already read as the built-in field Department"),
        ("Manager", "already read as the built-in field Manager email"),
        ("Full name", "read as a whole name"),
        ("cost-centre", "already the attribute “Cost centre”"),
        ("KST", "already a column name of the attribute “Cost centre”"),
        ("--", "at least one letter or digit"),
    ],
)
def test_a_name_taken_by_a_field_or_another_attribute_is_refused(alice_client, acme, name, message):
    CustomAttribute.objects.create(
        organization=acme, key="cost_centre", name="Cost centre", column_names=["KST"]
    )
    response = add(alice_client, name)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert CustomAttribute.objects.filter(organization=acme).count() == 1
    assert not ImportConfigChange.objects.exists()


def test_a_list_needs_choices_without_duplicates(alice_client, acme):
    response = add(alice_client, "Employment type", type="choice", choices="\n  \n")
    assert response.status_code == 400
    assert "Give at least one choice" in response.content.decode()
    response = add(alice_client, "Employment type", type="choice", choices="Full-time\nfull-time")
    assert response.status_code == 400
    assert "are the same choice" in response.content.decode()
    response = add(
        alice_client, "Employment type", type="choice", choices=" Full-time \nPart-time\n\n"
    )
    assert response.status_code == 302
    assert CustomAttribute.objects.get(organization=acme).choices == ["Full-time", "Part-time"]


def test_column_names_that_a_built_in_field_reads_are_refused(alice_client, acme):
    response = add(alice_client, "Second office", column_names="Office")
    assert response.status_code == 400
    assert "“Office” is already read as the built-in field Location" in response.content.decode()


def test_keys_are_slugs_unique_in_the_organization(alice_client, acme, globex):
    CustomAttribute.objects.create(organization=globex, key="level", name="Level")
    assert add(alice_client, "Level").status_code == 302
    assert add(alice_client, "2nd location").status_code == 302
    assert add(alice_client, "Niveau d'équipe").status_code == 302
    keys = list(CustomAttribute.objects.filter(organization=acme).values_list("key", flat=True))
    assert keys == ["level", "a_2nd_location", "niveau_dequipe"]


def test_the_21st_attribute_is_refused_clearly(alice_client, acme):
    for number in range(MAX_ATTRIBUTES):
        CustomAttribute.objects.create(
            organization=acme, key=f"field_{number}", name=f"Field {number}", position=number
        )
    page = alice_client.get(reverse("importer:attributes")).content.decode()
    assert f"You have {MAX_ATTRIBUTES} custom attributes, the most" in page
    response = add(alice_client, "One too many")
    assert response.status_code == 400
    assert f"has {MAX_ATTRIBUTES} custom attributes, the most it can have" in (
        response.content.decode()
    )
    assert CustomAttribute.objects.filter(organization=acme).count() == MAX_ATTRIBUTES


def test_editing_renames_and_keeps_the_key_and_type(alice_client, acme, alice):
    attribute = CustomAttribute.objects.create(
        organization=acme, key="level", name="Level", type="choice", choices=["1", "2"]
    )
    page = alice_client.get(reverse("importer:attribute-edit", args=[attribute.pk])).content
    assert "The type is fixed once the attribute is added" in page.decode()
    response = alice_client.post(
        reverse("importer:attribute-edit", args=[attribute.pk]),
        # A type sent anyway is ignored: the field is disabled.
        {"name": "Grade", "type": "text", "choices": "1\n2\n3", "column_names": "Stufe"},
    )
    assert response.status_code == 302
    attribute.refresh_from_db()
    assert (attribute.key, attribute.name, attribute.type) == ("level", "Grade", "choice")
    assert attribute.choices == ["1", "2", "3"] and attribute.column_names == ["Stufe"]
    entry = ImportConfigChange.objects.get(organization=acme)
    assert entry.changes == {
        "attribute:level": [
            "Level (One of a list: 1, 2)",
            "Grade (One of a list: 1, 2, 3; also read from “Stufe”)",
        ]
    }
    assert AuditEvent.objects.get(organization=acme).kind == AuditEvent.Kind.ATTRIBUTE_CHANGED
    # Its own name again is no conflict; saving unchanged logs nothing.
    response = alice_client.post(
        reverse("importer:attribute-edit", args=[attribute.pk]),
        {"name": "Grade", "choices": "1\n2\n3", "column_names": "Stufe"},
    )
    assert response.status_code == 302
    assert ImportConfigChange.objects.filter(organization=acme).count() == 1


def test_deleting_asks_first_then_removes_the_values_in_one_update(
    alice_client, acme, globex, alice, django_assert_max_num_queries
):
    attribute = CustomAttribute.objects.create(organization=acme, key="level", name="Level")
    CustomAttribute.objects.create(organization=acme, key="pronouns", name="Pronouns")
    ImportConfig.objects.create(
        organization=acme,
        update_fields=["attr_level", "title"],
        clear_blank_fields=["attr_level"],
        column_mapping={"Stufe": "attr_level", "Abteilung": "department"},
    )
    with_value = UserFactory.create_batch(3, organization=acme, attributes={"level": "2"})
    both = UserFactory(organization=acme, attributes={"level": "3", "pronouns": "she/her"})
    without = UserFactory(organization=acme, attributes={"pronouns": "they/them"})
    elsewhere = UserFactory(organization=globex, attributes={"level": "9"})
    versions = {user.pk: user.version for user in User.objects.all()}

    page = alice_client.get(reverse("importer:attribute-delete", args=[attribute.pk])).content
    assert "4 people have a value" in page.decode()
    assert CustomAttribute.objects.filter(pk=attribute.pk).exists()  # asking deleted nothing

    response = alice_client.post(reverse("importer:attribute-delete", args=[attribute.pk]))
    assert response.status_code == 302
    assert not CustomAttribute.objects.filter(pk=attribute.pk).exists()
    for user in with_value:
        user.refresh_from_db()
        assert user.attributes == {}
        assert user.version == versions[user.pk] + 1
    both.refresh_from_db()
    assert both.attributes == {"pronouns": "she/her"}
    without.refresh_from_db()
    assert without.attributes == {"pronouns": "they/them"}
    assert without.version == versions[without.pk]
    elsewhere.refresh_from_db()
    assert elsewhere.attributes == {"level": "9"}
    config = ImportConfig.objects.get(organization=acme)
    assert config.update_fields == ["title"] and config.clear_blank_fields == []
    assert config.column_mapping == {"Abteilung": "department"}
    entry = ImportConfigChange.objects.get(organization=acme)
    assert entry.changes["attribute:level"] == [
        "Level (Text)",
        "Deleted, with the values of 4 people",
    ]
    event = AuditEvent.objects.get(organization=acme, kind=AuditEvent.Kind.ATTRIBUTE_DELETED)
    assert event.data["people"] == 4 and event.acting_user == alice
    log = alice_client.get(reverse("importer:attributes")).content.decode()
    assert "Deleted, with the values of 4 people" in log
    assert "Level" in log  # the deleted field still named in the option's old value


def test_values_are_removed_with_one_update(acme, alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from importer import configuration

    attribute = CustomAttribute.objects.create(organization=acme, key="level", name="Level")
    UserFactory.create_batch(5, organization=acme, attributes={"level": "2"})
    with CaptureQueriesContext(connection) as queries:
        assert configuration.delete_attribute(attribute, acting_user=alice) == 5
    updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "users_user"')]
    assert len(updates) == 1


@pytest.mark.parametrize("view", ["importer:attribute-edit", "importer:attribute-delete"])
def test_another_organizations_attribute_is_a_404(alice_client, globex, view):
    theirs = CustomAttribute.objects.create(organization=globex, key="level", name="Level")
    UserFactory(organization=globex, attributes={"level": "1"})
    assert alice_client.get(reverse(view, args=[theirs.pk])).status_code == 404
    assert alice_client.post(reverse(view, args=[theirs.pk]), {"name": "Mine"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Level"
    assert User.objects.filter(organization=globex, attributes__has_key="level").count() == 1


def test_the_screens_are_for_the_organizations_admins_with_csrf(client, bob, acme):
    client.force_login(bob)
    assert client.get(reverse("importer:attributes")).status_code in (302, 403)
    from django.test import Client

    admin = UserFactory(organization=acme, is_org_admin=True)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin)
    response = strict.post(reverse("importer:attribute-create"), {"name": "Level", "type": "text"})
    assert response.status_code == 403
    assert not CustomAttribute.objects.exists()


def test_the_options_offer_the_attributes_by_name(alice_client, acme):
    CustomAttribute.objects.create(organization=acme, key="cost_centre", name="Cost centre")
    page = alice_client.get(reverse("importer:configuration")).content.decode()
    # Fields imports may change, blank cells that clear, and the column names' targets.
    assert page.count('value="attr_cost_centre"') >= 3
    assert ">Cost centre<" in page or "Cost centre</label>" in page


# --- labels: a run's own names, the person's values, Django admin -------------------------------


def applied_run_with_attribute_changes(acme, alice, person):
    """An applied run as the pipeline stores it: attribute fields "attr_<key>", and the
    definitions of the time in its options ("Level" and "Cost centre")."""
    from django.utils import timezone

    from importer.models import ImportChange, ImportRun

    policy = {
        "create_users": True,
        "update_fields": ["title", "attr_level", "attr_cost_centre"],
        "update_managers": True,
        "deactivate_missing": True,
        "reactivate": True,
        "clear_blank_fields": ["attr_cost_centre"],
        "column_mapping": {"Stufe": "attr_level"},
        "attributes": [
            {
                "key": "level",
                "name": "Level",
                "type": "choice",
                "choices": ["1", "2", "3"],
                "column_names": [],
            },
            {
                "key": "cost_centre",
                "name": "Cost centre",
                "type": "text",
                "choices": [],
                "column_names": ["KST"],
            },
        ],
    }
    run = ImportRun.objects.create(
        organization=acme,
        source=ImportRun.Source.UPLOAD,
        status=ImportRun.Status.APPLIED,
        created_by=alice,
        input_name="people.csv",
        policy=policy,
        changed_count=1,
        finished_at=timezone.now(),
    )
    ImportChange.objects.create(
        run=run,
        user=person,
        email=person.email,
        action=ImportChange.Action.UPDATE,
        fields={
            "title": ["Engineer", "Lead"],
            "attr_level": ["2", "3"],
            "attr_cost_centre": ["", "4100"],
        },
    )
    return run


def test_a_run_names_its_attribute_changes_as_they_were_defined(alice_client, acme, alice):
    person = UserFactory(
        organization=acme,
        email="ben@acme.example",
        attributes={"level": "3", "cost_centre": "4100"},
    )
    # Since the run: "Level" renamed "Grade", "Cost centre" deleted.
    CustomAttribute.objects.create(organization=acme, key="level", name="Grade", position=0)
    run = applied_run_with_attribute_changes(acme, alice, person)

    page = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    assert '<span class="field">Level</span>' in page
    assert '<span class="field">Cost centre</span>' in page
    assert "attr_" not in page
    # Options in force: the fields, the blank cells and the column names, by name.
    assert "Title, Level, Cost centre" in page
    assert "“Stufe” → Level" in page

    history = alice_client.get(reverse("importer:history")).content.decode()
    assert "Level ×1" in history and "Cost centre ×1" in history and "Title ×1" in history

    timeline = alice_client.get(reverse("importer:person-timeline", args=[person.pk]))
    html = timeline.content.decode()
    assert '<span class="field">Level</span>' in html and "attr_" not in html
    # The person's values now, by today's names (the deleted attribute's value is not shown).
    assert "<dt>Grade</dt><dd>3</dd>" in html
    assert "<dt>Cost centre</dt>" not in html


def test_django_admin_shows_a_users_attributes_and_an_organizations_definitions(
    client, acme, django_user_model
):
    staff = django_user_model.objects.create_superuser(email="root@example.com", password="x-y-z-1")
    client.force_login(staff)
    CustomAttribute.objects.create(organization=acme, key="level", name="Level", position=0)
    CustomAttribute.objects.create(
        organization=acme, key="cost_centre", name="Cost centre", column_names=["KST"], position=1
    )
    person = UserFactory(organization=acme, attributes={"cost_centre": "4100", "level": "2"})
    page = client.get(reverse("admin:users_user_change", args=[person.pk])).content.decode()
    assert page.index("<strong>Level:</strong> 2") < page.index(
        "<strong>Cost centre:</strong> 4100"
    )
    org_page = client.get(reverse("admin:users_organization_change", args=[acme.pk])).content
    html = org_page.decode()
    assert "<strong>Level</strong> (key <code>level</code>): Text" in html
    assert "<strong>Cost centre</strong> (key <code>cost_centre</code>): Text" in html
    assert "also read from “KST”" in html
    # Saving the user in admin keeps the values (they are not a form field) and the version check.
    before = person.version
    data = {
        "email": person.email,
        "organization": acme.pk,
        "seen_version": before,
        "first_name": "Renamed",
        "last_name": person.last_name,
        "title": "",
        "department": "",
        "location": "",
        "employee_id": "",
        "hire_date": "",
        "manager": "",
        "is_active": "on",
        "date_joined_0": "2024-01-01",
        "date_joined_1": "00:00:00",
    }
    response = client.post(reverse("admin:users_user_change", args=[person.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    person.refresh_from_db()
    assert person.first_name == "Renamed" and person.version == before + 1
    assert person.attributes == {"cost_centre": "4100", "level": "2"}


# --- the options and the column matching offer the attributes -----------------------------------


def test_the_options_save_attribute_fields_and_log_them_by_name(alice_client, acme):
    from tests.integration.test_configuration import save

    CustomAttribute.objects.create(organization=acme, key="cost_centre", name="Cost centre")
    response = save(
        alice_client,
        columns=[("Kostenstelle", "attr_cost_centre")],
        update_fields=["title", "attr_cost_centre"],
        clear_blank_fields=["attr_cost_centre"],
    )
    assert response.status_code == 302
    config = ImportConfig.objects.get(organization=acme)
    assert config.update_fields == ["attr_cost_centre", "title"]
    assert config.clear_blank_fields == ["attr_cost_centre"]
    assert config.column_mapping == {"Kostenstelle": "attr_cost_centre"}
    page = alice_client.get(reverse("importer:configuration")).content.decode()
    assert "“Kostenstelle” → Cost centre" in page
    # Another organization's attribute (or a made-up one) is not a choice.
    refused = save(alice_client, update_fields=["attr_level"])
    assert refused.status_code == 400


def test_the_column_matching_step_offers_the_attributes_and_saves_one(alice_client, acme, alice):
    from importer import runs
    from importer.models import ImportRun

    CustomAttribute.objects.create(organization=acme, key="cost_centre", name="Cost centre")
    run = runs.create_run(
        organization=acme,
        data=b"Email,First name,KST-Nr\nana@example.com,Ana,4100\n",
        name="hr.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=alice,
    )
    runs.preview_run(run.pk)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.NEEDS_COLUMNS
    page = alice_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    assert '<option value="attr_cost_centre">Cost centre</option>' in page
    index = next(c["index"] for c in run.column_matching if c["header"] == "KST-Nr")
    data = {f"column_{c['index']}": c["suggested"] or "ignore" for c in run.column_matching}
    data[f"column_{index}"] = "attr_cost_centre"
    response = alice_client.post(reverse("importer:run_columns", args=[run.pk]), data)
    assert response.status_code == 302
    config = ImportConfig.objects.get(organization=acme)
    assert config.column_mapping == {"KST-Nr": "attr_cost_centre"}
    log = alice_client.get(reverse("importer:configuration")).content.decode()
    assert "“KST-Nr” → Cost centre" in log


def test_a_revert_names_the_attributes_as_the_run_it_reverts(alice_client, acme, alice):
    from importer.models import ImportChange, ImportRun

    person = UserFactory(organization=acme, attributes={"level": "2"})
    reverted = applied_run_with_attribute_changes(acme, alice, person)
    revert = ImportRun.objects.create(
        organization=acme,
        source=ImportRun.Source.REVERT,
        status=ImportRun.Status.READY,
        created_by=alice,
        reverts=reverted,
        changed_count=1,
    )
    ImportChange.objects.create(
        run=revert,
        user=person,
        email=person.email,
        action=ImportChange.Action.UPDATE,
        fields={"attr_level": ["3", "2"]},
    )
    page = alice_client.get(reverse("importer:run-detail", args=[revert.pk])).content.decode()
    assert '<span class="field">Level</span>' in page and "attr_" not in page
    history = alice_client.get(reverse("importer:history")).content.decode()
    assert history.count("Level ×1") == 2


def test_moving_an_attribute_reorders_the_list_and_is_logged(alice_client, acme, globex):
    for position, name in enumerate(["Level", "Cost centre", "Pronouns"]):
        CustomAttribute.objects.create(
            organization=acme, key=name.lower().replace(" ", "_"), name=name, position=position
        )
    theirs = CustomAttribute.objects.create(organization=globex, key="level", name="Level")
    pronouns = CustomAttribute.objects.get(organization=acme, key="pronouns")
    url = reverse("importer:attribute-move", args=[pronouns.pk])
    assert alice_client.post(url, {"direction": "up"}).status_code == 302
    names = list(CustomAttribute.objects.filter(organization=acme).values_list("name", flat=True))
    assert names == ["Level", "Pronouns", "Cost centre"]
    # Past the top or bottom: nothing moves, nothing is logged.
    level = CustomAttribute.objects.get(organization=acme, key="level")
    alice_client.post(reverse("importer:attribute-move", args=[level.pk]), {"direction": "up"})
    entry = ImportConfigChange.objects.get(organization=acme)
    assert entry.changes == {
        "attribute_order": [
            ["Level", "Cost centre", "Pronouns"],
            ["Level", "Pronouns", "Cost centre"],
        ]
    }
    page = alice_client.get(reverse("importer:attributes")).content.decode()
    assert "Order of the custom attributes" in page
    activity = alice_client.get(reverse("importer:history-activity")).content.decode()
    assert "New order: Level, Pronouns, Cost centre" in activity
    move_theirs = reverse("importer:attribute-move", args=[theirs.pk])
    assert alice_client.post(move_theirs, {"direction": "down"}).status_code == 404
