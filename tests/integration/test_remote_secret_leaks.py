"""A secret never reaches a log, a page or an error: refused when saved, and on every failure path
of a secret saved before that rule (a bearer token with "€" once made the HTTP library raise with
the token in its message, and left the run queued)."""

import logging

import pytest
from django.urls import reverse

from importer.models import ImportRun, RemoteSource
from importer.remote import services as sync
from importer.remote.secrets import encrypt_secret
from importer.runs import services as runs
from tests.integration.https_server import Reply

BAD_TOKEN = "tok€n-5ecret-9f3a"
CSV = b"email,first_name\nana@acme.example,Ana\n"


@pytest.fixture
def leaky_source(https_server, acme):
    """A source whose stored bearer token cannot be sent (saved before it was checked)."""
    https_server.routes["/export.csv"] = Reply(body=CSV)
    return RemoteSource.objects.create(
        organization=acme,
        enabled=True,
        url=https_server.url("/export.csv"),
        auth=RemoteSource.Auth.BEARER,
        secret_encrypted=encrypt_secret(BAD_TOKEN),
    )


def assert_not_logged(caplog, secret):
    for record in caplog.records:
        text = record.getMessage() + (
            logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        )
        assert secret not in text, record.name
    assert secret not in caplog.text


@pytest.mark.parametrize("auth", ["bearer", "header"])
@pytest.mark.parametrize("secret", [BAD_TOKEN, "emoji-🔑-key", "tab\tand\x7fdel"])
def test_a_token_a_header_cannot_carry_is_refused_when_saved(alice_client, acme, auth, secret):
    source = RemoteSource.objects.create(organization=acme, enabled=True)
    form = {
        "url": "https://hr.example.com/x.csv",
        "auth": auth,
        "username": "",
        "header_name": "X-API-Key" if auth == "header" else "",
        "secret": secret,
        "file_format": "auto",
        "cadence": "manual",
        "daily_hour": "6",
    }

    response = alice_client.post(reverse("importer:remote-save"), form)

    assert response.status_code == 400
    assert "that an HTTP header can carry" in response.content.decode()
    assert secret not in response.content.decode()
    source.refresh_from_db()
    assert source.secret_encrypted == ""


def test_a_basic_password_with_any_letter_is_accepted(alice_client, acme):
    RemoteSource.objects.create(organization=acme, enabled=True)
    form = {
        "url": "https://hr.example.com/x.csv",
        "auth": "basic",
        "username": "rostersync",
        "header_name": "",
        "secret": "pässwörd-€-ok",
        "file_format": "auto",
        "cadence": "manual",
        "daily_hour": "6",
    }

    assert alice_client.post(reverse("importer:remote-save"), form).status_code == 302


def test_fetch_fails_the_run_with_a_message_and_logs_no_secret(caplog, leaky_source, alice):
    caplog.set_level(logging.DEBUG)
    run = runs.create_fetch_run(organization=leaky_source.organization, acting_user=alice)

    sync.fetch_into_run(run.pk)

    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED
    assert "cannot be sent to a server" in run.message
    assert BAD_TOKEN not in run.message
    assert_not_logged(caplog, BAD_TOKEN)


def test_a_scheduled_sync_fails_with_a_message_and_logs_no_secret(caplog, leaky_source):
    caplog.set_level(logging.DEBUG)

    outcome = sync.sync_source(leaky_source.pk)

    leaky_source.refresh_from_db()
    assert not outcome.ok and "cannot be sent to a server" in outcome.message
    assert ImportRun.objects.get().status == ImportRun.Status.FAILED
    assert BAD_TOKEN not in leaky_source.last_error
    assert_not_logged(caplog, BAD_TOKEN)


def test_test_connection_with_the_stored_secret_answers_and_logs_no_secret(
    caplog, alice_client, leaky_source
):
    caplog.set_level(logging.DEBUG)
    form = {
        "url": leaky_source.url,
        "auth": "bearer",
        "username": "",
        "header_name": "",
        "secret": "",  # Keep the stored one.
        "file_format": "auto",
        "cadence": "manual",
        "daily_hour": "6",
    }

    response = alice_client.post(reverse("importer:remote-test"), form, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert "cannot be sent to a server" in html and BAD_TOKEN not in html
    assert_not_logged(caplog, BAD_TOKEN)


def test_an_unexpected_error_quoting_the_secret_is_logged_without_it(
    caplog, leaky_source, alice, monkeypatch
):
    caplog.set_level(logging.DEBUG)

    def broken(url, *, headers, **kwargs):
        raise RuntimeError(f"cannot send {headers}")

    monkeypatch.setattr(sync.remote, "download", broken)
    run = runs.create_fetch_run(organization=leaky_source.organization, acting_user=alice)

    sync.fetch_into_run(run.pk)
    outcome = sync.sync_source(leaky_source.pk)

    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED and "RuntimeError" in run.message
    assert not outcome.ok
    assert "details not logged" in caplog.text
    assert_not_logged(caplog, BAD_TOKEN)
