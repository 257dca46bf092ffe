"""Run one benchmark step in this (fresh) process and print its figures as one JSON line.

    python bench/step.py STEP FILE

STEP is one of: setup, preview, apply (Rostersync's real code path, in-process like
`manage.py import_users`), baseline-dry-run, baseline-import (django-import-export 4.4),
floor-read, floor-write. The database comes from DATABASE_URL; bench/run.py sets it and hands
every step a fresh process, so each peak RSS is that step's own.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "true")

ORG_SLUG = "bench"


def main(step: str, path: str) -> None:
    import django

    django.setup()
    from django.db import connection
    from django.urls import reverse

    # A worker has the pipeline imported before its first task: so has the step before its clock.
    import importer.runs
    import importer.tasks  # noqa: F401

    # So has it its URLconf once it finished one run (the run's webhook event reverses a URL):
    # loading it costs the first call 0.3–0.4 s, which no later task pays.
    reverse("importer:run-detail", args=[1])

    queries = [0]

    def count(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    started_rss = _peak_rss_mb()
    with connection.execute_wrapper(count):
        started = time.perf_counter()
        figures = STEPS[step](Path(path) if path else None)
        seconds = time.perf_counter() - started
    # A step that times only part of its work (floor-write: not the reading) says so.
    figures.setdefault("seconds", round(seconds, 3))
    figures.update(
        step=step,
        peak_rss_mb=round(_peak_rss_mb(), 1),
        start_rss_mb=round(started_rss, 1),
        queries=queries[0],
    )
    print(json.dumps(figures))


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return round(int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20)


def _peak_rss_mb() -> float:
    """Return this process's peak resident size (VmHWM).

    Not getrusage()'s ru_maxrss: Linux carries that over exec from the parent that forked
    this process, so every step would report at least bench/run.py's own size.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- Rostersync --------------------------------------------------------------------------------


def setup(_path) -> dict:
    import generate

    from users.models import CustomAttribute, Organization

    organization, _ = Organization.objects.get_or_create(
        slug=ORG_SLUG, defaults={"name": "Bench Corp"}
    )
    # bench/run.py --attributes N: the organization's custom attributes, one per file column.
    count = int(os.environ.get("BENCH_ATTRIBUTES") or 0)
    for position, (key, name, type_, choices) in enumerate(generate.ATTRIBUTES[:count]):
        CustomAttribute.objects.get_or_create(
            organization=organization,
            key=key,
            defaults={"name": name, "type": type_, "choices": list(choices), "position": position},
        )
    return {"attributes": count}


class _TimedReporter:
    """The worker's progress reporter, timed: how often it wrote, and what it cost."""

    def __init__(self, run_id: int):
        from importer import progress

        self.reporter = progress.Reporter(run_id)
        self.writes: list[float] = []
        self.cost = 0.0
        self.rss: dict[str, float] = {}  # the largest resident size seen in each stage
        write = self.reporter._write

        def timed_write(stage: str, done: int, total: int, now: float) -> None:
            # The keep-alive thread's writes cost the work only the CPU they take: its wall
            # time includes waiting for the main thread to let go of the GIL.
            in_thread = threading.current_thread() is not threading.main_thread()
            clock = time.thread_time if in_thread else time.perf_counter
            started = clock()
            write(stage, done, total, now)
            self.writes.append(time.perf_counter())
            self.rss[stage] = max(self.rss.get(stage, 0), _current_rss_mb())
            if in_thread:
                self.cost += clock() - started

        self.reporter._write = timed_write

    def __enter__(self):
        self.reporter.__enter__()
        return self

    def __exit__(self, *exc_info):
        self.reporter.__exit__(*exc_info)

    def __call__(self, stage: str, done: int, total: int) -> None:
        started = time.perf_counter()
        self.reporter(stage, done, total)
        self.cost += time.perf_counter() - started  # includes the writes made here

    def figures(self, started: float, ended: float) -> dict:
        marks = [started, *self.writes, ended]
        return {
            "progress_writes": len(self.writes),
            "progress_max_gap": round(max(b - a for a, b in itertools.pairwise(marks)), 3),
            "progress_cost": round(self.cost, 4),
            "rss_by_stage": self.rss,
        }


def preview(path: Path) -> dict:
    from importer import runs
    from importer.models import ImportRun
    from users.models import Organization

    organization = Organization.objects.get(slug=ORG_SLUG)
    started = time.perf_counter()
    run = runs.create_run(
        organization=organization,
        data=path.read_bytes(),
        name=path.name,
        source=ImportRun.Source.CLI,
    )
    figures = _timed_task(run, started, runs.preview_run)
    return {"counts": run.counts, **figures}


def apply(_path) -> dict:
    from importer import runs
    from importer.models import ImportRun

    run = ImportRun.objects.filter(organization__slug=ORG_SLUG).latest("id")
    started = time.perf_counter()
    runs.request_apply(run, acting_user=None, confirm_safeguard=True)
    return _timed_task(run, started, runs.apply_run)


def _timed_task(run, started: float, task) -> dict:
    """Run `task(run id)` as the worker's Celery task does, and return the step's figures.

    As in the worker, the reporter's thread repeats the latest figure during long calls.
    """
    with _TimedReporter(run.pk) as reporter:
        task(run.pk, report=reporter)
    ended = time.perf_counter()
    run.refresh_from_db()
    return {
        "status": run.status,
        "rows": run.row_count,
        "message": run.message,
        **reporter.figures(started, ended),
    }


# --- django-import-export, the usual Django route -------------------------------------------


def _user_resource(organization_id: int):
    from import_export import fields, resources, widgets

    from importer.pipeline.types import PROFILE_FIELDS
    from users.models import User

    class UserResource(resources.ModelResource):
        email = fields.Field(attribute="email", column_name="Email")
        first_name = fields.Field(attribute="first_name", column_name="First Name")
        last_name = fields.Field(attribute="last_name", column_name="Last Name")
        title = fields.Field(attribute="title", column_name="Job Title")
        department = fields.Field(attribute="department", column_name="Department")
        location = fields.Field(attribute="location", column_name="Location")
        employee_id = fields.Field(attribute="employee_id", column_name="Employee ID")
        hire_date = fields.Field(
            attribute="hire_date", column_name="Hire Date", widget=widgets.DateWidget("%Y-%m-%d")
        )
        manager = fields.Field(
            attribute="manager",
            column_name="Manager Email",
            widget=widgets.ForeignKeyWidget(User, field="email"),
        )

        class Meta:
            model = User
            import_id_fields = ("email",)
            fields = (*PROFILE_FIELDS, "manager")
            skip_unchanged = True
            report_skipped = False

        def before_save_instance(self, instance, row, **kwargs):
            instance.organization_id = organization_id

    return UserResource()


def _baseline(path: Path, *, dry_run: bool) -> dict:
    import tablib

    from users.models import Organization

    organization = Organization.objects.get(slug=ORG_SLUG)
    dataset = tablib.Dataset().load(path.read_text(encoding="utf-8"), format="csv")
    result = _user_resource(organization.pk).import_data(
        dataset, dry_run=dry_run, raise_errors=True, use_transactions=True
    )
    return {
        "status": "ok"
        if not result.has_errors() and not result.has_validation_errors()
        else "errors",
        "rows": len(dataset),
        "counts": dict(result.totals),
    }


def baseline_dry_run(path: Path) -> dict:
    return _baseline(path, dry_run=True)


def baseline_import(path: Path) -> dict:
    return _baseline(path, dry_run=False)


# --- the floor: reading alone, writing alone -----------------------------------------------------


def _read_rows(path: Path) -> list[tuple]:
    if path.suffix == ".csv":
        import csv
        import io

        return [tuple(row) for row in csv.reader(io.StringIO(path.read_text(), newline=""))]
    # The fastest reader there is, the one Rostersync reads most workbooks with.
    import python_calamine

    with python_calamine.CalamineWorkbook.from_path(path) as workbook:
        return [tuple(row) for row in workbook.get_sheet_by_index(0).iter_rows()]


def _text(cell) -> str:
    """A cell as the attributes store it: a whole number without its ".0"."""
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() else repr(cell)
    return str(cell)


def floor_read(path: Path) -> dict:
    rows = _read_rows(path)
    return {"rows": len(rows) - 1}


def floor_write(path: Path) -> dict:
    """Insert the file's people as users with the fastest bulk statement the database has."""
    import datetime as dt

    from django.db import connection, transaction
    from django.utils import timezone

    from importer.pipeline.types import PROFILE_FIELDS
    from users.models import Organization, User

    organization_id = Organization.objects.get(slug=ORG_SLUG).pk
    # Reading is the other half of the floor: not timed here.
    rows = _read_rows(path)[1:]
    started = time.perf_counter()
    ids = {row[0]: index for index, row in enumerate(rows, start=1)}
    now = timezone.now()
    # The file's columns are the import format's: PROFILE_FIELDS, then the manager's email.
    hire_date = PROFILE_FIELDS.index("hire_date")
    columns = (
        "id",
        *PROFILE_FIELDS,
        "manager_id",
        "organization_id",
        "password",
        "is_superuser",
        "is_active",
        "is_org_admin",
        "is_staff",
        "is_sync_protected",
        "date_joined",
    )
    constants = (organization_id, "!", False, True, False, False, False, now)
    values = [
        (
            ids[row[0]],
            *row[:hire_date],
            dt.date.fromisoformat(row[hire_date]) if row[hire_date] else None,
            ids.get(row[hire_date + 1]),
            *constants,
        )
        for row in rows
    ]
    # A file with custom attributes' columns (--attributes N): the floor writes them too, as
    # the users' attributes JSON, {key: text}, a blank value absent.
    import generate

    keys = [key for key, *_ in generate.ATTRIBUTES[: len(rows[0]) - hire_date - 2]] if rows else []
    if keys:
        columns += ("attributes",)
        first = hire_date + 2
        values = [
            (
                *value,
                json.dumps(
                    {
                        key: cell.isoformat() if isinstance(cell, dt.date) else _text(cell)
                        for key, cell in zip(keys, row[first:], strict=False)
                        if cell != ""
                    }
                ),
            )
            for value, row in zip(values, rows, strict=True)
        ]
    table = User._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", values
            )
    return {"rows": len(rows), "seconds": round(time.perf_counter() - started, 3)}


# --- the pages of a large run, and History with many runs -----------------------------------------


def pages(_path) -> dict:
    """Time the server side of the largest run's preview pages and of History with 10,000 runs."""
    import datetime as dt

    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    from importer.models import ImportRun
    from users.models import Organization, User

    organization = Organization.objects.get(slug=ORG_SLUG)
    runs = ImportRun.objects.filter(organization=organization, status=ImportRun.Status.APPLIED)
    largest = runs.order_by("-new_count", "id").first()  # The new file's (or one made of it).
    wanted = int(os.environ.get("BENCH_PAGE_CHANGES") or 0)
    if wanted > largest.change_count + largest.skipped_count:
        largest = _repeated_run(largest, wanted)
    admin, _ = User.objects.get_or_create(
        email="bench-admin@example.com",
        defaults={"organization": organization, "is_org_admin": True},
    )
    client = Client()
    client.force_login(admin)
    timings = {}

    def timed(name: str, url: str) -> None:
        client.get(url, secure=True)  # warm: templates compiled, connection open
        started = time.perf_counter()
        response = client.get(url, secure=True)
        timings[name] = round(time.perf_counter() - started, 3)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")

    run_url = reverse("importer:run-detail", args=[largest.pk])
    timed("run page", run_url)
    timed("run page, page 1000", f"{run_url}?page=1000")
    timed("run page, search", f"{run_url}?q=okafor")
    timed("run page, new only", f"{run_url}?action=create&page=500")
    # History with 10,000 runs: made in one statement, spread over a year.
    now = timezone.now()
    existing = ImportRun.objects.filter(organization=organization).count()
    ImportRun.objects.bulk_create(
        ImportRun(
            organization=organization,
            source=ImportRun.Source.REMOTE,
            trigger=ImportRun.Trigger.SCHEDULED,
            status=ImportRun.Status.APPLIED,
            row_count=100_000,
            unchanged_count=100_000,
            created_at=now - dt.timedelta(hours=index),
            finished_at=now - dt.timedelta(hours=index),
        )
        for index in range(10_000 - existing)
    )
    history_url = reverse("importer:history")
    timed("history", history_url)
    timed("history, page 200", f"{history_url}?page=200")
    timed("history, filtered", f"{history_url}?status=applied&with_changes=on")
    return {"rows": 0, "changes": largest.change_count, "pages": timings}


def _repeated_run(run, wanted: int):
    """Return a new applied run holding `run`'s changes repeated up to `wanted` changes.

    Made in SQL (INSERT … SELECT, once per repeat): a run of a million changes without
    previewing a million-row file first. Its counts are the run's times the repeats.
    """
    from django.db import connection, transaction

    from importer.models import ImportChange, ImportRun

    size = run.change_count + run.skipped_count
    repeats = -(-wanted // size)
    count_fields = ("new_count", "changed_count", "deactivated_count", "reactivated_count")
    table = ImportChange._meta.db_table
    columns = (
        "user_id, email, action, fields, row, skipped_reason, manager_id, search_text, user_seen, "
        "limits_passed"
    )
    with transaction.atomic():
        grown = ImportRun.objects.create(
            organization_id=run.organization_id,
            source=run.source,
            status=run.status,
            row_count=run.row_count * repeats,
            skipped_count=run.skipped_count * repeats,
            finished_at=run.finished_at,
            **{field: getattr(run, field) * repeats for field in count_fields},
        )
        with connection.cursor() as cursor:
            for _repeat in range(repeats):
                cursor.execute(
                    f"INSERT INTO {table} (run_id, {columns}) SELECT %s, {columns} "
                    f"FROM {table} WHERE run_id = %s ORDER BY id",
                    [grown.pk, run.pk],
                )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")
    return grown


STEPS = {
    "pages": pages,
    "setup": setup,
    "preview": preview,
    "apply": apply,
    "baseline-dry-run": baseline_dry_run,
    "baseline-import": baseline_import,
    "floor-read": floor_read,
    "floor-write": floor_write,
}

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
