"""The company admin's automatic import settings, and support staff's switch in Django admin."""

import html
import re
import time

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from importer.models import ImportConfigChange, ImportRun, RemoteSource
from importer.remote.secrets import decrypt_secret, encrypt_secret
from tests.factories import UserFactory
from tests.integration.https_server import HTTPSServer, Reply

SECRET = "Sup3r-S3cret-T0ken-xyz"
CSV = b"email,first_name\nana@acme.example,Ana\nben@acme.example,Ben\n"


@pytest.fixture
def enabled(acme):
    return RemoteSource.objects.create(organization=acme, enabled=True)


@pytest.fixture
def support_client(client, db):
    staff = UserFactory(
        organization=None, email="support@rostersync.example", is_staff=True, is_superuser=True
    )
    client.force_login(staff)
    client.staff = staff
    return client


def settings_form(url, **overrides):
    return {
        "url": url,
        "auth": "bearer",
        "username": "",
        "header_name": "",
        "secret": SECRET,
        "file_format": "auto",
        "cadence": "manual",
        "daily_hour": "6",
        **overrides,
    }


def test_the_settings_page_does_not_exist_until_support_enables_it(alice_client, acme):
    assert alice_client.get(reverse("importer:remote")).status_code == 404
    source = RemoteSource.objects.create(organization=acme, enabled=False)
    assert alice_client.get(reverse("importer:remote")).status_code == 404
    assert alice_client.post(reverse("importer:remote-fetch")).status_code == 404

    source.enabled = True
    source.save()
    response = alice_client.get(reverse("importer:remote"))

    assert response.status_code == 200
    assert "Automatic import from your HR server" in response.content.decode()


def test_another_organizations_admin_cannot_reach_it(client, charlie, enabled):
    client.force_login(charlie)

    for name in ("importer:remote-save", "importer:remote-test", "importer:remote-fetch"):
        assert (
            client.post(reverse(name), settings_form("https://hr.example.com/x.csv")).status_code
            == 404
        )
    assert client.get(reverse("importer:remote")).status_code == 404
    enabled.refresh_from_db()
    assert enabled.url == ""


def test_the_configuration_tab_links_to_the_settings_only_when_enabled(alice_client, acme):
    assert (
        "remote-settings-link"
        not in alice_client.get(reverse("importer:configuration")).content.decode()
    )

    RemoteSource.objects.create(organization=acme, enabled=True)

    html = alice_client.get(reverse("importer:configuration")).content.decode()
    assert reverse("importer:remote") in html


def test_an_http_url_is_refused_with_a_clear_message(alice_client, enabled):
    response = alice_client.post(
        reverse("importer:remote-save"), settings_form("http://hr.example.com/x.csv")
    )

    assert response.status_code == 400
    assert "Only https:// addresses are accepted" in response.content.decode()
    enabled.refresh_from_db()
    assert (enabled.url, enabled.secret_encrypted) == ("", "")


def test_the_secret_is_stored_encrypted_and_never_shown_again(alice_client, enabled):
    response = alice_client.post(
        reverse("importer:remote-save"), settings_form("https://hr.example.com/x.csv")
    )

    assert response.status_code == 302
    enabled.refresh_from_db()
    assert enabled.secret_encrypted and SECRET not in enabled.secret_encrypted
    assert decrypt_secret(enabled.secret_encrypted) == SECRET
    html = alice_client.get(reverse("importer:remote")).content.decode()
    assert SECRET not in html
    assert enabled.secret_encrypted not in html
    assert "A secret is set. Leave this blank to keep it" in html


def test_each_settings_change_is_in_the_configuration_log_without_the_secret(
    alice_client, enabled, alice
):
    url = reverse("importer:remote-save")
    alice_client.post(url, settings_form("https://hr.example.com/x.csv"))
    alice_client.post(url, settings_form("https://hr.example.com/x.csv", secret=""))  # No change.
    alice_client.post(
        url, settings_form("https://hr.example.com/x.csv", secret="", cadence="hourly")
    )

    entries = list(ImportConfigChange.objects.filter(organization=enabled.organization))
    assert [sorted(entry.changes) for entry in entries] == [
        ["remote:cadence"],
        ["remote:auth", "remote:secret", "remote:url"],
    ]
    assert entries[0].changes["remote:cadence"] == ["Manual only", "Hourly"]
    assert entries[1].changed_by == alice
    html = alice_client.get(reverse("importer:configuration")).content.decode()
    assert "Automatic import: server URL" in html and "https://hr.example.com/x.csv" in html
    assert "Automatic import: password or token" in html and "A new one (not shown)" in html
    assert SECRET not in html
    assert SECRET not in str([entry.changes for entry in entries])


def test_a_blank_secret_keeps_the_stored_one(alice_client, enabled):
    alice_client.post(
        reverse("importer:remote-save"), settings_form("https://hr.example.com/x.csv")
    )
    enabled.refresh_from_db()
    stored = enabled.secret_encrypted

    response = alice_client.post(
        reverse("importer:remote-save"),
        settings_form("https://hr.example.com/other-export.csv", secret="", file_format="csv"),
    )

    assert response.status_code == 302
    enabled.refresh_from_db()
    assert (enabled.secret_encrypted, enabled.file_format) == (stored, "csv")


def test_a_new_host_or_authentication_needs_the_secret_again(alice_client, enabled):
    alice_client.post(
        reverse("importer:remote-save"), settings_form("https://hr.example.com/x.csv")
    )

    moved = alice_client.post(
        reverse("importer:remote-save"),
        settings_form("https://elsewhere.example.net/x.csv", secret=""),
    )
    switched = alice_client.post(
        reverse("importer:remote-save"),
        settings_form(
            "https://hr.example.com/x.csv", auth="header", header_name="X-API-Key", secret=""
        ),
    )

    for response in (moved, switched):
        assert response.status_code == 400
        assert "Enter the secret again" in response.content.decode()
    enabled.refresh_from_db()
    assert enabled.url == "https://hr.example.com/x.csv"


def test_the_stored_secret_is_not_kept_for_another_port_of_the_same_host(
    alice_client, enabled, https_server
):
    other = HTTPSServer().start()  # The same host, another port: another server.
    try:
        other.routes["/x.csv"] = Reply(body=CSV)
        alice_client.post(
            reverse("importer:remote-save"), settings_form(https_server.url("/x.csv"))
        )

        tested = alice_client.post(
            reverse("importer:remote-test"), settings_form(other.url("/x.csv"), secret="")
        )
        saved = alice_client.post(
            reverse("importer:remote-save"), settings_form(other.url("/x.csv"), secret="")
        )
    finally:
        other.stop()

    for response in (tested, saved):
        assert response.status_code == 400
        assert "Enter the secret again" in response.content.decode()
    assert other.seen == []


def test_the_stored_secret_is_kept_when_only_the_default_port_is_spelt_out(alice_client, enabled):
    alice_client.post(
        reverse("importer:remote-save"), settings_form("https://hr.example.com/x.csv")
    )

    response = alice_client.post(
        reverse("importer:remote-save"),
        settings_form("https://HR.example.com:443/other.csv", secret=""),
    )

    assert response.status_code == 302


def test_basic_and_custom_header_authentication_need_their_names(alice_client, enabled):
    basic = alice_client.post(
        reverse("importer:remote-save"), settings_form("https://hr.example.com/x.csv", auth="basic")
    )
    header = alice_client.post(
        reverse("importer:remote-save"),
        settings_form("https://hr.example.com/x.csv", auth="header", header_name="Host"),
    )

    assert "Enter the username" in basic.content.decode()
    assert "cannot carry a credential" in header.content.decode()


def test_choosing_hourly_schedules_the_first_sync_and_manual_clears_it(alice_client, enabled):
    alice_client.post(
        reverse("importer:remote-save"),
        settings_form("https://hr.example.com/x.csv", cadence="hourly"),
    )
    enabled.refresh_from_db()
    assert enabled.next_fetch_at is not None

    alice_client.post(
        reverse("importer:remote-save"),
        settings_form("https://hr.example.com/x.csv", secret="", cadence="manual"),
    )
    enabled.refresh_from_db()
    assert enabled.next_fetch_at is None


def test_test_connection_reports_status_type_size_and_rows_without_a_run(
    alice_client, enabled, https_server
):
    https_server.routes["/export.csv"] = Reply(
        body=CSV, headers={"Content-Type": "text/csv; charset=utf-8"}
    )

    response = alice_client.post(
        reverse("importer:remote-test"),
        settings_form(https_server.url("/export.csv")),
        HTTP_HX_REQUEST="true",
    )

    html = response.content.decode()
    assert "Connected." in html
    assert "HTTP 200" in html and "text/csv; charset=utf-8" in html
    assert f"{len(CSV)}\xa0bytes" in html  # filesizeformat joins with a no-break space.
    assert "2 rows of people" in html
    assert ImportRun.objects.count() == 0
    enabled.refresh_from_db()
    assert enabled.url == ""  # Tested, not saved.
    assert https_server.requests_to("/export.csv")[0].headers["Authorization"] == f"Bearer {SECRET}"


def test_test_connection_uses_the_stored_secret_when_left_blank(
    alice_client, enabled, https_server
):
    https_server.routes["/export.csv"] = Reply(body=CSV)
    alice_client.post(
        reverse("importer:remote-save"), settings_form(https_server.url("/export.csv"))
    )

    alice_client.post(
        reverse("importer:remote-test"), settings_form(https_server.url("/export.csv"), secret="")
    )

    assert https_server.requests_to("/export.csv")[0].headers["Authorization"] == f"Bearer {SECRET}"


def test_test_connection_reports_refused_credentials_without_the_secret(
    alice_client, enabled, https_server
):
    https_server.routes["/export.csv"] = Reply(401, b"no")

    response = alice_client.post(
        reverse("importer:remote-test"), settings_form(https_server.url("/export.csv"))
    )

    html = response.content.decode()
    assert "The test failed." in html
    assert "refused the credentials (HTTP 401)" in html
    assert SECRET not in html


def test_test_connection_reports_an_html_login_page(alice_client, enabled, https_server):
    https_server.routes["/export.csv"] = Reply(
        body=b"<!DOCTYPE html><html><body><form>Sign in</form></body></html>",
        headers={"Content-Type": "text/html"},
    )

    response = alice_client.post(
        reverse("importer:remote-test"),
        settings_form(https_server.url("/export.csv")),
        HTTP_HX_REQUEST="true",
    )

    assert "login page" in response.content.decode()


def test_the_fetch_button_shows_only_when_enabled_and_configured(alice_client, acme):
    assert 'id="fetch-button"' not in alice_client.get(reverse("importer:import")).content.decode()
    source = RemoteSource.objects.create(organization=acme, enabled=True)
    assert 'id="fetch-button"' not in alice_client.get(reverse("importer:import")).content.decode()

    source.url = "https://hr.example.com/x.csv"
    source.save()

    assert 'id="fetch-button"' in alice_client.get(reverse("importer:import")).content.decode()


# --- Django admin -------------------------------------------------------------------------------


def organization_form(organization, *, enabled: bool, source=None) -> dict:
    data = {
        "name": organization.name,
        "slug": organization.slug,
        "created_at_0": f"{organization.created_at:%Y-%m-%d}",
        "created_at_1": f"{organization.created_at:%H:%M:%S}",
        "remote_source-TOTAL_FORMS": "1",
        "remote_source-INITIAL_FORMS": "1" if source else "0",
        "remote_source-MIN_NUM_FORMS": "0",
        "remote_source-MAX_NUM_FORMS": "1",
        "remote_source-0-id": str(source.pk) if source else "",
        "remote_source-0-organization": str(organization.pk),
    }
    if enabled:
        data["remote_source-0-enabled"] = "on"
    return data


def test_support_staff_enable_and_disable_it_and_each_change_is_logged(support_client, acme):
    url = reverse("admin:users_organization_change", args=[acme.pk])

    response = support_client.post(url, organization_form(acme, enabled=True))

    assert response.status_code == 302
    source = RemoteSource.objects.get(organization=acme)
    assert source.enabled
    response = support_client.post(url, organization_form(acme, enabled=False, source=source))
    assert response.status_code == 302
    source.refresh_from_db()
    assert not source.enabled
    messages = list(
        LogEntry.objects.filter(object_id=str(acme.pk), change_message__endswith="automatic import")
        .order_by("action_time")
        .values_list("change_message", "user_id")
    )
    assert messages == [
        ("Enabled automatic import", support_client.staff.pk),
        ("Disabled automatic import", support_client.staff.pk),
    ]


def test_admin_pages_show_the_status_but_never_the_secret(support_client, acme):
    source = RemoteSource.objects.create(
        organization=acme,
        enabled=True,
        url="https://hr.example.com/x.csv",
        auth="bearer",
        secret_encrypted=encrypt_secret(SECRET),
        consecutive_failures=2,
        last_error="The server hr.example.com had an internal error (HTTP 500).",
    )

    pages = [
        reverse("admin:users_organization_change", args=[acme.pk]),
        reverse("admin:importer_remotesource_changelist"),
        reverse("admin:importer_remotesource_change", args=[source.pk]),
    ]
    for page in pages:
        html = support_client.get(page).content.decode()
        assert SECRET not in html
        assert source.secret_encrypted not in html
    html = support_client.get(pages[0]).content.decode()
    assert "had an internal error (HTTP 500)" in html
    assert "hr.example.com" in html


def test_company_admins_cannot_enable_it_themselves(alice_client, acme):
    response = alice_client.get(reverse("admin:users_organization_change", args=[acme.pk]))

    assert response.status_code == 302  # To the admin login: not staff.
    assert not RemoteSource.objects.filter(organization=acme).exists()


def test_test_connection_to_a_dripping_server_answers_within_its_short_cap(
    alice_client, enabled, https_server, settings
):
    settings.REMOTE_TEST_TIMEOUT = 1
    https_server.routes["/export.csv"] = Reply(body=CSV * 5, drip=0.2)

    started = time.monotonic()
    response = alice_client.post(
        reverse("importer:remote-test"),
        settings_form(https_server.url("/export.csv")),
        HTTP_HX_REQUEST="true",
    )

    assert time.monotonic() - started < 3
    assert "took too long" in response.content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x.csv",
        "https://localhost:8443/x.csv",
        "https://10.1.2.3/x.csv",
        "https://192.168.0.10/x.csv",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/x.csv",
        "https://[::1]/x.csv",
        "https://[::ffff:127.0.0.1]/x.csv",
    ],
)
def test_a_loopback_or_private_url_is_refused_when_saved(alice_client, enabled, settings, url):
    settings.REMOTE_ALLOWED_HOSTS = []

    saved = alice_client.post(reverse("importer:remote-save"), settings_form(url))
    tested = alice_client.post(reverse("importer:remote-test"), settings_form(url))

    for response in (saved, tested):
        assert response.status_code == 400
        assert "private or internal network address" in response.content.decode()
    enabled.refresh_from_db()
    assert enabled.url == ""


def test_an_allow_listed_private_host_can_be_saved(alice_client, enabled, settings):
    settings.REMOTE_ALLOWED_HOSTS = ["10.1.2.3"]

    response = alice_client.post(
        reverse("importer:remote-save"), settings_form("https://10.1.2.3/x.csv")
    )

    assert response.status_code == 302


def test_a_token_in_the_query_string_is_not_shown_back_and_survives_a_save(
    alice_client, enabled, https_server
):
    url = https_server.url("/x.csv?format=csv&api_key=QueryT0ken-77a1")
    https_server.routes["/x.csv"] = Reply(body=CSV)
    alice_client.post(reverse("importer:remote-save"), settings_form(url))

    page = alice_client.get(reverse("importer:remote")).content.decode()
    log = alice_client.get(reverse("importer:configuration")).content.decode()
    changes = str([entry.changes for entry in ImportConfigChange.objects.all()])
    assert "api_key=" in log  # The change log shows the URL, masked too.
    for shown_text in (page, log, changes):
        assert "QueryT0ken-77a1" not in shown_text
    assert "api_key=" in page
    shown = re.search(r'name="url"[^>]*value="([^"]+)"', page).group(1)

    # Saving the page as it is (the masked URL) keeps the real one.
    response = alice_client.post(
        reverse("importer:remote-save"),
        settings_form(html.unescape(shown), secret="", cadence="hourly"),
    )

    assert response.status_code == 302
    enabled.refresh_from_db()
    assert enabled.url == url
    assert https_server.seen == []
