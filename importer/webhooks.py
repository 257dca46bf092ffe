"""Tell a company's own endpoints and Slack about its imports: delivering the outbox.

    >>> claim_due()                 # the outbox rows (importer.runs.outbox) that are due
    [17]
    >>> deliver(17)                 # in a task (importer.tasks.deliver_webhook_task)
    <WebhookDelivery: run.held to Webhook HR bot (Delivered)>

importer.runs.outbox writes the rows inside the transaction of the change they tell about; a
beat task sends what is due and each failed attempt is tried again later
(RETRY_DELAYS), up to settings.WEBHOOK_MAX_ATTEMPTS; after settings.WEBHOOK_PAUSE_AFTER_FAILURES
failed attempts in a row the endpoint is paused and the admins are emailed.

A standard endpoint gets JSON signed as Standard Webhooks describes (webhook-id,
webhook-timestamp, webhook-signature: "v1," and the base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}" keyed with the secret's bytes). A payload carries the run's id, status,
counts and link, never a person's data. Requests go through importer.remote.http.post: https
only, public addresses only (settings.REMOTE_ALLOWED_HOSTS as for the fetch), bounded in time.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from importer import notify
from importer.models import WebhookDelivery, WebhookEndpoint
from importer.remote import http
from importer.remote.secrets import decrypt_secret, encrypt_secret
from importer.runs.outbox import Event

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
# Wait after the 1st, 2nd, … failed attempt (Standard Webhooks' schedule, shortened at the start).
RETRY_DELAYS = (
    dt.timedelta(seconds=10),
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=6),
)
# A claimed delivery is not claimed again for this long (a worker died while sending it).
CLAIM_LEASE = dt.timedelta(minutes=5)
RESPONSE_MAX_BYTES = 64 * 1024


def new_secret() -> str:
    """Return a new signing secret: "whsec_" and 24 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Return the webhook-signature header of a message: "v1,<base64 HMAC-SHA256>"."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    content = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


# --- the outbox ---------------------------------------------------------------------------------


def claim_due(now: dt.datetime | None = None, *, limit: int = 100) -> list[int]:
    """Return the ids of due deliveries, each claimed for CLAIM_LEASE by a conditional update."""
    now = now or timezone.now()
    due = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at__lte=now,
        endpoint__paused_at=None,
    ).values_list("pk", flat=True)[:limit]
    claimed = []
    for delivery_id in due:
        taken = WebhookDelivery.objects.filter(
            pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        ).update(next_attempt_at=now + CLAIM_LEASE)
        if taken:  # 0: another sweep got there first.
            claimed.append(delivery_id)
    return claimed


# --- delivery -----------------------------------------------------------------------------------


def body_for(delivery: WebhookDelivery) -> bytes:
    """Return the bytes sent for a delivery: the payload, or a Slack message."""
    if delivery.endpoint.kind == WebhookEndpoint.Kind.SLACK:
        return json.dumps(slack_message(delivery.payload)).encode()
    return json.dumps(delivery.payload, separators=(",", ":")).encode()


def slack_message(payload: dict) -> dict:
    """Return an event as an incoming-webhook message ("text", with Slack's link markup)."""
    data = payload.get("data", {})
    label = Event.labels.get(payload.get("type", ""), payload.get("type", ""))
    if "run" not in data:
        return {"text": f"Rostersync: {label}" + (f": {data['name']}" if data.get("name") else "")}
    counts = data.get("counts", {})
    numbers = ", ".join(
        f"{counts.get(key, 0)} {key}" for key in ("new", "changed", "deactivated", "errors")
    )
    return {
        "text": (
            f"Rostersync: {label} — import #{data['run']} ({data.get('status_label', '')}): "
            f"{numbers}. <{data.get('url', '')}|Open the import>"
        )
    }


def headers_for(delivery: WebhookDelivery, body: bytes, timestamp: int) -> dict:
    headers = {"Content-Type": "application/json", "User-Agent": "Rostersync webhooks"}
    endpoint = delivery.endpoint
    if endpoint.kind == WebhookEndpoint.Kind.STANDARD and endpoint.secret_encrypted:
        secret = decrypt_secret(endpoint.secret_encrypted)
        headers.update(
            {
                "webhook-id": delivery.message_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(secret, delivery.message_id, timestamp, body),
            }
        )
    return headers


def deliver(delivery_id: int, *, now: dt.datetime | None = None) -> WebhookDelivery:
    """Make one attempt at a delivery and record it; return the delivery as it is then.

    A delivered or failed delivery, or one of a paused endpoint, is left as it is. A 2xx answer
    delivers it; anything else (a status, a timeout, a refused address) is a failed attempt,
    tried again after RETRY_DELAYS until settings.WEBHOOK_MAX_ATTEMPTS.
    """
    delivery = WebhookDelivery.objects.select_related("endpoint__organization").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if delivery.status != WebhookDelivery.Status.PENDING or endpoint.paused_at:
        return delivery
    now = now or timezone.now()
    body = body_for(delivery)
    error, status, elapsed = "", None, None
    try:
        answer = http.post(
            endpoint.url,
            body=body,
            headers=headers_for(delivery, body, int(now.timestamp())),
            limits=http.Limits.from_settings(
                connect_timeout=min(settings.WEBHOOK_TIMEOUT_SECONDS, 10),
                read_timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
                total_timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
                max_bytes=RESPONSE_MAX_BYTES,
            ),
        )
        status, elapsed = answer.status, answer.elapsed_ms
        if not 200 <= status < 300:
            error = f"The endpoint answered {status}."
    except http.FetchError as failure:
        error = _failure_message(failure, http.host_of(endpoint.url))
    _record_attempt(delivery, now=now, error=error, status=status, elapsed=elapsed)
    return delivery


def _failure_message(failure: http.FetchError, host: str) -> str:
    """Return the delivery log's words for an attempt that got no answer."""
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    messages = {
        "timeout": f"The endpoint {host} did not answer within {timeout} s.",
        "connect": f"The endpoint {host} did not accept the connection.",
        "dns": f"The endpoint's name {host} could not be found (DNS).",
        "tls": f"The secure connection to {host} failed: its certificate is not trusted.",
        "forbidden_address": (
            f"The endpoint {host} is on a private or internal network address, which Rostersync "
            "does not send to. Use a public https address."
        ),
        "bad_url": "Only public https:// addresses receive notifications.",
    }
    return messages.get(failure.code, failure.message)


def _record_attempt(delivery, *, now, error: str, status: int | None, elapsed: int | None):
    endpoint = delivery.endpoint
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_response_ms = status, elapsed
    delivery.last_error = error[:500]
    paused = False
    with transaction.atomic():
        if not error:
            delivery.status, delivery.delivered_at = WebhookDelivery.Status.DELIVERED, now
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
        else:
            if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
                delivery.status = WebhookDelivery.Status.FAILED
            else:
                delay = RETRY_DELAYS[min(delivery.attempts, len(RETRY_DELAYS)) - 1]
                delivery.next_attempt_at = now + delay
            endpoint.refresh_from_db()
            endpoint.consecutive_failures += 1
            update = {"consecutive_failures": endpoint.consecutive_failures}
            if (
                endpoint.paused_at is None
                and endpoint.consecutive_failures >= settings.WEBHOOK_PAUSE_AFTER_FAILURES
            ):
                endpoint.paused_at = update["paused_at"] = now
                paused = True
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(**update)
        delivery.save()
    if paused:
        logger.warning(
            "Webhook %s paused after %s failures", endpoint.pk, endpoint.consecutive_failures
        )
        notify.send_webhook_paused_email(endpoint)


# --- the endpoints ------------------------------------------------------------------------------


def create_endpoint(
    *, organization, name: str, url: str, kind: str, events: list[str], acting_user
) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint; return it and its signing secret (shown once; "" for Slack)."""
    secret = new_secret() if kind == WebhookEndpoint.Kind.STANDARD else ""
    endpoint = WebhookEndpoint.objects.create(
        organization=organization,
        name=name,
        url=url,
        kind=kind,
        events=[value for value, _label in Event.choices if value in events],
        secret_encrypted=encrypt_secret(secret) if secret else "",
        created_by=acting_user,
    )
    return endpoint, secret


def resume_endpoint(endpoint: WebhookEndpoint) -> None:
    """Send to a paused endpoint again, its waiting deliveries first (they are due at once)."""
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            paused_at=None, consecutive_failures=0
        )
        endpoint.deliveries.filter(status=WebhookDelivery.Status.PENDING).update(
            next_attempt_at=timezone.now()
        )
    endpoint.refresh_from_db()


def record_test_event(endpoint: WebhookEndpoint) -> int:
    """Write a test event for this endpoint alone, already claimed; the caller enqueues it."""
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event=Event.TEST,
        message_id=f"msg_{uuid.uuid4().hex}",
        payload={
            "type": Event.TEST,
            "timestamp": now.isoformat(),
            "data": {"name": endpoint.name, "organization": endpoint.organization.name},
        },
        next_attempt_at=now + CLAIM_LEASE,
    )
    return delivery.pk
