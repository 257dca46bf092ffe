"""Many companies: one beat tick with --sources due sources, then a worker's syncs per hour.

    .venv/bin/python bench/dispatcher.py [--engine sqlite|postgresql] [--sources 10000]
                                         [--window 20] [--pg-url URL] [--pg-database NAME]
                                         [--redis-port 6404]

On a fresh database (a SQLite file under var/bench/dispatcher/, or --pg-database on --pg-url,
dropped at the end) and a Redis of its own (started and stopped here): --sources companies, each
with an hourly remote source that is due, all pointing at one HTTPS server in this process that
serves the file each source last applied (so every sync is an unchanged file: a check, no run).

1. The tick: tasks.enqueue_due_fetches, the beat task's body, timed (claim every due source and
   publish one message each). Target: 10,000 in under 2 s.
2. A worker as the Procfile starts it (queue "celery", one pool process) works through those
   messages for --window seconds; the bench counts the checks it wrote, and prints syncs per
   hour per worker process, with the statements one sync runs.

Prints one JSON line at the end (for bench/run.py).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from scratch_database import drop_database, fresh_database

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "var" / "bench" / "dispatcher"
BODY = b"email,first_name,last_name\n" + b"".join(
    f"p{index}@co.example,First{index},Last{index}\n".encode() for index in range(200)
)


def main() -> None:
    args = _arguments()
    shutil.rmtree(FOLDER, ignore_errors=True)
    FOLDER.mkdir(parents=True)
    sys.path.insert(0, str(ROOT))
    from tests.integration.https_server import HTTPSServer, Reply, test_ca_bundle

    redis = subprocess.Popen(
        ["redis-server", "--port", str(args.redis_port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = HTTPSServer().start()
    server.routes["/export.csv"] = Reply(200, BODY, {"Content-Type": "text/csv"})
    os.environ.update(
        {
            "DATABASE_URL": fresh_database(args, FOLDER / "dispatcher.sqlite3"),
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{args.redis_port}/0",
            "CACHE_URL": f"redis://127.0.0.1:{args.redis_port}/1",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-any-real-site",
            "ROSTERSYNC_FERNET_KEYS": base64.urlsafe_b64encode(b"bench".ljust(32, b"-")).decode(),
            "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
            "ROSTERSYNC_VAR_DIR": str(FOLDER / "var"),
            "DJANGO_LOG_LEVEL": "WARNING",
            "ROSTERSYNC_REMOTE_ALLOWED_HOSTS": "127.0.0.1",
            "ROSTERSYNC_REMOTE_CA_BUNDLE": test_ca_bundle(),
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
    )
    worker = None
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", "--noinput", verbosity=0)
        _make_sources(args.sources, server.url("/export.csv"))
        tick, tick_cpu = _tick()
        worker = _start_worker()
        rate, statements = _syncs_per_hour(args.window, worker)
        figures = {
            "who": "dispatcher",
            "engine": args.engine,
            "sources": args.sources,
            "tick_seconds": round(tick, 3),
            "tick_cpu_seconds": round(tick_cpu, 3),
            "syncs_per_hour_per_worker": round(rate),
            "statements_per_sync": statements,
        }
        print(
            f"dispatcher, {args.engine}: {args.sources:,} due sources claimed and enqueued in "
            f"{tick:.2f} s; one worker process syncs {rate:,.0f} unchanged files an hour "
            f"({statements} statements each)"
        )
        print(json.dumps(figures))
    finally:
        if worker is not None:
            _stop(worker)
        server.stop()
        _stop(redis)
        drop_database(args)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=20)
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--pg-database", default="bench_rostersync_dispatcher")
    parser.add_argument("--redis-port", type=int, default=6404)
    return parser.parse_args()


def _make_sources(count: int, url: str) -> None:
    """Make `count` companies whose hourly source is due and last applied the served file."""
    import datetime as dt

    from django.utils import timezone

    from importer.models import RemoteSource
    from users.models import Organization

    sha256 = hashlib.sha256(BODY).hexdigest()
    due = timezone.now() - dt.timedelta(minutes=1)
    organizations = Organization.objects.bulk_create(
        Organization(name=f"Company {index}", slug=f"company-{index}") for index in range(count)
    )
    if organizations[0].pk is None:  # Backends that return no ids from bulk_create.
        organizations = list(Organization.objects.order_by("id"))
    RemoteSource.objects.bulk_create(
        (
            RemoteSource(
                organization=organization,
                enabled=True,
                url=url,
                cadence=RemoteSource.Cadence.HOURLY,
                next_fetch_at=due,
                last_sha256=sha256,
            )
            for organization in organizations
        ),
        batch_size=1000,
    )


def _tick() -> tuple[float, float]:
    """Time the beat task's body: claim every due source and enqueue its sync; return its wall
    time and this process's CPU time (the database's and Redis's work is in the wall time)."""
    from django.utils import timezone

    from importer.tasks import enqueue_due_fetches

    started, cpu = time.perf_counter(), time.process_time()
    claimed = enqueue_due_fetches(timezone.now())
    seconds = time.perf_counter() - started
    if not claimed:
        raise SystemExit("No source was claimed")
    cpu = time.process_time() - cpu
    _say(f"tick: {seconds:.2f} s wall, {cpu:.2f} s of this process's CPU")
    return seconds, cpu


def _say(text: str) -> None:
    print(f"… {text}", file=sys.stderr, flush=True)


def _start_worker() -> subprocess.Popen:
    log_path = FOLDER / "worker.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=WARNING",
             "--concurrency=1", "-Q", "celery", "-n", "worker@%h", "--without-gossip",
             "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    return process


def _syncs_per_hour(window: float, worker: subprocess.Popen) -> tuple[float, int]:
    """Count the checks the worker writes over `window` seconds from its first; return the rate
    per hour and the statements one sync runs (measured here, in-process, on one more source)."""
    from importer.models import RemoteCheck

    deadline = time.monotonic() + 120
    while not RemoteCheck.objects.exists():
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"The worker wrote no check:\n{(FOLDER / 'worker.log').read_text()}")
        time.sleep(0.1)
    first = RemoteCheck.objects.count()
    started = time.perf_counter()
    time.sleep(window)
    done = RemoteCheck.objects.count() - first
    seconds = time.perf_counter() - started
    _stop(worker)
    return done / seconds * 3600, _statements_of_one_sync()


def _statements_of_one_sync() -> int:
    from django.db import connection
    from django.utils import timezone

    from importer.models import RemoteSource
    from importer.remote import services as sync

    source = RemoteSource.objects.filter(last_checked_at=None).order_by("id").first()
    if source is None:
        return 0
    queries = [0]

    def count(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        sync.sync_source(source.pk, claimed_until=source.next_fetch_at, now=timezone.now())
    return queries[0]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


if __name__ == "__main__":
    main()
