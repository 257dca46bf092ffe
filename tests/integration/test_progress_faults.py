"""Progress is best effort: a cache that cannot be reached never fails an import or a page."""

import socket

import pytest
from django.urls import reverse

from importer import progress, runs
from importer.models import ImportRun
from users.models import User


@pytest.fixture
def cache_down(settings):
    """Point the cache at a local port where nothing listens (Redis stopped, say)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


def previewed(organization, admin, data: bytes) -> ImportRun:
    run = runs.create_run(
        organization=organization,
        data=data,
        name="people.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=admin,
    )
    with progress.Reporter(run.pk) as report:
        runs.preview_run(run.pk, report=report)
    run.refresh_from_db()
    return run


def test_an_import_is_previewed_and_applied_while_the_cache_is_down(acme, alice, cache_down):
    run = previewed(acme, alice, b"email,first_name\nana@acme.example,Ana\nbo@acme.example,Bo\n")
    assert run.status == ImportRun.Status.READY
    runs.request_apply(run, acting_user=alice)

    with progress.Reporter(run.pk, interval=0.01) as report:
        runs.apply_run(run.pk, report=report)

    run.refresh_from_db()
    assert run.status == ImportRun.Status.APPLIED, run.message
    assert set(User.objects.filter(organization=acme).values_list("email", flat=True)) == {
        "alice@acme.example",
        "ana@acme.example",
        "bo@acme.example",
    }


def test_a_running_runs_page_says_the_workers_cannot_be_reached_while_the_cache_is_down(
    acme, alice, alice_client, cache_down
):
    run = runs.create_run(
        organization=acme,
        data=b"email\nana@acme.example\n",
        name="people.csv",
        source=ImportRun.Source.UPLOAD,
        acting_user=alice,
    )

    for name in ("importer:run-detail", "importer:run-panel"):
        response = alice_client.get(reverse(name, args=[run.pk]))
        assert response.status_code == 200
        assert "workers cannot be reached" in response.content.decode()
