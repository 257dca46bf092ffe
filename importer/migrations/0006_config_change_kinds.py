"""Change log entries written before 0005 said their kind only in their keys' prefixes.

"kept_out_of_sync:<email>" marks a user kept out of sync, "remote:<setting>" the automatic
import's settings; every other entry is the import options (0005's default).
"""

from django.db import migrations

PREFIXES = {"kept_out_of_sync:": "sync_protection", "remote:": "remote_settings"}


def set_kinds(apps, schema_editor):
    ImportConfigChange = apps.get_model("importer", "ImportConfigChange")
    for prefix, kind in PREFIXES.items():
        # An entry is written for one kind of change, so its first key tells them all.
        ids = [
            entry.pk
            for entry in ImportConfigChange.objects.only("changes").iterator()
            if next(iter(entry.changes or {}), "").startswith(prefix)
        ]
        ImportConfigChange.objects.filter(pk__in=ids).update(kind=kind)


class Migration(migrations.Migration):
    dependencies = [("importer", "0005_audit_events")]

    operations = [migrations.RunPython(set_kinds, migrations.RunPython.noop)]
