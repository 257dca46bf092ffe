"""The Celery app: configured from Django's settings (CELERY_*), tasks found in each app."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("rostersync")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_configure.connect
def create_broker_folders(sender, **kwargs):
    """Create the folders of the filesystem broker (the embedded default) if they are missing."""
    from django.conf import settings

    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if key in options:
            os.makedirs(options[key], exist_ok=True)


@task_prerun.connect
@task_postrun.connect
def close_old_database_connections(task=None, **kwargs):
    """Treat a task as Django treats a request: keep the connection unless it is too old
    (DATABASE_CONN_MAX_AGE) or broken, and check it again before the next task uses it
    (DATABASE_CONN_HEALTH_CHECKS). Celery's own fix-up would close it every time
    (CELERY_DB_REUSE_MAX).
    """
    from django.db import close_old_connections

    if task is not None and getattr(task.request, "is_eager", False):
        return  # Run in the caller's process (and maybe its transaction), as Celery's fix-up.
    close_old_connections()
