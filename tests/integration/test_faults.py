"""Faults with real processes: a killed worker, duplicate deliveries, races, a broker that is
down."""

import os
import signal
import subprocess
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from config.celery import app
from importer import progress, runs
from importer.models import ImportRun
from importer.tasks import apply_run_task, enqueue, recover_stuck_runs_task
from tests.conftest import wait_for_run
from tests.factories import OrganizationFactory, UserFactory
from users.models import User

pytestmark = pytest.mark.worker


def people_csv(count: int, *, domain="acme.example", department="Dept") -> bytes:
    lines = ["email,first_name,last_name,department"]
    lines += [f"person{n}@{domain},First{n},Last{n},{department}{n % 7}" for n in range(count)]
    return ("\n".join(lines) + "\n").encode()


def previewed(organization, admin, data: bytes) -> ImportRun:
    run = runs.create_run(
        organization=organization,
        data=data,
        name="people.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=admin,
    )
    runs.preview_run(run.pk)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.READY, run.issues[:3]
    return run


def busy_worker_child(worker) -> int:
    """Return the pid of the pool process that is running a task (the one using CPU).

    Only that one is killed: an idle pool process holds the pool's queue lock while it
    waits, and killing it would wedge the pool, which is not the failure under test.
    """
    output = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True).stdout
    children = [int(pid) for pid in output.split()]

    def cpu_ticks(pid: int) -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    before = {pid: cpu_ticks(pid) for pid in children}
    time.sleep(0.1)  # Ten clock ticks: the busy one uses most of them, an idle one none.
    return max(children, key=lambda pid: cpu_ticks(pid) - before[pid])


def updating_worker_child(worker) -> int:
    """Return the pid of the pool process whose UPDATE of users is running.

    On SQLite the update runs in that process, which uses the CPU. On PostgreSQL it waits for
    the server: the process is the one whose socket is the connection the server shows running
    the UPDATE (pg_stat_activity's client port, found among the process's open sockets).
    """
    if connection.vendor != "postgresql":
        return busy_worker_child(worker)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT client_port FROM pg_stat_activity WHERE state = 'active' "
            "AND query LIKE 'UPDATE \"users_user\"%%' AND pid <> pg_backend_pid()"
        )
        (port,) = cursor.fetchone()
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    output = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True).stdout
    for pid in map(int, output.split()):
        sockets = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
        if {f"socket:[{inode}]" for inode in inodes} & sockets:
            return pid
    raise AssertionError(f"No pool process holds the connection on port {port}")


@contextmanager
def slow_user_updates():
    """Make each UPDATE of users cost seconds, in the database itself (a trigger): an apply is
    then still writing, inside its transaction, whatever the machine's speed."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION test_slow_update() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN PERFORM pg_sleep(0.2); RETURN NULL; END $$"
            )
            cursor.execute(
                "CREATE TRIGGER test_slow_update AFTER UPDATE ON users_user "
                "FOR EACH STATEMENT EXECUTE FUNCTION test_slow_update()"
            )
        else:  # SQLite's triggers run per row and cannot sleep: each counts to a thousand.
            cursor.execute(
                "CREATE TRIGGER test_slow_update AFTER UPDATE ON users_user BEGIN "
                "SELECT count(*) FROM (WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL "
                "SELECT x + 1 FROM n WHERE x < 1000) SELECT x FROM n); END"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "DROP TRIGGER IF EXISTS test_slow_update"
                + (" ON users_user" if connection.vendor == "postgresql" else "")
            )
            if connection.vendor == "postgresql":
                cursor.execute("DROP FUNCTION IF EXISTS test_slow_update()")


def test_a_worker_killed_mid_apply_leaves_no_partial_change_and_the_run_is_applied_after_redelivery(
    worker, acme, alice
):
    # 20,000 users who all move department: the test worker's apply updates them 1,000 a
    # statement (ROSTERSYNC_APPLY_BATCH, tests/conftest.py), each statement made slow by a
    # trigger, so the kill after its first progress figure with rows done lands inside its
    # transaction after it has written.
    count = 20_000
    first = previewed(acme, alice, people_csv(count))
    runs.request_apply(first, acting_user=alice)
    runs.apply_run(first.pk)
    run = previewed(acme, alice, people_csv(count, department="Moved"))
    assert run.changed_count == count
    # Everyone moves department: past the limit on mass changes, confirmed as an admin would.
    runs.request_apply(run, acting_user=alice, confirm_safeguard=True)
    with slow_user_updates():
        assert enqueue(apply_run_task, run.pk)
        deadline = time.monotonic() + 60
        while (progress.read(run.pk) or {"done": 0})["done"] == 0:
            assert time.monotonic() < deadline, "the apply never got under way"
            time.sleep(0.005)
        os.kill(updating_worker_child(worker), signal.SIGKILL)
        killed_at = time.monotonic()
        run.refresh_from_db()
        assert run.status == ImportRun.Status.APPLYING  # Killed before it could commit.
        moved = User.objects.filter(organization=acme, department__startswith="Moved")
        assert not moved.exists()  # Nothing half-applied.

    # The main process gives the message back at once; it waits for the dead pool process's
    # lease to run out (at most ROSTERSYNC_LEASE_SECONDS), then takes the run up again.
    run = wait_for_run(run, timeout=120)

    took = time.monotonic() - killed_at
    print(f"\n[recovery] pool process killed mid-apply: applied in {took:.1f} s")
    assert (run.status, run.message, run.attempts) == (ImportRun.Status.APPLIED, "", 2)
    assert moved.count() == count
    assert User.objects.filter(organization=acme).count() == count + 1


def test_a_run_left_applying_by_a_dead_worker_is_picked_up_again(worker, acme, alice, settings):
    run = previewed(acme, alice, people_csv(3))
    runs.request_apply(
        run, acting_user=alice
    )  # Confirmed, but the message was lost with its worker.
    ImportRun.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(hours=1))

    recover_stuck_runs_task.apply()

    run = wait_for_run(run)
    assert run.status == ImportRun.Status.APPLIED
    assert User.objects.filter(organization=acme).count() == 4


def test_two_imports_of_one_organization_never_interleave(worker, acme, alice):
    first = previewed(acme, alice, people_csv(2000))
    second = previewed(acme, alice, people_csv(2000, domain="other.example"))
    runs.request_apply(first, acting_user=alice)
    runs.request_apply(second, acting_user=alice)
    assert enqueue(apply_run_task, first.pk)
    assert enqueue(apply_run_task, second.pk)

    first, second = wait_for_run(first), wait_for_run(second)

    assert sorted([first.status, second.status]) == [
        ImportRun.Status.APPLIED,
        ImportRun.Status.STALE,
    ]
    applied = first if first.status == ImportRun.Status.APPLIED else second
    domain = "acme.example" if applied is first else "other.example"
    assert User.objects.filter(organization=acme, email__endswith=domain).count() == 2000 + (
        domain == "acme.example"
    )
    assert User.objects.filter(organization=acme).count() == 2001


def test_a_database_error_mid_apply_rolls_back_and_fails_the_run_with_the_reason(
    worker, acme, alice
):
    run = previewed(acme, alice, people_csv(500))
    # Another organization takes one of the addresses after the preview: the insert fails.
    UserFactory(organization=OrganizationFactory(), email="person250@acme.example")
    runs.request_apply(run, acting_user=alice)
    assert enqueue(apply_run_task, run.pk)

    run = wait_for_run(run)

    assert run.status == ImportRun.Status.FAILED
    assert "rolled back" in run.message
    assert User.objects.filter(organization=acme).count() == 1


@pytest.fixture
def broker_down():
    """Point the web side's Celery app at a port where no broker listens; return a restorer."""
    saved = app.conf.broker_url
    saved_write = app.conf.broker_write_url

    def use(url):
        app.conf.broker_url = url
        app.conf.broker_write_url = url
        app._pool = None  # Connection pools are cached per app: drop them so the URL applies.
        app.amqp._producer_pool = None

    use("redis://127.0.0.1:9/0")

    def restore():
        use(saved)
        app.conf.broker_write_url = saved_write

    yield restore
    restore()


def test_with_the_broker_down_preview_says_so_and_the_run_can_be_sent_again(
    worker, alice_client, broker_down
):
    response = alice_client.post(
        reverse("importer:create-preview"), {"text": "email\nana@acme.example\n"}, follow=True
    )

    assert response.status_code == 200
    assert "The background workers cannot be reached right now" in response.content.decode()
    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.QUEUED  # Saved, not lost.

    restore_broker = broker_down
    restore_broker()
    alice_client.post(reverse("importer:run-retry", args=[run.pk]))

    run = wait_for_run(run)
    assert run.status == ImportRun.Status.READY
