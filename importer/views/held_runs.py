"""Approve or discard a scheduled run that a safeguard held."""

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from importer import runs
from importer.views.shared import get_run, start_apply
from users.access import org_admin_required


@require_POST
@org_admin_required
def approve_run(request, pk: int):
    run = get_run(request, pk)
    return start_apply(request, run, lambda: runs.approve_held_run(run, acting_user=request.user))


@require_POST
@org_admin_required
def discard_run(request, pk: int):
    run = get_run(request, pk)
    try:
        runs.discard_held_run(run, acting_user=request.user)
    except runs.ApplyRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.info(request, f"Import #{run.pk} was discarded. Nothing was imported.")
    return redirect("importer:run-detail", pk=run.pk)
