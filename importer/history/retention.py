"""Retention: stored input files are deleted once they are old enough; runs and changes stay."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from django.db import transaction

from importer.models import ImportRun

logger = logging.getLogger(__name__)
BATCH_SIZE = 500


def delete_expired_inputs(*, now: dt.datetime, retention_days: int) -> int:
    """Delete the stored input of every run created more than `retention_days` before `now`.

    The run keeps its name, size and checksum and every change; `input_deleted_at` records when
    the file went, and the run page says it is no longer stored. Runs still being previewed or
    applied keep their file. A `retention_days` of 0 keeps inputs forever. Return how many
    files were deleted; safe to run twice at once (each run is claimed by a conditional update).
    """
    if retention_days <= 0:
        return 0
    cutoff = now - dt.timedelta(days=retention_days)
    expired = (
        ImportRun.objects.filter(created_at__lt=cutoff)
        .exclude(input_file="")
        .exclude(status__in=ImportRun.RUNNING_STATUSES)
        .order_by("id")
    )
    deleted = 0
    last_id = 0
    while True:
        batch = list(expired.filter(id__gt=last_id).values_list("id", "input_file")[:BATCH_SIZE])
        if not batch:
            return deleted
        last_id = batch[-1][0]
        for run_id, name in batch:
            with transaction.atomic():
                # The column matching step's sample values are the file's too: they go with it.
                claimed = ImportRun.objects.filter(pk=run_id, input_file=name).update(
                    input_file="", input_deleted_at=now, column_matching=[]
                )
                if not claimed:
                    continue  # Another worker got there first.
                # Inside the transaction: if deleting the file fails, the row is rolled back and
                # still names the file, so the next run tries again.
                ImportRun._meta.get_field("input_file").storage.delete(name)
            deleted += 1


def delete_orphan_inputs(*, now: dt.datetime, older_than: dt.timedelta) -> int:
    """Delete stored files that no run names, last changed more than `older_than` before `now`.

    Left behind by a process killed between writing a file and saving its run, or by a write
    that failed half-way (the temporary `.part` files of importer.storage). Files younger than
    `older_than` are left alone: their run may be about to be saved. Return how many went.
    """
    storage = ImportRun._meta.get_field("input_file").storage
    root = Path(storage.location) / "imports"
    if not root.is_dir():
        return 0
    named = set(ImportRun.objects.exclude(input_file="").values_list("input_file", flat=True))
    cutoff = (now - older_than).timestamp()
    deleted = 0
    for path in root.rglob("*"):
        if not path.is_file() or path.stat().st_mtime > cutoff:
            continue
        if path.relative_to(storage.location).as_posix() in named:
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue  # Another sweep got there first.
        logger.info("Deleted %s: no run names it", path)
        deleted += 1
    return deleted
