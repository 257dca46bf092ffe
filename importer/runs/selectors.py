"""Reads about runs that more than one caller needs; no writes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import orjson
from django.db import connection
from django.db.models import F, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from importer.models import ImportChange, ImportRun
from importer.pipeline.types import FIELD_LABELS, AttributeSpec, AttributeType
from users.models import CustomAttribute, User


def last_applied_file_runs(organization_id: int, *, excluding: int | None = None) -> QuerySet:
    """Return the organization's applied imports from a file, the last applied first.

    A revert has no file of its own, so it is never the "last import" the row-count safeguard
    compares with, nor the file a scheduled sync would take up again.
    """
    runs = ImportRun.objects.filter(
        organization_id=organization_id, status=ImportRun.Status.APPLIED
    ).exclude(source=ImportRun.Source.REVERT)
    if excluding is not None:
        runs = runs.exclude(pk=excluding)
    return runs.order_by(F("finished_at").desc(nulls_last=True), "-id")


def last_applied_row_count(organization_id: int, *, excluding: int | None = None) -> int | None:
    """Return the row count of the organization's last applied import from a file."""
    runs = last_applied_file_runs(organization_id, excluding=excluding)
    return runs.values_list("row_count", flat=True).first()


def last_applied_sha256(organization_id: int) -> str:
    """Return the SHA-256 of the organization's last applied input file ("" if none)."""
    runs = last_applied_file_runs(organization_id).exclude(input_sha256="")
    return runs.values_list("input_sha256", flat=True).first() or ""


def filter_runs(
    runs_qs: QuerySet,
    *,
    status: str = "",
    source: str = "",
    since: dt.date | None = None,
    until: dt.date | None = None,
    with_changes: bool = False,
) -> QuerySet:
    """Return the runs matching the History filters; dates are whole days in local time."""
    if status:
        runs_qs = runs_qs.filter(status=status)
    if source:
        runs_qs = runs_qs.filter(source=source)
    if since:
        runs_qs = runs_qs.filter(created_at__gte=_start_of(since))
    if until:
        runs_qs = runs_qs.filter(created_at__lt=_start_of(until + dt.timedelta(days=1)))
    if with_changes:
        runs_qs = runs_qs.filter(
            Q(new_count__gt=0)
            | Q(changed_count__gt=0)
            | Q(deactivated_count__gt=0)
            | Q(reactivated_count__gt=0)
        )
    return runs_qs


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def search_changes(
    changes: QuerySet, query: str, *, organization_id: int | None = None
) -> QuerySet:
    """Return the changes whose person matches every word of `query` (name or email).

    Names are searched on the user as they are now and in the run's own old and new values, so
    a person is found by the name the run gave them or took away, and a preview's new users
    (who have no user yet) by the name in the file. The users come along (the page shows names).

    At a million changes the cost is in reading each row: a change is matched on its stored
    search text (ImportChange.search_text: email, old and new names), and the users whose name
    matches now are found once among `organization_id`'s users, not joined to every change.
    Changes stored before the search text existed are matched on their email and JSON values.
    """
    changes = changes.select_related("user")
    users = User.objects.all()
    if organization_id is not None:
        users = users.filter(organization_id=organization_id)
    for word in query.split()[:10]:
        named = users.filter(Q(first_name__icontains=word) | Q(last_name__icontains=word))
        stored_before = Q(search_text="") & (
            Q(email__icontains=word)
            | Q(fields__first_name__0__icontains=word)
            | Q(fields__first_name__1__icontains=word)
            | Q(fields__last_name__0__icontains=word)
            | Q(fields__last_name__1__icontains=word)
        )
        changes = changes.filter(
            Q(search_text__contains=word.lower())
            | Q(user_id__in=named.values("pk"))
            | stored_before
        )
    return changes


def run_as_json(run: ImportRun, *, changes_page: tuple[int, int] | None = None) -> dict:
    """Return a run as `import_users --json` prints it and the API serves it.

    Every change and skipped change by default; with `changes_page` (offset, limit) only that
    slice of each, for the API, which adds the totals so that a script can page on.
    `import_users` streams the same object (`run_summary`, then `change_items`) instead of
    building it: a run of a million changes is hundreds of megabytes of JSON.
    """
    made, skipped = _made(run), _skipped(run)
    if changes_page is not None:
        offset, limit = changes_page
        made, skipped = made[offset : offset + limit], skipped[offset : offset + limit]
    return {
        **run_summary(run),
        "changes": [
            {"action": action, "email": email, "row": row, "fields": fields}
            for action, email, row, fields in made.values_list("action", "email", "row", "fields")
        ],
        "skipped": [
            {"action": action, "email": email, "row": row, "fields": fields, "reason": reason}
            for action, email, row, fields, reason in skipped.values_list(
                "action", "email", "row", "fields", "skipped_reason"
            )
        ],
    }


def attribute_specs(organization_id: int) -> tuple[AttributeSpec, ...]:
    """Return the organization's custom attributes as the pipeline reads them, in order."""
    return tuple(
        AttributeSpec(
            key=attribute.key,
            name=attribute.name,
            type=AttributeType(attribute.type),
            choices=tuple(attribute.choices or ()),
            column_names=tuple(attribute.column_names or ()),
        )
        for attribute in CustomAttribute.objects.filter(organization_id=organization_id)
    )


def run_attributes(run: ImportRun) -> tuple[AttributeSpec, ...]:
    """Return the custom attributes as they were defined when `run` was previewed.

    Read from the run's copy of its options (run.policy["attributes"]), so that its changes
    keep their names after an attribute is renamed or deleted. A revert, which keeps no options
    of its own, reads the run it reverts'. () for a run made before custom attributes existed.
    """
    items = (run.policy or {}).get("attributes")
    if items is None and run.reverts_id:
        items = (run.reverts.policy or {}).get("attributes")
    specs = []
    for item in items or ():
        try:
            kind = AttributeType(item.get("type", AttributeType.TEXT))
        except ValueError:
            kind = AttributeType.TEXT
        specs.append(
            AttributeSpec(
                key=item["key"],
                name=item.get("name") or item["key"],
                type=kind,
                choices=tuple(item.get("choices") or ()),
                column_names=tuple(item.get("column_names") or ()),
            )
        )
    return tuple(specs)


# History's short names of the fields a change touches ("Title ×3 · Manager ×1").
SUMMARY_LABELS = {**FIELD_LABELS, "manager_email": "Manager"}


def changed_field_counts(
    run_ids: list[int], *, attributes: dict[int, tuple[AttributeSpec, ...]] | None = None
) -> dict[int, list[tuple[str, int]]]:
    """Return, for each run, how many of its changed users had each field changed.

    One grouped query for all of `run_ids` (a page of History), whatever their size: the
    database counts the keys of the changes' {field: [old, new]} JSON. Fields in the order of
    the import format, then each run's custom attributes in their order (named as in
    `attributes`, {run id: run_attributes(run)}); runs without changed users are absent.
    """
    if not run_ids:
        return {}
    table = connection.ops.quote_name(ImportChange._meta.db_table)
    if connection.vendor == "postgresql":
        keys = "CROSS JOIN LATERAL jsonb_object_keys(c.fields) AS k(key)"
    else:
        keys = "CROSS JOIN json_each(c.fields) AS k"
    placeholders = ", ".join(["%s"] * len(run_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.run_id, k.key, COUNT(*) FROM {table} AS c {keys} "
            f"WHERE c.run_id IN ({placeholders}) AND c.action = %s AND c.skipped_reason = '' "
            "GROUP BY c.run_id, k.key",
            [*run_ids, str(ImportChange.Action.UPDATE)],
        )
        rows = cursor.fetchall()
    attributes = attributes or {}
    labels_of = {
        run_id: {**SUMMARY_LABELS, **{spec.field: spec.name for spec in specs}}
        for run_id, specs in attributes.items()
    }
    counts: dict[int, list[tuple[str, int]]] = {}
    orders: dict[int, dict[str, int]] = {}
    for run_id, key, count in rows:
        labels = labels_of.get(run_id, SUMMARY_LABELS)
        if key in labels:
            counts.setdefault(run_id, []).append((key, count))
    for run_id, items in counts.items():
        labels = labels_of.get(run_id, SUMMARY_LABELS)
        order = orders.setdefault(run_id, {name: index for index, name in enumerate(labels)})
        items.sort(key=lambda item: order[item[0]])
        counts[run_id] = [(labels[key], count) for key, count in items]
    return counts


def run_summary(run: ImportRun) -> dict:
    """Return `run_as_json(run)` without its "changes" and "skipped" (which come last)."""

    def issue(item: dict) -> dict:
        return {key: item[key] for key in ("row", "column", "value", "code", "message")}

    return {
        "run": run.pk,
        "status": run.status,
        "message": run.message,
        "counts": run.counts,
        "errors": [issue(item) for item in run.errors],
        "warnings": [issue(item) for item in run.warnings],
        "safeguard": run.safeguard_message,
        # The limits the preview passed ({kind: changes past it}), and the held part links of
        # "apply what is within the limits, hold the rest".
        "limits_passed": dict(run.limits_passed or {}),
        "held_part_of": run.held_part_of_id,
        "held_parts": list(run.held_parts.order_by("pk").values_list("pk", flat=True)),
    }


def change_items(run: ImportRun, *, skipped: bool, chunk_size: int = 2000) -> Iterator[str]:
    """Yield the JSON text of each item of `run_as_json(run)["changes"]` (or "skipped").

    The rows are read `chunk_size` at a time (a server-side cursor on PostgreSQL), and each
    change's fields go out as the database holds their JSON, never parsed in Python.
    """
    changes = _skipped(run) if skipped else _made(run)
    rows = changes.annotate(fields_text=Cast("fields", TextField())).values_list(
        "action", "email", "row", "fields_text", "skipped_reason"
    )
    text = _json_text
    for action, email, row, fields, reason in rows.iterator(chunk_size=chunk_size):
        item = (
            f'{{"action": {text(action)}, "email": {text(email)}, '
            f'"row": {"null" if row is None else row}, "fields": {fields}'
        )
        yield f'{item}, "reason": {text(reason)}}}' if skipped else item + "}"


def _json_text(value: str) -> str:
    """Return `value` as a JSON string, exactly as json.dumps(value, ensure_ascii=False) writes
    it, in a tenth of the time (orjson): it runs twice for each of a million changes."""
    return orjson.dumps(value).decode()


def _made(run: ImportRun) -> QuerySet:
    return run.changes.filter(skipped_reason="").order_by("id")


def _skipped(run: ImportRun) -> QuerySet:
    return run.changes.exclude(skipped_reason="").order_by("id")
