"""Shared fixtures: personas (alice admins Acme, bob works there, charlie admins Globex),
real input files, and a real Celery worker process on the test database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.factories import OrgAdminFactory, OrganizationFactory, UserFactory

# The real input files of every test (made by tests/fixtures/make_fixtures.py); import it from here.
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PASSWORD = "correct-horse-battery"


@pytest.fixture
def fixture_path():
    def path(name: str) -> Path:
        return FIXTURES / name

    return path


@pytest.fixture
def acme(db):
    return OrganizationFactory(name="Acme", slug="acme")


@pytest.fixture
def globex(db):
    return OrganizationFactory(name="Globex", slug="globex")


@pytest.fixture
def alice(acme):
    return OrgAdminFactory(organization=acme, email="alice@acme.example", first_name="Alice")


@pytest.fixture
def bob(acme):
    return UserFactory(organization=acme, email="bob@acme.example", first_name="Bob")


@pytest.fixture
def charlie(globex):
    return OrgAdminFactory(
        organization=globex, email="charlie@globex.example", first_name="Charlie"
    )


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def _database_url_for_worker() -> str:
    """Return a DATABASE_URL that points a separate process at the test database."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """Start `celery worker` in its own process against the test database and broker."""
    from config.celery import app

    with django_db_blocker.unblock():
        url = _database_url_for_worker()
        connection.close()
    app.control.purge()
    log_path = Path(settings.VAR_DIR) / "test-worker.log"
    # Applies write 1,000 changes a statement: a test that kills the worker mid-apply
    # (test_faults.py) has the time to land inside the transaction, after it has written.
    env = {**os.environ, "DATABASE_URL": url, "ROSTERSYNC_APPLY_BATCH": "1000"}
    # The worker writes to its own copy of the file: this process closes its one at once.
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel=INFO",
                "--concurrency=2",
                # Every queue the app routes to (the Procfile splits them between workers).
                "-Q",
                ",".join(settings.ALL_QUEUES),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while "ready." not in log_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"The Celery worker did not start:\n{log_path.read_text()}")
        time.sleep(0.2)
    yield process
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def worker(celery_worker_process, transactional_db):
    """A running worker; the test's data is committed so that the worker sees it."""
    return celery_worker_process


def wait_for_run(run, *, timeout: float = 60):
    """Return the run once no worker is busy with it (reloaded from the database)."""
    deadline = time.monotonic() + timeout
    while True:
        run.refresh_from_db()
        if not run.is_running:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"Run {run.pk} is still {run.status} after {timeout} s")
        time.sleep(0.1)


def preview_text(organization, admin, text: str):
    """Return a run of the CSV `text`, previewed in this process as the worker previews it."""
    from importer import runs
    from importer.models import ImportRun

    run = runs.create_run(
        organization=organization,
        data=text.encode(),
        name="people.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=admin,
    )
    runs.preview_run(run.pk)
    run.refresh_from_db()
    return run
