"""Helpers the view modules share (no views here): the run of the admin's organization, and
handing a run to a worker."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect

from importer import runs
from importer.forms import ColumnMatchingForm
from importer.models import ImportRun
from importer.runs import events
from importer.runs.selectors import attribute_specs
from importer.tasks import apply_run_task, enqueue

BROKER_DOWN = (
    "The background workers cannot be reached right now. Your file is saved: "
    "try again in a minute, or it will be picked up automatically."
)


def get_run(request, pk: int) -> ImportRun:
    """Return a run of the admin's own organization; any other id is a 404."""
    return get_object_or_404(
        ImportRun.objects.select_related("created_by", "applied_by", "api_token"),
        pk=pk,
        organization=request.organization,
    )


def record_download(request, *, what: str, filename: str, run: ImportRun | None = None) -> None:
    """Record a download by support staff acting for the company in the company's audit events.

    `what` is a key of importer.history.activity.DOWNLOADS. A company admin's own downloads
    are not recorded. Call it once the file is found, before the response is returned.
    """
    if request.is_support:
        events.support_downloaded_event(
            organization=request.organization,
            acting_user=request.user,
            what=what,
            filename=filename,
            run=run,
        )


def start_apply(request, run, mark_for_applying) -> HttpResponse:
    """Mark `run` for applying with `mark_for_applying()`, then hand it to a worker.

    A refusal (runs.ApplyRefused) is shown as it is; either way the run page comes next.
    """
    try:
        mark_for_applying()
    except runs.ApplyRefused as refusal:
        messages.error(request, str(refusal))
    else:
        if not enqueue(apply_run_task, run.pk):
            messages.warning(request, BROKER_DOWN)
    return redirect("importer:run-detail", pk=run.pk)


def offers_matching(run: ImportRun) -> bool:
    """Return whether the run's page shows the matching step.

    An upload or paste at the step; or another run (a scheduled pull, say) that stopped on a
    file without an email column: matching it saves the names for the next one.
    """
    if not run.column_matching:
        return False
    return run.status == ImportRun.Status.NEEDS_COLUMNS or (
        run.status == ImportRun.Status.INVALID and not runs.matches_in_browser(run)
    )


def column_form_for(run: ImportRun, data=None) -> ColumnMatchingForm | None:
    """Return the matching step's form for the run's page, or None when it shows none."""
    if not offers_matching(run):
        return None
    # The fields offered are the organization's now: the choice is saved as its column names.
    return ColumnMatchingForm(
        data, columns=run.column_matching, attributes=attribute_specs(run.organization_id)
    )
