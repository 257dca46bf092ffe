"""Audit events: one keyword-only function per kind, each writing one AuditEvent row.

Call them inside the transaction of the change they record, so that the change and its event
are kept or rolled back together. `acting_user` is None for the system (a scheduled import,
the stuck-run recovery). History's Activity list and Django admin show the rows.
"""

from __future__ import annotations

from importer.models import AuditEvent, ImportRun, RemoteSource
from users.models import Organization, User

Kind = AuditEvent.Kind


def _run_event(kind: str, run: ImportRun, acting_user: User | None, **data) -> AuditEvent:
    return AuditEvent.objects.create(
        organization_id=run.organization_id, kind=kind, acting_user=acting_user, run=run, data=data
    )


def _source_event(kind: str, source: RemoteSource, acting_user: User | None, **data) -> AuditEvent:
    return AuditEvent.objects.create(
        organization_id=source.organization_id,
        kind=kind,
        acting_user=acting_user,
        source=source,
        data=data,
    )


# --- runs ---------------------------------------------------------------------------------------


def apply_requested_event(
    *,
    run: ImportRun,
    acting_user: User | None,
    safeguard_confirmed: bool = False,
    api_token: str = "",
) -> AuditEvent:
    """Record that a ready run was marked for applying (by a person, an API token named by
    `api_token`, or the schedule)."""
    data: dict = {"safeguard_confirmed": safeguard_confirmed}
    if api_token:
        data["api_token"] = api_token
    return _run_event(Kind.APPLY_REQUESTED, run, acting_user, **data)


def input_corrected_event(*, run: ImportRun, acting_user: User | None) -> AuditEvent:
    """Record that `run` was made from another run's file corrected in the browser."""
    return _run_event(
        Kind.INPUT_CORRECTED,
        run,
        acting_user,
        corrects=run.corrects_id,
        cells=run.corrected_cells,
        rows_dropped=run.dropped_rows,
    )


def held_run_approved_event(*, run: ImportRun, acting_user: User | None) -> AuditEvent:
    """Record that an admin approved a run a safeguard held."""
    return _run_event(Kind.HELD_RUN_APPROVED, run, acting_user)


def held_run_discarded_event(*, run: ImportRun, acting_user: User | None) -> AuditEvent:
    """Record that an admin discarded a run a safeguard held."""
    return _run_event(Kind.HELD_RUN_DISCARDED, run, acting_user)


def same_person_confirmed_event(
    *, run: ImportRun, acting_user: User | None, pair: dict, api_token: str = ""
) -> AuditEvent:
    """Record that an admin (or an API token, named by `api_token`) confirmed a pair of `run`
    as the same person with a new address: `pair` as the preview offered it
    (importer.pipeline.same_person.SamePersonPair.as_dict)."""
    data = {
        "user_id": pair["user_id"],
        "old_email": pair["old_email"],
        "new_email": pair["new_email"],
        "row": pair.get("row"),
        "name": pair.get("name", ""),
    }
    if api_token:
        data["api_token"] = api_token
    return _run_event(Kind.SAME_PERSON_CONFIRMED, run, acting_user, **data)


def revert_created_event(*, run: ImportRun, acting_user: User | None) -> AuditEvent:
    """Record that `run`, the revert of an applied run, was created (previewed, not applied)."""
    return _run_event(Kind.REVERT_CREATED, run, acting_user, reverts=run.reverts_id)


def run_retried_event(
    *, run: ImportRun, status: str, attempt: int | None = None, of: int | None = None
) -> AuditEvent:
    """Record that a run stuck in `status` was handed to a worker again (by the system).

    `attempt` (of `of`) is set when its worker stopped; without it, no worker had taken it up.
    """
    if attempt is None:
        return _run_event(Kind.RUN_RETRIED, run, None, status=status)
    return _run_event(Kind.RUN_RETRIED, run, None, status=status, attempt=attempt, of=of)


# --- the organization's configuration ----------------------------------------------------------


def options_changed_event(
    *, organization: Organization, acting_user: User | None, changes: dict
) -> AuditEvent:
    """Record that the import options changed; `changes` is {option: [old, new]}."""
    return AuditEvent.objects.create(
        organization=organization,
        kind=Kind.OPTIONS_CHANGED,
        acting_user=acting_user,
        data={"changes": changes},
    )


def sync_protection_changed_event(
    *, user: User, acting_user: User | None, old: str, new: str
) -> AuditEvent:
    """Record that `user` is kept out of sync, or no longer; `old` and `new` as people read them."""
    return AuditEvent.objects.create(
        organization_id=user.organization_id,
        kind=Kind.SYNC_PROTECTION_CHANGED,
        acting_user=acting_user,
        data={"user_id": user.pk, "email": user.email, "old": old, "new": new},
    )


def attribute_event(
    *, kind: str, organization: Organization, acting_user: User | None, key: str, name: str, **data
) -> AuditEvent:
    """Record that a custom attribute was added, changed or deleted (`kind`: ATTRIBUTE_*).

    `key` and `name` name it as it was; `data` adds what the kind needs (the changes made, or
    how many people's values a deletion removed).
    """
    return AuditEvent.objects.create(
        organization=organization,
        kind=kind,
        acting_user=acting_user,
        data={"key": key, "name": name, **data},
    )


# --- the automatic import ----------------------------------------------------------------------


def remote_settings_changed_event(
    *, source: RemoteSource, acting_user: User | None, changed: list[str]
) -> AuditEvent:
    """Record that the company admin changed the automatic import's settings (their names)."""
    return _source_event(Kind.REMOTE_SETTINGS_CHANGED, source, acting_user, changed=changed)


def remote_enabled_event(*, source: RemoteSource, acting_user: User | None) -> AuditEvent:
    """Record that support staff turned automatic import on."""
    return _source_event(Kind.REMOTE_ENABLED, source, acting_user)


def remote_disabled_event(*, source: RemoteSource, acting_user: User | None) -> AuditEvent:
    """Record that support staff turned automatic import off."""
    return _source_event(Kind.REMOTE_DISABLED, source, acting_user)


# --- support staff ------------------------------------------------------------------------------


def acting_as_started_event(*, organization: Organization, acting_user: User) -> AuditEvent:
    """Record that a support user opened the organization's import screens."""
    return AuditEvent.objects.create(
        organization=organization, kind=Kind.ACTING_AS_STARTED, acting_user=acting_user
    )


def acting_as_stopped_event(
    *, organization: Organization, acting_user: User, reason: str
) -> AuditEvent:
    """Record that a support user left the organization's import screens, and why.

    `reason` is one of users.access's: stopped, expired, withdrawn, switched, reopened,
    logged_out.
    """
    return AuditEvent.objects.create(
        organization=organization,
        kind=Kind.ACTING_AS_STOPPED,
        acting_user=acting_user,
        data={"reason": reason},
    )


def support_downloaded_event(
    *,
    organization: Organization,
    acting_user: User,
    what: str,
    filename: str,
    run: ImportRun | None = None,
) -> AuditEvent:
    """Record that a support user acting for the organization downloaded a file.

    `what` names the download (importer.history.activity.DOWNLOADS); `filename` is the name
    the file was sent under.
    """
    return AuditEvent.objects.create(
        organization=organization,
        kind=Kind.SUPPORT_DOWNLOADED,
        acting_user=acting_user,
        run=run,
        data={"what": what, "filename": filename},
    )


# --- API tokens ---------------------------------------------------------------------------------


def api_token_created_event(*, token, acting_user: User | None) -> AuditEvent:
    """Record that a company admin made an API token (its name and scopes, never its secret)."""
    return AuditEvent.objects.create(
        organization_id=token.organization_id,
        kind=Kind.API_TOKEN_CREATED,
        acting_user=acting_user,
        data={"token": token.name, "scopes": list(token.scopes)},
    )


def api_token_revoked_event(*, token, acting_user: User | None) -> AuditEvent:
    """Record that an API token was revoked (by a company admin or by support)."""
    return AuditEvent.objects.create(
        organization_id=token.organization_id,
        kind=Kind.API_TOKEN_REVOKED,
        acting_user=acting_user,
        data={"token": token.name},
    )
