"""The webhook outbox: an event written as rows inside the transaction of the change it tells.

    >>> record_event(organization_id=acme.pk, event=Event.RUN_HELD, data=run_data(run))
    [17]                            # one WebhookDelivery per endpoint taking the event

Called by the services where a run becomes applied, held, failed or invalid, where a scheduled
sync fails, and where a token is made or revoked. Written in the same transaction, an event is
kept or dropped with its change: nothing is lost on a crash, nothing is sent for a change
rolled back. importer.webhooks delivers the rows (a beat task sends what is due); services never
enqueue (they never import importer.tasks), so the outbox is also how they reach a worker.
"""

from __future__ import annotations

import uuid

from django.urls import reverse
from django.utils import timezone

from importer import notify
from importer.models import ImportRun, WebhookDelivery, WebhookEndpoint


class Event:
    """The events an endpoint may take, with their labels."""

    RUN_APPLIED = "run.applied"
    RUN_HELD = "run.held"
    RUN_FAILED = "run.failed"
    RUN_INVALID = "run.invalid"
    RUN_OUTDATED = "run.outdated"
    SYNC_FAILED = "sync.failed"
    TOKEN_CREATED = "token.created"
    TOKEN_REVOKED = "token.revoked"
    TEST = "test"

    choices = [
        (RUN_APPLIED, "An import was applied"),
        (RUN_HELD, "A scheduled import was held by a safeguard"),
        (RUN_FAILED, "An import failed"),
        (RUN_INVALID, "A file has errors"),
        (RUN_OUTDATED, "A preview is outdated: the users changed since, preview it again"),
        (SYNC_FAILED, "The scheduled sync failed"),
        (TOKEN_CREATED, "An API token was made"),
        (TOKEN_REVOKED, "An API token was revoked"),
    ]
    labels = {**dict(choices), TEST: "Test event"}


RUN_EVENTS = {
    ImportRun.Status.APPLIED: Event.RUN_APPLIED,
    ImportRun.Status.HELD: Event.RUN_HELD,
    ImportRun.Status.FAILED: Event.RUN_FAILED,
    ImportRun.Status.INVALID: Event.RUN_INVALID,
    ImportRun.Status.STALE: Event.RUN_OUTDATED,
}


def record_event(*, organization_id: int, event: str, data: dict) -> list[int]:
    """Write one pending delivery of `event` per endpoint of the organization taking it.

    Call it inside the transaction of the change it tells about. Return the deliveries' ids.
    """
    endpoints = WebhookEndpoint.objects.filter(organization_id=organization_id)
    if event != Event.TEST:
        endpoints = [endpoint for endpoint in endpoints if event in endpoint.events]
    now = timezone.now()
    deliveries = [
        WebhookDelivery.objects.create(
            endpoint=endpoint,
            event=event,
            message_id=f"msg_{uuid.uuid4().hex}",
            payload={"type": event, "timestamp": now.isoformat(), "data": data},
            next_attempt_at=now,
        )
        for endpoint in endpoints
    ]
    return [delivery.pk for delivery in deliveries]


def record_run_event(run: ImportRun) -> list[int]:
    """Record the event of the status `run` has just reached, if it is one endpoints take."""
    event = RUN_EVENTS.get(run.status)
    if event is None:
        return []
    return record_event(organization_id=run.organization_id, event=event, data=run_data(run))


def run_data(run: ImportRun) -> dict:
    """Return what an event says of a run: its numbers and its link, nobody's personal data."""
    return {
        "run": run.pk,
        "status": run.status,
        "status_label": run.get_status_display(),
        "source": run.source,
        "trigger": run.trigger,
        "counts": run.counts,
        "safeguard_tripped": bool(run.safeguard_message),
        "url": notify.absolute_url(reverse("importer:run-detail", args=[run.pk])),
    }


def record_sync_failed(source) -> list[int]:
    """Record that a scheduled sync of `source` (a RemoteSource) failed, with its error."""
    return record_event(
        organization_id=source.organization_id,
        event=Event.SYNC_FAILED,
        data={
            "consecutive_failures": source.consecutive_failures,
            "message": source.last_error,  # Never holds the secret, the URL's path nor a body.
            "url": notify.absolute_url(reverse("importer:remote")),
        },
    )


def record_token_event(token, event: str) -> list[int]:
    """Record that an API token was made or revoked (its name and scopes, never its secret)."""
    return record_event(
        organization_id=token.organization_id,
        event=event,
        data={"name": token.name, "scopes": list(token.scopes)},
    )
