"""The organization's audited actions as History shows them: who did what, when."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet

from importer.configuration import ATTRIBUTE_KEY, ATTRIBUTE_ORDER_KEY, REMOTE_LABELS
from importer.models import AuditEvent, ImportRun, correction_summary
from importer.pipeline.types import OPTION_LABELS

Kind = AuditEvent.Kind

# What support staff downloaded (AuditEvent.data["what"] of a support_downloaded event).
DOWNLOADS = {
    "users": "Current users",
    "run_changes": "Changes of an import",
    "run_input": "Input file of an import",
    "run_errors": "Error report of an import",
    "template": "Empty template",
}
# Why support left the screens (data["reason"] of an acting_as_stopped event: users.access).
STOP_REASONS = {
    "stopped": "Clicked “Stop acting”",
    "expired": "Their time was up",
    "withdrawn": "Their access was withdrawn",
    "switched": "Went on to another company",
    "reopened": "Opened them again",
    "logged_out": "Logged out",
}
# How far back History's tab says that support worked in the company's screens.
SUPPORT_VISIT_DAYS = 30


@dataclass(frozen=True)
class Activity:
    """One audited action, ready for a template."""

    event: AuditEvent
    what: str  # The kind, as people read it.
    detail: str
    # Who acted when no person did: "Automatic" (the schedule, the stuck-run recovery) or
    # "Command line", or "API token NAME"; "" when a person acted, or one since deleted.
    by_system: str

    @property
    def by_system_inline(self) -> str:
        """`by_system` inside a sentence ("…, automatic", "…, by API token nightly")."""
        if self.by_system.startswith("API token "):
            return f"by {self.by_system}"
        return self.by_system.lower()


def organization_events(organization_id: int) -> QuerySet[AuditEvent]:
    """Return the organization's audit events, newest first, with what activities() reads."""
    return (
        AuditEvent.objects.filter(organization_id=organization_id)
        .select_related("acting_user", "run")
        .order_by("-created_at", "-id")
    )


def latest_support_visit(organization_id: int, *, since: dt.datetime) -> AuditEvent | None:
    """Return the latest time support staff opened the organization's screens since `since`."""
    return (
        AuditEvent.objects.filter(
            organization_id=organization_id,
            kind=Kind.ACTING_AS_STARTED,
            created_at__gte=since,
        )
        .select_related("acting_user")
        .order_by("-created_at", "-id")
        .first()
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
    if (event.data or {}).get("api_token"):
        return f"API token {event.data['api_token']}"
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
    if event.kind == Kind.INPUT_CORRECTED and data.get("corrects"):
        summary = correction_summary(data.get("cells", 0), data.get("rows_dropped", 0))
        return f"{summary.capitalize()} in the file of import #{data['corrects']}"
    if event.kind == Kind.SAME_PERSON_CONFIRMED and data.get("new_email"):
        row = f" (row {data['row']})" if data.get("row") else ""
        name = f"{data['name']}: " if data.get("name") else ""
        return f"{name}{data.get('old_email', '')} → {data['new_email']}{row}"
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
    if event.kind in (Kind.ATTRIBUTE_CREATED, Kind.ATTRIBUTE_CHANGED, Kind.ATTRIBUTE_DELETED):
        return _attribute_detail(event.kind, data)
    if event.kind == Kind.ACTING_AS_STOPPED and data.get("reason"):
        return STOP_REASONS.get(data["reason"], data["reason"])
    if event.kind in (Kind.API_TOKEN_CREATED, Kind.API_TOKEN_REVOKED):
        scopes = ", ".join(data.get("scopes", []))
        return f"{data.get('token', '')}" + (f" ({scopes})" if scopes else "")
    if event.kind == Kind.SUPPORT_DOWNLOADED:
        what = DOWNLOADS.get(data.get("what", ""), data.get("what", ""))
        return f"{what}: {data.get('filename', '')}"
    return ""


def _attribute_detail(kind: str, data: dict) -> str:
    """A custom attribute's change: its definition (added), old → new (changed), or what a
    deletion removed."""
    changes = data.get("changes") or {}
    if ATTRIBUTE_ORDER_KEY in changes:
        return f"New order: {', '.join(changes[ATTRIBUTE_ORDER_KEY][1])}"
    old, new = changes.get(f"{ATTRIBUTE_KEY}{data.get('key', '')}", ("", ""))
    if kind == Kind.ATTRIBUTE_CREATED:
        return new or data.get("name", "")
    if kind == Kind.ATTRIBUTE_CHANGED:
        return f"{old} → {new}"
    return f"{data.get('name', '')}: {new.lower()}" if new else data.get("name", "")
