"""The organization's import options, custom attributes and the users it keeps out of sync.

Every write records who changed what in ImportConfigChange (the Configuration tab's change log)
and as an audit event (History's Activity), in the same transaction.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F, Func, JSONField, TextField, Value
from django.db.models.functions import Cast
from django.utils.text import slugify

from importer.models import AuditEvent, ImportConfig, ImportConfigChange, default_update_fields
from importer.pipeline.headers import IGNORED
from importer.pipeline.types import (
    ATTRIBUTE_PREFIX,
    FIELD_LABELS,
    MAX_ATTRIBUTES,
    OPTION_LABELS,
    is_attribute,
)
from importer.runs import events
from users.models import CustomAttribute, Organization, User

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


# Log keys for a custom attribute's definition (kind ATTRIBUTES): "attribute:<key>".
ATTRIBUTE_KEY = "attribute:"
# Log key for the attributes' order (kind ATTRIBUTES): [old names, new names].
ATTRIBUTE_ORDER_KEY = "attribute_order"
# The longest key made from a name (CustomAttribute.key holds 40 characters).
KEY_LENGTH = 32


def config_for(organization: Organization) -> ImportConfig:
    """Return the organization's import configuration, created with the defaults if needed."""
    config, _created = ImportConfig.objects.get_or_create(
        organization=organization, defaults=_defaults(organization)
    )
    return config


def _defaults(organization: Organization) -> dict:
    # Without a configuration row imports may change every field, custom attributes included
    # (runs.options_for): the row, once made, starts out the same.
    attributes = CustomAttribute.objects.filter(organization=organization)
    fields = [ATTRIBUTE_PREFIX + key for key in attributes.values_list("key", flat=True)]
    return {"update_fields": [*default_update_fields(), *fields]}


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
            organization=organization, defaults=_defaults(organization)
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


def describe_changes(
    changes: dict, *, kind: str, labels: dict[str, str] | None = None
) -> list[tuple[str, str, str]]:
    """Return a change log entry of `kind` as (what, old, new) lines that people read.

    `labels` names the fields (field_labels() of the organization's custom attributes).
    """
    Kind = ImportConfigChange.Kind
    labels = labels or FIELD_LABELS
    lines = []
    for key, (old, new) in changes.items():
        if key.startswith(ATTRIBUTE_KEY):
            lines.append(("Custom attribute", old or "None", new or "None"))
        elif key == ATTRIBUTE_ORDER_KEY:
            lines.append(("Order of the custom attributes", ", ".join(old), ", ".join(new)))
        elif kind == Kind.SYNC_PROTECTION:
            lines.append((f"Kept out of sync: {key.removeprefix(PROTECTION_KEY)}", old, new))
        elif kind == Kind.REMOTE_SETTINGS:
            name = key.removeprefix(REMOTE_KEY)
            lines.append((REMOTE_LABELS.get(name, name), str(old) or "None", str(new) or "None"))
        else:
            lines.append(
                (
                    OPTION_LABELS.get(key, key),
                    _value_text(key, old, labels),
                    _value_text(key, new, labels),
                )
            )
    return lines


def field_name(field: str, labels: dict[str, str]) -> str:
    """Return a field as people read it; a deleted attribute by its key ("Cost centre")."""
    if field in labels:
        return labels[field]
    if is_attribute(field):
        return field.removeprefix(ATTRIBUTE_PREFIX).replace("_", " ").capitalize()
    return field


def _column_text(field: str, labels: dict[str, str]) -> str:
    return "Not imported" if field == IGNORED else field_name(field, labels)


def _value_text(name: str, value, labels: dict[str, str] = FIELD_LABELS) -> str:
    if isinstance(value, bool):
        return "On" if value else "Off"
    if name in ("update_fields", "clear_blank_fields"):
        return ", ".join(field_name(field, labels) for field in value) or "None"
    if name == "column_mapping":
        return (
            "; ".join(
                f"“{header}” → {_column_text(field, labels)}" for header, field in value.items()
            )
            or "None"
        )
    if name in ("max_deactivation_count", "max_field_change_count"):
        return "No limit" if value is None else f"{value:,}"
    if name in ("max_deactivation_percent", "min_row_ratio_percent", "max_field_change_percent"):
        return f"{value} %"
    return str(value)


# --- custom attributes -------------------------------------------------------------------------


class AttributeRefused(ValueError):
    """A custom attribute cannot be added as asked (the limit, or a name taken meanwhile)."""


def make_attribute_key(name: str, taken) -> str:
    """Return the stable key of a new attribute named `name`: "Cost centre" → "cost_centre".

    A slug with underscores, starting with a letter ("2nd location" → "a_2nd_location"), made
    unique among `taken` with a number ("level_2").
    """
    base = slugify(name).replace("-", "_")[:KEY_LENGTH].strip("_") or "attribute"
    if not base[0].isalpha():
        base = f"a_{base}"[:KEY_LENGTH]
    key, number = base, 2
    while key in taken:
        key = f"{base}_{number}"
        number += 1
    return key


def attribute_text(attribute: CustomAttribute) -> str:
    """Return a definition as the change log shows it: "Level (One of a list: 1, 2, 3; also
    read from “Grade”)"."""
    kind = CustomAttribute.Type(attribute.type).label
    if attribute.type == CustomAttribute.Type.CHOICE:
        kind = f"{kind}: {', '.join(attribute.choices)}"
    also = ", ".join(f"“{header}”" for header in attribute.column_names or ())
    return f"{attribute.name} ({kind}{f'; also read from {also}' if also else ''})"


def attribute_value_count(attribute: CustomAttribute) -> int:
    """Return how many of the organization's people have a value for `attribute`."""
    return User.objects.filter(
        organization_id=attribute.organization_id, attributes__has_key=attribute.key
    ).count()


def create_attribute(
    organization: Organization,
    *,
    name: str,
    type: str,
    choices: list[str],
    column_names: list[str],
    acting_user: User | None,
) -> CustomAttribute:
    """Add a custom attribute (validated by CustomAttributeForm) and let imports change it.

    Its field joins the options' "fields imports may change" when the organization has saved
    options (without them, every attribute may change). Refused past MAX_ATTRIBUTES, or when
    another admin took the name meanwhile. Logged and audited.
    """
    with transaction.atomic():
        _lock(organization)
        existing = list(CustomAttribute.objects.filter(organization=organization))
        if len(existing) >= MAX_ATTRIBUTES:
            raise AttributeRefused(limit_message())
        for other in existing:
            if other.name.casefold() == name.casefold():
                raise AttributeRefused(f"There is already an attribute named “{other.name}”.")
        attribute = CustomAttribute.objects.create(
            organization=organization,
            key=make_attribute_key(name, {other.key for other in existing}),
            name=name,
            type=type,
            choices=list(choices) if type == CustomAttribute.Type.CHOICE else [],
            column_names=list(column_names),
            position=max((other.position for other in existing), default=-1) + 1,
        )
        changes = {f"{ATTRIBUTE_KEY}{attribute.key}": ["", attribute_text(attribute)]}
        config = ImportConfig.objects.select_for_update().filter(organization=organization).first()
        field = ATTRIBUTE_PREFIX + attribute.key
        if config is not None and field not in (config.update_fields or []):
            old = _canonical("update_fields", config.update_fields)
            config.update_fields = _canonical("update_fields", [*old, field])
            config.updated_by = acting_user
            config.save(update_fields=["update_fields", "updated_by", "updated_at"])
            changes["update_fields"] = [old, config.update_fields]
        _log_attribute(
            AuditEvent.Kind.ATTRIBUTE_CREATED, attribute, changes, acting_user=acting_user
        )
    return attribute


def limit_message() -> str:
    return (
        f"Your organization has {MAX_ATTRIBUTES} custom attributes, the most it can have. "
        "Delete one you no longer use to add another."
    )


def update_attribute(
    attribute: CustomAttribute,
    *,
    name: str,
    choices: list[str],
    column_names: list[str],
    acting_user: User | None,
) -> bool:
    """Rename an attribute or change its choices or column names; return whether it changed.

    Its key and type stay: the users' values and past runs name it by its key. Values already
    stored are kept as they are.
    """
    old = attribute_text(attribute)
    attribute.name = name
    if attribute.type == CustomAttribute.Type.CHOICE:
        attribute.choices = list(choices)
    attribute.column_names = list(column_names)
    new = attribute_text(attribute)
    if new == old:
        return False
    with transaction.atomic():
        attribute.save(update_fields=["name", "choices", "column_names"])
        changes = {f"{ATTRIBUTE_KEY}{attribute.key}": [old, new]}
        _log_attribute(
            AuditEvent.Kind.ATTRIBUTE_CHANGED, attribute, changes, acting_user=acting_user
        )
    return True


def move_attribute(attribute: CustomAttribute, *, up: bool, acting_user: User | None) -> bool:
    """Move an attribute one place up or down the list; return whether it moved.

    The order is the one screens and the users download list the attributes in.
    """
    with transaction.atomic():
        _lock(attribute.organization)
        ordered = list(CustomAttribute.objects.filter(organization_id=attribute.organization_id))
        index = next(i for i, other in enumerate(ordered) if other.pk == attribute.pk)
        target = index - 1 if up else index + 1
        if not 0 <= target < len(ordered):
            return False
        old = [other.name for other in ordered]
        ordered[index], ordered[target] = ordered[target], ordered[index]
        for position, other in enumerate(ordered):
            other.position = position
        CustomAttribute.objects.bulk_update(ordered, ["position"])
        changes = {ATTRIBUTE_ORDER_KEY: [old, [other.name for other in ordered]]}
        _log_attribute(
            AuditEvent.Kind.ATTRIBUTE_CHANGED, attribute, changes, acting_user=acting_user
        )
    return True


def delete_attribute(attribute: CustomAttribute, *, acting_user: User | None) -> int:
    """Delete an attribute and its values on every user of the organization (one UPDATE).

    Return how many people had a value. Each of them goes one version up (like an admin's
    save), so a preview made before no longer applies as it was. The options stop naming its
    field. Past runs keep their changes, labelled from their own copy of the definitions.
    """
    organization = attribute.organization
    field = ATTRIBUTE_PREFIX + attribute.key
    with transaction.atomic():
        _lock(organization)
        cleared = User.objects.filter(
            organization_id=attribute.organization_id, attributes__has_key=attribute.key
        ).update(attributes=_WithoutKey(F("attributes"), attribute.key), version=F("version") + 1)
        someone = "1 person" if cleared == 1 else f"{cleared:,} people"
        changes = {
            f"{ATTRIBUTE_KEY}{attribute.key}": [
                attribute_text(attribute),
                f"Deleted, with the values of {someone}",
            ]
        }
        config = ImportConfig.objects.select_for_update().filter(organization=organization).first()
        if config is not None:
            for option in ("update_fields", "clear_blank_fields", "column_mapping"):
                old = _canonical(option, getattr(config, option))
                if option == "column_mapping":
                    new = {header: name for header, name in old.items() if name != field}
                else:
                    new = [name for name in old if name != field]
                if new != old:
                    setattr(config, option, new)
                    changes[option] = [old, new]
            if len(changes) > 1:
                config.updated_by = acting_user
                config.save()
        _log_attribute(
            AuditEvent.Kind.ATTRIBUTE_DELETED,
            attribute,
            changes,
            acting_user=acting_user,
            people=cleared,
        )
        attribute.delete()
    return cleared


def _lock(organization: Organization) -> None:
    # The organization's row: an import being applied holds it, so a definition never changes
    # under an apply, and two admins adding the 20th attribute at once are counted in turn.
    Organization.objects.select_for_update().filter(pk=organization.pk).first()


def _log_attribute(
    kind: str, attribute: CustomAttribute, changes: dict, *, acting_user: User | None, **data
) -> None:
    ImportConfigChange.objects.create(
        organization_id=attribute.organization_id,
        changed_by=acting_user,
        kind=ImportConfigChange.Kind.ATTRIBUTES,
        changes=changes,
    )
    events.attribute_event(
        kind=kind,
        organization=attribute.organization,
        acting_user=acting_user,
        key=attribute.key,
        name=attribute.name,
        changes=changes,
        **data,
    )


class _WithoutKey(Func):
    """The JSON object `expression` without its member `key`."""

    output_field = JSONField()

    def __init__(self, expression, key: str):
        super().__init__(expression, Cast(Value(key), TextField()))

    def as_sql(self, compiler, connection, **extra):
        # SQLite's JSON1 (the embedded default): json_remove(attributes, '$."key"').
        (sql, params), (key_sql, key_params) = (
            compiler.compile(expression) for expression in self.source_expressions
        )
        return f"json_remove({sql}, '$.\"' || {key_sql} || '\"')", [*params, *key_params]

    def as_postgresql(self, compiler, connection, **extra):
        (sql, params), (key_sql, key_params) = (
            compiler.compile(expression) for expression in self.source_expressions
        )
        return f"({sql} - {key_sql})", [*params, *key_params]
