"""A change's run is no longer a database constraint: PostgreSQL checked it row by row.

The changes are written only by the preview that holds their run's row lock, and runs are
deleted only with their organization, through Django's cascade. The (run, action) index stays.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("importer", "0003_previews_made_before_reserved_ids_are_stale"),
    ]

    operations = [
        migrations.AlterField(
            model_name="importchange",
            name="run",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="changes",
                to="importer.importrun",
            ),
        ),
    ]
