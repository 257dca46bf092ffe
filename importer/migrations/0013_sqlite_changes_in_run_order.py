"""SQLite: an index of each run's changes in their order, for the run page's pages.

The (run, action) index gives SQLite a run's changes grouped by action, so listing them in
order (ORDER BY id, LIMIT 50) sorted the whole run first: 0.3 s at a million changes, 0.4 s on
page 1,000. With (run, id) it reads the 50 rows it shows: 0.3 ms and 14 ms. PostgreSQL walks
its primary key for these pages (a run's changes are stored together) and gets no index: each
index is written by every preview.
"""

from django.db import migrations

INDEX = "importer_importchange_run_order"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON importer_importchange (run_id, id)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("importer", "0012_change_search_text"),
    ]

    operations = [migrations.RunPython(create, drop)]
