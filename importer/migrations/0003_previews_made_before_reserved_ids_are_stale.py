"""Previews made before 0002 stored no reserved ids: they can no longer be applied as they are.

Apply now takes each new user's id and each manager's id from the preview's changes; a preview
computed by the earlier code has neither. Such runs (ready, held or waiting to apply) end stale,
with a message saying to preview the file again, which is what a stale run asks anyway.
"""

from django.db import migrations
from django.utils import timezone

WAITING = ("ready", "held", "applying")
MESSAGE = (
    "Rostersync was updated after this preview was made, so it can no longer be imported as "
    "it is. Preview the file again."
)


def end_waiting_previews(apps, schema_editor):
    ImportRun = apps.get_model("importer", "ImportRun")
    now = timezone.now()
    ImportRun.objects.filter(status__in=WAITING).update(
        status="stale", message=MESSAGE, finished_at=now, updated_at=now
    )


class Migration(migrations.Migration):
    dependencies = [("importer", "0002_reserved_user_ids")]

    operations = [migrations.RunPython(end_waiting_previews, migrations.RunPython.noop)]
