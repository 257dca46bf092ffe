"""Support staff import on a company's behalf; company admins never reach another company."""

import datetime as dt
import os
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from importer import runs
from importer.models import AuditEvent, ImportRun
from tests.acting import act_for
from tests.factories import SupportFactory, UserFactory
from users.access import ACT_AS_SESSION_KEY, ACT_AS_SINCE_KEY

Kind = AuditEvent.Kind


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
    assert "You are working in <strong>Acme</strong>’s screens as support" in page
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


# --- the permission ---------------------------------------------------------------------------


@pytest.fixture
def plain_staff(db):
    """Staff who may look at organizations in Django admin, without the act-as permission."""
    staff = UserFactory(email="pat@rostersync.example", organization=None, is_staff=True)
    staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="users", codename="view_organization")
    )
    return staff


def test_staff_without_the_permission_get_403_on_the_act_as_routes_and_no_button(
    client, plain_staff, acme, alice
):
    client.force_login(plain_staff)

    admin_page = client.get(reverse("admin:users_organization_change", args=[acme.pk]))
    assert admin_page.status_code == 200 and "Open Import Users" not in admin_page.content.decode()
    assert client.get(reverse("importer:act-as", args=[acme.pk])).status_code == 403
    assert client.post(reverse("importer:act-as", args=[acme.pk])).status_code == 403
    assert client.post(reverse("importer:act-as-stop")).status_code == 403
    assert ACT_AS_SESSION_KEY not in client.session
    # A session forged to hold the choice opens nothing either.
    act_for(client, acme)
    assert client.get(reverse("importer:import")).status_code == 403
    assert ACT_AS_SESSION_KEY not in client.session  # Forgotten at once, and recorded so.
    act_for(client, acme)
    assert client.get(reverse("importer:users-export", args=["csv"])).status_code == 403
    assert list(AuditEvent.objects.values_list("kind", flat=True)) == [Kind.ACTING_AS_STOPPED] * 2
    assert stops(acme) == [(plain_staff.pk, "withdrawn")] * 2


def test_staff_given_the_permission_may_act_for_a_company(client, acme):
    sam = SupportFactory(email="sam@rostersync.example")  # Not a superuser.
    client.force_login(sam)

    admin_page = client.get(reverse("admin:users_organization_change", args=[acme.pk]))
    assert admin_page.status_code == 403  # No view permission on organizations: only the button.
    assert client.get(reverse("importer:act-as", args=[acme.pk])).status_code == 200
    assert client.post(reverse("importer:act-as", args=[acme.pk])).url == reverse("importer:import")
    assert client.get(reverse("importer:import")).status_code == 200


def test_losing_the_permission_while_acting_ends_it_with_a_stop_event(client, acme):
    sam = SupportFactory(email="sam@rostersync.example")
    client.force_login(sam)
    client.post(reverse("importer:act-as", args=[acme.pk]))

    sam.user_permissions.clear()

    assert client.get(reverse("importer:import")).status_code == 403
    assert ACT_AS_SESSION_KEY not in client.session
    assert stops(acme) == [(sam.pk, "withdrawn")]


# --- the audit events -------------------------------------------------------------------------


def stops(organization) -> list[tuple]:
    return [
        (event.acting_user_id, event.data.get("reason"))
        for event in AuditEvent.objects.filter(
            organization=organization, kind=Kind.ACTING_AS_STOPPED
        ).order_by("id")
    ]


def test_every_start_and_stop_is_an_event_of_the_company_with_its_reason(
    sam_client, sam, acme, globex
):
    sam_client.post(reverse("importer:act-as", args=[acme.pk]))
    sam_client.post(reverse("importer:act-as", args=[globex.pk]))  # Acme is left for Globex.
    sam_client.post(reverse("importer:act-as-stop"))
    sam_client.post(reverse("importer:act-as", args=[acme.pk]))
    sam_client.post(reverse("importer:act-as", args=[acme.pk]))  # Opened again: a new hour.
    sam_client.post(reverse("logout"))

    kinds = list(AuditEvent.objects.order_by("id").values_list("organization__slug", "kind"))
    assert kinds == [
        ("acme", Kind.ACTING_AS_STARTED),
        ("acme", Kind.ACTING_AS_STOPPED),
        ("globex", Kind.ACTING_AS_STARTED),
        ("globex", Kind.ACTING_AS_STOPPED),
        ("acme", Kind.ACTING_AS_STARTED),
        ("acme", Kind.ACTING_AS_STOPPED),
        ("acme", Kind.ACTING_AS_STARTED),
        ("acme", Kind.ACTING_AS_STOPPED),
    ]
    assert stops(acme) == [(sam.pk, "switched"), (sam.pk, "reopened"), (sam.pk, "logged_out")]
    assert stops(globex) == [(sam.pk, "stopped")]


@pytest.fixture
def acme_run(acme, alice):
    """An applied-looking run of Acme's with a stored input and one change."""
    run = runs.create_run(
        organization=acme,
        data=b"email,first_name\nana@acme.example,Ana\n",
        name="acme-roster.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=alice,
    )
    run.changes.create(email="ana@acme.example", action="create", row=2, fields={})
    return run


def download_urls(run) -> list[tuple[str, str, int | None]]:
    """Every download of the screens: (url, what, its run's id)."""
    return [
        (reverse("importer:users-export", args=["csv"]), "users", None),
        (reverse("importer:users-export", args=["xlsx"]), "users", None),
        (reverse("importer:run-changes-export", args=[run.pk, "csv"]), "run_changes", run.pk),
        (reverse("importer:run-changes-export", args=[run.pk, "xlsx"]), "run_changes", run.pk),
        (reverse("importer:run-input", args=[run.pk]), "run_input", run.pk),
        (reverse("importer:template-export", args=["csv"]), "template", None),
    ]


def test_each_download_while_acting_is_an_event_naming_what_was_downloaded(
    sam_client, sam, acme, acme_run
):
    sam_client.post(reverse("importer:act-as", args=[acme.pk]))

    sent = []
    for url, _, _ in download_urls(acme_run):
        response = sam_client.get(url)
        assert response.status_code == 200, url
        sent.append(re.search(r'filename="([^"]+)"', response["Content-Disposition"])[1])

    downloads = AuditEvent.objects.filter(kind=Kind.SUPPORT_DOWNLOADED).order_by("id")
    assert [
        (event.organization_id, event.acting_user_id, event.data["what"], event.run_id)
        for event in downloads
    ] == [(acme.pk, sam.pk, what, run_id) for _, what, run_id in download_urls(acme_run)]
    assert [event.data["filename"] for event in downloads] == sent
    assert sent[4] == "acme-roster.csv" and sent[0].startswith("acme-users-")


def test_a_company_admins_own_downloads_are_not_support_events(alice_client, acme_run):
    for url, _, _ in download_urls(acme_run):
        assert alice_client.get(url).status_code == 200

    assert not AuditEvent.objects.filter(kind=Kind.SUPPORT_DOWNLOADED).exists()


# --- expiry -----------------------------------------------------------------------------------


def test_acting_expires_after_the_setting_with_an_expired_stop_event(
    sam_client, sam, acme, settings
):
    settings.SUPPORT_ACT_AS_MINUTES = 60
    act_for(sam_client, acme, since=timezone.now() - dt.timedelta(minutes=59))
    assert sam_client.get(reverse("importer:import")).status_code == 200
    assert stops(acme) == []

    act_for(sam_client, acme, since=timezone.now() - dt.timedelta(minutes=61))
    response = sam_client.get(reverse("importer:users-export", args=["csv"]), follow=True)

    assert response.redirect_chain[0] == (reverse("admin:users_organization_changelist"), 302)
    assert "Acme’s screens as support ended: it lasts 60 minutes" in response.content.decode()
    assert ACT_AS_SESSION_KEY not in sam_client.session
    assert ACT_AS_SINCE_KEY not in sam_client.session
    assert stops(acme) == [(sam.pk, "expired")]
    assert not AuditEvent.objects.filter(kind=Kind.SUPPORT_DOWNLOADED).exists()
    sam_client.get(reverse("importer:import"))
    assert stops(acme) == [(sam.pk, "expired")]  # Written once.


def test_a_choice_without_a_start_time_has_expired(sam_client, sam, acme):
    session = sam_client.session
    session[ACT_AS_SESSION_KEY] = acme.pk  # As sessions from before the time limit held it.
    session.save()

    assert sam_client.get(reverse("importer:import")).status_code == 302
    assert stops(acme) == [(sam.pk, "expired")]


@pytest.mark.parametrize(("value", "minutes"), [("", 60), ("15", 15), ("0", None)])
def test_the_time_limit_is_set_by_the_environment(value, minutes):
    env = {
        "PATH": os.environ["PATH"],
        "ROSTERSYNC_VAR_DIR": str(settings.VAR_DIR),
        "DJANGO_DEBUG": "true",
        "ROSTERSYNC_ACT_AS_MINUTES": value,
    }
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.SUPPORT_ACT_AS_MINUTES)"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )

    if minutes is None:
        assert result.returncode != 0 and "ROSTERSYNC_ACT_AS_MINUTES must be 1 or more" in (
            result.stderr
        )
    else:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == str(minutes)


# --- the banner -------------------------------------------------------------------------------

BANNER = "You are working in <strong>Acme</strong>’s screens as support"


def banner_form(html: str) -> str | None:
    match = re.search(r'<div class="acting-banner.*?</form>', html, re.S)
    return match[0] if match else None


def test_while_acting_every_page_has_the_banner_with_a_stop_form(sam_client, acme, acme_run):
    sam_client.post(reverse("importer:act-as", args=[acme.pk]))

    for url in (
        reverse("importer:import"),
        reverse("importer:history"),
        reverse("importer:history-activity"),
        reverse("importer:configuration"),
        reverse("importer:run-detail", args=[acme_run.pk]),
        reverse("importer:run-detail", args=[acme_run.pk + 1000]),  # The 404 page.
        reverse("admin:index"),
        reverse("admin:users_organization_change", args=[acme.pk]),
    ):
        html = sam_client.get(url).content.decode()
        assert BANNER in html, url
        form = banner_form(html)
        assert form and f'action="{reverse("importer:act-as-stop")}"' in form, url
        assert 'method="post"' in form and 'name="csrfmiddlewaretoken"' in form, url
        assert "Stop acting" in form, url


def test_the_banner_is_absent_when_not_acting(sam_client, alice_client, acme):
    assert banner_form(alice_client.get(reverse("importer:import")).content.decode()) is None
    assert banner_form(sam_client.get(reverse("admin:index")).content.decode()) is None

    sam_client.post(reverse("importer:act-as", args=[acme.pk]))
    sam_client.post(reverse("importer:act-as-stop"))

    assert banner_form(sam_client.get(reverse("admin:index")).content.decode()) is None


def test_stop_acting_needs_the_csrf_token(sam, acme):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(sam)
    act_for(client, acme)

    assert client.post(reverse("importer:act-as-stop")).status_code == 403
    assert client.session[ACT_AS_SESSION_KEY] == acme.pk


# --- what the company's admins see ------------------------------------------------------------


def test_the_companys_admins_see_when_support_worked_in_their_screens_and_who(
    sam_client, client, acme, acme_run, charlie, alice
):
    sam_client.post(reverse("importer:act-as", args=[acme.pk]))
    sam_client.get(reverse("importer:users-export", args=["csv"]))
    sam_client.get(reverse("importer:run-input", args=[acme_run.pk]))
    sam_client.post(reverse("importer:act-as-stop"))

    client.force_login(alice)
    history = client.get(reverse("importer:history")).content.decode()
    note = re.search(r'<p class="alert info history-support-visit".*?</p>', history, re.S)[0]
    assert "Support worked in your screens on" in note and "(Sam Support)" in note
    assert f'href="{reverse("importer:history-activity")}"' in note

    activity = client.get(reverse("importer:history-activity")).content.decode()
    assert "Support opened the import screens" in activity
    assert "Support left the import screens" in activity and "Clicked “Stop acting”" in activity
    assert "Support downloaded a file" in activity
    assert "Current users: acme-users-" in activity
    assert "Input file of an import: acme-roster.csv" in activity
    assert activity.count("by support: Sam Support") == 4

    # Another company sees nothing of it.
    client.force_login(charlie)
    assert "history-support-visit" not in client.get(reverse("importer:history")).content.decode()
    assert "Sam Support" not in client.get(reverse("importer:history-activity")).content.decode()


def test_the_history_note_covers_the_last_thirty_days(sam, alice_client, acme):
    AuditEvent.objects.create(
        organization=acme,
        kind=Kind.ACTING_AS_STARTED,
        acting_user=sam,
        created_at=timezone.now() - dt.timedelta(days=31),
    )

    history = alice_client.get(reverse("importer:history")).content.decode()

    assert "history-support-visit" not in history
