"""Keep each run's count of skipped changes on the run, as its other counts are.

Runs previewed before count theirs here once (one UPDATE), so that the run page never counts.
"""

from django.db import migrations, models
from django.db.models import Count, OuterRef, Q, Subquery


def count_skipped_changes(apps, schema_editor):
    ImportRun = apps.get_model("importer", "ImportRun")
    ImportChange = apps.get_model("importer", "ImportChange")
    skipped = ImportChange.objects.exclude(skipped_reason="")
    counted = (
        skipped.filter(run_id=OuterRef("pk"))
        .order_by()
        .values("run_id")
        .annotate(total=Count("id"))
        .values("total")
    )
    ImportRun.objects.filter(
        Q(pk__in=skipped.order_by().values("run_id"))
    ).update(skipped_count=Subquery(counted))


class Migration(migrations.Migration):
    dependencies = [
        ("importer", "0012_run_column_matching"),
    ]

    operations = [
        migrations.AddField(
            model_name="importrun",
            name="skipped_count",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(count_skipped_changes, migrations.RunPython.noop, elidable=True),
    ]
