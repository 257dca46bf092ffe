"""Webhooks and Slack: the outbox written at the services' transitions, and its delivery to a
real local HTTPS receiver (tests/integration/https_server.py, a trustme certificate)."""

import base64
import datetime as dt
import hashlib
import hmac
import json

import pytest
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from importer import runs, tasks, tokens, webhooks
from importer.models import ImportRun, WebhookDelivery, WebhookEndpoint
from importer.remote.secrets import encrypt_secret
from importer.runs import outbox
from importer.runs.outbox import Event
from tests.conftest import preview_text
from tests.integration.https_server import Reply
from users.models import User

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef01234567").decode()


def make_endpoint(organization, url, *, kind="standard", events=None, name="HR bot"):
    return WebhookEndpoint.objects.create(
        organization=organization,
        name=name,
        url=url,
        kind=kind,
        events=[value for value, _label in Event.choices] if events is None else events,
        secret_encrypted=encrypt_secret(SECRET),
    )


def verify(secret: str, headers: dict, body: bytes) -> bool:
    """Check a Standard Webhooks signature as a receiver does, independently of the app."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    received = [part.split(",", 1)[1] for part in headers["webhook-signature"].split(" ")]
    return any(hmac.compare_digest(expected, signature) for signature in received)


def test_event(organization) -> list[int]:
    return outbox.record_event(organization_id=organization.pk, event=Event.TEST, data={})


test_event.__test__ = False  # A helper, not a test.


@pytest.fixture
def receiver(https_server):
    https_server.routes["/hook"] = Reply(204)
    return https_server


# --- signing and delivery ---------------------------------------------------------------------


def test_a_delivery_is_signed_and_the_receiver_verifies_it(receiver, acme, alice):
    endpoint = make_endpoint(acme, receiver.url("/hook"))
    run = preview_text(acme, alice, "email\nnot-an-email\n")  # Invalid: an event.
    (delivery_id,) = WebhookDelivery.objects.filter(endpoint=endpoint).values_list("pk", flat=True)

    delivery = webhooks.deliver(delivery_id)

    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.attempts == 1 and delivery.last_status_code == 204
    assert delivery.last_response_ms is not None
    (seen,) = receiver.requests_to("/hook")
    headers = {name.lower(): value for name, value in seen.headers.items()}
    assert seen.method == "POST"
    assert headers["webhook-id"] == delivery.message_id
    assert abs(int(headers["webhook-timestamp"]) - timezone.now().timestamp()) < 60
    assert verify(SECRET, headers, seen.body)
    assert not verify(
        "whsec_" + base64.b64encode(b"another key 0123456789ab").decode(), headers, seen.body
    )
    payload = json.loads(seen.body)
    assert payload["type"] == "run.invalid"
    assert payload["data"]["run"] == run.pk
    assert payload["data"]["counts"]["errors"] == 1
    assert payload["data"]["url"].endswith(f"/import/runs/{run.pk}/")


def test_a_payload_carries_counts_and_a_link_but_no_personal_data(receiver, acme, alice):
    make_endpoint(acme, receiver.url("/hook"))
    run = preview_text(acme, alice, "email,first_name\nzoe.private@acme.example,Zoë\n")
    runs.request_apply(run, acting_user=alice)
    runs.apply_run(run.pk)

    (delivery,) = WebhookDelivery.objects.filter(event=Event.RUN_APPLIED)
    webhooks.deliver(delivery.pk)

    (seen,) = receiver.requests_to("/hook")
    assert json.loads(seen.body)["data"]["counts"]["new"] == 1
    for personal in (b"zoe", b"private", "Zoë".encode(), b"alice", b"@"):
        assert personal not in seen.body.lower()


def test_a_500_is_retried_with_backoff_until_it_is_delivered(receiver, acme):
    endpoint = make_endpoint(acme, receiver.url("/hook"))
    receiver.routes["/hook"] = Reply(500, b"oops")
    (delivery_id,) = test_event(acme)
    now = timezone.now()

    delivery = webhooks.deliver(delivery_id, now=now)

    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error == "The endpoint answered 500."
    assert delivery.next_attempt_at == now + webhooks.RETRY_DELAYS[0]
    assert webhooks.claim_due(now + dt.timedelta(seconds=5)) == []
    assert webhooks.claim_due(now + dt.timedelta(seconds=11)) == [delivery_id]

    delivery = webhooks.deliver(delivery_id, now=now + dt.timedelta(seconds=11))
    assert delivery.next_attempt_at == now + dt.timedelta(seconds=11) + webhooks.RETRY_DELAYS[1]
    receiver.routes["/hook"] = Reply(200, b"ok")
    delivery = webhooks.deliver(delivery_id, now=now + dt.timedelta(minutes=2))

    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0
    assert len(receiver.requests_to("/hook")) == 3


def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt(receiver, acme, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    make_endpoint(acme, receiver.url("/slow"))
    receiver.routes["/slow"] = Reply(204, delay=3)
    (delivery_id,) = test_event(acme)

    delivery = webhooks.deliver(delivery_id)

    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert delivery.last_error == "The endpoint 127.0.0.1 did not answer within 1 s."


def test_repeated_failures_pause_the_endpoint_and_email_the_admins(
    receiver, acme, alice, settings, mailoutbox
):
    settings.WEBHOOK_PAUSE_AFTER_FAILURES = 3
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    endpoint = make_endpoint(acme, receiver.url("/hook"))
    receiver.routes["/hook"] = Reply(503)
    first, second = test_event(acme)[0], test_event(acme)[0]

    assert webhooks.deliver(first).status == "pending"
    assert webhooks.deliver(first).status == "failed"  # Its last attempt.
    webhooks.deliver(second)

    endpoint.refresh_from_db()
    assert endpoint.paused_at is not None and endpoint.consecutive_failures == 3
    (mail,) = mailoutbox
    assert mail.to == [alice.email] and "HR bot" in mail.subject and "503" in mail.body
    # Paused: nothing is claimed or sent any more, and the waiting delivery stays waiting.
    later = timezone.now() + dt.timedelta(days=1)
    assert webhooks.claim_due(later) == []
    assert webhooks.deliver(second, now=later).attempts == 1
    assert len(receiver.requests_to("/hook")) == 3


def test_no_delivery_to_a_loopback_address_unless_allowed(receiver, acme, settings):
    settings.REMOTE_ALLOWED_HOSTS = []
    make_endpoint(acme, receiver.url("/hook"))
    (delivery_id,) = test_event(acme)

    delivery = webhooks.deliver(delivery_id)

    assert delivery.status == "pending" and delivery.last_status_code is None
    assert "private or internal network" in delivery.last_error
    assert receiver.requests_to("/hook") == []


def test_only_https_and_no_redirect_is_followed(receiver, acme):
    make_endpoint(acme, receiver.url("/hook").replace("https://", "http://"), name="plain")
    (plain,) = test_event(acme)
    assert "https" in webhooks.deliver(plain).last_error
    WebhookEndpoint.objects.all().delete()

    make_endpoint(acme, receiver.url("/moved"))
    receiver.routes["/moved"] = Reply(302, headers={"Location": receiver.url("/hook")})
    (moved,) = test_event(acme)
    delivery = webhooks.deliver(moved)

    assert (delivery.status, delivery.last_status_code) == ("pending", 302)
    assert receiver.requests_to("/hook") == []


def test_a_slack_endpoint_gets_an_incoming_webhook_message(receiver, acme, alice):
    make_endpoint(acme, receiver.url("/slack"), kind="slack")
    receiver.routes["/slack"] = Reply(200, b"ok")
    run = preview_text(acme, alice, "email\nnot-an-email\n")

    webhooks.deliver(WebhookDelivery.objects.get().pk)

    (seen,) = receiver.requests_to("/slack")
    message = json.loads(seen.body)
    assert set(message) == {"text"}
    assert f"import #{run.pk}" in message["text"] and "1 errors" in message["text"]
    assert f"/import/runs/{run.pk}/|Open the import>" in message["text"]
    assert "webhook-signature" not in {name.lower() for name in seen.headers}


def test_the_tasks_send_what_is_due(receiver, acme, monkeypatch):
    make_endpoint(acme, receiver.url("/hook"))
    (delivery_id,) = test_event(acme)
    sent = []
    monkeypatch.setattr(tasks, "enqueue_webhook", lambda pk: sent.append(pk) or True)

    tasks.deliver_due_webhooks_task()
    tasks.deliver_due_webhooks_task()  # Claimed: not sent twice.
    tasks.deliver_webhook_task(delivery_id)

    assert sent == [delivery_id]
    assert WebhookDelivery.objects.get().status == "delivered"


# --- where events are written -----------------------------------------------------------------


def events_of(endpoint) -> list[str]:
    return list(endpoint.deliveries.order_by("id").values_list("event", flat=True))


def test_each_transition_writes_its_event_for_the_endpoints_that_take_it(acme, alice):
    everything = make_endpoint(acme, "https://hooks.example.com/all")
    only_held = make_endpoint(acme, "https://hooks.example.com/held", events=[Event.RUN_HELD])

    preview_text(acme, alice, "email\nnot-an-email\n")  # invalid
    ready = preview_text(acme, alice, "email\nana@acme.example\nalice@acme.example\n")
    runs.request_apply(ready, acting_user=alice)
    runs.apply_run(ready.pk)  # applied
    held = preview_text(acme, alice, "email\nbo@acme.example\nalice@acme.example\n")
    runs.hold_run(held.pk)  # held
    queued = runs.create_run(
        organization=acme, data=b"email\n", name="x.csv", source=ImportRun.Source.REMOTE
    )
    runs.fail_fetch(queued.pk, "The server did not answer.")  # failed
    token, _secret = tokens.create_token(
        organization=acme,
        name="Script",
        scopes=["imports:write"],
        expires_at=None,
        acting_user=alice,
    )
    tokens.revoke_token(token, acting_user=alice)

    assert events_of(everything) == [
        "run.invalid",
        "run.applied",
        "run.held",
        "run.failed",
        "token.created",
        "token.revoked",
    ]
    assert events_of(only_held) == ["run.held"]
    token_payload = everything.deliveries.get(event="token.created").payload["data"]
    assert token_payload == {"name": "Script", "scopes": ["imports:write"]}


def test_a_preview_made_outdated_is_heard_of_whether_another_import_or_an_edit_did_it(acme, alice):
    endpoint = make_endpoint(acme, "https://hooks.example.com/out", events=[Event.RUN_OUTDATED])
    waiting = preview_text(acme, alice, "email\nbo@acme.example\nalice@acme.example\n")
    applied = preview_text(acme, alice, "email\nana@acme.example\nalice@acme.example\n")
    runs.request_apply(applied, acting_user=alice)
    runs.apply_run(applied.pk)  # Bo's preview no longer shows what importing would do.
    refused = preview_text(
        acme, alice, "email\ncy@acme.example\nana@acme.example\nalice@acme.example\n"
    )
    User.objects.filter(email="ana@acme.example").update(version=F("version") + 1)  # An edit.
    runs.request_apply(refused, acting_user=alice)
    runs.apply_run(refused.pk)  # Refused: the users changed after its preview.

    assert [
        (delivery.event, delivery.payload["data"]["run"], delivery.payload["data"]["status"])
        for delivery in endpoint.deliveries.order_by("id")
    ] == [("run.outdated", waiting.pk, "stale"), ("run.outdated", refused.pk, "stale")]
    assert not User.objects.filter(email="cy@acme.example").exists()


def test_another_companys_endpoints_hear_nothing(acme, alice, globex):
    theirs = make_endpoint(globex, "https://hooks.example.com/globex")

    preview_text(acme, alice, "email\nnot-an-email\n")

    assert events_of(theirs) == []


def test_an_event_of_a_change_rolled_back_is_never_sent(acme, alice):
    endpoint = make_endpoint(acme, "https://hooks.example.com/all")

    with pytest.raises(RuntimeError), transaction.atomic():
        tokens.create_token(
            organization=acme,
            name="Gone",
            scopes=["users:read"],
            expires_at=None,
            acting_user=alice,
        )
        raise RuntimeError("the request failed after the token was made")

    assert events_of(endpoint) == []


def test_a_scheduled_sync_that_fails_writes_its_event(acme, https_server):
    from importer.models import RemoteSource
    from importer.remote import services as sync

    endpoint = make_endpoint(acme, "https://hooks.example.com/all", events=[Event.SYNC_FAILED])
    https_server.routes["/export.csv"] = Reply(500)
    now = timezone.now()
    source = RemoteSource.objects.create(
        organization=acme,
        enabled=True,
        url=https_server.url("/export.csv"),
        cadence="hourly",
        next_fetch_at=now - dt.timedelta(minutes=1),
    )
    ((source_id, lease),) = sync.claim_due_sources(now)

    sync.sync_source(source_id, claimed_until=lease)

    (delivery,) = endpoint.deliveries.all()
    assert delivery.event == "sync.failed"
    assert delivery.payload["data"]["consecutive_failures"] == 1
    assert delivery.payload["data"]["url"].endswith("/import/configuration/remote/")
    source.refresh_from_db()
    assert delivery.payload["data"]["message"] == source.last_error
