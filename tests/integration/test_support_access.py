"""Support staff import on a company's behalf; company admins never reach another company."""

import pytest
from django.urls import reverse

from importer.models import ImportRun
from tests.factories import UserFactory
from users.access import ACT_AS_SESSION_KEY


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
def sam_client(client, sam):
    client.force_login(sam)
    return client


def test_the_organizations_admin_page_links_to_its_import_screens(sam_client, acme):
    html = sam_client.get(
        reverse("admin:users_organization_change", args=[acme.pk])
    ).content.decode()

    assert reverse("importer:act-as", args=[acme.pk]) in html
    assert "Open Import Users" in html


def test_admin_pages_name_the_sites_icon_and_keep_djangos_branding(sam_client):
    html = sam_client.get(reverse("admin:index")).content.decode()

    assert 'rel="icon"' in html and "favicon.svg" in html  # No request for a missing /favicon.ico.
    assert 'id="site-name"' in html and "logout" in html


def test_support_staff_confirm_then_import_in_the_company_and_history_says_so(
    sam_client, acme, alice, globex
):
    confirm = sam_client.get(reverse("importer:act-as", args=[acme.pk]))
    assert confirm.status_code == 200 and "Open Import Users for Acme" in confirm.content.decode()

    response = sam_client.post(reverse("importer:act-as", args=[acme.pk]))
    assert response.url == reverse("importer:import")
    page = sam_client.get(reverse("importer:import")).content.decode()
    assert "You are working in <strong>Acme</strong> as support staff" in page
    sam_client.post(reverse("importer:create-preview"), {"text": "email\nana@acme.example\n"})

    run = ImportRun.objects.get()
    assert (run.organization, run.created_by.email) == (acme, "sam@rostersync.example")
    history = sam_client.get(reverse("importer:history")).content.decode()
    assert "by support: Sam Support" in history
    detail = sam_client.get(reverse("importer:run-detail", args=[run.pk])).content.decode()
    assert "by support: Sam Support" in detail
    # The company's own admin sees who acted for them.
    sam_client.force_login(alice)
    assert "by support: Sam Support" in sam_client.get(reverse("importer:history")).content.decode()


def test_support_staff_switch_companies_and_see_only_the_chosen_one(
    sam_client, acme, globex, alice
):
    acme_run = ImportRun.objects.create(
        organization=acme, source=ImportRun.Source.PASTE, created_by=alice
    )
    sam_client.post(reverse("importer:act-as", args=[globex.pk]))

    assert sam_client.get(reverse("importer:run-detail", args=[acme_run.pk])).status_code == 404
    sam_client.post(reverse("importer:act-as", args=[acme.pk]))
    assert sam_client.get(reverse("importer:run-detail", args=[acme_run.pk])).status_code == 200


def test_support_staff_who_chose_no_company_are_sent_to_the_organizations_list(sam_client):
    response = sam_client.get(reverse("importer:import"))

    assert response.status_code == 302
    assert response.url == reverse("admin:users_organization_changelist")


def test_leaving_a_company_ends_access_to_its_screens(sam_client, acme):
    sam_client.post(reverse("importer:act-as", args=[acme.pk]))

    response = sam_client.post(reverse("importer:act-as-stop"))

    assert response.url == reverse("admin:users_organization_changelist")
    assert sam_client.get(reverse("importer:history")).status_code == 302


def test_a_company_admin_cannot_use_the_act_as_url(client, charlie, acme):
    client.force_login(charlie)

    assert client.get(reverse("importer:act-as", args=[acme.pk])).status_code == 404
    assert client.post(reverse("importer:act-as", args=[acme.pk])).status_code == 404
    assert (
        client.post(reverse("importer:act-as", args=[charlie.organization_id])).status_code == 404
    )
    assert ACT_AS_SESSION_KEY not in client.session


def test_a_company_admin_with_a_forged_session_still_sees_only_their_company(
    client, charlie, acme, alice
):
    acme_run = ImportRun.objects.create(
        organization=acme, source=ImportRun.Source.PASTE, created_by=alice
    )
    client.force_login(charlie)
    session = client.session
    session[ACT_AS_SESSION_KEY] = acme.pk
    session.save()

    assert client.get(reverse("importer:run-detail", args=[acme_run.pk])).status_code == 404
    assert (
        f"/import/runs/{acme_run.pk}/"
        not in client.get(reverse("importer:history")).content.decode()
    )


def test_a_former_staff_member_loses_the_company_they_acted_for(sam_client, sam, acme):
    sam_client.post(reverse("importer:act-as", args=[acme.pk]))
    sam.is_staff = False
    sam.save()

    assert sam_client.get(reverse("importer:import")).status_code == 403
