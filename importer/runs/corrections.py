"""Fixing a file's errors in the browser: the rows to edit, and the run of the corrected file.

A run with row errors stays as it is (invalid, with its own file and errors). Its corrected
file is the input of a new run that names it (ImportRun.corrects), queued for preview like an
upload: the worker reads, checks and compares it with the same pipeline as any file, and the
admin imports it from its own page. docs/architecture.md says why a new run rather than a
revision of the old one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import transaction

from importer.models import ImportRun
from importer.pipeline.attributes import header_names
from importer.pipeline.corrections import (
    CellCorrection,
    apply_corrections,
    cell_text,
    editable_columns,
    rows_numbered,
    table_as_csv,
)
from importer.pipeline.headers import fields_of, normalised_extra
from importer.pipeline.parse import read_table
from importer.pipeline.types import FileError, Table
from importer.runs import events
from importer.runs.limits import check_room
from importer.runs.selectors import run_attributes
from importer.runs.services import InputNotStored, options_for
from users.models import User

logger = logging.getLogger(__name__)
Status = ImportRun.Status


class CorrectionRefused(Exception):
    """The run's file cannot be corrected now; the message says why."""


@dataclass(frozen=True)
class RowToFix:
    """A row with errors, as the editing screen shows it."""

    number: int
    # (column index, header, value as the file has it) for each column shown.
    cells: list[tuple[int, str, str]]
    errors: list[dict]


def check_correctable(run: ImportRun) -> None:
    """Raise CorrectionRefused unless `run` is a preview with row errors that may be corrected.

    Only an invalid run is: a ready, applied, outdated or failed one is not corrected, and a run
    already corrected once is corrected through its newer run.
    """
    if run.status != Status.INVALID or not run.error_count:
        raise CorrectionRefused(
            f"This import is {run.get_status_display().lower()}: only a preview with errors "
            "can be corrected in the browser."
        )
    newer = run.corrected_by_runs.order_by("pk").first()
    if newer is not None:
        raise CorrectionRefused(
            f"This file was already corrected: its corrected version is import #{newer.pk}."
        )
    if not run.input_file:
        raise CorrectionRefused("The file of this import is no longer stored.")
    if not any(issue.get("row") for issue in run.errors):
        raise CorrectionRefused(
            "The errors of this file are about the file as a whole, not its rows: correct the "
            "file and upload it again."
        )


def error_row_numbers(run: ImportRun) -> list[int]:
    """Return the numbers of the rows with errors, in order (each once)."""
    return sorted({issue["row"] for issue in run.errors if issue.get("row")})


# How long the CSV copy of a workbook being corrected stays in the cache.
WORKBOOK_COPY_SECONDS = 3600


def read_input(run: ImportRun) -> Table:
    """Return the run's stored input as the preview read it (the same options).

    A workbook is read once: openpyxl takes about 20 s for 100,000 rows, where the CSV that
    table_as_csv makes of it reads back the same (every cell as text, every row on its number)
    in half a second. That copy is kept in the cache for the pages of the editing screen and
    its submission; a cache that fails only makes them read the workbook again.
    """
    options = options_for(run.organization, run.created_by)
    key = f"importer:workbook-copy:{run.pk}:{run.input_sha256}"
    copy = _cached(key)
    if copy is None:
        try:
            with run.input_file.open("rb") as handle:
                data = handle.read()
        except FileNotFoundError as error:
            raise CorrectionRefused("The file of this import is no longer stored.") from error
    else:
        data = copy
    try:
        table = read_table(
            data,
            run.input_name,
            extra_synonyms=header_names(options.column_mapping, options.attributes),
            max_rows=settings.IMPORT_MAX_ROWS,
            max_xml_bytes=settings.IMPORT_MAX_XLSX_EXPANDED_BYTES,
        )
    except FileError as error:  # The file was read at preview: only a changed setting gets here.
        raise CorrectionRefused(error.message) from error
    if copy is None and table.format == "xlsx":
        try:
            cache.set(key, table_as_csv(table), WORKBOOK_COPY_SECONDS)
        except Exception as error:  # A cache is never needed to go on.
            logger.warning("Could not keep the copy of run %s's workbook: %s", run.pk, error)
    return table


def _run_header_names(run: ImportRun) -> dict[str, str]:
    """Return the header names the run was read with: its column names and its custom
    attributes' names, from its copy of the options."""
    return header_names((run.policy or {}).get("column_mapping"), run_attributes(run))


def _cached(key: str) -> bytes | None:
    try:
        return cache.get(key)
    except Exception as error:  # A cache is never needed to go on.
        logger.warning("Could not read %s from the cache: %s", key, error)
        return None


def rows_to_fix(run: ImportRun, table: Table, numbers: Iterable[int]) -> list[RowToFix]:
    """Return the rows of `numbers` with their errors and the cells the editing screen shows."""
    numbers = list(numbers)
    errors_of: dict[int, list[dict]] = {}
    for issue in run.errors:
        if issue.get("row") in numbers:
            errors_of.setdefault(issue["row"], []).append(issue)
    named = {issue.get("column", "") for issues in errors_of.values() for issue in issues}
    columns = editable_columns(table, named, _run_header_names(run))
    rows = rows_numbered(table, numbers)
    result = []
    for number in numbers:
        row = rows.get(number)
        if row is None:
            continue
        result.append(
            RowToFix(
                number=number,
                cells=[
                    (
                        index,
                        cell_text(table.headers[index]),
                        cell_text(row.cells[index]) if index < len(row.cells) else "",
                    )
                    for index in columns
                ],
                errors=errors_of[number],
            )
        )
    return result


def create_corrected_run(
    run: ImportRun,
    *,
    acting_user: User,
    cells: Iterable[CellCorrection],
    dropped: Iterable[int],
) -> ImportRun:
    """Store `run`'s file with `cells` corrected and the rows `dropped`; return the new run of
    that file, queued for preview. The caller then enqueues its preview.

    Raise CorrectionRefused when the run cannot be corrected (see check_correctable), nothing
    was changed, or a cell whose bytes could not be read is left as it was; LimitReached and
    InputNotStored as create_run does.
    """
    check_correctable(run)
    cells = list(cells)
    dropped = sorted(set(dropped))
    table = read_input(run)
    try:
        corrected, changed = apply_corrections(table, cells, dropped)
    except ValueError as error:
        raise CorrectionRefused(f"{error}: reload the page and try again.") from error
    if not changed and not dropped:
        raise CorrectionRefused("Nothing was changed: edit a value or drop a row first.")
    _check_nothing_undecodable(corrected, run)
    data = table_as_csv(corrected)
    check_room(run.organization, new_bytes=len(data))
    stem = PurePath(run.input_name).stem if run.input_name else f"run-{run.pk}"
    new_run = ImportRun(
        organization=run.organization,
        source=run.source if run.source != ImportRun.Source.REVERT else ImportRun.Source.UPLOAD,
        created_by=acting_user,
        input_name=f"{stem} (corrected).csv"[:255],
        input_size=len(data),
        input_sha256=hashlib.sha256(data).hexdigest(),
        corrects=run,
        corrected_cells=changed,
        dropped_rows=len(dropped),
    )
    try:
        new_run.input_file.save("input", ContentFile(data), save=False)
    except OSError as error:
        logger.error("Could not store the corrected input of run %s: %s", run.pk, error)
        raise InputNotStored from error
    try:
        with transaction.atomic():
            # The original's row lock makes two submissions of the same form one correction.
            locked = ImportRun.objects.select_for_update().get(pk=run.pk)
            check_correctable(locked)
            new_run.save()
            events.input_corrected_event(run=new_run, acting_user=acting_user)
    except Exception:
        new_run.input_file.delete(save=False)  # A stored file that no run names would stay.
        raise
    return new_run


def _check_nothing_undecodable(table: Table, run: ImportRun) -> None:
    """Raise CorrectionRefused if a cell the import reads still holds bytes that are not text.

    In the corrected CSV they would be plain "\ufffd" characters, no longer known as unreadable.
    """
    fields = fields_of(table.headers, normalised_extra(_run_header_names(run)))
    for number, index, _hexed in table.undecodable:
        if fields[index] is not None:
            raise CorrectionRefused(
                f"Row {number}, column {cell_text(table.headers[index])}: part of the value "
                "could not be read as text. Type the value again, or drop the row."
            )
