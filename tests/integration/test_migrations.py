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


@pytest.mark.django_db(transaction=True)
def test_change_log_entries_get_the_kind_their_keys_were_prefixed_with():
    try:
        before = [("importer", "0005_audit_events")]
        after = [("importer", "0006_config_change_kinds")]
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        apps = executor.loader.project_state(before).apps
        Organization = apps.get_model("users", "Organization")
        ImportConfigChange = apps.get_model("importer", "ImportConfigChange")
        acme = Organization.objects.create(name="Acme", slug="acme-kinds")
        made = {
            kind: ImportConfigChange.objects.create(organization=acme, changes=changes).pk
            for kind, changes in {
                "options": {"reactivate": [True, False], "update_managers": [True, False]},
                "sync_protection": {"kept_out_of_sync:bob@acme.example": ["No", "Yes"]},
                "remote_settings": {"remote:url": ["", "https://hr.example.com/x.csv"]},
            }.items()
        }

        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(after)

        apps = executor.loader.project_state(after).apps
        ImportConfigChange = apps.get_model("importer", "ImportConfigChange")
        assert {kind: ImportConfigChange.objects.get(pk=pk).kind for kind, pk in made.items()} == {
            "options": "options",
            "sync_protection": "sync_protection",
            "remote_settings": "remote_settings",
        }
    finally:
        _migrate_to_head()


@pytest.mark.django_db(transaction=True)
def test_runs_previewed_before_keep_their_count_of_skipped_changes_on_the_run():
    try:
        before = [("importer", "0012_run_column_matching")]
        after = [("importer", "0013_run_skipped_count")]
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        apps = executor.loader.project_state(before).apps
        Organization = apps.get_model("users", "Organization")
        ImportRun = apps.get_model("importer", "ImportRun")
        ImportChange = apps.get_model("importer", "ImportChange")
        acme = Organization.objects.create(name="Acme", slug="acme-skipped")
        with_skipped = ImportRun.objects.create(organization=acme, source="upload", status="ready")
        without = ImportRun.objects.create(organization=acme, source="upload", status="ready")
        for index, reason in enumerate(["Create new users is off.", "", "Kept out of sync."]):
            ImportChange.objects.create(
                run=with_skipped, email=f"p{index}@acme.example", action="create",
                skipped_reason=reason,
            )  # fmt: skip
        ImportChange.objects.create(run=without, email="q@acme.example", action="update")

        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(after)

        apps = executor.loader.project_state(after).apps
        ImportRun = apps.get_model("importer", "ImportRun")
        assert ImportRun.objects.get(pk=with_skipped.pk).skipped_count == 2
        assert ImportRun.objects.get(pk=without.pk).skipped_count == 0
    finally:
        _migrate_to_head()


def _migrate_to_head():
    """Apply every migration again, so that the tests after this one see the current schema."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
