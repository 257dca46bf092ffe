"""Upgrading: previews made by the code before reserved ids are not applied as they are."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("importer", "0002_reserved_user_ids")]
AFTER = [("importer", "0003_previews_made_before_reserved_ids_are_stale")]


@pytest.mark.django_db(transaction=True)
def test_runs_waiting_to_be_applied_end_stale_and_finished_runs_stay_as_they_were():
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(BEFORE)
        apps = executor.loader.project_state(BEFORE).apps
        Organization = apps.get_model("users", "Organization")
        ImportRun = apps.get_model("importer", "ImportRun")
        acme = Organization.objects.create(name="Acme", slug="acme-upgrade")
        statuses = ["ready", "held", "applying", "applied", "invalid", "queued"]
        made = {
            status: ImportRun.objects.create(organization=acme, source="upload", status=status).pk
            for status in statuses
        }

        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(AFTER)

        apps = executor.loader.project_state(AFTER).apps
        ImportRun = apps.get_model("importer", "ImportRun")
        after = {status: ImportRun.objects.get(pk=pk) for status, pk in made.items()}
        assert {status: run.status for status, run in after.items()} == {
            "ready": "stale",
            "held": "stale",
            "applying": "stale",
            "applied": "applied",
            "invalid": "invalid",
            "queued": "queued",
        }
        assert "Preview the file again" in after["ready"].message
    finally:
        _migrate_to_head()


def _migrate_to_head():
    """Apply every migration again, so that the tests after this one see the current schema."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
