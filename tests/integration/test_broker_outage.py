"""A Redis outage with a task in flight: the worker survives, reconnects, and nothing is lost.

The test starts a redis-server of its own on a free port (the shared one is never touched),
a worker whose broker and cache it is, and kills and restarts that Redis mid-apply.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from config.celery import app
from importer import runs
from importer.models import ImportRun
from importer.tasks import apply_run_task, preview_run_task
from tests.conftest import _database_url_for_worker, wait_for_run
from users.models import User

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OwnRedis:
    """A redis-server on a port of its own, that keeps nothing on disk."""

    def __init__(self, port: int, folder: Path):
        self.port, self.folder, self.process = port, folder, None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def own_redis(tmp_path):
    redis = OwnRedis(free_port(), tmp_path)
    redis.start()
    yield redis
    if redis.process.poll() is None:
        redis.kill()


@pytest.fixture
def worker_on_own_redis(transactional_db, own_redis, tmp_path):
    """Start a worker whose broker and cache are `own_redis`; point this process's app at it."""
    url = f"redis://127.0.0.1:{own_redis.port}/0"
    saved = app.conf.broker_url, app.conf.broker_write_url

    def use(broker_url, write_url):
        app.conf.broker_url, app.conf.broker_write_url = broker_url, write_url
        app._pool = None  # Connection pools are cached per app: drop them so the URL applies.
        app.amqp._producer_pool = None

    use(url, url)
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for_worker(),
        "CELERY_BROKER_URL": url,
        "CACHE_URL": f"redis://127.0.0.1:{own_redis.port}/1",
    }
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            # As the Procfile starts it: gossip, mingle and heartbeats on (every queue).
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO",
             "--concurrency=2", "-Q", ",".join(settings.ALL_QUEUES)],
            cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while "ready." not in log_path.read_text():
        assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.2)
    yield process, log_path
    use(*saved)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def people_csv(count: int) -> bytes:
    lines = ["email,first_name,last_name,title"]
    lines += [f"person{n}@acme.example,First{n},Last{n},Title{n % 11}" for n in range(count)]
    return ("\n".join(lines) + "\n").encode()


def test_a_worker_survives_a_redis_outage_mid_apply_and_the_import_is_applied(
    worker_on_own_redis, own_redis, acme, alice
):
    process, log_path = worker_on_own_redis
    run = runs.create_run(
        organization=acme,
        data=people_csv(60_000),
        name="people.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=alice,
    )
    runs.preview_run(run.pk)
    run.refresh_from_db()
    runs.request_apply(run, acting_user=alice)
    apply_run_task.apply_async(args=[run.pk], retry=False)
    deadline = time.monotonic() + 30
    # "received", not the task's name alone: the startup banner lists every task's name, and a
    # message still in the queue when this Redis (which keeps nothing on disk) is killed is lost.
    while "Task importer.apply_run[" not in log_path.read_text():
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.02)

    own_redis.kill()  # Mid-apply: its progress writes and its acknowledgement find no Redis.
    run.refresh_from_db()
    assert run.status == ImportRun.Status.APPLYING  # The outage did land mid-apply.
    time.sleep(3)
    own_redis.start()

    run = wait_for_run(run, timeout=90)
    assert run.status == ImportRun.Status.APPLIED, run.message
    assert User.objects.filter(organization=acme).count() == 60_001
    assert process.poll() is None, log_path.read_text()[-5000:]

    # The worker reconnected: a run sent after the outage is previewed.
    later = runs.create_run(
        organization=acme,
        data=b"email\nalice@acme.example\n",
        name="later.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=alice,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            preview_run_task.apply_async(args=[later.pk], retry=False)
            break
        except Exception:
            assert time.monotonic() < deadline
            time.sleep(0.5)
    later = wait_for_run(later, timeout=60)
    assert later.status == ImportRun.Status.READY, later.message
    assert process.poll() is None, log_path.read_text()[-5000:]
