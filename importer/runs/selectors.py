"""Reads about runs that more than one caller needs; no writes."""

from __future__ import annotations

from django.db.models import F, Q, QuerySet

from importer.models import ImportRun


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


def search_changes(changes: QuerySet, query: str) -> QuerySet:
    """Return the changes whose person matches every word of `query` (name or email).

    Names are searched on the user as they are now and in the run's own old and new values, so
    a person is found by the name the run gave them or took away, and a preview's new users
    (who have no user yet) by the name in the file. The users come along (the page shows names).
    """
    changes = changes.select_related("user")
    for word in query.split()[:10]:
        changes = changes.filter(
            Q(email__icontains=word)
            | Q(user__first_name__icontains=word)
            | Q(user__last_name__icontains=word)
            | Q(fields__first_name__0__icontains=word)
            | Q(fields__first_name__1__icontains=word)
            | Q(fields__last_name__0__icontains=word)
            | Q(fields__last_name__1__icontains=word)
        )
    return changes
