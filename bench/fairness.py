"""Fairness: while one company's ten large previews wait, how long does another's paste wait?

    .venv/bin/python bench/fairness.py [--engine sqlite|postgresql] [--broker redis|folder]
                                       [--rows 100000] [--large 10] [--single-queue]
                                       [--pg-url URL] [--pg-database NAME] [--redis-port 6403]

It starts the shipped workers as the Procfile does, as real processes on a real broker (Redis
on a port of its own, started and stopped here, or the folder broker): `worker` on queues
"runs,celery" and `worker-large` on "runs-large", one pool process each. Then, through the
app's own services (runs.create_run, tasks.enqueue), company A uploads the --large files of
--rows rows (bench/generate.py's file, over ROSTERSYNC_LARGE_INPUT_BYTES) and, once the first
of them is being previewed, company B pastes two rows. It prints how long B's paste took from
being sent to the workers to being ready (target: under 5 s), and how many of A's previews
were ready by then.

--single-queue starts both workers on every queue, which is how the workers ran before the
queues were split by size: the paste then waits for a worker to finish one of A's files.

The database is fresh (a SQLite file under var/bench/fairness/, or --pg-database on --pg-url,
dropped at the end). A's queued runs are more than ROSTERSYNC_MAX_QUEUED_RUNS_PER_ORG (5)
allows: the bench lifts that cap to reproduce the issue's ten.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import generate
from scratch_database import drop_database, fresh_database

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "var" / "bench" / "fairness"
FILES_DIR = ROOT / "var" / "bench" / "files"
PASTE = "email,first_name,last_name\nana@b.example,Ana,Silva\nben@b.example,Ben,Okafor\n"


def main() -> None:
    args = _arguments()
    shutil.rmtree(FOLDER, ignore_errors=True)
    FOLDER.mkdir(parents=True)
    generate.ensure_files(FILES_DIR, args.rows)
    large_file = generate.file_path(FILES_DIR, args.rows, version="new", fmt="csv")
    database_url = fresh_database(args, FOLDER / "fairness.sqlite3")
    redis = None
    if args.broker == "redis":
        redis = subprocess.Popen(
            ["redis-server", "--port", str(args.redis_port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        broker = f"redis://127.0.0.1:{args.redis_port}/0"
    else:
        broker = "filesystem://"
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker,
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-any-real-site",
            "ROSTERSYNC_FERNET_KEYS": base64.urlsafe_b64encode(b"bench".ljust(32, b"-")).decode(),
            "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
            "ROSTERSYNC_VAR_DIR": str(FOLDER / "var"),
            "DJANGO_LOG_LEVEL": "WARNING",
            "ROSTERSYNC_MAX_QUEUED_RUNS_PER_ORG": "0",
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
    )
    if redis is not None:
        os.environ["CACHE_URL"] = f"redis://127.0.0.1:{args.redis_port}/1"
    workers = []
    try:
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", "--noinput", verbosity=0)
        workers = _start_workers(single_queue=args.single_queue)
        wait, ready_large = _measure(large_file.read_bytes(), args.large)
        layout = "every worker on every queue" if args.single_queue else "queues by size"
        print(
            f"fairness, {args.engine}, {args.broker} broker, {layout}: with {args.large} previews "
            f"of {args.rows:,} rows queued by one company, another company's two-row paste was "
            f"ready in {wait:.2f} s ({ready_large} of the large previews ready by then)"
        )
        figures = {
            "who": "fairness",
            "engine": args.engine,
            "broker": args.broker,
            "single_queue": args.single_queue,
            "rows": args.rows,
            "large": args.large,
            "seconds": round(wait, 3),
            "large_ready": ready_large,
        }
        print(json.dumps(figures))
    finally:
        for process in workers:
            _stop(process)
        if redis is not None:
            _stop(redis)
        drop_database(args)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--broker", choices=("redis", "folder"), default="redis")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=10)
    parser.add_argument("--single-queue", action="store_true")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--pg-database", default="bench_rostersync_fairness")
    parser.add_argument("--redis-port", type=int, default=6403)
    return parser.parse_args()


def _start_workers(*, single_queue: bool) -> list[subprocess.Popen]:
    """Start the Procfile's two workers (one pool process each); return once both are ready."""
    from django.conf import settings

    every = ",".join(settings.ALL_QUEUES)
    layout = {
        "worker": every if single_queue else f"{settings.IMPORT_QUEUE},celery",
        "worker-large": every if single_queue else settings.IMPORT_LARGE_QUEUE,
    }
    started = []
    for name, queues in layout.items():
        log_path = FOLDER / f"{name}.log"
        with open(log_path, "w") as log:
            started.append(
                (
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "celery",
                            "-A",
                            "config",
                            "worker",
                            "--loglevel=INFO",
                            "--concurrency=1",
                            "-Q",
                            queues,
                            "-n",
                            f"{name}@%h",
                            "--without-gossip",
                            "--without-mingle",
                            "--without-heartbeat",
                        ],
                        cwd=ROOT,
                        env=os.environ.copy(),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    ),  # fmt: skip
                    log_path,
                )
            )
    deadline = time.monotonic() + 60
    for process, log_path in started:
        while "ready." not in log_path.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"A worker did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
    return [process for process, _log in started]


def _measure(large_data: bytes, large: int) -> tuple[float, int]:
    """Queue company A's large previews, then B's paste; return B's wait and A's ready count."""
    from importer import runs
    from importer.models import ImportRun
    from importer.tasks import enqueue, preview_run_task
    from users.models import Organization

    company_a = Organization.objects.create(name="A Corp", slug="a-corp")
    company_b = Organization.objects.create(name="B Corp", slug="b-corp")
    queued = []
    for index in range(large):
        run = runs.create_run(
            organization=company_a,
            data=large_data,
            name=f"people-{index}.csv",
            source=ImportRun.Source.UPLOAD,
        )
        if not enqueue(preview_run_task, run.pk):
            raise SystemExit("The broker refused a message")
        queued.append(run.pk)
    # The workers are busy with A's files before B pastes (what the issue measured).
    deadline = time.monotonic() + 120
    busy = ImportRun.objects.filter(pk__in=queued).exclude(status=ImportRun.Status.QUEUED)
    while not busy.exists():
        if time.monotonic() > deadline:
            raise SystemExit("No worker took up company A's previews")
        time.sleep(0.05)
    paste = runs.create_run(
        organization=company_b, data=PASTE.encode(), name="", source=ImportRun.Source.PASTE
    )
    sent = time.perf_counter()
    if not enqueue(preview_run_task, paste.pk):
        raise SystemExit("The broker refused a message")
    done = (ImportRun.Status.READY, ImportRun.Status.INVALID, ImportRun.Status.FAILED)
    deadline = time.monotonic() + 30 * 60
    while True:
        status = ImportRun.objects.values_list("status", flat=True).get(pk=paste.pk)
        if status in done:
            wait = time.perf_counter() - sent
            break
        if time.monotonic() > deadline:
            raise SystemExit("Company B's paste was never previewed")
        time.sleep(0.02)
    if status != ImportRun.Status.READY:
        raise SystemExit(f"Company B's paste ended {status}")
    ready = ImportRun.objects.filter(pk__in=queued, status=ImportRun.Status.READY).count()
    return wait, ready


def _stop(process: subprocess.Popen) -> None:
    """Kill a worker (or Redis) and its children at once: what is left of the run is dropped."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


if __name__ == "__main__":
    main()
