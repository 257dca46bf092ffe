"""Recovery with real processes: workers killed whole (main process and pool), database
connections ended under an import, a sync killed mid-preview.

Each test checks that the users table is exactly the state before or the fully applied one (a
checksum over every column), that the run's status and message say what happened, and how long
recovery took (printed, for docs/reliability.md: run with -s to see the figures).
"""

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from importer import progress, runs
from importer.models import ImportRun, RemoteSource
from importer.remote import services as sync
from importer.remote.secrets import encrypt_secret
from importer.tasks import apply_run_task, recover_stuck_runs_task, sync_source_task
from tests.conftest import _database_url_for_worker, wait_for_run
from tests.integration.https_server import Reply
from tests.integration.test_faults import people_csv, previewed
from users.models import User

pytestmark = pytest.mark.worker

Status = ImportRun.Status
on_postgresql = pytest.mark.skipif(
    "sqlite" in settings.DATABASES["default"]["ENGINE"],
    reason="pg_terminate_backend needs PostgreSQL",
)
on_sqlite = pytest.mark.skipif(
    "sqlite" not in settings.DATABASES["default"]["ENGINE"],
    reason="SQLite's write lock; PostgreSQL has its own test (connections ended)",
)


COLUMNS = [field.column for field in User._meta.concrete_fields]


def users_rows() -> list[tuple]:
    """Return every column of every row of the users table, in id order."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(COLUMNS)} FROM {User._meta.db_table} ORDER BY id")
        return [tuple(row) for row in cursor.fetchall()]


def checksum(rows: list[tuple]) -> str:
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def users_checksum() -> str:
    """Return a SHA-256 over every column of every row of the users table."""
    return checksum(users_rows())


def moved(rows: list[tuple]) -> list[tuple]:
    """Return `rows` as the import of people_csv(…, department="Moved") leaves them: each
    person's department moved, and their version one up (nothing else)."""
    email, department, version = (
        COLUMNS.index(name) for name in ("email", "department", "version")
    )
    result = []
    for row in rows:
        row = list(row)
        if row[email].startswith("person") and row[email].endswith("@acme.example"):
            number = int(row[email].removeprefix("person").split("@")[0])
            row[department], row[version] = f"Moved{number % 7}", row[version] + 1
        result.append(tuple(row))
    return result


def report(name: str, seconds: float) -> None:
    print(f"\n[recovery] {name}: {seconds:.1f} s ({connection.vendor})")


class OwnWorker:
    """A Celery worker of the test's own, on queue `faults` only, that the test kills whole."""

    def __init__(self, log_path, **env):
        self.log_path = log_path
        environment = {**os.environ, "DATABASE_URL": _database_url_for_worker(), **env}
        with open(log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO",
                 "--concurrency=1", "-Q", "faults", "-n", f"faults-{os.getpid()}@%h",
                 "--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=settings.BASE_DIR, env=environment, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while "ready." not in log_path.read_text():
            assert self.process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the main process and its pool at once: a machine or container that died."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.kill()


@pytest.fixture
def own_worker(worker, tmp_path):
    """Start OwnWorker(s) with the given environment; all are killed at the end."""
    started = []

    def start(**env):
        started.append(OwnWorker(tmp_path / f"worker-{len(started)}.log", **env))
        return started[-1]

    yield start
    for each in started:
        each.stop()


def wait_until(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def apply_under_way(run) -> bool:
    return (progress.read(run.pk) or {"done": 0}).get("done", 0) > 0


def applying_run(acme, alice, count: int):
    """Return a confirmed run that moves `count` users, and the users' checksums before it and
    fully applied."""
    first = previewed(acme, alice, people_csv(count))
    runs.request_apply(first, acting_user=alice)
    runs.apply_run(first.pk)
    rows = users_rows()
    run = previewed(acme, alice, people_csv(count, department="Moved"))
    # Everyone moves department: past the limit on mass changes, confirmed as an admin would.
    runs.request_apply(run, acting_user=alice, confirm_safeguard=True)
    return run, checksum(rows), checksum(moved(rows))


@contextmanager
def holding_the_last_change(run):
    """On PostgreSQL, lock the user of the run's last change in the test's connection, so that
    an apply taken up meanwhile waits at its last batch until the block ends: it could
    otherwise finish (and clear the run's message) between two looks. SQLite's apply of the
    same run is slow enough, and its write lock would stop the apply altogether."""
    if connection.vendor != "postgresql":
        yield
        return
    last_user = (
        run.changes.exclude(action="create").order_by("-id").values_list("user", flat=True)[0]
    )
    with transaction.atomic():
        User.objects.select_for_update().get(pk=last_user)
        yield


# --- a worker that stopped: the lease -----------------------------------------------------------


def test_a_worker_killed_whole_mid_apply_is_replaced_within_two_minutes_and_nothing_is_lost(
    own_worker, acme, alice, alice_client
):
    """Main process and pool SIGKILLed: the message is not given back (the filesystem broker
    loses it, Redis keeps it for its one-hour visibility timeout). The lease runs out and the
    every-minute recovery hands the run to the other worker."""
    alice_client.get("/")  # Signed in first: signing in writes the user's last_login.
    run, before, applied = applying_run(acme, alice, 40_000)
    doomed = own_worker()  # The default lease (60 s): the time measured is the real one.
    apply_run_task.apply_async(args=[run.pk], queue="faults", retry=False)
    wait_until(lambda: apply_under_way(run), timeout=60, what="the apply never got under way")

    doomed.kill()
    killed_at = time.monotonic()
    run.refresh_from_db()
    assert (run.status, run.attempts) == (Status.APPLYING, 1)
    assert users_checksum() == before

    with holding_the_last_change(run):
        # What beat does: recover_stuck_runs every minute (a first tick at a random point).
        next_tick = killed_at + 30
        while run.status == Status.APPLYING and run.attempts == 1:
            assert time.monotonic() - killed_at < 150, "the run was not taken up in time"
            if time.monotonic() >= next_tick:
                recover_stuck_runs_task.apply()
                next_tick += 60
            time.sleep(0.5)
            run.refresh_from_db()
        taken_up = time.monotonic() - killed_at
        assert run.message == "A worker stopped while importing; retrying (attempt 2 of 3)."
        for page in ("importer:run-detail", "importer:history"):
            args = [run.pk] if page == "importer:run-detail" else []
            content = alice_client.get(reverse(page, args=args)).content.decode()
            assert "A worker stopped while importing; retrying (attempt 2 of 3)." in content, page

    run = wait_for_run(run, timeout=120)
    recovered = time.monotonic() - killed_at
    assert (run.status, run.message, run.attempts) == (Status.APPLIED, "", 2)
    assert users_checksum() == applied
    report("worker killed whole mid-apply: taken up", taken_up)
    report("worker killed whole mid-apply: applied", recovered)
    assert taken_up < 130


def test_a_live_apply_longer_than_its_lease_is_never_taken_up(own_worker, acme, alice):
    run, before, applied = applying_run(acme, alice, 40_000)
    own_worker(ROSTERSYNC_LEASE_SECONDS="1")  # Renewed every third of a second.
    apply_run_task.apply_async(args=[run.pk], queue="faults", retry=False)
    wait_until(lambda: apply_under_way(run), timeout=60, what="the apply never got under way")

    started = time.monotonic()
    recovered = []
    while True:  # Recovery as often as it can run, for the whole apply.
        outcome = runs.recover_abandoned_runs()
        recovered += [r.pk for r in outcome.resend] + outcome.failed
        run.refresh_from_db()
        if not run.is_running:
            break
        assert time.monotonic() - started < 120
        time.sleep(0.1)

    assert recovered == []
    assert (run.status, run.attempts, run.message) == (Status.APPLIED, 1, "")
    assert users_checksum() == applied
    report("live apply under recovery every 0.1 s (lease 1 s), took", time.monotonic() - started)


def test_a_run_whose_workers_stop_on_every_attempt_fails_with_the_reason(
    acme, alice, transactional_db
):
    run = previewed(acme, alice, people_csv(3))
    runs.request_apply(run, acting_user=alice)
    before = users_checksum()
    expired = timezone.now() - timedelta(seconds=1)

    for attempt in (2, 3):  # A worker took it up (attempt - 1) and stopped.
        ImportRun.objects.filter(pk=run.pk).update(lease_expires_at=expired, attempts=attempt - 1)
        outcome = runs.recover_abandoned_runs()
        assert [r.pk for r in outcome.resend] == [run.pk]
        run.refresh_from_db()
        assert (
            run.message == f"A worker stopped while importing; retrying (attempt {attempt} of 3)."
        )

    ImportRun.objects.filter(pk=run.pk).update(lease_expires_at=expired, attempts=3)
    outcome = runs.recover_abandoned_runs()

    run.refresh_from_db()
    assert outcome.failed == [run.pk]
    assert run.status == Status.FAILED
    assert run.message.startswith("A worker stopped while importing, on each of 3 attempts")
    assert "Nothing was changed" in run.message
    assert users_checksum() == before


# --- transient database errors ------------------------------------------------------------------


def terminate_long_transactions(min_seconds: float = 0.2) -> int:
    """End the test database's backends that are inside a transaction older than
    `min_seconds` (the worker's apply), never this process's own; return how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND xact_start < clock_timestamp() - make_interval(secs => %s)",
            [min_seconds],
        )
        return len(cursor.fetchall())


@on_postgresql
def test_a_connection_ended_mid_apply_is_retried_and_the_run_applied(worker, acme, alice):
    run, before, applied = applying_run(acme, alice, 40_000)
    # The user of the run's last change is locked here (this connection is never ended), so
    # that the apply is still under way, waiting at its last batch, when its connection is
    # ended: without it a quick apply could commit first.
    last_user = (
        run.changes.exclude(action="create").order_by("-id").values_list("user", flat=True)[0]
    )
    with transaction.atomic():
        User.objects.select_for_update().get(pk=last_user)
        apply_run_task.apply_async(args=[run.pk], retry=False)
        wait_until(lambda: apply_under_way(run), timeout=60, what="the apply never got under way")
        # Its transaction is ended once it is older than terminate_long_transactions' bound.
        wait_until(lambda: terminate_long_transactions() >= 1, timeout=30, what="none ended")
        ended_at = time.monotonic()
        assert users_checksum() == before

    run = wait_for_run(run, timeout=90)
    assert (run.status, run.message, run.attempts) == (Status.APPLIED, "", 1)
    assert users_checksum() == applied
    report("connection ended mid-apply: applied after a retry", time.monotonic() - ended_at)


@on_postgresql
def test_a_database_that_keeps_failing_fails_the_run_in_words_a_person_understands(
    worker, acme, alice
):
    run, before, applied = applying_run(acme, alice, 40_000)
    apply_run_task.apply_async(args=[run.pk], retry=False)
    started = time.monotonic()
    ended = 0
    while True:  # Every try's transaction is ended as soon as it is under way.
        ended += terminate_long_transactions(0.05)
        run.refresh_from_db()
        if not run.is_running:
            break
        assert time.monotonic() - started < 120
        time.sleep(0.02)

    assert ended >= 4  # The first try and three retries.
    assert run.status == Status.FAILED
    assert run.message.startswith("The database could not be reached while importing")
    assert "Nothing was changed" in run.message
    assert "terminat" not in run.message and "psycopg" not in run.message
    assert users_checksum() == before
    report("database failing on every try: run failed", time.monotonic() - started)


@on_sqlite
def test_a_database_locked_past_its_timeout_is_retried_and_the_run_applied(
    acme, alice, transactional_db
):
    run = previewed(acme, alice, people_csv(200))
    runs.request_apply(run, acting_user=alice)
    before = users_checksum()
    connection.close()
    connection.settings_dict["OPTIONS"] = {**connection.settings_dict["OPTIONS"], "timeout": 0.5}
    holder = sqlite3.connect(
        connection.settings_dict["NAME"], isolation_level=None, check_same_thread=False
    )
    holder.execute("BEGIN IMMEDIATE")  # Another process holds the write lock for 1.5 s.
    threading.Timer(1.5, holder.rollback).start()
    started = time.monotonic()
    try:
        with pytest.raises(runs.DatabaseUnavailable):
            runs.apply_run(run.pk)
        run.refresh_from_db()
        assert (run.status, run.lease_expires_at) == (Status.APPLYING, None)
        assert users_checksum() == before
        # The task's retries (eager here: no countdown) outlast the lock.
        apply_run_task.apply(args=[run.pk], kwargs={"database_retries": 1})
    finally:
        connection.close()
        connection.settings_dict["OPTIONS"] = {**connection.settings_dict["OPTIONS"], "timeout": 30}
        holder.close()

    run.refresh_from_db()
    assert (run.status, run.message) == (Status.APPLIED, "")
    assert User.objects.filter(organization=acme).count() == 201
    report("SQLite locked 1.5 s (timeout 0.5 s): applied", time.monotonic() - started)


# --- a scheduled sync killed mid-preview --------------------------------------------------------


@pytest.fixture
def served_source(https_server, acme, alice):
    # The file leaves Alice, the admin, out: not an admin deactivation to hold here.
    User.objects.filter(pk=alice.pk).update(is_sync_protected=True)
    body = people_csv(60_000)
    headers = {"Content-Type": "text/csv", "ETag": '"v1"'}
    https_server.routes["/export.csv"] = Reply(200, body, headers)
    source = RemoteSource.objects.create(
        organization=acme,
        enabled=True,
        url=https_server.url("/export.csv"),
        auth=RemoteSource.Auth.BEARER,
        secret_encrypted=encrypt_secret("t0ken"),
        cadence=RemoteSource.Cadence.HOURLY,
        next_fetch_at=timezone.now(),
    )
    return source, hashlib.sha256(body).hexdigest()


def test_a_sync_killed_mid_preview_is_finished_by_recovery_with_its_bookkeeping(
    own_worker, served_source, acme, alice
):
    source, sha256 = served_source
    before = users_checksum()
    doomed = own_worker(ROSTERSYNC_LEASE_SECONDS="3")
    lease = timezone.now() + timedelta(minutes=35)
    RemoteSource.objects.filter(pk=source.pk).update(next_fetch_at=lease)  # As the dispatcher.
    sync_source_task.apply_async(args=[source.pk, lease.isoformat()], queue="faults", retry=False)

    def previewing():
        run = ImportRun.objects.filter(organization=acme, trigger="scheduled").first()
        return run is not None and run.status == Status.PREVIEWING

    wait_until(previewing, timeout=60, what=f"no preview under way: {doomed.log_path.read_text()}")
    time.sleep(0.2)  # Into the preview: reading and checking 60,000 rows takes seconds.
    doomed.kill()
    killed_at = time.monotonic()
    run = ImportRun.objects.get(organization=acme, trigger="scheduled")
    assert run.status == Status.PREVIEWING

    # The lease ends while the run is unfinished: a sync now fetches nothing and makes no run.
    outcome = sync.sync_source(source.pk)
    assert outcome.run_id == run.pk and "still under way" in outcome.message

    while run.status == Status.PREVIEWING and run.attempts == 1:
        recover_stuck_runs_task.apply()
        time.sleep(1)
        run.refresh_from_db()
    run = wait_for_run(run, timeout=180)
    recovered = time.monotonic() - killed_at

    assert (run.status, run.attempts) == (Status.APPLIED, 1)
    assert users_checksum() != before
    assert User.objects.filter(organization=acme, department__startswith="Dept").count() == 60_000
    assert User.objects.filter(organization=acme).count() == 60_001
    source.refresh_from_db()
    assert (source.last_sha256, source.etag, source.consecutive_failures) == (sha256, '"v1"', 0)
    assert source.last_success_at is not None and source.last_error == ""
    assert timezone.now() < source.next_fetch_at < timezone.now() + timedelta(hours=1, minutes=1)
    assert ImportRun.objects.filter(organization=acme).count() == 1
    report("sync killed mid-preview (lease 3 s): applied and recorded", recovered)

    # The next sync finds the same file: a check, never a second run.
    RemoteSource.objects.filter(pk=source.pk).update(next_fetch_at=timezone.now())
    sync.sync_source(source.pk)
    assert ImportRun.objects.filter(organization=acme).count() == 1


def test_an_abandoned_sync_run_is_closed_with_its_reason_and_its_source_records_it(
    served_source, acme, transactional_db
):
    source, _sha256 = served_source
    run = runs.create_run(
        organization=acme,
        data=b"email\nana@acme.example\n",
        name="hr.example",
        source=ImportRun.Source.REMOTE,
        trigger=ImportRun.Trigger.SCHEDULED,
    )
    ImportRun.objects.filter(pk=run.pk).update(
        status=Status.PREVIEWING, attempts=3, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    recover_stuck_runs_task.apply()

    run.refresh_from_db()
    source.refresh_from_db()
    assert run.status == Status.FAILED
    assert run.message.startswith("A worker stopped while previewing this file, on each of 3")
    assert run.sync_recorded_at is not None
    assert source.consecutive_failures == 1
    assert source.last_error.startswith(f"Import #{run.pk} ended failed: A worker stopped")
    assert source.next_fetch_at > timezone.now()
