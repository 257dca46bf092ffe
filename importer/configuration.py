"""The organization's import options and the users it keeps out of sync: reads and writes.

Every write records who changed what in ImportConfigChange (the Configuration tab's change log)
and as an audit event (History's Activity), in the same transaction.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from importer.models import ImportConfig, ImportConfigChange
from importer.pipeline.headers import IGNORED
from importer.pipeline.types import FIELD_LABELS, OPTION_LABELS
from importer.runs import events
from users.models import Organization, User

# The options the Configuration form edits, in the order the change log lists them.
OPTIONS: tuple[str, ...] = tuple(OPTION_LABELS)

# Log keys for a user's protection (kind SYNC_PROTECTION): "kept_out_of_sync:<email>".
PROTECTION_KEY = "kept_out_of_sync:"
# Log keys for the automatic import's settings (kind REMOTE_SETTINGS): "remote:<setting>"
# (importer.remote.services writes them).
REMOTE_KEY = "remote:"
REMOTE_LABELS: dict[str, str] = {
    "url": "Automatic import: server URL",
    "auth": "Automatic import: authentication",
    "username": "Automatic import: username",
    "header_name": "Automatic import: header name",
    "secret": "Automatic import: password or token",
    "file_format": "Automatic import: file format",
    "cadence": "Automatic import: how often",
    "daily_hour": "Automatic import: hour of the day",
}


def config_for(organization: Organization) -> ImportConfig:
    """Return the organization's import configuration, created with the defaults if needed."""
    config, _created = ImportConfig.objects.get_or_create(organization=organization)
    return config


def option_values(config: ImportConfig) -> dict:
    """Return the options of `config` as plain values, keyed like OPTIONS."""
    return {name: getattr(config, name) for name in OPTIONS}


def update_config(organization: Organization, values: dict, *, acting_user: User | None) -> dict:
    """Save new option values; return {option: [old, new]} of what changed ({} for nothing).

    `values` holds validated options (see ImportConfigForm); lists are stored sorted so that
    saving the same choices twice is no change.
    """
    with transaction.atomic():
        config, _created = ImportConfig.objects.select_for_update().get_or_create(
            organization=organization
        )
        changes = {}
        for name in OPTIONS:
            if name not in values:
                continue
            new = _canonical(name, values[name])
            old = _canonical(name, getattr(config, name))
            if new != old:
                changes[name] = [old, new]
                setattr(config, name, new)
        if changes:
            config.updated_by = acting_user
            config.save()
            ImportConfigChange.objects.create(
                organization=organization,
                changed_by=acting_user,
                kind=ImportConfigChange.Kind.OPTIONS,
                changes=changes,
            )
            events.options_changed_event(
                organization=organization, acting_user=acting_user, changes=changes
            )
    return changes


def _canonical(name: str, value):
    if name in ("update_fields", "clear_blank_fields"):
        return sorted(set(value or []))
    if name == "column_mapping":
        return dict(sorted((value or {}).items(), key=lambda item: item[0].casefold()))
    return value


def protection_text(user: User, today: dt.date) -> str:
    """Return a user's protection as the People list and the change log show it."""
    if not user.is_sync_protected:
        return "No"
    if not user.is_protected_on(today):
        return f"No (ended {user.sync_protected_until:%d %b %Y})"
    if user.sync_protected_until is None:
        return "Yes, with no end date"
    return f"Yes, until {user.sync_protected_until:%d %b %Y}"


def set_sync_protection(
    user: User,
    *,
    protected: bool,
    until: dt.date | None,
    acting_user: User | None,
    today: dt.date,
) -> bool:
    """Keep `user` out of sync (until a day, or with no end) or stop; return whether it changed.

    The change is logged with the organization's option changes.
    """
    until = until if protected else None
    if (user.is_sync_protected, user.sync_protected_until) == (protected, until):
        return False
    old = protection_text(user, today)
    with transaction.atomic():
        user.is_sync_protected = protected
        user.sync_protected_until = until
        user.save(update_fields=["is_sync_protected", "sync_protected_until"])
        new = protection_text(user, today)
        ImportConfigChange.objects.create(
            organization_id=user.organization_id,
            changed_by=acting_user,
            kind=ImportConfigChange.Kind.SYNC_PROTECTION,
            changes={f"{PROTECTION_KEY}{user.email}": [old, new]},
        )
        events.sync_protection_changed_event(user=user, acting_user=acting_user, old=old, new=new)
    return True


def describe_changes(changes: dict, *, kind: str) -> list[tuple[str, str, str]]:
    """Return a change log entry of `kind` as (what, old, new) lines that people read."""
    Kind = ImportConfigChange.Kind
    lines = []
    for key, (old, new) in changes.items():
        if kind == Kind.SYNC_PROTECTION:
            lines.append((f"Kept out of sync: {key.removeprefix(PROTECTION_KEY)}", old, new))
        elif kind == Kind.REMOTE_SETTINGS:
            name = key.removeprefix(REMOTE_KEY)
            lines.append((REMOTE_LABELS.get(name, name), str(old) or "None", str(new) or "None"))
        else:
            lines.append(
                (OPTION_LABELS.get(key, key), _value_text(key, old), _value_text(key, new))
            )
    return lines


def _column_text(field: str) -> str:
    return "Not imported" if field == IGNORED else FIELD_LABELS.get(field, field)


def _value_text(name: str, value) -> str:
    if isinstance(value, bool):
        return "On" if value else "Off"
    if name in ("update_fields", "clear_blank_fields"):
        return ", ".join(FIELD_LABELS.get(field, field) for field in value) or "None"
    if name == "column_mapping":
        return (
            "; ".join(f"“{header}” → {_column_text(field)}" for header, field in value.items())
            or "None"
        )
    if name in ("max_deactivation_count", "max_field_change_count"):
        return "No limit" if value is None else f"{value:,}"
    if name in ("max_deactivation_percent", "min_row_ratio_percent", "max_field_change_percent"):
        return f"{value} %"
    return str(value)
