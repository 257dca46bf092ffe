"""The Import tab: upload or paste, watch the preview, confirm the import."""

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST

from importer import progress, runs, uploads
from importer.forms import PreviewForm
from importer.history import activity
from importer.models import ImportChange, ImportRun
from importer.pipeline.types import FIELD_LABELS
from importer.runs import selectors
from importer.runs.revert import revert_state
from importer.tasks import apply_run_task, enqueue, preview_run_task, preview_task_for
from importer.views.shared import BROKER_DOWN, get_run, record_download, start_apply
from users.access import org_admin_required

CHANGES_PER_PAGE = 50
ISSUES_PER_PAGE = 100


@require_GET
@org_admin_required
def import_page(request):
    active = ImportRun.objects.filter(
        organization=request.organization, status__in=ImportRun.RUNNING_STATUSES
    ).first()
    return render(
        request,
        "importer/import.html",
        {"form": PreviewForm(), "active_run": active, **_import_context()},
    )


def _import_context() -> dict:
    return {"tab": "import", "max_upload": settings.IMPORT_MAX_UPLOAD_BYTES}


@require_POST
@org_admin_required
def create_preview(request):
    files = request.FILES  # Parsing the upload first tells whether it was refused as too large.
    form = PreviewForm(request.POST, files, refused_upload=uploads.refusal(request))
    if not form.is_valid():
        return render(
            request, "importer/import.html", {"form": form, **_import_context()}, status=400
        )
    data, name, source = form.input()
    try:
        run = runs.create_run(
            organization=request.organization,
            data=data,
            name=name,
            source=source,
            acting_user=request.user,
        )
    except runs.InputNotStored as refusal:
        form.add_error(None, refusal.message)
        return render(
            request, "importer/import.html", {"form": form, **_import_context()}, status=503
        )
    except runs.LimitReached as limit:
        form.add_error(None, str(limit))
        return render(
            request, "importer/import.html", {"form": form, **_import_context()}, status=429
        )
    if not enqueue(preview_run_task, run.pk):
        messages.warning(request, BROKER_DOWN)
    return redirect("importer:run-detail", pk=run.pk)


@require_GET
@org_admin_required
def run_detail(request, pk: int):
    run = get_run(request, pk)
    return render(request, "importer/run.html", {**_run_context(request, run), "tab": "import"})


@require_GET
@org_admin_required
def run_panel(request, pk: int):
    """Return the run's panel alone: htmx polls it while the run is under way."""
    run = get_run(request, pk)
    return render(request, "importer/partials/run_panel.html", _run_context(request, run))


def _run_context(request, run: ImportRun) -> dict:
    context = {"run": run, "field_labels": FIELD_LABELS}
    if run.is_running:
        context["progress"] = progress.read(run.pk)
        return context
    action = request.GET.get("action", "")
    # Skipped changes (kept from happening by an option or a protection) have a filter of their own.
    # Every count comes from the run (written with its changes): the page counts no change.
    changes = run.changes.all()
    skipped_count = run.skipped_count
    counts = {
        "": run.change_count,
        "create": run.new_count,
        "update": run.changed_count,
        "deactivate": run.deactivated_count,
        "reactivate": run.reactivated_count,
        "skipped": skipped_count,
    }
    if action == "skipped":
        changes = changes.exclude(skipped_reason="")
    elif action in ImportChange.Action.values:
        changes = changes.filter(action=action, skipped_reason="")
    else:
        action = ""
        changes = changes.filter(skipped_reason="")
    context["skipped_count"] = skipped_count
    context["action"] = action
    context["actions"] = [
        ("", "All", run.change_count),
        ("create", "New", run.new_count),
        ("update", "Changed", run.changed_count),
        ("deactivate", "Deactivated", run.deactivated_count),
        ("reactivate", "Reactivated", run.reactivated_count),
        *([("skipped", "Skipped", skipped_count)] if skipped_count else []),
    ]
    # History: search the changes by name or email, and the run's options, input and undo.
    context["q"] = request.GET.get("q", "").strip()
    changes = selectors.search_changes(changes, context["q"], organization_id=run.organization_id)
    context.update(revert_state(run), by_support=bool(run.created_by and run.created_by.is_staff))
    context["run_activity"] = activity.run_activity(run)
    paginator = Paginator(changes, CHANGES_PER_PAGE)
    if not context["q"]:
        paginator.count = counts[action]  # Known: the paginator need not count the changes.
    context["changes_page"] = paginator.get_page(request.GET.get("page"))
    context["errors_page"] = Paginator(run.errors, ISSUES_PER_PAGE).get_page(
        request.GET.get("errors_page")
    )
    context["warnings"] = run.warnings
    return context


@require_POST
@org_admin_required
def run_apply(request, pk: int):
    run = get_run(request, pk)
    confirm_safeguard = request.POST.get("confirm_safeguard") == "1"
    return start_apply(
        request,
        run,
        lambda: runs.request_apply(
            run, acting_user=request.user, confirm_safeguard=confirm_safeguard
        ),
    )


@require_POST
@org_admin_required
def run_retry(request, pk: int):
    """Send a run whose task could not be enqueued to the workers again."""
    run = get_run(request, pk)
    if run.status == ImportRun.Status.APPLYING:
        sent = enqueue(apply_run_task, run.pk)
    elif run.status in (ImportRun.Status.QUEUED, ImportRun.Status.PREVIEWING):
        sent = enqueue(preview_task_for(run), run.pk)
    else:
        sent = True
    if not sent:
        messages.warning(request, BROKER_DOWN)
    return redirect("importer:run-detail", pk=run.pk)


@require_GET
@org_admin_required
@cache_control(no_store=True, private=True)  # Personal data: kept by no browser or proxy cache.
def run_input(request, pk: int):
    """Download the run's stored input, to its organization's admins only."""
    run = get_run(request, pk)
    if not run.input_file:
        raise Http404("The input of this run is no longer stored.")
    try:
        handle = run.input_file.open("rb")
    except FileNotFoundError:
        raise Http404("The input of this run is no longer stored.") from None
    name = run.input_name if run.source == ImportRun.Source.UPLOAD else f"run-{run.pk}.csv"
    name = name or f"run-{run.pk}"
    record_download(request, what="run_input", filename=name, run=run)
    return FileResponse(handle, as_attachment=True, filename=name)
