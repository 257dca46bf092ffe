"""A worker keeps its database connection from one task to the next, as a web process does."""

import pytest
from celery.signals import task_postrun, task_prerun
from django.db import connection

from importer.tasks import recover_stuck_runs_task


@pytest.fixture
def kept_connections():
    """The connection as DATABASE_CONN_MAX_AGE=60 makes it (SQLite's settings force 0)."""
    saved = connection.settings_dict["CONN_MAX_AGE"]
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = 60
    yield
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = saved


def run_a_task_around(task) -> None:
    """Send the signals a worker sends around a task, with a query in between."""
    task_prerun.send(sender=task, task_id="t", task=task, args=(), kwargs={})
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    task_postrun.send(sender=task, task_id="t", task=task, args=(), kwargs={}, retval=None)


@pytest.mark.django_db(transaction=True)
def test_a_task_reuses_the_connection_of_the_task_before(kept_connections):
    run_a_task_around(recover_stuck_runs_task)
    first = connection.connection
    run_a_task_around(recover_stuck_runs_task)

    assert first is not None and connection.connection is first


@pytest.mark.django_db(transaction=True)
def test_a_connection_past_its_age_is_closed_after_the_task(kept_connections):
    run_a_task_around(recover_stuck_runs_task)
    first = connection.connection
    connection.close_at = 0  # Past DATABASE_CONN_MAX_AGE.
    task_postrun.send(sender=recover_stuck_runs_task, task=recover_stuck_runs_task)
    assert connection.connection is None

    run_a_task_around(recover_stuck_runs_task)
    assert connection.connection is not None and connection.connection is not first
