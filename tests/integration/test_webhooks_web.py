"""Notifications on the Configuration tab: add an endpoint, read its deliveries, test, resume."""

import json

from django.urls import reverse
from django.utils import timezone

from importer import tasks, webhooks
from importer.models import WebhookDelivery, WebhookEndpoint
from importer.remote.secrets import decrypt_secret
from tests.integration.https_server import Reply
from tests.integration.test_webhooks import verify


def add(client, **fields):
    data = {"name": "HR bot", "kind": "standard", "events": ["run.held", "run.failed"], **fields}
    return client.post(reverse("importer:webhook-create"), data)


def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(alice_client, acme, alice, settings):
    settings.REMOTE_ALLOWED_HOSTS = []
    response = add(alice_client, url="https://hooks.example.com/rostersync")

    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    endpoint = WebhookEndpoint.objects.get()
    secret = response.context["new_secret"]
    assert secret.startswith("whsec_") and secret in response.content.decode()
    assert decrypt_secret(endpoint.secret_encrypted) == secret
    assert secret not in endpoint.secret_encrypted
    assert (endpoint.organization, endpoint.created_by, endpoint.events) == (
        acme,
        alice,
        ["run.held", "run.failed"],
    )
    page = alice_client.get(reverse("importer:webhooks")).content.decode()
    assert "HR bot" in page and secret not in page
    assert "A scheduled import was held by a safeguard" in page


def test_a_slack_endpoint_has_no_secret(alice_client, settings):
    settings.REMOTE_ALLOWED_HOSTS = []
    response = add(alice_client, kind="slack", url="https://hooks.slack.com/services/T0/B0/x")

    assert response.status_code == 201
    assert WebhookEndpoint.objects.get().secret_encrypted == ""
    assert "signing secret" not in response.content.decode()


def test_only_a_public_https_address_is_accepted(alice_client, settings):
    settings.REMOTE_ALLOWED_HOSTS = []
    for url, message in [
        ("http://hooks.example.com/x", "Only public https:// addresses"),
        ("https://127.0.0.1/x", "private or internal network"),
        ("https://10.0.0.8/x", "private or internal network"),
    ]:
        response = add(alice_client, url=url)
        assert response.status_code == 400, url
        assert message in " ".join(response.context["form"].errors["url"]), url
    assert not WebhookEndpoint.objects.exists()
    settings.REMOTE_ALLOWED_HOSTS = ["127.0.0.1"]
    assert add(alice_client, url="https://127.0.0.1/x").status_code == 201


def test_send_a_test_event_reaches_the_receiver_signed_with_the_secret_shown(
    alice_client, https_server, django_capture_on_commit_callbacks, monkeypatch
):
    https_server.routes["/hook"] = Reply(204)
    response = add(alice_client, url=https_server.url("/hook"))
    secret, endpoint = response.context["new_secret"], WebhookEndpoint.objects.get()
    monkeypatch.setattr(
        "importer.views.webhooks.enqueue_webhook", lambda pk: tasks.deliver_webhook_task(pk)
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("importer:webhook-test", args=[endpoint.pk]))

    assert response.status_code == 302
    (seen,) = https_server.requests_to("/hook")
    headers = {name.lower(): value for name, value in seen.headers.items()}
    assert verify(secret, headers, seen.body)
    assert json.loads(seen.body)["type"] == "test"
    page = alice_client.get(reverse("importer:webhook-detail", args=[endpoint.pk])).content
    page = page.decode()
    assert "Test event" in page and "Delivered" in page and "204" in page and " ms" in page
    assert webhooks.claim_due(timezone.now()) == []  # Claimed when made: the sweep leaves it.


def test_a_paused_endpoint_is_resumed_with_its_waiting_events_due(alice_client, acme):
    endpoint = WebhookEndpoint.objects.create(
        organization=acme,
        name="HR bot",
        url="https://hooks.example.com/x",
        events=["run.held"],
        paused_at=timezone.now(),
        consecutive_failures=10,
    )
    waiting = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="run.held",
        message_id="msg_1",
        next_attempt_at=timezone.now() + timezone.timedelta(hours=6),
    )
    page = alice_client.get(reverse("importer:webhook-detail", args=[endpoint.pk])).content
    assert b"Paused since" in page and b"Resume" in page

    alice_client.post(reverse("importer:webhook-resume", args=[endpoint.pk]))

    endpoint.refresh_from_db()
    assert (endpoint.paused_at, endpoint.consecutive_failures) == (None, 0)
    assert webhooks.claim_due(timezone.now()) == [waiting.pk]


def test_an_endpoint_is_removed(alice_client, acme):
    endpoint = WebhookEndpoint.objects.create(
        organization=acme, name="Old", url="https://hooks.example.com/x", events=[]
    )

    response = alice_client.post(reverse("importer:webhook-delete", args=[endpoint.pk]))

    assert response.status_code == 302
    assert not WebhookEndpoint.objects.exists()


def test_an_endpoint_name_and_error_with_markup_are_shown_as_text(alice_client, acme):
    name = "<script>alert(1)</script>"
    endpoint = WebhookEndpoint.objects.create(
        organization=acme, name=name, url="https://hooks.example.com/x", events=["run.held"]
    )
    WebhookDelivery.objects.create(
        endpoint=endpoint, event="test", message_id="msg_x", last_error=name
    )

    for url in (
        reverse("importer:webhooks"),
        reverse("importer:webhook-detail", args=[endpoint.pk]),
    ):
        html = alice_client.get(url).content.decode()
        assert name not in html, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url
