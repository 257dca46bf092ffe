"""The column matching step of a run: choose what each column of the file holds.

Confirming saves the choices as the organization's column names (the Configuration tab's own
code, so its change log records them) and, for an upload or paste, previews the same stored
file again with them in a worker.
"""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from importer import configuration, runs
from importer.pipeline.columns import column_names_chosen
from importer.pipeline.types import field_labels
from importer.runs import selectors
from importer.tasks import enqueue, preview_run_task
from importer.views.shared import BROKER_DOWN, column_form_for, get_run, offers_matching
from users.access import org_admin_required


@require_http_methods(["GET", "POST"])
@org_admin_required
def run_columns(request, pk: int):
    run = get_run(request, pk)
    if request.method == "GET" or not offers_matching(run):
        return redirect("importer:run-detail", pk=run.pk)
    if request.POST.get("action") == "skip":
        runs.skip_column_matching(run)
        return redirect("importer:run-detail", pk=run.pk)
    form = column_form_for(run, request.POST)
    if not form.is_valid():
        # The step shows alone on the run's page: the run and the form are all it needs.
        labels = field_labels(selectors.run_attributes(run))
        context = {"run": run, "column_form": form, "field_labels": labels, "tab": "import"}
        return render(request, "importer/run.html", context, status=400)
    config = configuration.config_for(request.organization)
    names = column_names_chosen(run.column_matching, form.choices(), config.column_mapping or {})
    configuration.update_config(
        request.organization, {"column_mapping": names}, acting_user=request.user
    )
    if runs.matches_in_browser(run) and runs.requeue_preview(run):
        messages.success(
            request,
            "Saved as your column names (see Configuration). The file is previewed again with "
            "them; the next file with these columns skips this step.",
        )
        if not enqueue(preview_run_task, run.pk):
            messages.warning(request, BROKER_DOWN)
    else:
        messages.success(
            request,
            "Saved as your column names (see Configuration): the next import, scheduled pulls "
            "included, reads the columns this way.",
        )
    return redirect("importer:run-detail", pk=run.pk)
