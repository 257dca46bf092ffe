"""The organization's audited actions as History shows them: who did what, when."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet

from importer.configuration import REMOTE_LABELS
from importer.models import AuditEvent, ImportRun
from importer.pipeline.types import OPTION_LABELS

Kind = AuditEvent.Kind


@dataclass(frozen=True)
class Activity:
    """One audited action, ready for a template."""

    event: AuditEvent
    what: str  # The kind, as people read it.
    detail: str
    # Who acted when no person did: "Automatic" (the schedule, the stuck-run recovery) or
    # "Command line"; "" when a person acted, or one since deleted.
    by_system: str


def organization_events(organization_id: int) -> QuerySet[AuditEvent]:
    """Return the organization's audit events, newest first, with what activities() reads."""
    return (
        AuditEvent.objects.filter(organization_id=organization_id)
        .select_related("acting_user", "run")
        .order_by("-created_at", "-id")
    )


def activities(events: Iterable[AuditEvent]) -> list[Activity]:
    """Return `events` as History shows them."""
    return [_activity(event) for event in events]


def run_activity(run: ImportRun) -> list[Activity]:
    """Return the audited actions on `run`, oldest first."""
    events = run.events.select_related("acting_user", "run").order_by("created_at", "id")
    return [_activity(event) for event in events]


def _activity(event: AuditEvent) -> Activity:
    return Activity(
        event=event,
        what=event.get_kind_display(),
        detail=_detail(event),
        by_system="" if event.acting_user_id else _by_the_system(event),
    )


def _by_the_system(event: AuditEvent) -> str:
    run = event.run
    if event.kind == Kind.RUN_RETRIED or (run and run.trigger == ImportRun.Trigger.SCHEDULED):
        return "Automatic"
    if run and run.source == ImportRun.Source.CLI:
        return "Command line"
    return ""


def _detail(event: AuditEvent) -> str:
    data = event.data or {}
    if event.kind == Kind.APPLY_REQUESTED and data.get("safeguard_confirmed"):
        return "The safeguard's warning was confirmed"
    if event.kind == Kind.REVERT_CREATED and data.get("reverts"):
        return f"Undoes import #{data['reverts']}"
    if event.kind == Kind.RUN_RETRIED and data.get("attempt"):
        step = "importing" if data.get("status") == ImportRun.Status.APPLYING else "previewing"
        return (
            f"A worker stopped while {step}; retrying "
            f"(attempt {data['attempt']} of {data.get('of', data['attempt'])})"
        )
    if event.kind == Kind.RUN_RETRIED and data.get("status"):
        status = dict(ImportRun.Status.choices).get(data["status"], data["status"])
        return f"It was stuck: {status.lower()}"
    if event.kind == Kind.OPTIONS_CHANGED:
        return ", ".join(OPTION_LABELS.get(name, name) for name in data.get("changes", {}))
    if event.kind == Kind.SYNC_PROTECTION_CHANGED:
        return f"{data.get('email', '')}: {data.get('old', '')} → {data.get('new', '')}"
    if event.kind == Kind.REMOTE_SETTINGS_CHANGED:
        names = data.get("changed", [])
        return ", ".join(
            REMOTE_LABELS.get(name, name).removeprefix("Automatic import: ") for name in names
        )
    return ""
