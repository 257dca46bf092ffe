"""Per-company limits, so one company cannot slow every other: runs waiting for a worker, and
bytes of stored input files.

    >>> check_room(organization, new_bytes=len(data))   # before storing a new run's input
    >>> check_room(organization, new_bytes=0)           # before queueing a Fetch (size unknown)

Both are checked when a run is created (a count and a sum over the organization's runs): two
requests at the same instant may both pass, so a limit can be overshot by a run or so, never
more than that.
"""

from django.conf import settings
from django.db.models import Sum
from django.template.defaultfilters import filesizeformat

from importer.models import ImportRun
from users.models import Organization

# Runs that hold or wait for a worker's preview.
WAITING = (ImportRun.Status.QUEUED, ImportRun.Status.PREVIEWING)


class LimitReached(Exception):
    """The organization is at one of its limits; the message says which and what to do."""


def check_room(organization: Organization, *, new_bytes: int, new_run: bool = True) -> None:
    """Raise LimitReached if a new run (`new_run`) or `new_bytes` more stored input is too much."""
    runs = ImportRun.objects.filter(organization=organization)
    cap = settings.IMPORT_MAX_QUEUED_RUNS_PER_ORG
    if new_run and cap and runs.filter(status__in=WAITING).count() >= cap:
        raise LimitReached(
            f"Your organization already has {cap} imports waiting for their preview. Wait for "
            "them to finish (their pages show their progress), then try again."
        )
    quota = settings.IMPORT_ORG_STORAGE_QUOTA_BYTES
    if quota and new_bytes:
        used = runs.exclude(input_file="").aggregate(total=Sum("input_size"))["total"] or 0
        if used + new_bytes > quota:
            raise LimitReached(
                f"Your organization's stored import files take {filesizeformat(used)} of its "
                f"{filesizeformat(quota)} of space, and this file needs "
                f"{filesizeformat(new_bytes)} more. Files of older imports are deleted after "
                "the retention period; to import now, ask support to raise the quota."
            )
