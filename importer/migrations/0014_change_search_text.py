"""Each change keeps what the run page's search looks in (ImportChange.search_text).

Added with ALTER TABLE … ADD COLUMN … DEFAULT '' on both databases: instant on PostgreSQL, and
SQLite keeps its table instead of copying every change into a new one (Django's way on SQLite).
Changes stored before keep '' and are searched on their JSON values (runs.selectors).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("importer", "0013_run_skipped_count"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE importer_importchange "
                    "ADD COLUMN search_text text NOT NULL DEFAULT ''",
                    "ALTER TABLE importer_importchange DROP COLUMN search_text",
                ),
            ],
            state_operations=[
                migrations.AddField(
                    model_name="importchange",
                    name="search_text",
                    field=models.TextField(blank=True, default=""),
                ),
            ],
        ),
    ]
